// Divergence: a non-finite loss or gradient, or a smoothed loss that climbs
// past a multiple of its running minimum. Detected before the update is applied,
// so the weights of a diverged run are the last finite ones.
export interface DivergenceState { ema: number | null; min: number; seen: number }

export const EMA_DECAY = 0.9;

export function newDivergenceState(): DivergenceState {
  return { ema: null, min: Infinity, seen: 0 };
}

/** Returns a reason when this step diverged, else undefined; updates the state. */
export function checkDivergence(s: DivergenceState, loss: number, gradNorm: number, factor: number): string | undefined {
  if (!Number.isFinite(loss)) return `loss is ${loss}`;
  if (!Number.isFinite(gradNorm)) return `gradient norm is ${gradNorm}`;
  s.ema = s.ema === null ? loss : EMA_DECAY * s.ema + (1 - EMA_DECAY) * loss;
  s.seen++;
  // The initial loss counts: a run that blows up in its first steps never sets a low minimum otherwise.
  s.min = Math.min(s.min, s.ema);
  if (s.seen > 10 && s.ema > factor * s.min) {
    return `smoothed loss ${s.ema.toPrecision(4)} exceeds ${factor} x its running minimum ${s.min.toPrecision(4)}`;
  }
  return undefined;
}
