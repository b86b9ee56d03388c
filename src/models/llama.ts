// A LLaMA-style decoder: token embedding (optionally scaled by a learnable
// scalar, init sqrt(d_model)), RoPE, causal attention, SwiGLU, RMSNorm by
// default, final norm, untied or tied head.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { Attention } from '../nn/attention.js';
import { Init } from '../nn/init.js';
import { Embedding, Linear } from '../nn/linear.js';
import { MLP, SwiGLU } from '../nn/mlp.js';
import { ModuleList, type HookPoint } from '../nn/module.js';
import { createNorm, type NormLayer } from '../nn/norms.js';
import { Block } from './block.js';
import { mlpHidden, resolveLMConfig, type LMConfig, type ResolvedLMConfig } from './config.js';
import { applyFixup, applySigmaReparam, TransformerBase } from './shared.js';
import type { Model } from './types.js';

export class LM extends TransformerBase implements Model {
  readonly kind = 'lm' as const;
  readonly embed: Embedding;
  readonly embed_scale?: Variable;
  readonly blocks: ModuleList<Block>;
  readonly final_norm: NormLayer;
  readonly head?: Linear;
  private readonly hooks: Record<'embedOut' | 'finalNormIn' | 'finalNormOut' | 'logits', HookPoint>;

  // Children and hook points in forward order (hookNames() follows the tree).
  constructor(readonly config: ResolvedLMConfig) {
    super();
    const c = config, init = new Init(c.seed, c.initStd);
    const hidden = mlpHidden(c.dModel, c.mlpRatio);
    this.embed = this.child('embed', new Embedding(c.vocabSize, c.dModel, init));
    if (c.embedScale) this.embed_scale = this.param('embed_scale', tf.scalar(Math.sqrt(c.dModel)));
    const embedOut = this.hookPoint('embed.out');
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: c.nLayers }, () => new Block({
      norm1: createNorm(c.attnNorm, c.dModel),
      attn: new Attention(c.dModel, c.nHeads, init, { causal: true, maxLen: c.context, bias: false, ...(c.rope ? { rope: { base: c.ropeBase } } : {}) }),
      norm2: createNorm(c.mlpNorm, c.dModel),
      mlp: c.mlp === 'swiglu' ? new SwiGLU(c.dModel, hidden, init) : new MLP(c.dModel, hidden, init, false),
      residual: c.residual, fixup: c.fixup, ...(c.normPlacement ? { placement: c.normPlacement } : {}),
    }))));
    this.final_norm = this.child('final_norm', createNorm(c.finalNorm, c.dModel));
    const finalNormIn = this.hookPoint('final_norm.in'), finalNormOut = this.hookPoint('final_norm.out');
    if (!c.tiedHead) this.head = this.child('head', new Linear(c.dModel, c.vocabSize, init, { bias: false }));
    this.hooks = { embedOut, finalNormIn, finalNormOut, logits: this.hookPoint('logits') };
    if (c.fixup) applyFixup(this.blocks.items);
    if (c.linearReparam === 'sigma') applySigmaReparam(this, c.seed);
  }

  /** ids: int32 [B, T] with T <= context -> logits [B, T, vocab]. */
  apply(ids: Tensor): Tensor {
    const c = this.config;
    if (ids.dtype !== 'int32' || ids.rank !== 2 || ids.shape[1]! > c.context) {
      throw new Error(`LM.apply: token ids must be int32 [batch, positions <= ${c.context}], got ${ids.dtype} [${ids.shape}]`);
    }
    const hp = this.hooks;
    return tf.tidy(() => {
      let x = this.embed.apply(ids); // [B, T, d]
      if (this.embed_scale) x = tf.mul(x, this.embed_scale);
      x = hp.embedOut.apply(x);
      for (const block of this.blocks.items) x = block.apply(x);
      x = hp.finalNormOut.apply(this.final_norm.apply(hp.finalNormIn.apply(x)));
      const logits = this.head // [B, T, vocab]
        ? this.head.apply(x)
        : tf.matMul(x.reshape([-1, c.dModel]), this.embed.weight, false, true).reshape([...ids.shape, c.vocabSize]);
      return hp.logits.apply(logits);
    });
  }
}

/** Build an LM from a config (validated; errors name the field and value). */
export function createLM(config: Omit<LMConfig, 'kind'> & { kind?: 'lm' }): LM {
  return new LM(resolveLMConfig({ kind: 'lm', ...config }));
}
