// Massive activations (Sun et al. 2024): median and ratio on a hand-computed
// array, planted massive values found exactly (and nothing below the
// thresholds), the census on a loaded snapshot; windowsTask's next-token loss
// by hand, and evaluatePtq / layerSqnr on a loaded checkpoint through it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { massiveStats, massiveActivations, medianAbs, windowsTask, evaluatePtq, layerSqnr, LINEAR_INPUT_SITES } from '../src/analysis/index.js';
import { loadPretrained } from '../src/pretrained/index.js';
import type { HookedModel } from '../src/models/types.js';

const FIX = join(__dirname, 'fixtures', 'pretrained');

describe('massiveStats', () => {
  test('median |x| and max / median by hand', () => {
    // |x| = 1, 2, 3, 4, 5, 6 -> median (3 + 4) / 2 = 3.5; max 6; ratio 6 / 3.5.
    const s = massiveStats({ data: Float32Array.from([1, -2, 3, -4, 5, -6]), shape: [2, 3] }, { topK: 2 });
    assert.equal(s.medianAbs, 3.5);
    assert.equal(s.maxAbs, 6);
    assert.equal(s.ratio, 6 / 3.5);
    assert.deepEqual(s.top.map((v) => [v.value, v.row, v.dim]), [[-6, 1, 2], [5, 1, 1]]);
    assert.equal(s.massiveCount, 0);
    assert.equal(medianAbs([-5, 1, 2]), 2);
    assert.ok(Number.isNaN(medianAbs([])));
  });

  test('planted massive values are found exactly, with their (batch, pos, dim, token); none below the thresholds', () => {
    // 2 sequences of 8 tokens, 16 dims, values in (-1, 1) (median |x| ~ 0.5).
    const B = 2, T = 8, d = 16, data = new Float32Array(B * T * d);
    let seed = 1;
    for (let i = 0; i < data.length; i++) { seed = (seed * 16807) % 2147483647; data[i] = (seed / 2147483647) * 2 - 1; }
    const plant = [[0, 0, 5, 2000], [1, 0, 5, -1500], [1, 3, 11, 900]] as const; // (batch, pos, dim, value)
    for (const [b, p, j, v] of plant) data[(b * T + p) * d + j] = v;
    const tokens = Int32Array.from({ length: B * T }, (_, i) => 100 + i);
    const s = massiveStats({ data, shape: [B * T, d] }, { seqLen: T, tokens });
    assert.ok(s.medianAbs > 0.3 && s.medianAbs < 0.7, String(s.medianAbs));
    // |x| > 100 and > 1000 x median (~500): all three planted values, nothing else.
    assert.equal(s.massiveCount, 3);
    assert.deepEqual(s.massive.map((v) => [v.batch, v.pos, v.dim, v.value, v.token]), [[0, 0, 5, 2000, 100], [1, 0, 5, -1500, 108], [1, 3, 11, 900, 111]]);
    assert.deepEqual(s.massiveDims, [5, 11]);
    assert.deepEqual(s.massiveRows, [0, 8, 11]);
    assert.equal(s.top[0]!.abs, 2000);
    // A higher relative bar leaves the smallest out; an absolute bar above all leaves none.
    const hi = massiveStats({ data, shape: [B * T, d] }, { seqLen: T, minRatio: 1200 / s.medianAbs });
    assert.deepEqual(hi.massive.map((v) => v.value), [2000, -1500]);
    assert.equal(massiveStats({ data, shape: [B * T, d] }, { minAbs: 2000 }).massiveCount, 0);
    // Without plants: nothing massive, and the ratio is small.
    const plain = Float32Array.from(data);
    for (const [b, p, j] of plant) plain[(b * T + p) * d + j] = 0.5;
    const q = massiveStats({ data: plain, shape: [B * T, d] });
    assert.equal(q.massiveCount, 0);
    assert.deepEqual(q.massive, []);
    assert.ok(q.ratio < 5);
    assert.throws(() => massiveStats({ data, shape: [B * T, d] }, { topK: 0 }), /topK/);
    assert.throws(() => massiveStats({ data, shape: [B * T, d] }, { seqLen: 5 }), /seqLen 5/);
  });
});

describe('massiveActivations on a loaded snapshot', () => {
  test('gpt2-tiny: resid.post of every block and the linear inputs; token ids and positions; nothing massive at the default thresholds', () => {
    const m = loadPretrained(join(FIX, 'gpt2-tiny'));
    const ids = tf.tensor2d(Int32Array.from({ length: 2 * 8 }, (_, i) => (i * 7) % 64), [2, 8], 'int32');
    try {
      const c = massiveActivations(m, ids, { minAbs: 1, minRatio: 2 });
      assert.deepEqual(c.residual.map((l) => l.name), ['blocks.0.resid.post', 'blocks.1.resid.post']);
      assert.equal(c.layers.length, 2 * (LINEAR_INPUT_SITES.length + 1));
      for (const l of c.layers) {
        assert.equal(l.positions, 16);
        assert.ok(Number.isFinite(l.ratio) && l.ratio >= 1);
        for (const v of l.top) assert.equal(v.token, ids.dataSync()[v.batch * 8 + v.pos]);
      }
      assert.ok(c.peak && c.peak.ratio === Math.max(...c.layers.map((l) => l.ratio)));
      // Sun et al.'s defaults: a random-weight model has no massive activations.
      assert.deepEqual(massiveActivations(m, ids).withMassive, []);
    } finally {
      ids.dispose();
      m.dispose();
    }
  });
});

describe('windowsTask', () => {
  test('next-token loss and accuracy by hand on a model with fixed logits', () => {
    // A stub LM over 3 tokens whose logits are always [0, ln 2, 0]: p = [1/4, 1/2, 1/4].
    const stub = { apply: (x: tf.Tensor) => tf.tidy(() => tf.tile(tf.tensor3d([[[0, Math.log(2), 0]]]), [x.shape[0]!, x.shape[1]!, 1])) } as unknown as HookedModel;
    const ids = tf.tensor2d([[0, 1, 2], [1, 1, 0]], [2, 3], 'int32');
    const t = windowsTask(ids, { batch: 1 });
    ids.dispose();
    // Targets 1, 2, 1, 0: -ln(1/2), -ln(1/4), -ln(1/2), -ln(1/4); argmax 1 is right twice.
    const r = t.evaluate(stub);
    assert.ok(Math.abs(r['val/loss']! - (2 * Math.log(2) + 2 * Math.log(4)) / 4) < 1e-6);
    assert.equal(r['val/accuracy'], 0.5);
    assert.equal(t.predictions, 4);
    t.dispose();
    assert.throws(() => windowsTask(tf.zeros([2, 3])), /int32 id windows/);
  });

  test('evaluatePtq and layerSqnr take a loaded checkpoint and windowsTask', () => {
    const m = loadPretrained(join(FIX, 'llama-gqa'));
    const ids = tf.tensor2d(Int32Array.from({ length: 3 * 10 }, (_, i) => (i * 13) % 80), [3, 10], 'int32');
    const task = windowsTask(ids);
    try {
      const p = evaluatePtq(m, task, { methods: ['int8_vector', 'fp8_e4m3', 'bf16', 'fp16'] });
      assert.ok(Number.isFinite(p.baseline['val/loss']));
      assert.deepEqual(p.rows.map((r) => r.method), ['int8_vector', 'fp8_e4m3', 'bf16', 'fp16']);
      for (const r of p.rows) assert.ok(Number.isFinite(r.delta['val/loss']) && r.delta['val/loss'] !== 0, r.method);
      const s = layerSqnr(m, ids, 'int8_vector');
      assert.ok(s.some((l) => l.layer === 'blocks.0.attn.q') && s.every((l) => Number.isFinite(l.sqnrDb)));
    } finally {
      task.dispose();
      ids.dispose();
      m.dispose();
    }
  });
});
