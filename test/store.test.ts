// The run store (src/experiments/store.ts): SQLite in WAL mode, written by
// several processes at once, read back by notebooks and exports.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import {
  canonicalJson, configHash, openStore, parquetToTable, resolveStorePath, runIdTime, RunStore, STORE_SCHEMA_VERSION,
  StoreError, toTable,
} from '../src/experiments/store.js';
import { arquero } from '../src/experiments/store-frames.js';
import { ConfigError } from '../src/util/schema.js';
import { VERSION } from '../src/version.js';

const ROOT = join(__dirname, '..');
const WRITER = join(__dirname, 'fixtures', 'store-writer.ts');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-store-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

let counter = 0;
const freshPath = (label = 'store'): string => join(TMP, `${label}-${counter++}.sqlite`);
const BACKEND = { backend: 'cpu', backendVersion: '4.22.0', threads: 1 };
const CONFIG = { model: { dModel: 64, layers: 2, norm: { kind: 'dyt', alpha0: 0.5 } }, optimizer: { lr: 1e-3 }, steps: 100 };

function withStore<T>(fn: (store: RunStore, path: string) => T, path = freshPath()): T {
  const store = openStore(path);
  try {
    return fn(store, path);
  } finally {
    store.close();
  }
}

function sameNumber(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what}: ${String(actual)} is not a number`);
  assert.ok(Object.is(actual, expected) || (Number.isNaN(expected) && Number.isNaN(actual as number)),
    `${what}: got ${String(actual)}, expected ${expected}`);
}

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
      const foreign = join(TMP, `foreign-${counter++}.safetensors`);
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

describe('run store: files, schema, environment', () => {
  test('a file that is not a dytlab store is refused with a message naming it', () => {
    const text = join(TMP, 'notes.sqlite');
    writeFileSync(text, 'this is not a database, just some notes that happen to be long enough\n'.repeat(20));
    assert.throws(() => openStore(text), (e: Error) =>
      e instanceof StoreError && e.message.includes(text) && /not a dytlab run store: not an SQLite database/.test(e.message));
    assert.equal(readFileSync(text, 'utf8').slice(0, 12), 'this is not ', 'the file is left as it was');

    const other = join(TMP, 'other-app.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE users (id INTEGER); CREATE TABLE orders (id INTEGER)');
    db.close();
    assert.throws(() => openStore(other), (e: Error) =>
      e.message.includes(other) && /not a dytlab run store \(it has no meta table; its tables: orders, users\)/.test(e.message));

    const foreignMeta = join(TMP, 'foreign-meta.sqlite');
    const db2 = new Database(foreignMeta);
    db2.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('app', 'mlflow')");
    db2.close();
    assert.throws(() => openStore(foreignMeta), /not a dytlab run store \(its meta table says app = "mlflow"\)/);

    const newer = freshPath('newer');
    openStore(newer).close();
    const db3 = new Database(newer);
    db3.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(STORE_SCHEMA_VERSION + 1));
    db3.close();
    assert.throws(() => openStore(newer), (e: Error) =>
      e.message.includes(newer) && e.message.includes(`schema version ${STORE_SCHEMA_VERSION + 1}`) && /Upgrade dytlab/.test(e.message));

    assert.throws(() => openStore(TMP), /is a directory/);
    assert.throws(() => openStore(join(TMP, 'missing.sqlite'), { readonly: true }), /does not exist/);
  });

  test('a new store is in WAL mode with a busy timeout and records its schema version', () => {
    const path = freshPath();
    openStore(path).close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual(db.prepare("SELECT value FROM meta WHERE key IN ('app', 'schema_version') ORDER BY key").pluck().all(),
        ['dytlab', String(STORE_SCHEMA_VERSION)]);
    } finally {
      db.close();
    }
    const store = openStore(path);
    try {
      assert.equal((store as unknown as { db: InstanceType<typeof Database> }).db.pragma('busy_timeout', { simple: true }), 30_000);
    } finally {
      store.close();
    }
    assert.throws(() => store.listRuns(), /is closed/);
  });

  test('the store path: argument, else $DYTLAB_STORE, else runs/dytlab.sqlite under the cwd', () => {
    const saved = process.env.DYTLAB_STORE;
    try {
      delete process.env.DYTLAB_STORE;
      assert.equal(resolveStorePath(), join(process.cwd(), 'runs', 'dytlab.sqlite'));
      const envPath = freshPath('env');
      process.env.DYTLAB_STORE = envPath;
      assert.equal(resolveStorePath(), envPath);
      assert.equal(resolveStorePath('x/y.sqlite'), join(process.cwd(), 'x', 'y.sqlite'));
      const store = openStore();
      try {
        assert.equal(store.path, envPath);
      } finally {
        store.close();
      }
    } finally {
      if (saved === undefined) delete process.env.DYTLAB_STORE;
      else process.env.DYTLAB_STORE = saved;
    }
  });
});

// ---------------------------------------------------------------------------
// Several processes

interface Child {
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  waitFor(prefix: string): Promise<string>;
  send(line: string): void;
  kill(signal: NodeJS.Signals): void;
}

function spawnWriter(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (l: string) => void }[] = [];
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => line.startsWith(x.prefix))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line.slice(w.prefix.length));
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(timer));
  return {
    lines,
    exited,
    waitFor: (prefix) => new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => l.startsWith(prefix));
      if (seen !== undefined) return resolve(seen.slice(prefix.length));
      waiters.push({ prefix, resolve });
      void exited.then((r) => reject(new Error(`child exited (${r.code ?? r.signal}) before printing ${prefix}: ` +
        `${lines.join(' | ')} ${r.stderr.slice(-2000)}`)));
    }),
    send: (line) => child.stdin.write(`${line}\n`),
    kill: (signal) => child.kill(signal),
  };
}

describe('run store: several processes', () => {
  test('three processes write 500 rows each into one new store at the same time', async () => {
    const path = freshPath('concurrent');
    const children = ['a', 'b', 'c'].map((label) => spawnWriter(['writer', path, label, '500']));
    const ids = await Promise.all(children.map((c) => c.waitFor('@@ready ')));
    for (const c of children) c.send('go');
    const results = await Promise.all(children.map((c) => c.exited));
    results.forEach((r, i) => {
      const errors = children[i].lines.filter((l) => l.startsWith('@@error'));
      assert.deepEqual(errors, [], `writer ${i} reported errors`);
      assert.equal(r.code, 0, `writer ${i} exited with ${r.code ?? r.signal}: ${r.stderr.slice(-2000)}`);
    });
    const done = children.map((c) => JSON.parse(c.lines.find((l) => l.startsWith('@@done '))!.slice(7)) as { ms: number });
    console.log(`# concurrent writers: ${done.map((d) => `${d.ms} ms`).join(', ')} for 500 transactions each`);

    const store = openStore(path, { readonly: true });
    try {
      assert.equal(new Set(ids).size, 3);
      const runs = store.listRuns();
      assert.deepEqual(runs.map((r) => r.id).sort(), [...ids].sort());
      for (const id of ids) {
        const run = store.getRun(id);
        assert.equal(run.status, 'finished');
        assert.equal(run.statusStep, 499);
        const series = store.metricSeries(id, 'loss');
        assert.equal(series.step.length, 500);
        assert.deepEqual(series.step, Array.from({ length: 500 }, (_, i) => i));
        assert.deepEqual(series.value, series.step.map((s) => 1 / (s + 1)));
      }
      const db = new Database(path, { readonly: true });
      try {
        assert.equal(db.prepare('SELECT COUNT(*) FROM metrics').pluck().get(), 1500);
        // The writers did write at the same time: their first and last rows interleave.
        const spans = db.prepare('SELECT run_id, MIN(wall_time) AS t0, MAX(wall_time) AS t1 FROM metrics GROUP BY run_id')
          .all() as { t0: number; t1: number }[];
        const overlap = Math.min(...spans.map((s) => s.t1)) - Math.max(...spans.map((s) => s.t0));
        console.log(`# writers' spans overlap by ${(overlap * 1000).toFixed(0)} ms`);
        assert.ok(overlap > 0, `the writers ran one after another (spans ${JSON.stringify(spans)}); the test proves nothing`);
      } finally {
        db.close();
      }
    } finally {
      store.close();
    }
  });

  test('a process killed mid-run leaves a readable store; its run is then marked failed', async () => {
    const path = freshPath('killed');
    const victim = spawnWriter(['victim', path]);
    const id = await victim.waitFor('@@running ');
    await new Promise((r) => setTimeout(r, 150));
    victim.kill('SIGKILL');
    const r = await victim.exited;
    assert.equal(r.signal, 'SIGKILL');

    const ro = openStore(path, { readonly: true });
    let steps: number;
    try {
      const run = ro.getRun(id);
      assert.equal(run.status, 'running', 'a read-only open marks nothing');
      steps = ro.metricSeries(id, 'loss').step.length;
      assert.ok(steps > 50, `only ${steps} steps readable`);
      assert.ok(ro.metricSeries(id, 'lr').step.length >= steps - 1);
      assert.ok(ro.traces(id).length >= steps - 1);
    } finally {
      ro.close();
    }

    const store = openStore(path, { staleAfterSeconds: false });
    try {
      assert.equal(store.getRun(id).status, 'running');
      assert.equal(store.markStaleRuns({ olderThanSeconds: 3600 }), 1);
      const run = store.getRun(id);
      assert.equal(run.status, 'failed');
      assert.match(run.statusReason ?? '', /^process died \(last heartbeat \d{4}-\d\d-\d\dT[^;]+; pid \d+ on .+ no longer exists\)$/);
      assert.equal(run.statusStep, steps - 1);
      assert.ok(run.finishedAt);
      assert.equal(store.markStaleRuns({ olderThanSeconds: 3600 }), 0);
      // The store still takes writes.
      const next = store.createRun({ config: { victim: true }, kind: 'lm', seed: 1, backend: BACKEND, resumeOf: id });
      store.logMetrics(next.id, 0, { loss: 1 });
    } finally {
      store.close();
    }
  });

  test('opening a store for writing marks runs of dead processes failed', async () => {
    const path = freshPath('killed-open');
    const victim = spawnWriter(['victim', path]);
    const id = await victim.waitFor('@@running ');
    victim.kill('SIGKILL');
    await victim.exited;
    withStore((store) => {
      assert.equal(store.getRun(id).status, 'failed');
      assert.match(store.getRun(id).statusReason ?? '', /^process died/);
    }, path);
  });

  test('a run whose heartbeat is too old is marked failed; a heartbeat from its process revives it', async () => {
    const store = openStore(freshPath());
    try {
      const { id } = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND });
      store.startRun(id);
      assert.equal(store.markStaleRuns({ olderThanSeconds: 60 }), 0, 'this process is alive and its heartbeat is fresh');
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(store.markStaleRuns({ olderThanSeconds: 0.01 }), 1);
      assert.match(store.getRun(id).statusReason ?? '', /^process died \(last heartbeat .*older than the 0.01 s limit\)$/);
      assert.equal(store.getRun(id).status, 'failed');
      store.heartbeat(id);
      assert.equal(store.getRun(id).status, 'running');
      assert.equal(store.getRun(id).statusReason, null);
      store.finishRun(id, { status: 'finished' });
      store.heartbeat(id);
      assert.equal(store.getRun(id).status, 'finished', 'a heartbeat does not revive a finished run');
    } finally {
      store.close();
    }
  });
});

// ---------------------------------------------------------------------------
// Frames, exports, merge

function populate(store: RunStore, seed: number, opts: { nan?: boolean } = {}): string {
  const config = { ...CONFIG, seed, note: 'has "quotes", commas\nand a newline' };
  const { id } = store.createRun({ config, kind: 'lm', seed, backend: BACKEND });
  store.startRun(id);
  for (let step = 0; step < 5; step++) {
    store.logMetrics(id, step, { loss: 1 / (step + 1) + seed, 'val/loss': step === 4 && opts.nan ? NaN : step * 0.5 });
    store.logTraces(id, step, [
      { layer: 'blocks.0.norm1', alpha: 0.5 + step / 10, inputStd: 1 + step },
      { layer: 'blocks.0.norm2', alpha: [0.5, 1.5], inputStd: 2, extra: { k: step } },
    ]);
  }
  store.logMetrics(id, 5, { loss: Infinity, 'grad/norm': -Infinity });
  store.addArtifact(id, { kind: 'checkpoint', path: `ckpt/${seed}.safetensors`, step: 5 });
  store.finishRun(id, { status: 'diverged', reason: 'loss is Infinity', step: 5 });
  return id;
}

function assertSameMetrics(table: { objects(): object[] }, expected: { run_id: string; step: number; name: string; value: number }[]): void {
  const got = (table.objects() as Record<string, unknown>[]).map((o) => ({
    run_id: o.run_id, step: Number(o.step), name: o.name, value: o.value,
  }));
  assert.equal(got.length, expected.length);
  got.forEach((g, i) => {
    const e = expected[i];
    assert.deepEqual([g.run_id, g.step, g.name], [e.run_id, e.step, e.name], `row ${i}`);
    sameNumber(g.value, e.value, `row ${i} (${e.name} @ ${e.step})`);
  });
}

describe('run store: frames, CSV, Parquet, merge', () => {
  test('frames: runs with flattened config, metrics in long format with chosen config fields', () => {
    withStore((store) => {
      const a = populate(store, 1);
      const b = populate(store, 2, { nan: true });
      const runs = store.runsFrame();
      assert.equal(runs.numRows(), 2);
      for (const col of ['id', 'status', 'config_hash', 'config.model.norm.kind', 'config.optimizer.lr', 'backend_name']) {
        assert.ok(runs.columnNames().includes(col), `runsFrame lacks ${col}: ${runs.columnNames().join(', ')}`);
      }
      assert.deepEqual(runs.array('config.seed'), [1, 2]);
      assert.deepEqual(runs.array('status'), ['diverged', 'diverged']);
      assert.equal(store.runsFrame({ status: 'finished' }).numRows(), 0);

      const m = store.metricsFrame([a, b], ['loss'], { config: ['seed', 'model.norm.kind'] });
      assert.deepEqual(m.columnNames(), ['run_id', 'run_name', 'name', 'step', 'value', 'wall_time', 'config.seed', 'config.model.norm.kind']);
      assert.equal(m.numRows(), 12);
      assert.deepEqual(m.array('config.seed'), [...Array(6).fill(1), ...Array(6).fill(2)]);
      assert.equal(m.array('value')[5], Infinity);
      assert.equal(store.metricsFrame(b).numRows(), 12);
      const t = store.tracesFrame(a);
      assert.equal(t.numRows(), 10);
      assert.equal(t.array('alpha_vector')[1], '[0.5,1.5]');
      assert.equal(toTable([{ x: 1 }, { x: 2 }]).numRows(), 2);
      assert.throws(() => store.metricsFrame(['NOPE']), /unknown run id "NOPE"/);
    });
  });

  test('CSV export reads back with the same values, NaN and Infinity included', () => {
    withStore((store) => {
      const a = populate(store, 1, { nan: true });
      const b = populate(store, 2);
      const dir = join(TMP, `csv-${counter++}`);
      const res = store.exportCSV(dir, 'metrics');
      assert.equal(res.path, join(dir, 'metrics.csv'));
      assert.equal(res.rows, 24);
      const aq = arquero();
      const back = aq.fromCSV(readFileSync(res.path, 'utf8'));
      const expected = [a, b].flatMap((id) => store.metrics(id).map(({ step, name, value }) => ({ run_id: id, step, name, value })));
      assert.ok(expected.some((e) => Number.isNaN(e.value)) && expected.some((e) => e.value === -Infinity));
      assertSameMetrics(back, expected);

      assert.throws(() => store.exportCSV(join(dir, 'm.parquet'), 'metrics'), /ends in \.parquet, but this export writes \.csv/);
      const one = store.exportCSV(join(dir, 'only-b.csv'), 'metrics', b);
      assert.equal(aq.fromCSV(readFileSync(one.path, 'utf8')).numRows(), 12);

      const runs = aq.fromCSV(readFileSync(store.exportCSV(dir, 'runs').path, 'utf8'), { parse: { config: String } });
      assert.deepEqual(runs.array('id'), [a, b]);
      assert.deepEqual(JSON.parse(runs.array('config')[0] as string), store.getRun(a).config);
      assert.deepEqual(runs.array('config.note'), [store.getRun(a).config.note, store.getRun(b).config.note]);

      const traces = aq.fromCSV(readFileSync(store.exportCSV(dir, 'traces', [a]).path, 'utf8'));
      assert.equal(traces.numRows(), 10);
      assert.deepEqual(traces.array('alpha').slice(0, 3), [0.5, 1, 0.5 + 1 / 10]);
    });
  });

  test('Parquet export reads back with parquet-wasm + arquero', () => {
    withStore((store) => {
      const a = populate(store, 1, { nan: true });
      const b = populate(store, 2);
      const file = join(TMP, `pq-${counter++}`, 'metrics.parquet');
      const res = store.exportParquet(file, 'metrics');
      assert.equal(res.path, file);
      const back = parquetToTable(readFileSync(file));
      const expected = [a, b].flatMap((id) => store.metrics(id).map(({ step, name, value }) => ({ run_id: id, step, name, value })));
      assertSameMetrics(back, expected);

      const runs = parquetToTable(readFileSync(store.exportParquet(file.replace('metrics', 'runs'), 'runs').path));
      assert.deepEqual(runs.array('id'), [a, b]);
      assert.deepEqual(runs.array('status_reason'), ['loss is Infinity', 'loss is Infinity']);
      assert.deepEqual(Array.from(runs.array('config.optimizer.lr') as ArrayLike<number>), [1e-3, 1e-3]);

      const traces = parquetToTable(readFileSync(store.exportParquet(file.replace('metrics', 'traces'), 'traces', b).path));
      assert.equal(traces.numRows(), 10);
      const rows = traces.objects() as Record<string, unknown>[];
      assert.deepEqual(rows.map((r) => [r.run_id, Number(r.step), r.layer, r.alpha, r.input_std]),
        store.traces(b).map((t) => [b, t.step, t.layer, t.alpha, t.inputStd]));
    });
  });

  test('merge copies absent runs with their rows; merging again copies nothing', () => {
    const pathA = freshPath('merge-a');
    const pathB = freshPath('merge-b');
    const [a1] = withStore((s) => [populate(s, 1)], pathA);
    const [b1, b2] = withStore((s) => [populate(s, 2), populate(s, 3, { nan: true })], pathB);
    withStore((store) => {
      const first = store.merge(pathB);
      assert.deepEqual(first, { runs: 2, skipped: 0, metrics: 24, traces: 20, artifacts: 2 });
      assert.deepEqual(store.listRuns().map((r) => r.id).sort(), [a1, b1, b2].sort());
      assert.deepEqual(store.merge(pathB), { runs: 0, skipped: 2, metrics: 0, traces: 0, artifacts: 0 });
      assert.equal(store.merge(pathA).skipped, 3, 'merging a store into itself skips all');
      assert.equal(store.metrics(b2).length, 12);
      sameNumber(store.metricSeries(b2, 'val/loss').value[4], NaN, 'merged NaN');
      assert.equal(store.traces(b1).length, 10);
      assert.equal(store.latestCheckpoint(b1)?.path, 'ckpt/2.safetensors');
      assert.equal(store.artifacts(b1).length, 1);
      assert.deepEqual(store.getRun(b1), withStore((s) => s.getRun(b1), pathB));
    }, pathA);
    // B merged into A's copy the other way: only A's run is new.
    withStore((store) => assert.deepEqual(store.merge(pathA), { runs: 1, skipped: 2, metrics: 12, traces: 10, artifacts: 1 }), pathB);
    const text = join(TMP, 'merge-notes.sqlite');
    writeFileSync(text, 'not a store\n'.repeat(100));
    withStore((store) => assert.throws(() => store.merge(text), (e: Error) => e.message.includes(text) && /not a dytlab run store/.test(e.message)), pathA);
  });
});
