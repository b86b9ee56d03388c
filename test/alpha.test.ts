import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alphaTraces, alphaVsInvStd, pearson, ranks, spearman, type TracePoint } from '../src/analysis/alpha.js';

test('pearson and spearman against hand-computed values', () => {
  // x = 1..5, y = [2, 1, 4, 3, 5]: sum dx dy = 8, sum dx^2 = sum dy^2 = 10 -> r = 0.8 (ranks equal the values, so rho = 0.8 too).
  assert.ok(Math.abs(pearson([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) - 0.8) < 1e-12);
  assert.ok(Math.abs(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) - 0.8) < 1e-12);
  assert.equal(spearman([1, 2, 3, 4], [1, 8, 27, 64]), 1); // monotone but not linear
  assert.ok(pearson([1, 2, 3, 4], [1, 8, 27, 64]) < 1);
  assert.deepEqual(ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1]);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  assert.throws(() => pearson([1, 2], [1]), /different lengths/);
  assert.throws(() => spearman([1, NaN, 2], [1, 2, 3]), /non-finite value at index 1/);
});

test('alpha traces per layer and the across-layer correlation at the last common step', () => {
  const rows: TracePoint[] = [];
  const layers = ['blocks.0.norm1', 'blocks.0.norm2', 'blocks.1.norm1', 'final_norm'];
  layers.forEach((layer, i) => {
    for (const step of [0, 10, 20]) rows.push({ step, layer, alpha: 0.5 + 0.1 * i + step / 100, inputStd: 1 / (1 + i) });
  });
  rows.push({ step: 0, layer: 'ln', alpha: null, inputStd: 1 });
  const t = alphaTraces(rows);
  assert.deepEqual(t.map((x) => x.layer), layers);
  assert.deepEqual(t[1]!.step, [0, 10, 20]);
  assert.ok(Math.abs(t[2]!.invStd[0]! - 3) < 1e-12);
  const c = alphaVsInvStd(rows);
  assert.equal(c.step, 20);
  assert.ok(Math.abs(c.pearson - 1) < 1e-12, 'alpha = 0.4 + 0.1 / std here: perfectly linear in 1/std');
  assert.equal(c.spearman, 1);
  assert.throws(() => alphaVsInvStd(rows, { step: 15 }), /step 15 is not traced/);
  assert.throws(() => alphaVsInvStd([{ step: 0, layer: 'x', alpha: null, inputStd: 1 }]), /no trace rows with an alpha/);
  assert.match(alphaVsInvStd(rows.filter((r) => r.layer === 'final_norm' || r.layer === 'blocks.0.norm1')).note!, /only 2 layers/);
});

test('permutation p-values: exact for 3 points, small for a perfect 9-point correlation', async () => {
  const { permutationPValue } = await import('../src/analysis/alpha.js');
  // 2 of the 3! orderings reach |r| = 1: p = 1/3 (Monte Carlo, 20000 shuffles).
  const p3 = permutationPValue([1, 2, 3], [1, 2, 3], { permutations: 20000 });
  assert.ok(Math.abs(p3 - 1 / 3) < 0.015, String(p3));
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  assert.ok(permutationPValue(x, x.map((v) => 2 * v + 1)) < 0.001);
  const y = [5, 9, 1, 6, 2, 8, 4, 3, 7];
  assert.ok(Math.abs(pearson(x, y)) < 0.25);
  assert.ok(permutationPValue(x, y) > 0.3);
  assert.equal(permutationPValue(x, y, { seed: 4 }), permutationPValue(x, y, { seed: 4 }), 'seeded: deterministic');
});
