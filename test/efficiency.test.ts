// analysis/efficiency: layer timings as ratios to a copy, training-step
// timings per norm, and the loader of committed GPU results (data/gpu/*.json).
//
// Run: node --import tsx --test test/efficiency.test.ts
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../src/engine/tf.js';
import { registerFusedKernels } from '../src/engine/ops/index.js';
import { gpuTimingRows, loadGpuResults, timeLayers, timeTrainSteps } from '../src/analysis/efficiency.js';

before(async () => {
  await tf.setBackend('cpu');
  registerFusedKernels('cpu');
});

describe('timeLayers', () => {
  test('every op and impl, ratios to the same copy, and nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const rows = await timeLayers({ sizes: [[64, 32]], reps: 2 });
    assert.equal(rows.length, 6);
    assert.deepEqual(rows.map((r) => `${r.op}/${r.impl}`), ['layernorm/fused', 'layernorm/composed', 'rmsnorm/fused', 'rmsnorm/composed', 'dyt/fused', 'dyt/composed']);
    for (const r of rows) {
      assert.equal(r.backend, 'cpu');
      assert.equal(r.size, '[64, 32]');
      assert.ok(r.fwdMs > 0 && r.fwdBwdMs > 0 && r.copyMs > 0);
      assert.equal(r.copyMs, rows[0]!.copyMs, 'one copy reference per size');
      assert.ok(Math.abs(r.fwdXCopy - r.fwdMs / r.copyMs) < 1e-12);
      assert.ok(Math.abs(r.fwdBwdXCopy - r.fwdBwdMs / r.copyMs) < 1e-12);
      assert.match(r.copyMethod, /tf\.(add|mul)/);
    }
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('timeTrainSteps', () => {
  test('one row per norm with tokens/s from the step time', async () => {
    const m = { dModel: 16, nLayers: 1, nHeads: 2, context: 8, batch: 2, vocab: 11 };
    const rows = await timeTrainSteps(m, [{ kind: 'layernorm' }, { kind: 'dyt', impl: 'composed' }], { steps: 1, label: 'tiny' });
    assert.deepEqual(rows.map((r) => [r.norm, r.impl, r.model]), [['layernorm', 'auto', 'tiny'], ['dyt', 'composed', 'tiny']]);
    for (const r of rows) assert.ok(Math.abs(r.tokensPerSec - 16 / (r.stepMs / 1000)) < 1e-6);
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
