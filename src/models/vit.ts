// A Vision Transformer for MNIST-sized images.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { Attention } from '../nn/attention.js';
import { Init } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { MLP } from '../nn/mlp.js';
import { ModuleList, type HookPoint } from '../nn/module.js';
import { createNorm, type NormLayer } from '../nn/norms.js';
import { Block } from './block.js';
import { mlpHidden, resolveViTConfig, type ResolvedViTConfig, type ViTConfig } from './config.js';
import { applyFixup, applySigmaReparam, TransformerBase } from './shared.js';
import type { Model } from './types.js';

export class ViT extends TransformerBase implements Model {
  readonly kind = 'vit' as const;
  readonly patchEmbed: Linear;
  readonly cls?: Variable;
  readonly pos: Variable;
  readonly blocks: ModuleList<Block>;
  readonly final_norm: NormLayer;
  readonly head: Linear;
  readonly numPatches: number;
  private readonly hooks: Record<'embedOut' | 'finalNormIn' | 'finalNormOut' | 'logits', HookPoint>;

  // Children and hook points in forward order (hookNames() follows the tree).
  constructor(readonly config: ResolvedViTConfig) {
    super();
    const c = config, init = new Init(c.seed, c.initStd);
    const g = c.imageSize / c.patchSize;
    this.numPatches = g * g;
    const tokens = this.numPatches + (c.pool === 'cls' ? 1 : 0);
    this.patchEmbed = this.child('patch_embed', new Linear(c.patchSize * c.patchSize * c.channels, c.dModel, init));
    if (c.pool === 'cls') this.cls = this.param('cls', init.zeros([1, 1, c.dModel]));
    this.pos = this.param('pos', init.normal([1, tokens, c.dModel]));
    const embedOut = this.hookPoint('embed.out');
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: c.nLayers }, () => new Block({
      norm1: createNorm(c.attnNorm, c.dModel),
      attn: new Attention(c.dModel, c.nHeads, init, { causal: false, maxLen: tokens }),
      norm2: createNorm(c.mlpNorm, c.dModel),
      mlp: new MLP(c.dModel, mlpHidden(c.dModel, c.mlpRatio), init),
      residual: c.residual, fixup: c.fixup, ...(c.normPlacement ? { placement: c.normPlacement } : {}),
    }))));
    this.final_norm = this.child('final_norm', createNorm(c.finalNorm, c.dModel));
    const finalNormIn = this.hookPoint('final_norm.in'), finalNormOut = this.hookPoint('final_norm.out');
    this.head = this.child('head', new Linear(c.dModel, c.classes, init));
    this.hooks = { embedOut, finalNormIn, finalNormOut, logits: this.hookPoint('logits') };
    if (c.fixup) applyFixup(this.blocks.items);
    if (c.linearReparam === 'sigma') applySigmaReparam(this, c.seed);
  }

  /** images: float32 [B, H, W] or [B, H, W, C] -> logits [B, classes]. */
  apply(images: Tensor): Tensor {
    const c = this.config, p = c.patchSize, g = c.imageSize / p;
    const want = `[B, ${c.imageSize}, ${c.imageSize}${c.channels === 1 ? '' : `, ${c.channels}`}] or [B, ${c.imageSize}, ${c.imageSize}, ${c.channels}]`;
    const okShape = (images.rank === 3 && c.channels === 1) || (images.rank === 4 && images.shape[3] === c.channels);
    if (!okShape || images.shape[1] !== c.imageSize || images.shape[2] !== c.imageSize) {
      throw new Error(`ViT.apply: images have shape [${images.shape}]; expected ${want}`);
    }
    return tf.tidy(() => {
      const B = images.shape[0]!;
      const patches = images.reshape([B, g, p, g, p, c.channels]).transpose([0, 1, 3, 2, 4, 5]).reshape([B, g * g, p * p * c.channels]);
      let x = this.patchEmbed.apply(patches);
      if (this.cls) x = tf.concat([tf.tile(this.cls, [B, 1, 1]), x], 1);
      x = this.hooks.embedOut.apply(tf.add(x, this.pos)); // [B, tokens, d]
      for (const block of this.blocks.items) x = block.apply(x);
      x = this.hooks.finalNormOut.apply(this.final_norm.apply(this.hooks.finalNormIn.apply(x)));
      const pooled = this.cls ? x.slice([0, 0, 0], [B, 1, c.dModel]).reshape([B, c.dModel]) : tf.mean(x, 1); // [B, d]
      return this.hooks.logits.apply(this.head.apply(pooled));
    });
  }
}

/** Build a ViT from a config (validated; errors name the field and value). */
export function createViT(config: Omit<ViTConfig, 'kind'> & { kind?: 'vit' }): ViT {
  return new ViT(resolveViTConfig({ kind: 'vit', ...config }));
}
