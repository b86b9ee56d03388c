// Self-attention as Hugging Face writes it for LLaMA-style models: separate q, k,
// v projections, grouped-query heads (kvHeads <= heads; each key/value head is
// shared by heads / kvHeads query heads, HF's repeat_kv), and rotary embeddings
// from a given inverse-frequency table (so rope_theta and rope_scaling are the
// caller's), optionally over only the first rotaryDim channels of each head
// (GPT-NeoX's rotary_pct). The mask and the cos/sin tables are made for the
// longest sequence seen so far, not for max_position_embeddings.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { Module, type HookPoint } from './module.js';
import { applyRope, type RopeTables } from './rope.js';

export interface GQAttentionOptions {
  causal: boolean;
  /** Key/value heads (default: heads, plain multi-head attention); heads must be a multiple. */
  kvHeads?: number;
  /** Channels per head (default dim / heads). */
  headDim?: number;
  /** Biases on q, k, v (default false). */
  bias?: boolean;
  /** Bias on the output projection (default: same as bias). */
  outBias?: boolean;
  /** Rotary embeddings: inverse frequencies (rotaryDim / 2 of them), rotating the first rotaryDim channels (default all). */
  rope?: { invFreq: Float32Array; rotaryDim?: number };
}

/**
 * cos/sin [T, rotaryDim] for positions 0..T-1, in float32 as transformers computes
 * them: angle = t * inv_freq (one float32 product), emb = cat(angles, angles).
 */
export function ropeTablesFromInvFreq(invFreq: Float32Array, T: number): RopeTables {
  const half = invFreq.length, D = 2 * half;
  const cos = new Float32Array(T * D), sin = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(t * invFreq[i]!);
      cos[t * D + i] = cos[t * D + i + half] = Math.cos(a);
      sin[t * D + i] = sin[t * D + i + half] = Math.sin(a);
    }
  }
  return { cos: tf.tensor2d(cos, [T, D]), sin: tf.tensor2d(sin, [T, D]) };
}

export class GroupedQueryAttention extends Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Linear;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly rotaryDim: number;
  private readonly hooks: { pattern: HookPoint; z: HookPoint; out: HookPoint };
  private mask?: Tensor; // [n, n]: 0 on and below the diagonal, -1e9 above
  private tables?: RopeTables & { len: number };

  constructor(readonly dim: number, readonly heads: number, init: Init, readonly opts: GQAttentionOptions) {
    super();
    this.kvHeads = opts.kvHeads ?? heads;
    this.headDim = opts.headDim ?? dim / heads;
    if (!Number.isInteger(this.headDim)) throw new Error(`GroupedQueryAttention: d_model ${dim} is not divisible by ${heads} heads (give headDim)`);
    if (heads % this.kvHeads !== 0) throw new Error(`GroupedQueryAttention: ${heads} query heads are not a multiple of ${this.kvHeads} key/value heads`);
    this.rotaryDim = opts.rope ? (opts.rope.rotaryDim ?? this.headDim) : 0;
    if (opts.rope && (this.rotaryDim > this.headDim || this.rotaryDim !== 2 * opts.rope.invFreq.length)) {
      throw new Error(`GroupedQueryAttention: ${opts.rope.invFreq.length} rotary frequencies for rotaryDim ${this.rotaryDim} (head dim ${this.headDim}); need rotaryDim / 2`);
    }
    const bias = opts.bias ?? false, qd = heads * this.headDim, kvd = this.kvHeads * this.headDim;
    this.q = this.child('q', new Linear(dim, qd, init, { bias }));
    this.k = this.child('k', new Linear(dim, kvd, init, { bias }));
    this.v = this.child('v', new Linear(dim, kvd, init, { bias }));
    this.proj = this.child('proj', new Linear(qd, dim, init, { bias: opts.outBias ?? bias }));
    this.hooks = { pattern: this.hookPoint('pattern'), z: this.hookPoint('z'), out: this.hookPoint('out') };
  }

  /** x: [B, T, d] -> [B, T, d]. Hook points: {path}.pattern [B, H, T, T], {path}.z [B, T, H*headDim], {path}.out. */
  apply(x: Tensor): Tensor {
    const [B, T] = x.shape as [number, number, number];
    const H = this.heads, KV = this.kvHeads, D = this.headDim, G = H / KV;
    const split = (t: Tensor, n: number) => t.reshape([B, T, n, D]).transpose([0, 2, 1, 3]); // [B, n, T, D]
    let q = split(this.q.apply(x), H), k = split(this.k.apply(x), KV);
    const v = split(this.v.apply(x), KV);
    if (this.opts.rope) {
      q = this.rotate(q, T);
      k = this.rotate(k, T);
    }
    // The G query heads sharing a key/value head are adjacent (repeat_kv), so
    // [B, H, T, D] viewed as [B, KV, G*T, D] meets k, v [B, KV, T, D] without copying them.
    let scores = tf.matMul(q.reshape([B, KV, G * T, D]), k, false, true).reshape([B, H, T, T]);
    scores = tf.mul(scores, 1 / Math.sqrt(D));
    if (this.opts.causal) scores = tf.add(scores, this.causalMask(T));
    const pattern = this.hooks.pattern.apply(tf.softmax(scores)); // [B, H, T, T]
    const heads = tf.matMul(pattern.reshape([B, KV, G * T, T]), v).reshape([B, H, T, D]);
    const z = this.hooks.z.apply(heads.transpose([0, 2, 1, 3]).reshape([B, T, H * D])); // [B, T, H*D]
    return this.hooks.out.apply(this.proj.apply(z));
  }

  /** RoPE on the first rotaryDim channels of each head; the rest pass through. x: [B, n, T, D]. */
  private rotate(x: Tensor, T: number): Tensor {
    if (!this.tables || this.tables.len < T) {
      if (this.tables) tf.dispose([this.tables.cos, this.tables.sin]);
      const t = ropeTablesFromInvFreq(this.opts.rope!.invFreq, Math.max(T, 64));
      this.tables = { cos: tf.keep(t.cos), sin: tf.keep(t.sin), len: t.cos.shape[0]! };
    }
    if (this.rotaryDim === this.headDim) return applyRope(x, this.tables);
    const [rot, pass] = tf.split(x, [this.rotaryDim, this.headDim - this.rotaryDim], 3);
    return tf.concat([applyRope(rot!, this.tables), pass!], 3);
  }

  private causalMask(T: number): Tensor {
    if (!this.mask || this.mask.shape[0]! < T) {
      this.mask?.dispose();
      const n = Math.max(T, 64);
      this.mask = tf.keep(tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([n, n]), -1, 0)), -1e9)));
    }
    return this.mask.slice([0, 0], [T, T]);
  }

  override dispose(): void {
    tf.dispose([this.mask, this.tables?.cos, this.tables?.sin].filter((t): t is Tensor => t !== undefined));
    this.mask = this.tables = undefined;
    super.dispose();
  }
}
