// Hugging Face ViT (config.json model_type "vit"), with transformers 4.46's
// semantics (modeling_vit.py, eval mode, no position interpolation):
//   ViTForImageClassification: logits = classifier(vit.layernorm(encoder(embed(pixels)))[:, 0])
//   ViTModel (no classifier):  the pooler output tanh(pooler.dense(CLS)) when the snapshot has
//                              a pooler, else the CLS token of the final norm's output, [B, d]
// embed = conv patch embedding (a Linear over flattened patches here), the class
// token in front, learned position embeddings added. Each block is pre-norm
// (layernorm_before, layernorm_after) with separate query/key/value; the MLP is
// intermediate.dense + hidden_act (exact erf GELU for "gelu") + output.dense.
// Tensor names with or without the 'vit.' prefix. Lab names:
//   vit.embeddings.patch_embeddings.projection   -> patch_embed (weight [C*p*p, d])
//   vit.embeddings.cls_token / position_embeddings -> cls [1, 1, d] / pos [1, N+1, d]
//   vit.encoder.layer.{i}.layernorm_before        -> blocks.{i}.norm1
//   ...attention.attention.query|key|value        -> blocks.{i}.attn.q|k|v
//   ...attention.output.dense                     -> blocks.{i}.attn.proj
//   ...layernorm_after                            -> blocks.{i}.norm2
//   ...intermediate.dense / output.dense          -> blocks.{i}.mlp.fc / mlp.proj
//   vit.layernorm / vit.pooler.dense / classifier -> final_norm / pooler / head
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { collectNorms } from '../models/shared.js';
import { GroupedQueryAttention } from '../nn/gqa.js';
import { Linear } from '../nn/linear.js';
import { MLP } from '../nn/mlp.js';
import { Module, ModuleList, type HookPoint } from '../nn/module.js';
import type { NormLayer } from '../nn/norms.js';
import { cfgBool, cfgInt, cfgNum, unsupported } from './config.js';
import { assignLinear, loadLayerNorm, loadLinear } from './hf-parts.js';
import { PreNormBlock } from './layers.js';
import { hiddenAct, type HiddenAct } from './hidden-act.js';
import { assignData, assignFrom, findPrefix, NoInit, transpose2d } from './load.js';
import type { Architecture, PretrainedConfig, PretrainedModel } from './registry.js';
import type { Snapshot } from './snapshot.js';

export interface ViTPretrainedConfig extends PretrainedConfig {
  imageSize: number;
  patchSize: number;
  channels: number;
  intermediateSize: number;
  hiddenAct: HiddenAct;
  eps: number;
  qkvBias: boolean;
  /** 'classifier': logits [B, classes]; 'pooler' / 'cls': ViTModel's pooled / CLS state [B, d]. */
  output: 'classifier' | 'pooler' | 'cls';
  /** Classes of the classifier (absent for ViTModel). */
  classes?: number;
  /** Tensor-name prefix in the snapshot ('vit.' or ''). */
  prefix: string;
}

/** The config of a ViT snapshot (no weights read). */
export function vitConfig(s: Snapshot): ViTPretrainedConfig {
  const dModel = cfgInt(s, 'hidden_size', 768), nHeads = cfgInt(s, 'num_attention_heads', 12);
  if (dModel % nHeads !== 0) unsupported(s, 'num_attention_heads', `a divisor of hidden_size ${dModel}`);
  const imageSize = cfgInt(s, 'image_size', 224), patchSize = cfgInt(s, 'patch_size', 16);
  if (imageSize % patchSize !== 0) unsupported(s, 'image_size', `a multiple of patch_size ${patchSize}`);
  const prefix = findPrefix(s, 'embeddings.cls_token', ['vit.', '']);
  const classifier = s.has('classifier.weight');
  return {
    dModel, nHeads, nLayers: cfgInt(s, 'num_hidden_layers', 12),
    imageSize, patchSize, channels: cfgInt(s, 'num_channels', 3),
    intermediateSize: cfgInt(s, 'intermediate_size', 3072),
    hiddenAct: hiddenAct(s).name,
    eps: cfgNum(s, 'layer_norm_eps', 1e-12),
    qkvBias: cfgBool(s, 'qkv_bias', true),
    output: classifier ? 'classifier' : s.has(`${prefix}pooler.dense.weight`) ? 'pooler' : 'cls',
    ...(classifier ? { classes: s.info('classifier.weight').shape[0]! } : {}),
    prefix,
  };
}

export class PretrainedViT extends Module implements PretrainedModel {
  readonly kind = 'vit' as const;
  readonly modelType = 'vit';
  readonly source: string;
  readonly config: ViTPretrainedConfig;
  readonly patch_embed: Linear;
  readonly cls: Variable;
  readonly pos: Variable;
  readonly blocks: ModuleList<PreNormBlock<GroupedQueryAttention, MLP>>;
  readonly final_norm: NormLayer;
  readonly pooler?: Linear;
  readonly head?: Linear;
  private readonly hooks: Record<'embedOut' | 'finalNormIn' | 'finalNormOut' | 'logits', HookPoint>;

  // Children and hook points in forward order (hookNames() follows the tree).
  constructor(s: Snapshot) {
    super();
    const c = (this.config = vitConfig(s)), d = c.dModel, P = c.prefix;
    this.source = s.dir;
    const act = hiddenAct(s).fn, tokens = (c.imageSize / c.patchSize) ** 2 + 1, patchIn = c.channels * c.patchSize ** 2;
    // The conv's weight [d, C, p, p] is a [d, C*p*p] matrix over flattened patches: transposed to [C*p*p, d].
    const conv = `${P}embeddings.patch_embeddings.projection`;
    this.patch_embed = this.child('patch_embed', new Linear(patchIn, d, new NoInit()));
    assignData(this.patch_embed.weight, transpose2d(s.read(`${conv}.weight`, [d, c.channels, c.patchSize, c.patchSize]), d, patchIn));
    assignFrom(s, this.patch_embed.bias, `${conv}.bias`);
    this.cls = this.param('cls', tf.tensor(s.read(`${P}embeddings.cls_token`, [1, 1, d]), [1, 1, d]));
    this.pos = this.param('pos', tf.tensor(s.read(`${P}embeddings.position_embeddings`, [1, tokens, d]), [1, tokens, d]));
    const embedOut = this.hookPoint('embed.out');
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: c.nLayers }, (_, i) => {
      const L = `${P}encoder.layer.${i}`;
      const attn = new GroupedQueryAttention(d, c.nHeads, new NoInit(), { causal: false, bias: c.qkvBias, outBias: true });
      assignLinear(s, attn.q, `${L}.attention.attention.query`);
      assignLinear(s, attn.k, `${L}.attention.attention.key`);
      assignLinear(s, attn.v, `${L}.attention.attention.value`);
      assignLinear(s, attn.proj, `${L}.attention.output.dense`);
      const mlp = new MLP(d, c.intermediateSize, new NoInit(), true, act);
      assignLinear(s, mlp.fc, `${L}.intermediate.dense`);
      assignLinear(s, mlp.proj, `${L}.output.dense`);
      return new PreNormBlock({
        norm1: loadLayerNorm(s, `${L}.layernorm_before`, d, c.eps), attn,
        norm2: loadLayerNorm(s, `${L}.layernorm_after`, d, c.eps), mlp,
      });
    })));
    this.final_norm = this.child('final_norm', loadLayerNorm(s, `${P}layernorm`, d, c.eps));
    const finalNormIn = this.hookPoint('final_norm.in'), finalNormOut = this.hookPoint('final_norm.out');
    if (c.output === 'pooler') this.pooler = this.child('pooler', loadLinear(s, `${P}pooler.dense`, d, d));
    if (c.output === 'classifier') this.head = this.child('head', loadLinear(s, 'classifier', d, c.classes!));
    this.hooks = { embedOut, finalNormIn, finalNormOut, logits: this.hookPoint('logits') };
  }

  /**
   * pixel_values: float32 [B, C, H, W] (HF's layout, already normalized by the image processor)
   * -> logits [B, classes] (ViTForImageClassification), or for ViTModel the pooled / CLS state [B, d].
   */
  apply(pixelValues: Tensor): Tensor {
    const c = this.config, S = c.imageSize, p = c.patchSize, g = S / p, C = c.channels, d = c.dModel;
    const [B, ch, h, w] = pixelValues.shape;
    if (pixelValues.rank !== 4 || ch !== C || h !== S || w !== S || pixelValues.dtype !== 'float32') {
      throw new Error(`ViT (${this.source}).apply: pixel_values are ${pixelValues.dtype} [${pixelValues.shape}]; expected float32 [B, ${C}, ${S}, ${S}]`);
    }
    const hp = this.hooks;
    return tf.tidy(() => {
      // Patches in the conv weight's (C, p, p) order, with 4-D transposes only:
      // [B*C*g, p, g, p] -> [B*C*g, g, p, p] = [B, C, g*g, p*p] -> [B, g*g, C, p*p] -> [B, N, C*p*p]
      const rows = pixelValues.reshape([B! * C * g, p, g, p]).transpose([0, 2, 1, 3]); // [B*C*g, g, p, p]
      const patches = rows.reshape([B!, C, g * g, p * p]).transpose([0, 2, 1, 3]).reshape([B!, g * g, C * p * p]);
      let x = this.patch_embed.apply(patches); // [B, N, d]
      x = tf.concat([tf.tile(this.cls, [B!, 1, 1]), x], 1); // [B, N+1, d]
      x = hp.embedOut.apply(tf.add(x, this.pos));
      for (const block of this.blocks.items) x = block.apply(x);
      x = hp.finalNormOut.apply(this.final_norm.apply(hp.finalNormIn.apply(x)));
      const cls = x.slice([0, 0, 0], [B!, 1, d]).reshape([B!, d]); // [B, d]
      const out = this.head ? this.head.apply(cls) : this.pooler ? tf.tanh(this.pooler.apply(cls)) : cls;
      return hp.logits.apply(out);
    });
  }

  /** Every norm slot: 'blocks.{i}.norm1' (layernorm_before), 'blocks.{i}.norm2' (layernorm_after), 'final_norm'. */
  normLayers(): { name: string; layer: NormLayer }[] {
    return collectNorms(this);
  }
}

export const vitArchitecture: Architecture = {
  modelType: 'vit',
  build: (s) => new PretrainedViT(s),
  describe: (s) => ({ ...vitConfig(s) }),
  // ViTModel's mask token is used only for masked-image pretraining (bool_masked_pos), never by apply();
  // a pooler beside a classifier is unused, as ViTForImageClassification (add_pooling_layer=False) leaves it.
  ignorable: (name, s) => name.endsWith('embeddings.mask_token') || (s.has('classifier.weight') && /^(vit\.)?pooler\.dense\.(weight|bias)$/.test(name)),
};
