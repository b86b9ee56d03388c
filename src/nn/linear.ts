// Linear and Embedding layers, and σReparam's Linear (Zhai et al. 2023).
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { linearProduct, type LinearLike } from '../hooks/context.js';
import { Init } from './init.js';
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

/** x with a zero gradient: what the power iteration's vectors are to the loss (stop-gradient). */
const stopGradient = tf.customGrad((...args) => ({ value: tf.clone(args[0] as Tensor), gradFunc: (dy: Tensor) => tf.zerosLike(dy) }));
const unit = (x: Tensor) => tf.div(x, tf.maximum(tf.norm(x), 1e-12));

/** An Init that hands back given tensors (clones): how a Linear is rebuilt with another one's weights. */
class CopyInit extends Init {
  constructor(private readonly w: Tensor, private readonly b?: Tensor) {
    super(0);
  }
  override normal(): Tensor {
    return this.w.clone();
  }
  override zeros(shape: number[]): Tensor {
    return this.b ? this.b.clone() : tf.zeros(shape);
  }
}

/**
 * σReparam (Zhai et al. 2023, "Stabilizing Transformer Training by Preventing
 * Attention Entropy Collapse"): the product uses W_hat = (gamma / sigma(W)) W, with
 * gamma a learnable scalar (`sigma_gamma`, init 1) and sigma(W) the spectral norm
 * estimated by one power-iteration step per forward pass from the kept vector u
 * (`sigma_u`, [out], not trainable): v = W u / |W u|, u' = W^T v / |W^T v|,
 * sigma = v^T W u', with v and u' stop-gradient (the gradient reaches W through
 * v^T W u' only, and W_hat itself). u' is stored only on forward passes run under a
 * gradient tape (training steps, and any gradient an analysis takes); a plain forward
 * pass (evaluation) computes the same step from the stored u and keeps nothing, so it
 * is a pure function of the weights. u starts from `initIters` power iterations on W
 * at construction, so sigma(W) is close to exact from the first step. The product goes
 * through the forward context (linearProduct) with W_hat as the weight overrides see.
 */
export class SigmaReparamLinear extends Linear {
  readonly gamma: Variable;
  readonly u: Variable;

  constructor(inFeatures: number, outFeatures: number, init: Init, opts: { bias?: boolean; std?: number; seed?: number; initIters?: number } = {}) {
    super(inFeatures, outFeatures, init, opts);
    this.gamma = this.param('sigma_gamma', tf.scalar(1));
    const u0 = tf.tidy(() => {
      let u = unit(tf.randomNormal([outFeatures], 0, 1, 'float32', opts.seed ?? 0));
      for (let i = 0; i < (opts.initIters ?? 30); i++) u = this.step(u).u;
      return u;
    });
    this.u = this.param('sigma_u', u0, false);
  }

  /** A σReparam Linear with `l`'s weights (and bias), u from seed `seed`. */
  static from(l: Linear, seed = 0): SigmaReparamLinear {
    return new SigmaReparamLinear(l.inFeatures, l.outFeatures, new CopyInit(l.weight, l.bias), { bias: l.bias !== undefined, seed });
  }

  /** One power-iteration step from u: the new u and the estimate sigma = v^T W u' (vectors stop-gradient). */
  private step(u: Tensor): { u: Tensor; sigma: Tensor } {
    const W = this.weight; // [in, out]
    const v = stopGradient(unit(tf.matMul(W, u.reshape([this.outFeatures, 1])).reshape([this.inFeatures])));
    const u2 = stopGradient(unit(tf.matMul(v.reshape([1, this.inFeatures]), W).reshape([this.outFeatures])));
    const sigma = tf.sum(tf.mul(tf.matMul(v.reshape([1, this.inFeatures]), W).reshape([this.outFeatures]), u2));
    return { u: u2, sigma };
  }

  /** The current spectral-norm estimate (one step from the stored u, nothing stored). */
  sigma(): number {
    return tf.tidy(() => this.step(this.u).sigma.dataSync()[0]!);
  }

  /** W_hat = (gamma / sigma) W; stores the power iteration's u when a gradient tape is recording. */
  effectiveWeight(): Tensor {
    const { u, sigma } = this.step(this.u);
    if (tf.engine().isTapeOn()) this.u.assign(u);
    return tf.mul(this.weight, tf.div(this.gamma, sigma));
  }

  override apply(x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const x2 = x.reshape([-1, this.inFeatures]);
    const w = this.effectiveWeight();
    const view: LinearLike = {
      path: this.path, inFeatures: this.inFeatures, outFeatures: this.outFeatures, weight: w, bias: this.bias,
      affine: (x: Tensor, weight: Tensor = w) => this.affine(x, weight),
    };
    return linearProduct(view, x2).reshape([...lead, this.outFeatures]);
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
