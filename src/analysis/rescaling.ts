// The rescaling-invariance test. LayerNorm and RMSNorm are invariant to a
// rescaling of their input, LN(c x) = LN(x) (up to eps: the variance term becomes
// var + eps / c^2), while a dynamic squash is not: tanh(alpha c x) != tanh(alpha x).
// For each scale c this multiplies either the input of norm layers (through hooks:
// one hook point at a time, or all at once) or one parameter (by name, restored
// afterwards, also on error) by c, and reports how much each norm's output, the
// logits and (given targets) the loss changed against the unscaled pass.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { runWithCache, type HookFn } from '../hooks/hooks.js';
import type { HookedModel } from '../models/types.js';
import { crossEntropy } from '../train/tasks.js';

export interface RescalingOptions {
  /** The factors c to apply, each finite and nonzero (e.g. [0.5, 2, 10]). */
  scales: number[];
  /**
   * Rescale this parameter (a name of model.namedParameters(), e.g. 'embed.weight' or
   * 'blocks.0.attn.qkv.weight') instead of norm inputs. The model is restored bit for bit.
   */
  param?: string;
  /** Hook points whose activation is rescaled (default: every norm slot's input, '<slot>.in'). Ignored with `param`. */
  points?: string[];
  /** With hook points: 'each' (default) rescales one point per pass, 'all' every point in the same pass. */
  mode?: 'each' | 'all';
  /** Hooks applied in every pass, the unscaled one included (e.g. an ablation held fixed). */
  hooks?: Record<string, HookFn>;
}

export interface RescalingRow {
  scale: number;
  /** What was rescaled: a hook point, 'all' (every point at once) or the parameter's name. */
  target: string;
  /** Per norm slot: ||out_c - out|| / ||out|| of its output (its '.out' hook point) over the whole batch. */
  norms: { layer: string; relChange: number }[];
  /** ||logits_c - logits|| / ||logits||. */
  logits: number;
  /** With targets: the mean cross-entropy at this scale and |loss_c - loss| / |loss|. */
  loss?: number;
  lossRelChange?: number;
}

export interface RescalingResult {
  mode: 'each' | 'all' | 'param';
  /** The unscaled pass's loss (with targets). */
  baseLoss?: number;
  rows: RescalingRow[];
}

/** ||a - b|| / ||b|| in float64 (0 when both are zero, Infinity when only b is). */
function relChange(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < b.length; i++) {
    const e = a[i]! - b[i]!;
    d += e * e;
    n += b[i]! * b[i]!;
  }
  if (n === 0) return d === 0 ? 0 : Infinity;
  return Math.sqrt(d / n);
}

interface Pass { logits: Float32Array; norms: Map<string, Float32Array>; loss?: number }

/**
 * The rescaling-invariance test on one batch: for each scale c of `opts.scales`, the
 * relative change of every norm layer's output, of the logits and of the loss
 * (`targets`: token ids [B, T] for an LM, labels [B] for a ViT) against the unscaled
 * pass, with c applied to norm inputs through hooks (`points`, `mode`) or to one
 * parameter (`param`). Leaves the model as it found it, also when a pass throws.
 */
export function rescalingSensitivity(model: HookedModel, input: Tensor, targets?: Tensor, opts: RescalingOptions = { scales: [0.5, 2, 10] }): RescalingResult {
  const { scales } = opts;
  if (!Array.isArray(scales) || scales.length === 0) throw new Error('rescalingSensitivity: scales must be a non-empty list of numbers');
  for (const c of scales) {
    if (typeof c !== 'number' || !Number.isFinite(c) || c === 0) throw new Error(`rescalingSensitivity: scale ${String(c)} is invalid: must be a finite number != 0`);
  }
  if (opts.mode !== undefined && opts.mode !== 'each' && opts.mode !== 'all') throw new Error(`rescalingSensitivity: mode '${String(opts.mode)}' is invalid: must be 'each' or 'all'`);
  const known = new Set(model.hookNames());
  const slots = model.normLayers().map((n) => n.name).filter((n) => known.has(`${n}.out`));
  const outs = slots.map((n) => `${n}.out`);
  const extra = opts.hooks ?? {};
  for (const n of Object.keys(extra)) {
    if (!known.has(n)) throw new Error(`rescalingSensitivity: unknown hook point '${n}' in hooks (model.hookNames() lists ${known.size})`);
  }

  const pass = (scaleHooks: Record<string, HookFn>): Pass => {
    const hooks: Record<string, HookFn> = { ...extra };
    for (const [name, fn] of Object.entries(scaleHooks)) {
      const prev = extra[name];
      hooks[name] = prev ? (x, n) => { const y = prev(x, n); return fn(y ?? x, n) ?? y; } : fn;
    }
    const r = runWithCache(model, input, outs, hooks);
    try {
      const norms = new Map(slots.map((s) => [s, r.cache[`${s}.out`]!.dataSync() as Float32Array]));
      const loss = targets ? tf.tidy(() => crossEntropy(r.output, targets).dataSync()[0]!) : undefined;
      return { logits: r.output.dataSync() as Float32Array, norms, loss };
    } finally {
      r.dispose();
    }
  };
  const row = (scale: number, target: string, p: Pass, base: Pass): RescalingRow => {
    const out: RescalingRow = {
      scale, target,
      norms: slots.map((layer) => ({ layer, relChange: relChange(p.norms.get(layer)!, base.norms.get(layer)!) })),
      logits: relChange(p.logits, base.logits),
    };
    if (p.loss !== undefined && base.loss !== undefined) {
      out.loss = p.loss;
      out.lossRelChange = base.loss === 0 ? (p.loss === 0 ? 0 : Infinity) : Math.abs(p.loss - base.loss) / Math.abs(base.loss);
    }
    return out;
  };

  if (opts.param !== undefined) {
    const v = model.parameter(opts.param);
    if (!v) {
      const names = model.namedParameters().map((p) => p.name);
      const last = opts.param.split('.').slice(-1)[0];
      const near = names.filter((n) => n.split('.').slice(-1)[0] === last).slice(0, 3);
      throw new Error(`rescalingSensitivity: the model has no parameter '${opts.param}'` +
        `${near.length ? `; did you mean ${near.map((k) => `'${k}'`).join(', ')}?` : ''} (model.namedParameters() lists ${names.length})`);
    }
    const base = pass({});
    const saved = tf.keep(v.clone());
    const rows: RescalingRow[] = [];
    try {
      for (const c of scales) {
        const scaled = tf.tidy(() => tf.mul(saved, c));
        v.assign(scaled);
        scaled.dispose();
        rows.push(row(c, opts.param, pass({}), base));
      }
    } finally {
      v.assign(saved);
      saved.dispose();
    }
    return { mode: 'param', baseLoss: base.loss, rows };
  }

  const points = opts.points ?? model.normLayers().map((n) => `${n.name}.in`);
  if (points.length === 0) throw new Error('rescalingSensitivity: no hook points to rescale (the model has no norm slots and opts.points is empty)');
  for (const p of points) {
    if (!known.has(p)) {
      const near = [...known].filter((k) => k.split('.').slice(-1)[0] === p.split('.').slice(-1)[0]).slice(0, 3);
      throw new Error(`rescalingSensitivity: unknown hook point '${p}'${near.length ? `; did you mean ${near.map((k) => `'${k}'`).join(', ')}?` : ''} ` +
        `(model.hookNames() lists ${known.size})`);
    }
  }
  const mode = opts.mode ?? 'each';
  const scaleBy = (c: number): HookFn => (x) => tf.mul(x, c);
  const base = pass({});
  const rows: RescalingRow[] = [];
  for (const c of scales) {
    if (mode === 'all') rows.push(row(c, 'all', pass(Object.fromEntries(points.map((p) => [p, scaleBy(c)]))), base));
    else for (const p of points) rows.push(row(c, p, pass({ [p]: scaleBy(c) }), base));
  }
  return { mode, baseLoss: base.loss, rows };
}
