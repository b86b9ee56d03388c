// nn: the Module base, layers, the normalization family (DynamicTanh, LayerNorm, RMSNorm, ...), residual gates.
export { Module } from './module.js';
export type { NamedParameter } from './module.js';
export { createNorm, LayerNorm, RMSNorm, DynamicTanh, DynamicSquash, DyISRU, IdentityNorm } from './norms.js';
export type { NormLayer } from './norms.js';
export {
  resolveNormSpec, normLabel, normSpecSchema, NORM_KINDS, ALPHA_MODES, DEFAULT_ALPHA0,
} from './norm-spec.js';
export type { NormSpec, ResolvedNormSpec, SquashShapeName, NormKind, AlphaMode } from './norm-spec.js';
export { createResidualGate, fixupInit, fixupScale, residualSpecSchema } from './residual.js';
export type { ResidualGate, ResidualSpec, FixupBranch } from './residual.js';
export { Init } from './init.js';
export { Linear, Embedding, SigmaReparamLinear } from './linear.js';
export { Attention } from './attention.js';
export { GroupedQueryAttention, ropeTablesFromInvFreq } from './gqa.js';
export type { GQAttentionOptions } from './gqa.js';
export { MLP, SwiGLU, gelu, geluExact } from './mlp.js';
export { ModuleList } from './module.js';
export { isNormLayer } from './norms.js';
