// dytlab's public API. Everything a notebook or script needs is importable from
// the package root: `import { initBackend, createNorm } from 'dytlab'`.
export { tf } from './engine/tf.js';
export type { Tensor, Variable } from './engine/tf.js';
export { initBackend, backendInfo, BACKEND_NAMES } from './engine/backend.js';
export type { BackendInfo, BackendName, BackendAttempt } from './engine/backend.js';
export {
  squashOp, layerNormOp, rmsNormOp, fusedKernelStatus,
} from './engine/kernels/index.js';
export type { SquashShape, KernelImpl, SquashParams } from './engine/kernels/index.js';
export * from './engine/precision.js';
export { Module } from './nn/module.js';
export type { NamedParameter } from './nn/module.js';
export { createNorm, LayerNorm, RMSNorm, DynamicSquash, IdentityNorm } from './nn/norms.js';
export type { NormLayer } from './nn/norms.js';
export {
  resolveNormSpec, normLabel, normSpecSchema, SQUASH_SHAPES, NORM_KINDS, ALPHA_MODES, DEFAULT_ALPHA0,
} from './nn/norm-spec.js';
export type { NormSpec, ResolvedNormSpec, SquashShapeName, NormKind, AlphaMode } from './nn/norm-spec.js';
export { createResidualGate, fixupInit, fixupScale, residualSpecSchema } from './nn/residual.js';
export type { ResidualGate, ResidualSpec, FixupBranch } from './nn/residual.js';
export { ConfigError } from './util/schema.js';
export { Init } from './nn/init.js';
export { Linear, Embedding } from './nn/linear.js';
export { Attention } from './nn/attention.js';
export { MLP, SwiGLU, gelu } from './nn/mlp.js';
export { ModuleList } from './nn/module.js';
export { isNormLayer } from './nn/norms.js';
export * from './hooks/index.js';
export * from './models/index.js';
export { VERSION } from './version.js';
