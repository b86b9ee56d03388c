// dytlab's public API. Everything a notebook or script needs is importable from
// the package root: `import { initBackend, createNorm } from 'dytlab'`.
export { tf } from './engine/tf.js';
export type { Tensor, Variable } from './engine/tf.js';
export { initBackend, backendInfo, BACKEND_NAMES } from './engine/backend.js';
export type { BackendInfo, BackendName, BackendAttempt } from './engine/backend.js';
export {
  squashOp, layerNormOp, rmsNormOp, fusedKernelStatus,
} from './engine/ops/index.js';
export type { SquashShape, KernelImpl, SquashParams } from './engine/ops/index.js';
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
export {
  checkRunMemory, countModelParameters, estimateRunMemory, formatBytes, memoryLimit, ACTIVATION_FACTORS, MEMORY_LIMIT_FRACTION,
} from './experiments/memory-estimate.js';
export type { MemoryCheckOptions, MemoryDriver, MemoryEstimate, MemoryParts, ParameterCount } from './experiments/memory-estimate.js';
export { resolveRunConfig, resolveRun, isResolvedRun, readConfigFile } from './experiments/run-config.js';
export type { RunConfig } from './experiments/run-config.js';
export { openStore, RunStore, configHash, canonicalJson, StoreError } from './experiments/store/index.js';
export type { RunRecord } from './experiments/store/index.js';
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
export {
  readSafetensors, readSafetensorsBytes, readSafetensorsHeader, validateSafetensorsHeader, writeSafetensors,
  SAFETENSORS_DTYPES, SAFETENSORS_MAX_HEADER_BYTES,
} from './train/safetensors.js';
export type { SafetensorsDType, SafetensorsEntry, SafetensorsHeader, SafeDType, SafeFile, SafeTensor } from './train/safetensors.js';
export { VERSION } from './version.js';
export { fitCurve, evalCurve, SHAPES as CURVE_SHAPES } from './analysis/curvefit.js';
export type { CurveShape, CurveParams, FitOptions, FitResult } from './analysis/curvefit.js';
export { alphaTraces, alphaVsInvStd, pearson, spearman, ranks, permutationPValue } from './analysis/alpha.js';
export type { TracePoint, LayerTrace, AlphaVsStd } from './analysis/alpha.js';
export { normMappings, subsampleMapping, pickPoints, topAbsIndices, DEFAULT_MAX_POINTS } from './analysis/mapping.js';
export type { LayerMapping, MappingPoints, MappingOptions, SubsampleOptions } from './analysis/mapping.js';
export { tokenLines, channelExtremes, shapeQuality, extremeChannelEffect } from './analysis/token-channel.js';
export type { TokenLines, ChannelExtreme, ShapeQuality, ExtremeChannelEffect } from './analysis/token-channel.js';
export { fitShapes, DEFAULT_SHAPES } from './analysis/fit-shapes.js';
export { planSwaps, applySwap, swapTest } from './analysis/swap.js';
export type { SwapLayerPlan, SwapVariant, SwapRow, SwapTestOptions, SwapTestResult } from './analysis/swap.js';
export { ensureRun, loadRunModel, resolveFully } from './experiments/ensure.js';
export type { EnsureOptions, EnsuredRun, LoadedRun } from './experiments/ensure.js';
export { packageRoot, projectFile, notebookStorePath } from './util/paths.js';
export { summarizeMapping } from './analysis/mapping-summary.js';
export type { MappingSummary } from './analysis/mapping-summary.js';
export { roundScaledArray, castScaled, absMaxFinite } from './engine/scaled-cast.js';
export type { ScaledRound } from './engine/scaled-cast.js';
export {
  toMatrix, normalizeRms, featureStats, topChannels, channelConsistency, outlierFeatures, outlierOptionsSchema, collectActivations,
  outlierSnapshot, outliersOverTraining, modelFromCheckpointConfig, SITE_KINDS, INT8_SITES,
} from './analysis/outliers.js';
export type {
  Matrix, Activation, FeatureStats, ChannelConsistency, OutlierOptions, OutlierFeature, OutlierResult, SiteKind,
  ActivationSite, OutlierSnapshot, TrainingOutlierOptions,
} from './analysis/outliers.js';
export {
  QUANT_METHODS, quantizeOperands, quantizedProduct, outlierColumns, withQuantizedLinears, evaluatePtq, layerSqnr, sqnrDb,
} from './analysis/quant.js';
export type {
  QuantMethod, QuantOptions, OperandCounts, QuantizedOperands, QuantizedProduct, LayerQuantStats, QuantizedRun, PtqRow,
  PtqResult, LayerSqnr,
} from './analysis/quant.js';
export { fp16NormStats, normOverflowFp16, FP16_MAX } from './analysis/norm-overflow.js';
export type { Fp16NormStats, NormOverflowRow, NormStatKind } from './analysis/norm-overflow.js';
export {
  withPrecision, trainPrecisionSchema, TRAIN_PRECISION_FORMATS, normRoundingHooks, linearRounding, precisionCast, roundsAnything,
} from './train/precision.js';
export type { TrainPrecision, TrainPrecisionFormat } from './train/precision.js';
export { lossSpikes } from './train/spikes.js';
export type { LossSpike, SpikeOptions } from './train/spikes.js';
export { loadSweep, sweepFileSchema, valueLabel } from './experiments/sweep-config.js';
export type { SweepFile, SweepSpec, SweepAxis, AxisEntry, LoadSweepOptions } from './experiments/sweep-config.js';
export {
  expandSweep, planSweep, shardPoints, parseShard, shardFromEnv, runState, resolveForStore, describeLabels,
} from './experiments/sweep.js';
export type { SweepPoint, SweepGrid, SweepPlan, PlannedRun, PlanState, Shard } from './experiments/sweep.js';
export { runSweep, defaultJobs } from './experiments/sweep-runner.js';
export type { SweepRunOptions, SweepResult, SweepEvent, RunOutcome, WorkerProgress } from './experiments/sweep-runner.js';
export { estimateRun, modelSizeEstimate, storeStepTimes, makespan } from './experiments/sweep-estimate.js';
export type { RunEstimate } from './experiments/sweep-estimate.js';
export {
  sweepRuns, summarizeSweep, compareToBaseline, sweepMatrix, sweepCurves,
} from './experiments/sweep-summary.js';
export type {
  SweepRunRow, SweepSummaryRow, ComparisonRow, SweepMatrix, MeanCurve, SummaryOptions, RunState,
} from './experiments/sweep-summary.js';
export {
  mean, sampleStd, summarize, pairedComparison, studentTCdf, studentTQuantile, studentTTwoSided, incompleteBeta,
} from './experiments/stats.js';
export type { Summary, PairedComparison, BySeed } from './experiments/stats.js';
export { timeLayers, timeTrainSteps, loadGpuResults, gpuTimingRows, gpuResultsDir } from './analysis/efficiency.js';
export type { LayerTiming, LayerOp, LayerTimingOptions, StepModel, StepTiming, GpuResult, GpuTimingRow } from './analysis/efficiency.js';
export * as cuda from './engine/cuda/index.js';
export { webgpuAdapter } from './engine/webgpu/backend.js';
export type { GpuAdapterSummary } from './engine/webgpu/dawn.js';
