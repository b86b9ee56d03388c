// The squash forward under a gradient tape on wasm also returns f(alpha x + s)
// (attr saveF), and the backward reads it instead of recomputing the tanh
// (src/engine/ops/fused.ts). Saving must change nothing but the cost: y keeps
// its bits, f is the float64 shape, and every gradient from the saved f is
// bitwise the recomputing backward's.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../src/index.js';
import type { Tensor } from '../src/engine/tf.js';
import { KERNEL_NAMES, SQUASH_SHAPES, squashReference } from '../src/engine/ops/index.js';
import { normals as normals64 } from './support/numeric.js';

const normals = (n: number, seed: number, mean = 0, scale = 1): Float32Array =>
  Float32Array.from(normals64(n, seed, scale), (v) => v + mean);

describe('the squash forward saves f for the backward (wasm)', () => {
  before(async () => {
    const info = await initBackend('wasm');
    assert.ok(info.fusedKernels.simd, `the SIMD kernels are live: ${info.fusedKernels.reason ?? ''}`);
  });

  test('y unchanged, f as the float64 shape, the backward from it bitwise the recomputing one', async () => {
    const [R, C] = [37, 21]; // C % 8 = 5: the one-pass loop and its tail
    const x = tf.tensor2d(normals(R * C, 31, 0, 2), [R, C]), dy = tf.tensor2d(normals(R * C, 32), [R, C]);
    const gamma = tf.tensor1d(normals(C, 33, 1, 0.2)), beta = tf.tensor1d(normals(C, 34, 0, 0.2));
    const run = (name: string, inputs: Record<string, Tensor>, attrs: Record<string, string | number>): Tensor[] => {
      const out = tf.engine().runKernel(name, inputs, attrs) as Tensor | Tensor[];
      return Array.isArray(out) ? out : [out];
    };
    const bits = (t: Tensor): number[] => [...new Uint32Array(t.dataSync().slice().buffer)];
    for (const shape of SQUASH_SHAPES) {
      for (const perChannel of [false, true]) {
        const alpha = perChannel ? tf.tensor1d(normals(C, 35, 0.8, 0.1)) : tf.tensor1d([0.8]);
        const s = perChannel ? tf.tensor1d(normals(C, 36, 0, 0.1)) : tf.tensor1d([0]);
        const label = `${shape}${perChannel ? ', per-channel alpha and s' : ''}`;
        const [y0] = run(KERNEL_NAMES.squash, { x, alpha, s, gamma, beta }, { shape });
        const [y1, f] = run(KERNEL_NAMES.squash, { x, alpha, s, gamma, beta }, { shape, saveF: 1 });
        assert.deepEqual(bits(y1!), bits(y0!), `${label}: y with saveF`);
        // f is the shape before the affine: the float64 reference with gamma 1, beta 0.
        const want = squashReference(x.dataSync(), R, C, {
          alpha: alpha.dataSync(), s: s.dataSync(), gamma: new Float64Array(C).fill(1), beta: new Float64Array(C),
        }, shape);
        const got = f!.dataSync();
        const worst = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)));
        assert.ok(worst < 2e-6, `${label}: saved f is off the float64 shape by ${worst}`);
        const g0 = run(KERNEL_NAMES.squashGrad, { x, dy, alpha, s, gamma }, { shape });
        const g1 = run(KERNEL_NAMES.squashGrad, { x, dy, alpha, s, gamma, f: f! }, { shape });
        g0.forEach((g, i) => assert.deepEqual(bits(g1[i]!), bits(g), `${label}: gradient ${i} from the saved f`));
        tf.dispose([alpha, s, y0!, y1!, f!, ...g0, ...g1]);
      }
    }
    tf.dispose([x, dy, gamma, beta]);
  });

});
