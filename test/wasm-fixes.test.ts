// The engine's fixes to tfjs-backend-wasm. Each test fails if its fix stops
// working (kernel renamed upstream, wrapper no longer reached, wrong numbers),
// without timing anything: it checks the route a product takes and its values.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../src/index.js';
import { flipPays, matmulFixStats, setSimdGemmEnabled, simdGemmActive } from '../src/engine/wasm/matmul.js';
import { simdTanhActive } from '../src/engine/wasm/setup.js';
import { swapPlan, transposeStats } from '../src/engine/wasm/transpose.js';
import { gatherStats } from '../src/engine/wasm/gather.js';
import { sumPlan, sumStats } from '../src/engine/wasm/sum.js';
import { maxRelErr, normals } from './support/numeric.js';

const f32 = (a: Float64Array) => Float32Array.from(a);

/** Run `f` on the cpu backend (the reference) and on wasm; return both results. */
async function onBoth(f: () => tf.Tensor): Promise<{ cpu: Float32Array; wasm: Float32Array }> {
  await initBackend('cpu');
  const cpu = tf.tidy(f).dataSync() as Float32Array;
  await initBackend('wasm');
  const wasm = tf.tidy(f).dataSync() as Float32Array;
  return { cpu, wasm };
}

describe('wasm engine fixes', () => {
  before(async () => {
    const info = await initBackend('wasm');
    assert.deepEqual([...info.fixes].sort(), ['gather-rows', 'identity-no-copy', 'matmul-simd', 'matmul-xnnpack', 'sum-simd', 'tanh-simd', 'transpose-simd', 'unsorted-segment-sum']);
  });

  const cases: [string, number[], number[], boolean, boolean, keyof typeof matmulFixStats][] = [
    ['transposeA', [96, 40], [96, 72], true, false, 'batch1Rewrites'],
    ['transposeB', [40, 96], [72, 96], false, true, 'batch1Rewrites'],
    ['both transposed', [96, 40], [72, 96], true, true, 'batch1Rewrites'],
    ['batched x shared weights', [4, 24, 40], [40, 72], false, false, 'foldedBatch'],
    ['batched attention q k^T', [8, 32, 16], [8, 32, 16], false, true, 'sliced'],
    ['batched attention p^T v (gradient shape)', [8, 32, 32], [8, 32, 16], true, false, 'sliced'],
    ['batched, 4-D heads', [2, 4, 32, 16], [2, 4, 16, 32], false, false, 'sliced'],
  ];
  // Batch-1 transposed products are rewritten either way round (flipPays decides which operand XNNPACK packs).
  const batch1Route = (sa: number[], sb: number[], ta: boolean, tb: boolean, route: keyof typeof matmulFixStats) => {
    if (route !== 'batch1Rewrites') return route;
    const [m, k] = ta ? [sa[1]!, sa[0]!] : [sa[0]!, sa[1]!];
    const n = tb ? sb[0]! : sb[1]!;
    return flipPays(m, k, n, ta, tb) ? 'flipped' : 'batch1Rewrites';
  };
  cases.push(['transposeA, weight gradient with more outputs than inputs (flips)', [256, 24], [256, 96], true, false, 'batch1Rewrites']);
  cases.push(['transposeA, weight gradient with fewer outputs than inputs (keeps)', [256, 96], [256, 24], true, false, 'batch1Rewrites']);
  for (const [name, sa, sb, ta, tb, given] of cases) {
    const route = batch1Route(sa, sb, ta, tb, given);
    test(`matmul ${name} goes through the XNNPACK route (${route}) when the SIMD product is off, and equals cpu`, async () => {
      const a = normals(sa.reduce((p, d) => p * d), 1), b = normals(sb.reduce((p, d) => p * d), 2);
      const before = matmulFixStats[route];
      setSimdGemmEnabled(false);
      try {
        const { cpu, wasm } = await onBoth(() => tf.matMul(tf.tensor(f32(a), sa), tf.tensor(f32(b), sb), ta, tb));
        assert.ok(matmulFixStats[route] > before, `the ${route} route was not taken`);
        assert.ok(maxRelErr(wasm, cpu) < 1e-5, `rel err ${maxRelErr(wasm, cpu)}`);
      } finally { setSimdGemmEnabled(true); }
    });
    test(`matmul ${name} goes through the SIMD product by default, and equals cpu`, async () => {
      const a = normals(sa.reduce((p, d) => p * d), 1), b = normals(sb.reduce((p, d) => p * d), 2);
      const before = matmulFixStats.simd;
      const { cpu, wasm } = await onBoth(() => tf.matMul(tf.tensor(f32(a), sa), tf.tensor(f32(b), sb), ta, tb));
      assert.ok(simdGemmActive(), 'the SIMD module is loaded');
      assert.ok(matmulFixStats.simd > before, 'the SIMD route was not taken');
      assert.ok(maxRelErr(wasm, cpu) < 1e-5, `rel err ${maxRelErr(wasm, cpu)}`);
    });
  }

  /** op(A) op(B) in float64, from the float32 inputs, batch dims broadcast numpy-style (written here, not the kernel's loops). */
  function matmulRef(a: Float32Array, sa: number[], b: Float32Array, sb: number[], ta: boolean, tb: boolean): { out: Float64Array; abs: Float64Array; k: number; shape: number[] } {
    const ra = sa.length, rb = sb.length;
    const [m, k] = ta ? [sa[ra - 1]!, sa[ra - 2]!] : [sa[ra - 2]!, sa[ra - 1]!];
    const n = tb ? sb[rb - 2]! : sb[rb - 1]!;
    const ba = sa.slice(0, -2), bb = sb.slice(0, -2);
    const len = Math.max(ba.length, bb.length);
    const pad = (s: number[]) => [...new Array<number>(len - s.length).fill(1), ...s];
    const pa = pad(ba), pb = pad(bb), bo = pa.map((x, i) => Math.max(x, pb[i]!));
    const batches = bo.reduce((p, d) => p * d, 1);
    const out = new Float64Array(batches * m * n), abs = new Float64Array(batches * m * n);
    for (let flat = 0; flat < batches; flat++) {
      // Batch index -> offsets in a and b (size-1 dims broadcast).
      let rem = flat, ia = 0, ib = 0, stA = 1, stB = 1;
      for (let d = len - 1; d >= 0; d--) {
        const idx = rem % bo[d]!; rem = Math.floor(rem / bo[d]!);
        ia += (pa[d] === 1 ? 0 : idx) * stA; ib += (pb[d] === 1 ? 0 : idx) * stB;
        stA *= pa[d]!; stB *= pb[d]!;
      }
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0, accAbs = 0;
          for (let q = 0; q < k; q++) {
            const av = a[ia * m * k + (ta ? q * m + i : i * k + q)]!;
            const bv = b[ib * k * n + (tb ? j * k + q : q * n + j)]!;
            acc += av * bv;
            accAbs += Math.abs(av * bv);
          }
          out[flat * m * n + i * n + j] = acc;
          abs[flat * m * n + i * n + j] = accAbs;
        }
      }
    }
    return { out, abs, k, shape: [...bo, m, n] };
  }

  test('the SIMD product equals a float64 reference: every layout, ragged sizes, K past one k block, broadcast batches', async () => {
    await initBackend('wasm');
    const shapes: [number[], number[], boolean, boolean][] = [
      [[37, 300], [300, 13], false, false], // K > GEMM_KC (256): partial sums added block by block
      [[300, 37], [300, 13], true, false],
      [[37, 300], [13, 300], false, true],
      [[300, 37], [13, 300], true, true],
      [[5, 1, 9], [9, 8], false, false], // M = 1 per batch, shared B folded into rows
      [[3, 6, 7], [1, 7, 11], false, false], // batch of B is 1: broadcast
      [[1, 6, 7], [4, 7, 11], false, false], // batch of A is 1
      [[2, 3, 10, 6], [2, 3, 10, 5], true, false], // 4-D batches, A^T
      [[0, 5], [5, 4], false, false], // empty
      [[6, 0], [0, 4], false, false], // K = 0: zeros
    ];
    for (const [sa, sb, ta, tb] of shapes) {
      const a = f32(normals(sa.reduce((p, d) => p * d, 1), 11)), b = f32(normals(sb.reduce((p, d) => p * d, 1), 12));
      const ref = matmulRef(a, sa, b, sb, ta, tb);
      const before = matmulFixStats.simd;
      const got = tf.tidy(() => tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb));
      assert.ok(matmulFixStats.simd > before, `[${sa}] x [${sb}]: the SIMD route was not taken`);
      assert.deepEqual(got.shape, ref.shape, `[${sa}] x [${sb}] ta=${ta} tb=${tb}: shape`);
      const v = got.dataSync();
      got.dispose();
      // Float32 summation's bound: |error| <= (K + 1) u sum |a b|, u = 2^-24 (a wrong kernel is off by O(|a b|)).
      let worst = 0;
      for (let i = 0; i < v.length; i++) {
        const bound = (ref.k + 1) * 2 ** -24 * ref.abs[i]! + 1e-30;
        worst = Math.max(worst, Math.abs(v[i]! - ref.out[i]!) / bound);
      }
      assert.ok(worst <= 1, `[${sa}] x [${sb}] ta=${ta} tb=${tb}: error ${worst.toFixed(2)}x the float32 summation bound`);
    }
  });

  test('sumPlan: leading axes sum rows, trailing axes sum columns, anything else is refused (hand-worked)', () => {
    assert.deepEqual(sumPlan([1024, 64], [0]), { R: 1024, C: 64, over: 'rows' });
    assert.deepEqual(sumPlan([16, 64, 128], [0, 1]), { R: 1024, C: 128, over: 'rows' });
    assert.deepEqual(sumPlan([16, 64, 128], [-1]), { R: 1024, C: 128, over: 'cols' });
    assert.deepEqual(sumPlan([16, 64, 128], [2, 1]), { R: 16, C: 8192, over: 'cols' });
    assert.deepEqual(sumPlan([5, 7], [0, 1]), { R: 35, C: 1, over: 'rows' });
    assert.equal(sumPlan([16, 64, 128], [1]), null);
    assert.equal(sumPlan([16, 64, 128], [0, 2]), null);
    assert.equal(sumPlan([4], [1]), null);
  });

  test('Sum over leading, trailing and all axes equals a float64 sum; a middle axis keeps the stock kernel', async () => {
    await initBackend('wasm');
    const shape = [6, 37, 13];
    const x = f32(normals(6 * 37 * 13, 21));
    const at = (i: number, j: number, l: number) => x[(i * 37 + j) * 13 + l]!;
    const cases: [number[], boolean, number[], (idx: number) => number, 'simd' | 'stock'][] = [
      [[0], false, [37, 13], (o) => { let t = 0; for (let i = 0; i < 6; i++) t += at(i, Math.floor(o / 13), o % 13); return t; }, 'simd'],
      [[0, 1], true, [1, 1, 13], (o) => { let t = 0; for (let i = 0; i < 6; i++) for (let j = 0; j < 37; j++) t += at(i, j, o); return t; }, 'simd'],
      [[2], false, [6, 37], (o) => { let t = 0; for (let l = 0; l < 13; l++) t += at(Math.floor(o / 37), o % 37, l); return t; }, 'simd'],
      [[0, 1, 2], false, [], () => { let t = 0; for (let i = 0; i < x.length; i++) t += x[i]!; return t; }, 'simd'],
      [[1], false, [6, 13], (o) => { let t = 0; for (let j = 0; j < 37; j++) t += at(Math.floor(o / 13), j, o % 13); return t; }, 'stock'],
    ];
    for (const [axes, keep, want, ref, route] of cases) {
      const before = sumStats[route];
      const y = tf.tidy(() => tf.sum(tf.tensor(x, shape), axes, keep));
      assert.ok(sumStats[route] > before, `axes [${axes}]: the ${route} route was not taken`);
      assert.deepEqual(y.shape, want, `axes [${axes}] keepDims ${keep}: shape`);
      const v = y.dataSync();
      y.dispose();
      for (let o = 0; o < v.length; o++) {
        const r = ref(o);
        assert.ok(Math.abs(v[o]! - r) <= 1e-5 * (1 + Math.abs(r)) * Math.sqrt(x.length), `axes [${axes}] element ${o}: ${v[o]} vs ${r}`);
      }
    }
    // int32 keeps the stock kernel (and its integer sum).
    const before = sumStats.stock;
    assert.deepEqual(Array.from(tf.tidy(() => tf.sum(tf.tensor([[1, 2], [3, 4]], undefined, 'int32'), 0)).dataSync()), [4, 6]);
    assert.ok(sumStats.stock > before);
  });

  /** Transpose by index arithmetic, written here independently of the kernel. */
  function transposeRef(x: Float32Array, shape: number[], perm: number[]): Float32Array {
    const rank = shape.length, out = new Float32Array(x.length);
    const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
    const outShape = perm.map((a) => shape[a]!);
    const idx = new Array<number>(rank).fill(0);
    for (let o = 0; o < out.length; o++) {
      let src = 0;
      for (let j = 0; j < rank; j++) src += idx[j]! * inStrides[perm[j]!]!;
      out[o] = x[src]!;
      for (let j = rank - 1; j >= 0; j--) { if (++idx[j]! < outShape[j]!) break; idx[j] = 0; }
    }
    return out;
  }

  test('swapPlan: size-1 axes dropped, adjacent axes merged, non-swaps refused', () => {
    assert.deepEqual(swapPlan([6, 5], [1, 0]), { batch: 1, R: 6, C: 5, D: 1 });
    assert.deepEqual(swapPlan([2, 3, 4, 5], [0, 2, 1, 3]), { batch: 2, R: 3, C: 4, D: 5 });
    assert.deepEqual(swapPlan([2, 3, 4, 5], [0, 1, 3, 2]), { batch: 6, R: 4, C: 5, D: 1 });
    assert.deepEqual(swapPlan([2, 3, 4, 5], [2, 3, 0, 1]), { batch: 1, R: 6, C: 20, D: 1 });
    assert.deepEqual(swapPlan([1, 7, 1, 3], [0, 3, 2, 1]), { batch: 1, R: 7, C: 3, D: 1 });
    assert.equal(swapPlan([3, 1, 4], [1, 0, 2]), 'identity');
    assert.equal(swapPlan([2, 3, 4], [2, 0, 1]) !== null, true); // [6,4] -> [4,6]: a plain matrix swap
    assert.equal(swapPlan([2, 3, 4], [2, 1, 0]), null); // a full reversal is not one swap
  });

  const perms: [number[], number[]][] = [
    [[37, 23], [1, 0]], [[64, 128], [1, 0]], [[5, 16, 9], [0, 2, 1]], [[3, 17, 4, 8], [0, 2, 1, 3]],
    [[2, 6, 3, 5], [0, 2, 1, 3]], [[4, 3, 5], [1, 0, 2]], [[2, 3, 4, 5], [3, 2, 1, 0]], [[3, 4, 5], [2, 1, 0]],
  ];
  for (const [shape, perm] of perms) {
    test(`transpose [${shape}] by [${perm}] equals index arithmetic (float32 and int32)`, async () => {
      await initBackend('wasm');
      const n = shape.reduce((p, d) => p * d, 1);
      const x = f32(normals(n, 11));
      const before = { ...transposeStats };
      const got = tf.tidy(() => tf.transpose(tf.tensor(x, shape), perm)).dataSync() as Float32Array;
      assert.deepEqual([...got], [...transposeRef(x, shape, perm)]);
      const ints = Int32Array.from(x, (v) => Math.round(v * 1000));
      const gi = tf.tidy(() => tf.transpose(tf.tensor(ints, shape, 'int32'), perm)).dataSync() as Int32Array;
      assert.deepEqual([...gi], [...transposeRef(Float32Array.from(ints), shape, perm)]);
      const plan = swapPlan(shape, perm);
      if (plan !== null && plan !== 'identity') assert.ok(transposeStats.simd >= before.simd + 2, 'the SIMD transpose was not used');
      if (plan === null) assert.ok(transposeStats.stock >= before.stock + 2, 'the stock kernel should have run');
    });
  }

  test('gather along axis 0 (embedding lookups) copies rows, equals index arithmetic, and rejects bad ids', async () => {
    await initBackend('wasm');
    const [rows, a, b] = [13, 3, 5];
    const x = f32(normals(rows * a * b, 21));
    const ids = [0, 12, 5, 5, 7, 1, 12, 0];
    const before = gatherStats.rows;
    const got = tf.tidy(() => tf.gather(tf.tensor(x, [rows, a, b]), tf.tensor2d(ids, [2, 4], 'int32')));
    assert.deepEqual(got.shape, [2, 4, a, b]);
    const want = ids.flatMap((id) => [...x.subarray(id * a * b, (id + 1) * a * b)]);
    assert.deepEqual([...got.dataSync()], want);
    got.dispose();
    assert.equal(gatherStats.rows, before + 1, 'the row gather was not used');
    const gi = tf.tidy(() => tf.gather(tf.tensor1d([10, 20, 30], 'int32'), tf.tensor1d([2, 0, 2], 'int32')).dataSync());
    assert.deepEqual([...gi], [30, 10, 30]);
    assert.throws(() => tf.gather(tf.tensor(x, [rows, a * b]), tf.tensor1d([3, 13], 'int32')), /index value 13 is not in \[0, 12\]/);
    assert.throws(() => tf.gather(tf.tensor(x, [rows, a * b]), tf.tensor1d([-1], 'int32')), /index value -1 is not in \[0, 12\]/);
    const stock = gatherStats.stock;
    const g1 = tf.tidy(() => tf.gather(tf.tensor(x, [rows, a * b]), tf.tensor1d([1, 0], 'int32'), 1).dataSync());
    assert.deepEqual([...g1.slice(0, 2)], [x[1], x[0]]);
    assert.equal(gatherStats.stock, stock + 1, 'axis 1 keeps the stock kernel');
  });

  test('flipPays: packs the smaller operand when that pays for the transposes (hand-computed costs)', () => {
    // dW = X^T dY, X [1024,128], dY [1024,512]: keep = 128*1024 + 5*1024*512 = 2,752,512;
    // flip = 1024*512 + 0 + 5*1024*128 + 128*512 = 1,245,184 -> flip.
    assert.equal(flipPays(128, 1024, 512, true, false), true);
    // dW = H^T dY, H [1024,512], dY [1024,128]: keep = 524,288 + 655,360; flip = 131,072 + 2,621,440 + 65,536 -> keep.
    assert.equal(flipPays(512, 1024, 128, true, false), false);
    // A plain forward product with a smaller weight: keep.
    assert.equal(flipPays(1024, 128, 512, false, false), false);
  });

  test('matmul gradients (which use transpose flags) equal cpu', async () => {
    const a = normals(24 * 40, 3), b = normals(40 * 16, 4), w = normals(24 * 16, 5);
    const f = () => {
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), tf.tensor(f32(w), [24, 16]))))(
        [tf.tensor(f32(a), [24, 40]), tf.tensor(f32(b), [40, 16])]);
      return tf.concat([ga!.flatten(), gb!.flatten()]);
    };
    const before = matmulFixStats.simd;
    const { cpu, wasm } = await onBoth(f);
    assert.ok(matmulFixStats.simd >= before + 3, 'the forward and both gradient products go to the SIMD product');
    assert.ok(maxRelErr(wasm, cpu) < 1e-5);
  });

  test('fused matmul with transposed weights, bias and relu equals cpu', async () => {
    const a = normals(20 * 30, 6), b = normals(50 * 30, 7), bias = normals(50, 8);
    const f = () => tf.fused.matMul({
      a: tf.tensor(f32(a), [20, 30]), b: tf.tensor(f32(b), [50, 30]), transposeB: true,
      bias: tf.tensor(f32(bias), [50]), activation: 'relu',
    });
    const before = matmulFixStats.batch1Rewrites;
    const { cpu, wasm } = await onBoth(f);
    assert.ok(matmulFixStats.batch1Rewrites > before);
    assert.ok(maxRelErr(wasm, cpu) < 1e-5);
  });

  test('matmul fix leaks no wasm buffers', async () => {
    await initBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const a = tf.randomNormal([8, 32, 16], 0, 1, 'float32', 1), b = tf.randomNormal([8, 32, 16], 0, 1, 'float32', 2);
    const ids = backend.numDataIds(), tensors = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      tf.tidy(() => {
        tf.matMul(a, b, false, true);
        tf.matMul(a, b, true, false);
        tf.matMul(a.reshape([256, 16]), b.reshape([256, 16]), true);
      });
    }
    assert.equal(backend.numDataIds(), ids);
    assert.equal(tf.memory().numTensors, tensors);
    tf.dispose([a, b]);
  });

  test('embedding gradient (tf.gather -> UnsortedSegmentSum) works on wasm and equals cpu', async () => {
    const table = normals(50 * 8, 9), ids = [3, 7, 3, 49, 0, 3];
    const f = () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids, 'int32')), 2)))(tf.tensor(f32(table), [50, 8]));
    const { cpu, wasm } = await onBoth(f);
    assert.deepEqual(Array.from(wasm), Array.from(cpu));
    assert.equal(wasm[3 * 8], 6); // row 3 was looked up three times, each with weight 2
    assert.equal(wasm[4 * 8], 0);
  });

  test('UnsortedSegmentSum drops out-of-range ids and sums repeated ones', async () => {
    await initBackend('wasm');
    const out = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([1, 1, 5], 'int32'), 3).dataSync());
    assert.deepEqual(Array.from(out), [0, 0, 4, 6, 0, 0]);
  });

  test('tf.clone shares the buffer instead of copying it, and outlives its source', async () => {
    await initBackend('wasm');
    const backend = tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } };
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    assert.equal(backend.dataIdMap.get(y.dataId).memoryOffset, backend.dataIdMap.get(x.dataId).memoryOffset);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
    y.dispose();
  });

  test('tanh runs through the SIMD kernel and is accurate', async () => {
    await initBackend('wasm');
    assert.ok(simdTanhActive(), 'the registered wasm Tanh kernel is not dytlab\'s SIMD kernel');
    const xs = [0, 1e-30, -1e-7, 3e-4, 0.5, -1, 2.5, 7.5, -9, 20, -1e4, 1e4, ...Array.from(normals(1001, 10, 4))];
    const y = tf.tidy(() => tf.tanh(tf.tensor1d(xs)).dataSync());
    let worst = 0;
    xs.forEach((x, i) => { worst = Math.max(worst, Math.abs(y[i]! - Math.tanh(x))); });
    assert.ok(worst < 1e-6, `max abs error ${worst}`);
    assert.equal(y[1], Math.fround(1e-30)); // tiny inputs keep their relative accuracy
  });
});
