// Learning-rate brackets (src/experiments/sweep-bracket.ts, sweep-select.ts,
// sweep-bracket-run.ts, the `bracket` field of a sweep file): the status of
// hand-made rows, the walk over a grid, selection on validation with reporting
// on another metric, and an end-to-end bracket on the tiny sweep.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type RunStore } from '../src/experiments/store/index.js';
import { loadSweep } from '../src/experiments/sweep-config.js';
import { expandSweep } from '../src/experiments/sweep.js';
import { bracketGrid, bracketStatus, stepValue, type BracketRow } from '../src/experiments/sweep-bracket.js';
import { selectOnValidation, sweepBrackets } from '../src/experiments/sweep-select.js';
import { summarizeSweep } from '../src/experiments/sweep-summary.js';
import { main } from '../src/cli.js';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-bracket-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

/** Rows of one cell: lr -> per-seed final metric ('div': diverged, 'stall', 'miss': never run, 'fail': crashed). */
function rows(spec: Record<string, (number | 'div' | 'stall' | 'miss' | 'fail')[]>, cell: Record<string, string> = {}): BracketRow[] {
  return Object.entries(spec).flatMap(([lr, seeds]) => seeds.map((v, seed) => ({
    axes: { ...cell, 'train.lr': Number(lr), seed }, seed,
    state: v === 'div' ? 'diverged' : v === 'stall' ? 'stalled' : v === 'miss' ? 'missing' : v === 'fail' ? 'failed' : 'finished',
    value: typeof v === 'number' ? v : v === 'div' ? 5 : null,
  })));
}
const OPTS = { axis: 'train.lr', factor: 2, maxExtra: 3, gridValues: [0.001, 0.002, 0.004], metric: 'val/loss' };

describe('bracketStatus (hand-made rows)', () => {
  test('best interior: bracketed, nothing next; means over seeds', () => {
    const [s] = bracketStatus(rows({ 0.001: [3, 3.2], 0.002: [2, 2.2], 0.004: [2.5, 2.7] }), OPTS);
    assert.equal(s!.state, 'bracketed');
    assert.equal(s!.bracketed, true);
    assert.equal(s!.best, 0.002);
    assert.ok(Math.abs(s!.bestMean! - 2.1) < 1e-12);
    assert.deepEqual(s!.tried, [0.001, 0.002, 0.004]);
    assert.deepEqual(s!.values.map((v) => [v.value, v.n, v.failed, v.extra]), [[0.001, 2, 0, false], [0.002, 2, 0, false], [0.004, 2, 0, false]]);
    assert.equal(s!.next, null);
    assert.match(s!.why, /best train\.lr = 0\.002: worse at 0\.001 and 0\.004/);
  });

  test('best at the upper edge: extend up one step (x factor); at the lower edge: down (/ factor)', () => {
    const [up] = bracketStatus(rows({ 0.001: [3, 3], 0.002: [2.5, 2.5], 0.004: [2, 2] }), OPTS);
    assert.deepEqual([up!.state, up!.bracketed, up!.best, up!.next, up!.from], ['extend', false, 0.004, 0.008, 0.004]);
    const [down] = bracketStatus(rows({ 0.001: [2, 2], 0.002: [2.5, 2.5], 0.004: [3, 3] }), OPTS);
    assert.deepEqual([down!.state, down!.next, down!.from], ['extend', 0.0005, 0.001]);
    assert.equal(stepValue(0.001, 3, true), 0.003); // 12 significant digits: not 0.0030000000000000005
    // 'max' mode (an accuracy): the largest mean is best.
    const [acc] = bracketStatus(rows({ 0.001: [0.9, 0.9], 0.002: [0.8, 0.8], 0.004: [0.7, 0.7] }), { ...OPTS, mode: 'max' });
    assert.deepEqual([acc!.best, acc!.next], [0.001, 0.0005]);
  });

  test('best at the lower edge with the next lower value failed for every run: edge failed (enclosed by a failure)', () => {
    const [s] = bracketStatus(rows({ 0.0005: ['div', 'div'], 0.001: [2, 2], 0.002: [2.5, 2.5], 0.004: [3, 3] }), OPTS);
    assert.equal(s!.state, 'edge failed');
    assert.equal(s!.bracketed, true);
    assert.equal(s!.best, 0.001);
    assert.equal(s!.next, null);
    assert.match(s!.why, /neighbour 0\.0005 below failed/);
    assert.deepEqual(s!.values[0]!, { value: 0.0005, mean: null, n: 0, failed: 2, pending: 0, extra: true });
    // A stall counts the same way; so does a finished run that logged no metric.
    const [t] = bracketStatus(rows({ 0.001: [2.5, 2.5], 0.002: [2, 2], 0.004: ['stall', 'stall'] }), OPTS);
    assert.deepEqual([t!.state, t!.best], ['edge failed', 0.002]);
    const noMetric = rows({ 0.001: [2.5, 2.5], 0.002: [2, 2], 0.004: [1, 1] });
    noMetric[4]!.value = null;
    noMetric[5]!.value = null;
    assert.equal(bracketStatus(noMetric, OPTS)[0]!.state, 'edge failed');
  });

  test('a neighbour at the edge that failed for only some of its runs is stepped past, within the cap', () => {
    const [low] = bracketStatus(rows({ 0.0005: ['div', 1.0], 0.001: [2, 2], 0.002: [2.5, 2.5], 0.004: [3, 3] }), OPTS);
    assert.deepEqual([low!.state, low!.bracketed, low!.best, low!.next, low!.from], ['extend', true, 0.001, 0.00025, 0.0005]);
    assert.match(low!.why, /neighbour 0\.0005 failed for 1 of 2 runs: try 0\.00025/);
    const [up] = bracketStatus(rows({ 0.001: [2.5, 2.5], 0.002: [2, 2], 0.004: ['stall', 1] }), OPTS);
    assert.deepEqual([up!.state, up!.next, up!.from], ['extend', 0.008, 0.004]);
    // Not at the edge (an all-failed value beyond it): enclosed as it is.
    const [mid] = bracketStatus(rows({ 0.001: [2.5, 2.5], 0.002: [2, 2], 0.004: ['stall', 1], 0.008: ['div', 'div'] }), OPTS);
    assert.deepEqual([mid!.state, mid!.next], ['edge failed', null]);
    // At the cap: edge failed, as before.
    const [cap] = bracketStatus(rows({ 0.0005: ['div', 1.0], 0.001: [2, 2], 0.002: [2.5, 2.5], 0.004: [3, 3] }), { ...OPTS, maxExtra: 1 });
    assert.deepEqual([cap!.state, cap!.next], ['edge failed', null]);
  });

  test('failed runs count as worst: one diverged seed makes an otherwise best value lose', () => {
    const [s] = bracketStatus(rows({ 0.001: [3, 3], 0.002: [2, 2], 0.004: [1, 'div'], 0.008: [2.6, 2.6] }), OPTS);
    assert.equal(s!.best, 0.002);
    assert.equal(s!.state, 'edge failed');
    // Every value failed: step below the lowest one; at the cap, all failed.
    const [all] = bracketStatus(rows({ 0.001: ['div', 'div'], 0.002: ['stall', 1] }), OPTS);
    assert.deepEqual([all!.state, all!.best, all!.next, all!.from], ['extend', null, 0.0005, 0.001]);
    const [none] = bracketStatus(rows({ 0.001: ['div', 'div'], 0.002: ['stall', 1] }), { ...OPTS, maxExtra: 0 });
    assert.deepEqual([none!.state, none!.best, none!.next], ['all failed', null, null]);
  });

  test('cap reached: the best at an edge after maxExtra values beyond the grid', () => {
    const spec = { 0.001: [3, 3], 0.002: [2.8, 2.8], 0.004: [2.6, 2.6], 0.008: [2.4, 2.4], 0.016: [2.2, 2.2], 0.032: [2, 2] };
    const [s] = bracketStatus(rows(spec), OPTS);
    assert.deepEqual([s!.state, s!.extra, s!.best, s!.next, s!.bracketed], ['cap reached', 3, 0.032, null, false]);
    assert.match(s!.why, /upper edge, and 3 values beyond the grid \(maxExtra 3\)/);
    assert.equal(bracketStatus(rows(spec), { ...OPTS, maxExtra: 4 })[0]!.next, 0.064);
    assert.equal(bracketStatus(rows(spec), { ...OPTS, factor: undefined })[0]!.state, 'at edge');
  });

  test('ties: the lowest tied value is the best, the tied values form one plateau', () => {
    const [inner] = bracketStatus(rows({ 0.001: [3, 3], 0.002: [2, 2], 0.004: [2, 2], 0.008: [2.5, 2.5] }), OPTS);
    assert.deepEqual([inner!.state, inner!.best], ['bracketed', 0.002]);
    assert.match(inner!.why, /tied with 0\.004/);
    // A plateau that reaches the upper edge extends beyond it.
    const [edge] = bracketStatus(rows({ 0.001: [3, 3], 0.002: [2, 2], 0.004: [2, 2] }), OPTS);
    assert.deepEqual([edge!.state, edge!.best, edge!.from, edge!.next], ['extend', 0.002, 0.004, 0.008]);
    // Every value equal, or one value: the upper side first.
    assert.equal(bracketStatus(rows({ 0.001: [2], 0.002: [2] }), OPTS)[0]!.next, 0.004);
  });

  test('runs not done yet leave a cell pending; cells are kept apart by groupBy', () => {
    const rs = [
      ...rows({ 0.001: [3, 3], 0.002: [2, 'miss'], 0.004: [2.5, 2.5] }, { norm: 'ln' }),
      ...rows({ 0.001: [3, 3], 0.002: [2, 2], 0.004: [1, 'fail'] }, { norm: 'dyt' }),
      ...rows({ 0.001: [3, 3], 0.002: [2, 2], 0.004: [2.5, 2.5] }, { norm: 'rms' }),
    ];
    const s = bracketStatus(rs, { ...OPTS, groupBy: ['norm'] });
    assert.deepEqual(s.map((x) => [x.group, x.state]), [['norm=ln', 'pending'], ['norm=dyt', 'pending'], ['norm=rms', 'bracketed']]);
    assert.match(s[0]!.why, /1 run at train\.lr = 0\.002 not done yet/);
    assert.deepEqual(s[2]!.cells, { norm: 'rms' });
    // Without groupBy, all rows are one cell (and pending).
    assert.equal(bracketStatus(rs, OPTS).length, 1);
  });
});

// A run config whose lr is the bracket axis; a fake loss with its minimum at lr = 0.016.
const BASE = {
  model: { kind: 'lm', context: 16, dModel: 16, nLayers: 1, nHeads: 2, mlp: 'gelu' },
  data: { dataset: 'markov', vocabSize: 16, branching: 3, length: 4000 },
  train: { steps: 20, batchSize: 8, lr: 0.01, warmupSteps: 2, evalEvery: 10, evalBatches: 2, traceEvery: 10 },
};
const SWEEP = {
  name: 'brk', base: BASE,
  variants: { norm: { rms: { 'model.norm': { kind: 'rmsnorm' } }, dyt: { 'model.norm': { kind: 'dyt' } } } },
  axes: { 'train.lr': [0.001, 0.002, 0.004] }, seeds: [0, 1],
  bracket: { axis: 'train.lr', maxExtra: 3 },
};
const fakeLoss = (lr: number, norm: string, seed: number) => (Math.log2(lr / (norm === 'rms' ? 0.016 : 0.004))) ** 2 + 0.01 * seed;

describe('bracket in a sweep file, and the walk', () => {
  test('the field: defaults, the factor from a geometric grid, errors naming the field; profiles replace it', () => {
    const spec = loadSweep(SWEEP);
    assert.deepEqual(spec.bracket, {
      axis: 'train.lr', factor: 2, maxExtra: 3, metric: 'val/loss', mode: 'min', reduce: 'last', groupBy: ['norm'], gridValues: [0.001, 0.002, 0.004],
    });
    assert.throws(() => loadSweep({ ...SWEEP, bracket: { axis: 'train.wd' } }), /bracket\.axis = "train\.wd" is not a values axis .*"train\.lr"/);
    assert.throws(() => loadSweep({ ...SWEEP, bracket: { axis: 'norm' } }), /not a values axis/);
    assert.throws(() => loadSweep({ ...SWEEP, axes: { 'train.lr': [0.001, 0.003, 0.004] } }), /give "factor"/);
    assert.equal(loadSweep({ ...SWEEP, axes: { 'train.lr': [0.001, 0.003] }, bracket: { axis: 'train.lr', factor: 3 } }).bracket!.factor, 3);
    assert.throws(() => loadSweep({ ...SWEEP, bracket: { axis: 'train.lr', factor: 1 } }), /bracket\.factor.*must be > 1/);
    assert.throws(() => loadSweep({ ...SWEEP, bracket: { axis: 'train.lr', groupBy: ['seed'] } }), /groupBy: "seed" is not an axis other than/);
    assert.throws(() => loadSweep({ ...SWEEP, bracket: { axis: 'train.lr', every: 2 } }), /unknown field 'every'/);
    const off = loadSweep({ ...SWEEP, profiles: { quick: { bracket: null }, acc: { bracket: { axis: 'train.lr', metric: 'val/accuracy', mode: 'max' } } } }, { profile: 'quick' });
    assert.equal(off.bracket, undefined);
    assert.equal(loadSweep({ ...SWEEP, profiles: { acc: { bracket: { axis: 'train.lr', mode: 'max' } } } }, { profile: 'acc' }).bracket!.mode, 'max');
    // The bracket changes nothing about the grid: same combinations, same hashes.
    const { bracket: _b, ...plain } = SWEEP;
    assert.deepEqual(expandSweep(SWEEP).points.map((p) => p.hash), expandSweep(plain).points.map((p) => p.hash));
  });

  test('bracketGrid extends each cell until bracketed; the extensions are new combinations, and the same results give the same walk', () => {
    const grid = expandSweep(SWEEP);
    let calls = 0;
    const rowsOf = (g: typeof grid): BracketRow[] => {
      calls++;
      return g.points.map((p) => ({
        axes: { norm: p.labels.norm!, 'train.lr': p.values['train.lr'] as number, seed: p.seed }, seed: p.seed, state: 'finished',
        value: fakeLoss(p.values['train.lr'] as number, p.labels.norm!, p.seed),
      }));
    };
    const walk = bracketGrid(grid, rowsOf);
    assert.deepEqual(walk.status.map((s) => [s.group, s.state, s.best, s.tried]), [
      ['norm=rms', 'bracketed', 0.016, [0.001, 0.002, 0.004, 0.008, 0.016, 0.032]],
      ['norm=dyt', 'bracketed', 0.004, [0.001, 0.002, 0.004, 0.008]],
    ]);
    assert.equal(walk.grid.extensions, (3 + 1) * 2);
    const ext = walk.grid.points.slice(grid.points.length);
    assert.deepEqual(ext.map((p) => p.index), ext.map((_, i) => grid.points.length + i));
    const p = ext.find((q) => q.labels.norm === 'rms' && q.values['train.lr'] === 0.032 && q.seed === 1)!;
    assert.equal(p.resolved.train.lr, 0.032);
    assert.equal(p.group, 'norm=rms, train.lr=0.032');
    // Expanding the same combination as a grid value gives the same config hash.
    const direct = expandSweep({ ...SWEEP, bracket: undefined, variants: { norm: { rms: SWEEP.variants.norm.rms } }, axes: { 'train.lr': [0.032] }, seeds: [1] });
    assert.equal(direct.points[0]!.hash, p.hash);
    assert.equal(new Set(walk.grid.points.map((q) => q.hash)).size, walk.grid.points.length);
    assert.deepEqual(bracketGrid(grid, rowsOf).grid.points.map((q) => q.hash), walk.grid.points.map((q) => q.hash));
    assert.ok(calls < 20);
    // Without the runs of the next value, the cell waits for them.
    const partial = bracketGrid(grid, (g) => rowsOf(g).map((r, i) => (i < grid.points.length ? r : { ...r, state: 'missing', value: null })));
    assert.deepEqual(partial.status.map((s) => s.state), ['pending', 'pending']);
    assert.equal(partial.grid.extensions, 4); // one next value per cell, two seeds each
  });
});

describe('selection on validation, reporting on another metric', () => {
  function fill(grid: ReturnType<typeof expandSweep>, withTest: boolean): RunStore {
    const store = openStore(':memory:');
    for (const p of grid.points) {
      const lr = p.values['train.lr'] as number;
      const run = store.createRun({ config: p.resolved, kind: 'lm', seed: p.seed, backend: { backend: 'cpu' } });
      store.startRun(run.id);
      const v = fakeLoss(lr, p.labels.norm!, p.seed);
      store.logMetrics(run.id, 20, { 'val/loss': v, ...(withTest ? { 'test/loss': v + 0.5 } : {}) });
      store.finishRun(run.id, { status: 'finished', step: 20 });
    }
    return store;
  }

  test('selectOnValidation picks on val/loss and reports test/loss at the chosen value, or falls back and says so', () => {
    const grid = expandSweep({ ...SWEEP, axes: { 'train.lr': [0.002, 0.004, 0.008, 0.016, 0.032] } });
    const store = fill(grid, true);
    const rows = selectOnValidation(store, grid);
    assert.deepEqual(rows.map((r) => [r.group, r.chosen, r.bracket, r.reported, r.n]), [
      ['norm=rms', 0.016, 'bracketed', 'test/loss', 2], ['norm=dyt', 0.004, 'bracketed', 'test/loss', 2],
    ]);
    assert.ok(Math.abs(rows[0]!.mean! - 0.505) < 1e-12 && Math.abs(rows[0]!.selectMean! - 0.005) < 1e-12);
    assert.equal(rows[0]!.norm, 'rms');
    assert.equal(rows[0]!.note, undefined);
    const noTest = fill(grid, false);
    const fb = selectOnValidation(noTest, grid, { reportMetric: 'test/loss' });
    assert.deepEqual(fb.map((r) => [r.chosen, r.reportMetric, r.reported]), [[0.016, 'test/loss', 'val/loss'], [0.004, 'test/loss', 'val/loss']]);
    assert.match(fb[0]!.note!, /no run at train\.lr = 0\.016 logged test\/loss: reporting val\/loss, the metric it was chosen on \(optimistic\)/);
    assert.ok(Math.abs(fb[0]!.mean! - 0.005) < 1e-12);
    // Without a bracket, the axis is given.
    const { bracket: _b, ...plain } = SWEEP;
    const g2 = expandSweep({ ...plain, axes: { 'train.lr': [0.002, 0.004, 0.008] } });
    assert.throws(() => selectOnValidation(store, g2), /has no bracket: give the axis/);
    assert.deepEqual(selectOnValidation(fill(g2, true), g2, { axis: 'train.lr' }).map((r) => [r.chosen, r.bracket]), [[0.008, 'at edge'], [0.004, 'bracketed']]);
    store.close();
    noTest.close();
  });
});

describe('a bracket on the tiny sweep (worker processes)', () => {
  test('starting too small, it extends train.lr until bracketed or capped; a rerun adds nothing', async () => {
    const tiny = JSON.parse(readFileSync(join(ROOT, 'configs', 'sweeps', 'tiny.json'), 'utf8')) as Record<string, unknown>;
    const file = join(TMP, 'tiny-bracket.json');
    // One norm, one seed, 10 steps: lr 1e-4 learns nothing in 10 steps, so the best starts at the upper edge.
    writeFileSync(file, JSON.stringify({
      ...tiny, name: 'tiny-bracket', description: undefined,
      set: { 'train.steps': 10, 'train.evalEvery': 10, 'train.traceEvery': 10 },
      axes: { 'model.norm': [{ kind: 'dyt', alpha0: 1.0 }], 'train.lr': [0.0001, 0.0004] }, seeds: [0],
      bracket: { axis: 'train.lr', factor: 4, maxExtra: 3 },
    }));
    const store = join(TMP, 'bracket.sqlite');
    const out = () => { let s = ''; return { io: { stdout: { write: (x: string) => { s += x; return true; } }, stderr: { write: () => true } }, text: () => s }; };
    const dry = out();
    assert.equal(await main(['sweep', file, '--store', store, '--dry-run'], dry.io), 0);
    assert.match(dry.text(), /2 combinations/);
    assert.match(dry.text(), /bracket train\.lr: after the grid, may add runs/);
    const first = out();
    assert.equal(await main(['sweep', file, '--store', store, '--jobs', '2', '--quiet'], first.io), 0, first.text());
    const text = first.text();
    assert.match(text, /bracket train\.lr \(\d rounds?\)/, text);
    const s = openStore(store, { readonly: true });
    let status, grid;
    try {
      ({ status, grid } = sweepBrackets(s, file));
      assert.equal(s.listRuns().length, grid.points.length, 'one run per combination');
      const rows = summarizeSweep(s, grid, 'val/loss');
      assert.equal(rows.length, grid.points.length);
    } finally {
      s.close();
    }
    assert.equal(status.length, 1);
    const st = status[0]!;
    assert.ok(['bracketed', 'edge failed', 'cap reached'].includes(st.state), `${st.state}: ${st.why}`);
    assert.ok(st.extra >= 1, `it extended: ${st.why}`);
    assert.ok(st.tried[0] === 0.0001 && st.tried.at(-1)! > 0.0004, st.tried.join(' '));
    assert.match(text, new RegExp(`: ${st.state}: `));
    const again = out();
    assert.equal(await main(['sweep', file, '--store', store, '--jobs', '2', '--quiet'], again.io), 0);
    assert.match(again.text(), /1 combinations?: 1 already done|2 combinations: 2 already done/);
    assert.doesNotMatch(again.text(), /round/, 'no bracket round the second time');
    assert.match(again.text(), new RegExp(`: ${st.state}: `));
    const s2 = openStore(store, { readonly: true });
    try {
      assert.equal(s2.listRuns().length, grid.points.length, 'the rerun added no run');
    } finally {
      s2.close();
    }
  });
});
