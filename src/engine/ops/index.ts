// Fused and composed kernels of the normalization family (DyT and relatives,
// LayerNorm, RMSNorm) and the SIMD module behind the wasm ones.

export {
  squashOp, layerNormOp, rmsNormOp, registerFusedKernels, fusedKernelStatus, KERNEL_NAMES,
} from './fused.js';
export type { SquashParams, FusedKernelStatus } from './fused.js';
export { setTanhPrecision, getTanhPrecision } from './fused-ops.js';
export type { TanhPrecision } from './fused-ops.js';
export type { SquashShape, KernelImpl } from './types.js';
export { SQUASH_SHAPES } from './types.js';
export { composedSquash, composedLayerNorm, composedRMSNorm } from './composed.js';
export type { SquashTensors } from './composed.js';
export { squashReference, layerNormReference, rmsNormReference, squashF64, erfF64 } from './reference.js';
export type { SquashRefParams } from './reference.js';
export {
  simdKernels, simdKernelsProblem, simdTanhKernel, setSimdKernelsEnabled, kernelsWasmPath, relaxedSimdStatus,
} from './simd.js';
export type { SimdKernels, RelaxedSimdStatus } from './simd.js';
export { installWasmMemoryCapture, capturedWasmMemory, wasmMemoryCaptureProblem } from '../wasm-memory.js';
