// The CUDA driver API (libcuda.so.1, shipped with every NVIDIA driver) through
// koffi, a prebuilt FFI addon: no CUDA toolkit, no compiler at run time. Only
// the calls dytlab needs; every call is checked and a failure becomes a
// CudaError named with cuGetErrorName / cuGetErrorString.
//
// DYTLAB_LIBCUDA points at another library with the same symbols (the tests
// use a mock driver built from test/support/mock-libcuda.c).
import { createRequire } from 'node:module';

/** A device pointer (CUdeviceptr). */
export type DevicePtr = bigint;
/** An opaque driver handle (CUcontext, CUmodule, CUfunction, CUevent). */
export type Handle = unknown;

export class CudaError extends Error {
  constructor(readonly call: string, readonly code: number, readonly errorName: string, detail: string) {
    super(`${call} failed: ${errorName} (${code}): ${detail}`);
    this.name = 'CudaError';
  }
}

/** Raised when no driver library can be loaded (a machine without an NVIDIA driver). */
export class NoCudaDriverError extends Error {
  constructor(readonly library: string, reason: string) {
    super(`no CUDA driver: ${library} not found (${reason})`);
    this.name = 'NoCudaDriverError';
  }
}

/** One kernel argument: a device pointer, a 32-bit scalar or a 64-bit integer. */
export type KernelArg = { ptr: DevicePtr } | { i32: number } | { u32: number } | { f32: number } | { i64: bigint };

export const arg = {
  ptr: (p: DevicePtr): KernelArg => ({ ptr: p }),
  i32: (v: number): KernelArg => ({ i32: v }),
  u32: (v: number): KernelArg => ({ u32: v }),
  f32: (v: number): KernelArg => ({ f32: v }),
  i64: (v: bigint | number): KernelArg => ({ i64: BigInt(v) }),
};

/** Device attributes (CUdevice_attribute) the benchmarks report. */
export const ATTR = {
  maxThreadsPerBlock: 1,
  clockRateKHz: 13,
  multiprocessorCount: 16,
  memoryClockRateKHz: 36,
  globalMemoryBusWidth: 37,
  l2CacheSize: 38,
  computeCapabilityMajor: 75,
  computeCapabilityMinor: 76,
} as const;

type Fn = (...args: unknown[]) => number;

interface Koffi {
  load(path: string): { func(proto: string): Fn; unload?(): void };
}

/** The raw entry points, each returning a CUresult. */
interface Raw {
  cuInit: Fn; cuDriverGetVersion: Fn; cuDeviceGetCount: Fn; cuDeviceGet: Fn; cuDeviceGetName: Fn;
  cuDeviceGetAttribute: Fn; cuDeviceTotalMem_v2: Fn; cuDevicePrimaryCtxRetain: Fn; cuDevicePrimaryCtxRelease_v2: Fn;
  cuCtxSetCurrent: Fn; cuCtxSynchronize: Fn; cuModuleLoadData: Fn; cuModuleUnload: Fn; cuModuleGetFunction: Fn;
  cuLaunchKernel: Fn; cuMemAlloc_v2: Fn; cuMemFree_v2: Fn; cuMemcpyHtoD_v2: Fn; cuMemcpyDtoH_v2: Fn;
  cuMemcpyDtoD_v2: Fn; cuMemcpyDtoDAsync_v2: Fn; cuMemsetD8_v2: Fn; cuMemsetD32_v2: Fn; cuEventCreate: Fn;
  cuEventRecord: Fn; cuEventSynchronize: Fn; cuEventElapsedTime: Fn; cuEventDestroy_v2: Fn; cuGetErrorName: Fn;
  cuGetErrorString: Fn;
}

const PROTOS: Record<keyof Raw, string> = {
  cuInit: 'int cuInit(unsigned int flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(_Out_ int *version)',
  cuDeviceGetCount: 'int cuDeviceGetCount(_Out_ int *count)',
  cuDeviceGet: 'int cuDeviceGet(_Out_ int *device, int ordinal)',
  cuDeviceGetName: 'int cuDeviceGetName(void *name, int len, int dev)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(_Out_ int *value, int attrib, int dev)',
  cuDeviceTotalMem_v2: 'int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)',
  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(_Out_ void **ctx, int dev)',
  cuDevicePrimaryCtxRelease_v2: 'int cuDevicePrimaryCtxRelease_v2(int dev)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(void *ctx)',
  cuCtxSynchronize: 'int cuCtxSynchronize()',
  cuModuleLoadData: 'int cuModuleLoadData(_Out_ void **module, const void *image)',
  cuModuleUnload: 'int cuModuleUnload(void *module)',
  cuModuleGetFunction: 'int cuModuleGetFunction(_Out_ void **fn, void *module, const char *name)',
  cuLaunchKernel: 'int cuLaunchKernel(void *f, unsigned int gx, unsigned int gy, unsigned int gz, ' +
    'unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, void *stream, void **params, void **extra)',
  cuMemAlloc_v2: 'int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)',
  cuMemFree_v2: 'int cuMemFree_v2(uint64_t dptr)',
  cuMemcpyHtoD_v2: 'int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)',
  cuMemcpyDtoH_v2: 'int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes)',
  cuMemcpyDtoD_v2: 'int cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t bytes)',
  cuMemcpyDtoDAsync_v2: 'int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream)',
  cuMemsetD8_v2: 'int cuMemsetD8_v2(uint64_t dst, uint8_t value, size_t n)',
  cuMemsetD32_v2: 'int cuMemsetD32_v2(uint64_t dst, uint32_t value, size_t n)',
  cuEventCreate: 'int cuEventCreate(_Out_ void **event, unsigned int flags)',
  cuEventRecord: 'int cuEventRecord(void *event, void *stream)',
  cuEventSynchronize: 'int cuEventSynchronize(void *event)',
  cuEventElapsedTime: 'int cuEventElapsedTime(_Out_ float *ms, void *start, void *end)',
  cuEventDestroy_v2: 'int cuEventDestroy_v2(void *event)',
  cuGetErrorName: 'int cuGetErrorName(int error, _Out_ const char **name)',
  cuGetErrorString: 'int cuGetErrorString(int error, _Out_ const char **text)',
};

const requireHere = createRequire(__filename);

/** The driver library: DYTLAB_LIBCUDA, else libcuda.so.1 from the loader's search path. */
export function driverLibraryName(): string {
  return process.env.DYTLAB_LIBCUDA || (process.platform === 'win32' ? 'nvcuda.dll' : 'libcuda.so.1');
}

/** Checked wrappers over the driver API. */
export class CudaDriver {
  private constructor(private readonly raw: Raw, readonly library: string) {}

  /** Loads the driver library and cuInit()s it. Throws NoCudaDriverError when the library is absent. */
  static load(library = driverLibraryName()): CudaDriver {
    let koffi: Koffi;
    try {
      koffi = requireHere('koffi') as Koffi;
    } catch (e) {
      throw new Error(`the FFI package koffi could not be loaded: ${(e as Error).message.split('\n')[0]}`);
    }
    let lib: ReturnType<Koffi['load']>;
    try {
      lib = koffi.load(library);
    } catch (e) {
      throw new NoCudaDriverError(library, (e as Error).message.split('\n')[0]!);
    }
    const raw = {} as Raw;
    for (const [name, proto] of Object.entries(PROTOS) as [keyof Raw, string][]) {
      try {
        raw[name] = lib.func(proto);
      } catch (e) {
        throw new Error(`${library} lacks ${name} (a driver older than CUDA 11?): ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const d = new CudaDriver(raw, library);
    d.check('cuInit', raw.cuInit(0));
    return d;
  }

  /** Throws a CudaError for a non-zero CUresult. */
  check(call: string, code: number): void {
    if (code === 0) return;
    const name = [null as string | null], text = [null as string | null];
    const okName = this.raw.cuGetErrorName(code, name) === 0;
    const okText = this.raw.cuGetErrorString(code, text) === 0;
    throw new CudaError(call, code, okName && name[0] ? name[0] : 'CUDA_ERROR_UNKNOWN_CODE',
      okText && text[0] ? text[0] : 'no description from the driver');
  }

  private call(name: keyof Raw, ...args: unknown[]): void {
    this.check(name, this.raw[name](...args));
  }

  driverVersion(): number {
    const v = [0];
    this.call('cuDriverGetVersion', v);
    return v[0]!;
  }

  deviceCount(): number {
    const n = [0];
    this.call('cuDeviceGetCount', n);
    return n[0]!;
  }

  device(ordinal: number): number {
    const d = [0];
    this.call('cuDeviceGet', d, ordinal);
    return d[0]!;
  }

  deviceName(dev: number): string {
    const buf = Buffer.alloc(256);
    this.call('cuDeviceGetName', buf, buf.length, dev);
    const end = buf.indexOf(0);
    return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8');
  }

  attribute(dev: number, attrib: number): number {
    const v = [0];
    this.call('cuDeviceGetAttribute', v, attrib, dev);
    return v[0]!;
  }

  totalMemory(dev: number): number {
    const v = [0];
    this.call('cuDeviceTotalMem_v2', v, dev);
    return Number(v[0]);
  }

  retainPrimaryContext(dev: number): Handle {
    const ctx = [null as unknown];
    this.call('cuDevicePrimaryCtxRetain', ctx, dev);
    this.call('cuCtxSetCurrent', ctx[0]);
    return ctx[0];
  }

  releasePrimaryContext(dev: number): void {
    this.call('cuDevicePrimaryCtxRelease_v2', dev);
  }

  synchronize(): void {
    this.call('cuCtxSynchronize');
  }

  /** PTX text or a cubin: PTX must end with a NUL byte, which is added here. */
  loadModule(image: Buffer, isText: boolean): Handle {
    const data = isText ? Buffer.concat([image, Buffer.from([0])]) : image;
    const m = [null as unknown];
    this.call('cuModuleLoadData', m, data);
    return m[0];
  }

  unloadModule(m: Handle): void {
    this.call('cuModuleUnload', m);
  }

  getFunction(m: Handle, name: string): Handle {
    const f = [null as unknown];
    this.check(`cuModuleGetFunction(${name})`, this.raw.cuModuleGetFunction(f, m, name));
    return f[0];
  }

  /** Launches on the default stream; arguments are packed as the kernel's parameters, in order. */
  launch(f: Handle, grid: [number, number?, number?], block: [number, number?, number?], args: KernelArg[], sharedBytes = 0, name = 'kernel'): void {
    const params = args.map(packArg);
    this.check(`cuLaunchKernel(${name})`, this.raw.cuLaunchKernel(f, grid[0], grid[1] ?? 1, grid[2] ?? 1,
      block[0], block[1] ?? 1, block[2] ?? 1, sharedBytes, null, params, null));
  }

  alloc(bytes: number): DevicePtr {
    const p = [0 as number | bigint];
    this.check(`cuMemAlloc_v2(${bytes} bytes)`, this.raw.cuMemAlloc_v2(p, Math.max(1, bytes)));
    return BigInt(p[0]!);
  }

  free(p: DevicePtr): void {
    this.call('cuMemFree_v2', p);
  }

  upload(dst: DevicePtr, src: ArrayBufferView): void {
    this.call('cuMemcpyHtoD_v2', dst, src, src.byteLength);
  }

  download(dst: ArrayBufferView, src: DevicePtr): void {
    this.call('cuMemcpyDtoH_v2', dst, src, dst.byteLength);
  }

  copy(dst: DevicePtr, src: DevicePtr, bytes: number): void {
    this.call('cuMemcpyDtoD_v2', dst, src, bytes);
  }

  /** Asynchronous on the default stream: what a timed device-to-device copy measures. */
  copyAsync(dst: DevicePtr, src: DevicePtr, bytes: number): void {
    this.call('cuMemcpyDtoDAsync_v2', dst, src, bytes, null);
  }

  memset8(dst: DevicePtr, value: number, n: number): void {
    this.call('cuMemsetD8_v2', dst, value, n);
  }

  memset32(dst: DevicePtr, value: number, n: number): void {
    this.call('cuMemsetD32_v2', dst, value >>> 0, n);
  }

  createEvent(): Handle {
    const e = [null as unknown];
    this.call('cuEventCreate', e, 0);
    return e[0];
  }

  record(e: Handle): void {
    this.call('cuEventRecord', e, null);
  }

  /** Milliseconds between two recorded events (waits for the second). */
  elapsed(start: Handle, end: Handle): number {
    this.call('cuEventSynchronize', end);
    const ms = [0];
    this.call('cuEventElapsedTime', ms, start, end);
    return ms[0]!;
  }

  destroyEvent(e: Handle): void {
    this.call('cuEventDestroy_v2', e);
  }
}

/** Each parameter as the bytes the kernel reads (cuLaunchKernel takes a pointer per parameter). */
function packArg(a: KernelArg): Buffer {
  if ('ptr' in a) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(a.ptr));
    return b;
  }
  if ('i64' in a) {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(a.i64);
    return b;
  }
  const b = Buffer.alloc(4);
  if ('i32' in a) {
    if (!Number.isInteger(a.i32) || a.i32 < -(2 ** 31) || a.i32 >= 2 ** 31) throw new Error(`kernel argument ${a.i32} is not an int32`);
    b.writeInt32LE(a.i32);
  } else if ('u32' in a) {
    if (!Number.isInteger(a.u32) || a.u32 < 0 || a.u32 >= 2 ** 32) throw new Error(`kernel argument ${a.u32} is not a uint32`);
    b.writeUInt32LE(a.u32);
  } else {
    b.writeFloatLE(a.f32);
  }
  return b;
}
