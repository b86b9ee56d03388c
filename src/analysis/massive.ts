// Massive activations (Sun et al. 2024, "Massive Activations in Large Language
// Models"): a handful of activations, at fixed hidden dimensions and a few
// tokens (the first one, delimiters), that are orders of magnitude larger than
// the rest of the residual stream. Per layer this census gives the largest |x|,
// the median |x|, their ratio, the top-k values with the (token, dim) that carry
// them, and the values meeting Sun et al.'s criterion: |x| > minAbs (100) and
// |x| > minRatio (1000) times the layer's median |x|.
//
// massiveStats is the pure function over one [positions, features] activation;
// massiveActivations reads the residual stream after every block
// (blocks.{i}.resid.post) and the linear-layer inputs (outliers.ts's sites) of
// any HookedModel in one forward pass.
import { z } from 'zod';
import type { Tensor } from '../engine/tf.js';
import type { HookedModel } from '../models/types.js';
import { parseWith } from '../util/schema.js';
import { topAbsIndices } from './mapping.js';
import { collectActivations, toMatrix, SITE_KINDS, type Activation, type SiteKind } from './outliers.js';

export interface MassiveOptions {
  /** How many of the largest |x| to report per layer. Default 5. */
  topK?: number;
  /** Sun et al.'s absolute threshold: |x| > minAbs. Default 100. */
  minAbs?: number;
  /** Sun et al.'s relative threshold: |x| > minRatio * median |x| of the layer. Default 1000. */
  minRatio?: number;
  /** At most this many massive values are listed per layer (all are counted). Default 64. */
  maxListed?: number;
  /** Sequence length T when the positions are [batch * T] rows: each value's position is then split into (batch, pos). */
  seqLen?: number;
  /** Token ids, one per position (row), for LMs: reported with each value. */
  tokens?: ArrayLike<number>;
}

const positive = z.number().finite({ message: 'must be a finite number' }).positive({ message: 'must be > 0' });
const count = z.number().int({ message: 'must be an integer' }).positive({ message: 'must be > 0' });
const statsSchema = z.object({
  topK: count.optional(), minAbs: positive.optional(), minRatio: positive.optional(), maxListed: count.optional(), seqLen: count.optional(),
  tokens: z.any().optional(),
}).strict();

/** One value of an activation and where it is. */
export interface MassiveValue {
  value: number;
  abs: number;
  /** Row of the [positions, features] matrix. */
  row: number;
  /** Sequence index (batch) and position in the sequence (token position): row = batch * seqLen + pos. */
  batch: number;
  pos: number;
  /** Hidden dimension (feature). */
  dim: number;
  /** LMs: the token id at that position. */
  token?: number;
}

export interface MassiveStats {
  positions: number;
  features: number;
  maxAbs: number;
  /** Median of |x| over all positions * features values. */
  medianAbs: number;
  /** maxAbs / medianAbs (Infinity for a zero median and a non-zero max, NaN when all values are 0). */
  ratio: number;
  /** The topK largest |x|, largest first (ties: lower row, then lower dim). */
  top: MassiveValue[];
  /** How many values meet the criterion (|x| > minAbs and |x| > minRatio * median). */
  massiveCount: number;
  /** The first maxListed of them, largest first. */
  massive: MassiveValue[];
  /** Distinct dims and (batch, pos) rows among all massive values, ascending. */
  massiveDims: number[];
  massiveRows: number[];
  minAbs: number;
  minRatio: number;
}

/** Median of the |values| (float64; mean of the middle two for an even count; NaN when empty). */
export function medianAbs(data: ArrayLike<number>): number {
  const n = data.length;
  if (n === 0) return NaN;
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.abs(data[i]!);
  a.sort();
  const h = n >> 1;
  return n % 2 ? a[h]! : (a[h - 1]! + a[h]!) / 2;
}

/** The k largest |values| (mapping's topAbsIndices), largest first; ties: lower index first. */
function topIndices(data: ArrayLike<number>, k: number): number[] {
  return topAbsIndices(data, k).sort((i, j) => Math.abs(data[j]!) - Math.abs(data[i]!) || i - j);
}

/** The massive-activation statistics of one [positions, features] activation (3-D tensors are flattened). */
export function massiveStats(x: Activation, opts: MassiveOptions = {}): MassiveStats {
  const o = parseWith(statsSchema, opts, 'massiveStats options');
  const topK = o.topK ?? 5, minAbs = o.minAbs ?? 100, minRatio = o.minRatio ?? 1000, maxListed = o.maxListed ?? 64;
  const { data, shape: [n, d] } = toMatrix(x, 'massiveStats');
  const T = o.seqLen ?? n;
  const tokens = opts.tokens;
  if (tokens !== undefined && tokens.length !== n) throw new Error(`massiveStats: ${tokens.length} token ids for ${n} positions`);
  if (n % T !== 0) throw new Error(`massiveStats: ${n} positions are not a whole number of sequences of seqLen ${T}`);
  let maxAbs = 0;
  for (let i = 0; i < data.length; i++) { const a = Math.abs(data[i]!); if (a > maxAbs) maxAbs = a; }
  const med = medianAbs(data);
  const ratio = maxAbs === 0 ? NaN : maxAbs / med;
  const at = (i: number): MassiveValue => {
    const row = Math.floor(i / d), v = data[i]!;
    return { value: v, abs: Math.abs(v), row, batch: Math.floor(row / T), pos: row % T, dim: i % d, ...(tokens ? { token: tokens[row]! } : {}) };
  };
  const isMassive = (a: number) => a > minAbs && a > minRatio * med;
  const dims = new Set<number>(), rows = new Set<number>();
  let massiveCount = 0;
  for (let i = 0; i < data.length; i++) {
    if (isMassive(Math.abs(data[i]!))) { massiveCount++; dims.add(i % d); rows.add(Math.floor(i / d)); }
  }
  return {
    positions: n, features: d, maxAbs, medianAbs: med, ratio,
    top: topIndices(data, Math.min(topK, data.length)).map(at),
    massiveCount,
    // The criterion is a threshold on |x|: the largest min(maxListed, massiveCount) values are the massive ones.
    massive: massiveCount ? topIndices(data, Math.min(maxListed, massiveCount)).map(at) : [],
    massiveDims: [...dims].sort((a, b) => a - b), massiveRows: [...rows].sort((a, b) => a - b), minAbs, minRatio,
  };
}

export interface MassiveLayer extends MassiveStats {
  /** Hook name, e.g. 'blocks.3.resid.post'. */
  name: string;
  kind: SiteKind;
  block: number;
}

export interface MassiveCensus {
  /** Per site, in forward order. */
  layers: MassiveLayer[];
  /** The residual-stream rows (blocks.{i}.resid.post), by depth. */
  residual: MassiveLayer[];
  /** Sites with at least one massive value. */
  withMassive: string[];
  /** Over all sites: the largest maxAbs / medianAbs and where. */
  peak: { name: string; ratio: number; maxAbs: number } | null;
}

/** The linear-layer input sites of outliers.ts (every SiteKind but the residual stream). */
export const LINEAR_INPUT_SITES: readonly SiteKind[] = SITE_KINDS.filter((k) => k !== 'residual');

/**
 * The massive-activations census of `model` on `input` (one forward pass): the
 * residual stream after every block (blocks.{i}.resid.post) and, unless `sites`
 * says otherwise, the inputs of the linear layers. LM inputs (int32 [B, T] ids)
 * give each value its token id; positions are (batch, pos) within the sequence.
 */
export function massiveActivations(model: HookedModel, input: Tensor,
  opts: Omit<MassiveOptions, 'seqLen' | 'tokens'> & { sites?: readonly SiteKind[] } = {}): MassiveCensus {
  const { sites = [...LINEAR_INPUT_SITES, 'residual'], ...stat } = opts;
  const acts = collectActivations(model, input, { sites }).filter((a) => a.kind !== 'residual' || a.name.endsWith('.resid.post'));
  const lm = input.dtype === 'int32' && input.rank === 2;
  const tokens = lm ? (input.dataSync() as Int32Array) : undefined;
  const T = input.rank >= 2 && acts[0] ? acts[0].x.shape[0] / input.shape[0]! : undefined;
  const layers: MassiveLayer[] = acts.map((a) => ({
    name: a.name, kind: a.kind, block: a.block,
    ...massiveStats(a.x, { ...stat, ...(T && Number.isInteger(T) ? { seqLen: T } : {}), ...(tokens ? { tokens } : {}) }),
  }));
  let peak: MassiveCensus['peak'] = null;
  for (const l of layers) if (Number.isFinite(l.ratio) && (!peak || l.ratio > peak.ratio)) peak = { name: l.name, ratio: l.ratio, maxAbs: l.maxAbs };
  return { layers, residual: layers.filter((l) => l.kind === 'residual'), withMassive: layers.filter((l) => l.massiveCount > 0).map((l) => l.name), peak };
}
