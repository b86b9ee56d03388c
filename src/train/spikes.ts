// Loss spikes: a training step whose loss jumps well above the recent typical
// loss. Definition: step t (1-based, as the trainer counts) spikes when
//   loss_t > factor * median(loss over the `window` steps before t)
// given at least `minHistory` earlier steps. The median ignores a single
// earlier spike, unlike a mean. Divergence (a run that never comes back) is the
// trainer's business (train/divergence.ts); a spike may recover.
import { z } from 'zod';
import { parseWith } from '../util/schema.js';

export interface SpikeOptions {
  /** How far above the running median counts as a spike. Default 1.5. */
  factor?: number;
  /** Steps in the running median. Default 50. */
  window?: number;
  /** Earlier steps needed before any step can spike. Default 10. */
  minHistory?: number;
}

export interface LossSpike {
  /** 1-based step (losses[step - 1]). */
  step: number;
  loss: number;
  /** The running median it was compared with. */
  median: number;
  /** loss / median. */
  ratio: number;
}

const posInt = z.number().int({ message: 'must be an integer' }).positive({ message: 'must be > 0' });
const schema = z.object({
  factor: z.number().finite({ message: 'must be a finite number' }).gt(1, { message: 'must be > 1' }).optional(),
  window: posInt.optional(),
  minHistory: posInt.optional(),
}).strict();

function median(sorted: readonly number[]): number {
  const n = sorted.length, h = n >> 1;
  return n % 2 ? sorted[h]! : (sorted[h - 1]! + sorted[h]!) / 2;
}

/** The steps where `losses` (one per step, step 1 first) spiked. Non-finite losses count as spikes and stay out of later medians. */
export function lossSpikes(losses: ArrayLike<number>, opts: SpikeOptions = {}): LossSpike[] {
  const o = parseWith(schema, opts, 'lossSpikes options');
  const factor = o.factor ?? 1.5, window = o.window ?? 50, minHistory = Math.min(o.minHistory ?? 10, window);
  const spikes: LossSpike[] = [];
  const recent: number[] = [];
  for (let t = 0; t < losses.length; t++) {
    const loss = losses[t]!;
    if (recent.length >= minHistory) {
      const med = median([...recent].sort((a, b) => a - b));
      if (!Number.isFinite(loss) || loss > factor * med) spikes.push({ step: t + 1, loss, median: med, ratio: loss / med });
    }
    if (Number.isFinite(loss)) {
      recent.push(loss);
      if (recent.length > window) recent.shift();
    }
  }
  return spikes;
}
