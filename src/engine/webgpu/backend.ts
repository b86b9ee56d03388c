/// <reference types="@webgpu/types" />
// The 'webgpu' tfjs backend on Dawn (npm `webgpu`) through
// @tensorflow/tfjs-backend-webgpu, with our own backend factory: the package's
// factory asks for a core-level adapter only, so it finds nothing on the
// software (OpenGL ES) path, and it leaves the storage-buffer limit at the
// default. `navigator.gpu` is in place before the package is imported (its
// import registers a factory only when navigator.gpu exists).
//
// Under Node, tfjs-webgpu's synchronous readback (dataSync, arraySync) needs
// OffscreenCanvas and throws: read with `await t.data()`. Our factory turns
// that into an error saying so.
import { tf } from '../tf.js';
import { installNavigatorGpu, openAdapter } from './dawn.js';
import type { GpuAdapterSummary, OpenedAdapter } from './dawn.js';

export type { GpuAdapterSummary } from './dawn.js';

let opened: OpenedAdapter | undefined;
let registered = false;

const LIMITS = [
  'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup',
] as const;

/** Storage buffers our fused kernels bind at most (squash backward: 5 inputs, dx, partials). */
const NEEDED_STORAGE_BUFFERS = 7;

export const SYNC_READ_MESSAGE = 'dataSync()/arraySync() cannot read a webgpu tensor under Node ' +
  "(tfjs-backend-webgpu's synchronous readback needs OffscreenCanvas): use `await tensor.data()` / `await tensor.array()`; " +
  "dytlab's trainer (runTraining, dytlab train) still reads synchronously: run it with DYTLAB_BACKEND=wasm";

function friendlyReadSync(backend: { readSync(dataId: object): unknown }): void {
  const original = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    try {
      return original(dataId);
    } catch (e) {
      if (/OffscreenCanvas/.test((e as Error).message)) throw new Error(SYNC_READ_MESSAGE);
      throw e;
    }
  };
}

async function createBackend(a: OpenedAdapter): Promise<tf.KernelBackend> {
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  const L = a.adapter.limits as unknown as Record<string, number>;
  if (L['maxStorageBuffersPerShaderStage']! < NEEDED_STORAGE_BUFFERS) {
    throw new Error(`adapter ${a.summary.device || a.summary.description}: maxStorageBuffersPerShaderStage = ` +
      `${L['maxStorageBuffersPerShaderStage']}, the fused kernels need ${NEEDED_STORAGE_BUFFERS}`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) requiredLimits[k] = L[k]!;
  const requiredFeatures = (['timestamp-query'] as GPUFeatureName[]).filter((f) => a.adapter.features.has(f));
  const device = await a.adapter.requestDevice({ requiredLimits, requiredFeatures });
  device.lost.then((info) => {
    if (info.reason !== 'destroyed') console.warn(`dytlab: WebGPU device lost: ${info.message}`);
  }, () => undefined);
  const backend = new WebGPUBackend(device, a.adapter.info as never);
  friendlyReadSync(backend as unknown as { readSync(dataId: object): unknown });
  return backend as unknown as tf.KernelBackend;
}

/**
 * Opens an adapter (hardware; software only when `allowSoftware`), registers
 * the 'webgpu' backend and activates it. Idempotent per process.
 */
export async function activateWebGpu(opts: { allowSoftware: boolean }): Promise<GpuAdapterSummary> {
  if (!opened) {
    opened = await openAdapter(opts);
  } else if (opened.summary.software && !opts.allowSoftware) {
    throw new Error(`this process already uses a software adapter (${opened.summary.device}); no hardware adapter was found`);
  }
  const a = opened;
  if (!registered) {
    installNavigatorGpu(a.gpu);
    // Registers the webgpu kernels (and, navigator.gpu being set, its own factory, which ours replaces).
    await import('@tensorflow/tfjs-backend-webgpu');
    if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
    // Priority 0: never picked by tfjs on its own, only through initBackend.
    tf.registerBackend('webgpu', () => createBackend(a), 0);
    registered = true;
  }
  if (!(await tf.setBackend('webgpu'))) {
    throw new Error(`@tensorflow/tfjs-backend-webgpu: initialisation failed on adapter ${a.summary.device || a.summary.description}`);
  }
  await tf.ready();
  return a.summary;
}

/** The adapter behind the active webgpu backend, if one was opened. */
export function webgpuAdapter(): GpuAdapterSummary | undefined {
  return opened?.summary;
}

/** The GPUDevice of the active webgpu backend (for benchmarks that record their own passes). */
export function webgpuDevice(): GPUDevice | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (tf.backend() as unknown as { device?: GPUDevice }).device;
}
