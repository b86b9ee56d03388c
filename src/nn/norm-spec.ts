// The normalization family's configuration: one spec type for every member,
// validated at the edge with friendly errors (field, value, what was expected).
import { z } from 'zod';
import { SQUASH_SHAPES, type SquashShape } from '../engine/squash-shapes.js';
import { parseWith } from '../util/schema.js';

export { SQUASH_SHAPES };
export type SquashShapeName = SquashShape;
export const NORM_KINDS = ['layernorm', 'rmsnorm', 'dyt', 'dyisru', 'identity'] as const;
export type NormKind = (typeof NORM_KINDS)[number];
export const ALPHA_MODES = ['learnable', 'fixed', 'none'] as const;
export type AlphaMode = (typeof ALPHA_MODES)[number];
export const KERNEL_IMPLS = ['auto', 'fused', 'composed'] as const;

const eps = z.number().finite().positive({ message: 'must be a finite number > 0' });
const impl = z.enum(KERNEL_IMPLS).optional();

const layernorm = z.object({ kind: z.literal('layernorm'), eps: eps.optional(), affine: z.boolean().optional(), impl }).strict();
const rmsnorm = z.object({ kind: z.literal('rmsnorm'), eps: eps.optional(), affine: z.boolean().optional(), impl }).strict();
const identity = z.object({ kind: z.literal('identity') }).strict();
const dyt = z.object({
  kind: z.literal('dyt'),
  squash: z.enum(SQUASH_SHAPES).optional(),
  alpha: z.enum(ALPHA_MODES).optional(),
  alpha0: z.number({ invalid_type_error: 'must be a finite number' }).finite({ message: 'must be a finite number' }).optional(),
  perChannelAlpha: z.boolean().optional(),
  shift: z.boolean().optional(),
  shift0: z.number().finite({ message: 'must be a finite number' }).optional(),
  affine: z.boolean().optional(),
  impl,
}).strict();
/** DyISRU: sqrt(C) x / sqrt(beta + x^2); beta0 > 0 or 'dim' (C, the layer's width: RMSNorm's slope for unit-variance input). */
const dyisru = z.object({
  kind: z.literal('dyisru'),
  beta0: z.union([eps, z.literal('dim')], { errorMap: () => ({ message: "must be a finite number > 0 or 'dim'" }) }).optional(),
  affine: z.boolean().optional(),
}).strict();

export const normSpecSchema = z.discriminatedUnion('kind', [layernorm, rmsnorm, dyt, dyisru, identity]);

/** What a user writes: every field but `kind` optional. */
export type NormSpec = z.input<typeof normSpecSchema>;

/** A spec with every default filled in: what runs record. */
export type ResolvedNormSpec =
  | { kind: 'layernorm'; eps: number; affine: boolean; impl: 'auto' | 'fused' | 'composed' }
  | { kind: 'rmsnorm'; eps: number; affine: boolean; impl: 'auto' | 'fused' | 'composed' }
  | {
      kind: 'dyt'; squash: SquashShapeName; alpha: AlphaMode; alpha0: number; perChannelAlpha: boolean;
      shift: boolean; shift0: number; affine: boolean; impl: 'auto' | 'fused' | 'composed';
    }
  | { kind: 'dyisru'; beta0: number | 'dim'; affine: boolean }
  | { kind: 'identity' };

export const DEFAULT_ALPHA0 = 0.5;
export const DEFAULT_LN_EPS = 1e-5;
export const DEFAULT_RMS_EPS = 1e-6;

/** Validate a norm spec and fill its defaults; throws a ConfigError naming the field and value. */
export function resolveNormSpec(spec: unknown, label = 'norm spec'): ResolvedNormSpec {
  const s = parseWith(normSpecSchema, spec, label);
  switch (s.kind) {
    case 'layernorm':
      return { kind: 'layernorm', eps: s.eps ?? DEFAULT_LN_EPS, affine: s.affine ?? true, impl: s.impl ?? 'auto' };
    case 'rmsnorm':
      return { kind: 'rmsnorm', eps: s.eps ?? DEFAULT_RMS_EPS, affine: s.affine ?? true, impl: s.impl ?? 'auto' };
    case 'identity':
      return { kind: 'identity' };
    case 'dyisru':
      return { kind: 'dyisru', beta0: s.beta0 ?? 'dim', affine: s.affine ?? true };
    case 'dyt': {
      const squash = s.squash ?? 'tanh';
      const alpha = s.alpha ?? 'learnable';
      if (alpha === 'none' && s.alpha0 !== undefined && s.alpha0 !== 1) {
        throw new Error(`${label}: alpha0 = ${s.alpha0} conflicts with alpha = "none" (no alpha means alpha0 = 1)`);
      }
      return {
        kind: 'dyt', squash, alpha,
        alpha0: alpha === 'none' ? 1 : s.alpha0 ?? DEFAULT_ALPHA0,
        perChannelAlpha: s.perChannelAlpha ?? false,
        // Derf (erf) comes with a learnable shift s; the others do not unless asked.
        shift: s.shift ?? squash === 'erf',
        shift0: s.shift0 ?? 0,
        affine: s.affine ?? true,
        impl: s.impl ?? 'auto',
      };
    }
  }
}

/** A short human label, e.g. "dyt(tanh, alpha learnable 0.5)". */
export function normLabel(spec: ResolvedNormSpec): string {
  switch (spec.kind) {
    case 'dyt': {
      const a = spec.alpha === 'none' ? 'no alpha' : `alpha ${spec.alpha}${spec.perChannelAlpha ? ' per-channel' : ''} ${spec.alpha0}`;
      return `dyt(${spec.squash}, ${a}${spec.shift ? ', shift' : ''}${spec.affine ? '' : ', no affine'})`;
    }
    case 'identity': return 'identity';
    case 'dyisru': {
      const parts = [...(spec.beta0 === 'dim' ? [] : [`beta0 ${spec.beta0}`]), ...(spec.affine ? [] : ['no affine'])];
      return parts.length ? `dyisru(${parts.join(', ')})` : 'dyisru';
    }
    default: return `${spec.kind}${spec.affine ? '' : '(no affine)'}`;
  }
}
