// The study pipeline: the choice of learning rate on validation and the paired
// comparison on test against hand computations; runs.csv validation; and the
// whole path on the sweeps' smoke profile: `dytlab study run` into a store,
// `status`, `export` (CSV, Parquet, choices, traces), read back.
// Needs `npm run build` (the CLI's sweep workers run from dist/).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chooseLearningRates, compareChoices, describeComparison, formatInterval, readStudyRuns, readStudyTraces, choiceOf,
  LOSS_UNIT, ACCURACY_UNIT, STUDY_COLUMNS, STUDY_SWEEPS, type StudyRow,
} from '../src/index.js';
import { parquetToTable } from '../src/experiments/store/index.js';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-study-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

function row(variant: string, lr: number, seed: number, val: number | null, test: number | null, status: StudyRow['status'] = 'ok', model: 'lm' | 'vit' = 'lm'): StudyRow {
  return {
    study: 's', model, variant, seed, lr, alpha0: null, steps: 10, status, metric: model === 'lm' ? 'val_loss' : 'val_accuracy',
    val_metric: val, test_metric: test, mlp: null, clip_norm: 1, stopped_at: 10, run_id: `${variant}-${lr}-${seed}`, config_hash: 'h', wall_seconds: 1,
  };
}
const grid = (variant: string, byLr: Record<number, (number | 'div')[]>, test: (lr: number, seed: number) => number, model: 'lm' | 'vit' = 'lm') =>
  Object.entries(byLr).flatMap(([lr, vals]) => vals.map((v, seed) => (v === 'div'
    ? row(variant, Number(lr), seed, null, null, 'diverged', model) : row(variant, Number(lr), seed, v, test(Number(lr), seed), 'ok', model))));

describe('choosing on validation, reporting on test', () => {
  test('the lr with the best mean validation loss; a diverged seed makes its lr lose; test at the chosen lr', () => {
    const rows = grid('a', { 0.001: [3, 3.2, 3.1], 0.003: [2.0, 2.2, 2.1], 0.009: [1.5, 'div', 1.6] }, (lr, s) => lr * 1000 + s);
    const [c] = chooseLearningRates(rows);
    assert.equal(c!.bestLr, 0.003);
    assert.equal(c!.state, 'edge failed');
    assert.deepEqual(c!.tried.map((t) => [t.lr, t.n, t.failed]), [[0.001, 3, 0], [0.003, 3, 0], [0.009, 2, 1]]);
    assert.deepEqual(c!.atBest.map((r) => r.seed), [0, 1, 2]);
    // test values 3, 4, 5: mean 4, sd 1, t(0.975, 2) = 4.302653 (tables) -> half width 4.302653 / sqrt(3) = 2.484138
    assert.ok(Math.abs(c!.test.mean! - 4) < 1e-12);
    assert.ok(Math.abs(c!.test.ciLow! - (4 - 2.484138)) < 1e-5 && Math.abs(c!.test.ciHigh! - (4 + 2.484138)) < 1e-5);
    assert.equal(c!.test.df, 2);
    assert.deepEqual(c!.statuses, { ok: 8, diverged: 1, stalled: 0 });
  });

  test('an accuracy is maximised; a best value at the edge of the grid is "at edge"', () => {
    const [c] = chooseLearningRates(grid('v', { 0.001: [0.5, 0.5], 0.003: [0.7, 0.72] }, () => 0.6, 'vit'));
    assert.deepEqual([c!.bestLr, c!.state, c!.higherIsBetter], [0.003, 'at edge', true]);
  });

  test('paired by seed at each own lr: the t interval and its reading', () => {
    const rows = [
      ...grid('ln', { 0.001: [3, 3, 3], 0.003: [2, 2, 2], 0.009: [2.5, 2.5, 2.5] }, (_lr, s) => [2.0, 2.1, 2.2][s]!),
      ...grid('dyt', { 0.003: [2.5, 2.5, 2.5], 0.009: [2.1, 2.1, 2.1], 0.027: [2.6, 2.6, 2.6] }, (_lr, s) => [3.0, 4.1, 5.2][s]!),
    ];
    const ch = chooseLearningRates(rows);
    const ln = choiceOf(ch, 'lm', 'ln'), dyt = choiceOf(ch, 'lm', 'dyt');
    assert.deepEqual([ln.bestLr, dyt.bestLr], [0.003, 0.009]);
    // diffs 1.0, 2.0, 3.0: mean 2, sd 1 -> [2 - 2.484138, 2 + 2.484138]: contains 0: unresolved
    const c = compareChoices(dyt, ln);
    assert.equal(c.n, 3);
    assert.ok(Math.abs(c.meanDiff! - 2) < 1e-12 && Math.abs(c.ciLow! + 0.484138) < 1e-5);
    assert.deepEqual([c.df, c.reading], [2, 'unresolved']);
    assert.equal(describeComparison(c), 'dyt minus ln (test): +2.000 nats (95% t CI [-0.484, +4.484], df 2), 3 pairs: unresolved');
    // A loss lower by 0.9-1.1 for every seed: resolved, the lower loss is better.
    const tight = [
      ...grid('x', { 0.001: [3, 3, 3], 0.003: [2, 2, 2], 0.009: [2.5, 2.5, 2.5] }, (_lr, s) => [2.0, 2.1, 2.2][s]!),
      ...grid('y', { 0.001: [3, 3, 3], 0.003: [2, 2, 2], 0.009: [2.5, 2.5, 2.5] }, (_lr, s) => [1.0, 1.2, 1.2][s]!),
    ];
    const t = chooseLearningRates(tight);
    assert.equal(compareChoices(choiceOf(t, 'lm', 'y'), choiceOf(t, 'lm', 'x')).reading, 'a better');
    assert.throws(() => choiceOf(t, 'lm', 'z'), /no runs of variant "z" for the lm \(variants: "x", "y"\)/);
  });

  test('formatInterval: differences signed with their unit, means plain; one value has no interval', () => {
    assert.equal(formatInterval({ meanDiff: 0.0123, ciLow: -0.004, ciHigh: 0.0286, df: 2, n: 3 }, ACCURACY_UNIT), '+1.2 pp (95% t CI [-0.4, +2.9], df 2)');
    assert.equal(formatInterval({ mean: 0.913, ciLow: 0.901, ciHigh: 0.925, df: 2, n: 3 }, ACCURACY_UNIT), '91.3% (95% t CI [90.1, 92.5], df 2)');
    assert.equal(formatInterval({ mean: 2.5, ciLow: null, ciHigh: null, df: null, n: 1 }, LOSS_UNIT), '2.500 nats (n = 1: no interval)');
  });
});

describe('runs.csv validation', () => {
  const header = STUDY_COLUMNS.join(',');
  const good = 'variants,lm,layernorm,0,0.003,,320,ok,val_loss,2.1,2.2,gelu,1,320,id0,h0,30';
  test('a bad status, a missing column and a non-number are named by file, line and column', () => {
    const p = join(TMP, 'bad.csv');
    writeFileSync(p, `${header}\n${good}\n${good.replace(',ok,', ',exploded,')}\n`);
    assert.throws(() => readStudyRuns(p), new RegExp(`${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: line 3, column status: "exploded" is not one of ok, diverged, stalled`));
    writeFileSync(p, `${header.replace(',test_metric', '')}\n${good.replace(',2.2,', ',')}\n`);
    assert.throws(() => readStudyRuns(p), /missing column test_metric/);
    writeFileSync(p, `${header}\n${good.replace(',0.003,', ',fast,')}\n`);
    assert.throws(() => readStudyRuns(p), /line 2, column lr: "fast" is not a finite number/);
    assert.throws(() => readStudyRuns(join(TMP, 'none.csv')), /does not exist \(make it with `dytlab study export`\)/);
    writeFileSync(p, `${header}\n${good}\n`);
    assert.deepEqual(readStudyRuns(p)[0]!.alpha0, null);
  });
});

describe('dytlab study on the smoke profile', () => {
  const store = join(TMP, 'study.sqlite');
  const out = join(TMP, 'export');
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), 'study', ...args], { encoding: 'utf8', timeout: 300_000 });

  test('run, status, export: every sweep, every run a row, Parquet equal to the CSV, traces of the chosen runs', { timeout: 300_000 }, () => {
    const early = cli('export', '--store', store, '--out', out, '--profile', 'smoke');
    assert.equal(early.status, 1);
    assert.match(early.stderr, /no study store/);
    const run = cli('run', '--store', store, '--profile', 'smoke', '--jobs', '2', '--quiet');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const status = cli('status', '--store', store, '--profile', 'smoke');
    assert.equal(status.status, 0, status.stderr);
    assert.equal(status.stdout.trim().split('\n').filter((l) => /complete$/.test(l)).length, STUDY_SWEEPS.length, status.stdout);
    const ex = cli('export', '--store', store, '--out', out, '--profile', 'smoke');
    assert.equal(ex.status, 0, ex.stderr);
    const rows = readStudyRuns(join(out, 'runs.csv'));
    assert.deepEqual([...new Set(rows.map((r) => `${r.study}/${r.model}`))].sort(), STUDY_SWEEPS.map((s) => `${s.study}/${s.model}`).sort());
    assert.ok(rows.every((r) => ['ok', 'diverged', 'stalled'].includes(r.status)));
    // each smoke grid: 2 variants x 2 lrs x 1 seed, plus at most one bracket value per variant
    for (const s of STUDY_SWEEPS) {
      const n = rows.filter((r) => r.study === s.study && r.model === s.model).length;
      assert.ok(n >= 4 && n <= 6, `${s.file}: ${n} rows`);
    }
    assert.ok(rows.filter((r) => r.model === 'lm').every((r) => r.metric === 'val_loss' && r.mlp !== null));
    assert.ok(rows.filter((r) => r.model === 'vit').every((r) => r.metric === 'val_accuracy' && r.val_metric! >= 0 && r.val_metric! <= 1));
    assert.ok(rows.filter((r) => r.status === 'ok').every((r) => r.test_metric !== null), 'every finished run has a test metric');
    const pq = parquetToTable(new Uint8Array(readFileSync(join(out, 'runs.parquet')))).objects() as Record<string, unknown>[];
    assert.equal(pq.length, rows.length);
    assert.deepEqual(pq.map((r) => [r.run_id, r.variant, Number(r.lr), r.status]), rows.map((r) => [r.run_id, r.variant, r.lr, r.status]));
    const choices = readFileSync(join(out, 'choices.csv'), 'utf8').trim().split('\n');
    assert.equal(choices.length - 1, new Set(rows.map((r) => `${r.study}/${r.model}/${r.variant}`)).size);
    const traces = readStudyTraces(join(out, 'traces.csv'));
    assert.ok(traces.length > 0 && traces.every((t) => rows.some((r) => r.run_id === t.run_id)));
    assert.ok(traces.some((t) => t.saturation !== null), 'DyT runs trace their saturation');
  });
});
