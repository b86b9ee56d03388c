// Low-precision training: the forward pass rounds the norm outputs and/or the
// inputs (and optionally the weights) of every Linear to bf16, fp16 or fp8,
// with straight-through gradients (the backward pass sees the rounding as the
// identity), while the master weights and the optimizer stay float32, as in
// mixed-precision training. Configured as `train.precision` in a run config:
//   { norm?: fmt, linearInput?: fmt, linearWeight?: fmt, scaling?: 'none' | 'tensor' }
// with fmt one of fp32, bf16, fp16, fp8_e4m3, fp8_e5m2. scaling 'tensor' gives
// every rounded tensor its own absmax scale (engine/scaled-cast.ts), as fp8
// training does; 'none' (default) rounds the raw values, so fp8 E4M3 saturates at 448.
//
// Mechanism: one scope of the forward context (hooks/context.ts), active only
// inside the wrapped model's forward pass, rounds the activation at every
// '<norm>.out' hook point and every Linear's input/weight. Scopes nest, so the
// wrapped model can be hooked: runWithCache on it records the rounded values.
import { z } from 'zod';
import { castTo, type FloatFormat } from '../engine/precision.js';
import { castScaled } from '../engine/scaled-cast.js';
import type { Tensor } from '../engine/tf.js';
import { withScope, type LinearOverride } from '../hooks/context.js';
import type { HookFn } from '../hooks/hooks.js';
import type { HookedModel } from '../models/types.js';

export const TRAIN_PRECISION_FORMATS = ['fp32', 'bf16', 'fp16', 'fp8_e4m3', 'fp8_e5m2'] as const;
export type TrainPrecisionFormat = (typeof TRAIN_PRECISION_FORMATS)[number];

export const trainPrecisionSchema = z.object({
  /** Round every norm layer's output (attention input, MLP input, final norm). */
  norm: z.enum(TRAIN_PRECISION_FORMATS).optional(),
  /** Round the input of every Linear (qkv, attention output projection, MLP layers, head, patch embedding). */
  linearInput: z.enum(TRAIN_PRECISION_FORMATS).optional(),
  /** Round every Linear's weight for the product (the float32 master copy is what the optimizer updates). */
  linearWeight: z.enum(TRAIN_PRECISION_FORMATS).optional(),
  /** 'tensor': one absmax scale per rounded tensor; 'none' (default): the raw values are rounded. */
  scaling: z.enum(['none', 'tensor']).optional(),
}).strict();

export type TrainPrecision = z.input<typeof trainPrecisionSchema>;

/** Whether a precision config rounds anything at all. */
export function roundsAnything(p: TrainPrecision | undefined): boolean {
  return !!p && [p.norm, p.linearInput, p.linearWeight].some((f) => f !== undefined && f !== 'fp32');
}

/** The cast a precision config applies to one tensor (straight-through gradient). */
export function precisionCast(format: TrainPrecisionFormat, scaling: 'none' | 'tensor' = 'none'): (x: Tensor) => Tensor {
  if (format === 'fp32') return (x) => x;
  return scaling === 'tensor' ? (x) => castScaled(x, format as FloatFormat) : (x) => castTo(x, format);
}

/** Hook functions rounding every norm output of `model` (for runWithHooks / runWithCache). */
export function normRoundingHooks(model: HookedModel, p: TrainPrecision): Record<string, HookFn> {
  if (!p.norm || p.norm === 'fp32') return {};
  const cast = precisionCast(p.norm, p.scaling);
  return Object.fromEntries(model.normLayers().map((n) => [`${n.name}.out`, (x: Tensor) => cast(x)]));
}

/** The Linear override rounding Linear inputs and/or weights (then the rest of the chain computes); undefined when neither is rounded. */
export function linearRounding(p: TrainPrecision): LinearOverride | undefined {
  const xi = p.linearInput && p.linearInput !== 'fp32' ? precisionCast(p.linearInput, p.scaling) : undefined;
  const wi = p.linearWeight && p.linearWeight !== 'fp32' ? precisionCast(p.linearWeight, p.scaling) : undefined;
  if (!xi && !wi) return undefined;
  return (_layer, x2, weight, next) => next(xi ? xi(x2) : x2, wi ? wi(weight) : weight);
}

/**
 * `model` seen through a precision config: the same object (parameters,
 * hooks, norms) except that apply() runs the rounded forward pass. For the
 * trainer's loss and evaluation, and for analyses of what low-precision
 * training computed: runWithCache on it caches the rounded activations.
 */
export function withPrecision<M extends HookedModel>(model: M, p: TrainPrecision | undefined): M {
  if (!p || !roundsAnything(p)) return model;
  const hooks = new Map(Object.entries(normRoundingHooks(model, p)));
  const linear = linearRounding(p);
  const scope = {
    ...(hooks.size ? { hook: (name: string, x: Tensor) => hooks.get(name)?.(x, name) } : {}),
    ...(linear ? { linear } : {}),
  };
  const apply = (x: Tensor): Tensor => withScope(scope, () => model.apply(x));
  return new Proxy(model, {
    get(target, key) {
      return key === 'apply' ? apply : Reflect.get(target, key, target);
    },
  });
}
