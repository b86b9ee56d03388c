// Learning-rate schedule: linear warmup from 0, then cosine decay to minLr.
export interface ScheduleConfig { lr: number; minLr: number; warmupSteps: number; steps: number }

/** Learning rate for the update made at `step` (0-based). */
export function lrAt(step: number, s: ScheduleConfig): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.steps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * progress));
}
