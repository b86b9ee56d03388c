// analysis/outliers: per-feature statistics against hand-computed values, the
// LLM.int8 criterion on synthetic activations with planted outlier dimensions
// (exactly the planted ones, none when magnitude, layers or positions fall
// short, the boundaries inclusive), activations read from a model, and
// outliers over training read from checkpoints.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  channelConsistency, collectActivations, createLM, featureStats, initBackend, outlierFeatures, outlierSnapshot,
  normalizeRms, outliersOverTraining, runTraining, runWithCache, tf, toMatrix, topChannels,
} from '../src/index.js';
import type { Matrix } from '../src/index.js';
import { rng } from './support/numeric.js';

before(async () => {
  await initBackend('cpu');
});

function close(a: number, b: number, tol = 1e-12): void {
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
}

interface Plant {
  features: number[];
  /** Layers holding the plant. */
  layers: number[];
  /** Positions per layer where the planted value sits (the first `count` of a seeded shuffle). */
  count: number | ((layer: number) => number);
  magnitude: number;
}

/**
 * L layers of [n, d] noise, uniform in [-3, 3] (so never near the threshold 6),
 * with planted values of +-magnitude (alternating sign) at chosen positions.
 */
function synth(L: number, n: number, d: number, plants: Plant[], seed = 1): Matrix[] {
  const r = rng(seed);
  return Array.from({ length: L }, (_, l) => {
    const data = new Float32Array(n * d);
    for (let i = 0; i < data.length; i++) data[i] = (r() * 2 - 1) * 3;
    for (const p of plants) {
      if (!p.layers.includes(l)) continue;
      const count = typeof p.count === 'number' ? p.count : p.count(l);
      for (const j of p.features) {
        const order = Array.from({ length: n }, (_, i) => i);
        for (let i = n - 1; i > 0; i--) { const k = Math.floor(r() * (i + 1)); [order[i], order[k]] = [order[k]!, order[i]!]; }
        order.slice(0, count).forEach((i, c) => { data[i * d + j] = c % 2 ? -p.magnitude : p.magnitude; });
      }
    }
    return { data, shape: [n, d] as [number, number] };
  });
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

describe('featureStats', () => {
  test('max |x|, mean |x|, counts over the threshold and kurtosis match hand-computed values', () => {
    // columns: [1,-1,1,-1]  [0,0,0,2]  [7,-6,5.9,0]  [3,3,3,3]
    const x = { data: Float32Array.from([1, 0, 7, 3, -1, 0, -6, 3, 1, 0, 5.9, 3, -1, 2, 0, 3]), shape: [4, 4] as [number, number] };
    const s = featureStats(x);
    assert.equal(s.positions, 4);
    assert.equal(s.features, 4);
    assert.deepEqual(Array.from(s.maxAbs).map((v) => Math.fround(v)), [1, 2, 7, 3]);
    assert.deepEqual(Array.from(s.countOver), [0, 0, 2, 0]); // 7 and -6 reach 6; 5.9 does not
    close(s.meanAbs[0]!, 1);
    close(s.meanAbs[1]!, 0.5);
    // [1,-1,1,-1]: m2 = 1, m4 = 1 -> 1.  [0,0,0,2]: mean 0.5, m2 = 0.75, m4 = 1.3125 -> 7/3.
    close(s.kurtosis[0]!, 1);
    close(s.kurtosis[1]!, 7 / 3);
    assert.ok(Number.isNaN(s.kurtosis[3]!), 'a constant feature has no kurtosis');
    assert.equal(Math.fround(s.overallMaxAbs), 7);
    // The threshold is a parameter: at 5.9 the third column counts 3.
    assert.equal(featureStats(x, { threshold: 5.9 }).countOver[2], 3);
    // Overall kurtosis over every value: [[1,-1],[1,-1]] -> 1; a normal sample -> about 3.
    close(featureStats({ data: Float32Array.from([1, -1, 1, -1]), shape: [2, 2] }).overallKurtosis, 1);
  });

  test('a 3-D tensor is flattened to [batch * seq, d]; a 2-D tensor and a matrix give the same numbers', () => {
    const vals = Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.sin(i) * (i % 5));
    const t3 = tf.tensor3d(vals, [2, 3, 4]), t2 = tf.tensor2d(vals, [6, 4]);
    const m = toMatrix(t3);
    assert.deepEqual(m.shape, [6, 4]);
    const a = featureStats(t3), b = featureStats(t2), c = featureStats({ data: Float32Array.from(vals), shape: [6, 4] });
    assert.deepEqual(a, b);
    assert.deepEqual(a, c);
    tf.dispose([t3, t2]);
  });

  test('bad inputs are named', () => {
    assert.throws(() => toMatrix({ data: new Float32Array(5), shape: [2, 3] }), /shape \[2, 3\] does not match data of length 5/);
    const t1 = tf.tensor1d([1, 2]);
    assert.throws(() => toMatrix(t1), /2-D .* or 3-D/);
    t1.dispose();
    assert.throws(() => featureStats({ data: new Float32Array(4), shape: [2, 2] }, { threshold: -1 }), /threshold = -1 is invalid/);
  });

  test('normalizeRms divides by the root mean square of all values', () => {
    const m = normalizeRms({ data: Float32Array.from([3, -4, 0, 0]), shape: [2, 2] }); // rms = sqrt(25 / 4) = 2.5
    assert.deepEqual(Array.from(m.data), [1.2, -1.6, 0, 0].map(Math.fround));
    assert.deepEqual(m.shape, [2, 2]);
    assert.deepEqual(Array.from(normalizeRms({ data: new Float32Array(2), shape: [1, 2] }).data), [0, 0]);
  });

  test('topChannels: largest first, ties by lower index', () => {
    assert.deepEqual(topChannels([1, 5, 3, 5, 0], 3), [1, 3, 2]);
    assert.throws(() => topChannels([1], 0), /k = 0/);
  });
});

describe('outlierFeatures (LLM.int8 criterion)', () => {
  const L = 8, n = 200, d = 32;

  test('finds exactly the planted features, with their layer and position fractions', () => {
    const layers = synth(L, n, d, [{ features: [17, 3, 29], layers: range(0, 6), count: 20, magnitude: 8 }]);
    const r = outlierFeatures(layers);
    assert.deepEqual(r.features.map((f) => f.index), [3, 17, 29]);
    for (const f of r.features) {
      assert.equal(f.layerFraction, 6 / 8);
      close(f.positionFraction, 0.1);
      close(f.maxPositionFraction, 0.1);
      assert.deepEqual(f.layers, range(0, 6));
      assert.equal(f.maxAbs, 8);
    }
    assert.equal(r.numLayers, 8);
    assert.equal(r.dims, 32);
    assert.deepEqual([r.threshold, r.minLayerFraction, r.minPositionFraction], [6, 0.25, 0.06]);
    assert.deepEqual(r.perLayer.map((p) => p.qualifying), [3, 3, 3, 3, 3, 3, 0, 0]);
  });

  test('none when the planted magnitude is under the threshold; found when the threshold is lowered', () => {
    const layers = synth(L, n, d, [{ features: [5], layers: range(0, 8), count: 40, magnitude: 5.99 }]);
    assert.deepEqual(outlierFeatures(layers).features, []);
    assert.deepEqual(outlierFeatures(layers, { threshold: 5.9 }).features.map((f) => f.index), [5]);
  });

  test('none when present in too few layers; the 25% boundary counts', () => {
    const one = synth(L, n, d, [{ features: [9], layers: [3], count: 40, magnitude: 10 }]);
    assert.deepEqual(outlierFeatures(one).features, []);
    assert.deepEqual(outlierFeatures(one, { minLayerFraction: 0.125 }).features.map((f) => f.index), [9]);
    const two = synth(L, n, d, [{ features: [9], layers: [1, 6], count: 40, magnitude: 10 }]);
    const r = outlierFeatures(two);
    assert.deepEqual(r.features.map((f) => [f.index, f.layerFraction]), [[9, 0.25]]);
  });

  test('none at too few positions; the 6% boundary and |x| = 6 exactly count', () => {
    const few = synth(L, n, d, [{ features: [12], layers: range(0, 8), count: 11, magnitude: 9 }]); // 5.5%
    assert.deepEqual(outlierFeatures(few).features, []);
    const edge = synth(L, n, d, [{ features: [12], layers: range(0, 8), count: 12, magnitude: 6 }]); // 6%, |x| = 6
    const r = outlierFeatures(edge);
    assert.deepEqual(r.features.map((f) => f.index), [12]);
    close(r.features[0]!.positionFraction, 0.06);
  });

  test('a layer where the feature falls short does not count; positionFraction is the mean over qualifying layers', () => {
    // Feature 4: 10% in layers 0-1, 20% in layer 2, 3% in layer 3 (too few there).
    const counts = [20, 20, 40, 6];
    const layers = synth(L, n, d, [{ features: [4], layers: [0, 1, 2, 3], count: (l) => counts[l]!, magnitude: 7 }]);
    const f = outlierFeatures(layers).features;
    assert.equal(f.length, 1);
    assert.deepEqual(f[0]!.layers, [0, 1, 2]);
    assert.equal(f[0]!.layerFraction, 3 / 8);
    close(f[0]!.positionFraction, (0.1 + 0.1 + 0.2) / 3);
    close(f[0]!.maxPositionFraction, 0.2);
  });

  test('tensors (2-D and 3-D) and matrices give the same result; layers may differ in positions', () => {
    const layers = synth(4, 100, 16, [{ features: [2, 11], layers: [0, 1, 2, 3], count: 10, magnitude: 8 }]);
    const asMatrix = outlierFeatures(layers);
    const t2 = layers.map((m) => tf.tensor2d(m.data, m.shape));
    const t3 = layers.map((m) => tf.tensor3d(m.data, [4, 25, 16]));
    assert.deepEqual(outlierFeatures(t2), asMatrix);
    assert.deepEqual(outlierFeatures(t3), asMatrix);
    tf.dispose([...t2, ...t3]);
    assert.deepEqual(asMatrix.features.map((f) => f.index), [2, 11]);
    const shorter = { data: layers[0]!.data.slice(0, 50 * 16), shape: [50, 16] as [number, number] };
    assert.equal(outlierFeatures([shorter, ...layers.slice(1)]).perLayer[0]!.positions, 50);
  });

  test('bad input: no layers, mismatched feature dimensions, options out of range', () => {
    assert.throws(() => outlierFeatures([]), /non-empty array/);
    const a = { data: new Float32Array(8), shape: [2, 4] as [number, number] }, b = { data: new Float32Array(6), shape: [2, 3] as [number, number] };
    assert.throws(() => outlierFeatures([a, b]), /layers\[1\] has 3 features but layers\[0\] has 4/);
    assert.throws(() => outlierFeatures([a], { minLayerFraction: 1.5 }), /minLayerFraction = 1.5 is invalid: must be in \[0, 1\]/);
    assert.throws(() => outlierFeatures([a], { threshold: 0 }), /threshold = 0 is invalid/);
    assert.throws(() => outlierFeatures([a], { minPositionFraction: 0.1, extra: 1 } as never), /unknown field 'extra'/);
  });
});

describe('channelConsistency', () => {
  test('planted channels are the top channels of every layer; a channel that is always largest dominates', () => {
    const layers = synth(4, 100, 16, [{ features: [1, 7, 13], layers: [0, 1, 2, 3], count: 10, magnitude: 9 }]);
    const c = channelConsistency(layers, { k: 3 });
    for (const t of c.topPerLayer) assert.deepEqual([...t].sort((a, b) => a - b), [1, 7, 13]);
    assert.equal(c.meanJaccard, 1);
    assert.deepEqual(c.recurring.map((r) => [r.index, r.layerFraction]), [[1, 1], [7, 1], [13, 1]]);
    // Channel 5 is the largest at every position of layer 0 only.
    const big = synth(2, 50, 8, [{ features: [5], layers: [0], count: 50, magnitude: 20 }]);
    const c2 = channelConsistency(big, { k: 1 });
    assert.deepEqual(c2.dominant[0], { index: 5, positionFraction: 1 });
    assert.ok(c2.dominant[1]!.positionFraction < 0.5, 'no channel dominates plain noise');
    assert.ok(c2.meanJaccard < 1);
  });
});

describe('activations from a model', () => {
  const cfg = { vocabSize: 20, context: 8, dModel: 16, nLayers: 2, nHeads: 2, mlp: 'gelu' as const, seed: 5, norm: { kind: 'layernorm' as const } };

  test('collectActivations reads the linear-layer inputs and the residual stream in forward order', () => {
    const lm = createLM(cfg);
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1], [0, 0, 1, 1, 2, 2, 3, 3]], undefined, 'int32');
    const sites = collectActivations(lm, ids);
    assert.deepEqual(sites.map((s) => s.name), [
      'embed.out',
      'blocks.0.norm1.out', 'blocks.0.attn.z', 'blocks.0.resid.mid', 'blocks.0.norm2.out', 'blocks.0.mlp.hidden', 'blocks.0.resid.post',
      'blocks.1.norm1.out', 'blocks.1.attn.z', 'blocks.1.resid.mid', 'blocks.1.norm2.out', 'blocks.1.mlp.hidden', 'blocks.1.resid.post',
    ]);
    const hidden = sites.find((s) => s.name === 'blocks.1.mlp.hidden')!;
    assert.deepEqual(hidden.x.shape, [24, 64]);
    assert.equal(hidden.kind, 'mlp_proj_in');
    const { cache, dispose } = runWithCache(lm, ids, ['blocks.1.norm2.out']);
    assert.deepEqual(Array.from(sites.find((s) => s.name === 'blocks.1.norm2.out')!.x.data), Array.from(cache['blocks.1.norm2.out']!.dataSync()));
    dispose();
    assert.deepEqual(collectActivations(lm, ids, { sites: ['mlp_in'] }).map((s) => s.name), ['blocks.0.norm2.out', 'blocks.1.norm2.out']);
    assert.throws(() => collectActivations(lm, ids, { sites: ['nope' as never] }), /unknown site 'nope'/);
    ids.dispose();
    lm.dispose();
  });

  test('outliersOverTraining: one snapshot per checkpoint, the last equal to the trained model, step 0 to a fresh build', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dytlab-outliers-'));
    try {
      const run = await runTraining({
        name: 'outliers-test', seed: 0,
        model: { kind: 'lm', context: 8, dModel: 16, nLayers: 2, nHeads: 2, mlp: 'gelu', norm: { kind: 'layernorm' } },
        data: { dataset: 'markov', vocabSize: 20, branching: 3, length: 4000 },
        train: { steps: 4, batchSize: 4, lr: 0.01, warmupSteps: 0, evalEvery: 4, evalBatches: 1, traceEvery: 4, checkpointEvery: 2 },
      }, { store: join(dir, 'runs.sqlite'), keepModel: true });
      assert.equal(run.status, 'finished');
      assert.equal(run.checkpoints.length, 2); // step 2, and the final one at step 4
      const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [3, 1, 4, 1, 5, 9, 2, 6]], undefined, 'int32');
      // A low threshold, so that the small model has outliers to compare.
      const opts = { threshold: 1.5, minLayerFraction: 0.25, minPositionFraction: 0.06 };
      const snaps = outliersOverTraining(run.checkpoints, ids, { ...opts, includeInit: true });
      assert.deepEqual(snaps.map((s) => s.step), [0, 2, 4]);
      const final = outlierSnapshot(run.model!, ids, 4, opts);
      assert.deepEqual(snaps[2], final);
      const fresh = createLM({ ...run.config.model } as never);
      assert.deepEqual(snaps[0], outlierSnapshot(fresh, ids, 0, opts));
      assert.notDeepEqual(snaps[0]!.sites.map((s) => s.maxAbs), snaps[2]!.sites.map((s) => s.maxAbs));
      assert.deepEqual(snaps[2]!.sites.map((s) => s.name), ['blocks.0.norm1.out', 'blocks.0.attn.z', 'blocks.0.norm2.out', 'blocks.1.norm1.out', 'blocks.1.attn.z', 'blocks.1.norm2.out']);
      assert.equal(snaps[2]!.outliers.numLayers, 6);
      fresh.dispose();
      run.model!.dispose();
      ids.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
