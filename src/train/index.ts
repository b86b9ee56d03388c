// train: the trainer loop, AdamW, schedule, tasks, checkpoints (safetensors), low-precision training.
export { trainLoop } from './trainer.js';
export type { TrainProgress, LoopOptions, LoopResult } from './trainer.js';
export { MemorySink } from './sink.js';
export type { TrainSink, TraceRow } from './sink.js';
export { createTask, crossEntropy, parseDataSpec } from './tasks.js';
export type { Task, Batch } from './task.js';
export { resolveTrainConfig, trainConfigSchema } from './config.js';
export type { TrainConfig, ResolvedTrainConfig } from './config.js';
export { AdamW, clipByGlobalNorm } from './adamw.js';
export { lrAt } from './schedule.js';
export { readCheckpoint, restoreCheckpoint, saveCheckpoint } from './checkpoint.js';
export {
  readSafetensors, readSafetensorsBytes, readSafetensorsHeader, validateSafetensorsHeader, writeSafetensors,
  SAFETENSORS_DTYPES, SAFETENSORS_MAX_HEADER_BYTES,
} from './safetensors.js';
export type { SafetensorsDType, SafetensorsEntry, SafetensorsHeader, SafeDType, SafeFile, SafeTensor } from './safetensors.js';
export {
  withPrecision, trainPrecisionSchema, TRAIN_PRECISION_FORMATS, normRoundingHooks, linearRounding, precisionCast, roundsAnything,
} from './precision.js';
export type { TrainPrecision, TrainPrecisionFormat } from './precision.js';
export { lossSpikes } from './spikes.js';
export type { LossSpike, SpikeOptions } from './spikes.js';
