// experiments: run configs and runTraining, ensureRun, memory estimates, the run store, sweeps, statistics.
export { runTraining } from './run.js';
export type { RunOptions, RunResult } from './run.js';
export {
  checkRunMemory, countModelParameters, estimateRunMemory, formatBytes, memoryLimit, ACTIVATION_FACTORS, MEMORY_LIMIT_FRACTION,
} from './memory-estimate.js';
export type { MemoryCheckOptions, MemoryDriver, MemoryEstimate, MemoryParts, ParameterCount } from './memory-estimate.js';
export { resolveRunConfig, resolveRun, isResolvedRun, readConfigFile } from './run-config.js';
export type { RunConfig } from './run-config.js';
export { openStore, RunStore, configHash, canonicalJson, StoreError } from './store/index.js';
export type { RunRecord } from './store/index.js';
export { ensureRun, loadRunModel, resolveFully } from './ensure.js';
export type { EnsureOptions, EnsuredRun, LoadedRun } from './ensure.js';
export { loadSweep, sweepFileSchema, valueLabel } from './sweep-config.js';
export type { SweepFile, SweepSpec, SweepAxis, AxisEntry, LoadSweepOptions, BracketSpec } from './sweep-config.js';
export {
  expandSweep, planSweep, shardPoints, parseShard, shardFromEnv, runState, resolveForStore, describeLabels,
} from './sweep.js';
export type { SweepPoint, SweepGrid, SweepPlan, PlannedRun, PlanState, Shard } from './sweep.js';
export { runSweep, defaultJobs } from './sweep-runner.js';
export type { SweepRunOptions, SweepResult, SweepEvent, RunOutcome, WorkerProgress } from './sweep-runner.js';
export { bracketStatus, bracketGrid, bracketOptions, extendPoint, stepValue } from './sweep-bracket.js';
export type { BracketRow, BracketOptions, BracketValue, BracketState, BracketGroupStatus, BracketWalk } from './sweep-bracket.js';
export { sweepBrackets, selectOnValidation } from './sweep-select.js';
export type { SelectOptions, SelectionRow } from './sweep-select.js';
export { runBrackets } from './sweep-bracket-run.js';
export type { BracketRunOptions, BracketRunResult } from './sweep-bracket-run.js';
export { estimateRun, modelSizeEstimate, storeStepTimes, makespan } from './sweep-estimate.js';
export type { RunEstimate } from './sweep-estimate.js';
export {
  sweepRuns, summarizeSweep, compareToBaseline, sweepMatrix, sweepCurves,
} from './sweep-summary.js';
export type {
  SweepRunRow, SweepSummaryRow, ComparisonRow, SweepMatrix, MeanCurve, SummaryOptions, RunState,
} from './sweep-summary.js';
export {
  mean, sampleStd, summarize, pairedComparison, studentTCdf, studentTQuantile, studentTTwoSided, incompleteBeta,
} from './stats.js';
export type { Summary, PairedComparison, BySeed } from './stats.js';
