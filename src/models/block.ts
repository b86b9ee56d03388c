// The pre-norm transformer block shared by the ViT and the LM:
//   x = x + attn(norm1(x));  x = x + mlp(norm2(x))
// with optional residual gates (ReZero, SkipInit) and Fixup's scalar bias and multiplier.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { hook } from '../hooks/hooks.js';
import type { Attention } from '../nn/attention.js';
import type { FeedForward } from '../nn/mlp.js';
import { Module } from '../nn/module.js';
import type { NormLayer } from '../nn/norms.js';
import { createResidualGate, type ResidualGate, type ResidualSpec } from '../nn/residual.js';

/** Fixup's per-branch scalars: a bias added to the branch input, a multiplier on its output. */
class FixupScalars extends Module {
  readonly bias: Variable;
  readonly scale: Variable;
  constructor() {
    super();
    this.bias = this.param('bias', tf.scalar(0));
    this.scale = this.param('scale', tf.scalar(1));
  }
  wrap(x: Tensor, branch: (x: Tensor) => Tensor): Tensor {
    return tf.mul(branch(tf.add(x, this.bias)), this.scale);
  }
}

export interface BlockParts {
  norm1: NormLayer;
  attn: Attention;
  norm2: NormLayer;
  mlp: FeedForward;
  residual: ResidualSpec;
  fixup: boolean;
}

export class Block extends Module {
  readonly norm1: NormLayer;
  readonly attn: Attention;
  readonly norm2: NormLayer;
  readonly mlp: FeedForward;
  readonly resid1: ResidualGate;
  readonly resid2: ResidualGate;
  readonly fixup1?: FixupScalars;
  readonly fixup2?: FixupScalars;

  constructor(parts: BlockParts) {
    super();
    this.norm1 = this.child('norm1', parts.norm1);
    this.attn = this.child('attn', parts.attn);
    this.norm2 = this.child('norm2', parts.norm2);
    this.mlp = this.child('mlp', parts.mlp);
    this.resid1 = this.child('resid1', createResidualGate(parts.residual));
    this.resid2 = this.child('resid2', createResidualGate(parts.residual));
    if (parts.fixup) {
      this.fixup1 = this.child('fixup1', new FixupScalars());
      this.fixup2 = this.child('fixup2', new FixupScalars());
    }
  }

  apply(x: Tensor): Tensor {
    const p = this.path;
    const attn = (h: Tensor) => (this.fixup1 ? this.fixup1.wrap(h, (u) => this.attn.apply(u)) : this.attn.apply(h));
    const mlp = (h: Tensor) => (this.fixup2 ? this.fixup2.wrap(h, (u) => this.mlp.apply(u)) : this.mlp.apply(h));
    const h = hook(`${p}.norm1.out`, this.norm1.apply(hook(`${p}.norm1.in`, x)));
    x = hook(`${p}.resid.mid`, this.resid1.apply(x, attn(h)));
    const m = hook(`${p}.norm2.out`, this.norm2.apply(hook(`${p}.norm2.in`, x)));
    return hook(`${p}.resid.post`, this.resid2.apply(x, mlp(m)));
  }
}

/** Hook points of block i, in forward order. */
export function blockHookNames(i: number): string[] {
  return ['norm1.in', 'norm1.out', 'attn.pattern', 'attn.z', 'attn.out', 'resid.mid',
    'norm2.in', 'norm2.out', 'mlp.hidden', 'mlp.out', 'resid.post'].map((n) => `blocks.${i}.${n}`);
}

/** Hook points of a model with `n` blocks: the embedding, every block, the final norm, the logits. */
export function modelHookNames(n: number): string[] {
  return ['embed.out', ...Array.from({ length: n }, (_, i) => blockHookNames(i)).flat(), 'final_norm.in', 'final_norm.out', 'logits'];
}
