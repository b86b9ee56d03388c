// The few backend methods the fused kernels use, typed structurally so that
// this library does not import the backend packages' classes. All are
// declared public in the backends' .d.ts files (BackendWasm, MathBackendCPU).

import type { DataType, TensorInfo } from '../tf.js';

type DataId = TensorInfo['dataId'];

/** tfjs-backend-wasm's BackendWasm, as far as the kernels need it. */
export interface WasmBackendLike {
  /** Allocates on the wasm heap (may grow memory: take views afterwards). */
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  dataIdMap: { get(dataId: DataId): { memoryOffset: number } | undefined };
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/** tfjs-backend-cpu's MathBackendCPU, as far as the kernels need it. */
export interface CpuBackendLike {
  readSync(dataId: DataId): unknown;
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
}

export function wasmBackendOf(backend: unknown, kernel: string): WasmBackendLike {
  const b = backend as Partial<WasmBackendLike> | null;
  if (b === null || typeof b !== 'object' || typeof b.makeOutput !== 'function' ||
    typeof b.typedArrayFromHeap !== 'function' || b.dataIdMap === undefined) {
    throw new Error(`${kernel}: the backend passed to the wasm kernel is not tfjs-backend-wasm's BackendWasm`);
  }
  return b as WasmBackendLike;
}

export function cpuBackendOf(backend: unknown, kernel: string): CpuBackendLike {
  const b = backend as Partial<CpuBackendLike> | null;
  if (b === null || typeof b !== 'object' || typeof b.readSync !== 'function' || typeof b.makeTensorInfo !== 'function') {
    throw new Error(`${kernel}: the backend passed to the cpu kernel is not tfjs-backend-cpu's MathBackendCPU`);
  }
  return b as CpuBackendLike;
}

/** Byte offset of a tensor's data on the wasm heap. */
export function heapOffset(backend: WasmBackendLike, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined) throw new Error(`tensor [${t.shape}] is not on the wasm backend's heap`);
  return data.memoryOffset;
}

/** float32 data of a cpu-backend tensor (no copy). */
export function cpuValues(backend: CpuBackendLike, t: TensorInfo, kernel: string): Float32Array {
  const values = backend.readSync(t.dataId);
  if (!(values instanceof Float32Array)) throw new Error(`${kernel}: expected float32 data for a tensor of shape [${t.shape}], got ${t.dtype}`);
  return values;
}
