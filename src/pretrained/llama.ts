// LLaMA from a Hugging Face snapshot, following transformers 4.46's
// modeling_llama.py (LlamaForCausalLM, eager attention, eval mode):
//   x = embed_tokens[ids]
//   per layer: x = x + self_attn(input_layernorm(x)); x = x + mlp(post_attention_layernorm(x))
//     RMSNorm (rms_norm_eps); attention with num_key_value_heads shared heads (repeat_kv),
//     RoPE rotate_half on q and k, inv_freq = 1 / rope_theta^(2i/d) (llama3 / linear rope_scaling);
//     SwiGLU down(silu(gate(x)) * up(x))
//   logits = lm_head(norm(x))                       (embed_tokens^T when tie_word_embeddings)
// nn.Linear weights are [out, in]; they are transposed into the lab's [in, out] on load.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { collectNorms } from '../models/shared.js';
import { GroupedQueryAttention } from '../nn/gqa.js';
import { Embedding, Linear } from '../nn/linear.js';
import { SwiGLU } from '../nn/mlp.js';
import { Module, ModuleList, type HookPoint } from '../nn/module.js';
import { createNorm, type NormLayer, type RMSNorm } from '../nn/norms.js';
import { cfgBool, cfgInt, cfgNum, cfgStr, unsupported } from './config.js';
import { checkIds, PreNormBlock } from './layers.js';
import { assignLinear } from './hf-parts.js';
import { assignFrom, loadInto, NoInit } from './load.js';
import type { Architecture, PretrainedConfig, PretrainedModel } from './registry.js';
import type { Snapshot } from './snapshot.js';

export interface RopeScaling {
  type: 'default' | 'linear' | 'llama3';
  factor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositions?: number;
}

export interface LlamaConfig extends PretrainedConfig {
  vocabSize: number;
  context: number;
  kvHeads: number;
  headDim: number;
  dInner: number;
  eps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  tiedHead: boolean;
  attentionBias: boolean;
}

function ropeScaling(s: Snapshot): RopeScaling {
  const r = s.config.rope_scaling;
  if (r === undefined || r === null) return { type: 'default' };
  if (typeof r !== 'object' || Array.isArray(r)) unsupported(s, 'rope_scaling', 'null or an object');
  const o = r as Record<string, unknown>;
  const type = o.rope_type ?? o.type ?? 'default';
  const sub = { dir: s.dir, config: o };
  const field = (k: string) => cfgNum(sub, k); // errors name rope_scaling's own field
  if (type === 'default') return { type };
  if (type === 'linear') return { type, factor: field('factor') };
  if (type === 'llama3') {
    return {
      type, factor: field('factor'), lowFreqFactor: field('low_freq_factor'), highFreqFactor: field('high_freq_factor'),
      originalMaxPositions: field('original_max_position_embeddings'),
    };
  }
  return unsupported(s, 'rope_scaling', `rope_type "default", "linear" or "llama3" (found ${JSON.stringify(type)})`);
}

export function llamaConfig(s: Snapshot): LlamaConfig {
  const dModel = cfgInt(s, 'hidden_size'), nHeads = cfgInt(s, 'num_attention_heads');
  const kvHeads = cfgInt(s, 'num_key_value_heads', nHeads);
  if (nHeads % kvHeads !== 0) unsupported(s, 'num_key_value_heads', `a divisor of num_attention_heads = ${nHeads}`);
  const headDim = cfgInt(s, 'head_dim', Math.floor(dModel / nHeads));
  if (headDim % 2 !== 0) unsupported(s, 'head_dim', 'an even number (RoPE rotates channel pairs)');
  cfgStr(s, 'hidden_act', 'silu', ['silu']);
  if (cfgBool(s, 'mlp_bias', false)) unsupported(s, 'mlp_bias', 'false');
  return {
    vocabSize: cfgInt(s, 'vocab_size'), context: cfgInt(s, 'max_position_embeddings', 2048),
    dModel, nLayers: cfgInt(s, 'num_hidden_layers'), nHeads, kvHeads, headDim,
    dInner: cfgInt(s, 'intermediate_size'), eps: cfgNum(s, 'rms_norm_eps', 1e-6),
    ropeTheta: cfgNum(s, 'rope_theta', 10000), ropeScaling: ropeScaling(s),
    tiedHead: cfgBool(s, 'tie_word_embeddings', false), attentionBias: cfgBool(s, 'attention_bias', false),
  };
}

/** inv_freq as transformers' ROPE_INIT_FUNCTIONS make it (float32), with linear or llama3 scaling. */
export function llamaInvFreq(headDim: number, theta: number, sc: RopeScaling): Float32Array {
  const f = Math.fround, half = headDim / 2, inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(theta ** f((2 * i) / headDim)));
  if (sc.type === 'linear') return inv.map((x) => x / sc.factor!);
  if (sc.type !== 'llama3') return inv;
  const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: old } = sc as Required<RopeScaling>;
  const lowWavelen = old / lo, highWavelen = old / hi;
  return inv.map((x) => {
    const wavelen = (2 * Math.PI) / x;
    if (wavelen < highWavelen) return x; // high frequencies kept
    if (wavelen > lowWavelen) return x / factor; // low frequencies slowed by factor
    const smooth = (old / wavelen - lo) / (hi - lo);
    return (1 - smooth) * (x / factor) + smooth * x;
  });
}

export class Llama extends Module implements PretrainedModel {
  readonly kind = 'lm' as const;
  readonly modelType: string;
  readonly embed: Embedding;
  readonly blocks: ModuleList<PreNormBlock<GroupedQueryAttention, SwiGLU>>;
  readonly final_norm: NormLayer;
  readonly head?: Linear;
  private readonly hooks: Record<'embedOut' | 'finalNormIn' | 'finalNormOut' | 'logits', HookPoint>;

  // Children and hook points in forward order; weights start at zero (loaded by llamaArchitecture.build).
  constructor(readonly config: LlamaConfig, readonly source: string, modelType = 'llama') {
    super();
    this.modelType = modelType;
    const c = config, init = new NoInit(), rms = { kind: 'rmsnorm', eps: c.eps } as const;
    const invFreq = llamaInvFreq(c.headDim, c.ropeTheta, c.ropeScaling);
    this.embed = this.child('embed', new Embedding(c.vocabSize, c.dModel, init));
    const embedOut = this.hookPoint('embed.out');
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: c.nLayers }, () => new PreNormBlock({
      norm1: createNorm(rms, c.dModel),
      attn: new GroupedQueryAttention(c.dModel, c.nHeads, init, {
        causal: true, kvHeads: c.kvHeads, headDim: c.headDim, bias: c.attentionBias, rope: { invFreq },
      }),
      norm2: createNorm(rms, c.dModel),
      mlp: new SwiGLU(c.dModel, c.dInner, init),
    }))));
    this.final_norm = this.child('final_norm', createNorm(rms, c.dModel));
    const finalNormIn = this.hookPoint('final_norm.in'), finalNormOut = this.hookPoint('final_norm.out');
    if (!c.tiedHead) this.head = this.child('head', new Linear(c.dModel, c.vocabSize, init, { bias: false }));
    this.hooks = { embedOut, finalNormIn, finalNormOut, logits: this.hookPoint('logits') };
  }

  normLayers(): { name: string; layer: NormLayer }[] {
    return collectNorms(this);
  }

  /** ids: int32 [B, T] with T <= max_position_embeddings -> logits [B, T, vocab]. */
  apply(ids: Tensor): Tensor {
    const c = this.config, hp = this.hooks;
    checkIds(ids, c.context, this.modelType);
    const [B, T] = ids.shape as [number, number];
    return tf.tidy(() => {
      let x = hp.embedOut.apply(this.embed.apply(ids)); // [B, T, d]
      for (const block of this.blocks.items) x = block.apply(x);
      x = hp.finalNormOut.apply(this.final_norm.apply(hp.finalNormIn.apply(x)));
      const logits = this.head // [B, T, vocab]
        ? this.head.apply(x)
        : tf.matMul(x.reshape([-1, c.dModel]), this.embed.weight, false, true).reshape([B, T, c.vocabSize]);
      return hp.logits.apply(logits);
    });
  }
}

function loadLlama(s: Snapshot, m: Llama): void {
  const rms = (norm: NormLayer, name: string) => assignFrom(s, (norm as RMSNorm).gamma, name);
  const linear = (l: Linear, name: string) => assignLinear(s, l, name); // nn.Linear: weight [out, in]
  assignFrom(s, m.embed.weight, 'model.embed_tokens.weight');
  m.blocks.items.forEach((b, i) => {
    const L = `model.layers.${i}`;
    rms(b.norm1, `${L}.input_layernorm.weight`);
    linear(b.attn.q, `${L}.self_attn.q_proj`);
    linear(b.attn.k, `${L}.self_attn.k_proj`);
    linear(b.attn.v, `${L}.self_attn.v_proj`);
    linear(b.attn.proj, `${L}.self_attn.o_proj`);
    rms(b.norm2, `${L}.post_attention_layernorm.weight`);
    linear(b.mlp.gate, `${L}.mlp.gate_proj`);
    linear(b.mlp.up, `${L}.mlp.up_proj`);
    linear(b.mlp.down, `${L}.mlp.down_proj`);
  });
  rms(m.final_norm, 'model.norm.weight');
  if (m.head) assignFrom(s, m.head.weight, 'lm_head.weight', { transpose: true });
}

export const llamaArchitecture: Architecture = {
  modelType: 'llama',
  build: (s) => loadInto(new Llama(llamaConfig(s), s.dir, s.modelType), (m) => loadLlama(s, m)),
  describe: (s) => ({ ...llamaConfig(s) }),
  // Buffers some exports keep, and a tied head's copy of embed_tokens.
  ignorable: (name, s) => /rotary_emb\.inv_freq$/.test(name) ||
    (name === 'lm_head.weight' && cfgBool(s, 'tie_word_embeddings', false)),
};
