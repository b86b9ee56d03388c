// Model configs: schemas (validated at the edge, errors name field and value)
// and their resolved, fully-defaulted forms.
import { z } from 'zod';
import { normSpecSchema } from '../nn/norm-spec.js';
import { NORM_PLACEMENTS } from './block.js';
import { residualSpecSchema } from '../nn/residual.js';
import { parseWith } from '../util/schema.js';

const posInt = z.number().int({ message: 'must be an integer' }).positive({ message: 'must be > 0' });
const posNum = z.number().finite().positive({ message: 'must be a finite number > 0' });

/** Shared by both model families: norms in every slot, residual gates, Fixup. */
const common = {
  dModel: posInt,
  nLayers: posInt,
  nHeads: posInt,
  /** The norm used in every slot unless a slot says otherwise. */
  norm: normSpecSchema.optional(),
  /** Override for the attention-input norms (norm1): e.g. DyT with its own alpha0. */
  attnNorm: normSpecSchema.optional(),
  /** Override for the MLP-input norms (norm2). */
  mlpNorm: normSpecSchema.optional(),
  /** Override for the final norm. */
  finalNorm: normSpecSchema.optional(),
  residual: residualSpecSchema.optional(),
  /** Fixup: rescale branch weights at init, zero each branch's last layer, add scalar biases and a multiplier. */
  fixup: z.boolean().optional(),
  /** 'sigma': σReparam on every Linear (blocks, ViT patch embedding, heads; nn/linear.ts). Left out: plain Linears. */
  linearReparam: z.enum(['sigma']).optional(),
  /** Where the block's norms sit: 'pre' (default), 'post' (post-LN) or 'res-post' (Swin-v2); models/block.ts. */
  normPlacement: z.enum(NORM_PLACEMENTS).optional(),
  initStd: posNum.optional(),
  seed: z.number().int().optional(),
};

export const vitConfigSchema = z.object({
  kind: z.literal('vit'),
  imageSize: posInt.optional(),
  channels: posInt.optional(),
  patchSize: posInt.optional(),
  classes: posInt.optional(),
  mlpRatio: posNum.optional(),
  pool: z.enum(['cls', 'mean']).optional(),
  ...common,
}).strict();

export const lmConfigSchema = z.object({
  kind: z.literal('lm'),
  vocabSize: posInt,
  context: posInt,
  mlp: z.enum(['swiglu', 'gelu']).optional(),
  /** Hidden width of the MLP as a multiple of d_model (SwiGLU default 8/3, rounded up to a multiple of 8). */
  mlpRatio: posNum.optional(),
  rope: z.boolean().optional(),
  ropeBase: posNum.optional(),
  /** Learnable scalar on the embeddings, init sqrt(d_model) (what DyT LLaMA models need). */
  embedScale: z.boolean().optional(),
  tiedHead: z.boolean().optional(),
  ...common,
}).strict();

export const modelConfigSchema = z.discriminatedUnion('kind', [vitConfigSchema, lmConfigSchema]);
export type ViTConfig = z.input<typeof vitConfigSchema>;
export type LMConfig = z.input<typeof lmConfigSchema>;
export type ModelConfig = z.input<typeof modelConfigSchema>;

type Req<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };
// linearReparam and normPlacement stay optional: left out when unset (or 'pre'), so existing configs keep their hashes.
type CommonResolved = Req<Pick<ViTConfig, 'dModel' | 'nLayers' | 'nHeads' | 'norm' | 'attnNorm' | 'mlpNorm' | 'finalNorm' | 'residual' | 'fixup' | 'initStd' | 'seed'>>
  & Pick<ViTConfig, 'linearReparam' | 'normPlacement'>;
export type ResolvedViTConfig = CommonResolved & Req<Omit<ViTConfig, keyof CommonResolved>>;
export type ResolvedLMConfig = CommonResolved & Req<Omit<LMConfig, keyof CommonResolved>>;

function resolveCommon<C extends ModelConfig>(c: C, defaultNorm: CommonResolved['norm']): CommonResolved {
  const norm = c.norm ?? defaultNorm;
  if (c.dModel % c.nHeads !== 0) throw new Error(`model config: dModel = ${c.dModel} is not divisible by nHeads = ${c.nHeads}`);
  if (c.linearReparam === 'sigma' && c.fixup) {
    throw new Error('model config: linearReparam = "sigma" conflicts with fixup = true (Fixup zeroes each branch\'s last layer, whose spectral norm would be 0)');
  }
  return {
    dModel: c.dModel, nLayers: c.nLayers, nHeads: c.nHeads, norm,
    attnNorm: c.attnNorm ?? norm, mlpNorm: c.mlpNorm ?? norm, finalNorm: c.finalNorm ?? norm,
    residual: c.residual ?? { kind: 'none' }, fixup: c.fixup ?? false, initStd: c.initStd ?? 0.02, seed: c.seed ?? 0,
    ...(c.linearReparam ? { linearReparam: c.linearReparam } : {}),
    ...(c.normPlacement && c.normPlacement !== 'pre' ? { normPlacement: c.normPlacement } : {}),
  };
}

export function resolveViTConfig(input: unknown, label = 'vit config'): ResolvedViTConfig {
  const c = parseWith(vitConfigSchema, input, label);
  const r: ResolvedViTConfig = {
    kind: 'vit', imageSize: c.imageSize ?? 28, channels: c.channels ?? 1, patchSize: c.patchSize ?? 7,
    classes: c.classes ?? 10, mlpRatio: c.mlpRatio ?? 4, pool: c.pool ?? 'cls',
    ...resolveCommon(c, { kind: 'layernorm' }),
  };
  if (r.imageSize % r.patchSize !== 0) {
    throw new Error(`${label}: patchSize = ${r.patchSize} does not divide imageSize = ${r.imageSize}`);
  }
  return r;
}

export function resolveLMConfig(input: unknown, label = 'lm config'): ResolvedLMConfig {
  const c = parseWith(lmConfigSchema, input, label);
  const mlp = c.mlp ?? 'swiglu';
  const r: ResolvedLMConfig = {
    kind: 'lm', vocabSize: c.vocabSize, context: c.context, mlp,
    mlpRatio: c.mlpRatio ?? (mlp === 'swiglu' ? 8 / 3 : 4), rope: c.rope ?? true, ropeBase: c.ropeBase ?? 10000,
    embedScale: c.embedScale ?? false, tiedHead: c.tiedHead ?? false,
    ...resolveCommon(c, { kind: 'rmsnorm' }),
  };
  if (r.rope && (r.dModel / r.nHeads) % 2 !== 0) throw new Error(`${label}: RoPE needs an even head dimension, got ${r.dModel / r.nHeads}`);
  return r;
}

export type ResolvedModelConfig = ResolvedLMConfig | ResolvedViTConfig;

/** Validate a model config of either kind (its `kind` says which) and fill its defaults. */
export function resolveModelConfig(input: unknown, label = 'model config'): ResolvedModelConfig {
  const kind = (input as { kind?: unknown } | null)?.kind;
  if (kind === 'lm') return resolveLMConfig(input, label);
  if (kind === 'vit') return resolveViTConfig(input, label);
  // The schema's own message: kind is 'lm' or 'vit'.
  return parseWith(modelConfigSchema, input, label) as never;
}

/** MLP width: ratio * d, rounded up to a multiple of 8 (as LLaMA does for SwiGLU). */
export function mlpHidden(dModel: number, ratio: number): number {
  return Math.ceil((ratio * dModel) / 8) * 8;
}
