// What the trainer needs from a dataset + objective, independent of which one.
import type { Scalar, Tensor } from '../engine/tf.js';
import type { HookedModel } from '../models/types.js';

export interface Batch {
  x: Tensor;
  y: Tensor;
  /** Tokens (LM) or images (ViT) in the batch, for throughput. */
  items: number;
}

/**
 * What a model that learned nothing scores on the held-out split: the unigram
 * (token frequency) val/loss of an LM, the chance val/accuracy (1 / classes) of a
 * classifier. The stall check (train.stall) compares a run with it.
 */
export interface TaskBaseline {
  metric: 'val/loss' | 'val/accuracy';
  value: number;
  /** val/accuracy: true; val/loss: false. */
  higherIsBetter: boolean;
  /** What it is, for reasons: 'unigram val loss', 'chance accuracy (1/10)'. */
  label: string;
}

export interface Task {
  readonly kind: 'lm' | 'vit';
  /** 'tokens' or 'images'. */
  readonly unit: string;
  /** The next training batch (tensors owned by the caller). */
  nextBatch(): Batch;
  /** Mean loss of `model` on a batch (differentiable). */
  loss(model: HookedModel, x: Tensor, y: Tensor): Scalar;
  /** Evaluation metrics on the held-out split, e.g. {'val/loss': 2.1, 'val/accuracy': 0.97}. */
  evaluate(model: HookedModel): Record<string, number>;
  /**
   * Metrics on the separate test split, e.g. {'test/loss': 2.2, 'test/accuracy': 0.96}: only for a data spec
   * with testSplit (absent otherwise). The trainer calls it at the final step.
   */
  evaluateTest?(model: HookedModel): Record<string, number>;
  /** A fixed input for activation traces (same every call). */
  probe(): Tensor;
  /** The first `n` held-out examples (sequences of the context length, or images) as one input batch, for analyses. */
  heldOut(n: number): Tensor;
  /** Resumable data order. */
  state(): unknown;
  restore(state: unknown): void;
  /** Facts worth recording with the run (dataset sizes, vocab, baselines). */
  readonly info: Record<string, number | string>;
  /** The no-learning baseline (absent where the task has none). */
  readonly baseline?: TaskBaseline;
  dispose(): void;
}
