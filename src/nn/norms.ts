// The normalization family behind one factory.
//   LayerNorm:  gamma * (x - mean) / sqrt(var + eps) + beta
//   RMSNorm:    gamma * x / sqrt(mean(x^2) + eps)
//   Dynamic squash ("dyt"): gamma * f(alpha * x [+ s]) + beta, f in
//     tanh (DyT), hardtanh, sigmoid (centred: 2*sigmoid(u) - 1 = tanh(u/2), so f(0) = 0),
//     softsign u/(1+|u|), erf (Derf, with learnable shift s), isru u/sqrt(1+u^2), identity.
//   alpha: one learnable scalar (default), a fixed constant alpha0, or none (alpha = 1);
//   perChannelAlpha: one alpha per channel instead (a documented variant, not the paper's).
//   DyISRU:     gamma * sqrt(C) * x / sqrt(beta + x^2) + b, beta > 0 one learnable scalar
//     (RMSNorm with sum_{j != i} x_j^2 replaced by a constant; composed tfjs ops).
// All normalize over the last axis. Forward and backward run as fused kernels
// where the backend has them (engine/ops), else as composed tfjs ops.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { layerNormOp, rmsNormOp, squashOp } from '../engine/ops/index.js';
import { Module } from './module.js';
import { normLabel, resolveNormSpec, type NormSpec, type ResolvedNormSpec } from './norm-spec.js';

export interface NormLayer extends Module {
  readonly spec: ResolvedNormSpec;
  /** Channels (size of the last axis) this layer normalizes. */
  readonly dim: number;
  apply(x: Tensor): Tensor;
  /** The output before the affine step (gamma = 1, beta = 0), through the same kernel: what mapping analyses plot. */
  normalize(x: Tensor): Tensor;
}

function checkDim(dim: unknown, label: string): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim <= 0) {
    throw new Error(`${label}: dim = ${String(dim)} is invalid: must be a positive integer`);
  }
  return dim;
}

abstract class NormBase extends Module implements NormLayer {
  constructor(readonly spec: ResolvedNormSpec, readonly dim: number) {
    super();
  }

  protected checkInput(x: Tensor): void {
    const last = x.shape[x.shape.length - 1];
    if (x.rank === 0 || last !== this.dim) {
      throw new Error(`${normLabel(this.spec)}.apply: input shape [${x.shape.join(', ')}] has last dimension ` +
        `${x.rank === 0 ? 'none (scalar)' : last}; this layer was built for dim = ${this.dim}`);
    }
    if (x.dtype !== 'float32') throw new Error(`${normLabel(this.spec)}.apply: input dtype is ${x.dtype}; expected float32`);
  }

  abstract apply(x: Tensor): Tensor;
  abstract normalize(x: Tensor): Tensor;
}

export class LayerNorm extends NormBase {
  readonly gamma?: Variable;
  readonly beta?: Variable;
  private readonly ones: Tensor;
  private readonly zeros: Tensor;

  constructor(spec: Extract<ResolvedNormSpec, { kind: 'layernorm' }>, dim: number) {
    super(spec, dim);
    if (spec.affine) {
      this.gamma = this.param('gamma', tf.ones([dim]));
      this.beta = this.param('beta', tf.zeros([dim]));
    }
    this.ones = this.buffer(tf.ones([dim]));
    this.zeros = this.buffer(tf.zeros([dim]));
  }

  apply(x: Tensor): Tensor {
    this.checkInput(x);
    const s = this.spec as Extract<ResolvedNormSpec, { kind: 'layernorm' }>;
    return layerNormOp(x, this.gamma ?? this.ones, this.beta ?? this.zeros, s.eps, s.impl);
  }

  normalize(x: Tensor): Tensor {
    this.checkInput(x);
    const s = this.spec as Extract<ResolvedNormSpec, { kind: 'layernorm' }>;
    return layerNormOp(x, this.ones, this.zeros, s.eps, s.impl);
  }
}

export class RMSNorm extends NormBase {
  readonly gamma?: Variable;
  private readonly ones: Tensor;

  constructor(spec: Extract<ResolvedNormSpec, { kind: 'rmsnorm' }>, dim: number) {
    super(spec, dim);
    if (spec.affine) this.gamma = this.param('gamma', tf.ones([dim]));
    this.ones = this.buffer(tf.ones([dim]));
  }

  apply(x: Tensor): Tensor {
    this.checkInput(x);
    const s = this.spec as Extract<ResolvedNormSpec, { kind: 'rmsnorm' }>;
    return rmsNormOp(x, this.gamma ?? this.ones, s.eps, s.impl);
  }

  normalize(x: Tensor): Tensor {
    this.checkInput(x);
    const s = this.spec as Extract<ResolvedNormSpec, { kind: 'rmsnorm' }>;
    return rmsNormOp(x, this.ones, s.eps, s.impl);
  }
}

/** The squash family: gamma * f(alpha * x + s) + beta for any shape f of the table (engine/squash-shapes.ts). */
export class DynamicSquash extends NormBase {
  /** Learnable (trainable) or fixed (not trainable) alpha; undefined when alpha = 'none'. */
  readonly alpha?: Variable;
  readonly shift?: Variable;
  readonly gamma?: Variable;
  readonly beta?: Variable;
  private readonly one: Tensor;
  private readonly zeroShift: Tensor;
  private readonly ones: Tensor;
  private readonly zeros: Tensor;

  constructor(spec: Extract<ResolvedNormSpec, { kind: 'dyt' }>, dim: number) {
    super(spec, dim);
    const aShape = spec.perChannelAlpha ? [dim] : [1];
    if (spec.alpha !== 'none') this.alpha = this.param('alpha', tf.fill(aShape, spec.alpha0), spec.alpha === 'learnable');
    if (spec.shift) this.shift = this.param('shift', tf.fill(aShape, spec.shift0));
    if (spec.affine) {
      this.gamma = this.param('gamma', tf.ones([dim]));
      this.beta = this.param('beta', tf.zeros([dim]));
    }
    this.one = this.buffer(tf.ones(aShape));
    this.zeroShift = this.buffer(tf.zeros(aShape));
    this.ones = this.buffer(tf.ones([dim]));
    this.zeros = this.buffer(tf.zeros([dim]));
  }

  apply(x: Tensor): Tensor {
    return this.squash(x, this.gamma ?? this.ones, this.beta ?? this.zeros);
  }

  normalize(x: Tensor): Tensor {
    return this.squash(x, this.ones, this.zeros);
  }

  private squash(x: Tensor, gamma: Tensor, beta: Tensor): Tensor {
    this.checkInput(x);
    const s = this.spec as Extract<ResolvedNormSpec, { kind: 'dyt' }>;
    return squashOp(x, { alpha: this.alpha ?? this.one, s: this.shift ?? this.zeroShift, gamma, beta }, s.squash, s.impl);
  }
}

/**
 * Dynamic Tanh (DyT; Zhu et al., "Transformers without Normalization", 2025):
 * gamma * tanh(alpha * x) + beta with a learnable scalar alpha (alpha0 = 0.5 by
 * default). The squash family's member with f = tanh; createNorm({kind: 'dyt'}) builds one.
 */
export class DynamicTanh extends DynamicSquash {
  constructor(spec: Extract<ResolvedNormSpec, { kind: 'dyt' }>, dim: number) {
    if (spec.squash !== 'tanh') throw new Error(`DynamicTanh: squash must be 'tanh', got '${spec.squash}' (use DynamicSquash for the other shapes)`);
    super(spec, dim);
  }

  /** DyT for `dim` channels from the spec's dyt fields (alpha0, alpha, perChannelAlpha, affine); errors name the field. */
  static create(dim: number, opts: Omit<Extract<NormSpec, { kind: 'dyt' }>, 'kind' | 'squash'> = {}): DynamicTanh {
    const r = resolveNormSpec({ ...opts, kind: 'dyt', squash: 'tanh' });
    checkDim(dim, `DynamicTanh(${normLabel(r)})`);
    return new DynamicTanh(r as Extract<ResolvedNormSpec, { kind: 'dyt' }>, dim);
  }
}

/**
 * DyISRU, the element-wise counterpart of RMSNorm: RMSNorm's y_i = sqrt(C) x_i /
 * sqrt(x_i^2 + sum_{j != i} x_j^2) with the sum over the other channels replaced by
 * one learnable scalar beta > 0: y = gamma * sqrt(C) * x / sqrt(beta + x^2) + b.
 * beta = exp(isru_log_beta) stays positive. Its init beta0 defaults to C ('dim'):
 * for unit-variance input the sum it stands for is C - 1 ~ C, and with beta = C the
 * map is x / sqrt(1 + x^2 / C), slope 1 at 0 like RMSNorm's on such input.
 */
export class DyISRU extends NormBase {
  readonly logBeta: Variable;
  readonly gamma?: Variable;
  readonly beta?: Variable;
  private readonly scale: number;

  constructor(spec: Extract<ResolvedNormSpec, { kind: 'dyisru' }>, dim: number) {
    super(spec, dim);
    const beta0 = spec.beta0 === 'dim' ? dim : spec.beta0;
    this.logBeta = this.param('isru_log_beta', tf.fill([1], Math.log(beta0)));
    if (spec.affine) {
      this.gamma = this.param('gamma', tf.ones([dim]));
      this.beta = this.param('beta', tf.zeros([dim]));
    }
    this.scale = Math.sqrt(dim);
  }

  apply(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = this.normalize(x);
      return this.gamma && this.beta ? tf.add(tf.mul(y, this.gamma), this.beta) : y;
    });
  }

  normalize(x: Tensor): Tensor {
    this.checkInput(x);
    return tf.tidy(() => tf.mul(tf.mul(x, this.scale), tf.rsqrt(tf.add(tf.exp(this.logBeta), tf.square(x)))));
  }
}

/** No normalization at all: the input passes through. */
export class IdentityNorm extends NormBase {
  apply(x: Tensor): Tensor {
    this.checkInput(x);
    return x.clone();
  }

  normalize(x: Tensor): Tensor {
    return this.apply(x);
  }
}

/** Whether a module is one of the normalization family's layers. */
export function isNormLayer(m: unknown): m is NormLayer {
  return m instanceof NormBase;
}

/**
 * Build a normalization layer for `dim` channels from a spec, e.g.
 * `createNorm({kind: 'dyt'}, 768)` (DyT, learnable scalar alpha0 = 0.5) or
 * `createNorm({kind: 'dyt', squash: 'erf'}, 768)` (Derf). Bad specs throw an
 * error that names the field and the value.
 */
export function createNorm(spec: NormSpec | ResolvedNormSpec, dim: number): NormLayer {
  const r = resolveNormSpec(spec);
  checkDim(dim, `createNorm(${normLabel(r)})`);
  switch (r.kind) {
    case 'layernorm': return new LayerNorm(r, dim);
    case 'rmsnorm': return new RMSNorm(r, dim);
    case 'dyt': return r.squash === 'tanh' ? new DynamicTanh(r, dim) : new DynamicSquash(r, dim);
    case 'dyisru': return new DyISRU(r, dim);
    case 'identity': return new IdentityNorm(r, dim);
  }
}
