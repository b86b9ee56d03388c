// Linear and Embedding layers.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { linearProduct } from '../hooks/context.js';
import type { Init } from './init.js';
import { Module } from './module.js';

export class Linear extends Module {
  readonly weight: Variable; // [in, out]
  readonly bias?: Variable;
  constructor(readonly inFeatures: number, readonly outFeatures: number, init: Init, opts: { bias?: boolean; std?: number } = {}) {
    super();
    this.weight = this.param('weight', init.normal([inFeatures, outFeatures], opts.std));
    if (opts.bias ?? true) this.bias = this.param('bias', init.zeros([outFeatures]));
  }

  /**
   * x: [..., in] -> [..., out]. Works on [N, in] internally: tfjs's matmul gradient does not
   * reduce broadcast batches. The product goes through the forward context's Linear overrides
   * (quantization, precision rounding; hooks/context.ts) when any is active.
   */
  apply(x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const x2 = x.reshape([-1, this.inFeatures]);
    const y = linearProduct(this, x2);
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
