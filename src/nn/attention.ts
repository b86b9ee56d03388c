// Multi-head self-attention, causal or bidirectional, optionally with RoPE.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { attentionOp, attentionUsesFused } from '../engine/ops/attention-op.js';
import { hooksActive } from '../hooks/context.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { Module, type HookPoint } from './module.js';
import { applyRope, ropeTables, type RopeTables } from './rope.js';

export interface AttentionOptions {
  causal: boolean;
  /** Maximum sequence length (for the mask and RoPE tables). */
  maxLen: number;
  rope?: { base: number };
  bias?: boolean;
}

export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  private readonly mask?: Tensor; // [maxLen, maxLen], 0 on and below the diagonal, -1e9 above
  private readonly rope?: RopeTables;
  private readonly hooks: { pattern: HookPoint; z: HookPoint; out: HookPoint };

  constructor(readonly dim: number, readonly heads: number, init: Init, readonly opts: AttentionOptions) {
    super();
    if (dim % heads !== 0) throw new Error(`Attention: d_model ${dim} is not divisible by ${heads} heads`);
    this.headDim = dim / heads;
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim, init, { bias: opts.bias ?? true }));
    this.proj = this.child('proj', new Linear(dim, dim, init, { bias: opts.bias ?? true }));
    this.hooks = { pattern: this.hookPoint('pattern'), z: this.hookPoint('z'), out: this.hookPoint('out') };
    if (opts.causal) {
      this.mask = this.buffer(tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([opts.maxLen, opts.maxLen]), -1, 0)), -1e9)));
    }
    if (opts.rope) {
      const t = ropeTables(opts.maxLen, this.headDim, opts.rope.base);
      this.rope = { cos: this.buffer(t.cos), sin: this.buffer(t.sin) };
    }
  }

  /** x: [B, T, d] -> [B, T, d]. Hook points: {path}.pattern [B, H, T, T], {path}.z [B, T, d], {path}.out. */
  apply(x: Tensor): Tensor {
    const [B, T] = x.shape as [number, number, number];
    const H = this.heads, D = this.headDim;
    const qkv = this.qkv.apply(x);
    // One SIMD kernel forward and one backward on wasm (engine/ops/attention-op.ts), unless a scope is
    // active: the hook point `pattern` needs the [B, H, T, T] probabilities, which the kernel never forms.
    if (!hooksActive() && attentionUsesFused(qkv.shape, H)) {
      const rope = this.rope ? { rope: this.rope } : {};
      const z = this.hooks.z.apply(attentionOp(qkv, { heads: H, causal: this.opts.causal, ...rope, impl: 'fused' }));
      return this.hooks.out.apply(this.proj.apply(z));
    }
    // Split first, then one 4-D transpose per head tensor: wasm's 5-D transpose is ~40x slower.
    const heads = (t: Tensor) => t.reshape([B, T, H, D]).transpose([0, 2, 1, 3]); // [B, H, T, D]
    let [q, k, v] = tf.split(qkv, 3, 2).map(heads) as [Tensor, Tensor, Tensor];
    if (this.rope) {
      q = applyRope(q, this.rope);
      k = applyRope(k, this.rope);
    }
    let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)); // [B, H, T, T]
    if (this.mask) scores = tf.add(scores, this.mask.slice([0, 0], [T, T]));
    const pattern = this.hooks.pattern.apply(tf.softmax(scores));
    const z = this.hooks.z.apply(tf.matMul(pattern, v).transpose([0, 2, 1, 3]).reshape([B, T, this.dim])); // [B, T, d]
    return this.hooks.out.apply(this.proj.apply(z));
  }
}
