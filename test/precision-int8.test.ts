// Tests for src/engine/precision.ts, part 2: int8 quantization, casts on
// tensors (errors, in-place arrays, straight-through gradients, no leaks).
// Expected values are worked out by hand, never taken from the implementation.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../src/engine/tf.js';
import type { Tensor } from '../src/engine/tf.js';
import {
  PRECISION_FORMATS, castArray, castTo, dequantizeInt8, fakeQuantInt8, quantizeInt8, roundBf16Array, roundFloatArray,
  roundFp16Array, roundFp8E4M3Array, roundFp8E5M2Array, roundHalfEven, toBf16, toFp16, toFp8E4M3, toFp8E5M2,
} from '../src/engine/precision.js';
import type { FloatFormat, PrecisionFormat } from '../src/engine/precision.js';

before(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const NaN32 = Number.NaN;
const INF = Number.POSITIVE_INFINITY;

test('roundHalfEven sends .5 ties to the even integer', () => {
  const cases: Array<[number, number]> = [
    [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-1.5, -2], [-2.5, -2], [-3.5, -4],
    [2.4999, 2], [2.5000001, 3], [-2.5000001, -3], [126.5, 126], [127, 127], [0.4, 0],
  ];
  for (const [v, want] of cases) assert.equal(roundHalfEven(v), want, `roundHalfEven(${v})`);
  assert.ok(roundHalfEven(-0.5) === 0, 'roundHalfEven(-0.5) is a zero'); // -0 or +0 both fine here
});

test('int8 per-tensor: scale = absmax/127, ties to even', () => {
  const x = tf.tensor2d([[127, 2.5, -2.5, 0.5], [1.5, -1.5, 3.5, -0.5]]);
  const qz = quantizeInt8(x, { axis: 'tensor' });
  assert.deepEqual(Array.from(qz.q), [127, 2, -2, 0, 2, -2, 4, 0]); // Math.round would give 3 for 2.5
  assert.deepEqual(Array.from(qz.scale), [1]);
  assert.deepEqual(qz.shape, [2, 4]);
  assert.ok(qz.q instanceof Int8Array);
  const d = dequantizeInt8(qz);
  assert.deepEqual(d.shape, [2, 4]);
  assert.deepEqual(Array.from(d.dataSync()), [127, 2, -2, 0, 2, -2, 4, 0]);
  const fq = fakeQuantInt8(x, 'tensor');
  assert.deepEqual(Array.from(fq.dataSync()), [127, 2, -2, 0, 2, -2, 4, 0]); // -0.5 -> +0
  tf.dispose([x, d, fq]);
});

test('int8 per-tensor with an inexact scale stores the float32 scale', () => {
  const x = tf.tensor1d([1, -1, 0.25]);
  const qz = quantizeInt8(x); // default granularity: tensor
  const s = Math.fround(1 / 127);
  assert.deepEqual(Array.from(qz.scale), [s]);
  assert.deepEqual(Array.from(qz.q), [127, -127, 32]); // 0.25*127 = 31.75 -> 32
  const d = dequantizeInt8(qz);
  assert.deepEqual(Array.from(d.dataSync()), [Math.fround(127 * s), Math.fround(-127 * s), Math.fround(32 * s)]);
  tf.dispose([x, d]);
});

test('int8 per-row: one scale per row, zero row gives scale 0 and zeros', () => {
  const x = tf.tensor2d([[254, 3, -1], [0, 0, 0], [-63.5, 31.75, 0.25]]);
  const qz = quantizeInt8(x, { axis: 'row' });
  assert.deepEqual(Array.from(qz.scale), [2, 0, 0.5]);
  // row0: 3/2 = 1.5 -> 2, -1/2 = -0.5 -> 0; row2: 31.75/0.5 = 63.5 -> 64, 0.25/0.5 = 0.5 -> 0
  assert.deepEqual(Array.from(qz.q), [127, 2, 0, 0, 0, 0, -127, 64, 0]);
  const want = [254, 4, 0, 0, 0, 0, -63.5, 32, 0];
  const d = dequantizeInt8(qz);
  assert.deepEqual(Array.from(d.dataSync()), want);
  const fq = castTo(x, 'int8_row');
  assert.deepEqual(Array.from(fq.dataSync()), want);
  tf.dispose([x, d, fq]);
});

test('int8 per-column: one scale per column, zero column, vs per-tensor', () => {
  const rows = [[254, -31.75, 0], [3, 0.625, 0], [-5, 0.375, 0]];
  const x = tf.tensor2d(rows);
  const qz = quantizeInt8(x, 'col');
  assert.deepEqual(Array.from(qz.scale), [2, 0.25, 0]);
  // col0 /2: 127, 1.5 -> 2, -2.5 -> -2; col1 /0.25: -127, 2.5 -> 2, 1.5 -> 2
  assert.deepEqual(Array.from(qz.q), [127, -127, 0, 2, 2, 0, -2, 2, 0]);
  const d = dequantizeInt8(qz);
  assert.deepEqual(Array.from(d.dataSync()), [254, -31.75, 0, 4, 0.5, 0, -4, 0.5, 0]);
  const fq = fakeQuantInt8(x, 'col');
  assert.deepEqual(Array.from(fq.dataSync()), [254, -31.75, 0, 4, 0.5, 0, -4, 0.5, 0]);
  // Same data per tensor (scale 2): -15.875 -> -16, 0.3125 -> 0, 0.1875 -> 0
  const ft = castTo(x, 'int8_tensor');
  assert.deepEqual(Array.from(ft.dataSync()), [254, -32, 0, 4, 0, 0, -4, 0, 0]);
  // Pure array API gives the same
  assert.deepEqual(Array.from(castArray(new Float32Array(rows.flat()), 'int8_col', [3, 3])),
    [254, -31.75, 0, 4, 0.5, 0, -4, 0.5, 0]);
  tf.dispose([x, d, fq, ft]);
});

test('int8: all-zero tensor gives scale 0 and no NaN', () => {
  const x = tf.zeros([2, 3]);
  for (const axis of ['tensor', 'row', 'col'] as const) {
    const qz = quantizeInt8(x, { axis });
    assert.ok(Array.from(qz.scale).every((s) => s === 0), axis);
    const y = fakeQuantInt8(x, axis);
    assert.deepEqual(Array.from(y.dataSync()), [0, 0, 0, 0, 0, 0], axis);
    y.dispose();
  }
  x.dispose();
});

test('int8: non-finite values pass through fake-quant, are rejected by quantizeInt8', () => {
  const x = tf.tensor1d([NaN32, 254, INF, 3, -INF]);
  const y = fakeQuantInt8(x, 'tensor'); // scale from finite values: 254/127 = 2
  assert.deepEqual(Array.from(y.dataSync()), [NaN32, 254, INF, 4, -INF]);
  assert.throws(() => quantizeInt8(x), /non-finite/);
  tf.dispose([x, y]);
});

// --- errors --------------------------------------------------------------------

test('clear errors: dtype, rank for row/col, unknown format or granularity', () => {
  const xi = tf.tensor1d([1, 2], 'int32');
  for (const fn of [toBf16, toFp16, toFp8E4M3, toFp8E5M2, (t: Tensor) => castTo(t, 'bf16'),
    (t: Tensor) => fakeQuantInt8(t), (t: Tensor) => quantizeInt8(t)]) {
    assert.throws(() => fn(xi), /float32.*int32/);
  }
  const x3 = tf.zeros([2, 2, 2]);
  assert.throws(() => fakeQuantInt8(x3, 'row'), /'row' needs a 2-D tensor.*\[2, 2, 2\]/);
  const x1 = tf.zeros([4]);
  assert.throws(() => quantizeInt8(x1, { axis: 'col' }), /'col' needs a 2-D tensor/);
  assert.throws(() => castTo(x3, 'int8_col'), /2-D/);
  const ok = castTo(x3, 'int8_tensor'); // per-tensor works for any rank
  assert.deepEqual(ok.shape, [2, 2, 2]);
  const x = tf.tensor1d([1]);
  assert.throws(() => castTo(x, 'fp4' as PrecisionFormat), /unknown precision format 'fp4'/);
  assert.throws(() => fakeQuantInt8(x, 'diag' as 'row'), /unknown int8 granularity 'diag'/);
  assert.throws(() => roundFloatArray(new Float32Array(1), 'fp6' as FloatFormat), /unknown float format 'fp6'/);
  assert.throws(() => roundFp16Array(new Float32Array(2), new Float32Array(3)), /length/);
  tf.dispose([xi, x1, x3, ok, x]);
});

test('array API works in place and leaves src untouched otherwise', () => {
  const src = new Float32Array([65520, 2049, 1 + 2 ** -11]);
  const out = roundFp16Array(src);
  assert.deepEqual(Array.from(src), [65520, 2049, 1 + 2 ** -11]);
  assert.deepEqual(Array.from(out), [INF, 2048, 1]);
  const same = roundFp16Array(src, src);
  assert.equal(same, src);
  assert.deepEqual(Array.from(src), [INF, 2048, 1]);
  // subarray views (non-zero byteOffset) are honoured
  const buf = new Float32Array([7, 1 + 2 ** -8, 9]);
  roundBf16Array(buf.subarray(1, 2), buf.subarray(1, 2));
  assert.deepEqual(Array.from(buf), [7, 1, 9]);
});

// --- gradients and memory --------------------------------------------------------

test('straight-through gradient: d/dx sum(castTo(x) * w) = w for every format', () => {
  const xv = [[1 + 3 * 2 ** -8, -300, 2 ** -25], [60000, 0.3, -5]];
  const wv = [[0.5, -2, 3], [4, -0.25, 7]];
  for (const f of PRECISION_FORMATS) {
    const g = tf.tidy(() => {
      const w = tf.tensor2d(wv);
      return tf.grad((x: Tensor) => tf.sum(tf.mul(castTo(x, f), w)))(tf.tensor2d(xv));
    });
    assert.deepEqual(g.shape, [2, 3], f);
    assert.deepEqual(Array.from(g.dataSync()), wv.flat(), f);
    g.dispose();
  }
});

test('straight-through gradient composes: d/dx sum(bf16(x)^2) = 2 * bf16(x)', () => {
  const g = tf.tidy(() => tf.grad((x: Tensor) => tf.sum(tf.square(toBf16(x))))(tf.tensor1d([1 + 3 * 2 ** -8, 3])));
  assert.deepEqual(Array.from(g.dataSync()), [2 + 2 ** -5, 6]);
  g.dispose();
});

test('casts allocate exactly one tensor (no leaks)', () => {
  const x = tf.tensor2d([[1, 2], [3, 4]]);
  for (const f of PRECISION_FORMATS) {
    const before = tf.memory().numTensors;
    const y = castTo(x, f);
    assert.equal(tf.memory().numTensors, before + 1, f);
    y.dispose();
    assert.equal(tf.memory().numTensors, before, f);
  }
  const before = tf.memory().numTensors;
  tf.tidy(() => { tf.grad((t: Tensor) => tf.sum(toFp16(t)))(x); });
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});
