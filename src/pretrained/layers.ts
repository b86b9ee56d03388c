// A pre-norm decoder block for architectures whose attention is not the lab's
// fused-qkv Attention (LLaMA's grouped-query heads, ...), with the lab's hook grammar:
//   x = x + attn(norm1(x));  x = x + mlp(norm2(x))
// or, with `parallel: true` (GPT-NeoX/Pythia's use_parallel_residual, GPT-J):
//   x = x + attn(norm1(x)) + mlp(norm2(x))
// In the parallel form norm2 reads the block input, resid.mid is x + attn(norm1(x))
// (the stream once attention has written to it) and resid.post is resid.mid +
// mlp(norm2(x)): a hook on resid.mid changes the output, not the MLP's input.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import type { FeedForward } from '../nn/mlp.js';
import { Module, type HookPoint } from '../nn/module.js';
import type { NormLayer } from '../nn/norms.js';

/** Anything that maps [B, T, d] -> [B, T, d] (declaring its own pattern/z/out hook points). */
export interface Mixer extends Module {
  apply(x: Tensor): Tensor;
}

export class PreNormBlock<A extends Mixer = Mixer, M extends FeedForward = FeedForward> extends Module {
  readonly norm1: NormLayer;
  readonly attn: A;
  readonly norm2: NormLayer;
  readonly mlp: M;
  readonly parallel: boolean;
  private readonly hooks: Record<'norm1In' | 'norm1Out' | 'residMid' | 'norm2In' | 'norm2Out' | 'residPost', HookPoint>;

  // Children and hook points in forward order, as in models/block.ts.
  constructor(parts: { norm1: NormLayer; attn: A; norm2: NormLayer; mlp: M; parallel?: boolean }) {
    super();
    this.parallel = parts.parallel ?? false;
    this.norm1 = this.child('norm1', parts.norm1);
    const norm1In = this.hookPoint('norm1.in'), norm1Out = this.hookPoint('norm1.out');
    this.attn = this.child('attn', parts.attn);
    const residMid = this.hookPoint('resid.mid');
    this.norm2 = this.child('norm2', parts.norm2);
    const norm2In = this.hookPoint('norm2.in'), norm2Out = this.hookPoint('norm2.out');
    this.mlp = this.child('mlp', parts.mlp);
    this.hooks = { norm1In, norm1Out, residMid, norm2In, norm2Out, residPost: this.hookPoint('resid.post') };
  }

  apply(x: Tensor): Tensor {
    const hp = this.hooks;
    const h = hp.norm1Out.apply(this.norm1.apply(hp.norm1In.apply(x)));
    const mid = hp.residMid.apply(tf.add(x, this.attn.apply(h)));
    const m = hp.norm2Out.apply(this.norm2.apply(hp.norm2In.apply(this.parallel ? x : mid)));
    return hp.residPost.apply(tf.add(mid, this.mlp.apply(m)));
  }
}

/** ids must be int32 [B, T] with T <= context; the error names the model type. */
export function checkIds(ids: Tensor, context: number, modelType: string): void {
  if (ids.dtype !== 'int32' || ids.rank !== 2 || ids.shape[1]! > context) {
    throw new Error(`${modelType}.apply: token ids must be int32 [batch, positions <= ${context}], got ${ids.dtype} [${ids.shape}]`);
  }
}
