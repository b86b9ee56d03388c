// A progress bar that updates in place: one display(), then handle.update()
// (update_display_data in Jupyter), at most one update per 100 ms. The update
// that reaches the total and finish() are always sent. No timers: an update
// dropped by the throttle is superseded by the next one (or by finish()).
import { display, type DisplayHandle } from './display.js';
import { ProgressView } from './progress-view.js';

/** Minimum time between two updates sent to the display. */
export const PROGRESS_MIN_INTERVAL_MS = 100;

export interface ProgressDisplay {
  readonly id: string;
  /** Records progress (`done` of the total); sent when 100 ms passed since the last update, or when done >= total. */
  update(done: number, info?: string): void;
  /** Marks the work finished and sends the final state (keeps the last `done`; later calls are ignored). */
  finish(info?: string): void;
}

/** A progress bar for `total` steps (text/html bar and a text/plain line). */
export function progress(total: number, label = ''): ProgressDisplay {
  if (typeof total !== 'number' || !Number.isFinite(total) || total < 0) {
    throw new RangeError(`progress(total): total must be a finite number >= 0, got ${String(total)}`);
  }
  const t0 = Date.now();
  let done = 0, info = '', finished = false;
  let lastSent = t0, lastSentDone = 0;
  const view = () => new ProgressView(String(label), total, done, (Date.now() - t0) / 1000, info, finished);
  const handle: DisplayHandle = display(view());
  const send = () => {
    lastSent = Date.now();
    lastSentDone = done;
    handle.update(view());
  };
  return {
    id: handle.id,
    update(n: number, text?: string) {
      if (finished) return;
      if (typeof n === 'number' && Number.isFinite(n)) done = n;
      if (text !== undefined) info = String(text);
      const reachedTotal = done >= total && lastSentDone < total;
      if (reachedTotal || Date.now() - lastSent >= PROGRESS_MIN_INTERVAL_MS) send();
    },
    finish(text?: string) {
      if (finished) return;
      finished = true;
      if (text !== undefined) info = String(text);
      send();
    },
  };
}
