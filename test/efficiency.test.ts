// analysis/efficiency: layer timings as ratios to a copy, training-step
// timings per norm, and the loader of committed GPU results (data/gpu/*.json).
//
// Run: node --import tsx --test test/efficiency.test.ts
import { before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../src/engine/tf.js';
import { registerFusedKernels } from '../src/engine/ops/index.js';
import { gpuTimingRows, loadGpuResults, timeInterleaved, timeLayers, timeRuns, timeTrainSteps } from '../src/analysis/efficiency.js';

before(async () => {
  await tf.setBackend('cpu');
  registerFusedKernels('cpu');
});

describe('timeRuns', () => {
  test('warm-up runs are not timed; median and best of the timed runs (scripted clock)', async () => {
    // A clock that moves only when a run runs: the runs cost 50 (warm-up), 5, 3, 9 and 7 ms.
    let now = 0, k = 0;
    const costs = [50, 5, 3, 9, 7];
    const clock = mock.method(performance, 'now', () => now);
    try {
      const r = await timeRuns(() => { now += costs[k++]!; return [tf.zeros([2])]; }, 1, 4);
      assert.deepEqual(r, { medianMs: 6, minMs: 3, runs: 4 }); // median of 5, 3, 9, 7 = (5 + 7) / 2
      assert.equal(k, 5, 'one warm-up and four timed runs');
    } finally {
      clock.mock.restore();
    }
  });
});

describe('timeLayers', () => {
  test('every op and impl against a copy timed with it (one per size and impl), on the backend in use, and nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const rows = await timeLayers({ sizes: [[64, 32], [16, 8]], reps: 2 });
    assert.deepEqual(rows.map((r) => `${r.size} ${r.op}/${r.impl}`), ['[64, 32]', '[16, 8]'].flatMap((size) =>
      ['layernorm/fused', 'layernorm/composed', 'rmsnorm/fused', 'rmsnorm/composed', 'dyt/fused', 'dyt/composed'].map((o) => `${size} ${o}`)));
    for (const size of ['[64, 32]', '[16, 8]']) {
      for (const impl of ['fused', 'composed']) {
        const group = rows.filter((r) => r.size === size && r.impl === impl);
        assert.equal(new Set(group.map((r) => `${r.copyMs} ${r.copyFwdBwdMs}`)).size, 1, `${size} ${impl}: the ops share the copy they alternated with`);
      }
    }
    for (const r of rows) {
      assert.equal(r.backend, 'cpu');
      assert.ok(r.fwdMs > 0 && r.fwdBwdMs > 0 && r.copyMs > 0 && r.copyFwdBwdMs > 0);
      assert.equal(r.fwdXCopy, r.fwdMs / r.copyMs);
      assert.equal(r.fwdBwdXCopy, r.fwdBwdMs / r.copyFwdBwdMs);
      assert.match(r.copyMethod, /tf\.(add|mul)/);
    }
    assert.equal(tf.memory().numTensors, before);
  });

  test('timeInterleaved alternates the runs rep by rep after the warm-up rounds (scripted clock)', async () => {
    let now = 0;
    const order: number[] = [];
    const clock = mock.method(performance, 'now', () => now);
    try {
      // Run j costs 1 + j ms.
      const runs = [0, 1, 2].map((j) => () => { order.push(j); now += 1 + j; return [tf.zeros([1])]; });
      const t = await timeInterleaved(runs, 1, 2);
      assert.deepEqual(order, [0, 1, 2, 0, 1, 2, 0, 1, 2], 'one warm-up round, then two rounds of all three');
      assert.deepEqual(t, [1, 2, 3].map((ms) => ({ medianMs: ms, minMs: ms, runs: 2 })));
    } finally {
      clock.mock.restore();
    }
  });
});

describe('timeTrainSteps', () => {
  test('one row per norm; tokens/s from the step time (scripted clock: every step takes 2 ms)', async () => {
    const m = { dModel: 16, nLayers: 1, nHeads: 2, context: 8, batch: 2, vocab: 11 };
    // Each reading of the clock is 2 ms after the last: a step read at its start and at its end measures 2 ms.
    let now = 0;
    const clock = mock.method(performance, 'now', () => (now += 2));
    let rows;
    try {
      rows = await timeTrainSteps(m, [{ kind: 'layernorm' }, { kind: 'dyt', impl: 'composed' }], { steps: 2, label: 'tiny' });
    } finally {
      clock.mock.restore();
    }
    assert.deepEqual(rows.map((r) => [r.norm, r.impl, r.model]), [['layernorm', 'auto', 'tiny'], ['dyt', 'composed', 'tiny']]);
    // batch 2 x context 8 = 16 tokens per step, by hand: 16 / 0.002 s = 8000 tokens/s.
    for (const r of rows) {
      assert.equal(r.stepMs, 2);
      assert.equal(r.tokensPerSec, 8000);
    }
  });
});

describe('loadGpuResults', () => {
  const sample = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    schema: 'dytlab-gpu-bench/1', smoke: false, date: '2026-11-28T10:00:00Z', card: 'NVIDIA H100 80GB HBM3', driver: '570.1',
    provenance: { commit: 'abc123' },
    cuda: { status: 'ok', timings: [{ path: 'cuda', size: '[4096, 768]', op: 'copy', impl: 'cuMemcpyDtoDAsync', pass: 'fwd', ms: 0.01, gbps: 2500 }], targets: [] },
    webgpu: { status: 'unavailable', reason: 'no adapter', timings: [] },
    pytorch: { status: 'ok', rows: [{ path: 'pytorch', size: '[4096, 768]', op: 'dyt', impl: 'eager', pass: 'fwd', ms: 0.03, gbps: 800, xCopy: 3 }] },
    ...over,
  });

  test('no folder or no files: an empty list', () => {
    assert.deepEqual(loadGpuResults(path.join(os.tmpdir(), 'dytlab-no-such-dir')), []);
  });

  test('loads results newest first, skips smoke runs unless asked, flattens timings with card and date', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-gpu-'));
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify(sample()));
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify(sample({ date: '2026-12-01T00:00:00Z', card: 'NVIDIA H200' })));
    fs.writeFileSync(path.join(dir, 'smoke.json'), JSON.stringify(sample({ smoke: true })));
    const r = loadGpuResults(dir);
    assert.deepEqual(r.map((x) => x.card), ['NVIDIA H200', 'NVIDIA H100 80GB HBM3']);
    assert.equal(loadGpuResults(dir, { includeSmoke: true }).length, 3);
    const rows = gpuTimingRows(r[1]!);
    assert.deepEqual(rows.map((x) => [x.path, x.card, x.date]), [['cuda', 'NVIDIA H100 80GB HBM3', '2026-11-28'], ['pytorch', 'NVIDIA H100 80GB HBM3', '2026-11-28']]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a malformed file is an error naming the file and the field', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-gpu-'));
    fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(sample({ card: 42 })));
    assert.throws(() => loadGpuResults(dir), (e: Error) => /bad\.json/.test(e.message) && /card/.test(e.message));
    fs.writeFileSync(path.join(dir, 'bad.json'), '{');
    assert.throws(() => loadGpuResults(dir), /bad\.json: not valid JSON/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
