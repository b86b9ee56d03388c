// Linear and Embedding layers.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import type { Init } from './init.js';
import { Module } from './module.js';

/**
 * Replaces every Linear's affine map while active: gets the layer and its input
 * flattened to [N, in], returns [N, out] (bias included; `layer.affine` computes
 * the plain one with any weight/input). Post-training quantization and
 * low-precision training use it; when none is active the cost is one null check.
 */
export type LinearOverride = (layer: Linear, x2: Tensor) => Tensor;

let linearOverride: LinearOverride | null = null;

/** Run `f` (synchronous) with every Linear's product computed by `fn`. Not nestable: one numeric regime at a time. */
export function withLinearOverride<T>(fn: LinearOverride, f: () => T): T {
  if (linearOverride !== null) throw new Error('withLinearOverride: another Linear override is already active (they do not nest)');
  linearOverride = fn;
  try {
    return f();
  } finally {
    linearOverride = null;
  }
}

export class Linear extends Module {
  readonly weight: Variable; // [in, out]
  readonly bias?: Variable;
  constructor(readonly inFeatures: number, readonly outFeatures: number, init: Init, opts: { bias?: boolean; std?: number } = {}) {
    super();
    this.weight = this.param('weight', init.normal([inFeatures, outFeatures], opts.std));
    if (opts.bias ?? true) this.bias = this.param('bias', init.zeros([outFeatures]));
  }

  /** x: [..., in] -> [..., out]. Works on [N, in] internally: tfjs's matmul gradient does not reduce broadcast batches. */
  apply(x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const x2 = x.reshape([-1, this.inFeatures]);
    const y = linearOverride === null ? this.affine(x2) : linearOverride(this, x2);
    return y.reshape([...lead, this.outFeatures]);
  }

  /** x2 [N, in] @ weight (+ bias): the layer's map, with the weight swapped when given (e.g. a quantized copy). */
  affine(x2: Tensor, weight: Tensor = this.weight): Tensor {
    return this.bias ? tf.add(tf.matMul(x2, weight), this.bias) : tf.matMul(x2, weight);
  }
}

export class Embedding extends Module {
  readonly weight: Variable; // [vocab, dim]
  constructor(readonly vocabSize: number, readonly dim: number, init: Init) {
    super();
    this.weight = this.param('weight', init.normal([vocabSize, dim]));
  }

  /** ids: int32 [...] -> [..., dim]. */
  apply(ids: Tensor): Tensor {
    if (ids.dtype !== 'int32') throw new Error(`Embedding.apply: token ids must be int32, got ${ids.dtype}`);
    return tf.gather(this.weight, ids.flatten()).reshape([...ids.shape, this.dim]);
  }
}
