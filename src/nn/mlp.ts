// Feed-forward blocks: MLP with GELU (ViT, GPT; or another activation) and SwiGLU (LLaMA).
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { biasGeluOp, geluOp, trainOpsFused } from '../engine/ops/train-ops.js';
import { hooksActive } from '../hooks/context.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { Module, type HookPoint } from './module.js';

/**
 * GELU, tanh approximation (GPT-2's "gelu_new"). On wasm + SIMD one kernel forward and one
 * backward (engine/ops/train-ops.ts); elsewhere the composed tfjs ops.
 */
export function gelu(x: Tensor): Tensor {
  return geluOp(x, 'tanh');
}

/** GELU, exact: 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's default, transformers' "gelu"); fused like `gelu`. */
export function geluExact(x: Tensor): Tensor {
  return geluOp(x, 'exact');
}

export interface FeedForward extends Module {
  /** Hidden activations are hooked as {path}.hidden, the output as {path}.out. */
  apply(x: Tensor): Tensor;
}

export class MLP extends Module implements FeedForward {
  readonly fc: Linear;
  readonly proj: Linear;
  private readonly hooks: { hidden: HookPoint; out: HookPoint };
  /** `activation` defaults to the tanh GELU (`gelu`). */
  constructor(dim: number, hidden: number, init: Init, bias = true, readonly activation: (x: Tensor) => Tensor = gelu) {
    super();
    this.fc = this.child('fc', new Linear(dim, hidden, init, { bias }));
    this.proj = this.child('proj', new Linear(hidden, dim, init, { bias }));
    this.hooks = { hidden: this.hookPoint('hidden'), out: this.hookPoint('out') };
  }
  apply(x: Tensor): Tensor {
    const h = this.hooks.hidden.apply(this.fusedHidden(x) ?? this.activation(this.fc.apply(x)));
    return this.hooks.out.apply(this.proj.apply(h));
  }

  /**
   * gelu(fc(x)) with fc's bias add folded into the fused GELU kernels, where that is exactly
   * what fc.apply would compute: a plain Linear with a bias, the GELU activation, the fused ops
   * running, and no forward scope (Linear overrides, precision rounding, hooks) entered.
   */
  private fusedHidden(x: Tensor): Tensor | undefined {
    const fc = this.fc;
    const form = this.activation === gelu ? 'tanh' : this.activation === geluExact ? 'exact' : undefined;
    if (!form || !fc.bias || Object.getPrototypeOf(fc) !== Linear.prototype || hooksActive() || !trainOpsFused()) return undefined;
    const x2 = x.reshape([-1, fc.inFeatures]);
    return biasGeluOp(tf.matMul(x2, fc.weight), fc.bias, form).reshape([...x.shape.slice(0, -1), fc.outFeatures]);
  }
}

/** down(silu(gate(x)) * up(x)), no biases, as in LLaMA. */
export class SwiGLU extends Module implements FeedForward {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  private readonly hooks: { hidden: HookPoint; out: HookPoint };
  constructor(dim: number, hidden: number, init: Init) {
    super();
    this.gate = this.child('gate', new Linear(dim, hidden, init, { bias: false }));
    this.up = this.child('up', new Linear(dim, hidden, init, { bias: false }));
    this.down = this.child('down', new Linear(hidden, dim, init, { bias: false }));
    this.hooks = { hidden: this.hookPoint('hidden'), out: this.hookPoint('out') };
  }
  apply(x: Tensor): Tensor {
    const g = this.gate.apply(x);
    const h = this.hooks.hidden.apply(tf.mul(tf.mul(g, tf.sigmoid(g)), this.up.apply(x)));
    return this.hooks.out.apply(this.down.apply(h));
  }
}
