// The notebook library (src/notebook/): the "what was trained" table, metric
// formatting, verdict pieces. Expected cells are written by hand from the
// configs, not computed by the code under test.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveRun } from '../src/experiments/run-config.js';
import { trainedTable, trainedTableFromRows, statusText, normSummary, alpha0Label } from '../src/notebook/trained.js';
import {
  ACC, lossMetric, cell, show, signed, showDiff, showCI, showMeanCI, better, learnedLittle, littleTextFor, intervalReading, metricFor,
} from '../src/notebook/metrics.js';
import {
  choiceStateText, triedText, choiceTable, compareTo, comparisonText, rowsHeader, orderingText, edgeText, failuresText, lrChart, choiceChart,
} from '../src/notebook/verdicts.js';
import { stabilityRows, stabilityText, finalAlphaRows, statusGrid } from '../src/notebook/stability.js';
import { sweepTrainedEntries } from '../src/notebook/sweeps.js';
import { experimentRows } from '../src/notebook/source.js';
import { statusClass, statusCellText, statusMap } from '../src/viz/status-map.js';
import { chooseLearningRates } from '../src/study/select.js';
import type { StudyRow } from '../src/study/rows.js';
import { openStore } from '../src/experiments/store/index.js';
import { expandSweep } from '../src/experiments/sweep.js';

const lm = (model: Record<string, unknown>, train: Record<string, unknown> = {}) => resolveRun({
  model: { kind: 'lm', context: 32, dModel: 64, nLayers: 2, nHeads: 4, mlp: 'gelu', ...model },
  data: { dataset: 'moby-dick', level: 'char' },
  train: { steps: 200, batchSize: 16, lr: 0.001, ...train },
});
const vit = (model: Record<string, unknown>, train: Record<string, unknown> = {}) => resolveRun({
  model: { kind: 'vit', dModel: 64, nLayers: 4, nHeads: 4, patchSize: 7, mlpRatio: 2, ...model },
  data: { dataset: 'mnist' },
  train: { steps: 240, batchSize: 64, lr: 0.003, ...train },
});

describe('trainedTable', () => {
  test('one row per entry with hand-written cells', () => {
    const rows = trainedTable([
      { label: 'layernorm', config: lm({ norm: { kind: 'layernorm' } }), seeds: [2, 0, 1], statuses: { ok: 3 } },
      {
        label: 'tanh', config: lm({ norm: { kind: 'dyt', alpha0: 1 }, embedScale: true }, { clipNorm: 0 }), seeds: [0, 1, 2],
        statuses: { ok: 2, diverged: 1, stalled: 1 }, lrs: [0.003, 0.001, 0.01, 0.003],
      },
      {
        label: 'skipinit', config: vit({ norm: { kind: 'identity' }, residual: { kind: 'skipinit', init: 0.1 } }), seeds: [0],
        statuses: { missing: 1, failed: 2 },
      },
      {
        label: 'split', config: lm({ norm: { kind: 'dyt', alpha0: 0.2 }, attnNorm: { kind: 'dyt', alpha0: 1 }, mlp: 'swiglu' }), seeds: [0],
        statuses: {},
      },
    ]);
    assert.deepEqual(rows, [
      { config: 'layernorm', model: 'LM d64 x2, GELU', norm: 'layernorm', steps: 200, batch: 16, lr: 0.001, MLP: 'GELU 4x', alpha0: '-', clip: 1, seeds: '0, 1, 2', status: '3 ok' },
      {
        config: 'tanh', model: 'LM d64 x2, GELU', norm: 'dyt-tanh', steps: 200, batch: 16, lr: '0.001, 0.003, 0.01', MLP: 'GELU 4x', alpha0: '1', clip: 'off',
        seeds: '0, 1, 2', status: '2 ok, 1 diverged, 1 stalled',
      },
      {
        config: 'skipinit', model: 'ViT d64 x4', norm: 'none + SkipInit 0.1', steps: 240, batch: 64, lr: 0.003, MLP: 'GELU 2x', alpha0: '-', clip: 1,
        seeds: '0', status: '2 failed, 1 missing',
      },
      {
        config: 'split', model: 'LM d64 x2, SwiGLU', norm: 'dyt-tanh', steps: 200, batch: 16, lr: 0.001, MLP: 'SwiGLU 2.67x',
        alpha0: 'attn 1 / mlp 0.2 / final 0.2', clip: 1, seeds: '0', status: 'no runs',
      },
    ]);
  });

  test('norm and alpha0 labels of the variants', () => {
    assert.equal(normSummary(vit({ norm: { kind: 'dyt', squash: 'sigmoid', alpha: 'fixed', alpha0: 1 } })), 'dyt-sigmoid (fixed alpha)');
    assert.equal(alpha0Label(vit({ norm: { kind: 'dyt', squash: 'sigmoid', alpha: 'fixed', alpha0: 1 } })), '1 (fixed)');
    assert.equal(alpha0Label(vit({ norm: { kind: 'dyt', alpha: 'none' } })), 'no alpha');
    // The default alpha0 of a DyT spec (0.5) when the config leaves it out.
    assert.equal(alpha0Label(vit({ norm: { kind: 'dyt' } })), '0.5');
    assert.equal(normSummary(vit({ norm: { kind: 'identity' }, fixup: true })), 'none + Fixup');
    assert.equal(normSummary(vit({ norm: { kind: 'identity' }, residual: { kind: 'rezero' } })), 'none + ReZero');
    assert.equal(normSummary(vit({ norm: { kind: 'layernorm' }, normPlacement: 'post' })), 'layernorm + post-norm');
    assert.equal(normSummary(vit({ norm: { kind: 'layernorm' }, linearReparam: 'sigma' })), 'layernorm + σReparam');
    assert.equal(normSummary(vit({ norm: { kind: 'dyisru' } })), 'dyisru');
    assert.equal(normSummary(vit({ norm: { kind: 'dyt', squash: 'erf' } })), 'dyt-erf');
    assert.equal(normSummary(vit({ norm: { kind: 'dyt', perChannelAlpha: true, affine: false } })), 'dyt-tanh (per-channel alpha, no affine)');
    assert.equal(normSummary(lm({ norm: { kind: 'rmsnorm' }, attnNorm: { kind: 'layernorm' } })), 'attn layernorm / mlp rmsnorm / final rmsnorm');
  });

  test('bad input is an error that names it', () => {
    assert.throws(() => statusText({ ok: 1, exploded: 2 } as never), /unknown status "exploded"/);
    assert.throws(() => statusText({ ok: 1.5 }), /ok = 1.5/);
    assert.throws(() => trainedTable([{ label: 'x', config: lm({}), seeds: [0], statuses: {}, lrs: [0.001, -1] }]), /entry "x": lrs/);
    assert.throws(() => trainedTable([{ label: 'x', config: {} as never, seeds: [0], statuses: {} }]), /entry 0 needs/);
  });
});

describe('metric formatting', () => {
  const LOSS = lossMetric({ val: 3, test: 3.1 });
  test('values, differences and intervals in display units (hand-written strings)', () => {
    assert.equal(show(0.97123, ACC), '97.1%');
    assert.equal(show(2.34567, LOSS), '2.346');
    assert.equal(show(null, ACC), 'n/a');
    assert.equal(cell(0.97123, ACC), 97.12);
    assert.equal(cell(2.34567, LOSS), 2.3457);
    assert.equal(cell(Number.NaN, ACC), null);
    assert.equal(signed(-0.00004, ACC), '±0.0');
    assert.equal(signed(-0.0123, LOSS), '-0.012');
    assert.equal(showDiff(0.0123, ACC), '+1.2 pp');
    assert.equal(showDiff(-0.0206, LOSS), '-0.021 nats');
    assert.equal(showCI(-0.004, 0.028, 2, ACC), '95% t CI [-0.4, +2.8], df 2');
    assert.equal(showCI(null, 0.028, null, ACC), 'no interval (fewer than 2 pairs)');
    assert.equal(showMeanCI({ mean: 0.9, ciLow: 0.88, ciHigh: 0.92, n: 3 }, ACC), '90.0% (95% t CI 88.0% to 92.0%, df 2)');
    assert.equal(showMeanCI({ mean: 2.5, ciLow: null, ciHigh: null, n: 1 }, LOSS), '2.500 (n = 1, no interval)');
  });
  test('direction, the floor of each split and how an interval reads', () => {
    assert.ok(better(0.9, 0.8, ACC) && !better(0.9, 0.8, LOSS));
    // Chance 10% + margin 10 points: below 20% learned little.
    assert.ok(learnedLittle(0.19, ACC) && !learnedLittle(0.21, ACC));
    // Unigram 3.0 (val) and 3.1 (test), margin 0.05: above 2.95 / 3.05 learned little.
    assert.ok(learnedLittle(2.96, LOSS) && !learnedLittle(2.94, LOSS));
    assert.ok(learnedLittle(3.06, LOSS, 'test') && !learnedLittle(3.04, LOSS, 'test'));
    assert.equal(littleTextFor(LOSS, 'test'), "less than 0.05 nats below the unigram model's 3.100 on test");
    assert.equal(littleTextFor(ACC), 'below 20.0% accuracy, twice chance');
    assert.equal(intervalReading(-0.01, 0.02, ACC), 'unresolved');
    assert.equal(intervalReading(0.01, 0.02, ACC), 'a better');
    assert.equal(intervalReading(0.01, 0.02, LOSS), 'b better');
    assert.equal(intervalReading(null, 0.02, LOSS), 'unresolved');
    assert.equal(metricFor('vit'), ACC);
    assert.throws(() => lossMetric({ val: Number.NaN, test: 3 }), /unigram.val = NaN/);
    assert.throws(() => metricFor('cnn' as never), /cnn/);
  });
});

/** A hand-made study: LayerNorm best at 0.003 (bracketed), DyT best at 0.009 (the upper edge); accuracy. */
function row(variant: string, lr: number, seed: number, status: StudyRow['status'], val: number | null, testV: number | null, alpha0: number | null = null): StudyRow {
  return {
    study: 'variants', model: 'vit', variant, seed, lr, alpha0, steps: 240, status, metric: 'val_accuracy', val_metric: val, test_metric: testV,
    mlp: null, clip_norm: 1, stopped_at: status === 'ok' ? 240 : 100, run_id: `${variant}-${lr}-${seed}`, config_hash: 'h', wall_seconds: 1,
  };
}
const ROWS: StudyRow[] = [
  ...[0, 1, 2].flatMap((s) => [
    row('layernorm', 0.001, s, 'ok', 0.80, 0.80), row('layernorm', 0.003, s, 'ok', 0.91, [0.90, 0.92, 0.94][s]!), row('layernorm', 0.009, s, 'ok', 0.85, 0.85),
    row('dyt-tanh', 0.001, s, 'ok', 0.70, 0.70, 0.5), row('dyt-tanh', 0.003, s, 'ok', 0.80, 0.80, 0.5),
    row('dyt-tanh', 0.009, s, 'ok', 0.90, [0.91, 0.95, 0.96][s]!, 0.5),
  ]),
];

describe('choices, comparisons and verdict pieces over study rows', () => {
  const cs = chooseLearningRates(ROWS);
  const [ln, dyt] = cs as [typeof cs[0], typeof cs[0]];
  test('choice states and the choice table', () => {
    assert.equal(choiceStateText(ln), 'bracketed');
    assert.equal(choiceStateText(dyt), 'at the upper edge: a lower bound');
    assert.equal(triedText(ln), '0.001, 0.003, 0.009');
    // Test at lr 0.003: 0.90, 0.92, 0.94: mean 0.92, sd 0.02, half-width t(0.975, 2) 4.302653 * 0.02 / sqrt 3 = 0.049683.
    const [t] = choiceTable([ln], ACC);
    assert.deepEqual(t, {
      variant: 'layernorm', 'chosen lr': 0.003, 'lrs tried': '0.001, 0.003, 0.009', choice: 'bracketed', seeds: 3, 'val accuracy (%)': 91,
      'test accuracy (%)': 92, 'test ci low': 87.03, 'test ci high': 96.97, df: 2, 'runs (every lr)': '9 ok, 0 diverged, 0 stalled',
    });
    assert.equal(edgeText(cs), 'Best at the edge of the lrs tried, so a lower bound on what the variant can do: dyt-tanh (lr 0.009 of 0.001, 0.003, 0.009).');
  });
  test('a failed neighbour: bracketed by the failure; failures counted', () => {
    const rows = ROWS.map((r) => (r.variant === 'layernorm' && r.lr === 0.009 && r.seed === 1 ? { ...r, status: 'diverged' as const, val_metric: null, test_metric: null } : r));
    const c = chooseLearningRates(rows)[0]!;
    assert.equal(choiceStateText(c), 'bracketed (a neighbour failed)');
    assert.equal(triedText(c), '0.001, 0.003, 0.009 (1 failed)');
    assert.equal(failuresText(chooseLearningRates(rows)), 'Failed runs (diverged or stalled, over every lr tried): layernorm 1 diverged, 0 stalled of 9.');
  });
  test('paired by seed, each at its own lr, with its t interval and degrees of freedom', () => {
    // dyt-tanh minus layernorm on test: 0.01, 0.03, 0.02: mean 0.02, sd 0.01, half 4.302653 * 0.01 / sqrt 3 = 0.024841 -> [-0.005, +0.045].
    const [c] = compareTo(cs, 'layernorm');
    assert.equal(comparisonText(c!, ACC), 'dyt-tanh minus layernorm (test): +2.0 pp (95% t CI [-0.5, +4.5], df 2), 3 pairs: unresolved');
    assert.equal(orderingText([dyt, ln], ACC), 'dyt-tanh >= layernorm holds by mean, unresolved: +2.0 pp (95% t CI [-0.5, +4.5], df 2), 3 pairs');
    assert.equal(orderingText([ln, undefined, { ...dyt, bestLr: null }], ACC), 'layernorm >= dyt-tanh holds (dyt-tanh failed at every lr)');
    assert.equal(compareTo(cs, 'rmsnorm').length, 0);
  });
  test('the header sentence and the figures', () => {
    assert.equal(rowsHeader('ViT on MNIST', ROWS, ACC), '**ViT on MNIST.** 18 runs (240 steps, seeds 0, 1, 2): 18 ok, 0 diverged, 0 stalled. ' +
      "Each variant's learning rate is chosen on validation accuracy; the numbers are on the test split, mean over seeds with 95% t intervals.");
    const lr = lrChart(cs, ACC, 't');
    assert.deepEqual(lr.data[0]!.x, [0.001, 0.003, 0.009]);
    assert.deepEqual(lr.data[0]!.y, [80, 91, 85]);
    const bars = choiceChart(cs, ACC, 't');
    assert.deepEqual(bars.data[0]!.x, ['layernorm', 'dyt-tanh']);
  });
  test('the what-was-trained table from rows without configs', () => {
    assert.deepEqual(trainedTableFromRows(ROWS.filter((r) => r.variant === 'dyt-tanh')), [{
      config: 'dyt-tanh', model: 'ViT', norm: 'dyt-tanh', steps: 240, batch: '-', lr: '0.001, 0.003, 0.009', MLP: 'GELU', alpha0: '0.5', clip: 1,
      seeds: '0, 1, 2', status: '9 ok',
    }]);
  });
});

describe('stability over variant x lr', () => {
  const rows: StudyRow[] = [0, 1, 2].flatMap((s) => [
    row('dyt-tanh a0=1', 0.001, s, 'ok', 0.9, 0.9, 1), row('dyt-tanh a0=1', 0.003, s, s === 0 ? 'stalled' : 'ok', 0.5, 0.5, 1),
    row('dyt-tanh a0=1', 0.009, s, 'diverged', null, null, 1),
    row('dyt-tanh a0=0.5', 0.001, s, 'ok', 0.9, 0.9, 0.5), row('dyt-tanh a0=0.5', 0.003, s, 'ok', 0.9, 0.9, 0.5), row('dyt-tanh a0=0.5', 0.009, s, 'ok', 0.9, 0.9, 0.5),
  ]);
  test('counts per cell, the edge of stability from below and the first failure', () => {
    const g = statusGrid(rows);
    assert.deepEqual(g.x, [0.001, 0.003, 0.009]);
    assert.deepEqual(g.y, ['dyt-tanh a0=1', 'dyt-tanh a0=0.5']);
    assert.deepEqual(g.counts[0], [{ ok: 3, stalled: 0, diverged: 0 }, { ok: 2, stalled: 1, diverged: 0 }, { ok: 0, stalled: 0, diverged: 3 }]);
    assert.deepEqual(stabilityRows(rows), [
      { variant: 'dyt-tanh a0=1', runs: 9, ok: 5, stalled: 1, diverged: 3, okUpTo: 0.001, firstFailure: 0.003 },
      { variant: 'dyt-tanh a0=0.5', runs: 9, ok: 9, stalled: 0, diverged: 0, okUpTo: 0.009, firstFailure: null },
    ]);
    assert.match(stabilityText(rows), /The largest alpha0 \(1\) was ok up to lr 0\.001, the smallest \(0\.5\) up to lr 0\.009: less stable, as the paper reports/);
    const none = rows.map((r) => ({ ...r, status: 'stalled' as const }));
    assert.match(stabilityText(none), /Neither the largest alpha0 \(1\) nor the smallest \(0\.5\) had every run ok at any lr tried/);
  });
  test('status classes, cell texts and the discrete map', () => {
    assert.equal(statusClass({ ok: 3, stalled: 0, diverged: 0 }), 0);
    assert.equal(statusClass({ ok: 2, stalled: 1, diverged: 0 }), 1);
    assert.equal(statusClass({ ok: 0, stalled: 3, diverged: 0 }), 2);
    assert.equal(statusClass({ ok: 0, stalled: 0, diverged: 3 }), 3);
    assert.equal(statusClass({ ok: 0, stalled: 1, diverged: 2 }), 4);
    assert.equal(statusClass({ ok: 0, stalled: 0, diverged: 0 }), null);
    assert.equal(statusClass(null), null);
    assert.throws(() => statusClass({ ok: -1, stalled: 0, diverged: 0 }), /ok = -1/);
    assert.equal(statusCellText({ ok: 2, stalled: 0, diverged: 1 }), '2 ok, 1 diverged');
    const g = statusGrid(rows);
    const spec = statusMap({ x: g.x.map(String), y: g.y, counts: g.counts });
    const t = spec.data[0] as { z: (number | null)[][]; text: string[][]; zmin: number; zmax: number; colorscale: [number, string][] };
    assert.deepEqual(t.z, [[0, 1, 3], [0, 0, 0]]);
    assert.deepEqual(t.text[0], ['3 ok', '2 ok, 1 stalled', '3 diverged']);
    assert.equal(t.zmin, -0.5);
    assert.equal(t.zmax, 4.5);
    // Five bands of one colour each: code k fills [k/5, (k+1)/5].
    assert.deepEqual(t.colorscale.map((c) => c[0]), [0, 0.2, 0.2, 0.4, 0.4, 0.6, 0.6, 0.8, 0.8, 1]);
    assert.equal(t.colorscale[2]![1], t.colorscale[3]![1]);
  });
  test('final alpha per variant at its chosen lr, from the last trace of each run', () => {
    const cs = chooseLearningRates(rows);
    // dyt-tanh a0=1 is chosen at 0.001 (0.9), its three runs; two layers each, last step 20.
    const traces = [0, 1, 2].flatMap((s) => [
      { variant: 'dyt-tanh a0=1', seed: s, lr: 0.001, run_id: `dyt-tanh a0=1-0.001-${s}`, step: 10, layer: 'blocks.0.norm1', alpha: 5 },
      { variant: 'dyt-tanh a0=1', seed: s, lr: 0.001, run_id: `dyt-tanh a0=1-0.001-${s}`, step: 20, layer: 'blocks.0.norm1', alpha: 1 + s },
      { variant: 'dyt-tanh a0=1', seed: s, lr: 0.001, run_id: `dyt-tanh a0=1-0.001-${s}`, step: 20, layer: 'blocks.0.norm2', alpha: 2 },
    ]);
    // Last-step alphas: 1, 2, 3 and 2, 2, 2: mean 2, min 1, max 3.
    assert.deepEqual(finalAlphaRows(traces, cs), [
      { variant: 'dyt-tanh a0=1', alpha0: 1, lr: 0.001, 'layers x seeds': 6, 'final alpha, mean': 2, min: 1, max: 3, 'mean / alpha0': 2 },
    ]);
  });
});

describe('sweep entries', () => {
  test("a sweep's variants with their configs, lrs and (here: missing) runs", () => {
    const store = openStore(':memory:');
    try {
      const grid = expandSweep(`${__dirname}/../configs/sweeps/squash-vit.json`, { profile: 'smoke' });
      const e = sweepTrainedEntries(store, grid);
      assert.deepEqual(e.map((x) => [x.label, x.lrs, x.seeds, x.statuses]), [
        ['layernorm', [0.003], [0], { missing: 1 }], ['tanh', [0.003], [0], { missing: 1 }], ['tanh fixed alpha', [0.003], [0], { missing: 1 }],
        ['hardtanh', [0.003], [0], { missing: 1 }], ['identity', [0.5], [0], { missing: 1 }],
      ]);
      assert.equal(e[0]!.config.data.testSplit, true, 'the smoke profile holds the test split out');
    } finally {
      store.close();
    }
  });
});

describe('experimentRows, profile study', () => {
  const fixture = `${__dirname}/fixtures/study/runs.csv`;
  test('reads one question of runs.csv, trains nothing, and builds the what-was-trained table from the study sweeps', async () => {
    const store = openStore(':memory:');
    try {
      const d = await experimentRows(store, { profile: 'study', study: 'stability', sweeps: { vit: 'never-read.json' }, path: fixture });
      assert.equal(d.source, 'study');
      // The fixture: 4 variants x 4 lrs x 3 seeds per family.
      assert.equal(d.rows.length, 96);
      assert.ok(d.rows.every((r) => r.study === 'stability'));
      assert.equal(store.listRuns().length, 0, 'nothing trained');
      const vitLn = d.trained.find((t) => t.config === 'layernorm' && String(t.model).startsWith('ViT'));
      assert.deepEqual(vitLn, {
        config: 'layernorm', model: 'ViT d64 x4', norm: 'layernorm', steps: 150, batch: 64, lr: '0.003, 0.009, 0.027, 0.081', MLP: 'GELU 2x',
        alpha0: '-', clip: 'off', seeds: '0, 1, 2', status: '10 ok, 2 diverged',
      });
      const some = await experimentRows(store, { profile: 'study', study: 'variants', sweeps: {}, path: fixture, variants: ['fixup'] });
      assert.deepEqual([...new Set(some.rows.map((r) => r.variant))], ['fixup']);
    } finally {
      store.close();
    }
  });
  test('a missing runs.csv: no rows, and the note says how to make it', async () => {
    const store = openStore(':memory:');
    try {
      const d = await experimentRows(store, { profile: 'study', study: 'variants', sweeps: {}, path: '/nonexistent/runs.csv' });
      assert.equal(d.rows.length, 0);
      assert.match(d.note, /\/nonexistent\/runs\.csv[^]*missing[^]*`dytlab study run`[^]*`dytlab study export`/);
    } finally {
      store.close();
    }
  });
});
