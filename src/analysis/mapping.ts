// What each norm layer does to its input, point by point: the pairs
// (input x, output before the affine step) at every norm layer of a model,
// with each point's token (row) and channel (column). For LayerNorm that is
// (x - mean) / sqrt(var + eps) per token, for RMSNorm x / sqrt(mean(x^2) + eps),
// for the DyT family f(alpha x [+ s]); all computed by the layer's own kernel
// (NormLayer.normalize) from the activation cached at `<layer>.in`.
//
// Subsampling (for figures and fits) is deterministic and keeps the tails:
//   1. extremes: the point of largest |x| in every token and in every channel,
//      and the `extremeCount` points of largest |x| overall;
//   2. the rest of the budget is a seeded uniform sample of the other points.
// If the extremes alone exceed the cap, those of largest |x| are kept. Kept
// points are returned in their original (row-major) order.
import { Rng } from '../data/rng.js';
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { runWithCache } from '../hooks/hooks.js';
import { normLabel } from '../nn/norm-spec.js';
import type { NormLayer } from '../nn/norms.js';

/** Default cap on points kept per layer (plots stay responsive; fits use the full data separately). */
export const DEFAULT_MAX_POINTS = 20_000;

export interface MappingPoints {
  /** Layer input, kept points. */
  x: Float32Array;
  /** Layer output before the affine step, kept points. */
  y: Float32Array;
  /** Row of each kept point in the flattened [tokens, channels] input (a batch's positions, in order). */
  token: Int32Array;
  channel: Int32Array;
  /** 1 where the point was kept as an extreme (largest |x| of its token, its channel, or overall). */
  extreme: Uint8Array;
}

export interface LayerMapping extends MappingPoints {
  /** Module path of the norm layer, e.g. 'blocks.2.norm1' or 'final_norm'. */
  layer: string;
  /** Position among the model's norm layers (0 = first). */
  depth: number;
  kind: string;
  label: string;
  /** Shape of the cached input, e.g. [batch, seq, channels]. */
  inputShape: number[];
  tokens: number;
  channels: number;
  /** Points before subsampling (tokens x channels). */
  total: number;
  /** The layer's scalar alpha, when it has one. */
  alpha?: number;
  /** All points (not subsampled), only when `keepFull` was asked. */
  full?: { x: Float32Array; y: Float32Array };
}

export interface SubsampleOptions {
  /** Most points kept (default DEFAULT_MAX_POINTS). */
  maxPoints?: number;
  /** Points of largest |x| overall always kept (default maxPoints / 10). */
  extremeCount?: number;
  /** Seed of the uniform part (default 0). */
  seed?: number;
}

/** Indices of the `k` largest values of |x| (ties: lower index first). */
export function topAbsIndices(x: ArrayLike<number>, k: number): number[] {
  const n = x.length;
  if (k <= 0) return [];
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  // Threshold by sorting magnitudes once (n log n; n is at most a few million here).
  const mags = Float32Array.from({ length: n }, (_, i) => Math.abs(x[i]!)).sort();
  const cut = mags[n - k]!;
  const above: number[] = [], at: number[] = [];
  for (let i = 0; i < n; i++) {
    const m = Math.abs(x[i]!);
    if (m > cut) above.push(i);
    else if (m === cut) at.push(i);
  }
  return above.concat(at.slice(0, k - above.length));
}

/** Which points of a [rows, cols] matrix to keep: every extreme, then a seeded uniform sample. Sorted ascending. */
export function subsampleMapping(x: Float32Array, rows: number, cols: number, opts: SubsampleOptions = {}): { index: Int32Array; extreme: Uint8Array } {
  const n = rows * cols;
  if (x.length !== n) throw new RangeError(`subsampleMapping: x has ${x.length} values, expected rows x cols = ${rows} x ${cols} = ${n}`);
  const max = opts.maxPoints ?? DEFAULT_MAX_POINTS;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`subsampleMapping: maxPoints must be a positive integer, got ${String(max)}`);
  const isExtreme = new Uint8Array(n);
  if (n <= max) {
    markExtremes(x, rows, cols, opts.extremeCount ?? Math.ceil(max / 10), isExtreme);
    return { index: Int32Array.from({ length: n }, (_, i) => i), extreme: isExtreme };
  }
  markExtremes(x, rows, cols, opts.extremeCount ?? Math.ceil(max / 10), isExtreme);
  let extremes: number[] = [];
  for (let i = 0; i < n; i++) if (isExtreme[i]) extremes.push(i);
  if (extremes.length > max) {
    const mags = extremes.map((i) => Math.abs(x[i]!));
    extremes = topAbsIndices(mags, max).map((j) => extremes[j]!);
    isExtreme.fill(0);
    for (const i of extremes) isExtreme[i] = 1;
  }
  const keep = new Uint8Array(n);
  for (const i of extremes) keep[i] = 1;
  // Uniform sample of the others: partial Fisher-Yates over their indices, seeded.
  const others = new Int32Array(n - extremes.length);
  for (let i = 0, j = 0; i < n; i++) if (!isExtreme[i]) others[j++] = i;
  const want = Math.min(max - extremes.length, others.length);
  const rng = new Rng(opts.seed ?? 0);
  for (let i = 0; i < want; i++) {
    const j = i + Math.floor(rng.next() * (others.length - i));
    const t = others[i]!; others[i] = others[j]!; others[j] = t;
    keep[others[i]!] = 1;
  }
  const index = new Int32Array(extremes.length + want);
  const extreme = new Uint8Array(index.length);
  for (let i = 0, j = 0; i < n; i++) if (keep[i]) { index[j] = i; extreme[j++] = isExtreme[i]!; }
  return { index, extreme };
}

function markExtremes(x: Float32Array, rows: number, cols: number, count: number, out: Uint8Array): void {
  for (let r = 0; r < rows; r++) {
    let best = r * cols;
    for (let c = 1; c < cols; c++) if (Math.abs(x[r * cols + c]!) > Math.abs(x[best]!)) best = r * cols + c;
    out[best] = 1;
  }
  for (let c = 0; c < cols; c++) {
    let best = c;
    for (let r = 1; r < rows; r++) if (Math.abs(x[r * cols + c]!) > Math.abs(x[best]!)) best = r * cols + c;
    out[best] = 1;
  }
  for (const i of topAbsIndices(x, Math.min(count, x.length))) out[i] = 1;
}

/** Pick the kept points of a full mapping. */
export function pickPoints(x: Float32Array, y: Float32Array, cols: number, sel: { index: Int32Array; extreme: Uint8Array }): MappingPoints {
  const m = sel.index.length;
  const out: MappingPoints = { x: new Float32Array(m), y: new Float32Array(m), token: new Int32Array(m), channel: new Int32Array(m), extreme: sel.extreme };
  for (let j = 0; j < m; j++) {
    const i = sel.index[j]!;
    out.x[j] = x[i]!; out.y[j] = y[i]!;
    out.token[j] = Math.floor(i / cols); out.channel[j] = i % cols;
  }
  return out;
}

export interface MappingOptions extends SubsampleOptions {
  /** Norm layers to map (module paths, e.g. ['blocks.0.norm1']); default every norm layer. */
  layers?: string[];
  /** Also return every point (x, y) of each layer, for fits on the full data. */
  keepFull?: boolean;
}

/** Anything with a forward pass, hook points and norm layers: the ViT and the LM. */
export interface MappableModel {
  apply(input: Tensor): Tensor;
  hookNames(): string[];
  normLayers(): { name: string; layer: NormLayer }[];
}

/** The mapping of every norm layer (or `opts.layers`) of `model` on one input batch. */
export function normMappings(model: MappableModel, input: Tensor, opts: MappingOptions = {}): LayerMapping[] {
  const all = model.normLayers();
  if (opts.layers) {
    const known = new Set(all.map((n) => n.name));
    const bad = opts.layers.filter((l) => !known.has(l));
    if (bad.length) throw new Error(`normMappings: no norm layer named ${bad.map((b) => `'${b}'`).join(', ')} (the model has ${[...known].join(', ')})`);
  }
  const chosen = opts.layers ? all.filter((n) => opts.layers!.includes(n.name)) : all;
  const { cache, dispose } = runWithCache(model, input, chosen.map((n) => `${n.name}.in`));
  try {
    return chosen.map(({ name, layer }) => {
      const xin = cache[`${name}.in`]!;
      const cols = layer.dim;
      const rows = xin.size / cols;
      const x = xin.dataSync() as Float32Array;
      const yT = tf.tidy(() => layer.normalize(xin));
      const y = yT.dataSync() as Float32Array;
      yT.dispose();
      const sel = subsampleMapping(x, rows, cols, opts);
      const alphaP = layer.namedParameters().find((p) => p.name === 'alpha');
      const a = alphaP ? alphaP.variable.dataSync() : undefined;
      return {
        layer: name, depth: all.findIndex((n) => n.name === name), kind: layer.spec.kind, label: normLabel(layer.spec),
        inputShape: [...xin.shape], tokens: rows, channels: cols, total: rows * cols,
        ...pickPoints(x, y, cols, sel),
        ...(a && a.length === 1 ? { alpha: a[0]! } : {}),
        ...(opts.keepFull ? { full: { x: Float32Array.from(x), y: Float32Array.from(y) } } : {}),
      };
    });
  } finally {
    dispose();
  }
}
