// The transformer block shared by the ViT and the LM, its norms in one of three places:
//   'pre' (default):  x = x + attn(norm1(x));   x = x + mlp(norm2(x))
//   'post' (post-LN, the original Transformer):  x = norm1(x + attn(x));   x = norm2(x + mlp(x))
//   'res-post' (Swin-v2's res-post-norm):        x = x + norm1(attn(x));   x = x + norm2(mlp(x))
// with optional residual gates (ReZero, SkipInit: "x + g * branch") and Fixup's scalar
// bias and multiplier (around attn / mlp themselves).
// Hook points keep their meaning in every placement: norm1.in / norm1.out (norm2.*) are
// the norm's input and output wherever it sits; resid.mid / resid.post the residual
// stream after the attention / MLP sub-layer (with 'post' that stream is the norm's
// output, so resid.mid equals norm1.out). They are declared in forward order, so with
// 'post' and 'res-post' norm1.* come after attn.* (and norm2.* after mlp.*).
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

export const NORM_PLACEMENTS = ['pre', 'post', 'res-post'] as const;
export type NormPlacement = (typeof NORM_PLACEMENTS)[number];

export interface BlockParts {
  norm1: NormLayer;
  attn: Attention;
  norm2: NormLayer;
  mlp: FeedForward;
  residual: ResidualSpec;
  fixup: boolean;
  /** Where the norms sit (default 'pre'). */
  placement?: NormPlacement;
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
  readonly placement: NormPlacement;
  private readonly hooks: Record<'norm1In' | 'norm1Out' | 'residMid' | 'norm2In' | 'norm2Out' | 'residPost', HookPoint>;

  // Children and hook points in forward order (hookNames() follows the tree).
  constructor(parts: BlockParts) {
    super();
    this.placement = parts.placement ?? 'pre';
    const pre = this.placement === 'pre';
    this.norm1 = this.child('norm1', parts.norm1);
    let norm1In = pre ? this.hookPoint('norm1.in') : undefined, norm1Out = pre ? this.hookPoint('norm1.out') : undefined;
    this.attn = this.child('attn', parts.attn);
    norm1In ??= this.hookPoint('norm1.in');
    norm1Out ??= this.hookPoint('norm1.out');
    const residMid = this.hookPoint('resid.mid');
    this.norm2 = this.child('norm2', parts.norm2);
    let norm2In = pre ? this.hookPoint('norm2.in') : undefined, norm2Out = pre ? this.hookPoint('norm2.out') : undefined;
    this.mlp = this.child('mlp', parts.mlp);
    norm2In ??= this.hookPoint('norm2.in');
    norm2Out ??= this.hookPoint('norm2.out');
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
    const norm1 = (u: Tensor) => hp.norm1Out.apply(this.norm1.apply(hp.norm1In.apply(u)));
    const norm2 = (u: Tensor) => hp.norm2Out.apply(this.norm2.apply(hp.norm2In.apply(u)));
    switch (this.placement) {
      case 'pre':
        x = hp.residMid.apply(this.resid1.apply(x, attn(norm1(x))));
        return hp.residPost.apply(this.resid2.apply(x, mlp(norm2(x))));
      case 'post':
        x = hp.residMid.apply(norm1(this.resid1.apply(x, attn(x))));
        return hp.residPost.apply(norm2(this.resid2.apply(x, mlp(x))));
      case 'res-post':
        x = hp.residMid.apply(this.resid1.apply(x, norm1(attn(x))));
        return hp.residPost.apply(this.resid2.apply(x, norm2(mlp(x))));
    }
  }
}
