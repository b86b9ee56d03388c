// The rescaling-invariance test (analysis/rescaling.ts): LayerNorm and RMSNorm
// outputs do not move when their input is scaled (their math, up to float32
// rounding with a negligible eps), DyT's do, more the further c is from 1;
// parameters come back bit for bit, also when a pass throws; errors name the
// missing parameter or hook point.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLM, initBackend, rescalingSensitivity, runWithCache, tf } from '../src/index.js';
import type { NormSpec } from '../src/index.js';

const cfg = { vocabSize: 40, context: 12, dModel: 16, nLayers: 2, nHeads: 2, seed: 11 };
const ids = () => tf.tensor2d([[1, 5, 7, 9, 2, 3, 4, 8, 11, 30], [9, 9, 1, 0, 39, 3, 2, 1, 17, 6]], undefined, 'int32');
const shifted = () => tf.tensor2d([[5, 7, 9, 2, 3, 4, 8, 11, 30, 1], [9, 1, 0, 39, 3, 2, 1, 17, 6, 9]], undefined, 'int32');
const lm = (norm: NormSpec) => createLM({ ...cfg, norm });
const SCALES = [0.1, 0.5, 2, 10, 100];

describe('rescalingSensitivity', () => {
  before(async () => {
    await initBackend('cpu');
  });

  for (const norm of [{ kind: 'layernorm', eps: 1e-12 }, { kind: 'rmsnorm', eps: 1e-12 }] as NormSpec[]) {
    test(`${norm.kind}: scaling a norm's input leaves that norm's output unchanged up to float32 rounding, for every c`, () => {
      const m = lm(norm), x = ids(), y = shifted();
      const before = tf.memory().numTensors;
      const r = rescalingSensitivity(m, x, y, { scales: SCALES });
      assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
      assert.equal(r.mode, 'each');
      const slots = m.normLayers().map((n) => n.name);
      assert.equal(r.rows.length, SCALES.length * slots.length);
      for (const row of r.rows) {
        const slot = row.target.replace(/\.in$/, '');
        assert.ok(slots.includes(slot), row.target);
        const own = row.norms.find((n) => n.layer === slot)!;
        assert.ok(own.relChange < 1e-6, `${row.target} x${row.scale}: ${slot} output moved by ${own.relChange}`);
        // Only that norm's input was scaled, so nothing downstream moves either.
        for (const n of row.norms) assert.ok(n.relChange < 1e-5, `${row.target} x${row.scale}: ${n.layer} moved by ${n.relChange}`);
        assert.ok(row.logits < 1e-5, `${row.target} x${row.scale}: logits moved by ${row.logits}`);
        assert.ok(row.lossRelChange! < 1e-5);
      }
      // All at once: still invariant.
      const all = rescalingSensitivity(m, x, y, { scales: SCALES, mode: 'all' });
      assert.deepEqual(all.rows.map((q) => [q.scale, q.target]), SCALES.map((c) => [c, 'all']));
      for (const row of all.rows) assert.ok(row.logits < 1e-5 && row.norms.every((n) => n.relChange < 1e-5), `all x${row.scale}`);
      tf.dispose([x, y]);
      m.dispose();
    });
  }

  test("layernorm with its default eps: the change is eps's, (x - mu) / sqrt(var + eps / c^2) against c = 1, computed by hand", () => {
    const m = lm({ kind: 'layernorm' }), x = ids();
    const c0 = runWithCache(m, x, 'blocks.0.norm1.in');
    const rows = c0.cache['blocks.0.norm1.in']!.arraySync() as number[][][];
    c0.dispose();
    const byHand = (c: number) => {
      let d = 0, n = 0;
      for (const row of rows.flat()) {
        const mu = row.reduce((s, v) => s + v, 0) / row.length;
        const v = row.reduce((s, u) => s + (u - mu) ** 2, 0) / row.length;
        for (const u of row) {
          const a = (u - mu) / Math.sqrt(v + 1e-5 / c ** 2), b = (u - mu) / Math.sqrt(v + 1e-5);
          d += (a - b) ** 2;
          n += b ** 2;
        }
      }
      return Math.sqrt(d / n);
    };
    const r = rescalingSensitivity(m, x, undefined, { scales: [0.1, 0.5, 2, 10], points: ['blocks.0.norm1.in'] });
    for (const row of r.rows) {
      const got = row.norms.find((q) => q.layer === 'blocks.0.norm1')!.relChange, want = byHand(row.scale);
      assert.ok(want > 1e-3, `at init the embedding is small enough for eps to matter (${want})`);
      assert.ok(Math.abs(got - want) < 1e-3 * want + 1e-6, `x${row.scale}: ${got} vs ${want} by hand`);
    }
    x.dispose();
    m.dispose();
  });

  test("DyT (alpha0 0.5): the norm's output moves a lot, the more the further c is from 1; the loss moves", () => {
    const m = lm({ kind: 'dyt', alpha0: 0.5 }), x = ids(), y = shifted();
    const r = rescalingSensitivity(m, x, y, { scales: SCALES, points: ['blocks.0.norm1.in', 'final_norm.in'] });
    assert.ok(r.baseLoss! > 0);
    for (const p of ['blocks.0.norm1.in', 'final_norm.in']) {
      const slot = p.replace(/\.in$/, '');
      const change = (c: number) => r.rows.find((q) => q.target === p && q.scale === c)!.norms.find((n) => n.layer === slot)!.relChange;
      for (const c of SCALES) assert.ok(change(c) > 0.05, `${p} x${c}: DyT output moved by only ${change(c)}`);
      // Monotone in |log c| on each side of 1.
      assert.ok(change(2) < change(10) && change(10) < change(100), `${p} up: ${[2, 10, 100].map(change)}`);
      assert.ok(change(0.5) < change(0.1), `${p} down: ${[0.5, 0.1].map(change)}`);
      // tanh(alpha c x) for small alpha x is about c tanh(alpha x): the change is about |c - 1| near 1.
      assert.ok(Math.abs(change(0.5) - 0.5) < 0.1 && Math.abs(change(2) - 1) < 0.2, `${p}: ${change(0.5)}, ${change(2)}`);
      const row = r.rows.find((q) => q.target === p && q.scale === 10)!;
      assert.ok(row.logits > 1e-3 && row.lossRelChange! > 0, `${p}: logits ${row.logits}, loss ${row.lossRelChange}`);
    }
    tf.dispose([x, y]);
    m.dispose();
  });

  test('param: scaling the embedding leaves the first LayerNorm unchanged, not the first DyT; weights restored bit for bit', () => {
    for (const [norm, invariant] of [[{ kind: 'layernorm', eps: 1e-12 }, true], [{ kind: 'dyt', alpha0: 0.5 }, false]] as const) {
      const m = lm(norm), x = ids(), y = shifted();
      const names = ['embed.weight', 'blocks.0.attn.qkv.weight'];
      const saved = names.map((n) => Float32Array.from(m.parameter(n)!.dataSync()));
      const vars = names.map((n) => m.parameter(n)!);
      const before = tf.memory().numTensors;
      for (const param of names) {
        const r = rescalingSensitivity(m, x, y, { scales: [0.5, 2, 10], param });
        assert.equal(r.mode, 'param');
        assert.deepEqual(r.rows.map((q) => q.target), [param, param, param]);
        for (const row of r.rows) {
          const first = row.norms.find((n) => n.layer === 'blocks.0.norm1')!.relChange;
          if (param === 'embed.weight') assert.ok(invariant ? first < 1e-6 : first > 0.05, `${norm.kind} x${row.scale}: ${first}`);
          assert.ok(row.logits > 1e-4, `${norm.kind} ${param} x${row.scale}: logits unchanged (${row.logits})`);
        }
      }
      assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
      names.forEach((n, i) => {
        assert.equal(m.parameter(n), vars[i], `${n} is still the same variable`);
        assert.deepEqual(m.parameter(n)!.dataSync(), saved[i], `${n} restored bit for bit`);
      });
      tf.dispose([x, y]);
      m.dispose();
    }
  });

  test('param: restored bit for bit when a hook throws mid-way; nothing leaks', () => {
    const m = lm({ kind: 'dyt' }), x = ids();
    const saved = Float32Array.from(m.parameter('embed.weight')!.dataSync());
    let calls = 0;
    const before = tf.memory().numTensors;
    assert.throws(() => rescalingSensitivity(m, x, undefined, {
      scales: [2, 10], param: 'embed.weight',
      hooks: { 'blocks.1.resid.post': () => { if (++calls === 2) throw new Error('boom in a hook'); } },
    }), /boom in a hook/);
    assert.equal(calls, 2, 'threw in the first rescaled pass');
    assert.deepEqual(m.parameter('embed.weight')!.dataSync(), saved);
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    // And the model still computes what it did.
    const r = rescalingSensitivity(m, x, undefined, { scales: [1], param: 'embed.weight' });
    assert.ok(r.rows[0]!.logits === 0 && r.baseLoss === undefined && r.rows[0]!.loss === undefined);
    x.dispose();
    m.dispose();
  });

  test('errors name the missing parameter, the unknown hook point, a bad scale or mode', () => {
    const m = lm({ kind: 'layernorm' }), x = ids();
    assert.throws(() => rescalingSensitivity(m, x, undefined, { scales: [2], param: 'blocks.0.attn.qkv.weigth' }), /no parameter 'blocks\.0\.attn\.qkv\.weigth'/);
    assert.throws(() => rescalingSensitivity(m, x, undefined, { scales: [2], param: 'blocks.7.norm1.gamma' }), /no parameter 'blocks\.7\.norm1\.gamma'; did you mean 'blocks\.0\.norm1\.gamma'/);
    assert.throws(() => rescalingSensitivity(m, x, undefined, { scales: [2], points: ['blocks.9.norm1.in'] }), /unknown hook point 'blocks\.9\.norm1\.in'/);
    assert.throws(() => rescalingSensitivity(m, x, undefined, { scales: [2], hooks: { 'blocks.0.nrm.out': () => undefined } }), /unknown hook point 'blocks\.0\.nrm\.out'/);
    assert.throws(() => rescalingSensitivity(m, x, undefined, { scales: [] }), /non-empty/);
    assert.throws(() => rescalingSensitivity(m, x, undefined, { scales: [0] }), /scale 0 is invalid/);
    assert.throws(() => rescalingSensitivity(m, x, undefined, { scales: [NaN] }), /scale NaN is invalid/);
    assert.throws(() => rescalingSensitivity(m, x, undefined, { scales: [2], mode: 'some' as 'all' }), /mode 'some' is invalid/);
    x.dispose();
    m.dispose();
  });
});
