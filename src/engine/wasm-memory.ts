// Capture of tfjs-wasm's WebAssembly.Memory.
//
// Our SIMD kernel module works in place on tfjs tensors, so it must be
// instantiated on the very Memory that backs the wasm backend's heap. tfjs
// does not expose that object (only `backend.wasm.HEAPU8`, a view on its
// buffer), so we wrap `WebAssembly.instantiate` and the `WebAssembly.Instance`
// constructor while the backend loads and collect every Memory that passes
// through: the single-thread build exports its memory (`exports.memory`), the
// threaded build creates a shared one in JS and imports it (`env.memory`).
// The right one is the Memory whose buffer is the backend's HEAPU8.buffer.
//
// This is the only module that relies on tfjs internals:
// - the backend loads its module through the global WebAssembly.instantiate
//   (inside tf.setBackend('wasm') / tf.ready(), not at import time);
// - its instance exports `register_tensor` (the C entry point tfjs cwraps by
//   name), which tells us the backend's module has been seen;
// - the initialised backend object has `wasm.HEAPU8`.
// test/kernels.test.ts fails loudly if any of this stops holding.

import { tf } from './tf.js';

type Instantiate = typeof WebAssembly.instantiate;
type InstanceCtor = typeof WebAssembly.Instance;

interface CaptureState {
  originalInstantiate: Instantiate;
  originalInstance: InstanceCtor;
  wrappedInstantiate?: Instantiate;
  wrappedInstance?: InstanceCtor;
  /** Weak: other modules' memories seen while installed must not be pinned. */
  candidates: WeakRef<WebAssembly.Memory>[];
  restored: boolean;
  /** Set when the capture cannot work (e.g. installed too late). */
  problem?: string;
}

let state: CaptureState | undefined;
let verified: WebAssembly.Memory | undefined;

/** Export the tfjs-wasm module is recognised by. */
const TFJS_WASM_MARKER_EXPORT = 'register_tensor';

function collectMemories(instance: WebAssembly.Instance | undefined, imports: unknown): void {
  if (state === undefined) return;
  const found: WebAssembly.Memory[] = [];
  if (instance !== undefined) {
    for (const value of Object.values(instance.exports)) {
      if (value instanceof WebAssembly.Memory) found.push(value);
    }
  }
  if (imports !== null && typeof imports === 'object') {
    for (const ns of Object.values(imports as Record<string, unknown>)) {
      if (ns === null || typeof ns !== 'object') continue;
      for (const value of Object.values(ns as Record<string, unknown>)) {
        if (value instanceof WebAssembly.Memory) found.push(value);
      }
    }
  }
  for (const m of found) {
    if (!state.candidates.some((ref) => ref.deref() === m)) state.candidates.push(new WeakRef(m));
  }
  // Once the backend's own module has gone through, stop intercepting.
  if (instance !== undefined && TFJS_WASM_MARKER_EXPORT in instance.exports) restoreOriginals();
}

function restoreOriginals(): void {
  if (state === undefined || state.restored) return;
  // Only undo our own wrappers: if someone wrapped them after us, leave the
  // chain alone (ours then just passes calls through).
  if (WebAssembly.instantiate === state.wrappedInstantiate) WebAssembly.instantiate = state.originalInstantiate;
  if (WebAssembly.Instance === state.wrappedInstance) {
    (WebAssembly as { Instance: InstanceCtor }).Instance = state.originalInstance;
  }
  state.restored = true;
}

interface WasmBackendLike {
  wasm?: { HEAPU8?: Uint8Array };
}

/**
 * The buffer behind the initialised wasm backend's heap, if any. Reads the
 * engine's registry of initialised backends (public in tfjs-core's Engine
 * typings) rather than tf.findBackend, which would start initialising the
 * backend as a side effect.
 */
function wasmHeapBuffer(): ArrayBufferLike | undefined {
  const backend = tf.engine().registry['wasm'] as unknown as WasmBackendLike | undefined;
  return backend?.wasm?.HEAPU8?.buffer;
}

/**
 * Starts intercepting wasm instantiation. Call before the first
 * `tf.setBackend('wasm')`; idempotent. The originals are restored as soon as
 * the tfjs module has been instantiated.
 */
export function installWasmMemoryCapture(): void {
  if (state !== undefined) return;
  armCapture();
}

/**
 * Captures again for a backend that is about to be re-created (after
 * tf.removeBackend('wasm')): the old capture stopped intercepting once the
 * first module went through. Call between removeBackend and setBackend.
 */
export function rearmWasmMemoryCapture(): void {
  if (state !== undefined) restoreOriginals();
  state = undefined;
  verified = undefined;
  armCapture();
}

function armCapture(): void {
  const originalInstantiate = WebAssembly.instantiate;
  const originalInstance = WebAssembly.Instance;
  state = { originalInstantiate, originalInstance, candidates: [], restored: false };
  if (wasmHeapBuffer() !== undefined) {
    state.problem = 'installWasmMemoryCapture() was called after the wasm backend had initialised; ' +
      'call it before the first tf.setBackend(\'wasm\')';
    state.restored = true;
    return;
  }

  const wrapped = function instantiate(
    source: BufferSource | WebAssembly.Module,
    imports?: WebAssembly.Imports,
  ): Promise<WebAssembly.Instance | WebAssembly.WebAssemblyInstantiatedSource> {
    const result = (originalInstantiate as (s: unknown, i?: unknown) => Promise<unknown>)(source, imports);
    return result.then((out) => {
      const instance = out instanceof WebAssembly.Instance
        ? out
        : (out as WebAssembly.WebAssemblyInstantiatedSource).instance;
      collectMemories(instance, imports);
      return out as WebAssembly.Instance | WebAssembly.WebAssemblyInstantiatedSource;
    });
  };
  state.wrappedInstantiate = wrapped as Instantiate;
  WebAssembly.instantiate = state.wrappedInstantiate;

  // Synchronous instantiation (emscripten's instantiateWasm hooks, workers):
  // a Proxy keeps `instanceof WebAssembly.Instance` working.
  state.wrappedInstance = new Proxy(originalInstance, {
    construct(target, args: unknown[], newTarget) {
      const instance = Reflect.construct(target, args, newTarget) as WebAssembly.Instance;
      collectMemories(instance, args[1]);
      return instance;
    },
  });
  (WebAssembly as { Instance: InstanceCtor }).Instance = state.wrappedInstance;
}

/**
 * The tfjs wasm backend's Memory, verified by identity
 * (`memory.buffer === backend.wasm.HEAPU8.buffer`); undefined when the capture
 * was not installed, the backend is not initialised, or nothing matched.
 */
export function capturedWasmMemory(): WebAssembly.Memory | undefined {
  const heap = wasmHeapBuffer();
  if (heap === undefined) return undefined;
  // The buffer object changes when memory grows; identity is rechecked.
  if (verified !== undefined && verified.buffer === heap) return verified;
  verified = state?.candidates.map((ref) => ref.deref()).find((m) => m !== undefined && m.buffer === heap);
  if (verified !== undefined) restoreOriginals();
  return verified;
}

/** Why capturedWasmMemory() is (or would be) undefined; undefined when it works. */
export function wasmMemoryCaptureProblem(): string | undefined {
  if (state === undefined) return 'wasm memory capture was not installed (call installWasmMemoryCapture() before tf.setBackend(\'wasm\'))';
  if (state.problem !== undefined) return state.problem;
  if (wasmHeapBuffer() === undefined) return 'the wasm backend is not initialised';
  if (capturedWasmMemory() === undefined) {
    return `no captured WebAssembly.Memory (${state.candidates.length} seen) is the one behind ` +
      'backend.wasm.HEAPU8.buffer; tfjs-wasm internals may have changed';
  }
  return undefined;
}
