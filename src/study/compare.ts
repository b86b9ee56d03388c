// Two variants compared, each at its own learning rate (chosen on validation),
// paired by seed (same seed: same initialisation and data order), on the test
// split by default: the mean difference with its Student-t interval and degrees
// of freedom. An interval that contains 0 reads "unresolved", never "no effect".
import { pairedComparison } from '../experiments/stats.js';
import type { StudyModel } from './manifest.js';
import type { Interval, LrChoice } from './select.js';

export interface StudyComparison {
  model: StudyModel;
  /** a minus b. */
  a: string;
  b: string;
  split: 'val' | 'test';
  n: number;
  meanDiff: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  df: number | null;
  p: number | null;
  reading: 'a better' | 'b better' | 'unresolved' | 'no pairs';
  higherIsBetter: boolean;
  /** Seeds with a result on one side only (a failed run has none). */
  unpaired: number;
}

export function compareChoices(a: LrChoice, b: LrChoice, split: 'val' | 'test' = 'test'): StudyComparison {
  if (a.metric !== b.metric) throw new RangeError(`compareChoices: ${a.variant} (${a.metric}) and ${b.variant} (${b.metric}) measure different things`);
  const key = split === 'test' ? 'test_metric' : 'val_metric';
  const bySeed = (c: LrChoice) => c.atBest.filter((r) => r[key] !== null && Number.isFinite(r[key]!)).map((r) => [r.seed, r[key]!] as [number, number]);
  const cmp = pairedComparison(bySeed(a), bySeed(b));
  const hib = a.higherIsBetter;
  let reading: StudyComparison['reading'] = 'no pairs';
  if (cmp.n >= 2 && cmp.ciLow !== null && cmp.ciHigh !== null) {
    const lo = cmp.ciLow, hi = cmp.ciHigh;
    reading = lo <= 0 && hi >= 0 ? 'unresolved' : (lo > 0) === hib ? 'a better' : 'b better';
  } else if (cmp.n > 0) reading = 'unresolved';
  return {
    model: a.model, a: a.variant, b: b.variant, split, n: cmp.n, meanDiff: cmp.meanDiff, ciLow: cmp.ciLow, ciHigh: cmp.ciHigh,
    df: cmp.df, p: cmp.p, reading, higherIsBetter: hib, unpaired: cmp.treatmentOnly.length + cmp.baselineOnly.length,
  };
}

/** How a metric is shown: multiplied by scale, with digits, and a unit ("pp", "nats", "%"). */
export interface MetricUnit { scale: number; digits: number; unit: string }
export const LOSS_UNIT: MetricUnit = { scale: 1, digits: 3, unit: 'nats' };
export const ACCURACY_UNIT: MetricUnit = { scale: 100, digits: 1, unit: 'pp' };
export const unitOf = (c: { higherIsBetter: boolean }): MetricUnit => (c.higherIsBetter ? ACCURACY_UNIT : LOSS_UNIT);

const signed = (v: number, u: MetricUnit) => {
  const r = Number((v * u.scale).toFixed(u.digits));
  return `${r > 0 ? '+' : r < 0 ? '-' : '±'}${Math.abs(r).toFixed(u.digits)}`;
};
const plain = (v: number, u: MetricUnit) => (v * u.scale).toFixed(u.digits);

/**
 * "+1.2 pp (95% t CI [-0.4, +2.8], df 2)" for a difference, "91.3 (95% t CI [90.1, 92.5], df 2)" for a mean
 * (`signed: false`); one value: "(n = 1: no interval)".
 */
export function formatInterval(x: { mean?: number | null; meanDiff?: number | null; ciLow: number | null; ciHigh: number | null; df: number | null; n: number },
  unit: MetricUnit, opts: { signed?: boolean } = {}): string {
  const isDiff = opts.signed ?? x.meanDiff !== undefined;
  const m = x.meanDiff ?? x.mean ?? null;
  if (m === null) return 'n/a';
  const f = (v: number) => (isDiff ? signed(v, unit) : plain(v, unit));
  const u = isDiff || unit.unit === 'nats' ? ` ${unit.unit}` : unit.unit === 'pp' ? '%' : '';
  if (x.ciLow === null || x.ciHigh === null || x.df === null) return `${f(m)}${u} (n = ${x.n}: no interval)`;
  return `${f(m)}${u} (95% t CI [${f(x.ciLow)}, ${f(x.ciHigh)}], df ${x.df})`;
}

/** A mean with its interval, as formatInterval writes it (not signed). */
export const formatMean = (i: Interval, unit: MetricUnit): string => formatInterval(i, unit, { signed: false });

/** "dyt-tanh minus layernorm (test): -0.021 nats (95% t CI [-0.050, +0.010], df 2; 3 pairs): unresolved". */
export function describeComparison(c: StudyComparison, unit: MetricUnit = unitOf(c)): string {
  const read = c.reading === 'a better' ? `${c.a} better` : c.reading === 'b better' ? `${c.b} better` : c.reading;
  const left = c.unpaired ? `; ${c.unpaired} seed(s) without a partner left out` : '';
  return `${c.a} minus ${c.b} (${c.split}): ${formatInterval(c, unit)}, ${c.n} pair${c.n === 1 ? '' : 's'}${left}: ${read}`;
}
