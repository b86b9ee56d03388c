// Loader for the SIMD kernel module (dist/wasm/ops[-shared][-relaxed].wasm,
// built by scripts/build-ops.mjs), instantiated on tfjs-wasm's own memory so
// the kernels read and write tensors in place by heap offset. The relaxed
// build (fused multiply-adds in the tanh, exp and affine polynomials) is used
// where the runtime has relaxed SIMD; relaxedSimdStatus() says which and why.
//
// Unavailability is never silent: simdKernels() returns null and
// simdKernelsProblem() says why (no memory capture, file missing, ...).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { tf } from '../tf.js';
import type { TensorInfo } from '../tf.js';
import { capturedWasmMemory, wasmMemoryCaptureProblem } from '../wasm-memory.js';
import { heapOffset, wasmBackendOf } from './backend-access.js';
import { packageRoot } from '../../util/paths.js';

/**
 * Rows per chunk of the norm backwards' per-channel sums: float32 within a chunk,
 * float64 across chunks (16 bounds the float32 part's error as the old per-block
 * flush did, and leaves enough chunks for the threads).
 */
export const CHUNK_ROWS = 16;

/** Bytes of one chunk record (assembly/simd-math.ts): `fields` x C float32 sums, 16-byte aligned, then two float64 totals. */
export function chunkRecordBytes(fields: number, C: number): number {
  return ((fields * C * 4 + 15) & ~15) + 16;
}

/** Typed exports of the kernel module. All pointers are byte offsets. */
export interface SimdKernels {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  readonly file: string;
  tanh_f32(x: number, y: number, n: number): void;
  /** fOut: 0, or where f(alpha * x + s) also goes (the training forward, for the backward's fIn). */
  squash_fwd(kind: number, x: number, y: number, rows: number, C: number,
    alpha: number, alphaPerChannel: number, s: number, sPerChannel: number, gamma: number, beta: number, fOut: number): void;
  /**
   * Backwards write dx and, per chunk of chunkRows rows, a record of per-channel
   * sums at part + chunk * recBytes (assembly/simd-math.ts, chunkRecordBytes in
   * row-pool.ts); chunk_reduce adds the chunks up into the parameter gradients.
   * squash_bwd's fields: dgamma, dbeta, dalpha if per channel, ds if per channel;
   * totals: dalpha, ds when scalar. fIn: 0 (f recomputed from x), or the forward's saved f.
   */
  squash_bwd(kind: number, x: number, dy: number, rows: number, C: number,
    alpha: number, alphaPerChannel: number, s: number, sPerChannel: number, gamma: number,
    dx: number, part: number, recBytes: number, chunkRows: number, fIn: number): void;
  layernorm_fwd(x: number, y: number, rows: number, C: number, gamma: number, beta: number,
    eps: number, mean: number, rstd: number): void;
  /** Fields dgamma, dbeta. */
  layernorm_bwd(x: number, dy: number, rows: number, C: number, gamma: number, mean: number, rstd: number,
    dx: number, part: number, recBytes: number, chunkRows: number): void;
  rmsnorm_fwd(x: number, y: number, rows: number, C: number, gamma: number, eps: number, rstd: number): void;
  /** Field dgamma. */
  rmsnorm_bwd(x: number, dy: number, rows: number, C: number, gamma: number, rstd: number,
    dx: number, part: number, recBytes: number, chunkRows: number): void;
  /** out [C] = field `field` summed over `chunks` records (float64, chunk order); field -1 / -2: that total, one float. */
  chunk_reduce(part: number, chunks: number, recBytes: number, C: number, field: number, out: number): void;
  /** y [batch, C, R, D] = x [batch, R, C, D] with the middle axes swapped (4-byte elements). */
  transpose_f32(x: number, y: number, batch: number, R: number, C: number, D: number): void;
  /**
   * C [M, ldc] = op(A) op(B) (simd-gemm.ts): flags bit 0 = A given as A^T ([K, lda]), bit 1 = B given
   * as B^T ([N, ldb]); pack: GEMM_PACK_FLOATS floats of scratch.
   */
  gemm_f32(flags: number, M: number, N: number, K: number, a: number, lda: number, b: number, ldb: number,
    c: number, ldc: number, pack: number): void;
  /** y [C] = sums over the rows of x [R, C] (simd-reduce.ts). */
  sum_rows_f32(x: number, y: number, R: number, C: number): void;
  /** y [R] = sums over the columns of x [R, C]. */
  sum_cols_f32(x: number, y: number, R: number, C: number): void;
  /** Fused attention (simd-attention.ts): z, P from qkv; scratch 3 Tp D + 4 Tp floats. */
  attn_fwd(qkv: number, z: number, P: number, scratch: number, B: number, T: number, H: number, D: number,
    causal: number, scale: number, rope: number, cos: number, sin: number): void;
  /** dqkv from qkv, dz, P; scratch 3 Tp D + 2 Tp^2 floats. */
  attn_bwd(qkv: number, dz: number, P: number, dqkv: number, scratch: number, B: number, T: number, H: number, D: number,
    causal: number, scale: number, rope: number, cos: number, sin: number): void;
  /** Training kernels (simd-train.ts): AdamW over a table of 7-int32 entries [p, pOut, g, m, v, n, decay]. */
  adamw_multi(table: number, count: number, b1: number, omb1: number, b2: number, omb2: number,
    c1: number, c2: number, eps: number, lr: number, keep: number, gscale: number): void;
  /** out[0] (float64) = sum of squares over a table of 2-int32 entries [x, n]. */
  sumsq_multi(table: number, count: number, out: number): void;
  /** lse [rows] and out[0] = mean cross-entropy of x [rows, V] against int32 t [rows]. */
  xent_fwd(x: number, t: number, rows: number, V: number, lse: number, out: number): void;
  /** dx = (softmax(x) - onehot(t)) * dy[0] / rows. */
  xent_bwd(x: number, t: number, lse: number, dy: number, rows: number, V: number, dx: number): void;
  gelu_fwd(x: number, y: number, n: number): void;
  gelu_bwd(x: number, dy: number, dx: number, n: number): void;
  gelu_exact_fwd(x: number, y: number, n: number): void;
  gelu_exact_bwd(x: number, dy: number, dx: number, n: number): void;
  /** y = gelu(x + bias) over x [rows, C]. */
  bias_gelu_fwd(x: number, bias: number, y: number, rows: number, C: number): void;
  bias_gelu_exact_fwd(x: number, bias: number, y: number, rows: number, C: number): void;
  /** dx = dy gelu'(x + bias), dbias = sum over rows of dx; scratch: C float64. */
  bias_gelu_bwd(x: number, bias: number, dy: number, dx: number, dbias: number, rows: number, C: number, scratch: number): void;
  bias_gelu_exact_bwd(x: number, bias: number, dy: number, dx: number, dbias: number, rows: number, C: number, scratch: number): void;
}

const EXPORT_NAMES = [
  'tanh_f32', 'squash_fwd', 'squash_bwd', 'layernorm_fwd', 'layernorm_bwd', 'rmsnorm_fwd', 'rmsnorm_bwd', 'chunk_reduce',
  'transpose_f32', 'gemm_f32', 'sum_rows_f32', 'sum_cols_f32',
  'attn_fwd', 'attn_bwd',
  'adamw_multi', 'sumsq_multi', 'xent_fwd', 'xent_bwd', 'gelu_fwd', 'gelu_bwd', 'gelu_exact_fwd', 'gelu_exact_bwd',
  'bias_gelu_fwd', 'bias_gelu_exact_fwd', 'bias_gelu_bwd', 'bias_gelu_exact_bwd',
] as const;

const PACKAGE_NAME = 'dytlab';

// The smallest module using f32x4.relaxed_madd (0xfd 0x105): () -> v128 of three v128.const.
const RELAXED_PROBE = (() => {
  const c = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...c, ...c, ...c, 0xfd, 0x85, 0x02, 0x0b];
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: [] -> [v128]
    0x03, 0x02, 0x01, 0x00, // one function of that type
    0x0a, body.length + 2, 0x01, body.length, ...body]);
})();

/** DYTLAB_RELAXED_SIMD: '1', '0' or unset; anything else is an error naming the variable and the value. */
export function relaxedSimdSetting(): '0' | '1' | undefined {
  const want = process.env.DYTLAB_RELAXED_SIMD;
  if (want === undefined || want === '0' || want === '1') return want;
  throw new Error(`DYTLAB_RELAXED_SIMD=${want}: expected 1 (on where possible) or 0 (off); unset, it is on where the runtime has relaxed SIMD by default`);
}

/** Whether the relaxed-SIMD kernel build is used, and why (or why not). */
export interface RelaxedSimdStatus { on: boolean; reason: string }

let relaxed: RelaxedSimdStatus | undefined;

/**
 * Relaxed SIMD for the kernel module: on where the runtime validates
 * f32x4.relaxed_madd (Node 22 and later by default) unless DYTLAB_RELAXED_SIMD=0;
 * on Node 20 only with DYTLAB_RELAXED_SIMD=1 (which sets V8's
 * --experimental-wasm-relaxed-simd for this process) or that node flag. Decided
 * once per process: results differ in the last bits between the builds (one
 * rounding per multiply-add instead of two), so a run records which it used.
 */
export function relaxedSimdStatus(): RelaxedSimdStatus {
  if (relaxed) return relaxed;
  const want = relaxedSimdSetting();
  if (want === '0') return (relaxed = { on: false, reason: 'switched off by DYTLAB_RELAXED_SIMD=0' });
  if (!WebAssembly.validate(RELAXED_PROBE) && want === '1') v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  if (!WebAssembly.validate(RELAXED_PROBE)) {
    return (relaxed = {
      on: false,
      reason: want === '1'
        ? `this runtime (Node ${process.versions.node}) has no relaxed SIMD, even with --experimental-wasm-relaxed-simd`
        : `Node ${process.versions.node}'s V8 has relaxed SIMD only behind a flag: DYTLAB_RELAXED_SIMD=1 (or node --experimental-wasm-relaxed-simd) turns it on`,
    });
  }
  return (relaxed = { on: true, reason: 'f32x4.relaxed_madd in the tanh, exp and affine polynomials and the matrix product (a fused multiply-add where the CPU has FMA)' });
}

/** Path of the kernel module for a plain or shared memory, relaxed-SIMD build or not. */
export function kernelsWasmPath(shared: boolean, relaxedBuild = relaxedSimdStatus().on): string | undefined {
  const root = packageRoot();
  const name = `ops${shared ? '-shared' : ''}${relaxedBuild ? '-relaxed' : ''}.wasm`;
  return root === undefined ? undefined : path.join(root, 'dist', 'wasm', name);
}

let cached: { memory: WebAssembly.Memory; kernels: SimdKernels } | undefined;
let problem: string | undefined = 'simdKernels() has not been called yet';
let enabled = true;

/**
 * Switches the SIMD module off (fused wasm kernels then run their JS loops)
 * or back on; for tests and benchmarks of the fallback path.
 */
export function setSimdKernelsEnabled(on: boolean): void {
  enabled = on;
}

export function simdKernelsEnabled(): boolean {
  return enabled;
}

function instantiate(memory: WebAssembly.Memory): SimdKernels {
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const file = kernelsWasmPath(shared);
  if (file === undefined) throw new Error(`cannot find the ${PACKAGE_NAME} package root (package.json) above ${typeof __dirname === 'string' ? __dirname : process.cwd()}`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing; run \`node scripts/build-ops.mjs\``);
  const module = new WebAssembly.Module(fs.readFileSync(file));
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as Record<string, unknown>;
  for (const name of EXPORT_NAMES) {
    if (typeof exports[name] !== 'function') throw new Error(`${file} lacks the export ${name}; rebuild it`);
  }
  return { ...(exports as unknown as Omit<SimdKernels, 'memory' | 'shared' | 'file'>), memory, shared, file };
}

/**
 * The kernel module bound to the wasm backend's memory, or null (see
 * simdKernelsProblem()). Cheap to call per kernel: it rechecks that the
 * captured memory still backs the backend's heap.
 */
export function simdKernels(): SimdKernels | null {
  if (!enabled) {
    problem = 'the SIMD module is switched off (setSimdKernelsEnabled(false))';
    return null;
  }
  const memory = capturedWasmMemory();
  if (memory === undefined) {
    problem = wasmMemoryCaptureProblem() ?? 'wasm memory not captured';
    return null;
  }
  if (cached?.memory === memory) return cached.kernels;
  try {
    cached = { memory, kernels: instantiate(memory) };
    problem = undefined;
    return cached.kernels;
  } catch (err) {
    cached = undefined;
    problem = `SIMD kernel module unavailable: ${err instanceof Error ? err.message : String(err)}`;
    return null;
  }
}

/** Why the last simdKernels() call returned null; undefined if it succeeded. */
export function simdKernelsProblem(): string | undefined {
  return problem;
}

/**
 * A kernelFunc for kernelName 'Tanh' on 'wasm' that runs the SIMD tanh
 * (max abs error < 1e-6; see test/kernels.test.ts), or null when the module
 * is unavailable. Registering it is the engine's decision.
 */
export function simdTanhKernel(): tf.KernelFunc | null {
  if (simdKernels() === null) return null;
  return ({ inputs, backend }) => {
    const x = inputs['x'] as TensorInfo | undefined;
    if (x === undefined) throw new Error('SIMD Tanh kernel: missing input x');
    if (x.dtype !== 'float32') throw new Error(`SIMD Tanh kernel: dtype ${x.dtype} is not supported (float32 only)`);
    const wasm = wasmBackendOf(backend, 'Tanh');
    const k = simdKernels();
    const out = wasm.makeOutput(x.shape, 'float32');
    const n = x.shape.reduce((a, b) => a * b, 1);
    if (n === 0) return out;
    if (k === null) {
      // The memory changed under us (backend re-created): stay correct.
      const xs = wasm.typedArrayFromHeap(x);
      const ys = wasm.typedArrayFromHeap(out);
      for (let i = 0; i < n; i++) ys[i] = Math.tanh(xs[i]!);
      return out;
    }
    k.tanh_f32(heapOffset(wasm, x), heapOffset(wasm, out), n);
    return out;
  };
}
