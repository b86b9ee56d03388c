import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLM, createViT, initBackend, runWithCache, tf } from '../src/index.js';
import { normMappings, subsampleMapping } from '../src/analysis/mapping.js';
import { channelExtremes, extremeChannelEffect, tokenLines } from '../src/analysis/token-channel.js';
import { fitShapes } from '../src/analysis/fit-shapes.js';
import { applySwap, planSwaps, swapTest } from '../src/analysis/swap.js';
import { ensureRun, loadRunModel } from '../src/experiments/ensure.js';
import { openStore } from '../src/experiments/store/index.js';
import { mappingGrid, mappingScatter } from '../src/viz/mapping.js';
import { alphaTraceChart, alphaVsStdChart } from '../src/viz/alpha.js';
import { evalCurve } from '../src/analysis/curvefit.js';
import { rng } from './support/numeric.js';

/** n standard normals from the uniform generator r (Box-Muller). */
function normals(r: () => number, n: number): number[] {
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

const ids = () => tf.tensor2d([[1, 5, 7, 9, 2, 3, 4, 8], [9, 9, 1, 0, 49, 3, 2, 1]], undefined, 'int32');

before(async () => { await initBackend('cpu'); });

/** Randomize every parameter a little so norms see non-trivial gammas and inputs. */
function perturb(model: { namedParameters(): { name: string; variable: tf.Variable }[] }, seed: number): void {
  for (const [i, p] of model.namedParameters().entries()) {
    tf.tidy(() => p.variable.assign(p.variable.add(tf.randomNormal(p.variable.shape, 0, 0.3, 'float32', seed + i))));
  }
}

describe('norm mappings', () => {
  test('a LayerNorm layer maps x to (x - mean) / sqrt(var + eps), point by point, from the cached input', () => {
    const lm = createLM({ vocabSize: 50, context: 16, dModel: 32, nLayers: 2, nHeads: 4, seed: 3, norm: { kind: 'layernorm' } });
    perturb(lm, 10);
    const x = ids();
    const maps = normMappings(lm, x, { maxPoints: 1_000_000 });
    assert.deepEqual(maps.map((m) => m.layer), ['blocks.0.norm1', 'blocks.0.norm2', 'blocks.1.norm1', 'blocks.1.norm2', 'final_norm']);
    const { cache, dispose } = runWithCache(lm, x, maps.map((m) => `${m.layer}.in`));
    for (const m of maps) {
      const xin = cache[`${m.layer}.in`]!.dataSync();
      const C = 32, rows = xin.length / C;
      assert.equal(m.total, rows * C);
      assert.equal(m.x.length, m.total, 'every point kept under a large cap');
      let worst = 0;
      for (let j = 0; j < m.x.length; j++) {
        const r = m.token[j]!, c = m.channel[j]!;
        assert.equal(m.x[j], xin[r * C + c], `${m.layer}: point ${j} carries the cached input of token ${r}, channel ${c}`);
        let mean = 0, v = 0;
        for (let k = 0; k < C; k++) mean += xin[r * C + k]!;
        mean /= C;
        for (let k = 0; k < C; k++) v += (xin[r * C + k]! - mean) ** 2;
        const want = (xin[r * C + c]! - mean) / Math.sqrt(v / C + 1e-5);
        worst = Math.max(worst, Math.abs(m.y[j]! - want));
      }
      assert.ok(worst < 2e-5, `${m.layer}: max |mapping - hand-computed LayerNorm| = ${worst}`);
    }
    dispose();
    x.dispose(); lm.dispose();
  });

  test('RMSNorm maps to x / rms and DyT to tanh(alpha x), both before the affine step', () => {
    const rms = createViT({ dModel: 16, nLayers: 1, nHeads: 2, patchSize: 7, seed: 4, norm: { kind: 'rmsnorm' } });
    perturb(rms, 20);
    const img = tf.randomUniform([2, 28, 28], 0, 1, 'float32', 9);
    for (const m of normMappings(rms, img, { maxPoints: 100_000, keepFull: true })) {
      const { x, y } = m.full!;
      for (let r = 0; r < m.tokens; r++) {
        let ms = 0;
        for (let c = 0; c < 16; c++) ms += x[r * 16 + c]! ** 2;
        const s = 1 / Math.sqrt(ms / 16 + 1e-6);
        for (let c = 0; c < 16; c++) assert.ok(Math.abs(y[r * 16 + c]! - x[r * 16 + c]! * s) < 1e-4 * Math.max(1, Math.abs(y[r * 16 + c]!)));
      }
    }
    const dyt = createViT({ dModel: 16, nLayers: 1, nHeads: 2, patchSize: 7, seed: 4, norm: { kind: 'dyt', alpha0: 0.7 } });
    perturb(dyt, 30); // gamma and beta move; alpha moves too
    const maps = normMappings(dyt, img, { maxPoints: 100_000 });
    for (const m of maps) {
      assert.equal(m.kind, 'dyt');
      assert.ok(m.alpha !== undefined && m.alpha !== 0.7, 'alpha is read from the layer');
      for (let j = 0; j < m.x.length; j++) assert.ok(Math.abs(m.y[j]! - Math.tanh(m.alpha! * m.x[j]!)) < 2e-6);
    }
    assert.throws(() => normMappings(dyt, img, { layers: ['blocks.0.norm9'] }), /no norm layer named 'blocks.0.norm9'.*blocks.0.norm1/);
    img.dispose(); rms.dispose(); dyt.dispose();
  });
});

describe('subsampling keeps the extremes', () => {
  const rows = 300, cols = 40;
  const r = rng(5);
  const x = Float32Array.from(normals(r, rows * cols));
  x[17 * cols + 3] = 50; // a planted outlier
  test('every token max, channel max and the largest |x| overall survive a cap; the result is deterministic', () => {
    const a = subsampleMapping(x, rows, cols, { maxPoints: 2000, extremeCount: 100 });
    const b = subsampleMapping(x, rows, cols, { maxPoints: 2000, extremeCount: 100 });
    assert.deepEqual(a.index, b.index);
    assert.equal(a.index.length, 2000);
    const kept = new Set(a.index);
    for (let i = 1; i < a.index.length; i++) assert.ok(a.index[i]! > a.index[i - 1]!, 'ascending, no duplicates');
    for (let t = 0; t < rows; t++) {
      let best = t * cols;
      for (let c = 0; c < cols; c++) if (Math.abs(x[t * cols + c]!) > Math.abs(x[best]!)) best = t * cols + c;
      assert.ok(kept.has(best), `token ${t}'s largest |x| is kept`);
    }
    for (let c = 0; c < cols; c++) {
      let best = c;
      for (let t = 0; t < rows; t++) if (Math.abs(x[t * cols + c]!) > Math.abs(x[best]!)) best = t * cols + c;
      assert.ok(kept.has(best), `channel ${c}'s largest |x| is kept`);
    }
    const order = Array.from(x.keys()).sort((p, q) => Math.abs(x[q]!) - Math.abs(x[p]!));
    for (const i of order.slice(0, 100)) assert.ok(kept.has(i), `global top-100 |x| point ${i} is kept`);
    const ext = a.index.filter((_, j) => a.extreme[j] === 1).length;
    assert.ok(ext >= 100 && ext <= rows + cols + 100, `${ext} points flagged extreme`);
    const c = subsampleMapping(x, rows, cols, { maxPoints: 2000, extremeCount: 100, seed: 1 });
    assert.notDeepEqual(c.index, a.index, 'another seed draws another uniform part');
    assert.throws(() => subsampleMapping(x, rows, cols + 1), /expected rows x cols/);
  });
});

describe('per-token and per-channel views', () => {
  test('LayerNorm: every token is a line of slope 1/std; a tanh mapping is not linear per token', () => {
    const rows = 50, cols = 64, r = rng(7);
    const x = new Float32Array(rows * cols), y = new Float32Array(rows * cols), z = new Float32Array(rows * cols);
    for (let t = 0; t < rows; t++) {
      const scale = 0.5 + 3 * r();
      const v = normals(r, cols).map((q) => q * scale);
      const mean = v.reduce((p, q) => p + q, 0) / cols;
      const sd = Math.sqrt(v.reduce((p, q) => p + (q - mean) ** 2, 0) / cols);
      v.forEach((q, c) => { x[t * cols + c] = q; y[t * cols + c] = (q - mean) / sd; z[t * cols + c] = Math.tanh(q); });
    }
    const ln = tokenLines(x, y, rows, cols);
    assert.ok(Math.abs(ln.summary.medianSlopeTimesStd - 1) < 1e-5, String(ln.summary.medianSlopeTimesStd));
    assert.ok(ln.summary.medianR2 > 0.99999);
    assert.ok(ln.summary.pearson > 0.9999);
    assert.ok(ln.summary.slopeRange > 2, 'the tokens have different slopes');
    const th = tokenLines(x, z, rows, cols);
    assert.ok(th.summary.medianR2 < 0.99, `tanh is not linear per token (median R^2 ${th.summary.medianR2})`);
    assert.throws(() => tokenLines(x, y, rows, cols + 1), /expected 50 x 65/);
  });

  test('the planted extreme channel is found first and carries the S-shape', () => {
    const rows = 400, cols = 32, r = rng(11);
    const x = new Float32Array(rows * cols), y = new Float32Array(rows * cols);
    for (let t = 0; t < rows; t++) {
      const v = normals(r, cols);
      v[5] = (r() < 0.5 ? -1 : 1) * (2 + 40 * r()); // channel 5: large values of varying size
      const mean = v.reduce((p, q) => p + q, 0) / cols;
      const sd = Math.sqrt(v.reduce((p, q) => p + (q - mean) ** 2, 0) / cols);
      v.forEach((q, c) => { x[t * cols + c] = q; y[t * cols + c] = (q - mean) / sd; });
    }
    const top = channelExtremes(x, rows, cols, 3);
    assert.equal(top[0]!.channel, 5);
    assert.ok(top[0]!.tailShare > 0.9, `channel 5 holds the |x| tail (${top[0]!.tailShare})`);
    assert.ok(top[0]!.maxAbs > top[1]!.maxAbs * 3);
    const eff = extremeChannelEffect(x, y, rows, cols, [5]);
    assert.ok(eff.all.sShape > 0.5, `S-shaped with channel 5 (${eff.all.sShape})`);
    assert.ok(eff.without.sShape < eff.all.sShape / 2, `much less without it (${eff.without.sShape})`);
    assert.ok(eff.explained > 0.5);
    assert.throws(() => extremeChannelEffect(x, y, rows, cols, [40]), /outside 0\.\.31/);
  });

  test('fitShapes ranks the generating shape first', () => {
    const r = rng(3);
    const x = Float32Array.from(normals(r, 20000).map((v) => v * 3));
    const y = Float32Array.from(x, (v) => 1.5 * v / (1 + Math.abs(0.8 * v) / 0.8 * 0.8) + 0.01 * (r() - 0.5));
    const fits = fitShapes(x, y, { shapes: ['tanh', 'softsign', 'linear'] });
    assert.equal(fits[0]!.shape, 'softsign');
    assert.deepEqual(fits.map((f) => f.rank), [1, 2, 3]);
  });
});

describe('swap test', () => {
  test('the fitted swap carries alpha = b and the LayerNorm affine folded with the fit', () => {
    const lm = createLM({ vocabSize: 50, context: 16, dModel: 32, nLayers: 2, nHeads: 4, seed: 3, norm: { kind: 'layernorm' } });
    perturb(lm, 40);
    const x = ids();
    const g0 = lm.normLayers().map((n) => Float32Array.from(n.layer.namedParameters().find((p) => p.name === 'gamma')!.variable.dataSync()));
    const plans = planSwaps(lm, x);
    const { cache, dispose } = runWithCache(lm, x, lm.normLayers().map((n) => `${n.name}.in`));
    applySwap(lm, plans.fitted);
    lm.normLayers().forEach(({ name, layer }, i) => {
      const p = plans.fitted[i]!;
      assert.equal(layer.spec.kind, 'dyt');
      assert.ok(p.fit!.b > 0 && Math.abs(p.alpha - p.fit!.b) < 1e-12);
      for (let c = 0; c < 32; c++) assert.ok(Math.abs(p.gamma[c]! - g0[i]![c]! * p.fit!.a) < 1e-5 * Math.max(1, Math.abs(p.gamma[c]!)));
      const xin = cache[`${name}.in`]!;
      const out = layer.apply(xin).dataSync();
      const xs = xin.dataSync();
      for (let j = 0; j < xs.length; j += 7) {
        const c = j % 32;
        const want = p.gamma[c]! * Math.tanh(p.alpha * xs[j]!) + p.beta[c]!;
        assert.ok(Math.abs(out[j]! - want) < 1e-4 * Math.max(1, Math.abs(want)), `${name}[${j}]: ${out[j]} vs ${want}`);
      }
      assert.ok(Math.abs(plans.invstd[i]!.alpha - plans.invstd[i]!.invStd) < 1e-12);
      assert.equal(plans.alpha0[i]!.alpha, 0.5);
    });
    dispose();
    assert.throws(() => planSwaps(lm, x), /starts from LayerNorm\/RMSNorm layers; blocks.0.norm1 is dyt/);
    x.dispose(); lm.dispose();
  });

  test('ensureRun trains once and reuses; swapTest evaluates before and after a fine-tune', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dytlab-swap-'));
    const store = openStore(join(dir, 'runs.sqlite'));
    try {
      const cfg = {
        name: 'swap-tiny', seed: 1, backend: 'cpu',
        model: { kind: 'lm', context: 16, dModel: 16, nLayers: 1, nHeads: 2, norm: { kind: 'layernorm' } },
        data: { dataset: 'markov', vocabSize: 16, branching: 2, length: 4000 },
        train: { steps: 30, batchSize: 8, lr: 0.01, warmupSteps: 3, evalEvery: 30, evalBatches: 2, traceEvery: 10 },
      };
      const a = await ensureRun(cfg, { store });
      assert.equal(a.reused, false);
      const b = await ensureRun(cfg, { store });
      assert.equal(b.reused, true);
      assert.equal(b.runId, a.runId);
      assert.equal(store.listRuns().length, 1, 'trained once');
      const r = await swapTest({ load: () => loadRunModel(a.runId, { store }), fineTune: { steps: 5, lr: 0.003, batchSize: 8 } });
      assert.deepEqual(r.rows.map((q) => `${q.variant}/${q.stage}`), [
        'layernorm/trained', 'layernorm/fine-tuned', 'fitted/swapped', 'fitted/fine-tuned', 'alpha0/swapped', 'alpha0/fine-tuned', 'invstd/swapped', 'invstd/fine-tuned',
      ]);
      for (const q of r.rows) assert.ok(Number.isFinite(q.metrics['val/loss']), `${q.variant}/${q.stage} has a val loss`);
      assert.equal(r.rows.find((q) => q.stage === 'fine-tuned')!.steps, 5);
      const first = await loadRunModel(a.runId, { store });
      const again = first.task.evaluate(first.model)['val/loss'];
      first.dispose();
      assert.equal(again, r.rows[0]!.metrics['val/loss'], 'the trained model is rebuilt identically each time');
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mapping figures', () => {
  const n = 8000, r = rng(2);
  const x = Float32Array.from(normals(r, n));
  const m = { layer: 'blocks.1.norm2', label: 'layernorm', x, y: Float32Array.from(x, Math.tanh), token: Int32Array.from({ length: n }, (_, i) => i >> 4), channel: Int32Array.from({ length: n }, (_, i) => i & 15), total: 50000 };
  test('a scatter coloured by channel with the fitted curve drawn from its parameters', () => {
    const fit = { shape: 'tanh' as const, params: { a: 2, b: 0.5, c: 0, d: 0.1 }, r2: 0.97 };
    const spec = mappingScatter(m, { colorBy: 'channel', fits: [fit], maxPoints: 3000 });
    const [pts, curve] = spec.data as Record<string, any>[];
    assert.equal(pts!.type, 'scattergl');
    assert.equal(pts!.x.length, 3000);
    assert.deepEqual(pts!.marker.color.slice(0, 3), [0, m.channel[Math.floor(8000 / 3000)], m.channel[Math.floor(2 * 8000 / 3000)]]);
    assert.equal(curve!.mode, 'lines');
    const want = evalCurve('tanh', fit.params, Float32Array.of(curve!.x[50]))[0]!;
    assert.ok(Math.abs(curve!.y[50] - want) <= 5e-4 * Math.abs(want) + 1e-12, `${curve!.y[50]} vs ${want}`); // 4 significant digits
    assert.match(JSON.stringify(spec.layout), /showing 3000 of 50000 points/);
    assert.throws(() => mappingScatter({ layer: 'l', x: [1, 2], y: [1, 2] }, { colorBy: 'token' }), /needs its token indices/);
  });

  test('a grid puts each layer in its own non-overlapping panel', () => {
    const spec = mappingGrid([m, { ...m, layer: 'b' }, { ...m, layer: 'c' }], { columns: 2, colorBy: 'token' });
    const L = spec.layout as Record<string, any>;
    assert.deepEqual(spec.data.map((t) => t.xaxis), ['x', 'x2', 'x3']);
    assert.ok(L.xaxis.domain[1] < L.xaxis2.domain[0], 'columns do not overlap');
    assert.ok(L.yaxis3.domain[1] < L.yaxis.domain[0], 'rows do not overlap');
    assert.equal(L.annotations.length, 3);
  });

  test('alpha figures: two panels per layer, correlations in the title', () => {
    const spec = alphaTraceChart([{ layer: 'a', step: [0, 10], alpha: [0.5, 0.7], invStd: [2, 3] }, { layer: 'b', step: [0, 10], alpha: [0.5, 0.4], invStd: [1, 1.5] }]);
    assert.equal(spec.data.length, 4);
    assert.deepEqual(spec.data.map((t) => t.yaxis), ['y', 'y2', 'y', 'y2']);
    assert.throws(() => alphaTraceChart([]), /no layer traces/);
    const s2 = alphaVsStdChart({ step: 10, layers: ['a', 'b', 'c'], alpha: [1, 2, 3], invStd: [2, 4, 5], pearson: 0.98, spearman: 1 });
    assert.match(JSON.stringify(s2.layout), /Pearson 0.98, Spearman 1.00/);
  });
});

describe('mapping summary', () => {
  test('one row per layer: best shape, S-shape index, token lines and the channels that carry the tails', async () => {
    const { summarizeMapping } = await import('../src/analysis/mapping-summary.js');
    const rows = 300, cols = 32, r = rng(13);
    const x = new Float32Array(rows * cols), y = new Float32Array(rows * cols);
    for (let t = 0; t < rows; t++) {
      const v = normals(r, cols);
      v[9] = (r() < 0.5 ? -1 : 1) * (2 + 30 * r());
      const mean = v.reduce((p, q) => p + q, 0) / cols;
      const sd = Math.sqrt(v.reduce((p, q) => p + (q - mean) ** 2, 0) / cols + 1e-5);
      v.forEach((q, c) => { x[t * cols + c] = q; y[t * cols + c] = (q - mean) / sd; });
    }
    const m = { layer: 'blocks.3.norm2', depth: 7, kind: 'layernorm', label: 'layernorm', inputShape: [rows, cols], tokens: rows, channels: cols,
      total: rows * cols, x, y, token: new Int32Array(0), channel: new Int32Array(0), extreme: new Uint8Array(0), full: { x, y } };
    const s = summarizeMapping(m);
    assert.notEqual(s.bestShape, 'linear');
    assert.ok(s.r2.tanh! > s.r2.linear!);
    assert.ok(s.sShape > 0.3, String(s.sShape));
    assert.equal(s.topChannels[0], 9);
    assert.ok(s.sShapeFromTopChannels > 0.5);
    assert.ok(Math.abs(s.slopeTimesStd - 1) < 1e-3 && s.tokenLineR2 > 0.9999);
    assert.throws(() => summarizeMapping({ ...m, full: undefined }), /keepFull/);
  });
});
