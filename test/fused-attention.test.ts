// Fused attention (src/engine/ops/attention-op.ts, simd-attention.ts) on wasm:
// value and gradients against the composed tfjs chain and a float64 reference
// written here, causal and bidirectional, with and without RoPE, T not a
// multiple of 4, D = 4..64; deterministic; the kernels write only their outputs;
// Attention.apply picks it (and steps aside for hooks, so `pattern` is seen).
// The same file runs again in a child with DYTLAB_WASM_THREADS=2 (shared memory,
// ops-shared.wasm).
//
// Run: node scripts/build-ops.mjs && node --import tsx --test test/fused-attention.test.ts
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLM, createViT, crossEntropy, initBackend, runWithCache, tf } from '../src/index.js';
import type { Tensor } from '../src/index.js';
import {
  attentionOp, attentionUsesFused, composedAttention, fusedAttentionProblem, setAttentionImpl,
} from '../src/engine/ops/attention-op.js';
import type { AttentionRope } from '../src/engine/ops/attention-op.js';
import { kernelsWasmPath, simdKernels } from '../src/engine/ops/simd.js';
import type { KernelImpl } from '../src/engine/ops/types.js';
import { maxRelErr, normals } from './support/numeric.js';

const CHILD_FLAG = 'DYTLAB_FUSED_ATTENTION_CHILD';
/** Threads explicitly asked for (DYTLAB_WASM_THREADS=2); unset means the engine's default. */
const threadsRequested = Number(process.env.DYTLAB_WASM_THREADS) >= 2;
/** Whether this process's wasm backend runs threaded (shared memory), read in before(). */
let threaded = false;

function ropeTables(maxLen: number, D: number): AttentionRope {
  // Written here (rotate-half, base 10000) rather than taken from nn/rope.ts.
  const cos = new Float32Array(maxLen * D), sin = new Float32Array(maxLen * D);
  for (let t = 0; t < maxLen; t++) {
    for (let i = 0; i < D / 2; i++) {
      const a = t * Math.pow(10000, (-2 * i) / D);
      cos[t * D + i] = cos[t * D + i + D / 2] = Math.cos(a);
      sin[t * D + i] = sin[t * D + i + D / 2] = Math.sin(a);
    }
  }
  return { cos: tf.tensor2d(cos, [maxLen, D]), sin: tf.tensor2d(sin, [maxLen, D]) };
}

interface Case { B: number; T: number; H: number; D: number }
const CASES: Case[] = [
  { B: 2, T: 5, H: 2, D: 4 }, { B: 1, T: 1, H: 2, D: 8 }, { B: 2, T: 17, H: 3, D: 8 }, { B: 2, T: 13, H: 2, D: 16 },
  { B: 2, T: 64, H: 4, D: 32 }, { B: 1, T: 33, H: 1, D: 64 }, { B: 1, T: 130, H: 2, D: 16 },
];

/** z and dL/dqkv for L = sum(z * dy). */
function valueAndGrad(qkv: Tensor, dy: Tensor, heads: number, causal: boolean, rope: AttentionRope | undefined, impl: KernelImpl): Float32Array[] {
  const f = (x: Tensor) => attentionOp(x, { heads, causal, impl, ...(rope ? { rope } : {}) });
  const out = tf.tidy(() => [f(qkv), tf.grads((x: Tensor) => f(x))([qkv], dy)[0]!]);
  const arrays = out.map((t) => t.dataSync() as Float32Array);
  tf.dispose(out);
  return arrays;
}

/** float64 multi-head attention and its gradient w.r.t. qkv, independent of the library. */
function reference(qkv: Float32Array, dy: Float32Array, c: Case, causal: boolean, rope?: { cos: Float32Array; sin: Float32Array }): { z: Float64Array; g: Float64Array } {
  const { B, T, H, D } = c, d = H * D, half = D / 2, s = 1 / Math.sqrt(D);
  const z = new Float64Array(B * T * d), g = new Float64Array(B * T * 3 * d);
  const rot = (x: number[], t: number, inverse: boolean): number[] => {
    if (!rope) return x;
    const y = new Array<number>(D);
    const cs = (i: number) => rope.cos[t * D + i]!, sn = (i: number) => rope.sin[t * D + i]!;
    for (let i = 0; i < half; i++) {
      if (!inverse) {
        y[i] = x[i]! * cs(i) - x[i + half]! * sn(i);
        y[i + half] = x[i + half]! * cs(i + half) + x[i]! * sn(i + half);
      } else {
        y[i] = x[i]! * cs(i) + x[i + half]! * sn(i + half);
        y[i + half] = x[i + half]! * cs(i + half) - x[i]! * sn(i);
      }
    }
    return y;
  };
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const row = (t: number, o: number) => Array.from({ length: D }, (_, i) => qkv[(b * T + t) * 3 * d + o + h * D + i]!);
      const Q: number[][] = [], K: number[][] = [], V: number[][] = [], G: number[][] = [];
      for (let t = 0; t < T; t++) {
        Q.push(rot(row(t, 0), t, false)); K.push(rot(row(t, d), t, false)); V.push(row(t, 2 * d));
        G.push(Array.from({ length: D }, (_, i) => dy[(b * T + t) * d + h * D + i]!));
      }
      const dQ = Q.map(() => new Array<number>(D).fill(0)), dK = Q.map(() => new Array<number>(D).fill(0));
      for (let i = 0; i < T; i++) {
        const n = causal ? i + 1 : T;
        const sc = Array.from({ length: n }, (_, j) => s * Q[i]!.reduce((a, q, e) => a + q * K[j]![e]!, 0));
        const m = Math.max(...sc);
        const e = sc.map((x) => Math.exp(x - m));
        const sum = e.reduce((a, x) => a + x, 0);
        const p = e.map((x) => x / sum);
        const dp = Array.from({ length: n }, (_, j) => G[i]!.reduce((a, x, c2) => a + x * V[j]![c2]!, 0));
        const dot = p.reduce((a, x, j) => a + x * dp[j]!, 0);
        for (let j = 0; j < n; j++) {
          const ds = p[j]! * (dp[j]! - dot) * s;
          for (let e2 = 0; e2 < D; e2++) {
            z[(b * T + i) * d + h * D + e2] += p[j]! * V[j]![e2]!;
            g[(b * T + j) * 3 * d + 2 * d + h * D + e2] += p[j]! * G[i]![e2]!;
            dQ[i]![e2] += ds * K[j]![e2]!;
            dK[j]![e2] += ds * Q[i]![e2]!;
          }
        }
      }
      for (let t = 0; t < T; t++) {
        const a = rot(dQ[t]!, t, true), k = rot(dK[t]!, t, true);
        for (let e2 = 0; e2 < D; e2++) {
          g[(b * T + t) * 3 * d + h * D + e2] = a[e2]!;
          g[(b * T + t) * 3 * d + d + h * D + e2] = k[e2]!;
        }
      }
    }
  }
  return { z, g };
}

describe(`fused attention on wasm (DYTLAB_WASM_THREADS=${process.env.DYTLAB_WASM_THREADS ?? 'unset'})`, () => {
  before(async () => {
    const info = await initBackend('wasm');
    threaded = info.threadsActive;
    if (threadsRequested) assert.equal(threaded, true, `DYTLAB_WASM_THREADS asks for threads but they are off: ${info.threadsReason}`);
  });

  test('the SIMD module is live and has the attention kernels (shared memory iff threaded)', () => {
    const k = simdKernels();
    assert.ok(k, 'simdKernels() is null');
    assert.equal(typeof k.attn_fwd, 'function');
    assert.equal(k.shared, threaded, 'the module memory is shared exactly when the backend is threaded');
    assert.equal(fusedAttentionProblem([2, 8, 3 * 32], 4), undefined);
    assert.equal(attentionUsesFused([2, 8, 3 * 32], 4, 'auto'), true);
  });

  for (const causal of [true, false]) {
    for (const withRope of [false, true]) {
      test(`fused = composed (value, d/dqkv): ${causal ? 'causal' : 'bidirectional'}${withRope ? ', RoPE' : ''}`, () => {
        for (const [n, c] of CASES.entries()) {
          const { B, T, H, D } = c, d = H * D;
          const rope = withRope ? ropeTables(T + 3, D) : undefined;
          const qkv = tf.tensor(Float32Array.from(normals(B * T * 3 * d, 100 + n, 1.2)), [B, T, 3 * d]);
          const dy = tf.tensor(Float32Array.from(normals(B * T * d, 200 + n)), [B, T, d]);
          const [zf, gf] = valueAndGrad(qkv, dy, H, causal, rope, 'fused');
          const [zc, gc] = valueAndGrad(qkv, dy, H, causal, rope, 'composed');
          const tag = `B${B} T${T} H${H} D${D}`;
          assert.ok(maxRelErr(zf!, zc!) < 1e-5, `${tag}: z rel err ${maxRelErr(zf!, zc!)}`);
          assert.ok(maxRelErr(gf!, gc!) < 1e-5, `${tag}: dqkv rel err ${maxRelErr(gf!, gc!)}`);
          if (B * T * d <= 4096) {
            const r = reference(qkv.dataSync() as Float32Array, dy.dataSync() as Float32Array, c, causal,
              rope ? { cos: rope.cos.dataSync() as Float32Array, sin: rope.sin.dataSync() as Float32Array } : undefined);
            assert.ok(maxRelErr(zf!, r.z) < 1e-5, `${tag}: z vs float64 ${maxRelErr(zf!, r.z)}`);
            assert.ok(maxRelErr(gf!, r.g) < 1e-5, `${tag}: dqkv vs float64 ${maxRelErr(gf!, r.g)}`);
          }
          tf.dispose([qkv, dy, ...(rope ? [rope.cos, rope.sin] : [])]);
        }
      });
    }
  }

  test('deterministic: the same inputs give bitwise the same value and gradient; no tensors leak', () => {
    const qkv = tf.tensor(Float32Array.from(normals(2 * 20 * 96, 7)), [2, 20, 96]);
    const dy = tf.tensor(Float32Array.from(normals(2 * 20 * 32, 8)), [2, 20, 32]);
    const before = tf.memory().numTensors;
    const a = valueAndGrad(qkv, dy, 2, true, undefined, 'fused');
    const b = valueAndGrad(qkv, dy, 2, true, undefined, 'fused');
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(a[0], b[0]);
    assert.deepEqual(a[1], b[1]);
    tf.dispose([qkv, dy]);
  });

  test('auto falls back to composed for a head dim not a multiple of 4; fused then says why', () => {
    assert.equal(attentionUsesFused([1, 4, 3 * 12], 2, 'auto'), false); // D = 6
    assert.throws(() => attentionUsesFused([1, 4, 3 * 12], 2, 'fused'), /multiple of 4/);
    const qkv = tf.tensor(Float32Array.from(normals(4 * 36, 3)), [1, 4, 36]);
    const a = attentionOp(qkv, { heads: 2, causal: true });
    const b = composedAttention(qkv, { heads: 2, causal: true });
    assert.deepEqual(a.dataSync(), b.dataSync());
    tf.dispose([qkv, a, b]);
  });

  test('attn_fwd / attn_bwd write only their outputs and scratch, and all of them', () => {
    const file = kernelsWasmPath(threaded);
    assert.ok(file && fs.existsSync(file), `${file} missing`);
    const memory = threaded ? new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true }) : new WebAssembly.Memory({ initial: 64 });
    const k = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)), { env: { memory } }).exports as Record<string, (...a: number[]) => void>;
    const u32 = new Uint32Array(memory.buffer), f32 = new Float32Array(memory.buffer);
    const SENTINEL = 0x7fc0beef;
    for (const [B, T, H, D] of [[2, 5, 2, 4], [1, 7, 1, 12], [2, 9, 2, 8]] as const) {
      for (const causal of [0, 1]) {
        for (const rope of [0, 1]) {
          u32.fill(SENTINEL);
          const d = H * D, Tp = (T + 3) & ~3;
          let at = 68;
          const bufs: Record<string, [number, number]> = {};
          const take = (name: string, n: number, fill: boolean) => {
            bufs[name] = [at, n];
            if (fill) f32.set(Float32Array.from(normals(n, at)), at / 4);
            at += n * 4 + 64;
            return bufs[name]![0];
          };
          const qkv = take('qkv', B * T * 3 * d, true), dz = take('dz', B * T * d, true);
          const cos = take('cos', T * D, true), sin = take('sin', T * D, true);
          const z = take('z', B * T * d, false), P = take('P', B * H * T * Tp, false), dq = take('dqkv', B * T * 3 * d, false);
          const s1 = take('s1', 3 * Tp * D + 4 * Tp, false), s2 = take('s2', 3 * Tp * D + 2 * Tp * Tp, false);
          const snapshot = u32.slice(0, at / 4 + 16);
          k.attn_fwd!(qkv, z, P, s1, B, T, H, D, causal, 0.3, rope, cos, sin);
          k.attn_bwd!(qkv, dz, P, dq, s2, B, T, H, D, causal, 0.3, rope, cos, sin);
          const tag = `B${B} T${T} H${H} D${D} causal${causal} rope${rope}`;
          const inside = (byte: number, names: string[]) => names.some((nm) => byte >= bufs[nm]![0] && byte < bufs[nm]![0] + 4 * bufs[nm]![1]);
          for (let i = 0; i < snapshot.length; i++) {
            if (u32[i] !== snapshot[i]) assert.ok(inside(i * 4, ['z', 'P', 'dqkv', 's1', 's2']), `${tag}: wrote byte ${i * 4} outside its outputs`);
          }
          for (const nm of ['z', 'P', 'dqkv']) {
            const [o, n] = bufs[nm]!;
            for (let i = 0; i < n; i++) assert.notEqual(u32[o / 4 + i], SENTINEL, `${tag}: ${nm}[${i}] unwritten`);
          }
        }
      }
    }
  });

  test('an LM (RoPE, causal) and a ViT (bidirectional) give the same loss and gradients fused and composed', () => {
    const lm = createLM({ vocabSize: 40, context: 12, dModel: 32, nLayers: 2, nHeads: 2, mlp: 'gelu', seed: 3 });
    const vit = createViT({ imageSize: 28, channels: 1, classes: 10, dModel: 32, nLayers: 1, nHeads: 4, patchSize: 7, seed: 4 });
    const ids = tf.tensor2d(Array.from({ length: 3 * 12 }, (_, i) => (i * 7) % 40), [3, 12], 'int32');
    const targets = tf.tensor2d(Array.from({ length: 3 * 12 }, (_, i) => (i * 5 + 1) % 40), [3, 12], 'int32');
    const images = tf.tensor4d(Float32Array.from(normals(2 * 28 * 28, 9)), [2, 28, 28, 1]);
    const run = (impl: KernelImpl) => {
      setAttentionImpl(impl);
      try {
        const lmOut = tf.variableGrads(() => crossEntropy(lm.apply(ids), targets), lm.trainableVariables());
        const vitOut = tf.variableGrads(() => tf.mean(tf.square(vit.apply(images))) as tf.Scalar, vit.trainableVariables());
        const read = (o: { value: Tensor; grads: Record<string, Tensor> }) => {
          const r = { value: o.value.dataSync()[0]!, grads: Object.fromEntries(Object.entries(o.grads).map(([k, g]) => [k, g.dataSync() as Float32Array])) };
          tf.dispose([o.value, ...Object.values(o.grads)]);
          return r;
        };
        return [read(lmOut), read(vitOut)];
      } finally {
        setAttentionImpl('auto');
      }
    };
    assert.equal(attentionUsesFused([3, 12, 96], 2), true);
    const fused = run('auto'), composed = run('composed');
    for (const [m, label] of [[0, 'lm'], [1, 'vit']] as const) {
      assert.ok(Math.abs(fused[m]!.value - composed[m]!.value) <= 1e-5 * Math.abs(composed[m]!.value), `${label} loss`);
      for (const [name, g] of Object.entries(composed[m]!.grads)) {
        assert.ok(maxRelErr(fused[m]!.grads[name]!, g) < 2e-5, `${label} grad ${name}: ${maxRelErr(fused[m]!.grads[name]!, g)}`);
      }
    }
    tf.dispose([ids, targets, images]);
    lm.dispose();
    vit.dispose();
  });

  test('a hook on blocks.0.attn.pattern still sees the pattern (composed path under a scope)', () => {
    const lm = createLM({ vocabSize: 40, context: 8, dModel: 32, nLayers: 2, nHeads: 2, mlp: 'gelu', seed: 5 });
    const ids = tf.tensor2d([[1, 5, 7, 9, 2, 3, 4, 8], [9, 9, 1, 0, 39, 3, 2, 1]], undefined, 'int32');
    const r = runWithCache(lm, ids, ['blocks.0.attn.pattern', 'logits']);
    const p = r.cache['blocks.0.attn.pattern']!;
    assert.deepEqual(p.shape, [2, 2, 8, 8]);
    const pv = p.arraySync() as number[][][][];
    for (const row of pv[1]![0]!) assert.ok(Math.abs(row.reduce((a, x) => a + x, 0) - 1) < 1e-5);
    assert.equal(pv[0]![1]![2]![5], 0); // causal
    // The logits the hooked (composed) pass produced match the plain (fused) pass.
    const plain = tf.tidy(() => lm.apply(ids));
    assert.ok(maxRelErr(plain.dataSync(), r.output.dataSync()) < 1e-5);
    r.dispose();
    tf.dispose([plain, ids]);
    lm.dispose();
  });

  if (process.env[CHILD_FLAG] === undefined) {
    test('the same suite passes in a child with the other memory (DYTLAB_WASM_THREADS=2 or 0)', () => {
      // This process ran one of ops.wasm / ops-shared.wasm; the child runs the other.
      const env: NodeJS.ProcessEnv = { ...process.env, DYTLAB_WASM_THREADS: threaded ? '0' : '2', [CHILD_FLAG]: '1' };
      delete env.NODE_TEST_CONTEXT;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', __filename], {
        cwd: join(__dirname, '..'), env, encoding: 'utf8', timeout: 300_000,
      });
      assert.equal(r.status, 0, `threaded run failed (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
    });
  }
});
