// The webgpu backend (Dawn through the npm package `webgpu`, tfjs-backend-webgpu)
// and the fused WGSL kernels of the normalization family: the same agreement
// checks as test/kernels.test.ts for cpu/wasm (fused vs composed tfjs ops,
// forward and every gradient; gradients vs finite differences of the float64
// references; edge inputs; no leaks), plus what is particular to WebGPU: every
// shader variant compiles, backward reductions are deterministic, synchronous
// reads fail with a useful message, and a model trains a step.
//
// On a machine without a GPU this runs on Mesa's llvmpipe through Dawn's
// OpenGL ES backend (EGL_PLATFORM=surfaceless; Debian packages libegl1
// libegl-mesa0 libgles2 libgl1-mesa-dri, which .ci/run installs). If no
// adapter can be created the suite FAILS with the reason: it never skips.
//
// Run: node --import tsx --test test/webgpu.test.ts
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import type { Tensor } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import type { BackendInfo } from '../src/engine/backend.js';
import {
  fusedKernelStatus, layerNormOp, layerNormReference, registerFusedKernels, rmsNormOp, rmsNormReference, squashOp,
  squashReference, SQUASH_SHAPES, erfF64,
} from '../src/engine/ops/index.js';
import type { KernelImpl, SquashShape } from '../src/engine/ops/index.js';
import { gpuDeviceNodes } from '../src/engine/webgpu/dawn.js';
import { webgpuDevice } from '../src/engine/webgpu/backend.js';
import { MAX_PARTIAL_GROUPS } from '../src/engine/webgpu/ops.js';
import {
  layerNormBackwardWgsl, layerNormForwardWgsl, reducePartialsWgsl, rmsNormBackwardWgsl, rmsNormForwardWgsl, rowGeometry,
  squashBackwardWgsl, squashForwardWgsl,
} from '../src/engine/webgpu/wgsl.js';
import { createLM } from '../src/models/index.js';
import { createNorm } from '../src/nn/norms.js';
import type { NormSpec } from '../src/nn/norm-spec.js';
import { crossEntropy } from '../src/train/tasks.js';
import { dot, fdGrad, maxRelErr as relErr, normals as normals64 } from './support/numeric.js';
import { SQUASH } from '../src/engine/squash-shapes.js';

delete process.env.DYTLAB_BACKEND;
const root = join(__dirname, '..');

function normals(n: number, seed: number, mean = 0, scale = 1): Float32Array {
  return Float32Array.from(normals64(n, seed, scale), (v) => v + mean);
}

/** Reads tensors back the only way webgpu allows under Node (async), then disposes them. */
async function read(ts: Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push((await t.data()) as Float32Array);
  tf.dispose(ts);
  return out;
}

interface SquashCase { x: Tensor; alpha: Tensor; s: Tensor; gamma: Tensor; beta: Tensor; dy: Tensor }

function squashCase(shape: number[], perChannel: boolean, seed: number): SquashCase {
  const C = shape[shape.length - 1]!;
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    x: tf.tensor(normals(n, seed, 0.3, 1.5), shape),
    alpha: tf.tensor1d(perChannel ? normals(C, seed + 1, 0.8, 0.2) : [0.8]),
    s: tf.tensor1d(perChannel ? normals(C, seed + 2, 0.1, 0.2) : [0.1]),
    gamma: tf.tensor1d(normals(C, seed + 3, 1, 0.2)),
    beta: tf.tensor1d(normals(C, seed + 4, 0, 0.2)),
    dy: tf.tensor(normals(n, seed + 5, 0.2, 1), shape),
  };
}

const disposeCase = (c: object): void => tf.dispose(Object.values(c) as Tensor[]);

function squashValueAndGrads(c: SquashCase, shape: SquashShape, impl: KernelImpl): Promise<Float32Array[]> {
  const f = (x: Tensor, alpha: Tensor, s: Tensor, gamma: Tensor, beta: Tensor): Tensor =>
    squashOp(x, { alpha, s, gamma, beta }, shape, impl);
  const out = tf.tidy(() => [f(c.x, c.alpha, c.s, c.gamma, c.beta),
    ...tf.grads((...a: Tensor[]) => f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!))([c.x, c.alpha, c.s, c.gamma, c.beta], c.dy)]);
  return read(out);
}

function normValueAndGrads(norm: 'layernorm' | 'rmsnorm', c: SquashCase, impl: KernelImpl, eps = 1e-5): Promise<Float32Array[]> {
  const out = tf.tidy(() => {
    if (norm === 'layernorm') {
      const f = (x: Tensor, g: Tensor, b: Tensor): Tensor => layerNormOp(x, g, b, eps, impl);
      return [f(c.x, c.gamma, c.beta), ...tf.grads(f as (...a: Tensor[]) => Tensor)([c.x, c.gamma, c.beta], c.dy)];
    }
    const f = (x: Tensor, g: Tensor): Tensor => rmsNormOp(x, g, eps, impl);
    return [f(c.x, c.gamma), ...tf.grads(f as (...a: Tensor[]) => Tensor)([c.x, c.gamma], c.dy)];
  });
  return read(out);
}

const SQUASH_LABELS = ['y', 'dx', 'dalpha', 'ds', 'dgamma', 'dbeta'];

/**
 * Scalar dalpha and ds in float64 from the case's float32 data: sum of dy * gamma * f'(u) * x
 * (and without x), f' by central differences of the float64 f. Also the sum of |terms|, which
 * says how much the float32 sums cancel.
 */
async function scalarGradTruth(c: SquashCase, shape: SquashShape): Promise<{ dalpha: number; ds: number; scale: number }> {
  const [x, dy, alpha, s, gamma] = await Promise.all([c.x, c.dy, c.alpha, c.s, c.gamma].map((t) => t.data()));
  const C = gamma!.length, f = SQUASH[shape].f64, h = 1e-6;
  let dalpha = 0, ds = 0, scale = 0;
  for (let i = 0; i < x!.length; i++) {
    const a = alpha!.length === 1 ? alpha![0]! : alpha![i % C]!;
    const u = a * x![i]! + (s!.length === 1 ? s![0]! : s![i % C]!);
    const g = dy![i]! * gamma![i % C]! * ((f(u + h) - f(u - h)) / (2 * h));
    dalpha += g * x![i]!;
    ds += g;
    scale += Math.abs(g * x![i]!);
  }
  return { dalpha, ds, scale };
}

/**
 * fused vs composed within 1e-5, except the scalar sums over the whole tensor (dalpha, ds of a
 * scalar alpha / s), which both accumulate in float32 on webgpu: there fused must be within
 * 1e-5 of the float64 truth, or no further from it than composed is.
 */
async function assertSquashAgrees(c: SquashCase, shape: SquashShape, fused: Float32Array[], composed: Float32Array[], where: string): Promise<void> {
  let truth: Awaited<ReturnType<typeof scalarGradTruth>> | undefined;
  for (let i = 0; i < fused.length; i++) {
    const e = relErr(fused[i]!, composed[i]!);
    if (e < 1e-5) continue;
    if ((i === 2 || i === 3) && fused[i]!.length === 1) {
      truth ??= await scalarGradTruth(c, shape);
      const t = i === 2 ? truth.dalpha : truth.ds;
      const ef = Math.abs(fused[i]![0]! - t), ec = Math.abs(composed[i]![0]! - t);
      assert.ok(ef <= 1e-5 * Math.abs(t) || ef <= 1.5 * ec,
        `${where} ${SQUASH_LABELS[i]}: fused ${fused[i]![0]} composed ${composed[i]![0]} float64 ${t} (sum of |terms| ${truth.scale.toFixed(1)})`);
      continue;
    }
    assert.fail(`${where} ${SQUASH_LABELS[i]}: rel err ${e.toExponential(2)}`);
  }
}
// Scalar path (C = 13), vec4 path (C = 100, 768), rows in one or many workgroups.
const SHAPES: number[][] = [[3, 5, 13], [64, 100], [2, 768]];

let info: BackendInfo;

before(async () => {
  // Loud, specific failure when no adapter exists: the error names what is missing.
  info = await initBackend('webgpu');
  registerFusedKernels('webgpu');
});

describe('webgpu backend', () => {
  test('initBackend("webgpu") reports the adapter; fused kernels are registered', () => {
    assert.equal(info.backend, 'webgpu');
    assert.equal(tf.getBackend(), 'webgpu');
    assert.equal(info.backendPackage, '@tensorflow/tfjs-backend-webgpu');
    assert.ok(info.gpu, 'BackendInfo.gpu describes the adapter');
    assert.ok(info.gpu.device || info.gpu.description, 'adapter has a name');
    if (gpuDeviceNodes().length === 0) {
      // CPU-only machine: the software path, at compatibility level, on OpenGL ES.
      assert.equal(info.gpu.software, true);
      assert.equal(info.gpu.dawnBackend, 'opengles');
      assert.equal(info.gpu.featureLevel, 'compatibility');
    }
    assert.ok(info.gpu.limits['maxStorageBuffersPerShaderStage']! >= 7);
    assert.deepEqual(info.fusedKernels.registered,
      ['DytlabSquash', 'DytlabSquashGrad', 'DytlabLayerNorm', 'DytlabLayerNormGrad', 'DytlabRMSNorm', 'DytlabRMSNormGrad']);
    assert.equal(fusedKernelStatus()?.backend, 'webgpu');
  });

  test('every WGSL variant compiles and validates', async () => {
    const device = webgpuDevice();
    assert.ok(device, 'the webgpu backend exposes its GPUDevice');
    const sources: Record<string, string> = {};
    for (const C of [13, 100, 768, 4096]) {
      const g = rowGeometry(C, 256);
      for (const shape of SQUASH_SHAPES) {
        for (const [aPC, sPC] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          const v = { shape, alphaPerChannel: aPC, shiftPerChannel: sPC };
          sources[`squash fwd ${shape} C=${C} ${aPC}/${sPC}`] = squashForwardWgsl(g, v);
          sources[`squash bwd ${shape} C=${C} ${aPC}/${sPC}`] = squashBackwardWgsl(g, v);
        }
      }
      sources[`layernorm fwd C=${C}`] = layerNormForwardWgsl(g);
      sources[`layernorm bwd C=${C}`] = layerNormBackwardWgsl(g);
      sources[`rmsnorm fwd C=${C}`] = rmsNormForwardWgsl(g);
      sources[`rmsnorm bwd C=${C}`] = rmsNormBackwardWgsl(g);
    }
    sources['reduce 4 segments'] = reducePartialsWgsl([5, 5, 1, 1]);
    const failures: string[] = [];
    for (const [name, code] of Object.entries(sources)) {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code });
      device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const [err, compiled] = await Promise.all([device.popErrorScope(), module.getCompilationInfo()]);
      const msgs = compiled.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
      if (err || msgs.length) failures.push(`${name}: ${err?.message ?? ''} ${msgs.join('; ')}`);
    }
    assert.deepEqual(failures, []);
  });

  test('dataSync() on a computed webgpu tensor fails with advice to use data()', async () => {
    // Large enough that tfjs does not forward the op to its CPU path (WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD).
    const x = tf.range(0, 4096);
    const y = tf.add(x, 1);
    assert.throws(() => y.dataSync(), /await tensor\.data\(\)/);
    const v = await y.data();
    assert.deepEqual([v[0], v[4095]], [1, 4096]);
    tf.dispose([x, y]);
  });
});

describe('fused vs composed on webgpu', () => {
  let seed = 100;
  for (const shape of SQUASH_SHAPES) {
    for (const perChannel of [false, true]) {
      test(`${shape}, ${perChannel ? 'per-channel' : 'scalar'} alpha: forward and all gradients`, async () => {
        for (const xs of SHAPES) {
          const c = squashCase(xs, perChannel, seed += 10);
          const fused = await squashValueAndGrads(c, shape, 'fused');
          const composed = await squashValueAndGrads(c, shape, 'composed');
          await assertSquashAgrees(c, shape, fused, composed, `x [${xs}]`);
          assert.equal(fused[2]!.length, perChannel ? xs[xs.length - 1]! : 1, 'dalpha shaped like alpha');
          disposeCase(c);
        }
      });
    }
  }

  test('mixed: per-channel alpha with scalar s, and scalar alpha with per-channel s', async () => {
    for (const shape of SQUASH_SHAPES) {
      for (const alphaPerChannel of [true, false]) {
        const c = squashCase([3, 5, 12], true, seed += 10);
        const scalar = tf.tensor1d([alphaPerChannel ? 0.1 : 0.8]);
        const mixed = alphaPerChannel ? { ...c, s: scalar } : { ...c, alpha: scalar };
        const fused = await squashValueAndGrads(mixed, shape, 'fused');
        const composed = await squashValueAndGrads(mixed, shape, 'composed');
        await assertSquashAgrees(mixed, shape, fused, composed, `${shape} alphaPerChannel=${alphaPerChannel}`);
        disposeCase({ ...c, scalar });
      }
    }
  });

  for (const norm of ['layernorm', 'rmsnorm'] as const) {
    test(`${norm}: forward and all gradients, and forward vs the float64 reference`, async () => {
      for (const xs of SHAPES) {
        const c = squashCase(xs, false, seed += 10);
        const fused = await normValueAndGrads(norm, c, 'fused');
        const composed = await normValueAndGrads(norm, c, 'composed');
        const labels = norm === 'layernorm' ? ['y', 'dx', 'dgamma', 'dbeta'] : ['y', 'dx', 'dgamma'];
        fused.forEach((a, i) => {
          const e = relErr(a, composed[i]!);
          assert.ok(e < 1e-5, `${labels[i]} for x [${xs}]: rel err ${e.toExponential(2)}`);
        });
        const C = xs[xs.length - 1]!, rows = c.x.size / C;
        const [x, gamma, beta] = await Promise.all([c.x.data(), c.gamma.data(), c.beta.data()]);
        const ref = norm === 'layernorm' ? layerNormReference(x, rows, C, gamma, beta, 1e-5) : rmsNormReference(x, rows, C, gamma, 1e-5);
        assert.ok(relErr(fused[0]!, ref) < 2e-6, `${norm} forward vs float64 for [${xs}]: ${relErr(fused[0]!, ref)}`);
        disposeCase(c);
      }
    });
  }

  test("'auto' picks the fused kernels on webgpu", async () => {
    const c = squashCase([4, 8], false, 1);
    const profile = await tf.profile(() => squashOp(c.x, c, 'tanh'));
    assert.ok(profile.kernelNames.includes('DytlabSquash'), `kernels run: ${profile.kernelNames}`);
    disposeCase(c);
  });
});

describe('webgpu kernels vs the float64 references', () => {

  for (const shape of SQUASH_SHAPES) {
    test(`${shape}: gradients match finite differences (per-channel and scalar alpha)`, async () => {
      for (const perChannel of [false, true]) {
        const rows = 3, C = 8, h = 1e-5;
        const c = squashCase([rows, C], perChannel, 4242);
        const p = {
          x: Float64Array.from(await c.x.data()), alpha: Float64Array.from(await c.alpha.data()),
          s: Float64Array.from(await c.s.data()), gamma: Float64Array.from(await c.gamma.data()),
          beta: Float64Array.from(await c.beta.data()),
        };
        if (shape === 'hardtanh') {
          // Keep u away from the kinks at +-1, where differences are meaningless.
          for (let i = 0; i < p.x.length; i++) {
            const a = p.alpha.length === 1 ? p.alpha[0]! : p.alpha[i % C]!;
            const sv = p.s.length === 1 ? p.s[0]! : p.s[i % C]!;
            const u = a * p.x[i]! + sv;
            if (Math.abs(Math.abs(u) - 1) < 0.05) p.x[i] = (Math.sign(u) * 1.2 - sv) / a;
          }
        }
        const dy = await c.dy.data();
        const loss = (): number => dot(squashReference(p.x, rows, C, p, shape), dy);
        const fd = [fdGrad(p.x, loss, h), fdGrad(p.alpha, loss, h), fdGrad(p.s, loss, h), fdGrad(p.gamma, loss, h), fdGrad(p.beta, loss, h)];
        const xT = tf.tensor2d(Float32Array.from(p.x), [rows, C]);
        const fused = await squashValueAndGrads({ ...c, x: xT }, shape, 'fused');
        const yRef = squashReference(Float32Array.from(p.x), rows, C, p, shape);
        assert.ok(relErr(fused[0]!, yRef) < 1e-6, `y vs float64: ${relErr(fused[0]!, yRef)}`);
        fd.forEach((g, i) => {
          const e = relErr(fused[i + 1]!, g);
          assert.ok(e < 1e-4, `${perChannel ? 'per-channel' : 'scalar'} ${SQUASH_LABELS[i + 1]}: rel err ${e.toExponential(2)} vs finite differences`);
        });
        disposeCase({ ...c, xT });
      }
    });
  }

  test('erf: max abs error vs float64 erf over [-8, 8] < 1e-6', async (t) => {
    const n = 1 << 16;
    const grid = Float32Array.from({ length: n }, (_, i) => -8 + (16 * i) / (n - 1));
    const x = tf.tensor2d(grid, [n / 4, 4]);
    const p = { alpha: tf.tensor1d([1]), s: tf.tensor1d([0]), gamma: tf.ones([4]), beta: tf.zeros([4]) };
    const [y] = await read([squashOp(x, p, 'erf', 'fused')]);
    let maxAbs = 0;
    for (let i = 0; i < n; i++) maxAbs = Math.max(maxAbs, Math.abs(y![i]! - erfF64(grid[i]!)));
    t.diagnostic(`erf on webgpu: max abs error ${maxAbs.toExponential(2)}`);
    assert.ok(maxAbs < 1e-6, `max abs error ${maxAbs}`);
    tf.dispose([x, ...Object.values(p)]);
  });

  test('edge inputs: 0, +-1e4, +-1e-30 match the float64 reference for every shape, gradients finite', async () => {
    const edges = [0, -0, 1e4, -1e4, 1e-30, -1e-30, 3, -0.5];
    const C = edges.length;
    for (const shape of SQUASH_SHAPES) {
      const x = tf.tensor2d(edges, [1, C]);
      const p = { alpha: tf.tensor1d([0.5]), s: tf.tensor1d([0]), gamma: tf.ones([C]), beta: tf.zeros([C]) };
      const dy = tf.ones([1, C]);
      const vals = await squashValueAndGrads({ x, ...p, dy }, shape, 'fused');
      const ref = squashReference(Float32Array.from(edges), 1, C, { alpha: [0.5], s: [0], gamma: new Array(C).fill(1), beta: new Array(C).fill(0) }, shape);
      for (let i = 0; i < C; i++) {
        const y = vals[0]![i]!;
        assert.ok(Math.abs(y - ref[i]!) <= 1e-6 + 1e-6 * Math.abs(ref[i]!), `${shape}: f(${edges[i]}) = ${y}, reference ${ref[i]}`);
      }
      vals.slice(1).forEach((g, i) => assert.ok(g.every(Number.isFinite), `${shape} ${SQUASH_LABELS[i + 1]} finite: ${Array.from(g)}`));
      tf.dispose([x, dy, ...Object.values(p)]);
    }
  });

  test('layernorm/rmsnorm on constant and huge rows', async () => {
    const rowsData = [5, 5, 5, 5, 5, 1e4, -1e4, 0, 1e-30, 3];
    const x = tf.tensor2d(rowsData, [2, 5]);
    const g = tf.ones([5]), b = tf.zeros([5]);
    const [ln, rms] = await read([layerNormOp(x, g, b, 1e-5, 'fused'), rmsNormOp(x, g, 1e-5, 'fused')]);
    const lnRef = layerNormReference(rowsData, 2, 5, [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], 1e-5);
    const rmsRef = rmsNormReference(rowsData, 2, 5, [1, 1, 1, 1, 1], 1e-5);
    assert.ok(relErr(ln!, lnRef) < 1e-5 && relErr(rms!, rmsRef) < 1e-5);
    tf.dispose([x, g, b]);
  });
});

describe('webgpu kernels: grid edges, determinism, leaks', () => {
  test(`more rows than backward workgroups (${MAX_PARTIAL_GROUPS}) and than one grid dimension holds`, async () => {
    // Backward: rows strided over MAX_PARTIAL_GROUPS workgroups; forward norms: rows strided over the grid.
    for (const xs of [[MAX_PARTIAL_GROUPS * 2 + 37, 12], [70_000, 4]]) {
      const c = squashCase(xs, false, 9000 + xs[0]!);
      const rows = xs[0]!, C = xs[1]!;
      for (const norm of ['layernorm', 'rmsnorm'] as const) {
        const fused = await normValueAndGrads(norm, c, 'fused');
        const composed = await normValueAndGrads(norm, c, 'composed');
        fused.forEach((a, i) => assert.ok(relErr(a, composed[i]!) < 2e-5, `${norm} output ${i} for [${xs}]: ${relErr(a, composed[i]!)}`));
      }
      if (rows < 10_000) {
        const fused = await squashValueAndGrads(c, 'tanh', 'fused');
        const composed = await squashValueAndGrads(c, 'tanh', 'composed');
        fused.forEach((a, i) => assert.ok(relErr(a, composed[i]!) < 2e-5, `tanh ${SQUASH_LABELS[i]} for [${xs}]`));
      }
      void C;
      disposeCase(c);
    }
  });

  test('backward reductions are deterministic (bitwise equal across runs)', async () => {
    const c = squashCase([1000, 64], true, 77);
    const a = await squashValueAndGrads(c, 'tanh', 'fused');
    const b = await squashValueAndGrads(c, 'tanh', 'fused');
    a.forEach((v, i) => assert.deepEqual(v, b[i], `${SQUASH_LABELS[i]} identical`));
    const l1 = await normValueAndGrads('layernorm', c, 'fused');
    const l2 = await normValueAndGrads('layernorm', c, 'fused');
    l1.forEach((v, i) => assert.deepEqual(v, l2[i]));
    disposeCase(c);
  });

  test('empty inputs give empty outputs and zero parameter gradients', async () => {
    const x = tf.zeros([0, 6]), dy = tf.zeros([0, 6]);
    const p = { alpha: tf.tensor1d([0.5]), s: tf.tensor1d([0]), gamma: tf.ones([6]), beta: tf.zeros([6]) };
    const vals = await squashValueAndGrads({ x, dy, ...p }, 'tanh', 'fused');
    assert.equal(vals[0]!.length, 0);
    assert.deepEqual(Array.from(vals[4]!), [0, 0, 0, 0, 0, 0]);
    tf.dispose([x, dy, ...Object.values(p)]);
  });

  test('no tensor leaks (forward + backward of every kernel)', async () => {
    const C = 12;
    const alpha = tf.variable(tf.tensor1d([0.7])), gamma = tf.variable(tf.ones([C]));
    const s = tf.zeros([1]), beta = tf.zeros([C]);
    const x = tf.tensor2d(normals(5 * C, 9), [5, C]);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 2; step++) {
      for (const shape of SQUASH_SHAPES) {
        const { grads, value } = tf.variableGrads(() => tf.sum(squashOp(x, { alpha, s, gamma, beta }, shape, 'fused')) as tf.Scalar);
        await read([value, ...Object.values(grads)]);
      }
      await read(tf.tidy(() => [
        ...tf.grads((a: Tensor, g: Tensor, b: Tensor) => layerNormOp(a, g, b, 1e-5, 'fused'))([x, gamma, beta]),
        ...tf.grads((a: Tensor, g: Tensor) => rmsNormOp(a, g, 1e-5, 'fused'))([x, gamma]),
      ]));
      tf.tidy(() => { layerNormOp(x, gamma, beta, 1e-5, 'fused'); });
    }
    assert.equal(tf.memory().numTensors, before, 'numTensors unchanged');
    tf.dispose([alpha, gamma, s, beta, x]);
  });
});

describe('norm layers on webgpu', () => {
  test('DyT layers with learnable, fixed and no alpha, per-channel alpha and the erf shift: fused = composed', async () => {
    const specs: NormSpec[] = [
      { kind: 'dyt', alpha: 'learnable' }, { kind: 'dyt', alpha: 'fixed', alpha0: 0.7 }, { kind: 'dyt', squash: 'hardtanh', alpha: 'none' },
      { kind: 'dyt', squash: 'softsign', perChannelAlpha: true }, { kind: 'dyt', squash: 'erf' }, { kind: 'layernorm' }, { kind: 'rmsnorm' },
    ];
    const x = tf.tensor3d(normals(2 * 5 * 24, 31, 0.2, 1.3), [2, 5, 24]);
    for (const spec of specs) {
      const results: Float32Array[][] = [];
      for (const impl of ['fused', 'composed'] as const) {
        const layer = createNorm({ ...spec, impl } as NormSpec, 24);
        const vars = layer.namedParameters().filter((p) => p.trainable).map((p) => p.variable);
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x))) as tf.Scalar, vars);
        results.push(await read([value, ...vars.map((v) => grads[v.name]!)]));
        layer.dispose();
      }
      const [f, c] = results;
      assert.equal(f!.length, c!.length);
      f!.forEach((a, i) => assert.ok(relErr(a, c![i]!) < 2e-5, `${JSON.stringify(spec)} output ${i}: ${relErr(a, c![i]!)}`));
    }
    x.dispose();
  });
});

describe('a model step on webgpu', () => {
  for (const kind of ['dyt', 'layernorm'] as const) {
    test(`LM (${kind}): loss and every gradient agree with the cpu backend`, async () => {
      // The same seeded weights are built on each backend (tfjs draws them in JS).
      const step = async (): Promise<{ loss: number; grads: Float32Array[]; kernels: string[] }> => {
        const lm = createLM({ vocabSize: 24, context: 16, dModel: 32, nLayers: 2, nHeads: 2, mlp: 'gelu', norm: { kind }, seed: 3 });
        const ids = tf.tensor2d(Array.from({ length: 2 * 16 }, (_, i) => (i * 7) % 24), [2, 16], 'int32');
        const targets = tf.tensor2d(Array.from({ length: 2 * 16 }, (_, i) => (i * 5 + 1) % 24), [2, 16], 'int32');
        const vars = lm.trainableVariables();
        const { value, grads } = tf.variableGrads(() => crossEntropy(lm.apply(ids), targets), vars);
        const [loss, ...g] = await read([value, ...vars.map((v) => grads[v.name]!)]);
        const profile = await tf.profile(async () => { await read([lm.apply(ids)]); });
        lm.dispose();
        tf.dispose([ids, targets]);
        return { loss: loss![0]!, grads: g, kernels: profile.kernelNames };
      };
      const gpu = await step();
      assert.ok(gpu.kernels.includes(kind === 'dyt' ? 'DytlabSquash' : 'DytlabLayerNorm'), 'the fused kernel ran on webgpu');
      await tf.setBackend('cpu');
      let cpu: Awaited<ReturnType<typeof step>>;
      try {
        registerFusedKernels('cpu');
        cpu = await step();
      } finally {
        await tf.setBackend('webgpu');
      }
      assert.ok(Number.isFinite(gpu.loss));
      assert.ok(Math.abs(gpu.loss - cpu.loss) < 1e-4 * Math.abs(cpu.loss), `loss ${gpu.loss} vs cpu ${cpu.loss}`);
      assert.equal(gpu.grads.length, cpu.grads.length);
      gpu.grads.forEach((g, i) => assert.ok(relErr(g, cpu.grads[i]!) < 1e-3, `gradient ${i}: rel err ${relErr(g, cpu.grads[i]!)}`));
    });
  }
});

describe('automatic backend choice', () => {
  test('the automatic choice skips webgpu (opt-in, saying why) and takes wasm', () => {
    const script = `const { initBackend } = require('./src/index.ts');
      initBackend().then((i) => console.log(JSON.stringify(i)), (e) => console.log(JSON.stringify({ error: e.message })));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: root, env: { ...process.env, DYTLAB_BACKEND: undefined }, encoding: 'utf8', timeout: 60_000,
    });
    const got = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as BackendInfo & { error?: string };
    assert.equal(got.error, undefined);
    const native = got.attempts.find((a) => a.backend === 'tensorflow');
    if (native?.ok) return; // a native tfjs-node wins before webgpu
    assert.equal(got.backend, 'wasm');
    const webgpu = got.attempts.find((a) => a.backend === 'webgpu');
    assert.ok(webgpu && !webgpu.ok, 'webgpu was considered');
    assert.match(webgpu.reason!, /opt-in \(DYTLAB_BACKEND=webgpu\)/);
    assert.equal(got.gpu, undefined);
  });
});
