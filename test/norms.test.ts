// The normalization family through its public factory: values at init, gradients
// against float64 finite differences, for every member, on cpu and wasm, fused and
// composed; and the errors bad specs get.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createNorm, fusedKernelStatus, initBackend, tf, SQUASH_SHAPES, type NormLayer, type NormSpec } from '../src/index.js';
import { centralDiff, maxRelErr, normals } from './support/numeric.js';
import { SQUASH } from '../src/engine/squash-shapes.js';

// ---- float64 references: the shape table's float64 values (engine/squash-shapes.ts, held to hand values in squash-shapes.test.ts), not the fused ops ----
interface P64 { alpha: Float64Array; s: Float64Array; gamma: Float64Array; beta: Float64Array }
function squash64(x: Float64Array, C: number, p: P64, f: (u: number) => number): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    const a = p.alpha.length === 1 ? p.alpha[0]! : p.alpha[c]!;
    const s = p.s.length === 1 ? p.s[0]! : p.s[c]!;
    y[i] = p.gamma[c]! * f(a * x[i]! + s) + p.beta[c]!;
  }
  return y;
}
function layerNorm64(x: Float64Array, C: number, gamma: Float64Array, beta: Float64Array, eps: number, rms: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c]!;
    mean = rms ? 0 : mean / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = gamma[c]! * (x[r * C + c]! - mean) * rstd + (rms ? 0 : beta[c]!);
  }
  return y;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

const f32 = (a: Float64Array) => Float32Array.from(a);
const param = (layer: NormLayer, name: string) => layer.namedParameters().find((p) => p.name === name);

/** Set every parameter to a seeded random value away from its init, so gradients are generic. */
function randomizeParams(layer: NormLayer, seed: number): void {
  let k = 0;
  for (const p of layer.namedParameters()) {
    const n = p.variable.size;
    const base = p.name === 'gamma' ? 1 : p.name === 'alpha' ? 0.7 : 0;
    const v = normals(n, seed + 17 * k++, 0.3).map((z) => base + z);
    p.variable.assign(tf.tensor(f32(v), p.variable.shape));
  }
}

function params64(layer: NormLayer, C: number, perChannel: boolean): P64 {
  const get = (name: string, fill: number, n: number) => {
    const p = param(layer, name);
    return p ? Float64Array.from(p.variable.dataSync()) : new Float64Array(n).fill(fill);
  };
  const a = perChannel ? C : 1;
  return { alpha: get('alpha', 1, a), s: get('shift', 0, a), gamma: get('gamma', 1, C), beta: get('beta', 0, C) };
}

/** The layer's loss L = sum(w * y) and its gradients for x and every trainable parameter. */
function tfGrads(layer: NormLayer, x: Float64Array, shape: number[], w: Float64Array) {
  const xv = tf.variable(tf.tensor(f32(x), shape));
  const vars = layer.namedParameters().filter((p) => p.trainable);
  const wt = tf.tensor(f32(w), shape);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xv), wt)) as tf.Scalar, [xv, ...vars.map((p) => p.variable)]);
  const out: Record<string, Float32Array> = { x: grads[xv.name]!.dataSync() as Float32Array };
  for (const p of vars) out[p.name] = grads[p.variable.name]!.dataSync() as Float32Array;
  tf.dispose([xv, wt, ...Object.values(grads)]);
  return out;
}

const GRAD_TOL = 2e-4;

for (const backend of ['cpu', 'wasm'] as const) {
  for (const impl of ['auto', 'composed'] as const) {
    describe(`normalization family on ${backend} (${impl === 'auto' ? 'fused kernels' : 'composed ops'})`, () => {
      before(async () => {
        await initBackend(backend);
        if (impl === 'auto') {
          // 'auto' must really mean the fused kernels here, or this suite tests the composed path twice.
          const k = fusedKernelStatus();
          assert.ok(k && k.registered.includes('DytlabSquash'), `no fused kernels on ${backend}: ${k?.reason}`);
          if (backend === 'wasm') assert.equal(k.simd, true, `wasm kernels are not SIMD: ${k.reason}`);
        }
      });

      test(`createNorm({kind: 'dyt'}) at init is tanh(0.5 x) with gamma 1, beta 0`, () => {
        const C = 13, shape = [5, C];
        const layer = createNorm({ kind: 'dyt', impl }, C);
        assert.deepEqual(layer.namedParameters().map((p) => p.name).sort(), ['alpha', 'beta', 'gamma']);
        assert.equal(param(layer, 'alpha')!.variable.dataSync()[0], 0.5);
        assert.deepEqual(Array.from(param(layer, 'gamma')!.variable.dataSync()), new Array(C).fill(1));
        assert.deepEqual(Array.from(param(layer, 'beta')!.variable.dataSync()), new Array(C).fill(0));
        const x = normals(65, 1, 3);
        const y = tf.tidy(() => layer.apply(tf.tensor(f32(x), shape)).dataSync());
        const ref = x.map((v) => Math.tanh(0.5 * v));
        assert.ok(maxRelErr(y, ref) < 1e-6, `max rel err ${maxRelErr(y, ref)}`);
        layer.dispose();
      });

      for (const squash of SQUASH_SHAPES) {
        for (const perChannelAlpha of [false, true]) {
          test(`${squash}${perChannelAlpha ? ' (per-channel alpha)' : ''}: forward and all gradients match float64 finite differences`, () => {
            const C = 13, rows = 6, shape = [2, 3, C];
            const layer = createNorm({ kind: 'dyt', squash, perChannelAlpha, shift: true, impl }, C);
            randomizeParams(layer, 100);
            const p = params64(layer, C, perChannelAlpha);
            const f = SQUASH[squash].f64;
            let x = normals(rows * C, 7, 1.5);
            if (squash === 'hardtanh') {
              // Keep every alpha*x+s away from the kinks at +-1, where differences are meaningless.
              x = x.map((v, i) => {
                const a = p.alpha.length === 1 ? p.alpha[0]! : p.alpha[i % C]!, s = p.s.length === 1 ? p.s[0]! : p.s[i % C]!;
                const u = a * v + s;
                return Math.abs(Math.abs(u) - 1) < 0.05 ? v + 0.2 / a : v;
              });
            }
            const w = normals(rows * C, 8);
            const y = tf.tidy(() => layer.apply(tf.tensor(f32(x), shape)).dataSync());
            assert.ok(maxRelErr(y, squash64(x, C, p, f)) < 1e-5, `forward rel err ${maxRelErr(y, squash64(x, C, p, f))}`);

            const g = tfGrads(layer, x, shape, w);
            const loss = (xx: Float64Array, pp: P64) => dot(w, squash64(xx, C, pp, f));
            const check = (name: string, fd: Float64Array) => {
              assert.ok(g[name], `no gradient for ${name}`);
              const e = maxRelErr(g[name]!, fd);
              assert.ok(e < GRAD_TOL, `d/d${name}: rel err ${e.toExponential(2)} vs finite differences`);
            };
            check('x', centralDiff((xx) => loss(xx, p), Float64Array.from(x)));
            for (const [name, key] of [['alpha', 'alpha'], ['shift', 's'], ['gamma', 'gamma'], ['beta', 'beta']] as const) {
              check(name, centralDiff((v) => loss(x, { ...p, [key]: v }), Float64Array.from(p[key])));
            }
            layer.dispose();
          });
        }
      }

      test('fixed alpha is a named, non-trainable parameter; alpha none has none', () => {
        const fixed = createNorm({ kind: 'dyt', alpha: 'fixed', alpha0: 0.8, impl }, 8);
        const a = param(fixed, 'alpha')!;
        assert.equal(a.trainable, false);
        assert.ok(Math.abs(a.variable.dataSync()[0]! - 0.8) < 1e-7);
        const x = normals(16, 3);
        const y = tf.tidy(() => fixed.apply(tf.tensor(f32(x), [2, 8])).dataSync());
        assert.ok(maxRelErr(y, x.map((v) => Math.tanh(0.8 * v))) < 1e-6);
        const none = createNorm({ kind: 'dyt', alpha: 'none', squash: 'softsign', impl }, 8);
        assert.equal(param(none, 'alpha'), undefined);
        const y2 = tf.tidy(() => none.apply(tf.tensor(f32(x), [2, 8])).dataSync());
        assert.ok(maxRelErr(y2, x.map((v) => v / (1 + Math.abs(v)))) < 1e-6);
        fixed.dispose();
        none.dispose();
      });

      test('affine: false has no gamma/beta', () => {
        const layer = createNorm({ kind: 'dyt', affine: false, impl }, 8);
        assert.deepEqual(layer.namedParameters().map((p) => p.name), ['alpha']);
        layer.dispose();
      });

      for (const kind of ['layernorm', 'rmsnorm'] as const) {
        test(`${kind}: forward and gradients match float64 finite differences`, () => {
          const C = 13, shape = [6, C], eps = kind === 'layernorm' ? 1e-5 : 1e-6;
          const layer = createNorm({ kind, impl } as NormSpec, C);
          randomizeParams(layer, 300);
          const gamma = Float64Array.from(param(layer, 'gamma')!.variable.dataSync());
          const beta = kind === 'layernorm' ? Float64Array.from(param(layer, 'beta')!.variable.dataSync()) : new Float64Array(C);
          const x = normals(6 * C, 11, 2).map((v, i) => v + (i % 3)); // non-zero row means
          const w = normals(6 * C, 12);
          const ref = (xx: Float64Array, g: Float64Array, b: Float64Array) => layerNorm64(xx, C, g, b, eps, kind === 'rmsnorm');
          const y = tf.tidy(() => layer.apply(tf.tensor(f32(x), shape)).dataSync());
          assert.ok(maxRelErr(y, ref(x, gamma, beta)) < 1e-5, `forward rel err ${maxRelErr(y, ref(x, gamma, beta))}`);
          const g = tfGrads(layer, x, shape, w);
          const ex = maxRelErr(g.x!, centralDiff((xx) => dot(w, ref(xx, gamma, beta)), Float64Array.from(x)));
          assert.ok(ex < GRAD_TOL, `dx rel err ${ex}`);
          const eg = maxRelErr(g.gamma!, centralDiff((gg) => dot(w, ref(x, gg, beta)), Float64Array.from(gamma)));
          assert.ok(eg < GRAD_TOL, `dgamma rel err ${eg}`);
          if (kind === 'layernorm') {
            const eb = maxRelErr(g.beta!, centralDiff((bb) => dot(w, ref(x, gamma, bb)), Float64Array.from(beta)));
            assert.ok(eb < GRAD_TOL, `dbeta rel err ${eb}`);
          }
          layer.dispose();
        });
      }

      test('no tensors leak through forward and backward', () => {
        const layer = createNorm({ kind: 'dyt', impl }, 16);
        const x = tf.randomNormal([4, 16], 0, 1, 'float32', 5);
        const before = tf.memory().numTensors;
        for (let i = 0; i < 3; i++) {
          const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(x)) as tf.Scalar, layer.trainableVariables());
          tf.dispose([value, ...Object.values(grads)]);
        }
        assert.equal(tf.memory().numTensors, before);
        x.dispose();
        layer.dispose();
      });
    });
  }
}

describe('bad specs get errors that name the field and the value', () => {
  before(async () => {
    await initBackend('cpu');
  });
  const cases: [string, unknown, number, RegExp[]][] = [
    ['unknown kind', { kind: 'batchnorm' }, 8, [/kind/, /"batchnorm"/, /layernorm/]],
    ['negative eps', { kind: 'layernorm', eps: -1 }, 8, [/eps/, /-1/]],
    ['NaN alpha0', { kind: 'dyt', alpha0: NaN }, 8, [/alpha0/, /NaN/, /finite/]],
    ['infinite alpha0', { kind: 'dyt', alpha0: Infinity }, 8, [/alpha0/, /Infinity/]],
    ['unknown squash', { kind: 'dyt', squash: 'relu' }, 8, [/squash/, /"relu"/, /tanh/]],
    ['unknown alpha mode', { kind: 'dyt', alpha: 'frozen' }, 8, [/alpha/, /"frozen"/, /learnable/]],
    ['misspelled field', { kind: 'dyt', alpah: 1 }, 8, [/unknown field/, /alpah/]],
    ['non-integer dim', { kind: 'dyt' }, 2.5, [/dim/, /2\.5/]],
    ['zero dim', { kind: 'rmsnorm' }, 0, [/dim/, /\b0\b/]],
  ];
  for (const [name, spec, dim, patterns] of cases) {
    test(name, () => {
      assert.throws(() => createNorm(spec as NormSpec, dim), (e: Error) => {
        for (const p of patterns) assert.match(e.message, p);
        return true;
      });
    });
  }
  test('dim mismatch at apply time names both dims and the shape', () => {
    const layer = createNorm({ kind: 'dyt' }, 8);
    const x = tf.zeros([2, 7]);
    assert.throws(() => layer.apply(x), (e: Error) => {
      assert.match(e.message, /\[2, 7\]/);
      assert.match(e.message, /dim = 8/);
      assert.match(e.message, /last dimension 7/);
      return true;
    });
    x.dispose();
    layer.dispose();
  });
});
