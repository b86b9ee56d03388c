// Hugging Face GPT-NeoX / Pythia (config.json model_type "gpt_neox"), with
// transformers 4.46's semantics (modeling_gpt_neox.py, GPTNeoXForCausalLM, eager
// attention, eval mode):
//   x = embed_in(ids)
//   per layer, use_parallel_residual true (Pythia):  x = x + attn(ln1(x)) + mlp(ln2(x))
//              use_parallel_residual false:          x = x + attn(ln1(x));  x = x + mlp(ln2(x))
//   logits = embed_out(final_layer_norm(x))          (untied unless tie_word_embeddings)
// attn: causal, with rotary embeddings (rotate_half) on the first
// rot_dim = int(head_size * rotary_pct) channels of each head, base rotary_emb_base.
// The fused query_key_value weight [3d, d] is laid out per head ([heads, 3, head_size]
// rows): it is split into the lab's separate q, k, v [d, d] at load. mlp:
// dense_h_to_4h, hidden_act (exact erf GELU for "gelu"), dense_4h_to_h.
// Lab names and hook points (layers.ts says what resid.mid is in the parallel form):
//   gpt_neox.embed_in                               -> embed
//   gpt_neox.layers.{i}.input_layernorm             -> blocks.{i}.norm1
//   ...attention.query_key_value / attention.dense  -> blocks.{i}.attn.q|k|v / attn.proj
//   ...post_attention_layernorm                     -> blocks.{i}.norm2
//   ...mlp.dense_h_to_4h / mlp.dense_4h_to_h        -> blocks.{i}.mlp.fc / mlp.proj
//   gpt_neox.final_layer_norm / embed_out           -> final_norm / head
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { collectNorms } from '../models/shared.js';
import { GroupedQueryAttention } from '../nn/gqa.js';
import { Embedding, type Linear } from '../nn/linear.js';
import { MLP } from '../nn/mlp.js';
import { Module, ModuleList, type HookPoint } from '../nn/module.js';
import type { NormLayer } from '../nn/norms.js';
import { cfgBool, cfgInt, cfgNum, unsupported } from './config.js';
import { assignLinear, loadLayerNorm, loadLinear } from './hf-parts.js';
import { checkIds, PreNormBlock } from './layers.js';
import { hiddenAct, type HiddenAct } from './hidden-act.js';
import { assignData, assignFrom, NoInit, transpose2d } from './load.js';
import type { Architecture, PretrainedConfig, PretrainedModel } from './registry.js';
import type { Snapshot } from './snapshot.js';

export interface GPTNeoXPretrainedConfig extends PretrainedConfig {
  vocabSize: number;
  context: number;
  headDim: number;
  /** Channels of each head that rotate: int(headDim * rotary_pct). */
  rotaryDim: number;
  ropeBase: number;
  parallelResidual: boolean;
  intermediateSize: number;
  hiddenAct: HiddenAct;
  eps: number;
  attentionBias: boolean;
  tiedHead: boolean;
}

/** The config of a GPT-NeoX snapshot (no weights read). */
export function gptNeoXConfig(s: Snapshot): GPTNeoXPretrainedConfig {
  const dModel = cfgInt(s, 'hidden_size', 6144), nHeads = cfgInt(s, 'num_attention_heads', 64);
  if (dModel % nHeads !== 0) unsupported(s, 'num_attention_heads', `a divisor of hidden_size ${dModel}`);
  const rs = s.config.rope_scaling;
  if (rs !== undefined && rs !== null) unsupported(s, 'rope_scaling', 'null (scaled rotary embeddings are not supported)');
  const headDim = dModel / nHeads;
  const pct = s.config.rotary_pct ?? s.config.partial_rotary_factor ?? 0.25;
  if (typeof pct !== 'number' || !(pct >= 0 && pct <= 1)) unsupported(s, 'rotary_pct', 'a number in [0, 1]');
  const rotaryDim = Math.floor(headDim * pct);
  if (rotaryDim % 2 !== 0) unsupported(s, 'rotary_pct', `a fraction giving an even number of rotary channels (head_size ${headDim} * ${pct} = ${rotaryDim})`);
  const tiedHead = cfgBool(s, 'tie_word_embeddings', false) && !s.has('embed_out.weight');
  return {
    dModel, nHeads, nLayers: cfgInt(s, 'num_hidden_layers', 44),
    vocabSize: cfgInt(s, 'vocab_size', 50432), context: cfgInt(s, 'max_position_embeddings', 2048),
    headDim, rotaryDim, ropeBase: cfgNum(s, ['rotary_emb_base', 'rope_theta'], 10000),
    parallelResidual: cfgBool(s, 'use_parallel_residual', true),
    intermediateSize: cfgInt(s, 'intermediate_size', 24576),
    hiddenAct: hiddenAct(s).name,
    eps: cfgNum(s, 'layer_norm_eps', 1e-5),
    attentionBias: cfgBool(s, 'attention_bias', true),
    tiedHead,
  };
}

/** inv_freq as transformers computes it in float32: 1 / base^(2i / rot_dim), i < rot_dim / 2. */
export function rotaryInvFreq(rotaryDim: number, base: number): Float32Array {
  return Float32Array.from({ length: rotaryDim / 2 }, (_, i) => Math.fround(1 / Math.fround(Math.pow(base, Math.fround((2 * i) / rotaryDim)))));
}

/**
 * Split the fused qkv rows [heads, 3, headDim] (x d_in columns; a bias has 1) into
 * q, k, v, each [heads * headDim] rows in head order, as HF's view(B, T, heads, 3 * head_size) reads them.
 */
export function splitFusedQKV(data: Float32Array, heads: number, headDim: number, cols: number): [Float32Array, Float32Array, Float32Array] {
  const out = [0, 1, 2].map(() => new Float32Array(heads * headDim * cols)) as [Float32Array, Float32Array, Float32Array];
  const block = headDim * cols; // one head's q (or k, or v) rows
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 3; j++) out[j]!.set(data.subarray((h * 3 + j) * block, (h * 3 + j + 1) * block), h * block);
  }
  return out;
}

/** Load HF's fused query_key_value into the separate q, k, v Linears (weights transposed to [in, out]). */
function assignFusedQKV(s: Snapshot, attn: GroupedQueryAttention, name: string, c: GPTNeoXPretrainedConfig): void {
  const d = c.dModel, targets = [attn.q, attn.k, attn.v];
  const w = splitFusedQKV(s.read(`${name}.weight`, [3 * d, d]), c.nHeads, c.headDim, d);
  w.forEach((part, j) => assignData(targets[j]!.weight, transpose2d(part, d, d))); // [d_out, d_in] -> [d_in, d_out]
  if (attn.q.bias) {
    const b = splitFusedQKV(s.read(`${name}.bias`, [3 * d]), c.nHeads, c.headDim, 1);
    b.forEach((part, j) => assignData(targets[j]!.bias!, part));
  }
}

export class PretrainedGPTNeoX extends Module implements PretrainedModel {
  readonly kind = 'lm' as const;
  readonly modelType = 'gpt_neox';
  readonly source: string;
  readonly config: GPTNeoXPretrainedConfig;
  readonly embed: Embedding;
  readonly blocks: ModuleList<PreNormBlock<GroupedQueryAttention, MLP>>;
  readonly final_norm: NormLayer;
  readonly head?: Linear;
  private readonly hooks: Record<'embedOut' | 'finalNormIn' | 'finalNormOut' | 'logits', HookPoint>;

  // Children and hook points in forward order (hookNames() follows the tree).
  constructor(s: Snapshot) {
    super();
    const c = (this.config = gptNeoXConfig(s)), d = c.dModel, P = 'gpt_neox.';
    this.source = s.dir;
    const act = hiddenAct(s).fn, invFreq = rotaryInvFreq(c.rotaryDim, c.ropeBase);
    this.embed = this.child('embed', new Embedding(c.vocabSize, d, new NoInit()));
    assignFrom(s, this.embed.weight, `${P}embed_in.weight`);
    const embedOut = this.hookPoint('embed.out');
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: c.nLayers }, (_, i) => {
      const L = `${P}layers.${i}`;
      const attn = new GroupedQueryAttention(d, c.nHeads, new NoInit(), {
        causal: true, bias: c.attentionBias, outBias: c.attentionBias,
        ...(c.rotaryDim > 0 ? { rope: { invFreq, rotaryDim: c.rotaryDim } } : {}),
      });
      assignFusedQKV(s, attn, `${L}.attention.query_key_value`, c);
      assignLinear(s, attn.proj, `${L}.attention.dense`);
      const mlp = new MLP(d, c.intermediateSize, new NoInit(), true, act);
      assignLinear(s, mlp.fc, `${L}.mlp.dense_h_to_4h`);
      assignLinear(s, mlp.proj, `${L}.mlp.dense_4h_to_h`);
      return new PreNormBlock({
        norm1: loadLayerNorm(s, `${L}.input_layernorm`, d, c.eps), attn,
        norm2: loadLayerNorm(s, `${L}.post_attention_layernorm`, d, c.eps), mlp, parallel: c.parallelResidual,
      });
    })));
    this.final_norm = this.child('final_norm', loadLayerNorm(s, `${P}final_layer_norm`, d, c.eps));
    const finalNormIn = this.hookPoint('final_norm.in'), finalNormOut = this.hookPoint('final_norm.out');
    if (!c.tiedHead) this.head = this.child('head', loadLinear(s, 'embed_out', d, c.vocabSize));
    this.hooks = { embedOut, finalNormIn, finalNormOut, logits: this.hookPoint('logits') };
  }

  /** ids: int32 [B, T] with T <= max_position_embeddings -> logits [B, T, vocab]. */
  apply(ids: Tensor): Tensor {
    const c = this.config;
    checkIds(ids, c.context, this.modelType);
    const hp = this.hooks;
    return tf.tidy(() => {
      let x = hp.embedOut.apply(this.embed.apply(ids)); // [B, T, d]
      for (const block of this.blocks.items) x = block.apply(x);
      x = hp.finalNormOut.apply(this.final_norm.apply(hp.finalNormIn.apply(x)));
      const logits = this.head // [B, T, vocab]
        ? this.head.apply(x)
        : tf.matMul(x.reshape([-1, c.dModel]), this.embed.weight, false, true).reshape([...ids.shape, c.vocabSize]);
      return hp.logits.apply(logits);
    });
  }

  /** Every norm slot: 'blocks.{i}.norm1' (input_layernorm), 'blocks.{i}.norm2' (post_attention_layernorm), 'final_norm'. */
  normLayers(): { name: string; layer: NormLayer }[] {
    return collectNorms(this);
  }
}

export const gptNeoXArchitecture: Architecture = {
  modelType: 'gpt_neox',
  build: (s) => new PretrainedGPTNeoX(s),
  describe: (s) => ({ ...gptNeoXConfig(s) }),
  // Buffers older checkpoints saved: the causal mask, its fill value and the rotary table (rebuilt here).
  ignorable: (name) => /^gpt_neox\.layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)$/.test(name),
};
