// Fused kernels of the normalization family (src/engine/ops) on the cpu and
// wasm backends in one process: the wasm memory capture and SIMD module are
// live, fused agrees with composed tfjs ops (forward and every gradient),
// gradients match finite differences of the float64 references, tanh_f32 is
// accurate, edge inputs behave, nothing leaks.
//
// Run: node scripts/build-ops.mjs && node --import tsx --test test/kernels.test.ts
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { tf } from '../src/engine/tf.js';
import type { Tensor, TensorInfo } from '../src/engine/tf.js';
import { capturedWasmMemory, installWasmMemoryCapture, wasmMemoryCaptureProblem } from '../src/engine/wasm-memory.js';
import {
  composedLayerNorm, composedRMSNorm, composedSquash, fusedKernelStatus, kernelsWasmPath, layerNormOp,
  layerNormReference, registerFusedKernels, rmsNormOp, rmsNormReference, simdKernels, simdKernelsProblem,
  simdTanhKernel, squashOp, squashReference, SQUASH_SHAPES, erfF64, setSimdKernelsEnabled, setTanhPrecision, getTanhPrecision,
} from '../src/engine/ops/index.js';
import type { KernelImpl, SquashShape } from '../src/engine/ops/index.js';
import { dot, fdGrad, maxRelErr, normals as normals64 } from './support/numeric.js';

// ---------------------------------------------------------------------------
// Helpers

/** Seeded normal draws as float32, shifted by `mean`. */
function normals(n: number, seed: number, mean = 0, scale = 1): Float32Array {
  return Float32Array.from(normals64(n, seed, scale), (v) => v + mean);
}

const relErr = maxRelErr;

const BACKENDS = ['cpu', 'wasm'] as const;

async function useBackend(name: string): Promise<void> {
  if (tf.getBackend() !== name) await tf.setBackend(name);
}

interface SquashCase { x: Tensor; alpha: Tensor; s: Tensor; gamma: Tensor; beta: Tensor; dy: Tensor }

/** Inputs for one squash case; seeds make every case reproducible. */
function squashCase(shape: number[], perChannel: boolean, seed: number): SquashCase {
  const C = shape[shape.length - 1]!;
  const n = shape.reduce((a, b) => a * b, 1);
  const pLen = perChannel ? C : 1;
  return {
    // A mean offset in x and dy keeps the scalar reductions (dalpha, ds) away
    // from cancellation, where composed tfjs sums in float32 lose digits.
    x: tf.tensor(normals(n, seed, 0.3, 1.5), shape),
    alpha: tf.tensor1d(perChannel ? normals(pLen, seed + 1, 0.8, 0.2) : [0.8]),
    s: tf.tensor1d(perChannel ? normals(pLen, seed + 2, 0.1, 0.2) : [0.1]),
    gamma: tf.tensor1d(normals(C, seed + 3, 1, 0.2)),
    beta: tf.tensor1d(normals(C, seed + 4, 0, 0.2)),
    dy: tf.tensor(normals(n, seed + 5, 0.2, 1), shape),
  };
}

function disposeCase(c: object): void {
  tf.dispose(Object.values(c) as Tensor[]);
}

/** y and the gradients of sum(y * dy) with respect to x, alpha, s, gamma, beta. */
function squashValueAndGrads(c: SquashCase, shape: SquashShape, impl: KernelImpl): Float32Array[] {
  const f = (x: Tensor, alpha: Tensor, s: Tensor, gamma: Tensor, beta: Tensor): Tensor =>
    squashOp(x, { alpha, s, gamma, beta }, shape, impl);
  const out = tf.tidy(() => {
    const y = f(c.x, c.alpha, c.s, c.gamma, c.beta);
    const g = tf.grads((...a: Tensor[]) => f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!))([c.x, c.alpha, c.s, c.gamma, c.beta], c.dy);
    return [y, ...g];
  });
  // Read outside tidy (reading inside is slow on big tensors).
  const arrays = out.map((t) => t.dataSync() as Float32Array);
  tf.dispose(out);
  return arrays;
}

const SQUASH_LABELS = ['y', 'dx', 'dalpha', 'ds', 'dgamma', 'dbeta'];
const SHAPES: number[][] = [[4, 8], [3, 5, 13], [64, 100], [2, 768]];

// ---------------------------------------------------------------------------

let stockTanhKernel: tf.KernelFunc | undefined;
// Saved before the capture wraps it, to check that it is restored.
const originalInstantiate = WebAssembly.instantiate;

before(async () => {
  // The capture must be in place before the wasm backend instantiates.
  installWasmMemoryCapture();
  await tf.setBackend('wasm');
  await tf.ready();
  registerFusedKernels('wasm');
  registerFusedKernels('cpu');
  stockTanhKernel = tf.getKernel('Tanh', 'wasm')?.kernelFunc;
});

describe('wasm memory capture and SIMD module', () => {
  test('the SIMD module is live on wasm (fails loudly if the capture or module breaks)', async () => {
    await useBackend('wasm');
    const status = fusedKernelStatus();
    assert.ok(status, 'fused kernels are registered for wasm');
    assert.equal(status.simd, true,
      `fused wasm kernels must run the SIMD module: ${status.reason ?? simdKernelsProblem() ?? wasmMemoryCaptureProblem()}`);
    assert.equal(status.reason, undefined);
    assert.equal(status.registered.length, 6);
    const memory = capturedWasmMemory();
    assert.ok(memory, `tfjs-wasm memory captured: ${wasmMemoryCaptureProblem()}`);
    const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer;
    assert.equal(memory.buffer, heap, 'captured memory is the one behind backend.wasm.HEAPU8');
    assert.equal(wasmMemoryCaptureProblem(), undefined);
    // The wrappers are gone once the backend is up.
    assert.equal(WebAssembly.instantiate, originalInstantiate, 'WebAssembly.instantiate restored');
  });

  test('the module survives heap growth (outputs allocated after memory grows)', async () => {
    await useBackend('wasm');
    const before = capturedWasmMemory()!.buffer.byteLength;
    // ~200 MB of tensors forces emscripten to grow the heap.
    const big = tf.zeros([50 * 1024 * 1024]);
    const c = squashCase([64, 100], false, 7);
    const fused = squashValueAndGrads(c, 'tanh', 'fused');
    const composed = squashValueAndGrads(c, 'tanh', 'composed');
    fused.forEach((a, i) => assert.ok(relErr(a, composed[i]!) < 1e-5, `${SQUASH_LABELS[i]} after growth`));
    assert.ok(capturedWasmMemory()!.buffer.byteLength > before, 'heap grew');
    assert.equal(fusedKernelStatus()?.simd, true);
    big.dispose();
    disposeCase(c);
  });

  test('with the SIMD module off, fused wasm kernels fall back to JS loops, say so, and agree', async () => {
    await useBackend('wasm');
    setSimdKernelsEnabled(false);
    try {
      const status = fusedKernelStatus();
      assert.equal(status?.simd, false);
      assert.match(status?.reason ?? '', /switched off/);
      for (const shape of ['tanh', 'erf', 'hardtanh'] as const) {
        const c = squashCase([3, 5, 13], true, 11);
        const fused = squashValueAndGrads(c, shape, 'fused');
        const composed = squashValueAndGrads(c, shape, 'composed');
        fused.forEach((a, i) => assert.ok(relErr(a, composed[i]!) < 1e-5, `${shape} ${SQUASH_LABELS[i]} (JS loops on wasm)`));
        disposeCase(c);
      }
      const c = squashCase([64, 100], false, 12);
      const ln = (impl: KernelImpl): Float32Array[] => {
        const out = tf.tidy(() => tf.grads((x: Tensor, g: Tensor, b: Tensor) => layerNormOp(x, g, b, 1e-5, impl))([c.x, c.gamma, c.beta], c.dy));
        const arrays = out.map((t) => t.dataSync() as Float32Array);
        tf.dispose(out);
        return arrays;
      };
      const [f, k] = [ln('fused'), ln('composed')];
      f.forEach((a, i) => assert.ok(relErr(a, k[i]!) < 1e-5, `layernorm grad ${i} (JS loops on wasm)`));
      disposeCase(c);
    } finally {
      setSimdKernelsEnabled(true);
    }
    assert.equal(fusedKernelStatus()?.simd, true);
  });

  test('the shared-memory variant instantiates on a shared memory and computes', () => {
    const file = kernelsWasmPath(true);
    assert.ok(file && fs.existsSync(file), `${file} exists (node scripts/build-ops.mjs)`);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const k = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)), { env: { memory } })
      .exports as { tanh_f32(x: number, y: number, n: number): void };
    const f32 = new Float32Array(memory.buffer);
    f32.set([0, 0.5, -2, 30, 1e-30], 4);
    k.tanh_f32(16, 64, 5);
    const y = Array.from(f32.subarray(16, 21));
    [0, 0.5, -2, 30, 1e-30].forEach((v, i) => assert.ok(Math.abs(y[i]! - Math.tanh(v)) < 1e-6));
  });
});

describe('the squash kernels\' tanh: fast (default) and accurate', () => {
  /** Relative error of fused DyT (alpha 1, gamma 1, beta 0) against float64 tanh over x. */
  function dytRelErr(x: Float32Array): { maxRel: number; at: number; y: Float32Array } {
    const y = tf.tidy(() => squashOp(tf.tensor2d(x, [x.length / 8, 8]),
      { alpha: tf.ones([1]), s: tf.zeros([1]), gamma: tf.ones([8]), beta: tf.zeros([8]) }, 'tanh', 'fused').dataSync()) as Float32Array;
    let maxRel = 0, at = 0;
    for (let i = 0; i < x.length; i++) {
      const t = Math.tanh(x[i]!);
      const e = t === 0 ? Math.abs(y[i]!) : Math.abs(y[i]! - t) / Math.abs(t);
      if (e > maxRel) { maxRel = e; at = x[i]!; }
    }
    return { maxRel, at, y };
  }
  const grid = (): Float32Array => {
    const n = 1 << 20, g = new Float32Array(n + 4000);
    for (let i = 0; i < n; i++) g[i] = -24 + (48 * i) / (n - 1);
    for (let i = 0; i < 4000; i++) g[n + i] = (i % 2 ? -1 : 1) * 10 ** (-30 + (29.7 * i) / 4000);
    return g;
  };

  test('fast: max relative error < 1e-6 everywhere (tiny x and the saturated tails included); accurate (Eigen, non-FMA): < 5e-7', async (t) => {
    await useBackend('wasm');
    assert.ok(simdKernels(), `SIMD module: ${simdKernelsProblem()}`);
    const g = grid();
    assert.equal(getTanhPrecision(), 'fast', 'fast is the default');
    const fast = dytRelErr(g);
    setTanhPrecision('accurate');
    let accurate: ReturnType<typeof dytRelErr>;
    try { accurate = dytRelErr(g); } finally { setTanhPrecision('fast'); }
    t.diagnostic(`fused DyT tanh: fast max rel ${fast.maxRel.toExponential(2)} at ${fast.at}; accurate ${accurate.maxRel.toExponential(2)} at ${accurate.at}`);
    assert.ok(fast.maxRel < 1e-6, `fast: ${fast.maxRel} at ${fast.at}`);
    assert.ok(accurate.maxRel < 5e-7, `accurate: ${accurate.maxRel} at ${accurate.at}`);
    assert.ok(fast.y.some((v, i) => v !== accurate.y[i]), 'the precision switch changed nothing: both paths ran the same code');
    for (const y of [fast.y, accurate.y]) assert.ok(y.every((v) => Math.abs(v) <= 1), '|tanh| <= 1');
    assert.throws(() => setTanhPrecision('exact' as never), /'exact' is not 'fast' or 'accurate'/);
  });
});

describe('tanh_f32 accuracy', () => {
  test('max abs error vs Math.tanh over [-20, 20] < 1e-6, relative accuracy near 0', async (t) => {
    await useBackend('wasm');
    const k = simdKernels();
    assert.ok(k, `SIMD module: ${simdKernelsProblem()}`);
    const n = 1 << 21;
    const grid = new Float32Array(n);
    for (let i = 0; i < n; i++) grid[i] = -20 + (40 * i) / (n - 1);
    const y = runSimdTanh(grid);
    let maxAbs = 0, at = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.abs(y[i]! - Math.tanh(grid[i]!));
      if (e > maxAbs) { maxAbs = e; at = grid[i]!; }
    }
    // Relative error for small |x|, logarithmically spaced over [1e-30, 0.5].
    const small = new Float32Array(4000);
    for (let i = 0; i < small.length; i++) small[i] = (i % 2 ? -1 : 1) * 10 ** (-30 + (29.7 * i) / small.length);
    const ys = runSimdTanh(small);
    let maxRel = 0;
    for (let i = 0; i < small.length; i++) {
      maxRel = Math.max(maxRel, Math.abs(ys[i]! - Math.tanh(small[i]!)) / Math.abs(Math.tanh(small[i]!)));
    }
    t.diagnostic(`tanh_f32: max abs error ${maxAbs.toExponential(2)} at x=${at}; max rel error (|x| <= 0.5) ${maxRel.toExponential(2)}`);
    assert.ok(maxAbs < 1e-6, `max abs error ${maxAbs} at ${at}`);
    assert.ok(maxRel < 1e-6, `max rel error near 0: ${maxRel}`);
  });

  test('special values: 0, -0, +-inf, NaN, huge', async () => {
    await useBackend('wasm');
    const y = runSimdTanh(new Float32Array([0, -0, Infinity, -Infinity, NaN, 1e30, -1e30, 7.9, 8.5, 1e-45]));
    assert.ok(Object.is(y[0], 0) && Object.is(y[1], -0), 'signed zeros');
    assert.deepEqual(Array.from(y.subarray(2, 4)), [1, -1]);
    assert.ok(Number.isNaN(y[4]));
    assert.deepEqual(Array.from(y.subarray(5, 7)), [1, -1]);
    assert.ok(Math.abs(y[7]! - Math.tanh(7.9)) < 1e-6 && Math.abs(y[8]! - Math.tanh(8.5)) < 1e-6);
    assert.equal(y[9], Math.fround(1e-45));
  });

  test('simdTanhKernel() is a working Tanh kernel for wasm', async () => {
    await useBackend('wasm');
    const kernel = simdTanhKernel();
    assert.ok(kernel, `simdTanhKernel(): ${simdKernelsProblem()}`);
    const x = tf.tensor2d(normals(3 * 7, 3, 0, 3), [3, 7]);
    const info = kernel({ inputs: { x }, backend: tf.backend(), attrs: {} }) as TensorInfo;
    const y = tf.engine().makeTensorFromTensorInfo(info);
    assert.deepEqual(y.shape, [3, 7]);
    assert.ok(relErr(y.dataSync(), tf.tanh(x).dataSync()) < 1e-6);
    tf.dispose([x, y]);
  });
});

describe('erf accuracy', () => {
  for (const backend of BACKENDS) {
    test(`fused erf on ${backend}: max abs error vs float64 erf over [-8, 8] < 2e-7`, async (t) => {
      await useBackend(backend);
      const n = 1 << 20;
      const grid = new Float32Array(n);
      for (let i = 0; i < n; i++) grid[i] = -8 + (16 * i) / (n - 1);
      const x = tf.tensor2d(grid, [n, 1]);
      const p = { alpha: tf.tensor1d([1]), s: tf.tensor1d([0]), gamma: tf.ones([1]), beta: tf.zeros([1]) };
      const yT = squashOp(x, p, 'erf', 'fused');
      const y = yT.dataSync();
      let maxAbs = 0, at = 0;
      for (let i = 0; i < n; i++) {
        const e = Math.abs(y[i]! - erfF64(grid[i]!));
        if (e > maxAbs) { maxAbs = e; at = grid[i]!; }
      }
      t.diagnostic(`erf on ${backend}: max abs error ${maxAbs.toExponential(2)} at u=${at}`);
      assert.ok(maxAbs < 2e-7, `max abs error ${maxAbs} at ${at}`);
      tf.dispose([x, yT, ...Object.values(p)]);
    });
  }
});

/** tanh_f32 on the wasm heap via the Tanh kernel function (stock Tanh stays registered). */
function runSimdTanh(values: Float32Array): Float32Array {
  const kernel = simdTanhKernel();
  assert.ok(kernel);
  const x = tf.tensor1d(values);
  const y = tf.engine().makeTensorFromTensorInfo(kernel({ inputs: { x }, backend: tf.backend(), attrs: {} }) as TensorInfo);
  const out = y.dataSync() as Float32Array;
  tf.dispose([x, y]);
  return out;
}

for (const backend of BACKENDS) {
  describe(`fused vs composed on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
      // The composed baseline must use the stock tfjs Tanh kernel.
      if (backend === 'wasm') assert.equal(tf.getKernel('Tanh', 'wasm')?.kernelFunc, stockTanhKernel);
    });

    let seed = 100;
    for (const shape of SQUASH_SHAPES) {
      for (const perChannel of [false, true]) {
        test(`${shape}, ${perChannel ? 'per-channel' : 'scalar'} alpha: forward and all gradients`, () => {
          for (const xs of SHAPES) {
            const c = squashCase(xs, perChannel, seed += 10);
            const fused = squashValueAndGrads(c, shape, 'fused');
            const composed = squashValueAndGrads(c, shape, 'composed');
            fused.forEach((a, i) => {
              const e = relErr(a, composed[i]!);
              assert.ok(e < 1e-5, `${SQUASH_LABELS[i]} for x [${xs}]: rel err ${e.toExponential(2)}`);
            });
            assert.equal(fused[2]!.length, perChannel ? xs[xs.length - 1]! : 1, 'dalpha shaped like alpha');
            disposeCase(c);
          }
        });
      }
    }

    test('mixed: per-channel alpha with scalar s, and scalar alpha with per-channel s', () => {
      for (const shape of SQUASH_SHAPES) {
        for (const alphaPerChannel of [true, false]) {
          const xs = [3, 5, 13];
          const c = squashCase(xs, true, seed += 10);
          const scalar = tf.tensor1d([alphaPerChannel ? 0.1 : 0.8]);
          const mixed = alphaPerChannel ? { ...c, s: scalar } : { ...c, alpha: scalar };
          const fused = squashValueAndGrads(mixed, shape, 'fused');
          const composed = squashValueAndGrads(mixed, shape, 'composed');
          fused.forEach((a, i) => {
            const e = relErr(a, composed[i]!);
            assert.ok(e < 1e-5, `${shape} alphaPerChannel=${alphaPerChannel} ${SQUASH_LABELS[i]}: rel err ${e.toExponential(2)}`);
          });
          disposeCase({ ...c, scalar });
        }
      }
    });

    for (const norm of ['layernorm', 'rmsnorm'] as const) {
      test(`${norm}: forward and all gradients`, () => {
        for (const xs of SHAPES) {
          const c = squashCase(xs, false, seed += 10);
          const run = (impl: KernelImpl): Float32Array[] => {
            const out = tf.tidy(() => {
              if (norm === 'layernorm') {
                const f = (x: Tensor, g: Tensor, b: Tensor): Tensor => layerNormOp(x, g, b, 1e-5, impl);
                return [f(c.x, c.gamma, c.beta), ...tf.grads(f as (...a: Tensor[]) => Tensor)([c.x, c.gamma, c.beta], c.dy)];
              }
              const f = (x: Tensor, g: Tensor): Tensor => rmsNormOp(x, g, 1e-5, impl);
              return [f(c.x, c.gamma), ...tf.grads(f as (...a: Tensor[]) => Tensor)([c.x, c.gamma], c.dy)];
            });
            const arrays = out.map((t) => t.dataSync() as Float32Array);
            tf.dispose(out);
            return arrays;
          };
          const fused = run('fused');
          const composed = run('composed');
          const labels = norm === 'layernorm' ? ['y', 'dx', 'dgamma', 'dbeta'] : ['y', 'dx', 'dgamma'];
          fused.forEach((a, i) => {
            const e = relErr(a, composed[i]!);
            assert.ok(e < 1e-5, `${labels[i]} for x [${xs}]: rel err ${e.toExponential(2)}`);
          });
          disposeCase(c);
        }
      });
    }

    test("'auto' picks the fused kernels here", async () => {
      const c = squashCase([4, 8], false, 1);
      const profile = await tf.profile(() => squashOp(c.x, c, 'tanh'));
      assert.ok(profile.kernelNames.includes('DytlabSquash'), `kernels run: ${profile.kernelNames}`);
      disposeCase(c);
    });
  });
}

// ---------------------------------------------------------------------------
// Finite differences of the float64 references.



for (const backend of BACKENDS) {
  describe(`gradients vs finite differences of the float64 reference on ${backend}`, () => {
    before(() => useBackend(backend));
    const rows = 3, C = 5, h = 1e-5;

    for (const shape of SQUASH_SHAPES) {
      for (const perChannel of [false, true]) {
        test(`${shape}, ${perChannel ? 'per-channel' : 'scalar'} alpha`, () => {
          const c = squashCase([rows, C], perChannel, 4242);
          const p = {
            x: Float64Array.from(c.x.dataSync()), alpha: Float64Array.from(c.alpha.dataSync()),
            s: Float64Array.from(c.s.dataSync()), gamma: Float64Array.from(c.gamma.dataSync()),
            beta: Float64Array.from(c.beta.dataSync()),
          };
          const dy = c.dy.dataSync();
          if (shape === 'hardtanh') {
            // Keep u away from the kinks at +-1, where differences are meaningless.
            for (let i = 0; i < p.x.length; i++) {
              const a = p.alpha.length === 1 ? p.alpha[0]! : p.alpha[i % C]!;
              const sv = p.s.length === 1 ? p.s[0]! : p.s[i % C]!;
              const u = a * p.x[i]! + sv;
              if (Math.abs(Math.abs(u) - 1) < 0.05) p.x[i] = (Math.sign(u) * 1.2 - sv) / a;
            }
          }
          const loss = (): number => dot(squashReference(p.x, rows, C, p, shape), dy);
          const fd = [fdGrad(p.x, loss, h), fdGrad(p.alpha, loss, h), fdGrad(p.s, loss, h), fdGrad(p.gamma, loss, h), fdGrad(p.beta, loss, h)];
          const xT = tf.tensor2d(Float32Array.from(p.x), [rows, C]);
          const fused = squashValueAndGrads({ ...c, x: xT }, shape, 'fused');
          fd.forEach((g, i) => {
            const e = relErr(fused[i + 1]!, g);
            assert.ok(e < 1e-4, `${SQUASH_LABELS[i + 1]}: rel err ${e.toExponential(2)} vs finite differences`);
          });
          disposeCase({ ...c, xT });
        });
      }
    }

    test('layernorm and rmsnorm', () => {
      const c = squashCase([rows, C], false, 777);
      const x = Float64Array.from(c.x.dataSync()), gamma = Float64Array.from(c.gamma.dataSync());
      const beta = Float64Array.from(c.beta.dataSync()), dy = c.dy.dataSync();
      const eps = 1e-5;
      const lnLoss = (): number => dot(layerNormReference(x, rows, C, gamma, beta, eps), dy);
      const rmsLoss = (): number => dot(rmsNormReference(x, rows, C, gamma, eps), dy);
      const lnFd = [fdGrad(x, lnLoss, h), fdGrad(gamma, lnLoss, h), fdGrad(beta, lnLoss, h)];
      const rmsFd = [fdGrad(x, rmsLoss, h), fdGrad(gamma, rmsLoss, h)];
      const [lnG, rmsG] = tf.tidy(() => [
        tf.grads((a: Tensor, b: Tensor, d: Tensor) => layerNormOp(a, b, d, eps, 'fused'))([c.x, c.gamma, c.beta], c.dy),
        tf.grads((a: Tensor, b: Tensor) => rmsNormOp(a, b, eps, 'fused'))([c.x, c.gamma], c.dy),
      ]);
      lnFd.forEach((g, i) => assert.ok(relErr(lnG![i]!.dataSync(), g) < 1e-4, `layernorm grad ${i}`));
      rmsFd.forEach((g, i) => assert.ok(relErr(rmsG![i]!.dataSync(), g) < 1e-4, `rmsnorm grad ${i}`));
      tf.dispose([...lnG!, ...rmsG!]);
      disposeCase(c);
    });
  });
}

// ---------------------------------------------------------------------------

for (const backend of BACKENDS) {
  describe(`edge inputs on ${backend}`, () => {
    before(() => useBackend(backend));
    const edges = [0, -0, 1e4, -1e4, 1e-30, -1e-30, 3, -0.5];

    for (const shape of SQUASH_SHAPES) {
      test(`${shape}: 0, +-1e4, +-1e-30 match the float64 reference, gradients finite`, () => {
        const C = edges.length;
        const x = tf.tensor2d(edges, [1, C]);
        const p = { alpha: tf.tensor1d([0.5]), s: tf.tensor1d([0]), gamma: tf.ones([C]), beta: tf.zeros([C]) };
        const dy = tf.ones([1, C]);
        const vals = squashValueAndGrads({ x, ...p, dy }, shape, 'fused');
        const ref = squashReference(Float32Array.from(edges), 1, C, { alpha: [0.5], s: [0], gamma: new Array(C).fill(1), beta: new Array(C).fill(0) }, shape);
        for (let i = 0; i < C; i++) {
          const y = vals[0]![i]!;
          assert.ok(Math.abs(y - ref[i]!) <= 1e-6 + 1e-6 * Math.abs(ref[i]!), `f(${edges[i]}) = ${y}, reference ${ref[i]}`);
          // Relative accuracy survives for tiny inputs.
          if (Math.abs(edges[i]!) === 1e-30 && shape !== 'hardtanh') {
            assert.ok(Math.abs(y - ref[i]!) <= 1e-6 * Math.abs(ref[i]!), `relative accuracy at ${edges[i]}`);
          }
        }
        vals.slice(1).forEach((g, i) => assert.ok(g.every(Number.isFinite), `${SQUASH_LABELS[i + 1]} finite: ${Array.from(g)}`));
        tf.dispose([x, dy, ...Object.values(p)]);
      });
    }

    test('layernorm/rmsnorm on constant and huge rows', () => {
      const x = tf.tensor2d([[5, 5, 5, 5, 5], [1e4, -1e4, 0, 1e-30, 3]]);
      const g = tf.ones([5]), b = tf.zeros([5]);
      const ln = layerNormOp(x, g, b, 1e-5, 'fused').dataSync();
      const rms = rmsNormOp(x, g, 1e-5, 'fused').dataSync();
      const lnRef = layerNormReference(x.dataSync(), 2, 5, [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], 1e-5);
      const rmsRef = rmsNormReference(x.dataSync(), 2, 5, [1, 1, 1, 1, 1], 1e-5);
      assert.ok(relErr(ln, lnRef) < 1e-5 && relErr(rms, rmsRef) < 1e-5);
      tf.dispose([x, g, b]);
    });
  });
}

// ---------------------------------------------------------------------------

describe('leaks, registration and errors', () => {
  for (const backend of BACKENDS) {
    test(`no tensor leaks on ${backend} (variables and constants, forward + backward)`, async () => {
      await useBackend(backend);
      const C = 13;
      const alpha = tf.variable(tf.tensor1d([0.7])), gamma = tf.variable(tf.ones([C]));
      const s = tf.zeros([1]), beta = tf.zeros([C]);
      const x = tf.tensor2d(normals(5 * C, 9), [5, C]);
      const before = tf.memory().numTensors;
      for (let step = 0; step < 3; step++) {
        for (const shape of SQUASH_SHAPES) {
          tf.tidy(() => {
            const { grads, value } = tf.variableGrads(() => tf.sum(squashOp(x, { alpha, s, gamma, beta }, shape, 'fused')) as tf.Scalar);
            value.dataSync();
            Object.values(grads).forEach((g) => g.dataSync());
          });
        }
        tf.tidy(() => {
          tf.grads((a: Tensor, g: Tensor, b: Tensor) => layerNormOp(a, g, b, 1e-5, 'fused'))([x, gamma, beta]);
          tf.grads((a: Tensor, g: Tensor) => rmsNormOp(a, g, 1e-5, 'fused'))([x, gamma]);
        });
        // Forward alone (no tape): saved statistics must not stay behind.
        tf.tidy(() => { layerNormOp(x, gamma, beta, 1e-5, 'fused'); });
      }
      assert.equal(tf.memory().numTensors, before, 'numTensors unchanged');
      tf.dispose([alpha, gamma, s, beta, x]);
    });
  }

  test('variables receive gradients through squashOp', async () => {
    await useBackend('wasm');
    const C = 4;
    const vars = {
      alpha: tf.variable(tf.tensor1d([0.5])), s: tf.variable(tf.tensor1d([0.1])),
      gamma: tf.variable(tf.ones([C])), beta: tf.variable(tf.zeros([C])),
    };
    const x = tf.tensor2d([[1, 2, 3, 4], [-1, 0, 1, 2]]);
    const { grads } = tf.variableGrads(() => tf.sum(squashOp(x, vars, 'tanh', 'fused')) as tf.Scalar);
    assert.deepEqual(Object.keys(grads).sort(), Object.values(vars).map((v) => v.name).sort());
    tf.dispose([x, ...Object.values(grads), ...Object.values(vars)]);
  });

  test('registerFusedKernels is idempotent and reports unknown backends', () => {
    const a = registerFusedKernels('cpu');
    const b = registerFusedKernels('cpu');
    assert.deepEqual(a, b);
    assert.deepEqual(a.registered, ['DytlabSquash', 'DytlabSquashGrad', 'DytlabLayerNorm', 'DytlabLayerNormGrad', 'DytlabRMSNorm', 'DytlabRMSNormGrad']);
    const none = registerFusedKernels('webgl');
    assert.deepEqual(none.registered, []);
    assert.match(none.reason ?? '', /webgl/);
  });

  test("impl 'fused' on a backend without fused kernels throws, naming the backend", async () => {
    tf.registerBackend('dytlab-test-nofused', () => new MathBackendCPU());
    try {
      await tf.setBackend('dytlab-test-nofused');
      assert.equal(fusedKernelStatus(), undefined);
      const x = tf.tensor2d([[1, 2]]);
      const p = { alpha: tf.tensor1d([1]), s: tf.tensor1d([0]), gamma: tf.ones([2]), beta: tf.zeros([2]) };
      assert.throws(() => squashOp(x, p, 'tanh', 'fused'), /dytlab-test-nofused/);
      assert.throws(() => layerNormOp(x, p.gamma, p.beta, 1e-5, 'fused'), /dytlab-test-nofused/);
      assert.throws(() => rmsNormOp(x, p.gamma, 1e-5, 'fused'), /dytlab-test-nofused/);
      tf.dispose([x, ...Object.values(p)]);
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('dytlab-test-nofused');
    }
  });

  test('bad shapes give errors naming kernel, shape and backend', async () => {
    for (const backend of BACKENDS) {
      await useBackend(backend);
      const x = tf.zeros([2, 3]);
      const p = { alpha: tf.zeros([2]), s: tf.zeros([1]), gamma: tf.ones([3]), beta: tf.zeros([3]) };
      assert.throws(() => squashOp(x, p, 'tanh', 'fused'), new RegExp(`DytlabSquash on backend '${backend}'.*alpha.*\\[2\\]`));
      assert.throws(() => squashOp(x, p, 'cube' as SquashShape, 'fused'), /unknown squash shape 'cube'/);
      assert.throws(() => layerNormOp(x, tf.ones([4]), p.beta, 1e-5, 'fused'), /DytlabLayerNorm.*gamma.*C=3/);
      tf.dispose([x, ...Object.values(p)]);
    }
  });
});

// Composed ops stay importable for callers that want the baseline explicitly.
test('composed ops are exported', () => {
  assert.equal(typeof composedSquash, 'function');
  assert.equal(typeof composedLayerNorm, 'function');
  assert.equal(typeof composedRMSNorm, 'function');
});
