// Kernel-level helpers for wrapping tfjs-backend-wasm kernels. They work on
// TensorInfo (no tape, no engine bookkeeping), so intermediate buffers must be
// released by hand with `release`.
import { tf } from '../tf.js';
import type { KernelConfig, KernelFunc, TensorInfo } from '../tf.js';

/** The parts of tfjs-backend-wasm's BackendWasm that the fixes use. */
export interface WasmBackendLike {
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number; refCount: number } | undefined };
  makeOutput(shape: number[], dtype: string, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  wasm: { HEAPU8: Uint8Array };
}

export type Attrs = Record<string, unknown>;
export type KernelFn = (args: { inputs: Record<string, TensorInfo>; backend: WasmBackendLike; attrs?: Attrs }) =>
  TensorInfo | TensorInfo[];

/** The kernel currently registered for (name, 'wasm'); throws if tfjs renamed it. */
export function wasmKernel(name: string): KernelConfig {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`tfjs-backend-wasm has no '${name}' kernel; the engine fix that wraps it needs updating`);
  return k;
}

export function callKernel(k: KernelConfig, backend: WasmBackendLike, inputs: Record<string, TensorInfo>,
    attrs: Attrs = {}): TensorInfo {
  const out = (k.kernelFunc as unknown as KernelFn)({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`kernel ${k.kernelName} returned several outputs where one was expected`);
  return out;
}

export function release(backend: WasmBackendLike, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** A view that shares the buffer of `t` under another shape (refcounted like tfjs's Reshape). */
export function reshaped(backend: WasmBackendLike, t: TensorInfo, shape: number[]): TensorInfo {
  backend.incRef(t.dataId);
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** Replace a registered wasm kernel, keeping its setup function so a re-initialised backend still works. */
export function replaceWasmKernel(name: string, kernelFunc: KernelFn, setupFunc?: KernelConfig['setupFunc']): void {
  if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({
    kernelName: name, backendName: 'wasm',
    kernelFunc: kernelFunc as unknown as KernelFunc,
    ...(setupFunc ? { setupFunc } : {}),
  });
}
