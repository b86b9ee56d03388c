// Matrix products on the wasm backend.
//
// tfjs-backend-wasm 4.22 sends a product to XNNPACK only when both operands
// have batch 1 and no transpose flag; everything else, including every matmul
// gradient (they use transpose flags) and batched products, runs a scalar loop
// at ~1-2 GFLOP/s. And XNNPACK repacks B whenever B is a tensor it has not
// seen, which in training is every call.
//
// First choice, when the SIMD module is loaded: our own product
// (assembly/simd-gemm.ts, ~55-60 GFLOP/s per thread in bench/matmul), which
// reads transposed operands in place, runs batches as pointer offsets and
// splits its rows across the row pool's threads. Otherwise these wrappers
// rewrite the slow cases into XNNPACK ones:
//   - a transpose flag becomes an explicit Transpose (memory-bound, cheap);
//   - [B, m, k] x [k, n] (weights shared across the batch) becomes one
//     [B*m, k] x [k, n] product;
//   - a true batched product becomes one XNNPACK product per batch slice,
//     written straight into the output buffer.
// Products too small to amortise XNNPACK's per-call set-up keep the stock path.
import type { KernelConfig, TensorInfo } from '../tf.js';
import { callKernel, release, replaceWasmKernel, reshaped, wasmKernel, type KernelFn, type WasmBackendLike } from './op-utils.js';
import { heapOffset } from '../ops/backend-access.js';
import { simdKernels } from '../ops/simd.js';
import { GEMM_PACK_FLOATS, poolShares, runRows } from '../ops/row-pool.js';

/**
 * Below this many multiply-adds per slice the stock kernel's loop beats XNNPACK's per-call
 * set-up (measured: [256,16,16]x[16,16] 1.7 ms stock vs 5.2 ms sliced; 40k MACs 12.8 vs 5.3 ms).
 */
export const MIN_SLICE_MACS = 8192;

export interface MatmulFixStats { simd: number; batch1Rewrites: number; flipped: number; foldedBatch: number; sliced: number; stock: number }
export const matmulFixStats: MatmulFixStats = { simd: 0, batch1Rewrites: 0, flipped: 0, foldedBatch: 0, sliced: 0, stock: 0 };

let simdGemm = process.env.DYTLAB_SIMD_GEMM !== '0';

/** Use our SIMD product (default) or only the XNNPACK rewrites (benchmarks measure both in one process). */
export function setSimdGemmEnabled(on: boolean): void {
  simdGemm = on;
}

/** Whether products go to the SIMD module: switched on and the module loaded. */
export function simdGemmActive(): boolean {
  return simdGemm && simdKernels() !== null;
}

/**
 * C = opA(a) opB(b) with the SIMD module, or null when it cannot: the module is
 * off or missing, or the batch dims broadcast other than "equal, or one side 1".
 */
function simdProduct(backend: WasmBackendLike, a: TensorInfo, b: TensorInfo, ta: boolean, tb: boolean, d: Dims, shape: number[]): TensorInfo | null {
  if (!simdGemm) return null;
  if (d.batchA !== d.batchB && d.batchA !== 1 && d.batchB !== 1) return null;
  // Batch dims of the same total that are laid out differently ([2,3] against [3,2]) broadcast: leave them to tfjs.
  if (d.batchA === d.batchB && d.batchA > 1 && a.shape.slice(0, -2).join() !== b.shape.slice(0, -2).join()) return null;
  const k = simdKernels();
  if (k === null) return null;
  matmulFixStats.simd++;
  const out = backend.makeOutput(shape, 'float32');
  const batch = Math.max(d.batchA, d.batchB);
  if (batch * d.m * d.n === 0) return out;
  // One panel of scratch per share the pool may split the rows into.
  const pack = backend.makeOutput([poolShares() * GEMM_PACK_FLOATS], 'float32');
  const ao = heapOffset(backend, a), bo = heapOffset(backend, b), co = heapOffset(backend, out), po = heapOffset(backend, pack);
  const flags = (ta ? 1 : 0) | (tb ? 2 : 0);
  const lda = ta ? d.m : d.k, ldb = tb ? d.k : d.n;
  if (d.batchB === 1 && !ta) {
    // Shared B: the batch of A is more rows of one product.
    runRows(k, 'gemm_f32', [flags, batch * d.m, d.n, d.k, ao, lda, bo, ldb, co, d.n, po]);
  } else {
    const sa = d.batchA === 1 ? 0 : 4 * d.m * d.k, sb = d.batchB === 1 ? 0 : 4 * d.k * d.n, sc = 4 * d.m * d.n;
    for (let i = 0; i < batch; i++) {
      runRows(k, 'gemm_f32', [flags, d.m, d.n, d.k, ao + i * sa, lda, bo + i * sb, ldb, co + i * sc, d.n, po]);
    }
  }
  release(backend, pack);
  return out;
}

/**
 * XNNPACK packs its second operand on every call whose B it has not seen (in
 * training every B is new: gradients, and weights after each update), at about
 * 5x the cost of transposing the same number of floats. So a product is run as
 * C^T = B^T A^T (then transposed back) when that packs the smaller operand
 * (k*m < k*n) by enough to pay for the extra transposes: for a weight gradient
 * X^T dY with more output channels than input features, it packs X instead of dY.
 */
export const PACK_COST_PER_TRANSPOSE = 5;

/** Whether C = opA(a) opB(b) ([m,k] x [k,n]) is cheaper computed as (opB(b)^T opA(a)^T)^T. */
export function flipPays(m: number, k: number, n: number, ta: boolean, tb: boolean): boolean {
  const keep = (ta ? m * k : 0) + (tb ? k * n : 0) + PACK_COST_PER_TRANSPOSE * k * n;
  const flip = (tb ? 0 : k * n) + (ta ? 0 : m * k) + PACK_COST_PER_TRANSPOSE * k * m + m * n;
  return flip < keep;
}

interface Dims { batchA: number; batchB: number; m: number; k: number; n: number }

function dims(a: TensorInfo, b: TensorInfo, ta: boolean, tb: boolean): Dims {
  const ra = a.shape.length, rb = b.shape.length;
  const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
  return {
    batchA: size(a.shape.slice(0, -2)),
    batchB: size(b.shape.slice(0, -2)),
    m: ta ? a.shape[ra - 1]! : a.shape[ra - 2]!,
    k: ta ? a.shape[ra - 2]! : a.shape[ra - 1]!,
    n: tb ? b.shape[rb - 2]! : b.shape[rb - 1]!,
  };
}

function outShape(a: TensorInfo, b: TensorInfo, d: Dims): number[] {
  const oa = a.shape.slice(0, -2), ob = b.shape.slice(0, -2);
  // Broadcast the batch dims (tfjs already validated them before dispatch).
  const len = Math.max(oa.length, ob.length);
  const outer: number[] = [];
  for (let i = 0; i < len; i++) {
    const x = oa[oa.length - len + i] ?? 1, y = ob[ob.length - len + i] ?? 1;
    outer.push(Math.max(x, y));
  }
  return [...outer, d.m, d.n];
}

let stock: { bmm: KernelConfig; fused: KernelConfig } | undefined;
let fixed: { bmm: KernelFn; fused: KernelFn } | undefined;

/** Switch between the fixed and the stock kernels (benchmarks measure both in one process). */
export function setMatmulFixEnabled(on: boolean): void {
  if (!stock || !fixed) throw new Error('setMatmulFixEnabled: the matmul fix was never installed (wasm backend not initialised)');
  replaceWasmKernel('BatchMatMul', on ? fixed.bmm : (stock.bmm.kernelFunc as unknown as KernelFn), stock.bmm.setupFunc);
  replaceWasmKernel('_FusedMatMul', on ? fixed.fused : (stock.fused.kernelFunc as unknown as KernelFn), stock.fused.setupFunc);
}

export function installMatmulFix(): void {
  if (stock) return;
  const stockBmm = wasmKernel('BatchMatMul');
  const stockFused = wasmKernel('_FusedMatMul');
  const transposeK = wasmKernel('Transpose');

  /** `t` as a plain row-major [batch, rows, cols] operand, transposing the last two axes if `flag`. */
  const plain = (backend: WasmBackendLike, t: TensorInfo, batch: number, rows: number, cols: number, flag: boolean): TensorInfo => {
    if (!flag) return reshaped(backend, t, [batch, rows, cols]);
    const src = reshaped(backend, t, [batch, cols, rows]);
    const out = callKernel(transposeK, backend, { x: src }, { perm: [0, 2, 1] });
    release(backend, src);
    return out;
  };

  const batchMatMul: KernelFn = ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const ta = Boolean(attrs?.transposeA), tb = Boolean(attrs?.transposeB);
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return stockBmm.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    const d = dims(a, b, ta, tb);
    const shape = outShape(a, b, d);
    const own = simdProduct(backend, a, b, ta, tb, d, shape);
    if (own) return own;
    const macs = d.m * d.k * d.n;
    const plainCall = (x: TensorInfo, y: TensorInfo) =>
      callKernel(stockBmm, backend, { a: x, b: y }, { transposeA: false, transposeB: false });

    if (d.batchA === 1 && d.batchB === 1) {
      if (macs >= MIN_SLICE_MACS && flipPays(d.m, d.k, d.n, ta, tb)) {
        matmulFixStats.flipped++;
        const x = plain(backend, b, 1, d.n, d.k, !tb), y = plain(backend, a, 1, d.k, d.m, !ta);
        const ct = plainCall(x, y); // [1, n, m]
        const out = callKernel(transposeK, backend, { x: ct }, { perm: [0, 2, 1] }); // [1, m, n]
        release(backend, x, y, ct);
        out.shape = shape;
        return out;
      }
      if (!ta && !tb) return stockBmm.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
      matmulFixStats.batch1Rewrites++;
      const x = plain(backend, a, 1, d.m, d.k, ta), y = plain(backend, b, 1, d.k, d.n, tb);
      const out = plainCall(x, y);
      release(backend, x, y);
      out.shape = shape;
      return out;
    }
    if (d.batchB === 1 && !ta) {
      // Shared weights: fold the batch of A into its rows.
      matmulFixStats.foldedBatch++;
      const x = reshaped(backend, a, [1, d.batchA * d.m, d.k]);
      const y = plain(backend, b, 1, d.k, d.n, tb);
      const out = plainCall(x, y);
      release(backend, x, y);
      out.shape = shape;
      return out;
    }
    if (macs < MIN_SLICE_MACS || (d.batchA !== d.batchB && d.batchA !== 1 && d.batchB !== 1)) {
      matmulFixStats.stock++;
      return stockBmm.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    }
    matmulFixStats.sliced++;
    const batch = Math.max(d.batchA, d.batchB);
    const x = plain(backend, a, d.batchA, d.m, d.k, ta), y = plain(backend, b, d.batchB, d.k, d.n, tb);
    const out = backend.makeOutput([batch, d.m, d.n], 'float32');
    const sa = backend.makeOutput([1, d.m, d.k], 'float32');
    for (let i = 0; i < batch; i++) {
      // XNNPACK caches its packed weights by the id of B: each slice of B must be a new tensor.
      const sb = backend.makeOutput([1, d.k, d.n], 'float32');
      // Views are re-taken every iteration: an allocation may grow (and detach) the heap.
      const xa = backend.typedArrayFromHeap(x) as Float32Array, yb = backend.typedArrayFromHeap(y) as Float32Array;
      const ia = d.batchA === 1 ? 0 : i, ib = d.batchB === 1 ? 0 : i;
      (backend.typedArrayFromHeap(sa) as Float32Array).set(xa.subarray(ia * d.m * d.k, (ia + 1) * d.m * d.k));
      (backend.typedArrayFromHeap(sb) as Float32Array).set(yb.subarray(ib * d.k * d.n, (ib + 1) * d.k * d.n));
      const p = plainCall(sa, sb);
      (backend.typedArrayFromHeap(out) as Float32Array).set(backend.typedArrayFromHeap(p) as Float32Array, i * d.m * d.n);
      release(backend, p, sb);
    }
    release(backend, x, y, sa);
    out.shape = shape;
    return out;
  };

  const fusedMatMul: KernelFn = ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const ta = Boolean(attrs?.transposeA), tb = Boolean(attrs?.transposeB);
    const d = dims(a, b, ta, tb);
    const stock = () => stockFused.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || (!ta && !tb && d.batchA === 1 && d.batchB === 1)) return stock();
    // Bias and activation stay fused; only the operand layout is rewritten.
    // A bias broadcast over batch slices keeps its meaning only when it has no batch dims.
    const bias = inputs.bias;
    const simpleBias = !bias || bias.shape.length <= 1 || bias.shape.slice(0, -1).every((s) => s === 1);
    if (d.batchB !== 1 || ta && d.batchA !== 1 || !simpleBias) { matmulFixStats.stock++; return stock(); }
    matmulFixStats.batch1Rewrites++;
    const x = d.batchA === 1 ? plain(backend, a, 1, d.m, d.k, ta) : reshaped(backend, a, [1, d.batchA * d.m, d.k]);
    const y = plain(backend, b, 1, d.k, d.n, tb);
    const out = callKernel(stockFused, backend, { ...inputs, a: x, b: y }, { ...attrs, transposeA: false, transposeB: false });
    release(backend, x, y);
    out.shape = outShape(a, b, d);
    return out;
  };

  stock = { bmm: stockBmm, fused: stockFused };
  fixed = { bmm: batchMatMul, fused: fusedMatMul };
  setMatmulFixEnabled(true);
}
