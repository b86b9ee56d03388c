// tfjs-backend-wasm's Sum moves the reduced axes innermost with its own scalar
// Transpose (not the registered kernel) before a scalar loop: every bias
// gradient (a sum over the rows of [tokens, C]) paid it, ~0.7 ms for
// [1024, 64]. When the reduced axes are the leading or the trailing ones, the
// tensor already is [R, C] in memory and the SIMD module sums it in one pass;
// other axis sets keep the stock kernel.
import { tf, type TensorInfo } from '../tf.js';
import { heapOffset } from '../ops/backend-access.js';
import { simdKernels } from '../ops/simd.js';
import { replaceWasmKernel, wasmKernel, type KernelFn } from './op-utils.js';

export interface SumPlan { R: number; C: number; over: 'rows' | 'cols' }

/** How a sum of `shape` over `axes` reads as [R, C]: over the rows (leading axes) or the columns (trailing), or null. */
export function sumPlan(shape: readonly number[], axes: readonly number[]): SumPlan | null {
  const rank = shape.length;
  const set = [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
  if (set.length === 0 || set.some((a) => a < 0 || a >= rank)) return null;
  const size = (from: number, to: number) => shape.slice(from, to).reduce((p, d) => p * d, 1);
  const k = set.length;
  if (set.every((a, i) => a === i)) return { R: size(0, k), C: size(k, rank), over: 'rows' };
  if (set.every((a, i) => a === rank - k + i)) return { R: size(0, rank - k), C: size(rank - k, rank), over: 'cols' };
  return null;
}

export const sumStats = { simd: 0, stock: 0 };

export function installSimdSum(): void {
  const stock = wasmKernel('Sum');
  const sum: KernelFn = (args) => {
    const x = args.inputs.x as TensorInfo;
    // No axis means every axis; parseAxisParam returns negative axes counted from 0.
    const axes = tf.util.parseAxisParam((args.attrs?.axis as number | number[] | undefined) ?? x.shape.map((_, i) => i), x.shape);
    const plan = x.dtype === 'float32' ? sumPlan(x.shape, axes) : null;
    const k = plan ? simdKernels() : null;
    if (!plan || !k) {
      sumStats.stock++;
      return stock.kernelFunc(args as never) as TensorInfo;
    }
    sumStats.simd++;
    const keep = Boolean(args.attrs?.keepDims);
    const reduced = new Set(axes);
    const shape = keep ? x.shape.map((d, i) => (reduced.has(i) ? 1 : d)) : x.shape.filter((_, i) => !reduced.has(i));
    const out = args.backend.makeOutput(shape, 'float32');
    if (plan.over === 'rows') k.sum_rows_f32(heapOffset(args.backend, x), heapOffset(args.backend, out), plan.R, plan.C);
    else k.sum_cols_f32(heapOffset(args.backend, x), heapOffset(args.backend, out), plan.R, plan.C);
    return out;
  };
  replaceWasmKernel('Sum', sum, stock.setupFunc);
}
