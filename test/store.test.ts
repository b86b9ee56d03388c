// The run store (src/experiments/store/): runs, metrics, traces and artifacts
// written and read back, config hashes, lookups and filters. Files and schema:
// store-schema.test.ts; several processes: store-liveness.test.ts; frames,
// exports and merge: store-frames.test.ts.
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { canonicalJson, configHash, openStore, runIdTime, RunStore, StoreError } from '../src/experiments/store/index.js';
import { ConfigError } from '../src/util/schema.js';
import { VERSION } from '../src/version.js';
import { BACKEND, CONFIG, sameNumber, tempStores } from './fixtures/store-env.js';

const { dir: TMP, next, freshPath, withStore } = tempStores();

describe('run store: runs, metrics, traces, artifacts', () => {
  test('create -> start -> log -> finish round trip, readable after reopening', () => {
    const path = freshPath();
    const id = withStore((store) => {
      const created = store.createRun({ config: CONFIG, kind: 'lm', seed: 3, backend: BACKEND });
      assert.match(created.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
      assert.equal(created.status, 'created');
      assert.equal(created.name, `lm-${configHash(CONFIG).slice(0, 8)}`);
      assert.deepEqual(created.config, CONFIG);
      assert.deepEqual(created.backend, BACKEND);
      assert.equal(created.configHash, configHash(CONFIG));
      assert.equal(created.dytlabVersion, VERSION);
      assert.equal(created.startedAt, null);

      const started = store.startRun(created.id);
      assert.equal(started.status, 'running');
      assert.equal(started.pid, process.pid);
      assert.equal(started.hostname, hostname());
      assert.ok(started.startedAt && started.lastHeartbeat);

      assert.equal(store.logMetrics(created.id, 0, { loss: 2.5, lr: 1e-4 }), 2);
      store.logMetrics(created.id, 1, { loss: 2.25 });
      store.logMetricsBatch(created.id, [
        { step: 2, name: 'loss', value: 2 }, { step: 2, name: 'lr', value: 2e-4 }, { step: 3, name: 'loss', value: 1.5 },
      ]);
      store.heartbeat(created.id);
      const c10 = store.addArtifact(created.id, { kind: 'checkpoint', path: 'ckpt/10.safetensors', step: 10, meta: { bytes: 123 } });
      store.addArtifact(created.id, { kind: 'checkpoint', path: 'ckpt/30.safetensors', step: 30 });
      store.addArtifact(created.id, { kind: 'checkpoint', path: 'ckpt/20.safetensors', step: 20 });
      store.addArtifact(created.id, { kind: 'report', path: 'reports/r.html' });
      assert.equal(c10.runId, created.id);
      assert.deepEqual(c10.meta, { bytes: 123 });
      assert.equal(store.latestCheckpoint(created.id)?.path, 'ckpt/30.safetensors');

      const fin = store.finishRun(created.id, { status: 'finished', step: 3 });
      assert.equal(fin.status, 'finished');
      assert.equal(fin.statusStep, 3);
      assert.ok(fin.finishedAt);
      assert.ok(fin.wallSeconds !== null && fin.wallSeconds >= 0);
      return created.id;
    }, path);

    const store = openStore(path, { readonly: true });
    try {
      const run = store.getRun(id);
      assert.equal(run.status, 'finished');
      assert.deepEqual(store.metrics(id).map(({ step, name, value }) => ({ step, name, value })), [
        { step: 0, name: 'loss', value: 2.5 }, { step: 0, name: 'lr', value: 1e-4 },
        { step: 1, name: 'loss', value: 2.25 },
        { step: 2, name: 'loss', value: 2 }, { step: 2, name: 'lr', value: 2e-4 },
        { step: 3, name: 'loss', value: 1.5 },
      ]);
      assert.deepEqual(store.metricSeries(id, 'loss'), { step: [0, 1, 2, 3], value: [2.5, 2.25, 2, 1.5] });
      assert.deepEqual(store.metrics(id, { names: ['lr'], fromStep: 1 }).map((m) => m.value), [2e-4]);
      assert.deepEqual(store.metricNames(id), ['loss', 'lr']);
      assert.deepEqual(store.artifacts(id, 'checkpoint').map((a) => a.step), [10, 30, 20]);
      assert.equal(store.latestCheckpoint(id)?.step, 30);
      assert.throws(() => store.logMetrics(id, 4, { loss: 1 }), /read-only/);
    } finally {
      store.close();
    }
  });

  test('NaN, +Infinity and -Infinity metrics round-trip (NULL + tag in SQL)', () => {
    const path = freshPath();
    withStore((store) => {
      const { id } = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND });
      store.logMetrics(id, 7, { nan: NaN, pinf: Infinity, ninf: -Infinity, negzero: -0, tiny: 5e-324, big: 1.7976931348623157e308 });
      store.logMetricsBatch(id, [{ step: 8, name: 'nan', value: NaN }, { step: 8, name: 'pinf', value: 1 }]);
      const byName = new Map(store.metrics(id, { names: ['nan', 'pinf', 'ninf', 'negzero', 'tiny', 'big'] })
        .filter((m) => m.step === 7).map((m) => [m.name, m.value]));
      sameNumber(byName.get('nan'), NaN, 'nan');
      sameNumber(byName.get('pinf'), Infinity, 'pinf');
      sameNumber(byName.get('ninf'), -Infinity, 'ninf');
      sameNumber(byName.get('tiny'), 5e-324, 'tiny');
      sameNumber(byName.get('big'), 1.7976931348623157e308, 'big');
      const series = store.metricSeries(id, 'nan');
      assert.deepEqual(series.step, [7, 8]);
      assert.ok(series.value.every(Number.isNaN));
      assert.deepEqual(store.metricSeries(id, 'pinf').value, [Infinity, 1]);
    }, path);
    // The representation: value NULL plus a tag; SQL aggregates skip the non-finite rows.
    const db = new Database(path, { readonly: true });
    try {
      const raw = db.prepare("SELECT name, value, value_nonfinite FROM metrics WHERE step = 7 AND name IN ('nan', 'pinf', 'ninf') ORDER BY name").all();
      assert.deepEqual(raw, [
        { name: 'nan', value: null, value_nonfinite: 'NaN' },
        { name: 'ninf', value: null, value_nonfinite: '-Infinity' },
        { name: 'pinf', value: null, value_nonfinite: 'Infinity' },
      ]);
      assert.deepEqual(db.prepare("SELECT MAX(value) AS m FROM metrics WHERE name = 'pinf'").get(), { m: 1 });
    } finally {
      db.close();
    }
  });

  test('the same (step, name) is written once: later values replace earlier ones', () => {
    withStore((store) => {
      const { id } = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND });
      store.logMetrics(id, 5, { loss: 1, acc: 0.1 });
      store.logMetrics(id, 5, { loss: 2 });
      store.logMetricsBatch(id, [{ step: 5, name: 'acc', value: 0.2 }, { step: 5, name: 'acc', value: 0.3 }, { step: 6, name: 'loss', value: NaN }]);
      store.logMetrics(id, 6, { loss: 0.5 });
      assert.deepEqual(store.metrics(id).map(({ step, name, value }) => [step, name, value]), [
        [5, 'acc', 0.3], [5, 'loss', 2], [6, 'loss', 0.5],
      ]);
    });
  });

  test('traces: scalar alpha, per-channel alpha (mean + vector), no alpha, non-finite values, upsert', () => {
    withStore((store) => {
      const { id } = store.createRun({ config: CONFIG, kind: 'vit', seed: 1, backend: BACKEND });
      store.logTraces(id, 0, [
        { layer: 'blocks.0.norm1', alpha: 0.5, inputStd: 2 },
        { layer: 'blocks.0.norm2', alpha: [0.25, 0.75, 1.25, 1.75], inputStd: 1.5, extra: { squash: 'tanh', nan: NaN } },
        { layer: 'final_norm', alpha: null, inputStd: 3 },
        { layer: 'blocks.1.norm1', inputStd: Infinity },
      ]);
      store.logTraces(id, 10, [{ layer: 'blocks.0.norm1', alpha: new Float32Array([0.5, NaN]), inputStd: 0.25 }]);
      store.logTraces(id, 10, [{ layer: 'blocks.0.norm1', alpha: 0.625, inputStd: 0.5 }]);
      const rows = store.traces(id);
      assert.deepEqual(rows.map((r) => [r.step, r.layer]), [
        [0, 'blocks.0.norm1'], [0, 'blocks.0.norm2'], [0, 'blocks.1.norm1'], [0, 'final_norm'], [10, 'blocks.0.norm1'],
      ]);
      const get = (step: number, layer: string) => rows.find((r) => r.step === step && r.layer === layer)!;
      assert.equal(get(0, 'blocks.0.norm1').alpha, 0.5);
      assert.equal(get(0, 'blocks.0.norm1').alphaVector, null);
      assert.equal(get(0, 'blocks.0.norm2').alpha, 1);
      assert.deepEqual(get(0, 'blocks.0.norm2').alphaVector, [0.25, 0.75, 1.25, 1.75]);
      assert.equal(get(0, 'blocks.0.norm2').extra?.squash, 'tanh');
      sameNumber(get(0, 'blocks.0.norm2').extra?.nan, NaN, 'extra.nan');
      assert.equal(get(0, 'final_norm').alpha, null);
      assert.equal(get(0, 'final_norm').inputStd, 3);
      assert.equal(get(0, 'blocks.1.norm1').inputStd, Infinity);
      assert.deepEqual([get(10, 'blocks.0.norm1').alpha, get(10, 'blocks.0.norm1').alphaVector, get(10, 'blocks.0.norm1').inputStd], [0.625, null, 0.5]);
      assert.deepEqual(store.traces(id, { layers: ['final_norm'] }).map((r) => r.step), [0]);

      // A NaN inside a vector makes the mean NaN; the vector keeps it.
      store.logTraces(id, 20, [{ layer: 'x', alpha: [1, NaN, -Infinity], inputStd: NaN }]);
      const t = store.traces(id, { fromStep: 20 })[0];
      sameNumber(t.alpha, NaN, 'alpha mean');
      sameNumber(t.inputStd, NaN, 'inputStd');
      assert.equal(t.alphaVector?.length, 3);
      sameNumber(t.alphaVector?.[1], NaN, 'vector[1]');
      sameNumber(t.alphaVector?.[2], -Infinity, 'vector[2]');
      assert.throws(() => store.logTraces(id, 1, [{ layer: 'x', alpha: 'big' as unknown as number, inputStd: 1 }]), /rows\[0\]\.alpha = "big"/);
    });
  });

  test('unknown run ids, bad statuses and bad values are errors that name what is wrong', () => {
    withStore((store, path) => {
      const { id } = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND });
      for (const call of [
        () => store.getRun('NOPE'), () => store.logMetrics('NOPE', 0, { loss: 1 }), () => store.startRun('NOPE'),
        () => store.finishRun('NOPE', { status: 'finished' }), () => store.metrics('NOPE'), () => store.traces('NOPE'),
        () => store.addArtifact('NOPE', { kind: 'checkpoint', path: 'x' }), () => store.latestCheckpoint('NOPE'),
        () => store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND, resumeOf: 'NOPE' }),
      ]) {
        assert.throws(call, (e: Error) => e instanceof StoreError && e.message.includes('"NOPE"') && e.message.includes(path));
      }
      assert.throws(() => store.finishRun(id, { status: 'done' as 'finished' }), (e: Error) =>
        e instanceof ConfigError && /status = "done" is not one of "finished", "diverged", "failed"/.test(e.message));
      assert.throws(() => store.listRuns({ status: 'sleeping' as 'running' }), /status = "sleeping"/);
      assert.throws(() => store.logMetrics(id, 0, { loss: '1' as unknown as number }), /loss = "1" is not a number/);
      assert.throws(() => store.logMetrics(id, -1, { loss: 1 }), /step = -1/);
      assert.throws(() => store.logMetrics(id, 1.5, { loss: 1 }), /step = 1.5/);
      assert.throws(() => store.logMetricsBatch(id, [{ step: 0, name: '', value: 1 }]), /rows\[0\]: name = ""/);
      assert.throws(() => store.createRun({ config: CONFIG, kind: 'lm', seed: 1.5, backend: BACKEND }), /seed = 1.5/);
      assert.throws(() => store.createRun({ config: [] as unknown as object, kind: 'lm', seed: 1, backend: BACKEND }), /config/);
      // A failed write leaves nothing behind.
      assert.equal(store.metrics(id).length, 0);
      store.startRun(id);
      store.finishRun(id, { status: 'diverged', reason: 'loss is NaN', step: 12 });
      assert.throws(() => store.startRun(id), /is 'diverged'/);
      const run = store.getRun(id);
      assert.deepEqual([run.status, run.statusReason, run.statusStep], ['diverged', 'loss is NaN', 12]);
    });
  });

  test('resumeOf: a run id, or a checkpoint file (resolved to its run when this store recorded it)', () => {
    withStore((store, path) => {
      const first = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND });
      const ckpt = join(TMP, 'ckpt', `${first.id}-10.safetensors`);
      store.addArtifact(first.id, { kind: 'checkpoint', path: ckpt, step: 10 });
      const byId = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND, resumeOf: first.id });
      assert.deepEqual([byId.resumeOf, byId.resumeFrom], [first.id, null]);
      const byPath = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND, resumeOf: ckpt });
      assert.deepEqual([byPath.resumeOf, byPath.resumeFrom], [first.id, ckpt]);
      const byFrom = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND, resumeFrom: ckpt });
      assert.deepEqual([byFrom.resumeOf, byFrom.resumeFrom], [first.id, ckpt]);
      const foreign = join(TMP, `foreign-${next()}.safetensors`);
      writeFileSync(foreign, 'x');
      const byFile = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND, resumeOf: foreign });
      assert.deepEqual([byFile.resumeOf, byFile.resumeFrom], [null, foreign]);
      assert.throws(() => store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND, resumeOf: join(TMP, 'nope.safetensors') }),
        (e: Error) => e instanceof StoreError && e.message.includes(path) && /neither a run id .* nor a checkpoint file/.test(e.message));
    });
  });

  test('run ids sort by creation time; a unique prefix resolves to its run', () => {
    withStore((store) => {
      const ids = Array.from({ length: 20 }, (_, i) => store.createRun({ config: { i }, kind: 'lm', seed: i, backend: BACKEND }).id);
      assert.deepEqual([...ids].sort(), ids);
      assert.equal(new Set(ids).size, 20);
      const t = runIdTime(ids[0])!;
      assert.ok(Math.abs(t - Date.now()) < 60_000, `time in id: ${t}`);
      assert.deepEqual(store.listRuns().map((r) => r.id), ids);
      assert.equal(store.resolveRunId(ids[0]), ids[0]);
      assert.equal(store.resolveRunId(ids[0].slice(0, 24).toLowerCase() + ids[0].slice(24)), ids[0]);
      assert.throws(() => store.resolveRunId(ids[0].slice(0, 4)), /ambiguous/);
    });
  });
});

describe('run store: config hashes, lookups, filters', () => {
  test('configHash is stable under key order and differs between configs', () => {
    const a = { model: { layers: 2, dModel: 64, norm: { alpha0: 0.5, kind: 'dyt' } }, lr: 1e-3, tags: ['x', 'y'] };
    const b = { tags: ['x', 'y'], lr: 1e-3, model: { norm: { kind: 'dyt', alpha0: 0.5 }, dModel: 64, layers: 2 } };
    assert.equal(canonicalJson(a), '{"lr":0.001,"model":{"dModel":64,"layers":2,"norm":{"alpha0":0.5,"kind":"dyt"}},"tags":["x","y"]}');
    assert.equal(canonicalJson(b), canonicalJson(a));
    assert.equal(configHash(a), configHash(b));
    assert.match(configHash(a), /^[0-9a-f]{64}$/);
    assert.equal(configHash({ x: 1, y: undefined }), configHash({ x: 1 }));
    const variants = [
      { ...a, lr: 2e-3 }, { ...a, tags: ['y', 'x'] }, { ...a, model: { ...a.model, norm: { kind: 'dyt', alpha0: 0.6 } } },
      { ...a, extra: null }, { ...a, lr: '0.001' },
    ];
    const hashes = new Set([configHash(a), ...variants.map((v) => configHash(v))]);
    assert.equal(hashes.size, variants.length + 1);
    assert.throws(() => canonicalJson({ model: { lr: NaN } }), /model\.lr = NaN/);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), /cycle/);
  });

  test('findFinished returns the latest finished run of a config hash', () => {
    withStore((store) => {
      const hash = configHash(CONFIG);
      assert.equal(store.findFinished(hash), undefined);
      const r1 = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND });
      store.startRun(r1.id);
      store.finishRun(r1.id, { status: 'failed', reason: 'oom' });
      assert.equal(store.findFinished(hash), undefined);
      const r2 = store.createRun({ config: { ...CONFIG }, kind: 'lm', seed: 1, backend: BACKEND });
      store.startRun(r2.id);
      store.finishRun(r2.id, { status: 'finished' });
      const other = store.createRun({ config: { ...CONFIG, steps: 200 }, kind: 'lm', seed: 1, backend: BACKEND });
      store.startRun(other.id);
      store.finishRun(other.id, { status: 'finished' });
      assert.equal(store.findFinished(hash)?.id, r2.id);
      const r3 = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND, resumeOf: r2.id });
      assert.equal(r3.resumeOf, r2.id);
      store.startRun(r3.id);
      store.finishRun(r3.id, { status: 'finished' });
      assert.equal(store.findFinished(hash)?.id, r3.id);
      assert.equal(store.findFinished('0'.repeat(64)), undefined);
    });
  });

  test('listRuns filters by status, kind, config hash and name', () => {
    withStore((store) => {
      const mk = (kind: string, name: string, config: object) => store.createRun({ config, kind, name, seed: 0, backend: BACKEND }).id;
      const a = mk('lm', 'a', { x: 1 });
      const b = mk('lm', 'b', { x: 2 });
      const c = mk('vit', 'c', { x: 1 });
      const d = mk('vit', 'a', { x: 3 });
      store.startRun(a);
      store.startRun(b);
      store.finishRun(b, { status: 'finished' });
      store.startRun(c);
      store.finishRun(c, { status: 'diverged' });
      const ids = (f: Parameters<RunStore['listRuns']>[0]) => store.listRuns(f).map((r) => r.id);
      assert.deepEqual(ids({}), [a, b, c, d]);
      assert.deepEqual(ids({ status: 'running' }), [a]);
      assert.deepEqual(ids({ status: ['finished', 'diverged'] }), [b, c]);
      assert.deepEqual(ids({ status: 'created' }), [d]);
      assert.deepEqual(ids({ kind: 'vit' }), [c, d]);
      assert.deepEqual(ids({ configHash: configHash({ x: 1 }) }), [a, c]);
      assert.deepEqual(ids({ name: 'a' }), [a, d]);
      assert.deepEqual(ids({ name: 'a', kind: 'lm' }), [a]);
      assert.deepEqual(ids({ kind: 'lm', status: 'diverged' }), []);
    });
  });
});
