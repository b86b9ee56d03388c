// engine: the tfjs backend, the ops of the normalization family, precision casts, WebGPU and CUDA.
export { tf } from './tf.js';
export type { Tensor, Variable } from './tf.js';
export { initBackend, backendInfo, BACKEND_NAMES } from './backend.js';
export type { BackendInfo, BackendName, BackendAttempt } from './backend.js';
export {
  squashOp, layerNormOp, rmsNormOp, fusedKernelStatus,
} from './ops/index.js';
export type { SquashShape, KernelImpl, SquashParams } from './ops/index.js';
export { attentionOp, setAttentionImpl, attentionImpl, fusedAttentionProblem } from './ops/attention-op.js';
export type { AttentionOpOptions, AttentionRope } from './ops/attention-op.js';
export { geluOp, biasGeluOp, crossEntropyOp, adamwUpdate, sumOfSquares, setTrainOpsImpl, trainOpsUnavailable } from './ops/train-ops.js';
export type { GeluForm, AdamWEntry, AdamWStep } from './ops/train-ops.js';
export { SQUASH, SQUASH_SHAPES, SHAPE_CODES, squashF64, isSquashShape } from './squash-shapes.js';
export type { SquashShapeDef } from './squash-shapes.js';
export * from './precision.js';
export { roundScaledArray, castScaled, absMaxFinite } from './scaled-cast.js';
export type { ScaledRound } from './scaled-cast.js';
export * as cuda from './cuda/index.js';
export { webgpuAdapter } from './webgpu/backend.js';
export type { GpuAdapterSummary } from './webgpu/dawn.js';
