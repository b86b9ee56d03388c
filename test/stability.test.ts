// The stability protocol: clipping off (clipNorm 0), the stall check and the
// 'stalled' status (store schema v3, summaries, exit 4), and the traces of
// per-layer gradient norms and squash saturation.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { initBackend, tf } from '../src/index.js';
import { runWithCache } from '../src/hooks/hooks.js';
import { buildModel } from '../src/models/build.js';
import { createRunTask, runTraining } from '../src/experiments/run.js';
import { resolveRun } from '../src/experiments/run-config.js';
import { configHash, openStore, STORE_SCHEMA_VERSION } from '../src/experiments/store/index.js';
import { summarizeSweep, sweepMatrix, sweepRuns } from '../src/experiments/sweep-summary.js';
import { expandSweep } from '../src/experiments/sweep.js';
import { clipByGlobalNorm } from '../src/train/adamw.js';
import { checkStall, stallStep } from '../src/train/stall.js';
import { SATURATION_SLOPE, squashSaturation } from '../src/train/traces.js';

const lmConfig = (train: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => ({
  name: 'markov-lm', seed: 7,
  model: { kind: 'lm', context: 16, dModel: 32, nLayers: 2, nHeads: 4, norm: { kind: 'dyt' } },
  data: { dataset: 'markov', vocabSize: 24, branching: 3, length: 20000 },
  train: { steps: 20, batchSize: 8, lr: 0.01, warmupSteps: 4, evalEvery: 10, evalBatches: 4, traceEvery: 5, ...train },
  ...over,
});
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const close = (a: number, b: number, rel: number, what: string) =>
  assert.ok(Math.abs(a - b) <= rel * Math.max(1e-12, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe('stability protocol', () => {
  let dir: string;
  before(async () => {
    await initBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'dytlab-stability-'));
  });

  test('train config: stall and clipNorm validated; unset they stay out of the resolved config', () => {
    const plain = resolveRun(lmConfig());
    assert.ok(!('stall' in plain.train));
    assert.equal(plain.train.clipNorm, 1);
    const s = resolveRun(lmConfig({ stall: { atFraction: 0.5, margin: 0.02 } }));
    assert.deepEqual(s.train.stall, { atFraction: 0.5, margin: 0.02 });
    assert.notEqual(configHash(s), configHash(plain));
    assert.equal(resolveRun(lmConfig({ clipNorm: 0 })).train.clipNorm, 0);
    assert.throws(() => resolveRun(lmConfig({ clipNorm: -1 })), /train: clipNorm = -1 is invalid: must be >= 0/);
    assert.throws(() => resolveRun(lmConfig({ stall: { atFraction: 0, margin: 0.02 } })), /atFraction = 0 is invalid: must be in \(0, 1\]/);
    assert.throws(() => resolveRun(lmConfig({ stall: { atFraction: 1.5, margin: 0.02 } })), /atFraction = 1\.5 is invalid: must be in \(0, 1\]/);
    assert.throws(() => resolveRun(lmConfig({ stall: { atFraction: 0.5, margin: -1 } })), /margin = -1 is invalid/);
    assert.throws(() => resolveRun(lmConfig({ stall: { atFraction: 0.5 } })), /margin/);
    assert.throws(() => resolveRun(lmConfig({ stall: { atFraction: 0.5, margin: 0, after: 3 } })), /unknown field 'after'/);
  });

  test('stallStep and checkStall: the step, the margin on each side, and the reason', () => {
    assert.deepEqual([stallStep({ atFraction: 0.5, margin: 0 }, 20), stallStep({ atFraction: 0.3, margin: 0 }, 10),
      stallStep({ atFraction: 1, margin: 0 }, 7), stallStep({ atFraction: 0.01, margin: 0 }, 10)], [10, 3, 7, 1]);
    const lm = { metric: 'val/loss' as const, value: 3, higherIsBetter: false, label: 'unigram val loss' };
    const st = { atFraction: 0.5, margin: 0.1 };
    assert.equal(checkStall(st, lm, { 'val/loss': 2.9 }, 5, 10), undefined);
    assert.match(checkStall(st, lm, { 'val/loss': 2.95 }, 5, 10)!,
      /^stalled: val\/loss 2\.9500 at step 5 of 10 is not 0\.1 nats below the unigram val loss 3\.0000 \(train\.stall: atFraction 0\.5, margin 0\.1\)$/);
    assert.match(checkStall(st, lm, { 'val/loss': NaN }, 5, 10)!, /val\/loss NaN/);
    assert.match(checkStall(st, lm, undefined, 5, 10)!, /not measured/);
    const cls = { metric: 'val/accuracy' as const, value: 0.1, higherIsBetter: true, label: 'chance accuracy (1/10)' };
    assert.equal(checkStall(st, cls, { 'val/accuracy': 0.2 }, 5, 10), undefined);
    assert.match(checkStall(st, cls, { 'val/accuracy': 0.15 }, 5, 10)!, /val\/accuracy 0\.15000 .* not 0\.1 above the chance accuracy \(1\/10\)/);
  });

  test('saturation: the share of alpha * x + s where f\'(u) < 0.07 f\'(0), against a hand count', () => {
    assert.equal(SATURATION_SLOPE, 0.07);
    // tanh: saturated where |u| > atanh(sqrt(0.93)) = 2.0034 (tanh'(2) = 0.0707 is not).
    assert.equal(squashSaturation([-3, -2.1, -1, 0, 1.5, 2.5], 1, 'tanh'), 3 / 6);
    assert.equal(squashSaturation([2, -2, 2.01], 1, 'tanh'), 1 / 3);
    assert.equal(squashSaturation([0.5, 1.1, -1.2, 0.9], 1, 'tanh', [2]), 2 / 4); // u = 1, 2.2, -2.4, 1.8
    // Per-channel alpha and a shift (dim 2): u = [1*1, 3*1, 1*2.5, 3*0.5] + [0, -1] = [1, 2, 2.5, 0.5].
    assert.equal(squashSaturation([1, 1, 2.5, 0.5], 2, 'tanh', [1, 3], [0, -1]), 1 / 4);
    assert.equal(squashSaturation([0.5, -1.5, 3], 1, 'hardtanh'), 2 / 3); // flat beyond |u| = 1
    assert.equal(squashSaturation([3, 5], 1, 'sigmoid'), 1 / 2); // tanh(u/2): flat beyond |u| = 4.007
    assert.equal(squashSaturation([100, -100], 1, 'identity'), 0);
  });

  test('per-layer gradient norms equal an independent computation (variableGrads, then the norm by hand)', async () => {
    const cfg = resolveRun(lmConfig({ steps: 2, traceEvery: 1, warmupSteps: 0 }));
    const storePath = join(dir, 'grads.sqlite');
    const r = await runTraining(cfg, { store: storePath });
    const store = openStore(storePath);
    const logged = (name: string) => {
      const s = store.metricSeries(r.runId!, `train/grad_norm/${name}`);
      assert.deepEqual(s.step, [1, 2], name);
      return s.value[0]!;
    };
    // The first step's gradients, from the same model and batch, computed here.
    const model = buildModel(cfg);
    const { task } = createRunTask(cfg);
    const batch = task.nextBatch();
    const nameOf = new Map(model.namedParameters().map((p) => [p.variable.name, p.name]));
    const { value, grads } = tf.variableGrads(() => task.loss(model, batch.x, batch.y), model.trainableVariables());
    const hand = (prefix: string) => {
      let sq = 0;
      for (const [v, g] of Object.entries(grads)) {
        if (!nameOf.get(v)!.startsWith(`${prefix}.`)) continue;
        for (const x of g.dataSync()) sq += x * x;
      }
      return Math.sqrt(sq);
    };
    let total = 0;
    for (const g of Object.values(grads)) for (const x of g.dataSync()) total += x * x;
    try {
      close(store.metricSeries(r.runId!, 'train/grad_norm').value[0]!, Math.sqrt(total), 1e-5, 'global norm');
      for (const name of ['blocks.0.norm1', 'blocks.0.norm2', 'blocks.1.norm1', 'final_norm', 'blocks.0', 'blocks.1']) {
        const h = hand(name);
        assert.ok(h > 0, name);
        close(logged(name), h, 1e-5, name);
      }
    } finally {
      tf.dispose([value, batch.x, batch.y, ...Object.values(grads)]);
      task.dispose();
      model.dispose();
      store.close();
    }
  });

  test('the store holds gradient-norm metrics and saturation traces at the trace cadence; tracing never changes the numbers', async () => {
    const cfg = lmConfig({}, { model: { kind: 'lm', context: 16, dModel: 32, nLayers: 2, nHeads: 4, norm: { kind: 'dyt', alpha0: 100 } } });
    const storePath = join(dir, 'traces.sqlite');
    const r = await runTraining(cfg, { store: storePath });
    const store = openStore(storePath);
    try {
      const traces = store.traces(r.runId!);
      assert.deepEqual([...new Set(traces.map((t) => t.step))], [0, 5, 10, 15, 20]);
      for (const t of traces) {
        const s = (t.extra as { saturation?: number } | null)?.saturation;
        assert.ok(typeof s === 'number' && s >= 0 && s <= 1, `${t.layer} at ${t.step}: saturation ${String(s)}`);
      }
      for (const name of ['blocks.0.norm1', 'blocks.1.norm2', 'final_norm', 'blocks.0', 'blocks.1']) {
        assert.deepEqual(store.metricSeries(r.runId!, `train/grad_norm/${name}`).step, [5, 10, 15, 20], name);
      }
      // Step 0's saturation of blocks.0.norm1, counted here on the probe: |100 x| > atanh(sqrt(0.93)).
      const resolved = resolveRun(cfg);
      const model = buildModel(resolved);
      const { task } = createRunTask(resolved);
      const probe = task.probe();
      const { cache, dispose } = runWithCache(model, probe, 'blocks.0.norm1.in');
      const x = cache['blocks.0.norm1.in']!.dataSync();
      const limit = Math.atanh(Math.sqrt(1 - 0.07));
      const count = Array.from(x).filter((v) => Math.abs(100 * v) > limit).length;
      dispose();
      tf.dispose(probe);
      task.dispose();
      model.dispose();
      const at0 = traces.find((t) => t.step === 0 && t.layer === 'blocks.0.norm1')!;
      assert.ok(count > 0 && count < x.length, `a test that means something needs some saturation: ${count}/${x.length}`);
      close((at0.extra as { saturation: number }).saturation, count / x.length, 1e-12, 'saturation');
    } finally {
      store.close();
    }
    // Gradient norms and saturation at every step, or at none: the same losses and evaluation.
    const every = await runTraining(lmConfig({ traceEvery: 1 }), { store: false });
    const rare = await runTraining(lmConfig({ traceEvery: 20 }), { store: false });
    assert.deepEqual(every.losses, rare.losses);
    assert.deepEqual(every.lastEval, rare.lastEval);
  });

  test('clipping off (clipNorm 0) is accepted and changes nothing at a tiny learning rate', async () => {
    const on = await runTraining(lmConfig({ lr: 1e-8, steps: 6 }), { store: false });
    const off = await runTraining(lmConfig({ lr: 1e-8, steps: 6, clipNorm: 0 }), { store: false });
    assert.equal(off.status, 'finished');
    assert.equal(off.config.train.clipNorm, 0);
    off.losses.forEach((l, i) => close(l, on.losses[i]!, 1e-5, `loss ${i}`));
    const g = new Map([['a', tf.tensor1d([30])], ['b', tf.tensor1d([40])]]);
    const r = clipByGlobalNorm(g, 0);
    assert.equal(r.clipped, g, 'clipNorm 0: the gradients as they are');
    assert.ok(Math.abs(r.norm - 50) < 1e-4);
    tf.dispose([...g.values()]);
  });

  test('a run that cannot learn stops as stalled with the option, and finishes without it', async () => {
    const storePath = join(dir, 'stall.sqlite');
    const stall = { atFraction: 0.3, margin: 0.02 };
    const r = await runTraining(lmConfig({ lr: 1e-8, stall }), { store: storePath });
    assert.equal(r.status, 'stalled');
    assert.equal(r.step, 6);
    assert.equal(r.losses.length, 6);
    assert.match(r.reason!, /^stalled: val\/loss \S+ at step 6 of 20 is not 0\.02 nats below the unigram val loss \S+ \(train\.stall: atFraction 0\.3, margin 0\.02\)$/);
    const store = openStore(storePath);
    const run = store.getRun(r.runId!);
    assert.equal(run.status, 'stalled');
    assert.equal(run.statusStep, 6);
    assert.equal(run.statusReason, r.reason);
    assert.deepEqual(store.metricSeries(r.runId!, 'val/loss').step, [6], 'the check evaluates at its step');
    assert.ok(store.latestCheckpoint(r.runId!)!.step === 6);
    // A stalled run is a result: claiming its config again finds it done.
    const claim = store.claimRun({ config: r.config, kind: 'lm', seed: 7, backend: { backend: 'wasm' } });
    assert.deepEqual([claim.claimed, (claim as { state?: string }).state, claim.run.id], [false, 'done', r.runId]);
    store.close();
    const without = await runTraining(lmConfig({ lr: 1e-8 }), { store: false });
    assert.equal(without.status, 'finished');
    assert.equal(without.step, 20);
    assert.deepEqual(without.losses.slice(0, 6), r.losses, 'the check changes nothing before it stops the run');
    // A run that learns passes the check (at its end here) and trains exactly as without it.
    const learns = await runTraining(lmConfig({ stall: { atFraction: 1, margin: 0 } }), { store: false });
    const plain = await runTraining(lmConfig(), { store: false });
    assert.equal(learns.status, 'finished');
    assert.deepEqual(learns.losses, plain.losses);
    assert.deepEqual(learns.lastEval, plain.lastEval);
  });

  test('a classifier at chance stalls against 1 / classes', async () => {
    const r = await runTraining({
      seed: 1, model: { kind: 'vit', dModel: 16, nLayers: 1, nHeads: 2, patchSize: 7 },
      data: { dataset: 'synthetic-images', nTrain: 64, nTest: 50 },
      train: { steps: 4, batchSize: 16, lr: 1e-8, stall: { atFraction: 0.5, margin: 0.5 } },
    }, { store: false });
    assert.equal(r.status, 'stalled');
    assert.equal(r.step, 2);
    assert.match(r.reason!, /val\/accuracy \S+ at step 2 of 4 is not 0\.5 above the chance accuracy \(1\/\d+\) /);
  });

  test('dytlab train exits with 4 for a stalled run (CLI, in a child process)', () => {
    const cfgPath = join(dir, 'stall.json');
    writeFileSync(cfgPath, JSON.stringify(lmConfig({ steps: 4, lr: 1e-8, evalBatches: 1, stall: { atFraction: 0.5, margin: 0.02 } })));
    const storePath = join(dir, 'cli-stall.sqlite');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'src', 'cli-main.ts'), 'train', '--config', cfgPath, '--store', storePath, '--quiet'],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, DYTLAB_BACKEND: 'cpu' } });
    assert.equal(r.status, 4, r.stdout + r.stderr);
    assert.match(r.stdout, /: stalled \(stalled: val\/loss .* at step 2 of 4/);
  });

  test('sweep summaries count stalled runs apart, like diverged ones', () => {
    const grid = expandSweep({
      name: 'stalls', base: {
        model: { kind: 'lm', context: 16, dModel: 16, nLayers: 1, nHeads: 2 },
        data: { dataset: 'markov', vocabSize: 16, branching: 3, length: 4000 },
        train: { steps: 20, batchSize: 8, lr: 0.01 },
      },
      axes: { 'train.lr': [0.01, 0.001], 'train.warmupSteps': [0] }, seeds: [0, 1, 2],
    });
    const store = openStore(':memory:');
    for (const p of grid.points) {
      const run = store.createRun({ config: p.resolved, kind: 'lm', seed: p.seed, backend: { backend: 'cpu' } });
      store.startRun(run.id);
      const end = p.labels['train.lr'] === '0.001' || p.seed === 1 ? 'stalled' : p.seed === 2 ? 'diverged' : 'finished';
      store.logMetrics(run.id, 10, { 'val/loss': end === 'finished' ? 1 : 3 });
      store.finishRun(run.id, { status: end, step: 10, reason: end });
    }
    assert.deepEqual(sweepRuns(store, grid, 'val/loss').map((r) => r.state),
      ['finished', 'stalled', 'diverged', 'stalled', 'stalled', 'stalled']);
    const rows = summarizeSweep(store, grid, 'val/loss');
    const a = rows.find((r) => r['train.lr'] === 0.01)!, b = rows.find((r) => r['train.lr'] === 0.001)!;
    assert.deepEqual([a.n, a.diverged, a.stalled, a.stalledAt, a.missing, a.mean], [1, 1, 1, [10], 0, 1]);
    assert.match(a.note!, /1 diverged; 1 stalled/);
    assert.deepEqual([b.n, b.stalled, b.missing], [0, 3, 0]);
    const m = sweepMatrix(rows, 'train.lr', 'train.warmupSteps');
    assert.deepEqual(m.partial, [['1/3 diverged, 1/3 stalled', '']]);
    assert.deepEqual(m.stalled, [[false, true]]);
    assert.deepEqual(m.diverged, [[false, false]]);
    store.close();
  });

  test('a store of schema version 2 is read as it is, and migrates to version 3 (status stalled) when opened for writing', () => {
    const path = join(dir, 'v2.sqlite');
    const s = openStore(path);
    const r0 = s.createRun({ config: { x: 0 }, kind: 'lm', seed: 0, backend: { backend: 'cpu' } });
    s.startRun(r0.id);
    s.logMetricsBatch(r0.id, Array.from({ length: 10 }, (_, k) => ({ step: k, name: 'val/loss', value: 1 / (k + 1) })));
    s.finishRun(r0.id, { status: 'interrupted', step: 9 });
    s.close();
    // Rebuild it as version 2 wrote it: the runs table without 'stalled'.
    const db = new Database(path);
    db.pragma('foreign_keys = OFF');
    const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'runs'").pluck().get() as string)
      .replace("'interrupted', 'stalled'", "'interrupted'").replace('CREATE TABLE runs', 'CREATE TABLE runs_old');
    assert.doesNotMatch(sql, /stalled/);
    db.exec(`${sql}; INSERT INTO runs_old SELECT * FROM runs; DROP TABLE runs; ALTER TABLE runs_old RENAME TO runs;
      UPDATE meta SET value = '2' WHERE key = 'schema_version';`);
    db.close();
    const before = sha(path);
    const ro = openStore(path, { readonly: true });
    assert.equal(ro.getRun(r0.id).status, 'interrupted');
    assert.equal(ro.metricSeries(r0.id, 'val/loss').step.length, 10);
    ro.close();
    assert.equal(sha(path), before, 'a read-only open migrated (or otherwise wrote) the store');
    const rw = openStore(path);
    try {
      assert.equal(rw.metricSeries(r0.id, 'val/loss').step.length, 10, 'metrics lost in the migration');
      const r = rw.createRun({ config: { x: 1 }, kind: 'lm', seed: 0, backend: { backend: 'cpu' } });
      rw.startRun(r.id);
      assert.equal(rw.finishRun(r.id, { status: 'stalled', step: 1, reason: 'stalled: test' }).status, 'stalled');
    } finally {
      rw.close();
    }
    const check = new Database(path, { readonly: true });
    assert.equal(STORE_SCHEMA_VERSION, 3);
    assert.equal(check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get(), '3');
    assert.match(check.prepare("SELECT sql FROM sqlite_master WHERE name = 'runs'").pluck().get() as string, /'stalled'/);
    check.close();
  });
});
