// analysis/quant (post-training fake quantization), engine/scaled-cast, the
// Linear override, low-precision training (train/precision), loss spikes and
// the fp16 norm-overflow counts. Expected values are worked out by hand or by
// independent float64 references written here, never taken from the code under test.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  castScaled, createLM, createTask, evaluatePtq, fp16NormStats, Init, initBackend, layerSqnr, Linear, linearRounding,
  lossSpikes, normOverflowFp16, normRoundingHooks, outlierColumns, QUANT_METHODS, quantizedProduct, quantizeOperands,
  resolveTrainConfig, roundBf16Array, roundFp16Array, roundScaledArray, runTraining, runWithCache,
  sqnrDb, tf, withLinearOverride, withPrecision, withQuantizedLinears,
} from '../src/index.js';
import type { Matrix, QuantMethod } from '../src/index.js';
import { normals, rng } from './support/numeric.js';

before(async () => {
  await initBackend('cpu');
});

const f = Math.fround;
const mat = (rows: number[][]): Matrix => ({ data: Float32Array.from(rows.flat()), shape: [rows.length, rows[0]!.length] });

describe('quantizers on hand-computed examples', () => {
  const X = mat([[1, -2.5], [0.5, 4]]);
  const W = mat([[0.1, -0.2], [0.3, 0.05]]);

  test('int8 absmax per tensor: one scale for X (4/127) and one for W (0.3/127)', () => {
    const q = quantizeOperands(X, W, 'int8_tensor');
    const sx = f(4 / 127), sw = f(0.3 / 127);
    // x * 127/4: 31.75, -79.375, 15.875, 127 -> 32, -79, 16, 127
    assert.deepEqual(Array.from(q.x), [32, -79, 16, 127].map((c) => f(c * sx)));
    // w * 127/0.3: 42.33, -84.67, 127, 21.17 -> 42, -85, 127, 21
    assert.deepEqual(Array.from(q.w), [42, -85, 127, 21].map((c) => f(c * sw)));
    assert.deepEqual(q.outlierColumns, []);
  });

  test('vector-wise int8: a scale per row of X and per column of W', () => {
    const q = quantizeOperands(X, W, 'int8_vector');
    const r0 = f(2.5 / 127), r1 = f(4 / 127), c0 = f(0.3 / 127), c1 = f(0.2 / 127);
    // row 0: 1 * 127/2.5 = 50.8 -> 51; row 1: 0.5 * 127/4 = 15.875 -> 16
    assert.deepEqual(Array.from(q.x), [f(51 * r0), f(-127 * r0), f(16 * r1), f(127 * r1)]);
    // col 0: 0.1 * 127/0.3 = 42.33 -> 42; col 1: 0.05 * 127/0.2 = 31.75 -> 32
    assert.deepEqual(Array.from(q.w), [f(42 * c0), f(-127 * c1), f(127 * c0), f(32 * c1)]);
  });

  test('fp8 with per-tensor scaling maps absmax onto the format maximum', () => {
    // E4M3: s = 2/448; x/s = 224, -67.2, 448; 67.2 lies between 64 and 72 (spacing 8) -> 64.
    const e4 = roundScaledArray(Float32Array.from([1, -0.3, 2]), 'fp8_e4m3');
    assert.equal(e4.scale, 2 / 448);
    assert.deepEqual(Array.from(e4.out), [1, f(-64 * (2 / 448)), 2]);
    // E5M2: s = 2/57344; x/s = 28672, -8601.6, 57344; 8601.6 lies between 8192 and 10240 -> 8192.
    const e5 = roundScaledArray(Float32Array.from([1, -0.3, 2]), 'fp8_e5m2');
    assert.deepEqual(Array.from(e5.out), [1, f(-8192 * (2 / 57344)), 2]);
    // All zeros: scale 0, zeros out; non-finite values pass through and stay out of the scale.
    assert.deepEqual(Array.from(roundScaledArray(new Float32Array(3), 'fp8_e4m3').out), [0, 0, 0]);
    const nf = roundScaledArray(Float32Array.from([Infinity, 1, NaN]), 'fp8_e4m3');
    assert.equal(nf.scale, 1 / 448);
    assert.equal(nf.out[0], Infinity);
    assert.equal(nf.out[1], 1);
    assert.ok(Number.isNaN(nf.out[2]!));
    // Operands: X scaled by its absmax 4, W by 0.3.
    const q = quantizeOperands(X, W, 'fp8_e4m3');
    // X/s: 112, -280, 56, 448 -> 112, -288 (256..512 spacing 32: 280 is nearer 288), 56, 448
    const s = 4 / 448;
    assert.deepEqual(Array.from(q.x), [112, -288, 56, 448].map((c) => f(c * s)));
  });

  test('bf16 and fp16: round to nearest even, fp16 overflow and underflow counted per operand', () => {
    // bf16 (7 fraction bits): 1 + 2^-8 is a tie -> 1 (even); 1 + 3 * 2^-8 is a tie -> 1 + 2^-6 (even).
    const b = quantizeOperands(mat([[1 + 2 ** -8, 1 + 3 * 2 ** -8]]), mat([[1], [1]]), 'bf16');
    assert.deepEqual(Array.from(b.x), [1, 1 + 2 ** -6]);
    const p = quantizedProduct(mat([[70000, 1e-8, 300]]), mat([[1], [1], [300]]), 'fp16');
    // x: 70000 -> inf (overflow), 1e-8 -> 0 (underflow); y = inf + 0 + 90000 -> inf.
    assert.deepEqual(p.counts.x, { overflow: 1, underflow: 1 });
    assert.deepEqual(p.counts.w, { overflow: 0, underflow: 0 });
    assert.equal(p.y.data[0], Infinity);
    const q = quantizedProduct(mat([[300]]), mat([[300]]), 'fp16');
    assert.equal(q.y.data[0], Infinity, '300 * 300 = 90000 overflows the fp16 output');
    assert.deepEqual(q.counts.y, { overflow: 1, underflow: 0 });
    assert.equal(quantizedProduct(mat([[300]]), mat([[300]]), 'bf16').y.data[0], 90112, 'bf16 rounds 90000 to 90112');
  });

  test('unknown methods and mismatched shapes are named', () => {
    assert.throws(() => quantizeOperands(X, W, 'int4' as QuantMethod), /method = "int4" is not one of/);
    assert.throws(() => quantizeOperands(X, mat([[1, 2, 3]]), 'bf16'), /inner dimensions differ/);
    assert.throws(() => quantizeOperands(X, W, 'int8_mixed', { outlierThreshold: -1 }), /outlierThreshold = -1 is invalid/);
  });
});

/** X [n, k] with N(0, 1) values clipped to [-3, 3], and +-20 at a few rows of the outlier columns. */
function plantedX(n: number, k: number, cols: number[], seed: number): Matrix {
  const z = normals(n * k, seed);
  const data = Float32Array.from(z, (v) => Math.max(-3, Math.min(3, v)));
  const r = rng(seed + 1);
  for (const j of cols) for (let i = 0; i < n; i++) if (r() < 0.3) data[i * k + j] = r() < 0.5 ? -20 : 20;
  for (const j of cols) data[j] = 20; // every outlier column reaches the threshold at least once
  return { data, shape: [n, k] };
}

function floatProduct(x: Matrix, w: Matrix): Float64Array {
  const [n, k] = x.shape, m = w.shape[1];
  const y = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += x.data[i * k + t]! * w.data[t * m + j]!;
    y[i * m + j] = s;
  }
  return y;
}

describe('vector-wise int8 with the mixed-precision decomposition', () => {
  const n = 24, k = 32, m = 12, cols = [2, 7, 19];
  const x = plantedX(n, k, cols, 11);
  const w: Matrix = { data: Float32Array.from(normals(k * m, 12, 0.1)), shape: [k, m] };

  test('a threshold above every value keeps no column in 16-bit: exactly plain vector-wise int8', () => {
    const mixed = quantizeOperands(x, w, 'int8_mixed', { outlierThreshold: 1000 });
    const plain = quantizeOperands(x, w, 'int8_vector');
    assert.deepEqual(mixed.outlierColumns, []);
    assert.deepEqual(mixed.x, plain.x);
    assert.deepEqual(mixed.w, plain.w);
    assert.deepEqual(quantizedProduct(x, w, 'int8_mixed', { outlierThreshold: 1000 }).y, quantizedProduct(x, w, 'int8_vector').y);
  });

  test('outlier columns found at the threshold; every one in fp16 leaves only the int8 error of the other columns', () => {
    assert.deepEqual(outlierColumns(x.data, n, k, 6), cols);
    const p = quantizedProduct(x, w, 'int8_mixed');
    assert.deepEqual(p.outlierColumns, cols);
    // Independent reference: fp16 part for the outlier columns, int8 with scales over the remaining columns/rows.
    const O = new Set(cols);
    const sx = Array.from({ length: n }, (_, i) => Math.max(...Array.from({ length: k }, (_, t) => (O.has(t) ? 0 : Math.abs(x.data[i * k + t]!)))) / 127);
    const sw = Array.from({ length: m }, (_, j) => Math.max(...Array.from({ length: k }, (_, t) => (O.has(t) ? 0 : Math.abs(w.data[t * m + j]!)))) / 127);
    const h = (v: number) => roundFp16Array(Float32Array.of(v))[0]!;
    const exact = floatProduct(x, w);
    let maxErr = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
      let ref = 0, bound = 0;
      for (let t = 0; t < k; t++) {
        const xv = x.data[i * k + t]!, wv = w.data[t * m + j]!;
        if (O.has(t)) {
          ref += h(xv) * h(wv);
          bound += Math.abs(xv * wv) * 2 ** -10; // two fp16 roundings, each within 2^-11 relative
        } else {
          const qx = Math.round(xv / sx[i]!) * sx[i]!, qw = Math.round(wv / sw[j]!) * sw[j]!;
          ref += qx * qw;
          bound += (sx[i]! / 2) * Math.abs(wv) + Math.abs(xv) * (sw[j]! / 2) + (sx[i]! * sw[j]!) / 4;
        }
      }
      const y = p.y.data[i * m + j]!;
      assert.ok(Math.abs(y - ref) <= 1e-5 * (1 + Math.abs(ref)), `y[${i},${j}] = ${y}, reference ${ref}`);
      const err = Math.abs(y - exact[i * m + j]!);
      assert.ok(err <= bound * 1.0001 + 1e-6, `error ${err} at [${i},${j}] exceeds the int8 bound ${bound}`);
      maxErr = Math.max(maxErr, err);
    }
    // Without the decomposition the outliers set the row scales (20/127 instead of ~3/127): errors grow.
    const plain = quantizedProduct(x, w, 'int8_vector').y.data;
    let plainErr = 0;
    for (let i = 0; i < plain.length; i++) plainErr = Math.max(plainErr, Math.abs(plain[i]! - exact[i]!));
    assert.ok(plainErr > 3 * maxErr, `plain vector-wise error ${plainErr} vs mixed ${maxErr}`);
  });
});

describe('quantized Linears (tensor path through the Linear override)', () => {
  test('every method agrees with the pure array reference; fp32 is the plain layer bit for bit', () => {
    const init = new Init(3, 0.2);
    const lin = new Linear(16, 8, init, { bias: false });
    const xs = plantedX(10, 16, [4], 21);
    const x = tf.tensor2d(xs.data, xs.shape);
    const w: Matrix = { data: lin.weight.dataSync() as Float32Array, shape: [16, 8] };
    const plain = lin.apply(x).dataSync();
    for (const method of QUANT_METHODS) {
      const { result, layers } = withQuantizedLinears(method, () => lin.apply(x).dataSync());
      const ref = quantizedProduct(xs, w, method).y.data;
      const tol = method === 'bf16' ? 2 ** -7 : method === 'fp16' ? 2 ** -10 : 1e-5;
      const scale = Math.max(...Array.from(ref, Math.abs));
      for (let i = 0; i < ref.length; i++) {
        assert.ok(Math.abs(result[i]! - ref[i]!) <= tol * scale, `${method}: ${result[i]} vs ${ref[i]}`);
      }
      if (method === 'fp32') assert.deepEqual(result, plain);
      else assert.equal(layers.length, 1);
      if (method === 'int8_mixed') assert.equal(layers[0]!.outlierColumns, 1);
    }
    // After a context (even one that threw) the layer is plain again.
    assert.throws(() => withQuantizedLinears('bf16', () => { throw new Error('boom'); }), /boom/);
    assert.deepEqual(lin.apply(x).dataSync(), plain);
    // Overrides nest, the innermost first: an inner one that doubles the input hands it on to
    // the outer quantizer, which computes the product (x2 -> 2 x2 makes y -> 2 y exactly for fp32).
    const doubled = withQuantizedLinears('fp32', () => withLinearOverride((_l, x2, w, next) => next(tf.mul(x2, 2), w), () => lin.apply(x).dataSync()), { measure: true });
    for (let i = 0; i < plain.length; i++) assert.ok(Math.abs(doubled.result[i]! - 2 * plain[i]!) <= 1e-6 * (1 + Math.abs(plain[i]!)), `nested: ${doubled.result[i]} vs 2 x ${plain[i]}`);
    assert.equal(doubled.layers[0]!.calls, 1, 'the outer quantizer saw the call');
    x.dispose();
    lin.dispose();
  });

  test('layers can be selected by path', () => {
    const lm = createLM({ vocabSize: 20, context: 8, dModel: 16, nLayers: 2, nHeads: 2, mlp: 'gelu', seed: 1 });
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]], undefined, 'int32');
    const { layers } = withQuantizedLinears('int8_tensor', () => tf.dispose(lm.apply(ids)), { layers: /^blocks\.1\./ });
    assert.deepEqual(layers.map((l) => l.layer), ['blocks.1.attn.qkv', 'blocks.1.attn.proj', 'blocks.1.mlp.fc', 'blocks.1.mlp.proj']);
    const all = withQuantizedLinears('int8_tensor', () => tf.dispose(lm.apply(ids))).layers.map((l) => l.layer);
    assert.equal(all.length, 9); // 4 per block and the head
    ids.dispose();
    lm.dispose();
  });
});

describe('PTQ of a model: task metrics and SQNR per layer', () => {
  const cfg = { vocabSize: 12, context: 8, dModel: 16, nLayers: 2, nHeads: 2, mlp: 'gelu' as const, seed: 2, norm: { kind: 'layernorm' as const } };

  test('evaluatePtq: the change of each metric against float32', () => {
    const { task } = createTask({ dataset: 'markov', vocabSize: 12, branching: 2, length: 3000 }, { modelKind: 'lm', batchSize: 4, context: 8, seed: 0, evalBatches: 2 });
    const lm = createLM(cfg);
    const r = evaluatePtq(lm, task, { methods: ['fp32', 'bf16', 'int8_tensor', 'fp16'] });
    assert.deepEqual(r.rows.map((x) => x.method), ['fp32', 'bf16', 'int8_tensor', 'fp16']);
    assert.deepEqual(r.baseline, task.evaluate(lm));
    for (const row of r.rows) {
      assert.equal(row.delta['val/loss'], row.metrics['val/loss']! - r.baseline['val/loss']!);
    }
    assert.equal(r.rows[0]!.delta['val/loss'], 0);
    assert.ok(Math.abs(r.rows[1]!.delta['val/loss']!) < 0.02, 'bf16 barely moves the loss of a small model');
    assert.notEqual(r.rows[2]!.delta['val/loss'], 0);
    assert.equal(r.rows[3]!.counts.x.overflow + r.rows[3]!.counts.y.overflow, 0);
    lm.dispose();
    task.dispose();
  });

  test('layerSqnr: the first layer against an independent computation; the later ones accumulate error', () => {
    const lm = createLM(cfg);
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [2, 9, 4, 1, 0, 3, 11, 5]], undefined, 'int32');
    const rows = layerSqnr(lm, ids, 'int8_tensor');
    assert.equal(rows[0]!.layer, 'blocks.0.attn.qkv');
    assert.equal(rows.at(-1)!.layer, 'head');
    // blocks.0.attn.qkv sees the float32 model's input: both SQNRs are that of one quantized product.
    const { cache, dispose } = runWithCache(lm, ids, ['blocks.0.norm1.out']);
    const x = { data: cache['blocks.0.norm1.out']!.dataSync() as Float32Array, shape: [16, 16] as [number, number] };
    dispose();
    const wt = lm.parameter('blocks.0.attn.qkv.weight')!;
    const w = { data: wt.dataSync() as Float32Array, shape: [16, 48] as [number, number] };
    const yq = quantizedProduct(x, w, 'int8_tensor').y.data, y = floatProduct(x, w);
    let s = 0, e = 0;
    for (let i = 0; i < y.length; i++) { s += y[i]! ** 2; e += (yq[i]! - y[i]!) ** 2; }
    const expected = 10 * Math.log10(s / e);
    assert.ok(Math.abs(rows[0]!.sqnrDb - expected) < 0.05, `${rows[0]!.sqnrDb} vs ${expected} dB`);
    assert.ok(Math.abs(rows[0]!.sqnrModelDb - expected) < 0.05);
    // Later layers also carry the error of the layers before them.
    assert.ok(rows.slice(1).some((r) => r.sqnrModelDb < r.sqnrDb));
    for (const r of layerSqnr(lm, ids, 'fp32')) assert.equal(r.sqnrDb, Infinity);
    assert.equal(sqnrDb(100, 1), 20);
    ids.dispose();
    lm.dispose();
  });
});

describe('low-precision training', () => {
  test('castScaled and the Linear rounding pass gradients straight through', () => {
    const x = tf.tensor1d([0.3, -1.7, 2.2, 5]);
    const c = tf.tensor1d([1, 2, 3, 4]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(castScaled(v, 'fp8_e4m3'), c)))(x);
    assert.deepEqual(Array.from(g.dataSync()), [1, 2, 3, 4]);
    // A Linear with weight W under bf16 input rounding: y = bf16(x) W, dL/dx = c W^T as if unrounded.
    const lin = new Linear(3, 2, new Init(4, 0.5), { bias: false });
    const round = linearRounding({ linearInput: 'bf16' })!;
    const xs = tf.tensor2d([[0.1, 0.2, 0.3]]);
    const cs = tf.tensor2d([[1, -1]]);
    const gx = tf.grad((v: tf.Tensor) => withLinearOverride(round, () => tf.sum(tf.mul(lin.apply(v), cs))))(xs);
    const expected = tf.matMul(cs, lin.weight, false, true);
    assert.deepEqual(Array.from(gx.dataSync()), Array.from(expected.dataSync()));
    tf.dispose([x, c, g, xs, cs, gx, expected]);
    lin.dispose();
  });

  test('the rounded forward pass really rounds: norm outputs and Linear inputs are representable in the format', () => {
    const lm = createLM({ vocabSize: 20, context: 8, dModel: 16, nLayers: 2, nHeads: 2, seed: 6, norm: { kind: 'dyt' } });
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]], undefined, 'int32');
    const names = lm.normLayers().map((n) => `${n.name}.out`);
    const isBf16 = (a: Float32Array) => roundBf16Array(a).every((v, i) => v === a[i]);
    const plain = runWithCache(lm, ids, names);
    assert.ok(names.some((n) => !isBf16(plain.cache[n]!.dataSync() as Float32Array)), 'float32 outputs are not all bf16 values');
    plain.dispose();
    const rounded = runWithCache(lm, ids, names, normRoundingHooks(lm, { norm: 'bf16' }));
    for (const n of names) assert.ok(isBf16(rounded.cache[n]!.dataSync() as Float32Array), `${n} is not bf16`);
    rounded.dispose();
    // Linear inputs: with an identity weight the output is the rounded input itself.
    const lin = new Linear(4, 4, new Init(0), { bias: false });
    lin.weight.assign(tf.eye(4));
    const x = tf.tensor2d([[0.1, -3.3, 7.77, 1e-3]]);
    const y8 = withLinearOverride(linearRounding({ linearInput: 'fp8_e4m3', scaling: 'tensor' })!, () => lin.apply(x));
    // fp8 with a per-tensor scale: the output is s * round(x / s), s = 7.77 / 448 (checked by hand above).
    assert.deepEqual(Array.from(y8.dataSync()), Array.from(roundScaledArray(x.dataSync() as Float32Array, 'fp8_e4m3').out));
    // By hand, s = 7.77/448: x/s = 5.77, -190.3, 448, 0.0577 -> 6 (spacing 0.5), -192 (spacing 16), 448, 15 * 2^-8 (spacing 2^-8).
    const s8 = f(7.77) / 448;
    [6, -192, 448, 15 * 2 ** -8].forEach((q, i) => assert.ok(Math.abs(y8.dataSync()[i]! - q * s8) < 1e-6 * Math.abs(q * s8), `y8[${i}]`));
    const yb = withLinearOverride(linearRounding({ linearInput: 'bf16' })!, () => lin.apply(x));
    assert.deepEqual(Array.from(yb.dataSync()), Array.from(roundBf16Array(x.dataSync() as Float32Array)));
    // The wrapped model: same parameters, a different (rounded) forward pass, close to the float one.
    const lp = withPrecision(lm, { norm: 'fp8_e4m3', linearInput: 'fp8_e4m3' });
    assert.equal(lp.namedParameters().length, lm.namedParameters().length);
    assert.equal(withPrecision(lm, { norm: 'fp32' }), lm, 'rounding nothing is the model itself');
    const a = lm.apply(ids), b = lp.apply(ids);
    const da = a.dataSync(), db = b.dataSync();
    let diff = 0, mag = 0;
    for (let i = 0; i < da.length; i++) { diff = Math.max(diff, Math.abs(da[i]! - db[i]!)); mag = Math.max(mag, Math.abs(da[i]!)); }
    assert.ok(diff > 0 && diff < 0.5 * mag, `fp8 forward differs by ${diff} (logit scale ${mag})`);
    tf.dispose([ids, x, y8, yb, a, b]);
    lin.dispose();
    lm.dispose();
  });

  test('train.precision is validated, float32 when it rounds nothing, and changes the training run', async () => {
    const base = { steps: 3, batchSize: 2, lr: 0.01, warmupSteps: 0 };
    assert.throws(() => resolveTrainConfig({ ...base, precision: { norm: 'fp7' } }), /precision\.norm = "fp7" is not one of/);
    assert.throws(() => resolveTrainConfig({ ...base, precision: { nrom: 'bf16' } }), /unknown field 'nrom' in precision/);
    assert.equal('precision' in resolveTrainConfig({ ...base, precision: { norm: 'fp32' } }), false);
    assert.deepEqual(resolveTrainConfig({ ...base, precision: { norm: 'bf16' } }).precision, { norm: 'bf16' });
    const run = (precision?: object) => runTraining({
      seed: 0, model: { kind: 'lm', context: 8, dModel: 16, nLayers: 1, nHeads: 2, norm: { kind: 'layernorm' } },
      data: { dataset: 'markov', vocabSize: 12, branching: 2, length: 2000 },
      train: { ...base, evalEvery: 3, evalBatches: 1, ...(precision ? { precision } : {}) },
    }, { store: false });
    const f32 = await run(), f8 = await run({ norm: 'fp8_e4m3', linearInput: 'fp8_e4m3' });
    assert.equal(f8.status, 'finished');
    assert.ok(f8.losses.every(Number.isFinite));
    assert.notEqual(f8.losses[0], f32.losses[0], 'the fp8 forward pass gives another loss');
    assert.ok(Math.abs(f8.losses[0]! - f32.losses[0]!) < 0.1);
  });

  test('lossSpikes: loss above factor x the running median of the window before it', () => {
    const losses = [2, 2, 2.1, 1.9, 2, 5, 2, 2, 1.8, 3.5, Infinity, 2];
    const s = lossSpikes(losses, { factor: 1.5, window: 4, minHistory: 4 });
    // step 6: median(2, 2.1, 1.9, 2) = 2 -> 5 > 3; step 10: median(5, 2, 2, 1.8) = 2 -> 3.5 > 3; step 11: non-finite.
    assert.deepEqual(s.map((x) => x.step), [6, 10, 11]);
    assert.equal(s[0]!.median, 2);
    assert.equal(s[0]!.ratio, 2.5);
    assert.deepEqual(lossSpikes(losses, { factor: 3, window: 4, minHistory: 4 }).map((x) => x.step), [11]);
    assert.deepEqual(lossSpikes([1, 9, 9, 9]), [], 'no spikes before minHistory steps');
    assert.throws(() => lossSpikes(losses, { factor: 1 }), /factor = 1 is invalid: must be > 1/);
  });
});

describe('fp16 overflow of norm statistics', () => {
  test('hand-computed counts for LayerNorm, RMSNorm and DyT inputs', () => {
    const x = mat([[300, -300, 0, 0], [1, 2, 3, 4], [70000, 0, 0, 0]]);
    const ln = fp16NormStats(x, 'layernorm');
    // row 0: mean 0, squares 90000 (x2, overflow), sum 180000 > 65504, variance 45000 < 65504.
    // row 2: mean 17500; centred 52500, -17500 (x3): squares 2.76e9 and 3.06e8 (all 4 overflow), variance 9.2e8.
    assert.equal(ln.squareOverflow, 2 + 4);
    assert.equal(ln.sumSqOverflowRows, 2);
    assert.equal(ln.varianceOverflowRows, 1);
    assert.equal(ln.inputOverflow, 1);
    assert.equal(ln.argOverflow, 0);
    assert.equal(ln.peak, 52500 ** 2 + 3 * 17500 ** 2);
    const rms = fp16NormStats(x, 'rmsnorm');
    assert.equal(rms.squareOverflow, 2 + 1);
    assert.equal(rms.sumSqOverflowRows, 2);
    const dyt = fp16NormStats(x, 'dyt', 300);
    // alpha x: 90000, -90000 overflow; 300..1200 do not; 2.1e7 overflows.
    assert.equal(dyt.argOverflow, 3);
    assert.equal(dyt.peak, f(300 * 70000));
    assert.equal(fp16NormStats(x, 'identity').peak, 70000);
    assert.equal(dyt.squareOverflow + dyt.sumSqOverflowRows, 0);
    assert.equal(fp16NormStats(x, 'dyt', [0.001, 1, 1, 1]).argOverflow, 0);
    assert.throws(() => fp16NormStats(x, 'dyt'), /needs alpha/);
  });

  test('normOverflowFp16 reads every norm layer of a model', () => {
    const lm = createLM({ vocabSize: 20, context: 8, dModel: 16, nLayers: 2, nHeads: 2, seed: 6, norm: { kind: 'dyt' }, finalNorm: { kind: 'layernorm' } });
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 0, 1, 0, 1, 0, 1]], undefined, 'int32');
    const rows = normOverflowFp16(lm, ids);
    assert.deepEqual(rows.map((r) => [r.layer, r.kind]), [
      ['blocks.0.norm1', 'dyt'], ['blocks.0.norm2', 'dyt'], ['blocks.1.norm1', 'dyt'], ['blocks.1.norm2', 'dyt'], ['final_norm', 'layernorm'],
    ]);
    for (const r of rows) assert.equal(r.rows, 16);
    const { cache, dispose } = runWithCache(lm, ids, ['final_norm.in']);
    const m = Math.max(...Array.from(cache['final_norm.in']!.dataSync(), Math.abs));
    dispose();
    assert.equal(rows[4]!.inputMaxAbs, m);
    // DyT output is bounded by |gamma| + |beta| = 1 at initialisation.
    for (const r of rows.slice(0, 4)) assert.ok(r.outputMaxAbs <= 1);
    ids.dispose();
    lm.dispose();
  });
});
