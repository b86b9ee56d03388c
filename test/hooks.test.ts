// The forward context: hook points declared as modules, scopes that nest
// (a cache around a precision-wrapped model sees the rounded values), Linear
// overrides inside hooks, and backward hooks checked against finite differences.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createLM, initBackend, runWithCache, runWithGradients, runWithHooks, tf, traceHookNames, withLinearOverride, withPrecision,
} from '../src/index.js';
import type { Model } from '../src/index.js';

const lmCfg = { vocabSize: 40, context: 8, dModel: 16, nLayers: 2, nHeads: 2, mlp: 'gelu' as const, seed: 11 };
const ids = () => tf.tensor2d([[1, 5, 7, 9, 2, 3, 4, 8], [9, 9, 1, 0, 39, 3, 2, 1]], undefined, 'int32');

/** bf16 round-to-nearest-even of a float32, written here independently of engine/precision (finite values). */
function bf16(v: number): number {
  const f = new Float32Array([v]), u = new Uint32Array(f.buffer);
  const lsb = (u[0]! >>> 16) & 1;
  u[0] = ((u[0]! + 0x7fff + lsb) >>> 16) << 16;
  return f[0]!;
}

describe('hook points and nested scopes', () => {
  before(async () => {
    await initBackend('cpu');
  });

  test('hookNames() comes from the module tree: forward order, every point reached once', () => {
    const lm = createLM(lmCfg);
    const x = ids();
    const names = lm.hookNames();
    assert.deepEqual(traceHookNames(lm, x), names);
    assert.equal(names.length, 1 + 11 * lmCfg.nLayers + 3);
    assert.deepEqual(names.slice(0, 4), ['embed.out', 'blocks.0.norm1.in', 'blocks.0.norm1.out', 'blocks.0.attn.pattern']);
    assert.deepEqual(names.slice(-3), ['final_norm.in', 'final_norm.out', 'logits']);
    // Hook points hold no parameters: the parameter list is what it was.
    assert.ok(lm.namedParameters().every((p) => !/\.(in|out|mid|post|pattern|z|hidden)\./.test(p.name)));
    x.dispose();
    lm.dispose();
  });

  test('runWithCache on a precision-wrapped model caches the rounded norm outputs the forward pass used', () => {
    const lm = createLM(lmCfg);
    const lp = withPrecision(lm, { norm: 'bf16' }) as Model;
    const x = ids();
    const norms = ['blocks.0.norm1.out', 'blocks.1.norm1.out', 'blocks.1.norm2.out', 'final_norm.out'];
    const r = runWithCache(lp, x, [...norms, 'blocks.1.norm1.in', 'logits']);
    const plain = runWithCache(lm, x, ['blocks.0.norm1.out', 'logits']);
    for (const n of norms) {
      const v = r.cache[n]!.dataSync();
      // Every cached value is a bf16 number: its low 16 bits are zero.
      const bits = new Uint32Array(Float32Array.from(v).buffer);
      assert.ok(bits.every((b) => (b & 0xffff) === 0), `${n}: cached values are not bf16-rounded`);
    }
    // blocks.0's norm input is not rounded (embedding output), so its rounded output is the plain one, rounded.
    const p0 = plain.cache['blocks.0.norm1.out']!.dataSync(), r0 = r.cache['blocks.0.norm1.out']!.dataSync();
    for (let i = 0; i < p0.length; i++) assert.equal(r0[i], bf16(p0[i]!), `blocks.0.norm1.out[${i}]`);
    // Deeper: the cached output is bf16(norm(cached input)) of this same rounded pass.
    const y1 = lm.blocks.items[1]!.norm1.apply(r.cache['blocks.1.norm1.in']!);
    const want = y1.dataSync(), got = r.cache['blocks.1.norm1.out']!.dataSync();
    for (let i = 0; i < want.length; i++) assert.equal(got[i], bf16(want[i]!), `blocks.1.norm1.out[${i}]`);
    // The cached logits are the output, and rounding changed them.
    assert.deepEqual(r.cache.logits!.dataSync(), r.output.dataSync());
    const d = tf.max(tf.abs(tf.sub(r.output, plain.output))).dataSync()[0]!;
    assert.ok(d > 0, 'the rounded forward pass gave the plain logits');
    tf.dispose([x, y1]);
    r.dispose();
    plain.dispose();
    lm.dispose();
  });

  test('a cache around runWithHooks sees the replaced activation; Linear overrides work inside hooks', () => {
    const lm = createLM(lmCfg);
    const x = ids();
    const zeroMlp = { 'blocks.0.mlp.out': (a: tf.Tensor) => tf.zerosLike(a) };
    const outer = { apply: (t: tf.Tensor) => runWithHooks(lm, t, zeroMlp), hookNames: () => lm.hookNames() };
    const r = runWithCache(outer, x, ['blocks.0.mlp.out', 'blocks.0.resid.post', 'blocks.0.resid.mid']);
    assert.equal(tf.max(tf.abs(r.cache['blocks.0.mlp.out']!)).dataSync()[0], 0);
    // resid.post = resid.mid + 0 when the MLP branch is zeroed.
    assert.deepEqual(r.cache['blocks.0.resid.post']!.dataSync(), r.cache['blocks.0.resid.mid']!.dataSync());
    // A Linear override (all products zero) inside a cache: attention output and logits are zero.
    const z = runWithCache(lm, x, ['blocks.0.attn.out', 'logits'], undefined);
    const zero = withLinearOverride((_l, x2, w) => tf.zeros([x2.shape[0]!, w.shape[1]!]), () => runWithCache(lm, x, ['blocks.0.attn.out']));
    assert.equal(tf.max(tf.abs(zero.cache['blocks.0.attn.out']!)).dataSync()[0], 0);
    assert.ok(tf.max(tf.abs(z.cache['blocks.0.attn.out']!)).dataSync()[0]! > 0);
    tf.dispose(x);
    r.dispose();
    z.dispose();
    zero.dispose();
    lm.dispose();
  });

  test('backward hooks: gradients at hook points match finite differences', () => {
    const lm = createLM(lmCfg);
    const x = ids();
    const c = tf.randomNormal([2, 8, lmCfg.vocabSize], 0, 1, 'float32', 5);
    const loss = (out: tf.Tensor) => tf.sum(tf.mul(out, c)) as tf.Scalar;
    const g = runWithGradients(lm, x, loss, ['logits', 'blocks.0.resid.post', 'blocks.1.norm1.out']);
    // d/dlogits of sum(logits * c) is c.
    assert.ok(tf.max(tf.abs(tf.sub(g.grads.logits!, c))).dataSync()[0]! < 1e-6);
    for (const name of ['blocks.0.resid.post', 'blocks.1.norm1.out']) {
      const grad = g.grads[name]!;
      assert.deepEqual(grad.shape, [2, 8, lmCfg.dModel]);
      for (const seed of [7, 8]) {
        // Directional derivative along a random v: central differences through a forward hook,
        // Richardson-extrapolated (error O(h^4)): the residual stream is small, so RMSNorm is curved at larger h.
        const v = tf.randomNormal(grad.shape, 0, 1, 'float32', seed);
        const at = (h: number) => {
          const y = runWithHooks(lm, x, { [name]: (a) => tf.add(a, tf.mul(v, h)) });
          const l = loss(y).dataSync()[0]!;
          y.dispose();
          return l;
        };
        const D = (h: number) => (at(h) - at(-h)) / (2 * h);
        const fd = (4 * D(5e-4) - D(1e-3)) / 3;
        const want = tf.sum(tf.mul(grad, v)).dataSync()[0]!;
        assert.ok(Math.abs(want) > 0.02, `${name}: the directional derivative is (nearly) zero`);
        assert.ok(Math.abs(fd - want) <= 2e-3 * Math.abs(want) + 1e-4, `${name}: backward hook gives ${want}, finite differences ${fd}`);
        v.dispose();
      }
    }
    g.dispose();
    tf.dispose([x, c]);
    lm.dispose();
  });
});
