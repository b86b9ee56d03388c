// Loader for the SIMD kernel module (dist/wasm/ops[-shared].wasm, built
// by scripts/build-ops.mjs), instantiated on tfjs-wasm's own memory so the
// kernels read and write tensors in place by heap offset.
//
// Unavailability is never silent: simdKernels() returns null and
// simdKernelsProblem() says why (no memory capture, file missing, ...).

import * as fs from 'node:fs';
import * as path from 'node:path';
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
  squash_fwd(kind: number, x: number, y: number, rows: number, C: number,
    alpha: number, alphaPerChannel: number, s: number, sPerChannel: number, gamma: number, beta: number): void;
  /**
   * Backwards write dx and, per chunk of chunkRows rows, a record of per-channel
   * sums at part + chunk * recBytes (assembly/simd-math.ts, chunkRecordBytes in
   * row-pool.ts); chunk_reduce adds the chunks up into the parameter gradients.
   * squash_bwd's fields: dgamma, dbeta, dalpha if per channel, ds if per channel;
   * totals: dalpha, ds when scalar.
   */
  squash_bwd(kind: number, x: number, dy: number, rows: number, C: number,
    alpha: number, alphaPerChannel: number, s: number, sPerChannel: number, gamma: number,
    dx: number, part: number, recBytes: number, chunkRows: number): void;
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

/** Path of the kernel module for a plain or shared memory. */
export function kernelsWasmPath(shared: boolean): string | undefined {
  const root = packageRoot();
  return root === undefined ? undefined : path.join(root, 'dist', 'wasm', shared ? 'ops-shared.wasm' : 'ops.wasm');
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
