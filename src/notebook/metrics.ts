// How the experiment notebooks read and write a metric: accuracy in percent
// (higher is better) or loss in nats (lower is better), the validation name it
// is chosen on and the test name it is reported on, and what a model that
// learned (almost) nothing scores (chance for MNIST, the unigram model for
// Moby-Dick). Formatting is pure; only lossMetric() with no argument reads the
// corpus (once) for the unigram floor.
import { corpusUnigramBaseline, loadMobyDick, mobyDickValTestSplit } from '../data/text.js';
import type { SweepSummaryRow } from '../experiments/sweep-summary.js';

export interface Metric {
  model: 'vit' | 'lm';
  /** Chosen on (validation) and reported on (test): store metric names. */
  metric: string;
  testMetric: string;
  /** Table label of the value, e.g. 'accuracy (%)'. */
  label: string;
  higher: boolean;
  /** Display = value * scale, with `digits` decimals and `unit` after it; differences in `diffUnit`. */
  scale: number;
  digits: number;
  unit: string;
  diffUnit: string;
  /** What learning nothing scores on validation and on test, and how close to it counts as "learned little". */
  floor: number;
  testFloor: number;
  margin: number;
}

/** MNIST accuracy: chance is 10%; below 20% (twice chance) a run learned little. */
export const ACC: Metric = {
  model: 'vit', metric: 'val/accuracy', testMetric: 'test/accuracy', label: 'accuracy (%)', higher: true, scale: 100, digits: 1,
  unit: '%', diffUnit: 'pp', floor: 0.1, testFloor: 0.1, margin: 0.1,
};

let unigramCache: { val: number; test: number } | undefined;
/** The unigram (character frequency) model's loss on the validation and the test half of Moby-Dick's held-out chapters. */
export function unigramLosses(): { val: number; test: number } {
  if (!unigramCache) {
    const c = loadMobyDick({ level: 'char' });
    const h = mobyDickValTestSplit({ level: 'char' });
    unigramCache = { val: corpusUnigramBaseline({ ...c, val: h.val }), test: corpusUnigramBaseline({ ...c, val: h.test }) };
  }
  return unigramCache;
}

/** Moby-Dick loss in nats per character; a run less than 0.05 nats below the unigram model learned little. */
export function lossMetric(unigram: { val: number; test: number } = unigramLosses()): Metric {
  for (const k of ['val', 'test'] as const) {
    if (!Number.isFinite(unigram[k]) || unigram[k] <= 0) throw new RangeError(`lossMetric: unigram.${k} = ${String(unigram[k])} is not a loss > 0`);
  }
  return {
    model: 'lm', metric: 'val/loss', testMetric: 'test/loss', label: 'loss (nats)', higher: false, scale: 1, digits: 3, unit: '', diffUnit: 'nats',
    floor: unigram.val, testFloor: unigram.test, margin: 0.05,
  };
}

/** The metric of a model family: accuracy for the ViT, loss for the LM. */
export function metricFor(model: 'vit' | 'lm'): Metric {
  if (model === 'vit') return ACC;
  if (model === 'lm') return lossMetric();
  throw new RangeError(`metricFor: model = ${String(model)} is not 'vit' or 'lm'`);
}

const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export { ok as isFiniteNumber };

/** What "learned little" means on a split, in words (the floor of that split). */
export function littleTextFor(m: Metric, split: 'val' | 'test' = 'val'): string {
  if (m.higher) return `below ${show(m.floor + m.margin, m)} accuracy, twice chance`;
  return `less than ${m.margin} nats below the unigram model's ${(split === 'val' ? m.floor : m.testFloor).toFixed(3)} on ${split === 'val' ? 'validation' : 'test'}`;
}

/** Did a run that ended at v (not diverged) learn little: within the margin of the floor of that split? */
export function learnedLittle(v: number | null | undefined, m: Metric, split: 'val' | 'test' = 'val'): boolean {
  const floor = split === 'val' ? m.floor : m.testFloor;
  return ok(v) && (m.higher ? v < floor + m.margin : v > floor - m.margin);
}
/** A table cell: the metric in its display unit with one more digit, null when there is none. */
export function cell(v: number | null | undefined, m: Metric): number | null {
  return ok(v) ? Number((v * m.scale).toFixed(m.digits + 1)) : null;
}
/** "97.1%" or "2.345"; "n/a" when there is no value. */
export function show(v: number | null | undefined, m: Metric): string {
  return ok(v) ? `${(v * m.scale).toFixed(m.digits)}${m.unit}` : 'n/a';
}
/** A difference with its sign, at display precision: "+1.2", "-0.031", "±0.0" when it rounds to 0. */
export function signed(v: number, m: Metric): string {
  const r = Number((v * m.scale).toFixed(m.digits));
  return `${r > 0 ? '+' : r < 0 ? '-' : '±'}${Math.abs(r).toFixed(m.digits)}`;
}
/** "+1.2 pp", "-0.031 nats". */
export function showDiff(v: number | null | undefined, m: Metric): string {
  return ok(v) ? `${signed(v, m)} ${m.diffUnit}` : 'n/a';
}
/** A difference's interval with its degrees of freedom: "95% t CI [-0.4, +2.8], df 2". */
export function showCI(lo: number | null | undefined, hi: number | null | undefined, df: number | null | undefined, m: Metric): string {
  if (!ok(lo) || !ok(hi) || !ok(df)) return 'no interval (fewer than 2 pairs)';
  return `95% t CI [${signed(lo, m)}, ${signed(hi, m)}], df ${df}`;
}
/** A mean with its interval over n runs (df n - 1): "97.1% (95% t CI 96.5% to 97.7%, df 2)". */
export function showMeanCI(x: { mean: number | null; ciLow: number | null; ciHigh: number | null; n: number }, m: Metric): string {
  if (!ok(x.mean)) return `n/a (n = ${x.n})`;
  return ok(x.ciLow) && ok(x.ciHigh) && x.n > 1
    ? `${show(x.mean, m)} (95% t CI ${show(x.ciLow, m)} to ${show(x.ciHigh, m)}, df ${x.n - 1})`
    : `${show(x.mean, m)} (n = ${x.n}, no interval)`;
}
/** Is a better than b on this metric? */
export function better(a: number, b: number, m: Metric): boolean {
  return m.higher ? a > b : a < b;
}
/**
 * How an interval of a difference (a minus b) reads: 'a better' or 'b better'
 * when it excludes 0, 'unresolved' when it contains 0 (or there is none).
 */
export function intervalReading(lo: number | null | undefined, hi: number | null | undefined, m: Metric): 'a better' | 'b better' | 'unresolved' {
  if (!ok(lo) || !ok(hi) || (lo <= 0 && hi >= 0)) return 'unresolved';
  const aAbove = lo > 0;
  return aAbove === m.higher ? 'a better' : 'b better';
}
/** The unit of differences, as the study's formatInterval and describeComparison take it. */
export function diffUnitOf(m: Metric): { scale: number; digits: number; unit: string } {
  return { scale: m.scale, digits: m.digits, unit: m.diffUnit };
}
/** A sweep summary row's values as [seed, value] pairs, for pairedComparison. */
export function pairs(r: Pick<SweepSummaryRow, 'values'>): [number, number][] {
  return r.values.map((v) => [v.seed, v.value] as [number, number]);
}
export const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];
