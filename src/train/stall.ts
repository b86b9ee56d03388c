// The stall check (train.stall): a run that has not beaten its task's
// no-learning baseline by a margin at a fraction of its steps is stopped and
// recorded as 'stalled', with the reason. An LM's baseline is the unigram
// val/loss (margin in nats below it), a classifier's the chance val/accuracy
// 1 / classes (margin in accuracy as a fraction above it: 0.02 = 2 points).
import type { StallConfig } from './config.js';
import type { TaskBaseline } from './task.js';

/** The step the check runs at: ceil(atFraction * steps), at least 1. */
export function stallStep(stall: StallConfig, steps: number): number {
  return Math.min(steps, Math.max(1, Math.ceil(stall.atFraction * steps - 1e-9)));
}

/**
 * A reason when the run stalled, else undefined. Stalled unless the metric
 * beats the baseline by at least the margin: val/loss <= baseline - margin, or
 * val/accuracy >= baseline + margin. A missing or NaN metric is stalled.
 */
export function checkStall(stall: StallConfig, baseline: TaskBaseline, evaluation: Record<string, number> | undefined, step: number, steps: number): string | undefined {
  const v = evaluation?.[baseline.metric];
  const ok = v !== undefined && (baseline.higherIsBetter ? v >= baseline.value + stall.margin : v <= baseline.value - stall.margin);
  if (ok) return undefined;
  const by = baseline.higherIsBetter ? `${stall.margin} above` : `${stall.margin} nats below`;
  return `stalled: ${baseline.metric} ${v === undefined ? 'not measured' : v.toPrecision(5)} at step ${step} of ${steps} is not ${by} ` +
    `the ${baseline.label} ${baseline.value.toPrecision(5)} (train.stall: atFraction ${stall.atFraction}, margin ${stall.margin})`;
}
