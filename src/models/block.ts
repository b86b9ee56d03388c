// The pre-norm transformer block shared by the ViT and the LM:
//   x = x + attn(norm1(x));  x = x + mlp(norm2(x))
// with optional residual gates (ReZero, SkipInit) and Fixup's scalar bias and multiplier.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import type { Attention } from '../nn/attention.js';
import type { FeedForward } from '../nn/mlp.js';
import { Module, type HookPoint } from '../nn/module.js';
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
  private readonly hooks: Record<'norm1In' | 'norm1Out' | 'residMid' | 'norm2In' | 'norm2Out' | 'residPost', HookPoint>;

  // Children and hook points in forward order (hookNames() follows the tree).
  constructor(parts: BlockParts) {
    super();
    this.norm1 = this.child('norm1', parts.norm1);
    const norm1In = this.hookPoint('norm1.in'), norm1Out = this.hookPoint('norm1.out');
    this.attn = this.child('attn', parts.attn);
    const residMid = this.hookPoint('resid.mid');
    this.norm2 = this.child('norm2', parts.norm2);
    const norm2In = this.hookPoint('norm2.in'), norm2Out = this.hookPoint('norm2.out');
    this.mlp = this.child('mlp', parts.mlp);
    this.hooks = { norm1In, norm1Out, residMid, norm2In, norm2Out, residPost: this.hookPoint('resid.post') };
    this.resid1 = this.child('resid1', createResidualGate(parts.residual));
    this.resid2 = this.child('resid2', createResidualGate(parts.residual));
    if (parts.fixup) {
      this.fixup1 = this.child('fixup1', new FixupScalars());
      this.fixup2 = this.child('fixup2', new FixupScalars());
    }
  }

  apply(x: Tensor): Tensor {
    const hp = this.hooks;
    const attn = (h: Tensor) => (this.fixup1 ? this.fixup1.wrap(h, (u) => this.attn.apply(u)) : this.attn.apply(h));
    const mlp = (h: Tensor) => (this.fixup2 ? this.fixup2.wrap(h, (u) => this.mlp.apply(u)) : this.mlp.apply(h));
    const h = hp.norm1Out.apply(this.norm1.apply(hp.norm1In.apply(x)));
    x = hp.residMid.apply(this.resid1.apply(x, attn(h)));
    const m = hp.norm2Out.apply(this.norm2.apply(hp.norm2In.apply(x)));
    return hp.residPost.apply(this.resid2.apply(x, mlp(m)));
  }
}
