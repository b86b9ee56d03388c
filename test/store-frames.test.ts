// The run store's views: frames (runs with flattened config, metrics in long
// format, traces), CSV and Parquet exports read back, and merging stores.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parquetToTable, toTable, type RunStore } from '../src/experiments/store/index.js';
import { arquero } from '../src/experiments/store/frames.js';
import { BACKEND, CONFIG, sameNumber, tempStores } from './fixtures/store-env.js';

const { dir: TMP, next, freshPath, withStore } = tempStores();

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
      const dir = join(TMP, `csv-${next()}`);
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
      const file = join(TMP, `pq-${next()}`, 'metrics.parquet');
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
