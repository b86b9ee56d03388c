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
export * from './display/index.js';
export * from './viz/index.js';
export * from './report/index.js';
export * from './data/index.js';
export { runTraining } from './experiments/run.js';
export type { RunOptions, RunResult } from './experiments/run.js';
export { resolveRunConfig, readConfigFile } from './experiments/run-config.js';
export type { RunConfig } from './experiments/run-config.js';
export { openStore, RunStore, configHash, canonicalJson, StoreError } from './experiments/store.js';
export type { RunRecord } from './experiments/store.js';
export { trainLoop } from './train/trainer.js';
export type { TrainProgress, LoopOptions, LoopResult } from './train/trainer.js';
export { MemorySink } from './train/sink.js';
export type { TrainSink, TraceRow } from './train/sink.js';
export { createTask, crossEntropy, parseDataSpec } from './train/tasks.js';
export type { Task, Batch } from './train/task.js';
export { resolveTrainConfig, trainConfigSchema } from './train/config.js';
export type { TrainConfig, ResolvedTrainConfig } from './train/config.js';
export { AdamW, clipByGlobalNorm } from './train/adamw.js';
export { lrAt } from './train/schedule.js';
export { readCheckpoint, restoreCheckpoint, saveCheckpoint } from './train/checkpoint.js';
export { readSafetensors, writeSafetensors } from './train/safetensors.js';
export { VERSION } from './version.js';
export { fitCurve, evalCurve, SHAPES as CURVE_SHAPES } from './analysis/curvefit.js';
export type { CurveShape, CurveParams, FitOptions, FitResult } from './analysis/curvefit.js';
export { alphaTraces, alphaVsInvStd, pearson, spearman, ranks } from './analysis/alpha.js';
export type { TracePoint, LayerTrace, AlphaVsStd } from './analysis/alpha.js';
