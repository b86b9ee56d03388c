// Outlier features, LLM.int8-style: per-feature statistics of the activations
// that enter the linear layers (and of the residual stream), whether the
// largest channels are the same across layers and positions, and the
// LLM.int8 criterion for "outlier feature" (a hidden dimension reaching
// |x| >= 6 in >= 25% of the layers and >= 6% of the sequence positions).
//
// An activation is a [positions, features] matrix: a 2-D tfjs tensor, a 3-D
// [batch, seq, features] tensor (flattened to [batch * seq, features]), or
// {data: Float32Array, shape: [n, d]} (row-major). The statistics are pure
// functions over those; collectActivations and outliersOverTraining read them
// from a model (one forward pass through runWithCache) and from checkpoints.
import { z } from 'zod';
import type { Tensor } from '../engine/tf.js';
import { runWithCache } from '../hooks/hooks.js';
import { buildModelFrom } from '../models/build.js';
import type { HookedModel, Model } from '../models/types.js';
import { readCheckpoint, restoreCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.js';
import { parseWith } from '../util/schema.js';

/** A row-major [positions, features] matrix of float32 values. */
export interface Matrix { data: Float32Array; shape: [number, number] }
/** What the analyses accept: a 2-D or 3-D float32 tensor, or a Matrix. */
export type Activation = Tensor | Matrix;

function isTensorLike(a: unknown): a is Tensor {
  return typeof a === 'object' && a !== null && typeof (a as Tensor).dataSync === 'function' && Array.isArray((a as Tensor).shape);
}

/** View an activation as a [positions, features] matrix (3-D tensors are flattened over batch and sequence). */
export function toMatrix(a: Activation, what = 'activation'): Matrix {
  if (isTensorLike(a)) {
    if (a.dtype !== 'float32') throw new Error(`${what}: expected a float32 tensor, got dtype ${a.dtype}`);
    if (a.rank !== 2 && a.rank !== 3) {
      throw new Error(`${what}: expected a 2-D [positions, features] or 3-D [batch, seq, features] tensor, got shape [${a.shape.join(', ')}]`);
    }
    const d = a.shape[a.rank - 1]!;
    const n = a.size / Math.max(d, 1);
    return { data: a.dataSync() as Float32Array, shape: [n, d] };
  }
  const m = a as Partial<Matrix> | null;
  if (!m || !(m.data instanceof Float32Array) || !Array.isArray(m.shape) || m.shape.length !== 2) {
    throw new Error(`${what}: expected a tfjs tensor or {data: Float32Array, shape: [n, d]}`);
  }
  const [n, d] = m.shape;
  if (!Number.isInteger(n) || !Number.isInteger(d) || n! < 0 || d! < 0 || n! * d! !== m.data.length) {
    throw new Error(`${what}: shape [${m.shape.join(', ')}] does not match data of length ${m.data.length}`);
  }
  return { data: m.data, shape: [n!, d!] };
}

/**
 * The activation divided by its root mean square over all values, so that a
 * threshold reads "k times the typical magnitude": DyT's outputs are bounded by
 * |gamma| + |beta| while LayerNorm's have unit variance, and an absolute |x| >= 6
 * compares different scales. An all-zero matrix is returned unchanged.
 */
export function normalizeRms(a: Activation): Matrix {
  const { data, shape } = toMatrix(a, 'normalizeRms');
  let ss = 0;
  for (let i = 0; i < data.length; i++) ss += data[i]! * data[i]!;
  const rms = Math.sqrt(ss / Math.max(1, data.length));
  return { data: rms > 0 ? Float32Array.from(data, (v) => v / rms) : Float32Array.from(data), shape: [shape[0], shape[1]] };
}

// ---------------------------------------------------------------------------
// Per-feature statistics

export interface FeatureStats {
  positions: number;
  features: number;
  /** The magnitude threshold countOver used. */
  threshold: number;
  /** max |x| over positions, per feature. */
  maxAbs: Float64Array;
  /** mean |x| over positions, per feature. */
  meanAbs: Float64Array;
  /** Positions where |x| >= threshold, per feature. */
  countOver: Uint32Array;
  /**
   * Kurtosis over positions, per feature: m4 / m2^2 with central moments
   * (Pearson's, not excess: a normal distribution gives 3). NaN for a constant feature.
   */
  kurtosis: Float64Array;
  /** The same over all n * d values of the matrix. */
  overallKurtosis: number;
  overallMaxAbs: number;
}

const thresholdSchema = z.number().finite({ message: 'must be a finite number' }).positive({ message: 'must be > 0' });
const fraction = z.number().finite({ message: 'must be a finite number' }).min(0, { message: 'must be in [0, 1]' }).max(1, { message: 'must be in [0, 1]' });

/** Per-feature max |x|, mean |x|, count of |x| >= threshold (default 6) and kurtosis of a [positions, features] activation. */
export function featureStats(x: Activation, opts: { threshold?: number } = {}): FeatureStats {
  const { threshold = 6 } = parseWith(z.object({ threshold: thresholdSchema.optional() }).strict(), opts, 'featureStats options');
  const { data, shape: [n, d] } = toMatrix(x, 'featureStats');
  const maxAbs = new Float64Array(d), meanAbs = new Float64Array(d), mean = new Float64Array(d);
  const countOver = new Uint32Array(d);
  let total = 0, overallMaxAbs = 0;
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const v = data[row + j]!, a = Math.abs(v);
      if (a > maxAbs[j]!) maxAbs[j] = a;
      meanAbs[j] += a;
      mean[j] += v;
      if (a >= threshold) countOver[j]++;
      total += v;
    }
  }
  for (let j = 0; j < d; j++) {
    mean[j] /= n;
    meanAbs[j] /= n;
    if (maxAbs[j]! > overallMaxAbs) overallMaxAbs = maxAbs[j]!;
  }
  // Second pass for central moments (float64, so constant columns give exactly 0).
  const m2 = new Float64Array(d), m4 = new Float64Array(d);
  const grand = total / (n * d);
  let g2 = 0, g4 = 0;
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const v = data[row + j]!;
      const c = v - mean[j]!, c2 = c * c;
      m2[j] += c2;
      m4[j] += c2 * c2;
      const g = v - grand, gg = g * g;
      g2 += gg;
      g4 += gg * gg;
    }
  }
  const kurtosis = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    const a = m2[j]! / n;
    kurtosis[j] = a > 0 ? (m4[j]! / n) / (a * a) : NaN;
  }
  const ga = g2 / (n * d);
  const overallKurtosis = ga > 0 ? (g4 / (n * d)) / (ga * ga) : NaN;
  return { positions: n, features: d, threshold, maxAbs, meanAbs, countOver, kurtosis, overallKurtosis, overallMaxAbs };
}

/** The k features with the largest values of `magnitude` (e.g. stats.maxAbs), largest first; ties by lower index. */
export function topChannels(magnitude: ArrayLike<number>, k = 5): number[] {
  if (!Number.isInteger(k) || k < 1) throw new Error(`topChannels: k = ${String(k)} is invalid: must be a positive integer`);
  const idx = Array.from({ length: magnitude.length }, (_, i) => i);
  idx.sort((a, b) => (magnitude[b]! - magnitude[a]!) || a - b);
  return idx.slice(0, k);
}

// ---------------------------------------------------------------------------
// Are the big channels the same everywhere?

export interface ChannelConsistency {
  k: number;
  /** Per layer: its top-k features by max |x|, largest first. */
  topPerLayer: number[][];
  /** Every feature that is in some layer's top k, with the fraction of layers where it is; most frequent first. */
  recurring: { index: number; layerFraction: number }[];
  /** Mean Jaccard similarity of the top-k sets over all pairs of layers (1: the same channels in every layer). NaN for one layer. */
  meanJaccard: number;
  /**
   * Per layer: the feature that holds the largest |x| at the most positions, and the
   * fraction of positions where it does (1: one channel is the biggest everywhere).
   */
  dominant: { index: number; positionFraction: number }[];
}

function checkLayers(layers: readonly Activation[], fn: string): Matrix[] {
  if (!Array.isArray(layers) || layers.length === 0) throw new Error(`${fn}: layers must be a non-empty array of activations`);
  const ms = layers.map((l, i) => toMatrix(l, `${fn}: layers[${i}]`));
  const d = ms[0]!.shape[1];
  ms.forEach((m, i) => {
    if (m.shape[1] !== d) throw new Error(`${fn}: layers[${i}] has ${m.shape[1]} features but layers[0] has ${d}; all layers must share the feature dimension`);
    if (m.shape[0] === 0) throw new Error(`${fn}: layers[${i}] has no positions`);
  });
  return ms;
}

/** Top-k channels per layer and how consistent they are across layers and positions. */
export function channelConsistency(layers: readonly Activation[], opts: { k?: number } = {}): ChannelConsistency {
  const { k = 5 } = parseWith(z.object({ k: z.number().int({ message: 'must be an integer' }).positive({ message: 'must be > 0' }).optional() }).strict(), opts, 'channelConsistency options');
  const ms = checkLayers(layers, 'channelConsistency');
  const L = ms.length, d = ms[0]!.shape[1];
  const topPerLayer = ms.map((m) => topChannels(featureStats(m).maxAbs, Math.min(k, d)));
  const freq = new Map<number, number>();
  for (const t of topPerLayer) for (const c of t) freq.set(c, (freq.get(c) ?? 0) + 1);
  const recurring = [...freq].map(([index, c]) => ({ index, layerFraction: c / L }))
    .sort((a, b) => b.layerFraction - a.layerFraction || a.index - b.index);
  let jac = 0, pairs = 0;
  for (let a = 0; a < L; a++) {
    for (let b = a + 1; b < L; b++) {
      const A = new Set(topPerLayer[a]), B = topPerLayer[b]!;
      const inter = B.filter((c) => A.has(c)).length;
      jac += inter / (A.size + B.length - inter);
      pairs++;
    }
  }
  const dominant = ms.map(({ data, shape: [n] }) => {
    const wins = new Uint32Array(d);
    for (let i = 0; i < n; i++) {
      let best = 0, bestAbs = -1;
      for (let j = 0; j < d; j++) {
        const a = Math.abs(data[i * d + j]!);
        if (a > bestAbs) { bestAbs = a; best = j; }
      }
      wins[best]++;
    }
    let index = 0;
    for (let j = 1; j < d; j++) if (wins[j]! > wins[index]!) index = j;
    return { index, positionFraction: wins[index]! / n };
  });
  return { k: Math.min(k, d), topPerLayer, recurring, meanJaccard: pairs ? jac / pairs : NaN, dominant };
}

// ---------------------------------------------------------------------------
// The LLM.int8 criterion

export interface OutlierOptions {
  /** Magnitude a value must reach (|x| >= threshold). Default 6. */
  threshold?: number;
  /** Fraction of layers in which the feature must qualify. Default 0.25. */
  minLayerFraction?: number;
  /** Fraction of a layer's positions at which |x| >= threshold for the feature to qualify in that layer. Default 0.06. */
  minPositionFraction?: number;
}

export const outlierOptionsSchema = z.object({
  threshold: thresholdSchema.optional(),
  minLayerFraction: fraction.optional(),
  minPositionFraction: fraction.optional(),
}).strict();

export interface OutlierFeature {
  /** Feature (hidden dimension) index. */
  index: number;
  /** Fraction of layers in which the feature qualified (>= minLayerFraction). */
  layerFraction: number;
  /** Mean, over the layers where it qualified, of the fraction of positions with |x| >= threshold. */
  positionFraction: number;
  /** The largest such fraction over those layers. */
  maxPositionFraction: number;
  /** Indices of the layers where it qualified. */
  layers: number[];
  /** max |x| of the feature over all layers and positions. */
  maxAbs: number;
}

export interface OutlierResult {
  /** The outlier features, by index ascending. */
  features: OutlierFeature[];
  threshold: number;
  minLayerFraction: number;
  minPositionFraction: number;
  numLayers: number;
  /** Feature dimension d. */
  dims: number;
  /** Per layer: positions, and how many features qualified in it (whether or not they became outliers). */
  perLayer: { positions: number; qualifying: number }[];
}

/**
 * The outlier features of a model from one [positions, features] activation
 * per layer (LLM.int8, Dettmers et al. 2022). Definitions:
 *  - feature j qualifies in layer l when |x[i, j]| >= threshold at a fraction
 *    >= minPositionFraction of that layer's positions i;
 *  - it is an outlier feature when it qualifies in a fraction >= minLayerFraction of the layers.
 * Each reported feature has that layer fraction, and the mean (and max) over
 * the layers where it qualified of its fraction of positions.
 * Layers may have different numbers of positions but must share the feature dimension.
 */
export function outlierFeatures(layers: readonly Activation[], opts: OutlierOptions = {}): OutlierResult {
  const o = parseWith(outlierOptionsSchema, opts, 'outlierFeatures options');
  const threshold = o.threshold ?? 6, minLayerFraction = o.minLayerFraction ?? 0.25, minPositionFraction = o.minPositionFraction ?? 0.06;
  const ms = checkLayers(layers, 'outlierFeatures');
  const L = ms.length, d = ms[0]!.shape[1];
  const qualified: number[][] = Array.from({ length: d }, () => []);
  const fracs: number[][] = Array.from({ length: d }, () => []);
  const maxAbs = new Float64Array(d);
  const perLayer = ms.map((m, l) => {
    const s = featureStats(m, { threshold });
    let qualifying = 0;
    for (let j = 0; j < d; j++) {
      if (s.maxAbs[j]! > maxAbs[j]!) maxAbs[j] = s.maxAbs[j]!;
      // count / n >= fraction, not count >= fraction * n: 0.06 * 100 is 6.000000000000001 in floating point.
      const f = s.countOver[j]! / s.positions;
      if (s.countOver[j]! > 0 && f >= minPositionFraction) {
        qualified[j]!.push(l);
        fracs[j]!.push(f);
        qualifying++;
      }
    }
    return { positions: s.positions, qualifying };
  });
  const features: OutlierFeature[] = [];
  for (let j = 0; j < d; j++) {
    const ls = qualified[j]!;
    if (ls.length === 0 || ls.length / L < minLayerFraction) continue;
    const fs = fracs[j]!;
    features.push({
      index: j, layerFraction: ls.length / L, positionFraction: fs.reduce((a, b) => a + b, 0) / fs.length,
      maxPositionFraction: Math.max(...fs), layers: ls, maxAbs: maxAbs[j]!,
    });
  }
  return { features, threshold, minLayerFraction, minPositionFraction, numLayers: L, dims: d, perLayer };
}

// ---------------------------------------------------------------------------
// Reading activations from a model

/**
 * Where an activation is read (hook names of block i):
 *  attn_in       blocks.i.norm1.out  input of the attention's qkv projection
 *  attn_proj_in  blocks.i.attn.z     input of the attention's output projection
 *  mlp_in        blocks.i.norm2.out  input of the MLP's first layer(s)
 *  mlp_proj_in   blocks.i.mlp.hidden input of the MLP's output projection (d_mlp features)
 *  residual      embed.out, blocks.i.resid.mid, blocks.i.resid.post: the residual stream
 */
export type SiteKind = 'attn_in' | 'attn_proj_in' | 'mlp_in' | 'mlp_proj_in' | 'residual';
export const SITE_KINDS: readonly SiteKind[] = ['attn_in', 'attn_proj_in', 'mlp_in', 'mlp_proj_in', 'residual'];
/** The sites LLM.int8 counts layers over: the inputs of the attention projections and of the MLP's first layer (all d_model wide). */
export const INT8_SITES: readonly SiteKind[] = ['attn_in', 'attn_proj_in', 'mlp_in'];

export interface ActivationSite {
  /** The hook name it was read at. */
  name: string;
  kind: SiteKind;
  /** Block index; -1 for the embedding output. */
  block: number;
  x: Matrix;
}

function siteNames(nLayers: number, kinds: readonly SiteKind[]): { name: string; kind: SiteKind; block: number }[] {
  const want = new Set(kinds);
  const out: { name: string; kind: SiteKind; block: number }[] = [];
  if (want.has('residual')) out.push({ name: 'embed.out', kind: 'residual', block: -1 });
  for (let i = 0; i < nLayers; i++) {
    const p = `blocks.${i}`;
    if (want.has('attn_in')) out.push({ name: `${p}.norm1.out`, kind: 'attn_in', block: i });
    if (want.has('attn_proj_in')) out.push({ name: `${p}.attn.z`, kind: 'attn_proj_in', block: i });
    if (want.has('residual')) out.push({ name: `${p}.resid.mid`, kind: 'residual', block: i });
    if (want.has('mlp_in')) out.push({ name: `${p}.norm2.out`, kind: 'mlp_in', block: i });
    if (want.has('mlp_proj_in')) out.push({ name: `${p}.mlp.hidden`, kind: 'mlp_proj_in', block: i });
    if (want.has('residual')) out.push({ name: `${p}.resid.post`, kind: 'residual', block: i });
  }
  return out;
}

/**
 * One forward pass of `model` on `input`, returning the activations at the
 * requested sites (default: all) as [positions, features] matrices, in forward order.
 */
export function collectActivations(model: HookedModel, input: Tensor, opts: { sites?: readonly SiteKind[] } = {}): ActivationSite[] {
  const kinds = opts.sites ?? SITE_KINDS;
  for (const k of kinds) {
    if (!SITE_KINDS.includes(k)) throw new Error(`collectActivations: unknown site '${String(k)}'; expected one of ${SITE_KINDS.join(', ')}`);
  }
  const sites = siteNames(model.config.nLayers, kinds);
  const r = runWithCache(model, input, sites.map((s) => s.name));
  try {
    return sites.map((s) => ({ ...s, x: toMatrix(r.cache[s.name]!, s.name) }));
  } finally {
    r.dispose();
  }
}

// ---------------------------------------------------------------------------
// Over training

export interface OutlierSnapshot {
  step: number;
  /** Outlier features at this step (the criterion over the chosen sites). */
  outliers: OutlierResult;
  /** Per site: its name, max |x| and kurtosis over all its values. */
  sites: { name: string; kind: SiteKind; block: number; maxAbs: number; kurtosis: number }[];
  /** max |x| over all sites. */
  maxAbs: number;
}

export interface TrainingOutlierOptions extends OutlierOptions {
  /** Sites the criterion runs over (default INT8_SITES). */
  sites?: readonly SiteKind[];
  /** Also analyse the untrained model (step 0), rebuilt from the first checkpoint's config and seed. */
  includeInit?: boolean;
}

/** Build the model a checkpoint was saved from (its run config is in the metadata), with its initial weights. */
export function modelFromCheckpointConfig(ck: LoadedCheckpoint): Model {
  const m = (ck.config as { model?: { kind?: string } } | null)?.model;
  if (!m || (m.kind !== 'lm' && m.kind !== 'vit')) throw new Error(`checkpoint ${ck.path}: its config has no model of kind 'lm' or 'vit'`);
  return buildModelFrom(m, `checkpoint ${ck.path}: model`);
}

/** The outlier snapshot of one model on one input. */
export function outlierSnapshot(model: HookedModel, input: Tensor, step: number, opts: TrainingOutlierOptions = {}): OutlierSnapshot {
  const acts = collectActivations(model, input, { sites: opts.sites ?? INT8_SITES });
  const crit: OutlierOptions = { threshold: opts.threshold, minLayerFraction: opts.minLayerFraction, minPositionFraction: opts.minPositionFraction };
  // The criterion needs one feature dimension: d_model-wide sites only (mlp_proj_in is d_mlp wide).
  const dModel = model.config.dModel;
  const layerActs = acts.filter((a) => a.x.shape[1] === dModel).map((a) => a.x);
  const outliers = outlierFeatures(layerActs, crit);
  const sites = acts.map((a) => {
    const s = featureStats(a.x, { threshold: outliers.threshold });
    return { name: a.name, kind: a.kind, block: a.block, maxAbs: s.overallMaxAbs, kurtosis: s.overallKurtosis };
  });
  return { step, outliers, sites, maxAbs: Math.max(...sites.map((s) => s.maxAbs)) };
}

/**
 * Outlier features over training, one snapshot per checkpoint (paths, or the
 * run store's checkpoint artifacts {path, step}), in step order, on the same input.
 */
export function outliersOverTraining(checkpoints: readonly (string | { path: string })[], input: Tensor,
  opts: TrainingOutlierOptions = {}): OutlierSnapshot[] {
  if (!Array.isArray(checkpoints) || checkpoints.length === 0) throw new Error('outliersOverTraining: give at least one checkpoint');
  const cks = checkpoints.map((c) => readCheckpoint(typeof c === 'string' ? c : c.path)).sort((a, b) => a.step - b.step);
  const out: OutlierSnapshot[] = [];
  const model = modelFromCheckpointConfig(cks[0]!);
  try {
    if (opts.includeInit) out.push(outlierSnapshot(model, input, 0, opts));
    for (const ck of cks) {
      restoreCheckpoint(ck, model);
      out.push(outlierSnapshot(model, input, ck.step, opts));
    }
  } finally {
    model.dispose();
  }
  return out;
}
