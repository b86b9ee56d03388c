// analysis: pure measurements (mappings, curve fits, alpha vs 1/std, outliers, quantization, swap test, timing).
export { fitCurve, evalCurve, SHAPES as CURVE_SHAPES } from './curvefit.js';
export type { CurveShape, CurveParams, FitOptions, FitResult } from './curvefit.js';
export { alphaTraces, alphaVsInvStd, pearson, spearman, ranks, permutationPValue } from './alpha.js';
export type { TracePoint, LayerTrace, AlphaVsStd } from './alpha.js';
export { normMappings, subsampleMapping, pickPoints, topAbsIndices, DEFAULT_MAX_POINTS } from './mapping.js';
export type { LayerMapping, MappingPoints, MappingOptions, SubsampleOptions } from './mapping.js';
export { tokenLines, channelExtremes, shapeQuality, extremeChannelEffect } from './token-channel.js';
export type { TokenLines, ChannelExtreme, ShapeQuality, ExtremeChannelEffect } from './token-channel.js';
export { fitShapes, DEFAULT_SHAPES } from './fit-shapes.js';
export { planSwaps, applySwap, swapTest } from './swap.js';
export type { SwapLayerPlan, SwapVariant, SwapRow, SwapTestOptions, SwapTestResult } from './swap.js';
export { summarizeMapping } from './mapping-summary.js';
export type { MappingSummary } from './mapping-summary.js';
export {
  toMatrix, normalizeRms, featureStats, topChannels, channelConsistency, outlierFeatures, outlierOptionsSchema, collectActivations,
  outlierSnapshot, outliersOverTraining, modelFromCheckpointConfig, SITE_KINDS, INT8_SITES,
} from './outliers.js';
export type {
  Matrix, Activation, FeatureStats, ChannelConsistency, OutlierOptions, OutlierFeature, OutlierResult, SiteKind,
  ActivationSite, OutlierSnapshot, TrainingOutlierOptions,
} from './outliers.js';
export {
  QUANT_METHODS, quantizeOperands, quantizedProduct, outlierColumns, withQuantizedLinears, evaluatePtq, layerSqnr, sqnrDb,
} from './quant.js';
export type {
  QuantMethod, QuantOptions, OperandCounts, QuantizedOperands, QuantizedProduct, LayerQuantStats, QuantizedRun, PtqRow,
  PtqResult, LayerSqnr,
} from './quant.js';
export { massiveStats, massiveActivations, medianAbs, LINEAR_INPUT_SITES } from './massive.js';
export type { MassiveOptions, MassiveValue, MassiveStats, MassiveLayer, MassiveCensus } from './massive.js';
export { windowsTask } from './eval-windows.js';
export type { Evaluator, WindowsEvaluator } from './eval-windows.js';
export { fp16NormStats, normOverflowFp16, FP16_MAX } from './norm-overflow.js';
export type { Fp16NormStats, NormOverflowRow, NormStatKind } from './norm-overflow.js';
export { timeLayers, timeTrainSteps, loadGpuResults, gpuTimingRows, gpuResultsDir } from './efficiency.js';
export type { LayerTiming, LayerOp, LayerTimingOptions, StepModel, StepTiming, GpuResult, GpuTimingRow } from './efficiency.js';
export { rescalingSensitivity } from './rescaling.js';
export type { RescalingOptions, RescalingRow, RescalingResult } from './rescaling.js';
