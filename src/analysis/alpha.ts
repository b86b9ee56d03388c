// alpha vs 1/std: the paper's observation that a DyT layer's alpha tracks the
// inverse standard deviation of its input, during training and across layers.
// Pure functions over the run store's trace rows (store.traces(runId)).
import { Rng } from '../data/rng.js';

export interface TracePoint { step: number; layer: string; alpha: number | null; inputStd: number }

export interface LayerTrace { layer: string; step: number[]; alpha: number[]; invStd: number[] }

/** Per layer, in step order: alpha and 1/std of the layer's input (layers without alpha are left out). */
export function alphaTraces(rows: readonly TracePoint[]): LayerTrace[] {
  const by = new Map<string, TracePoint[]>();
  for (const r of rows) {
    if (r.alpha === null || !Number.isFinite(r.alpha)) continue;
    let list = by.get(r.layer);
    if (!list) by.set(r.layer, (list = []));
    list.push(r);
  }
  return [...by].map(([layer, list]) => {
    list.sort((a, b) => a.step - b.step);
    return { layer, step: list.map((r) => r.step), alpha: list.map((r) => r.alpha!), invStd: list.map((r) => 1 / r.inputStd) };
  });
}

function checkPair(x: ArrayLike<number>, y: ArrayLike<number>, what: string): void {
  if (x.length !== y.length) throw new Error(`${what}: x and y have different lengths (${x.length} vs ${y.length})`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!) || !Number.isFinite(y[i]!)) throw new Error(`${what}: non-finite value at index ${i}`);
  }
}

/** Pearson's r; NaN when there are fewer than 3 points or a side is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPair(x, y, 'pearson');
  const n = x.length;
  if (n < 3) return NaN;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]!; my += y[i]!; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx, dy = y[i]! - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Ranks from 1, ties get their average rank. */
export function ranks(x: ArrayLike<number>): number[] {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a]! - x[b]!);
  const r = new Array<number>(x.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]!] === x[idx[i]!]) j++;
    for (let k = i; k <= j; k++) r[idx[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's rho: Pearson's r of the ranks (ties averaged). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPair(x, y, 'spearman');
  return pearson(ranks(x), ranks(y));
}

export interface AlphaVsStd {
  step: number;
  layers: string[];
  alpha: number[];
  invStd: number[];
  pearson: number;
  spearman: number;
  /** Why a correlation is NaN, if it is. */
  note?: string;
}

/** Across layers at one step (default: the last step every layer has): alpha against 1/std. */
export function alphaVsInvStd(rows: readonly TracePoint[], opts: { step?: number } = {}): AlphaVsStd {
  const traces = alphaTraces(rows);
  if (!traces.length) throw new Error('alphaVsInvStd: no trace rows with an alpha (is this a DyT run?)');
  const common = traces.map((t) => new Set(t.step)).reduce((a, b) => new Set([...a].filter((s) => b.has(s))));
  const step = opts.step ?? Math.max(...common);
  if (!common.has(step)) throw new Error(`alphaVsInvStd: step ${step} is not traced for every layer (traced: ${[...common].slice(0, 10).join(', ')}...)`);
  const at = traces.map((t) => t.step.indexOf(step));
  const alpha = traces.map((t, i) => t.alpha[at[i]!]!), invStd = traces.map((t, i) => t.invStd[at[i]!]!);
  const out: AlphaVsStd = { step, layers: traces.map((t) => t.layer), alpha, invStd, pearson: pearson(alpha, invStd), spearman: spearman(alpha, invStd) };
  if (Number.isNaN(out.pearson)) out.note = traces.length < 3 ? `only ${traces.length} layers with alpha: a correlation needs 3` : 'alpha or 1/std is constant across layers';
  return out;
}

/**
 * Two-sided permutation p-value of a correlation (Pearson, or Spearman with `rank`): the share of
 * `permutations` seeded shuffles of y whose |r| reaches the observed |r| (with the +1 correction).
 * With 9 layers a correlation of 0.6 is not much evidence; this says how much.
 */
export function permutationPValue(x: ArrayLike<number>, y: ArrayLike<number>, opts: { permutations?: number; seed?: number; rank?: boolean } = {}): number {
  const f = opts.rank ? spearman : pearson;
  const observed = Math.abs(f(x, y));
  if (Number.isNaN(observed)) return NaN;
  const n = opts.permutations ?? 10_000;
  const rng = new Rng(opts.seed ?? 0);
  const yy = Array.from(y);
  let hits = 0;
  for (let k = 0; k < n; k++) {
    for (let i = yy.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const t = yy[i]!; yy[i] = yy[j]!; yy[j] = t;
    }
    if (Math.abs(f(x, yy)) >= observed - 1e-12) hits++;
  }
  return (hits + 1) / (n + 1);
}
