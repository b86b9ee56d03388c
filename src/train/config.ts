// Training hyperparameters: schema, defaults and the resolved form.
import { z } from 'zod';
import { parseWith } from '../util/schema.js';
import { roundsAnything, trainPrecisionSchema, type TrainPrecision } from './precision.js';

const posInt = z.number().int({ message: 'must be an integer' }).positive({ message: 'must be > 0' });
const nonNegInt = z.number().int({ message: 'must be an integer' }).nonnegative({ message: 'must be >= 0' });
const posNum = z.number().finite({ message: 'must be a finite number' }).positive({ message: 'must be > 0' });
const nonNeg = z.number().finite({ message: 'must be a finite number' }).nonnegative({ message: 'must be >= 0' });
const unit = z.number().finite().min(0, { message: 'must be in [0, 1)' }).lt(1, { message: 'must be in [0, 1)' });

/**
 * The stall check: at step ceil(atFraction * steps) the run is evaluated and
 * stopped as 'stalled' unless it beats its task's baseline by margin: an LM's
 * val/loss at least `margin` nats below the unigram val loss, a classifier's
 * val/accuracy at least `margin` (a fraction: 0.02 = 2 points) above chance (1 / classes).
 */
export const stallSchema = z.object({
  atFraction: z.number().finite().gt(0, { message: 'must be in (0, 1]' }).max(1, { message: 'must be in (0, 1]' }),
  margin: nonNeg,
}).strict();
export type StallConfig = z.infer<typeof stallSchema>;

export const trainConfigSchema = z.object({
  steps: posInt,
  batchSize: posInt,
  lr: posNum,
  /** Cosine decay floor; default lr / 10. */
  minLr: nonNeg.optional(),
  warmupSteps: nonNegInt.optional(),
  weightDecay: nonNeg.optional(),
  beta1: unit.optional(),
  beta2: unit.optional(),
  eps: posNum.optional(),
  /** Clip gradients to this global L2 norm; 0 turns clipping off (default 1.0). */
  clipNorm: nonNeg.optional(),
  evalEvery: posInt.optional(),
  /** LM: validation batches per evaluation, from the start of the split (the whole test set is used for images; with data.testSplit the whole split for LMs too). */
  evalBatches: posInt.optional(),
  /** Record alpha and the std of every norm's input every N steps. */
  traceEvery: posInt.optional(),
  /** Write a checkpoint every N steps (and at the end); 0 = only at the end. */
  checkpointEvery: nonNegInt.optional(),
  logEvery: posInt.optional(),
  /** Diverged when the smoothed loss exceeds this multiple of its running minimum. */
  divergenceFactor: z.number().finite().gt(1, { message: 'must be > 1' }).optional(),
  /** Low-precision forward pass (train/precision.ts): rounding of norm outputs, Linear inputs and weights. Absent: float32. */
  precision: trainPrecisionSchema.optional(),
  /** Stop the run as 'stalled' when it is not `margin` better than its task's baseline at `atFraction` of its steps (train/stall.ts). Absent: off. */
  stall: stallSchema.optional(),
}).strict();

export type TrainConfig = z.input<typeof trainConfigSchema>;
/**
 * Every field filled in, except precision (absent: float32) and stall (absent:
 * off): left out when unset, so the config hash of runs without them is unchanged.
 */
export type ResolvedTrainConfig = Required<Omit<TrainConfig, 'precision' | 'stall'>> & { precision?: TrainPrecision; stall?: StallConfig };

export function resolveTrainConfig(input: unknown, label = 'train config'): ResolvedTrainConfig {
  const c = parseWith(trainConfigSchema, input, label);
  const r: ResolvedTrainConfig = {
    steps: c.steps, batchSize: c.batchSize, lr: c.lr, minLr: c.minLr ?? c.lr / 10,
    warmupSteps: c.warmupSteps ?? Math.min(100, Math.floor(c.steps / 10)),
    weightDecay: c.weightDecay ?? 0.1, beta1: c.beta1 ?? 0.9, beta2: c.beta2 ?? 0.95, eps: c.eps ?? 1e-8,
    clipNorm: c.clipNorm ?? 1.0, evalEvery: c.evalEvery ?? Math.max(1, Math.floor(c.steps / 5)),
    evalBatches: c.evalBatches ?? 20, traceEvery: c.traceEvery ?? Math.max(1, Math.floor(c.steps / 20)),
    checkpointEvery: c.checkpointEvery ?? 0, logEvery: c.logEvery ?? 1, divergenceFactor: c.divergenceFactor ?? 4,
    // A precision that rounds nothing is float32: same resolved config, same hash.
    ...(roundsAnything(c.precision) ? { precision: c.precision } : {}),
    ...(c.stall ? { stall: { atFraction: c.stall.atFraction, margin: c.stall.margin } } : {}),
  };
  if (r.minLr > r.lr) throw new Error(`${label}: minLr = ${r.minLr} is above lr = ${r.lr}`);
  if (r.warmupSteps > r.steps) throw new Error(`${label}: warmupSteps = ${r.warmupSteps} is more than steps = ${r.steps}`);
  return r;
}
