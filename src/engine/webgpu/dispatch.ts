/// <reference types="@webgpu/types" />
// Recording our own compute passes into tfjs-backend-webgpu's command stream.
//
// tfjs's WebGPUProgram gives one output per program; the fused backward
// kernels write several (dx and the partial sums), so they are dispatched
// here with our own pipelines, the same way the backend records its programs
// (backend_webgpu.js recordAndSubmit in 4.22): buffers are the backend's own,
// tensors used by a pass are marked as owned by the queue so their release
// waits for the submit, and the batch is submitted at the same threshold.
// These members are private in the .d.ts: checked at run time, so a tfjs
// upgrade that renames them fails here with a clear message.
import { tf } from '../tf.js';
import type { DataType, TensorInfo } from '../tf.js';

type DataId = TensorInfo['dataId'];

export interface WebGpuBackendLike {
  device: GPUDevice;
  tensorMap: { get(dataId: DataId): { resource?: unknown; dtype: DataType } | undefined };
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
  uploadToGPU(dataId: DataId): void;
  makeUniforms(u: Array<{ type: 'int32' | 'uint32' | 'float32'; data: number[] }>): GPUBufferBinding;
  tensorToBinding(t: TensorInfo): GPUBindingResource;
  disposeData(dataId: DataId, force?: boolean): boolean;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
}

const METHODS = ['makeTensorInfo', 'uploadToGPU', 'makeUniforms', 'tensorToBinding', 'disposeData',
  'ensureCommandEncoderReady', 'endComputePassEncoder', 'submitQueue'] as const;

export function webgpuBackendOf(backend: unknown, kernel: string): WebGpuBackendLike {
  const b = backend as Record<string, unknown> | null;
  const missing = b === null || typeof b !== 'object'
    ? ['everything']
    : [
      ...METHODS.filter((m) => typeof b[m] !== 'function'),
      ...(['device', 'tensorMap', 'commandQueueOwnedIds'] as const).filter((f) => b[f] == null),
      ...(typeof b['dispatchCountInPass'] !== 'number' ? ['dispatchCountInPass'] : []),
    ];
  if (missing.length) {
    throw new Error(`${kernel}: the backend is not tfjs-backend-webgpu 4.22's WebGPUBackend as this kernel knows it ` +
      `(missing: ${missing.join(', ')})`);
  }
  return b as unknown as WebGpuBackendLike;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** Compiled once per device and source. */
export function pipelineFor(device: GPUDevice, code: string): GPUComputePipeline {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  let p = cache.get(code);
  if (!p) {
    p = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
    cache.set(code, p);
  }
  return p;
}

/** A float32 tensor with a GPU buffer behind it (contents undefined until written). */
export function gpuOutput(b: WebGpuBackendLike, shape: number[]): TensorInfo {
  const t = b.makeTensorInfo(shape, 'float32');
  b.uploadToGPU(t.dataId);
  return t;
}

/** A float32 tensor of zeros that stays on the CPU side until used (for empty inputs). */
export function zerosOutput(b: WebGpuBackendLike, shape: number[]): TensorInfo {
  return b.makeTensorInfo(shape, 'float32', new Float32Array(tf.util.sizeFromShape(shape)));
}

/**
 * Records one dispatch: binding 0 is the params uniform {rows: u32, eps: f32},
 * bindings 1.. the tensors in order.
 */
export function dispatch(b: WebGpuBackendLike, code: string, params: { rows: number; eps?: number },
    tensors: TensorInfo[], workgroups: number): void {
  // Uploads may record copies: do them before our pass is open.
  for (const t of tensors) b.uploadToGPU(t.dataId);
  const pipeline = pipelineFor(b.device, code);
  const uniforms = b.makeUniforms([{ type: 'uint32', data: [params.rows] }, { type: 'float32', data: [params.eps ?? 0] }]);
  const bindGroup = b.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: uniforms }, ...tensors.map((t, i) => ({ binding: i + 1, resource: b.tensorToBinding(t) }))],
  });
  for (const t of tensors) b.commandQueueOwnedIds.add(t.dataId);
  b.ensureCommandEncoderReady();
  if (!b.computePassEncoder) b.computePassEncoder = b.commandEncoder!.beginComputePass({});
  b.computePassEncoder.setPipeline(pipeline);
  b.computePassEncoder.setBindGroup(0, bindGroup);
  b.computePassEncoder.dispatchWorkgroups(workgroups);
  b.dispatchCountInPass++;
  if (b.dispatchCountInPass >= (tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number)) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
}

/** The device limit that bounds our workgroup sizes. */
export function maxWorkgroupSize(device: GPUDevice): number {
  return Math.min(device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
}
