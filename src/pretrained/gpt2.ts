// GPT-2 from a Hugging Face snapshot, following transformers 4.46's
// modeling_gpt2.py (GPT2LMHeadModel, eager attention, eval mode):
//   x = wte[ids] + wpe[0..T)
//   per block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))   (LayerNorm, layer_norm_epsilon)
//   logits = ln_f(x) @ wte^T                                   (tied head unless tie_word_embeddings: false)
// Conv1D weights are [in, out], the lab's Linear layout; c_attn's [d, 3d] splits
// into q, k, v along its output as the lab's Attention does; gelu_new is the lab's gelu.
// Built from the lab's Block, Attention, MLP and LayerNorm, so parameter names
// are the trained LM's (blocks.0.attn.qkv.weight, blocks.0.norm1.gamma, ...).
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { Block } from '../models/block.js';
import { TransformerBase } from '../models/shared.js';
import { Attention } from '../nn/attention.js';
import { Embedding, Linear } from '../nn/linear.js';
import { MLP } from '../nn/mlp.js';
import { ModuleList, type HookPoint } from '../nn/module.js';
import { createNorm, type NormLayer } from '../nn/norms.js';
import { cfgBool, cfgInt, cfgNum, cfgStr, unsupported } from './config.js';
import { checkIds } from './layers.js';
import { assignLayerNorm } from './hf-parts.js';
import { assignFrom, findPrefix, loadInto, NoInit } from './load.js';
import type { Architecture, PretrainedConfig, PretrainedModel } from './registry.js';
import type { Snapshot } from './snapshot.js';

export interface GPT2Config extends PretrainedConfig {
  vocabSize: number;
  context: number;
  /** MLP width (n_inner, default 4 d). */
  dInner: number;
  eps: number;
  tiedHead: boolean;
}

export function gpt2Config(s: Snapshot): GPT2Config {
  const dModel = cfgInt(s, ['n_embd', 'hidden_size']), nHeads = cfgInt(s, ['n_head', 'num_attention_heads']);
  if (dModel % nHeads !== 0) unsupported(s, 'n_head', `a divisor of n_embd = ${dModel}`);
  cfgStr(s, 'activation_function', 'gelu_new', ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast']); // all the tanh form
  if (!cfgBool(s, 'scale_attn_weights', true)) unsupported(s, 'scale_attn_weights', 'true (scores scaled by 1/sqrt(head dim))');
  if (cfgBool(s, 'scale_attn_by_inverse_layer_idx', false)) unsupported(s, 'scale_attn_by_inverse_layer_idx', 'false');
  if (cfgBool(s, 'add_cross_attention', false)) unsupported(s, 'add_cross_attention', 'false (decoder only)');
  return {
    vocabSize: cfgInt(s, 'vocab_size'), context: cfgInt(s, ['n_positions', 'max_position_embeddings']),
    dModel, nLayers: cfgInt(s, ['n_layer', 'num_hidden_layers']), nHeads,
    dInner: cfgInt(s, 'n_inner', 4 * dModel), eps: cfgNum(s, 'layer_norm_epsilon', 1e-5),
    tiedHead: cfgBool(s, 'tie_word_embeddings', true),
  };
}

export class GPT2 extends TransformerBase implements PretrainedModel {
  readonly kind = 'lm' as const;
  readonly modelType = 'gpt2';
  readonly embed: Embedding;
  readonly pos_embed: Embedding;
  readonly blocks: ModuleList<Block>;
  readonly final_norm: NormLayer;
  readonly head?: Linear;
  private readonly hooks: Record<'embedOut' | 'finalNormIn' | 'finalNormOut' | 'logits', HookPoint>;

  // Children and hook points in forward order; weights start at zero (loaded by gpt2Architecture.build).
  constructor(readonly config: GPT2Config, readonly source: string) {
    super();
    const c = config, init = new NoInit(), ln = { kind: 'layernorm', eps: c.eps } as const;
    this.embed = this.child('embed', new Embedding(c.vocabSize, c.dModel, init));
    this.pos_embed = this.child('pos_embed', new Embedding(c.context, c.dModel, init));
    const embedOut = this.hookPoint('embed.out');
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: c.nLayers }, () => new Block({
      norm1: createNorm(ln, c.dModel),
      attn: new Attention(c.dModel, c.nHeads, init, { causal: true, maxLen: c.context, bias: true }),
      norm2: createNorm(ln, c.dModel),
      mlp: new MLP(c.dModel, c.dInner, init, true),
      residual: { kind: 'none' }, fixup: false,
    }))));
    this.final_norm = this.child('final_norm', createNorm(ln, c.dModel));
    const finalNormIn = this.hookPoint('final_norm.in'), finalNormOut = this.hookPoint('final_norm.out');
    if (!c.tiedHead) this.head = this.child('head', new Linear(c.dModel, c.vocabSize, init, { bias: false }));
    this.hooks = { embedOut, finalNormIn, finalNormOut, logits: this.hookPoint('logits') };
  }

  /** ids: int32 [B, T] with T <= n_positions -> logits [B, T, vocab]. */
  apply(ids: Tensor): Tensor {
    const c = this.config, hp = this.hooks;
    checkIds(ids, c.context, 'gpt2');
    const [B, T] = ids.shape as [number, number];
    return tf.tidy(() => {
      const positions = this.pos_embed.apply(tf.range(0, T, 1, 'int32')); // [T, d]
      let x = hp.embedOut.apply(tf.add(this.embed.apply(ids), positions)); // [B, T, d]
      for (const block of this.blocks.items) x = block.apply(x);
      x = hp.finalNormOut.apply(this.final_norm.apply(hp.finalNormIn.apply(x)));
      const logits = this.head // [B, T, vocab]
        ? this.head.apply(x)
        : tf.matMul(x.reshape([-1, c.dModel]), this.embed.weight, false, true).reshape([B, T, c.vocabSize]);
      return hp.logits.apply(logits);
    });
  }
}

function loadGPT2(s: Snapshot, m: GPT2): void {
  const p = findPrefix(s, 'wte.weight', ['transformer.', '']);
  const ln = (norm: NormLayer, name: string) => assignLayerNorm(s, norm, name);
  const linear = (l: Linear, name: string) => {
    assignFrom(s, l.weight, `${name}.weight`); // Conv1D: [in, out]
    assignFrom(s, l.bias, `${name}.bias`);
  };
  assignFrom(s, m.embed.weight, `${p}wte.weight`);
  assignFrom(s, m.pos_embed.weight, `${p}wpe.weight`);
  m.blocks.items.forEach((b, i) => {
    const h = `${p}h.${i}`;
    ln(b.norm1, `${h}.ln_1`);
    linear(b.attn.qkv, `${h}.attn.c_attn`);
    linear(b.attn.proj, `${h}.attn.c_proj`);
    ln(b.norm2, `${h}.ln_2`);
    linear((b.mlp as MLP).fc, `${h}.mlp.c_fc`);
    linear((b.mlp as MLP).proj, `${h}.mlp.c_proj`);
  });
  ln(m.final_norm, `${p}ln_f`);
  if (m.head) assignFrom(s, m.head.weight, 'lm_head.weight', { transpose: true }); // nn.Linear: [vocab, d]
}

export const gpt2Architecture: Architecture = {
  modelType: 'gpt2',
  build: (s) => loadInto(new GPT2(gpt2Config(s), s.dir), (m) => loadGPT2(s, m)),
  describe: (s) => ({ ...gpt2Config(s) }),
  // The causal-mask buffers older checkpoints saved, and a tied head's copy of wte.
  ignorable: (name, s) => /(^|\.)attn\.(bias|masked_bias)$/.test(name) ||
    (name === 'lm_head.weight' && cfgBool(s, 'tie_word_embeddings', true)),
};
