// The opt-in variants beside the pre-norm baseline: DyISRU (a norm kind), σReparam
// (linearReparam: 'sigma'), the post-LN and res-post-norm placements, and the DyT
// options affine: false / perChannelAlpha: true in model configs. Defaults unchanged.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createLM, createNorm, createViT, initBackend, Linear, normLabel, resolveNormSpec, runWithCache, SigmaReparamLinear, tf,
  traceHookNames, type NormLayer, type NormSpec,
} from '../src/index.js';
import { Init } from '../src/nn/init.js';
import { resolveLMConfig, resolveViTConfig } from '../src/models/config.js';
import type { Block } from '../src/models/block.js';
import { expandSweep } from '../src/experiments/sweep.js';
import { centralDiff, maxRelErr, normals } from './support/numeric.js';

const f32 = (a: Float64Array) => Float32Array.from(a);
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };
const param = (m: { namedParameters(): { name: string; variable: tf.Variable }[] }, name: string) => m.namedParameters().find((p) => p.name === name)?.variable;

/** DyISRU in float64: gamma * sqrt(C) * x / sqrt(exp(logBeta) + x^2) + b. */
function dyisru64(x: Float64Array, C: number, logBeta: number, gamma: Float64Array, b: Float64Array): Float64Array {
  const beta = Math.exp(logBeta);
  return x.map((v, i) => gamma[i % C]! * Math.sqrt(C) * v / Math.sqrt(beta + v * v) + b[i % C]!);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`DyISRU on ${backend}`, () => {
    before(async () => { await initBackend(backend); });

    test('init: beta0 = C (isru_log_beta = ln C), gamma 1, bias 0; slope 1 at 0 like RMSNorm on unit-variance input', () => {
      const C = 16, layer = createNorm({ kind: 'dyisru' }, C);
      assert.deepEqual(layer.namedParameters().map((p) => [p.name, p.trainable]), [['isru_log_beta', true], ['gamma', true], ['beta', true]]);
      assert.ok(Math.abs(param(layer, 'isru_log_beta')!.dataSync()[0]! - Math.log(C)) < 1e-6);
      const y = tf.tidy(() => layer.apply(tf.tensor2d([[1e-3, ...new Array(C - 1).fill(0)]])).dataSync());
      assert.ok(Math.abs(y[0]! / 1e-3 - 1) < 1e-5, `slope at 0 ${y[0]! / 1e-3}`);
      layer.dispose();
      const fixed = createNorm({ kind: 'dyisru', beta0: 2.5, affine: false }, 4);
      assert.deepEqual(fixed.namedParameters().map((p) => p.name), ['isru_log_beta']);
      assert.ok(Math.abs(Math.exp(param(fixed, 'isru_log_beta')!.dataSync()[0]!) - 2.5) < 1e-6);
      fixed.dispose();
    });

    test('forward against the float64 formula, gradients (x, isru_log_beta, gamma, beta) against finite differences', () => {
      const C = 7, rows = 6, shape = [2, 3, C];
      const layer = createNorm({ kind: 'dyisru' }, C);
      const logBeta = 0.4;
      const gamma = normals(C, 3, 0.3).map((z) => 1 + z), b = normals(C, 4, 0.3);
      param(layer, 'isru_log_beta')!.assign(tf.tensor1d([logBeta]));
      param(layer, 'gamma')!.assign(tf.tensor1d(f32(gamma)));
      param(layer, 'beta')!.assign(tf.tensor1d(f32(b)));
      const x = normals(rows * C, 7, 1.5), w = normals(rows * C, 8);
      const y = tf.tidy(() => layer.apply(tf.tensor(f32(x), shape)).dataSync());
      assert.ok(maxRelErr(y, dyisru64(x, C, logBeta, gamma, b)) < 1e-5, `forward rel err ${maxRelErr(y, dyisru64(x, C, logBeta, gamma, b))}`);
      const yn = tf.tidy(() => layer.normalize(tf.tensor(f32(x), shape)).dataSync());
      assert.ok(maxRelErr(yn, dyisru64(x, C, logBeta, new Float64Array(C).fill(1), new Float64Array(C))) < 1e-5);

      const xv = tf.variable(tf.tensor(f32(x), shape));
      const vars = layer.namedParameters();
      const wt = tf.tensor(f32(w), shape);
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xv), wt)) as tf.Scalar, [xv, ...vars.map((p) => p.variable)]);
      const loss = (xx: Float64Array, lb: number, g: Float64Array, bb: Float64Array) => dot(w, dyisru64(xx, C, lb, g, bb));
      const fds: Record<string, Float64Array> = {
        x: centralDiff((v) => loss(v, logBeta, gamma, b), Float64Array.from(x)),
        isru_log_beta: centralDiff((v) => loss(x, v[0]!, gamma, b), Float64Array.from([logBeta])),
        gamma: centralDiff((v) => loss(x, logBeta, v, b), Float64Array.from(gamma)),
        beta: centralDiff((v) => loss(x, logBeta, gamma, v), Float64Array.from(b)),
      };
      for (const [name, fd] of Object.entries(fds)) {
        const v = name === 'x' ? xv : param(layer, name)!;
        const e = maxRelErr(grads[v.name]!.dataSync(), fd);
        assert.ok(e < 2e-4, `d/d${name}: rel err ${e.toExponential(2)}`);
      }
      tf.dispose([xv, wt, ...Object.values(grads)]);
      layer.dispose();
    });
  });
}

describe('DyISRU spec', () => {
  before(async () => { await initBackend('cpu'); });
  test('defaults, labels, and errors that name the field', () => {
    assert.deepEqual(resolveNormSpec({ kind: 'dyisru' }), { kind: 'dyisru', beta0: 'dim', affine: true });
    assert.equal(normLabel(resolveNormSpec({ kind: 'dyisru' })), 'dyisru');
    assert.equal(normLabel(resolveNormSpec({ kind: 'dyisru', beta0: 4, affine: false })), 'dyisru(beta0 4, no affine)');
    const cases: [unknown, RegExp[]][] = [
      [{ kind: 'dyisru', beta0: -1 }, [/beta0/, /-1/, /> 0/]],
      [{ kind: 'dyisru', beta0: 0 }, [/beta0/, /\b0\b/]],
      [{ kind: 'dyisru', beta0: 'half' }, [/beta0/, /half/, /'dim'/]],
      [{ kind: 'dyisru', affine: 'yes' }, [/affine/]],
      [{ kind: 'dyisru', alpha0: 1 }, [/unknown field/, /alpha0/]],
    ];
    for (const [spec, patterns] of cases) {
      assert.throws(() => createNorm(spec as NormSpec, 8), (e: Error) => {
        for (const p of patterns) assert.match(e.message, p);
        return true;
      }, JSON.stringify(spec));
    }
  });
});

// ---- σReparam ----

/** [rows, cols] float64 matrix helpers (row-major). */
const matVec = (W: Float64Array, r: number, c: number, x: Float64Array, t = false) => {
  const y = new Float64Array(t ? c : r);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) { if (t) y[j]! += W[i * c + j]! * x[i]!; else y[i]! += W[i * c + j]! * x[j]!; }
  return y;
};
const unit = (x: Float64Array) => { const n = Math.sqrt(dot(x, x)); return x.map((v) => v / n); };
/** Largest singular value by 2000 power iterations in float64. */
function sigma64(W: Float64Array, r: number, c: number): number {
  let v = unit(new Float64Array(c).map((_, i) => 1 + 0.1 * i));
  for (let k = 0; k < 2000; k++) v = unit(matVec(W, r, c, unit(matVec(W, r, c, v)), true));
  return Math.sqrt(dot(matVec(W, r, c, v), matVec(W, r, c, v)));
}
/** Householder reflection I - 2 h h^T / h^T h (orthogonal), n x n. */
const householder = (h: number[]) => {
  const n = h.length, hh = dot(h, h), H = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) H[i * n + j] = (i === j ? 1 : 0) - 2 * h[i]! * h[j]! / hh;
  return H;
};
const matMul64 = (A: Float64Array, B: Float64Array, n: number, k: number, m: number) => {
  const C = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) for (let j = 0; j < m; j++) C[i * m + j]! += A[i * k + p]! * B[p * m + j]!;
  return C;
};

describe('σReparam (linearReparam: sigma)', () => {
  before(async () => { await initBackend('cpu'); });

  test('sigma converges to the largest singular value over training forward passes; plain passes keep u', () => {
    // W [3, 4] = H3 [diag(3, 2.7, 0.5) | 0] H4: singular values 3, 2.7, 0.5 exactly (a small gap: slow convergence).
    const S = new Float64Array(12);
    [3, 2.7, 0.5].forEach((s, i) => { S[i * 4 + i] = s; });
    const V = householder([0.3, 1, -1, 2]); // symmetric: its rows are W's right singular vectors
    const W = matMul64(matMul64(householder([1, -2, 0.5]), S, 3, 3, 4), V, 3, 4, 4);
    assert.ok(Math.abs(sigma64(W, 3, 4) - 3) < 1e-9);
    const lin = SigmaReparamLinear.from(new Linear(3, 4, new Init(1)));
    lin.weight.assign(tf.tensor2d(f32(W), [3, 4]));
    // u starts almost on the second singular vector: the estimate starts near 2.7, not 3.
    lin.u.assign(tf.tensor1d(f32(unit(V.slice(4, 8).map((v, i) => v + 0.05 * V[i]!)))));
    const x = tf.tensor2d([[1, 2, 3], [-1, 0.5, 2]]);
    const s0 = lin.sigma();
    for (let i = 0; i < 3; i++) tf.dispose(lin.apply(x)); // no tape: nothing stored
    assert.equal(lin.sigma(), s0);
    const err: number[] = [];
    for (let i = 0; i < 120; i++) {
      const { value, grads } = tf.variableGrads(() => tf.sum(lin.apply(x)) as tf.Scalar, lin.trainableVariables());
      tf.dispose([value, ...Object.values(grads)]);
      err.push(Math.abs(lin.sigma() - 3) / 3);
    }
    assert.ok(Math.abs(s0 - 3) / 3 > 0.05, `starts off (${s0})`);
    assert.ok(err.every((e, i) => i === 0 || e <= Math.max(err[i - 1]!, 1e-6)), `the error never grows: ${err.map((e) => e.toExponential(1)).join(' ')}`);
    assert.ok(err.slice(60).every((e) => e < 1e-6), `sigma ${lin.sigma()} vs 3 (rel err ${err[119]})`);
    // W_hat = W / 3 (gamma 1): the output is x W / 3 + b.
    const y = lin.apply(x).dataSync(), ref = matMul64(Float64Array.from([1, 2, 3, -1, 0.5, 2]), W, 2, 3, 4).map((v) => v / 3);
    assert.ok(maxRelErr(y, ref) < 1e-5);
    tf.dispose(x);
    lin.dispose();
  });

  test('a random layer: sigma matches float64 power iteration; gradients reach gamma and W (W against finite differences)', () => {
    const r = 6, c = 5;
    const lin = SigmaReparamLinear.from(new Linear(r, c, new Init(5), { std: 0.5 }), 3);
    const W = Float64Array.from(lin.weight.dataSync());
    for (let i = 0; i < 60; i++) {
      const { value, grads } = tf.variableGrads(() => tf.sum(lin.apply(tf.ones([1, r]))) as tf.Scalar, lin.trainableVariables());
      tf.dispose([value, ...Object.values(grads)]);
    }
    const s = sigma64(W, r, c);
    assert.ok(Math.abs(lin.sigma() - s) / s < 1e-5, `sigma ${lin.sigma()} vs float64 ${s}`);
    lin.gamma.assign(tf.scalar(1.7));
    const x = normals(4 * r, 11), w = normals(4 * c, 12);
    const xt = tf.tensor2d(f32(x), [4, r]), wt = tf.tensor2d(f32(w), [4, c]);
    const names = lin.namedParameters().map((p) => [p.name, p.trainable]);
    assert.deepEqual(names, [['weight', true], ['bias', true], ['sigma_gamma', true], ['sigma_u', false]]);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(lin.apply(xt), wt)) as tf.Scalar, lin.trainableVariables());
    // L(W, gamma) = sum(w * (x W gamma / sigma1(W))) (bias 0): dL/dgamma = L / gamma; dL/dW by finite differences of sigma1 in float64.
    const L = (WW: Float64Array, g: number) => dot(w, matMul64(x, WW, 4, r, c)) * g / sigma64(WW, r, c);
    assert.ok(Math.abs(grads[lin.gamma.name]!.dataSync()[0]! - L(W, 1.7) / 1.7) < 1e-4 * Math.abs(L(W, 1.7)));
    assert.ok(Math.abs(value.dataSync()[0]! - L(W, 1.7)) < 1e-4 * Math.abs(L(W, 1.7)) + 1e-5);
    const eW = maxRelErr(grads[lin.weight.name]!.dataSync(), centralDiff((v) => L(v, 1.7), Float64Array.from(W)));
    assert.ok(eW < 1e-3, `dL/dW rel err ${eW}`);
    assert.ok(grads[lin.bias!.name]!.dataSync().every(Number.isFinite));
    tf.dispose([xt, wt, value, ...Object.values(grads)]);
    lin.dispose();
  });

  test('models: every Linear reparametrized, same weights and names plus sigma_gamma / sigma_u; trains; defaults unchanged', () => {
    const base = { vocabSize: 30, context: 8, dModel: 16, nLayers: 2, nHeads: 2, seed: 2, norm: { kind: 'identity' } as const };
    const plain = createLM(base), sig = createLM({ ...base, linearReparam: 'sigma' });
    const sigNames = new Map(sig.namedParameters().map((p) => [p.name, p.variable]));
    for (const p of plain.namedParameters()) assert.deepEqual(Array.from(sigNames.get(p.name)!.dataSync()), Array.from(p.variable.dataSync()), p.name);
    const extra = [...sigNames.keys()].filter((n) => !plain.parameter(n));
    const linears = ['attn.qkv', 'attn.proj', 'mlp.gate', 'mlp.up', 'mlp.down'];
    assert.deepEqual(extra.sort(), [...[0, 1].flatMap((i) => linears.map((l) => `blocks.${i}.${l}`)), 'head'].flatMap((l) => [`${l}.sigma_gamma`, `${l}.sigma_u`]).sort());
    assert.deepEqual(sig.hookNames(), plain.hookNames());
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]], undefined, 'int32');
    const { value, grads } = tf.variableGrads(() => tf.mean(sig.apply(ids)) as tf.Scalar, sig.trainableVariables());
    assert.ok(Number.isFinite(value.dataSync()[0]!));
    assert.ok(Math.abs(grads[sig.parameter('blocks.0.attn.qkv.sigma_gamma')!.name]!.dataSync()[0]!) > 0);
    for (const g of Object.values(grads)) assert.ok(g.dataSync().every(Number.isFinite));
    tf.dispose([ids, value, ...Object.values(grads)]);
    [plain, sig].forEach((m) => m.dispose());
    const vit = createViT({ dModel: 16, nLayers: 1, nHeads: 2, patchSize: 7, linearReparam: 'sigma', norm: { kind: 'identity' } });
    assert.ok(vit.patchEmbed instanceof SigmaReparamLinear && vit.head instanceof SigmaReparamLinear && vit.blocks.items[0]!.attn.qkv instanceof SigmaReparamLinear);
    vit.dispose();
    assert.throws(() => createLM({ ...base, linearReparam: 'sigma', fixup: true }), /linearReparam = "sigma" conflicts with fixup = true/);
    assert.throws(() => createLM({ ...base, linearReparam: 'spectral' as never }), /linearReparam/);
    const r = resolveLMConfig({ kind: 'lm', ...base });
    assert.ok(!('linearReparam' in r) && !('normPlacement' in r), 'unset options stay out of resolved configs');
    assert.ok(!('normPlacement' in resolveViTConfig({ kind: 'vit', dModel: 8, nLayers: 1, nHeads: 2, normPlacement: 'pre' })));
  });
});

// ---- norm placements ----

type Placement = 'pre' | 'post' | 'res-post';
/** One block composed by hand from its modules: attn / mlp / norms / gates as the placement says. */
function blockByHand(b: Block, x: tf.Tensor, placement: Placement, gate: (k: 1 | 2) => number): tf.Tensor {
  const attn = (u: tf.Tensor) => b.attn.apply(u), mlp = (u: tf.Tensor) => b.mlp.apply(u);
  const n1 = (u: tf.Tensor) => (b.norm1 as NormLayer).apply(u), n2 = (u: tf.Tensor) => (b.norm2 as NormLayer).apply(u);
  const add = (k: 1 | 2, res: tf.Tensor, br: tf.Tensor) => tf.add(res, tf.mul(br, gate(k)));
  if (placement === 'pre') {
    const h = add(1, x, attn(n1(x)));
    return add(2, h, mlp(n2(h)));
  }
  if (placement === 'post') {
    const h = n1(add(1, x, attn(x)));
    return n2(add(2, h, mlp(h)));
  }
  const h = add(1, x, n1(attn(x)));
  return add(2, h, n2(mlp(h)));
}

describe('norm placements: pre, post (post-LN), res-post (Swin-v2)', () => {
  before(async () => { await initBackend('cpu'); });
  for (const placement of ['pre', 'post', 'res-post'] as const) {
    test(`${placement}: the LM and the ViT equal their blocks composed by hand; hookNames() = traceHookNames`, () => {
      const normPlacement = placement === 'pre' ? {} : { normPlacement: placement };
      const lm = createLM({ vocabSize: 20, context: 8, dModel: 16, nLayers: 2, nHeads: 2, seed: 5, norm: { kind: 'layernorm' },
        residual: { kind: 'skipinit', init: 0.7 }, ...normPlacement });
      const ids = tf.tensor2d([[1, 4, 9, 16, 3, 0, 7]], undefined, 'int32');
      const got = lm.apply(ids);
      const want = tf.tidy(() => {
        let x = tf.gather(lm.embed.weight, ids.flatten()).reshape([1, 7, 16]);
        for (const b of lm.blocks.items) x = blockByHand(b, x, placement, (k) => (k === 1 ? b.resid1 : b.resid2).namedParameters()[0]!.variable.dataSync()[0]!);
        x = lm.final_norm.apply(x);
        return tf.matMul(x.reshape([7, 16]), lm.head!.weight).reshape([1, 7, 20]);
      });
      assert.ok(maxRelErr(got.dataSync(), want.dataSync()) < 1e-5, `LM rel err ${maxRelErr(got.dataSync(), want.dataSync())}`);
      assert.deepEqual(traceHookNames(lm, ids), lm.hookNames());
      const c = runWithCache(lm, ids, ['blocks.0.norm1.in', 'blocks.0.norm1.out', 'blocks.0.resid.mid', 'blocks.0.attn.out', 'embed.out']);
      const same = (a: string, b: string) => maxRelErr(c.cache[a]!.dataSync(), c.cache[b]!.dataSync()) < 1e-6;
      if (placement === 'pre') assert.ok(same('blocks.0.norm1.in', 'embed.out'));
      if (placement === 'post') assert.ok(same('blocks.0.resid.mid', 'blocks.0.norm1.out'), 'post-LN: the stream is the norm output');
      if (placement === 'res-post') assert.ok(same('blocks.0.norm1.in', 'blocks.0.attn.out'), 'res-post: the norm takes the branch output');
      c.dispose();
      tf.dispose([ids, got, want]);
      lm.dispose();

      const vit = createViT({ dModel: 16, nLayers: 2, nHeads: 2, patchSize: 7, pool: 'mean', seed: 6, norm: { kind: 'dyt', alpha0: 0.8 }, ...normPlacement });
      const images = tf.randomUniform([2, 28, 28], 0, 1, 'float32', 3);
      const y = vit.apply(images);
      const yh = tf.tidy(() => {
        const patches = images.reshape([2, 4, 7, 4, 7, 1]).transpose([0, 1, 3, 2, 4, 5]).reshape([2, 16, 49]);
        let x = tf.add(tf.add(tf.matMul(patches.reshape([32, 49]), vit.patchEmbed.weight), vit.patchEmbed.bias!).reshape([2, 16, 16]), vit.pos);
        for (const b of vit.blocks.items) x = blockByHand(b, x, placement, () => 1);
        const pooled = tf.mean(vit.final_norm.apply(x), 1);
        return tf.add(tf.matMul(pooled, vit.head.weight), vit.head.bias!);
      });
      assert.ok(maxRelErr(y.dataSync(), yh.dataSync()) < 1e-5, `ViT rel err ${maxRelErr(y.dataSync(), yh.dataSync())}`);
      assert.deepEqual(traceHookNames(vit, images), vit.hookNames());
      assert.deepEqual([...vit.hookNames()].sort(), [...createViT({ dModel: 16, nLayers: 2, nHeads: 2, patchSize: 7, pool: 'mean' }).hookNames()].sort());
      tf.dispose([images, y, yh]);
      vit.dispose();
    });
  }
});

describe('DyT options in model configs, and sweep labels for the variants', () => {
  before(async () => { await initBackend('cpu'); });
  test('norm {dyt, perChannelAlpha: true, affine: false} builds per-channel alpha, no gain/bias, and trains a step', () => {
    const lm = createLM({ vocabSize: 20, context: 8, dModel: 16, nLayers: 1, nHeads: 2, norm: { kind: 'dyt', perChannelAlpha: true, affine: false } });
    const norm1 = lm.namedParameters().filter((p) => p.name.startsWith('blocks.0.norm1.'));
    assert.deepEqual(norm1.map((p) => [p.name, p.variable.shape]), [['blocks.0.norm1.alpha', [16]]]);
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6]], undefined, 'int32'), next = tf.tensor1d([2, 3, 4, 5, 6, 7], 'int32');
    const loss = () => tf.losses.softmaxCrossEntropy(tf.oneHot(next, 20), lm.apply(ids).reshape([6, 20])) as tf.Scalar;
    const { value, grads } = tf.variableGrads(loss, lm.trainableVariables());
    const l0 = value.dataSync()[0]!;
    assert.ok(Number.isFinite(l0));
    for (const v of lm.trainableVariables()) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.1)));
    const l1 = tf.tidy(() => loss().dataSync()[0]!);
    assert.ok(Number.isFinite(l1) && l1 < l0, `loss ${l0} -> ${l1}`);
    tf.dispose([ids, next, value, ...Object.values(grads)]);
    lm.dispose();
  });

  test('a sweep with variants dyisru, sigma-reparam, post-ln, res-post-ln expands, each resolved config carrying its option', () => {
    const grid = expandSweep({
      name: 'variants', base: 'configs/lm-tiny.json', set: { 'train.steps': 5, 'train.warmupSteps': 1 },
      variants: { norm: {
        'dyisru': { 'model.norm': { kind: 'dyisru' } },
        'sigma-reparam': { 'model.norm': { kind: 'identity' }, 'model.linearReparam': 'sigma' },
        'post-ln': { 'model.norm': { kind: 'layernorm' }, 'model.normPlacement': 'post' },
        'res-post-ln': { 'model.norm': { kind: 'layernorm' }, 'model.normPlacement': 'res-post' },
      } },
    });
    assert.deepEqual(grid.points.map((p) => p.labels.norm), ['dyisru', 'sigma-reparam', 'post-ln', 'res-post-ln']);
    const m = grid.points.map((p) => p.resolved.model);
    assert.equal(normLabel(resolveNormSpec(m[0]!.norm)), 'dyisru');
    assert.equal(m[1]!.linearReparam, 'sigma');
    assert.equal(m[2]!.normPlacement, 'post');
    assert.equal(m[3]!.normPlacement, 'res-post');
    assert.equal(new Set(grid.points.map((p) => p.hash)).size, 4);
  });
});
