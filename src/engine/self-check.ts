// A quick check that the engine computes what it should on this backend, against
// plain float64 JavaScript: DyT forward (fused when available) and a transposed matmul.
import { tf } from './tf.js';
import { fusedKernelStatus, getTanhPrecision, setTanhPrecision, squashOp } from './ops/index.js';
import { maxRelErr } from './ops/reference.js';

export interface SelfCheck { ok: boolean; detail: string; dytMaxRelErr: number; matmulMaxRelErr: number }

const [R, C, M, K, N] = [37, 13, 24, 40, 24];
const TOL = 1e-5;

function inputs(): { x: Float32Array; a: Float32Array; b: Float32Array } {
  return {
    x: Float32Array.from({ length: R * C }, (_, i) => 4 * Math.sin(i * 1.7) + Math.cos(i * 0.3)),
    a: Float32Array.from({ length: K * M }, (_, i) => Math.sin(i * 0.37)),
    b: Float32Array.from({ length: N * K }, (_, i) => Math.cos(i * 0.11)),
  };
}

/** DyT through both of the SIMD kernels' tanh paths (the fast training one and the accurate one); the worse counts. */
function dytBothPaths(x: Float32Array): tf.Tensor {
  const p = { alpha: tf.fill([1], 0.5), s: tf.zeros([1]), gamma: tf.ones([C]), beta: tf.zeros([C]) };
  const was = getTanhPrecision();
  try {
    setTanhPrecision('accurate');
    const accurate = squashOp(tf.tensor2d(x, [R, C]), p, 'tanh', 'auto');
    setTanhPrecision('fast');
    const fast = squashOp(tf.tensor2d(x, [R, C]), p, 'tanh', 'auto');
    return tf.concat([fast, accurate]);
  } finally {
    setTanhPrecision(was);
  }
}

function compute(x: Float32Array, a: Float32Array, b: Float32Array): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const y = dytBothPaths(x);
    // a is stored [K, M] and b [N, K]: the product a^T b^T exercises both transpose flags.
    const t = tf.matMul(tf.tensor2d(a, [K, M]), tf.tensor2d(b, [N, K]), true, true);
    return [y, t] as [tf.Tensor, tf.Tensor];
  });
}

function judge(x: Float32Array, a: Float32Array, b: Float32Array, dyt: ArrayLike<number>, mm: ArrayLike<number>): SelfCheck {
  const once = Array.from(x, (v) => Math.tanh(0.5 * v));
  const refDyt = [...once, ...once]; // fast, then accurate
  const refMm = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[k * M + i]! * b[j * K + k]!;
    refMm[i * N + j] = s;
  }
  const e1 = maxRelErr(dyt, refDyt), e2 = maxRelErr(mm, refMm);
  const k = fusedKernelStatus();
  const path = k && k.registered.length ? (k.backend === 'webgpu' ? 'fused WGSL' : k.simd ? 'fused SIMD' : 'fused JS') : 'composed';
  return {
    ok: e1 < TOL && e2 < TOL, dytMaxRelErr: e1, matmulMaxRelErr: e2,
    detail: `DyT (${path}; fast and accurate tanh) vs float64 tanh: max rel err ${e1.toExponential(1)}; ` +
      `transposed matmul vs float64: ${e2.toExponential(1)} (tolerance ${TOL})`,
  };
}

/** Synchronous: backends that can read synchronously (not webgpu under Node: use selfCheckAsync). */
export function selfCheck(): SelfCheck {
  const { x, a, b } = inputs();
  const [y, t] = compute(x, a, b);
  const r = judge(x, a, b, y.dataSync(), t.dataSync());
  tf.dispose([y, t]);
  return r;
}

/** The same check reading results with `await data()`: works on every backend. */
export async function selfCheckAsync(): Promise<SelfCheck> {
  const { x, a, b } = inputs();
  const [y, t] = compute(x, a, b);
  const r = judge(x, a, b, await y.data(), await t.data());
  tf.dispose([y, t]);
  return r;
}

/**
 * The threaded wasm build's own check, run by initBackend before threads are
 * kept: products large enough that XNNPACK splits them across its threads
 * (plain, and transposed as the gradients are) against float64. Returns what
 * failed, or undefined. DYTLAB_TEST_FAIL_THREAD_CHECK=1 makes it fail (tests
 * of the fallback only).
 */
export function threadedMatmulProblem(): string | undefined {
  if (process.env.DYTLAB_TEST_FAIL_THREAD_CHECK === '1') return 'simulated failure (DYTLAB_TEST_FAIL_THREAD_CHECK=1)';
  const [m, k, n] = [192, 160, 256];
  const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.173));
  const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.071));
  const ref = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) {
    const av = a[i * k + p]!;
    for (let j = 0; j < n; j++) ref[i * n + j]! += av * b[p * n + j]!;
  }
  const [plain, transposed] = tf.tidy(() => {
    const A = tf.tensor2d(a, [m, k]), B = tf.tensor2d(b, [k, n]);
    return [tf.matMul(A, B), tf.matMul(tf.transpose(A), tf.transpose(B), true, true)];
  });
  const e1 = maxRelErr(plain!.dataSync(), ref), e2 = maxRelErr(transposed!.dataSync(), ref);
  tf.dispose([plain!, transposed!]);
  if (e1 < TOL && e2 < TOL) return undefined;
  return `threaded matmul vs float64: max rel err ${e1.toExponential(1)} plain, ${e2.toExponential(1)} transposed (tolerance ${TOL})`;
}
