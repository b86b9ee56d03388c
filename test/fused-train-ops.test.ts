// Fused training ops (src/engine/ops/train-ops.ts, kernels in
// assembly/simd-train.ts) on wasm + SIMD: GELU (tanh and exact), cross-entropy
// with log-softmax, AdamW over a table of parameters, the sum of squares.
// Each is checked against a float64 implementation written here and against
// the composed tfjs path; AdamW also for buffer safety (stale XNNPACK weights,
// shared buffers, checkpoints) and leaks. A child process repeats the checks
// on the shared-memory module (DYTLAB_WASM_THREADS=2).
//
// Run: node scripts/build-ops.mjs && node --import tsx --test test/fused-train-ops.test.ts
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { initBackend, tf } from '../src/index.js';
import type { Tensor, Variable } from '../src/engine/tf.js';
import * as fs from 'node:fs';
import { kernelsWasmPath, simdKernels } from '../src/engine/ops/simd.js';
import {
  adamwUpdate, biasGeluOp, crossEntropyOp, geluOp, setTrainOpsImpl, sumOfSquares, trainOpsUnavailable, TRAIN_KERNEL_NAMES,
} from '../src/engine/ops/train-ops.js';
import type { AdamWEntry, GeluForm } from '../src/engine/ops/train-ops.js';
import { AdamW } from '../src/train/adamw.js';
import { crossEntropy } from '../src/train/tasks.js';
import { createLM } from '../src/models/llama.js';
import { createViT } from '../src/models/vit.js';
import { runWithHooks } from '../src/hooks/hooks.js';
import { normals } from './support/numeric.js';

const CHILD = process.env.DYTLAB_TRAIN_OPS_CHILD === '1';

// ---------------------------------------------------------------------------
// float64 references, written independently of the library.

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** erf by its Taylor series (|x| < 2: absolute error < 1e-15). */
function erfSeries(x: number): number {
  let term = x, sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x * x / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return sum * 2 / Math.sqrt(Math.PI);
}

/** erfc(a) for a >= 0: 1 - erf below 2, else its continued fraction e^(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))). */
function erfc64(a: number): number {
  if (a < 2) return 1 - erfSeries(a);
  let f = a;
  for (let n = 80; n >= 1; n--) f = a + (n / 2) / f;
  return Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
}

/** Phi(x) = 0.5 erfc(-x / sqrt 2), without cancellation in either tail. */
const phi64 = (x: number): number => (x < 0 ? 0.5 * erfc64(-x / Math.SQRT2) : 1 - 0.5 * erfc64(x / Math.SQRT2));

// tanh form: 0.5 (1 + tanh(u)) = sigmoid(2u) and 0.5 (1 - tanh(u)^2) = 2 sigmoid(2u) (1 - sigmoid(2u))
// (identities; this form keeps float64 accurate in the negative tail, where 1 + tanh(u) cancels).
const sig2u = (x: number): number => 1 / (1 + Math.exp(-2 * SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)));
const geluRef: Record<GeluForm, { f(x: number): number; d(x: number): number }> = {
  tanh: {
    f: (x) => x * sig2u(x),
    d: (x) => {
      const s = sig2u(x);
      return s + x * 2 * s * (1 - s) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    },
  },
  exact: {
    f: (x) => x * phi64(x),
    d: (x) => phi64(x) + x * Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI),
  },
};

/** Mean cross-entropy and its gradient (dy = 1) in float64; rows with a target outside [0, V) add 0. */
function crossEntropyRef(x: ArrayLike<number>, t: ArrayLike<number>, V: number): { loss: number; grad: Float64Array } {
  const rows = t.length;
  const grad = new Float64Array(rows * V);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, x[r * V + j]!);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(x[r * V + j]! - m);
    const lse = m + Math.log(s);
    const target = Math.trunc(t[r]!);
    if (target < 0 || target >= V) continue;
    total += lse - x[r * V + target]!;
    for (let j = 0; j < V; j++) grad[r * V + j] = (Math.exp(x[r * V + j]! - lse) - (j === target ? 1 : 0)) / rows;
  }
  return { loss: total / rows, grad };
}

interface AdamRefState { p: Float64Array; m: Float64Array; v: Float64Array }

/** One AdamW step in float64 (decoupled decay on `decay`). */
function adamwRef(s: AdamRefState, g: ArrayLike<number>, o: { b1: number; b2: number; eps: number; lr: number; wd: number; step: number; decay: boolean }): void {
  const c1 = 1 - o.b1 ** o.step, c2 = 1 - o.b2 ** o.step;
  for (let i = 0; i < s.p.length; i++) {
    s.m[i] = o.b1 * s.m[i]! + (1 - o.b1) * g[i]!;
    s.v[i] = o.b2 * s.v[i]! + (1 - o.b2) * g[i]! * g[i]!;
    const u = (s.m[i]! / c1) / (Math.sqrt(s.v[i]! / c2) + o.eps);
    s.p[i] = (o.decay ? s.p[i]! * (1 - o.lr * o.wd) : s.p[i]!) - o.lr * u;
  }
}

// ---------------------------------------------------------------------------
// Helpers.

const f32 = (n: number, seed: number, scale = 1, shift = 0): Float32Array => Float32Array.from(normals(n, seed, scale), (v) => v + shift);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!);
    if (!(e <= d)) d = Number.isNaN(e) ? Infinity : e;
  }
  return d;
}

/** max |a - b| / (atol + |b|): a relative error that tolerates values near 0. */
function scaledErr(a: ArrayLike<number>, b: ArrayLike<number>, atol: number): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!) / (atol + Math.abs(b[i]!));
    if (!(e <= d)) d = Number.isNaN(e) ? Infinity : e;
  }
  return d;
}

/** max |a - b| over max |b|: float32 rounding of values whose terms cancel is relative to the tensor's scale. */
function errVsScale(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s = Math.max(s, Math.abs(b[i]!));
  return maxAbsDiff(a, b) / (s || 1);
}

/** Value and gradient of sum(op(x) * dy). */
function valueAndGrad(op: (x: Tensor) => Tensor, x: Tensor, dy: Tensor): [Float32Array, Float32Array] {
  const [y, dx] = tf.tidy(() => [op(x), tf.grad((x: Tensor) => op(x))(x, dy)]);
  const out: [Float32Array, Float32Array] = [y!.dataSync() as Float32Array, dx!.dataSync() as Float32Array];
  tf.dispose([y!, dx!]);
  return out;
}

function read(t: Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

// ---------------------------------------------------------------------------
// The checks (also run by the child on the shared-memory module).

function checkGelu(): void {
  // The float64 references themselves: derivative vs central differences, the two forms close to each other.
  for (const form of ['tanh', 'exact'] as const) {
    for (const x of [-5, -2, -0.75, -0.1, 0, 0.3, 1, 3]) {
      const h = 1e-5, fd = (geluRef[form].f(x + h) - geluRef[form].f(x - h)) / (2 * h);
      assert.ok(Math.abs(fd - geluRef[form].d(x)) < 1e-8, `reference gelu ${form}'(${x})`);
    }
  }
  assert.ok(Math.abs(geluRef.tanh.f(1) - geluRef.exact.f(1)) < 1e-3 && Math.abs(erfc64(2.5) - 4.069520174449590e-4) < 1e-16, 'reference erfc');
  for (const form of ['tanh', 'exact'] as const) {
    for (const shape of [[7], [3, 5, 13], [64, 100]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const xs = f32(n, 11 + n, 2.5);
      xs[0] = 9; xs[1 % n] = -9; if (n > 2) xs[2] = 1e-4;
      const x = tf.tensor(xs, shape), dy = tf.tensor(f32(n, 12 + n, 1, 0.3), shape);
      const [yf, gf] = valueAndGrad((t) => geluOp(t, form, 'fused'), x, dy);
      const [yc, gc] = valueAndGrad((t) => geluOp(t, form, 'composed'), x, dy);
      const dys = read(dy);
      const yr = Float64Array.from(xs, (v) => geluRef[form].f(v));
      const gr = Float64Array.from(xs, (v, i) => geluRef[form].d(v) * dys[i]!);
      const ctx = `gelu ${form} [${shape}]`;
      // Relative accuracy everywhere, the far negative tail included (|x| = 9: y ~ 1e-28 / 1e-18).
      assert.ok(scaledErr(yf, yr, 1e-37) < 1e-5, `${ctx}: forward vs float64: ${scaledErr(yf, yr, 1e-37)}`);
      // The derivative crosses 0 near x = -0.75: errors relative to |dy| (0.01 + |gelu'(x)|).
      let gErr = 0;
      for (let i = 0; i < n; i++) gErr = Math.max(gErr, Math.abs(gf[i]! - gr[i]!) / (Math.abs(dys[i]!) * (0.01 + Math.abs(geluRef[form].d(xs[i]!)))));
      assert.ok(gErr < 3e-5, `${ctx}: gradient vs float64: ${gErr}`);
      assert.ok(maxAbsDiff(yf, yc) < 5e-6, `${ctx}: fused vs composed forward: ${maxAbsDiff(yf, yc)}`);
      assert.ok(maxAbsDiff(gf, gc) < 3e-5, `${ctx}: fused vs composed gradient: ${maxAbsDiff(gf, gc)}`);
      tf.dispose([x, dy]);
    }
  }
}

function checkBiasGelu(): void {
  for (const form of ['tanh', 'exact'] as const) {
    for (const [rows, C] of [[3, 13], [33, 8], [20, 64], [1, 3]] as const) {
      const xs = f32(rows * C, 40 + C, 2), bs = f32(C, 41 + C, 0.5), dys = f32(rows * C, 42 + C, 1, 0.2);
      const x = tf.tensor2d(xs, [rows, C]), b = tf.tensor1d(bs), dy = tf.tensor2d(dys, [rows, C]);
      const run = (impl: 'fused' | 'composed') => {
        const out = tf.tidy(() => {
          const f = (x: Tensor, b: Tensor) => biasGeluOp(x, b, form, impl);
          return [f(x, b), ...tf.grads(f)([x, b], dy)];
        });
        const arrays = out.map(read);
        tf.dispose(out);
        return arrays;
      };
      const [yf, dxf, dbf] = run('fused'), [yc, dxc, dbc] = run('composed');
      const yr = new Float64Array(rows * C), dxr = new Float64Array(rows * C), dbr = new Float64Array(C);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < C; c++) {
          const u = xs[r * C + c]! + bs[c]!;
          yr[r * C + c] = geluRef[form].f(u);
          dxr[r * C + c] = dys[r * C + c]! * geluRef[form].d(u);
          dbr[c]! += dxr[r * C + c]!;
        }
      }
      const ctx = `biasGelu ${form} [${rows}, ${C}]`;
      assert.ok(errVsScale(yf!, yr) < 3e-6, `${ctx}: y vs float64: ${errVsScale(yf!, yr)}`);
      assert.ok(errVsScale(dxf!, dxr) < 3e-6, `${ctx}: dx vs float64: ${errVsScale(dxf!, dxr)}`);
      assert.ok(errVsScale(dbf!, dbr) < 3e-6, `${ctx}: dbias vs float64: ${errVsScale(dbf!, dbr)}`);
      assert.ok(errVsScale(yf!, yc!) < 5e-6 && errVsScale(dxf!, dxc!) < 3e-5 && errVsScale(dbf!, dbc!) < 3e-5, `${ctx}: fused vs composed`);
      tf.dispose([x, b, dy]);
    }
  }
}

function checkCrossEntropy(): void {
  for (const [shape, V] of [[[4, 16], 96], [[37], 13], [[5], 3], [[2, 3], 2]] as [number[], number][]) {
    const rows = shape.reduce((a, b) => a * b, 1);
    const xs = f32(rows * V, 21 + V, 3, 0.5);
    xs[0] = 40; // a large logit (the log-sum-exp must be stable)
    const tsArr = Int32Array.from({ length: rows }, (_, i) => (i * 7 + 3) % V);
    if (rows > 3) tsArr[3] = -1; // outside [0, V): adds 0, counts in the mean
    const logits = tf.tensor(xs, [...shape, V]), targets = tf.tensor(tsArr, shape, 'int32');
    const ref = crossEntropyRef(xs, tsArr, V);
    const ctx = `crossEntropy [${shape}, ${V}]`;
    for (const impl of ['fused', 'composed'] as const) {
      const { value, grads } = tf.tidy(() => {
        const { value, grad } = tf.valueAndGrad((l: Tensor) => crossEntropyOp(l, targets, impl))(logits);
        return { value, grads: grad };
      });
      const loss = value.dataSync()[0]!, g = read(grads);
      assert.ok(Math.abs(loss - ref.loss) <= 2e-6 * Math.max(1, ref.loss), `${ctx} ${impl}: loss ${loss} vs float64 ${ref.loss}`);
      assert.ok(maxAbsDiff(g, ref.grad) < 2e-7 * Math.max(1, 16 / rows), `${ctx} ${impl}: gradient vs float64: ${maxAbsDiff(g, ref.grad)}`);
      tf.dispose([value, grads]);
    }
    // Float targets are cast like the composed path's toInt().
    const ft = targets.toFloat();
    const a = tf.tidy(() => crossEntropyOp(logits, ft, 'fused').dataSync()[0]!);
    const b = tf.tidy(() => crossEntropyOp(logits, ft, 'composed').dataSync()[0]!);
    assert.ok(Math.abs(a - b) <= 2e-6 * Math.max(1, b), `${ctx}: float targets ${a} vs ${b}`);
    tf.dispose([logits, targets, ft]);
  }
  // A non-finite logit gives NaN, as composed (the divergence check relies on it).
  const bad = tf.tensor2d([[0, NaN, 1], [0, 1, 2]]), t = tf.tensor1d([0, 1], 'int32');
  assert.ok(Number.isNaN(tf.tidy(() => crossEntropyOp(bad, t, 'fused').dataSync()[0]!)), 'NaN logit -> NaN loss');
  assert.ok(Number.isNaN(tf.tidy(() => crossEntropyOp(bad, t, 'composed').dataSync()[0]!)), 'composed agrees');
  tf.dispose([bad, t]);
}

const ADAM = { b1: 0.9, b2: 0.95, eps: 1e-8, wd: 0.1 };

interface AdamCase { shapes: number[][]; decay: boolean[] }
const ADAM_CASE: AdamCase = { shapes: [[16, 24], [24], [5, 3], [1], [130]], decay: [true, false, true, false, false] };

function makeParams(c: AdamCase, seed: number): { params: Variable[]; m: Variable[]; v: Variable[] } {
  const params = c.shapes.map((s, i) => tf.variable(tf.tensor(f32(s.reduce((a, b) => a * b, 1), seed + i), s)));
  const zeros = (s: number[]) => tf.variable(tf.zeros(s), false);
  return { params, m: c.shapes.map(zeros), v: c.shapes.map(zeros) };
}

/** Runs `steps` AdamW steps on both paths and the float64 reference; compares every parameter and moment after each step. */
function checkAdamW(steps = 4): void {
  const fused = makeParams(ADAM_CASE, 100), composed = makeParams(ADAM_CASE, 100);
  const ref: AdamRefState[] = fused.params.map((p) => ({ p: Float64Array.from(read(p)), m: new Float64Array(p.size), v: new Float64Array(p.size) }));
  for (let step = 1; step <= steps; step++) {
    const lr = 0.01 * step;
    const grads = ADAM_CASE.shapes.map((s, i) => tf.tensor(f32(s.reduce((a, b) => a * b, 1), 1000 * step + i, 0.5, 0.05), s));
    const entries = (w: typeof fused): AdamWEntry[] => w.params.map((p, i) => ({ param: p, grad: grads[i]!, m: w.m[i]!, v: w.v[i]!, decay: ADAM_CASE.decay[i]! }));
    const h = { beta1: ADAM.b1, beta2: ADAM.b2, eps: ADAM.eps, lr, weightDecay: ADAM.wd, step };
    adamwUpdate(entries(fused), h, 'fused');
    adamwUpdate(entries(composed), h, 'composed');
    ref.forEach((r, i) => adamwRef(r, read(grads[i]!), { ...ADAM, lr, step, decay: ADAM_CASE.decay[i]! }));
    for (let i = 0; i < ADAM_CASE.shapes.length; i++) {
      for (const [label, f, c, r, tol] of [
        ['param', fused.params[i]!, composed.params[i]!, ref[i]!.p, 2e-6],
        ['m', fused.m[i]!, composed.m[i]!, ref[i]!.m, 2e-6],
        ['v', fused.v[i]!, composed.v[i]!, ref[i]!.v, 2e-6],
      ] as const) {
        const fv = read(f), cv = read(c);
        const ctx = `AdamW step ${step}, tensor ${i} [${ADAM_CASE.shapes[i]}] ${label}`;
        assert.ok(errVsScale(fv, r) < tol, `${ctx}: fused vs float64: ${errVsScale(fv, r)}`);
        // The same float32 operations in the same order: the same numbers.
        assert.equal(maxAbsDiff(fv, cv), 0, `${ctx}: fused and composed differ by ${maxAbsDiff(fv, cv)}`);
      }
    }
    tf.dispose(grads);
  }
  tf.dispose([...fused.params, ...fused.m, ...fused.v, ...composed.params, ...composed.m, ...composed.v]);
}

function checkSumOfSquares(): void {
  const arrays = [f32(1000, 1), f32(3, 2), f32(4097 * 3 + 1, 3, 2), f32(1, 4)];
  const ts = arrays.map((a) => tf.tensor(a));
  let ref = 0;
  for (const a of arrays) for (const v of a) ref += v * v;
  const fused = sumOfSquares(ts, 'fused'), composed = sumOfSquares(ts, 'composed');
  assert.ok(Math.abs(fused - ref) < 1e-6 * ref, `sumOfSquares fused ${fused} vs float64 ${ref}`);
  assert.ok(Math.abs(composed - ref) < 1e-5 * ref, `sumOfSquares composed ${composed} vs float64 ${ref}`);
  tf.dispose(ts);
}

// ---------------------------------------------------------------------------
// Child mode: the same checks on the shared-memory module, one JSON line out.

if (CHILD) {
  void (async () => {
    const result: Record<string, unknown> = {};
    try {
      await initBackend('wasm');
      const k = simdKernels();
      result.backend = tf.getBackend();
      result.shared = k?.shared ?? null;
      result.unavailable = trainOpsUnavailable() ?? null;
      checkGelu();
      checkBiasGelu();
      checkCrossEntropy();
      checkAdamW(3);
      checkSumOfSquares();
      result.ok = true;
    } catch (err) {
      result.error = err instanceof Error ? `${err.message}\n${err.stack}` : String(err);
    }
    console.log(`@@train-ops ${JSON.stringify(result)}`);
  })();
} else {
  describe('fused training ops on wasm + SIMD', () => {
    before(async () => {
      await initBackend('wasm');
    });

    test('the SIMD module is loaded and the fused training ops are chosen automatically', () => {
      assert.equal(tf.getBackend(), 'wasm');
      assert.equal(trainOpsUnavailable(), undefined, `fused training ops unavailable: ${trainOpsUnavailable()}`);
      const x = tf.tensor1d([0.5, -1]);
      const y = geluOp(x); // auto: must register and run the kernel
      assert.ok(tf.getKernel(TRAIN_KERNEL_NAMES.gelu, 'wasm'), 'the GELU kernel is registered on wasm');
      tf.dispose([x, y]);
    });

    test('GELU (tanh and exact): value and gradient vs float64, fused vs composed', () => checkGelu());

    test('bias + GELU: value, dx and dbias vs float64, fused vs composed', () => checkBiasGelu());

    test('an MLP with a bias folds it into the GELU kernels: same output and gradients as composed; hooks keep the plain path', async () => {
      const vit = createViT({ imageSize: 8, channels: 1, classes: 3, dModel: 16, nLayers: 1, nHeads: 2, patchSize: 4, seed: 5 });
      const images = tf.tensor4d(f32(2 * 64, 77), [2, 8, 8, 1]);
      const vars = vit.namedParameters().filter((p) => p.trainable).map((p) => p.variable);
      const run = (impl: 'auto' | 'composed') => {
        setTrainOpsImpl(impl);
        try {
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(vit.apply(images))) as tf.Scalar, vars);
          const out = [value.dataSync()[0]!, ...vars.map((v) => read(grads[v.name]!))];
          tf.dispose([value, ...Object.values(grads)]);
          return out as [number, ...Float32Array[]];
        } finally {
          setTrainOpsImpl('auto');
        }
      };
      const profile = await tf.profile(() => vit.apply(images));
      assert.ok(profile.kernelNames.includes(TRAIN_KERNEL_NAMES.biasGelu), `the MLP ran ${profile.kernelNames.join(', ')}`);
      const [lf, ...gf] = run('auto'), [lc, ...gc] = run('composed');
      assert.ok(Math.abs(lf - lc) <= 1e-5 * Math.abs(lc), `loss fused ${lf} vs composed ${lc}`);
      gf.forEach((g, i) => assert.ok(errVsScale(g, gc[i]!) < 1e-4, `${vars[i]!.name}: gradient fused vs composed ${errVsScale(g, gc[i]!)}`));
      // Under a forward scope the MLP takes fc.apply + activation (the hook point sees the same hidden activation).
      const a = runWithHooks(vit, images, { 'blocks.0.mlp.hidden': () => undefined });
      const b = vit.apply(images);
      assert.ok(errVsScale(read(a), read(b)) < 1e-5);
      tf.dispose([a, b, images]);
      vit.dispose();
    });

    test('cross-entropy: loss and gradient vs float64 (stable, ignored targets, any rank), NaN propagation', () => checkCrossEntropy());

    test('AdamW: every parameter and moment vs float64 over steps, bit-identical to the composed path', () => checkAdamW());

    test('sum of squares over many tensors vs float64', () => checkSumOfSquares());

    test('AdamW writes parameters tfjs reads afresh: the next matMul (XNNPACK caches packed weights) sees the update', () => {
      const w = tf.variable(tf.tensor2d(f32(32 * 16, 5), [32, 16]));
      const x = tf.tensor2d(f32(8 * 32, 6), [8, 32]);
      const m = tf.variable(tf.zerosLike(w), false), v = tf.variable(tf.zerosLike(w), false);
      tf.dispose(tf.matMul(x, w)); // packs w into XNNPACK's operator cache
      const g = tf.onesLike(w);
      adamwUpdate([{ param: w, grad: g, m, v, decay: false }], { beta1: 0.9, beta2: 0.99, eps: 1e-8, lr: 0.1, weightDecay: 0, step: 1 }, 'fused');
      const wNew = read(w), xs = read(x), y = read(tf.matMul(x, w));
      const want = new Float64Array(8 * 16);
      for (let i = 0; i < 8; i++) for (let j = 0; j < 16; j++) for (let k = 0; k < 32; k++) want[i * 16 + j]! += xs[i * 32 + k]! * wNew[k * 16 + j]!;
      assert.ok(maxAbsDiff(y, want) < 1e-4, `matMul after the update reads stale weights: ${maxAbsDiff(y, want)}`);
      tf.dispose([w, x, m, v, g]);
    });

    test('AdamW never changes a tensor that shares a buffer with a parameter or moment (clones, restored checkpoints)', () => {
      const w = tf.variable(tf.tensor1d([1, 2, 3, 4, 5]));
      const src = tf.tensor1d([0.1, 0.2, 0.3, 0.4, 0.5]);
      const m = tf.variable(tf.zerosLike(w), false), v = tf.variable(tf.zerosLike(w), false);
      m.assign(src); // m now shares src's buffer, as AdamW.restore leaves it
      v.assign(src);
      const wClone = tf.clone(w), mClone = tf.clone(m); // buffer-sharing clones on wasm
      const g = tf.tensor1d([1, -1, 1, -1, 1]);
      adamwUpdate([{ param: w, grad: g, m, v, decay: false }], { beta1: 0.9, beta2: 0.99, eps: 1e-8, lr: 0.1, weightDecay: 0, step: 1 }, 'fused');
      assert.deepEqual(Array.from(read(src)), Array.from(Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5])), 'the restored source tensor is unchanged');
      assert.deepEqual(Array.from(read(mClone)), Array.from(read(src)), 'a clone of m is unchanged');
      assert.deepEqual(Array.from(read(wClone)), [1, 2, 3, 4, 5], 'a clone of the parameter is unchanged');
      const mExp = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5], (x, i) => Math.fround(Math.fround(x * 0.9) + Math.fround([1, -1, 1, -1, 1][i]! * Math.fround(0.1))));
      assert.ok(maxAbsDiff(read(m), mExp) < 1e-7, 'm got its update');
      tf.dispose([w, src, m, v, wClone, mClone, g]);
    });

    test('AdamW class: fused and composed train an LM identically; state()/restore() round-trips; no leaks', () => {
      const cfg = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
      const make = () => createLM({ vocabSize: 11, context: 8, dModel: 16, nLayers: 1, nHeads: 2, mlp: 'gelu', seed: 3 });
      const lmF = make(), lmC = make();
      const optF = new AdamW(lmF.namedParameters(), cfg), optC = new AdamW(lmC.namedParameters(), cfg);
      optC.impl = 'composed';
      const ids = tf.tensor2d(Int32Array.from({ length: 16 }, (_, i) => (i * 5) % 11), [2, 8], 'int32');
      const tgt = tf.tensor2d(Int32Array.from({ length: 16 }, (_, i) => (i * 3 + 1) % 11), [2, 8], 'int32');
      const step = (lm: ReturnType<typeof make>, opt: AdamW) => {
        const params = lm.namedParameters().filter((p) => p.trainable);
        const { value, grads } = tf.variableGrads(() => crossEntropy(lm.apply(ids), tgt), params.map((p) => p.variable));
        const byName = new Map(params.map((p) => [p.name, grads[p.variable.name]!] as [string, Tensor]));
        opt.apply(byName, 3e-3);
        const loss = value.dataSync()[0]!;
        tf.dispose([value, ...Object.values(grads)]);
        return loss;
      };
      step(lmF, optF); step(lmC, optC); // warm-up (kernel registration, caches)
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        step(lmF, optF);
        step(lmC, optC);
      }
      assert.equal(tf.memory().numTensors, before, 'no tensors leak across fused steps');
      const pf = lmF.namedParameters(), pc = lmC.namedParameters();
      // Both models run the same forward and backward ops; only the optimizer's path differs, and it gives the same bits.
      for (let i = 0; i < pf.length; i++) {
        const d = maxAbsDiff(read(pf[i]!.variable), read(pc[i]!.variable));
        assert.equal(d, 0, `${pf[i]!.name}: fused vs composed AdamW training differ by ${d}`);
      }
      // Checkpoint: restore a fresh optimizer from the state; one more step on each agrees.
      const state = optF.state();
      const saved = Object.fromEntries(Object.entries(state).map(([k, t]) => [k, tf.clone(t)]));
      const savedCopy = Object.fromEntries(Object.entries(saved).map(([k, t]) => [k, Array.from(read(t))]));
      const opt2 = new AdamW(lmF.namedParameters(), cfg);
      opt2.restore(optF.step, saved);
      const pBefore = pf.map((p) => Array.from(read(p.variable)));
      step(lmF, opt2);
      const viaRestore = pf.map((p) => Array.from(read(p.variable)));
      pf.forEach((p, i) => p.variable.assign(tf.tensor(pBefore[i]!, p.variable.shape)));
      step(lmF, optF);
      pf.forEach((p, i) => assert.deepEqual(Array.from(read(p.variable)), viaRestore[i], `${p.name}: restored optimizer steps like the original`));
      for (const [k, t] of Object.entries(saved)) assert.deepEqual(Array.from(read(t)), savedCopy[k], `checkpoint tensor ${k} unchanged by steps`);
      tf.dispose([ids, tgt, ...Object.values(saved)]);
      for (const o of [optF, optC, opt2]) o.dispose();
      lmF.dispose(); lmC.dispose();
    });

    test('the training kernels write only their outputs, and all of them (guarded memory, ragged sizes)', () => {
      for (const shared of [false, true]) {
        const file = kernelsWasmPath(shared)!;
        assert.ok(fs.existsSync(file), `${file} missing`);
        const memory = shared ? new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true }) : new WebAssembly.Memory({ initial: 16 });
        const k = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)), { env: { memory } }).exports as Record<string, (...a: number[]) => void>;
        const u32 = new Uint32Array(memory.buffer), f32v = new Float32Array(memory.buffer), i32 = new Int32Array(memory.buffer);
        const SENTINEL = 0x7fc0beef;
        const guarded = (label: string, specs: [string, number, 'in' | 'out' | 'inout' | 'int'][], call: (p: Record<string, number>) => void, setup?: (p: Record<string, number>) => void) => {
          u32.fill(SENTINEL);
          let at = 68;
          const p: Record<string, number> = {}, outs: [number, number][] = [];
          for (const [name, n, role] of specs) {
            p[name] = at;
            if (role === 'int') for (let i = 0; i < n; i++) i32[at / 4 + i] = (i * 5) % 7 - 1; // includes -1: an ignored row
            else if (role !== 'out') f32v.set(f32(n, at, 1), at / 4);
            if (role === 'out' || role === 'inout') outs.push([at, at + 4 * n]);
            at += 4 * n + 64;
          }
          setup?.(p);
          const snap = u32.slice(0, at / 4 + 16);
          call(p);
          for (let i = 0; i < snap.length; i++) {
            if (u32[i] !== snap[i]) assert.ok(outs.some(([a, b]) => i * 4 >= a && i * 4 < b), `${label}: wrote byte ${i * 4} outside its outputs`);
          }
          for (const [a, b] of outs) for (let o = a; o < b; o += 4) assert.notEqual(u32[o / 4], SENTINEL, `${label}: output byte ${o} unwritten`);
        };
        for (const [rows, C] of [[1, 1], [3, 5], [17, 13], [2, 8]] as const) {
          const n = rows * C, tag = `${shared ? 'shared ' : ''}rows=${rows} C=${C}`;
          for (const fn of ['gelu_fwd', 'gelu_exact_fwd']) guarded(`${fn} ${tag}`, [['x', n, 'in'], ['y', n, 'out']], (p) => k[fn]!(p.x!, p.y!, n));
          for (const fn of ['gelu_bwd', 'gelu_exact_bwd']) guarded(`${fn} ${tag}`, [['x', n, 'in'], ['dy', n, 'in'], ['dx', n, 'out']], (p) => k[fn]!(p.x!, p.dy!, p.dx!, n));
          for (const fn of ['bias_gelu_fwd', 'bias_gelu_exact_fwd']) guarded(`${fn} ${tag}`, [['x', n, 'in'], ['b', C, 'in'], ['y', n, 'out']], (p) => k[fn]!(p.x!, p.b!, p.y!, rows, C));
          for (const fn of ['bias_gelu_bwd', 'bias_gelu_exact_bwd']) {
            guarded(`${fn} ${tag}`, [['x', n, 'in'], ['b', C, 'in'], ['dy', n, 'in'], ['dx', n, 'out'], ['db', C, 'out'], ['s', 2 * C, 'out']],
              (p) => k[fn]!(p.x!, p.b!, p.dy!, p.dx!, p.db!, rows, C, p.s!));
          }
          guarded(`xent_fwd ${tag}`, [['x', n, 'in'], ['t', rows, 'int'], ['lse', rows, 'out'], ['out', 1, 'out']], (p) => k.xent_fwd!(p.x!, p.t!, rows, C, p.lse!, p.out!));
          guarded(`xent_bwd ${tag}`, [['x', n, 'in'], ['t', rows, 'int'], ['lse', rows, 'in'], ['dy', 1, 'in'], ['dx', n, 'out']],
            (p) => k.xent_bwd!(p.x!, p.t!, p.lse!, p.dy!, rows, C, p.dx!));
          // AdamW: two entries of n and C floats, parameters into fresh outputs, m and v in place.
          guarded(`adamw_multi ${tag}`, [['p0', n, 'in'], ['o0', n, 'out'], ['g0', n, 'in'], ['m0', n, 'inout'], ['v0', n, 'inout'],
            ['p1', C, 'in'], ['o1', C, 'out'], ['g1', C, 'in'], ['m1', C, 'inout'], ['v1', C, 'inout'], ['table', 14, 'in']],
          (p) => k.adamw_multi!(p.table!, 2, 0.9, 0.1, 0.95, 0.05, 0.1, 0.05, 1e-8, 1e-3, 0.9999, 1), (p) => {
            i32.set([p.p0!, p.o0!, p.g0!, p.m0!, p.v0!, n, 1, p.p1!, p.o1!, p.g1!, p.m1!, p.v1!, C, 0], p.table! / 4);
            for (const v of [p.v0!, p.v1!]) f32v.set(f32v.subarray(v / 4, v / 4 + (v === p.v0 ? n : C)).map(Math.abs), v / 4);
          });
          guarded(`sumsq_multi ${tag}`, [['x', n, 'in'], ['y', C, 'in'], ['table', 4, 'in'], ['out', 2, 'out']],
            (p) => k.sumsq_multi!(p.table!, 2, p.out!), (p) => i32.set([p.x!, n, p.y!, C], p.table! / 4));
        }
      }
    });

    test('same inputs, same bits (no nondeterministic reductions)', () => {
      const x = tf.tensor2d(f32(64 * 96, 9, 2), [64, 96]);
      const t = tf.tensor1d(Int32Array.from({ length: 64 }, (_, i) => i % 96), 'int32');
      const run = () => tf.tidy(() => {
        const { value, grad } = tf.valueAndGrad((l: Tensor) => crossEntropyOp(l, t, 'fused'))(x);
        return [value.dataSync()[0]!, ...read(grad).slice(0, 200), ...read(geluOp(x, 'tanh', 'fused')).slice(0, 200)];
      });
      assert.deepEqual(run(), run());
      tf.dispose([x, t]);
    });

    test('shared-memory module (DYTLAB_WASM_THREADS=2, child process): the same checks pass', () => {
      const env: NodeJS.ProcessEnv = { ...process.env, DYTLAB_TRAIN_OPS_CHILD: '1', DYTLAB_WASM_THREADS: '2' };
      const r = spawnSync(process.execPath, ['--import', 'tsx', __filename], { cwd: join(__dirname, '..'), env, encoding: 'utf8', timeout: 180_000 });
      const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('@@train-ops '));
      assert.ok(line, `child printed no result (status ${r.status}, signal ${r.signal}):\n${r.stderr}`);
      const res = JSON.parse(line.slice('@@train-ops '.length)) as { ok?: boolean; error?: string; shared: boolean | null; unavailable: string | null };
      assert.equal(res.error, undefined, `child failed: ${res.error}`);
      assert.equal(res.unavailable, null);
      assert.equal(res.shared, true, 'the child ran on the shared-memory module (ops-shared.wasm)');
      assert.equal(res.ok, true);
    });
  });

  describe('fused training ops elsewhere', () => {
    test('on cpu, auto runs the composed ops; fused says why it cannot', async () => {
      const prev = tf.getBackend();
      await tf.setBackend('cpu');
      try {
        assert.match(trainOpsUnavailable() ?? '', /wasm backend only/);
        const x = tf.tensor1d([0.5, -1, 2]);
        assert.ok(maxAbsDiff(read(geluOp(x)), [0.5, -1, 2].map(geluRef.tanh.f)) < 1e-6);
        assert.throws(() => geluOp(x, 'tanh', 'fused'), /impl 'fused' requested/);
        tf.dispose(x);
      } finally {
        await tf.setBackend(prev);
      }
    });
  });
}
