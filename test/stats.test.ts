// Statistics over seeds (src/experiments/stats.ts) and the sweep summaries
// built on them (src/experiments/sweep-summary.ts), against hand-computed
// values, closed forms and published tables.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  incompleteBeta, mean, pairedComparison, sampleStd, studentTCdf, studentTQuantile, studentTTwoSided, summarize,
} from '../src/experiments/stats.js';
import { openStore, type RunStore } from '../src/experiments/store/index.js';
import { expandSweep, type SweepGrid } from '../src/experiments/sweep.js';
import { compareToBaseline, summarizeSweep, sweepCurves, sweepMatrix, sweepRuns } from '../src/experiments/sweep-summary.js';

const close = (a: number | null, b: number, tol: number, what: string) => {
  assert.ok(a !== null && Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
};

describe('Student t', () => {
  test('quantiles match tables (3-4 decimals) and the closed forms for 1 and 2 degrees of freedom (1e-9)', () => {
    // Published two-sided critical values.
    const table: [number, number, number][] = [
      [0.975, 4, 2.776], [0.975, 1, 12.706], [0.975, 2, 4.303], [0.975, 10, 2.228], [0.95, 5, 2.015],
      [0.995, 3, 5.841], [0.975, 30, 2.042], [0.975, 120, 1.980], [0.9, 7, 1.415],
    ];
    for (const [p, df, t] of table) assert.ok(Math.abs(studentTQuantile(p, df) - t) < 6e-4, `t(${p}, ${df}) = ${studentTQuantile(p, df)}, table ${t}`);
    for (const p of [0.6, 0.9, 0.975, 0.999, 0.9999]) {
      close(studentTQuantile(p, 1), Math.tan(Math.PI * (p - 0.5)), 1e-9, `df 1 (Cauchy), p ${p}`);
      close(studentTQuantile(p, 2), (2 * p - 1) / Math.sqrt(2 * p * (1 - p)), 1e-9, `df 2, p ${p}`);
      close(studentTQuantile(1 - p, 3), -studentTQuantile(p, 3), 1e-12, 'symmetry');
    }
    close(studentTQuantile(0.975, 1e7), 1.959964, 1e-5, 'large df -> normal');
    assert.equal(studentTQuantile(0.5, 3), 0);
    assert.throws(() => studentTQuantile(1, 3), /p = 1 must be strictly between 0 and 1/);
    assert.throws(() => studentTQuantile(0.9, 0), /degrees of freedom = 0/);
  });

  test('CDF and two-sided p against the closed forms; the incomplete beta against its special cases', () => {
    for (const t of [-3, -0.5, 0, 0.7, 2, 10]) {
      close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-12, `cdf df 1 at ${t}`);
      close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-12, `cdf df 2 at ${t}`);
      close(studentTTwoSided(t, 2), 1 - Math.abs(t) / Math.sqrt(2 + t * t), 1e-12, `p df 2 at ${t}`);
    }
    close(studentTTwoSided(2.7764451, 4), 0.05, 1e-7, 'p at the 97.5% point, df 4');
    for (const x of [0.1, 0.5, 0.93]) {
      close(incompleteBeta(x, 3, 1), x ** 3, 1e-12, 'I_x(a, 1) = x^a');
      close(incompleteBeta(x, 1, 2.5), 1 - (1 - x) ** 2.5, 1e-12, 'I_x(1, b) = 1 - (1-x)^b');
    }
    close(incompleteBeta(0.5, 7.5, 7.5), 0.5, 1e-12, 'I_1/2(a, a) = 1/2');
  });
});

describe('summaries and paired comparisons', () => {
  test('mean, std and the 95% interval of [1..5] by hand', () => {
    const s = summarize([1, 2, 3, 4, 5]);
    assert.equal(s.n, 5);
    assert.equal(s.mean, 3);
    close(s.std, Math.sqrt(2.5), 1e-12, 'std');
    close(s.sem, Math.sqrt(2.5 / 5), 1e-12, 'sem');
    close(s.halfWidth, 2.7764451052 * Math.sqrt(0.5), 1e-9, 'half width = t(0.975, 4) * sem');
    close(s.ciLow, 3 - 2.7764451052 * Math.sqrt(0.5), 1e-9, 'ci low');
    assert.equal(mean([2, 4]), 3);
    close(sampleStd([2, 4]), Math.SQRT2, 1e-12, 'sampleStd');
    assert.ok(Number.isNaN(sampleStd([1])));
    const s90 = summarize([1, 2, 3, 4, 5], 0.9);
    close(s90.halfWidth, 2.131847 * Math.sqrt(0.5), 1e-6, '90% uses t(0.95, 4) = 2.1318');
  });

  test('n = 1 and n = 0 give no spread and no interval, and say so; non-finite values are refused', () => {
    const one = summarize([0.7]);
    assert.deepEqual([one.mean, one.std, one.ciLow, one.ciHigh], [0.7, null, null, null]);
    assert.match(one.note!, /n = 1/);
    assert.match(summarize([]).note!, /no values/);
    assert.throws(() => summarize([1, NaN]), /value \[1\] = NaN is not a finite number/);
    assert.throws(() => summarize([1, 2], 1.5), /confidence level = 1.5/);
  });

  test('paired by seed: diffs 1, 2, 3 give mean 2, t = 2 sqrt 3, p from the df-2 closed form; unmatched seeds listed', () => {
    const c = pairedComparison({ 0: 2, 1: 3, 2: 4, 7: 9 }, new Map<number, number>([[0, 1], [1, 1], [2, 1], [5, 0]]));
    assert.equal(c.n, 3);
    assert.deepEqual(c.pairs.map((p) => p.diff), [1, 2, 3]);
    assert.equal(c.meanDiff, 2);
    close(c.stdDiff, 1, 1e-12, 'std of the differences');
    close(c.t, 2 * Math.sqrt(3), 1e-12, 't');
    assert.equal(c.df, 2);
    const t = 2 * Math.sqrt(3);
    close(c.p, 1 - t / Math.sqrt(2 + t * t), 1e-10, 'p');
    close(c.ciHigh, 2 + 4.30265273 / Math.sqrt(3), 1e-8, 'ci high');
    assert.deepEqual(c.treatmentOnly, ['7']);
    assert.deepEqual(c.baselineOnly, ['5']);
    assert.match(c.note!, /2 seed\(s\) without a partner/);
  });

  test('paired edge cases: one pair, no pairs, identical differences, duplicate seeds', () => {
    const one = pairedComparison([[0, 5]], [[0, 3], [1, 2]]);
    assert.deepEqual([one.n, one.meanDiff, one.ciLow, one.p], [1, 2, null, null]);
    assert.match(one.note!, /n = 1 pair/);
    const none = pairedComparison({ 0: 1 }, { 1: 1 });
    assert.deepEqual([none.n, none.meanDiff], [0, null]);
    assert.match(none.note!, /no seeds in common/);
    const same = pairedComparison({ 0: 2, 1: 3 }, { 0: 1, 1: 2 });
    assert.deepEqual([same.meanDiff, same.ciLow, same.ciHigh, same.p], [1, 1, 1, 0]);
    assert.throws(() => pairedComparison([[0, 1], [0, 2]], {}), /seed 0 appears twice/);
  });
});

describe('sweep summaries from a store', () => {
  const BASE = {
    model: { kind: 'lm', context: 16, dModel: 16, nLayers: 1, nHeads: 2 },
    data: { dataset: 'markov', vocabSize: 16, branching: 3, length: 4000 },
    train: { steps: 20, batchSize: 8, lr: 0.01 },
  };
  const grid: SweepGrid = expandSweep({
    name: 'summary', base: BASE,
    variants: { norm: { ln: { 'model.norm': { kind: 'layernorm' } }, dyt: { 'model.norm': { kind: 'dyt' } } } },
    axes: { 'train.lr': [0.01, 0.001] },
    seeds: [0, 1, 2],
  });
  // Final val/loss by (norm, lr, seed); 'div' diverged at step 7; undefined: never run.
  const plan: Record<string, (number | 'div' | undefined)[]> = {
    'ln|0.01': [1.0, 1.2, 1.4], 'ln|0.001': [2.0, 2.1, 2.5],
    'dyt|0.01': [1.5, 'div', 1.9], 'dyt|0.001': [2.2, undefined, undefined],
  };
  function fill(): RunStore {
    const store = openStore(':memory:');
    for (const p of grid.points) {
      const v = plan[`${p.labels.norm}|${p.labels['train.lr']}`]![p.seed];
      if (v === undefined) continue;
      const run = store.createRun({ config: p.resolved, kind: 'lm', seed: p.seed, backend: { backend: 'cpu' } });
      store.startRun(run.id);
      if (v === 'div') {
        store.logMetrics(run.id, 5, { 'val/loss': 3 });
        store.finishRun(run.id, { status: 'diverged', step: 7, reason: 'loss is NaN' });
      } else {
        store.logMetrics(run.id, 10, { 'val/loss': v + 1 });
        store.logMetrics(run.id, 20, { 'val/loss': v });
        store.finishRun(run.id, { status: 'finished', step: 20 });
      }
    }
    return store;
  }

  test('summarizeSweep: one row per group with mean, std, interval, n, diverged and missing', () => {
    const store = fill();
    const rows = summarizeSweep(store, grid, 'val/loss', { columns: ['model.norm.kind'] });
    assert.deepEqual(rows.map((r) => r.group), ['norm=ln, train.lr=0.01', 'norm=ln, train.lr=0.001', 'norm=dyt, train.lr=0.01', 'norm=dyt, train.lr=0.001']);
    const [a, b, c, d] = rows as [typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0]];
    assert.deepEqual([a.norm, a['train.lr'], a['model.norm.kind']], ['ln', 0.01, 'layernorm']);
    close(a.mean, 1.2, 1e-12, 'mean');
    close(a.std, 0.2, 1e-12, 'std');
    close(a.ciHigh, 1.2 + 4.30265273 * 0.2 / Math.sqrt(3), 1e-8, 'ci high');
    assert.deepEqual([a.n, a.diverged, a.missing], [3, 0, 0]);
    close(b.mean, 6.6 / 3, 1e-12, 'mean ln 0.001');
    assert.deepEqual([c.n, c.diverged, c.divergedAt, c.missing], [2, 1, [7], 0]);
    close(c.mean, 1.7, 1e-12, 'mean leaves the diverged seed out');
    assert.match(c.note!, /1 diverged/);
    assert.deepEqual([d.n, d.mean, d.std, d.ciLow, d.missing], [1, 2.2, null, null, 2]);
    assert.match(d.note!, /n = 1/);
    // min over the series instead of the last value: the same here (losses fall), max differs.
    const mx = summarizeSweep(store, grid, 'val/loss', { reduce: 'max' });
    close(mx[0]!.mean, 2.2, 1e-12, 'max of each run is its step-10 value');
    // Grouping by one axis pools the other.
    const byNorm = summarizeSweep(store, grid, 'val/loss', { by: ['norm'] });
    assert.deepEqual(byNorm.map((r) => [r.group, r.n]), [['norm=ln', 6], ['norm=dyt', 3]]);
    assert.throws(() => summarizeSweep(store, grid, 'val/loss', { by: ['lr'] }), /"lr" is not an axis/);
    const runs = sweepRuns(store, grid, 'val/loss');
    assert.deepEqual(runs.map((r) => r.state), ['finished', 'finished', 'finished', 'finished', 'finished', 'finished', 'finished', 'diverged', 'finished', 'finished', 'missing', 'missing']);
    assert.equal(runs[7]!.step, 7);
    assert.equal(runs[7]!.value, 3);
    store.close();
  });

  test('compareToBaseline pairs each group with the baseline at the same learning rate, by seed', () => {
    const store = fill();
    const cmp = compareToBaseline(store, grid, 'val/loss', { norm: 'ln' });
    assert.deepEqual(cmp.map((r) => [r.group, r.baseline]), [
      ['norm=dyt, train.lr=0.01', 'norm=ln, train.lr=0.01'], ['norm=dyt, train.lr=0.001', 'norm=ln, train.lr=0.001'],
    ]);
    // dyt 0.01: seeds 0, 2 -> diffs 0.5, 0.5: no spread.
    close(cmp[0]!.meanDiff, 0.5, 1e-12, 'mean diff');
    assert.equal(cmp[0]!.n, 2);
    assert.ok(cmp[0]!.p! < 1e-9, 'equal differences: no spread, p ~ 0');
    assert.deepEqual(cmp[0]!.baselineOnly, ['1']);
    // dyt 0.001: seed 0 only -> one pair.
    assert.equal(cmp[1]!.n, 1);
    close(cmp[1]!.meanDiff, 0.2, 1e-12, 'one pair');
    assert.throws(() => compareToBaseline(store, grid, 'val/loss', { kind: 'ln' }), /"kind" is not a grouping axis/);
    store.close();
  });

  test('sweepMatrix lays groups on two axes and marks all-diverged cells; sweepCurves averages finished runs', () => {
    const store = fill();
    const rows = summarizeSweep(store, grid, 'val/loss');
    const m = sweepMatrix(rows, 'train.lr', 'norm');
    assert.deepEqual(m.x, [0.01, 0.001]);
    assert.deepEqual(m.y, ['ln', 'dyt']);
    close(m.z[1]![0]!, 1.7, 1e-12, 'z[dyt][0.01]');
    assert.deepEqual(m.diverged, [[false, false], [false, false]]);
    assert.deepEqual(m.partial, [['', ''], ['1/3 diverged', '']]);
    const one = sweepMatrix(rows.map((r) => (r.group === 'norm=dyt, train.lr=0.01' ? { ...r, n: 0, mean: null, diverged: 3 } : r)), 'train.lr', 'norm');
    assert.deepEqual(one.diverged, [[false, false], [true, false]]);
    assert.equal(one.z[1]![0], null);
    const pooled = summarizeSweep(store, grid, 'val/loss', { by: ['norm'] });
    assert.throws(() => sweepMatrix(pooled, 'train.lr', 'norm'), /no column "train.lr"/);
    const curves = sweepCurves(store, grid, 'val/loss');
    const ln = curves.find((c) => c.name === 'norm=ln, train.lr=0.01')!;
    assert.deepEqual(ln.x, [10, 20]);
    close(ln.y[0]!, 2.2, 1e-12, 'mean at step 10');
    assert.equal(ln.n, 3);
    store.close();
  });
});
