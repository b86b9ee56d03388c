// The engine's fixes to tfjs-backend-wasm. Each test fails if its fix stops
// working (kernel renamed upstream, wrapper no longer reached, wrong numbers),
// without timing anything: it checks the route a product takes and its values.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../src/index.js';
import { matmulFixStats } from '../src/engine/wasm/matmul.js';
import { simdTanhActive } from '../src/engine/wasm/setup.js';
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
    assert.deepEqual([...info.fixes].sort(), ['identity-no-copy', 'matmul-xnnpack', 'tanh-simd', 'unsorted-segment-sum']);
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
  for (const [name, sa, sb, ta, tb, route] of cases) {
    test(`matmul ${name} goes through the XNNPACK route (${route}) and equals cpu`, async () => {
      const a = normals(sa.reduce((p, d) => p * d), 1), b = normals(sb.reduce((p, d) => p * d), 2);
      const before = matmulFixStats[route];
      const { cpu, wasm } = await onBoth(() => tf.matMul(tf.tensor(f32(a), sa), tf.tensor(f32(b), sb), ta, tb));
      assert.ok(matmulFixStats[route] > before, `the ${route} route was not taken`);
      assert.ok(maxRelErr(wasm, cpu) < 1e-5, `rel err ${maxRelErr(wasm, cpu)}`);
    });
  }

  test('matmul gradients (which use transpose flags) equal cpu', async () => {
    const a = normals(24 * 40, 3), b = normals(40 * 16, 4), w = normals(24 * 16, 5);
    const f = () => {
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), tf.tensor(f32(w), [24, 16]))))(
        [tf.tensor(f32(a), [24, 40]), tf.tensor(f32(b), [40, 16])]);
      return tf.concat([ga!.flatten(), gb!.flatten()]);
    };
    const before = matmulFixStats.batch1Rewrites;
    const { cpu, wasm } = await onBoth(f);
    assert.ok(matmulFixStats.batch1Rewrites >= before + 2);
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
