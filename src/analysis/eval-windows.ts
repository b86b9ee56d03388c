// A task-like evaluator over a fixed set of id windows, for an LM that comes
// without a lab Task (a checkpoint loaded with loadPretrained, windows cut with
// textToBatches): evaluatePtq and anything else that calls `evaluate(model)`
// take it as they take a Task. (pretrained/data.ts's snapshotTask is the whole
// Task over a snapshot's data, ViTs included.)
//   windowsTask(ids)   next-token cross-entropy and accuracy on int32 [B, T] id windows
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import type { HookedModel } from '../models/types.js';

/** What evaluatePtq needs of a task: metrics of a model (a lab Task is one for the lab's models). */
export interface Evaluator<M extends HookedModel = HookedModel> {
  evaluate(model: M): Record<string, number>;
}

export interface WindowsEvaluator extends Evaluator {
  /** Windows (rows) and predicted tokens per evaluation. */
  readonly windows: number;
  readonly predictions: number;
  dispose(): void;
}

function checkBatch(batch: number | undefined, label: string): number {
  const b = batch ?? 8;
  if (!Number.isInteger(b) || b < 1) throw new Error(`${label}: batch = ${String(batch)} must be a positive integer`);
  return b;
}

/**
 * Next-token evaluation of an LM on id windows int32 [B, T]: within each window,
 * tokens 1..T-1 are predicted from the ones before. Metrics: 'val/loss' (mean
 * cross-entropy, nats) and 'val/accuracy' (top-1). Evaluated `batch` windows at a
 * time. The evaluator keeps its own copy of the ids; dispose() frees it.
 */
export function windowsTask(ids: Tensor, opts: { batch?: number } = {}): WindowsEvaluator {
  if (ids.dtype !== 'int32' || ids.rank !== 2 || ids.shape[1]! < 2) {
    throw new Error(`windowsTask: expected int32 id windows [B, T] with T >= 2, got ${ids.dtype} [${ids.shape.join(', ')}]`);
  }
  const batch = checkBatch(opts.batch, 'windowsTask');
  const x = tf.keep(ids.clone());
  const [B, T] = x.shape as [number, number];
  return {
    windows: B, predictions: B * (T - 1),
    evaluate(model: HookedModel): Record<string, number> {
      let loss = 0, correct = 0;
      for (let b0 = 0; b0 < B; b0 += batch) {
        const n = Math.min(batch, B - b0);
        const [l, c] = tf.tidy(() => {
          const w = x.slice([b0, 0], [n, T]);
          const inp = w.slice([0, 0], [n, T - 1]), tgt = w.slice([0, 1], [n, T - 1]).reshape([-1]);
          const logits = model.apply(inp);
          const V = logits.shape[logits.rank - 1]!;
          const lp = tf.logSoftmax(logits.reshape([-1, V]));
          const nll = tf.neg(tf.sum(tf.mul(lp, tf.oneHot(tgt, V))));
          const hit = tf.sum(tf.cast(tf.equal(tf.argMax(lp, 1), tgt), 'float32'));
          return [nll.dataSync()[0]!, hit.dataSync()[0]!];
        });
        loss += l;
        correct += c;
      }
      const N = B * (T - 1);
      return { 'val/loss': loss / N, 'val/accuracy': correct / N };
    },
    dispose: () => x.dispose(),
  };
}
