// CUDA from TypeScript: the driver API through koffi (driver.ts), the
// committed PTX/cubin of cu/*.cu (modules.ts) and their launchers
// (kernels.ts). Nothing here is loaded unless asked for: machines without an
// NVIDIA driver get NoCudaDriverError from CudaDriver.load().
export { CudaDriver, CudaError, NoCudaDriverError, arg, ATTR, driverLibraryName } from './driver.js';
export type { DevicePtr, Handle, KernelArg } from './driver.js';
export {
  CudaModules, CUDA_MODULES, PTX_ARCH, CUBIN_ARCH, COMPAT_PTX_VERSION, cudaDir, imageFor, readManifest, sourcesHash, withPtxVersion,
} from './modules.js';
export type { CudaManifest, CudaModuleName } from './modules.js';
export {
  CudaKernels, DEFAULT_TUNING, NORM_VPT, backwardGrid, cudaKernelNames, normGeometry, squashPartialWidth,
} from './ops.js';
export type { CudaTuning, DeviceInfo, NormGeometry, SquashBuffers } from './ops.js';
