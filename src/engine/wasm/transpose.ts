// tfjs-backend-wasm's Transpose is a generic scalar loop: a [1024, 512] matrix
// takes ~4 ms, 20x a copy, and every transposed matmul (all the gradients) and
// every head split pays it. Once size-1 axes are dropped and axes that stay
// adjacent are merged, nearly every permutation a model issues is
//   [batch, R, C, D] -> [batch, C, R, D]
// which the SIMD module does at near copy speed. Anything else keeps the stock kernel.
import type { TensorInfo } from '../tf.js';
import { heapOffset } from '../ops/backend-access.js';
import { simdKernels } from '../ops/simd.js';
import { replaceWasmKernel, wasmKernel, type KernelFn } from './op-utils.js';

export interface SwapPlan { batch: number; R: number; C: number; D: number }

/**
 * The plan for transposing `shape` by `perm` as one swap of two middle axes,
 * 'identity' when the data order does not change, or null when it is not such a swap.
 */
export function swapPlan(shape: readonly number[], perm: readonly number[]): SwapPlan | 'identity' | null {
  // Drop size-1 axes (they do not move data), renumbering the rest.
  const keep = shape.map((s, i) => (s === 1 ? -1 : i)).filter((i) => i >= 0);
  const rank = new Map(keep.map((axis, j) => [axis, j]));
  const p = perm.filter((a) => rank.has(a)).map((a) => rank.get(a)!);
  const dims = keep.map((a) => shape[a]!);
  // Merge runs of consecutive source axes that stay consecutive in the output.
  const groups: number[][] = [];
  for (const a of p) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1]! + 1 === a) last.push(a);
    else groups.push([a]);
  }
  const size = (g: number[]) => g.reduce((s, a) => s * dims[a]!, 1);
  // Groups in source order give the merged input shape; p over groups is the merged perm.
  const bySource = [...groups].sort((g, h) => g[0]! - h[0]!);
  const merged = bySource.map(size);
  const mp = groups.map((g) => bySource.indexOf(g));
  const is = (...want: number[]) => mp.length === want.length && mp.every((v, i) => v === want[i]);
  if (mp.length <= 1) return 'identity';
  if (is(1, 0)) return { batch: 1, R: merged[0]!, C: merged[1]!, D: 1 };
  if (is(0, 2, 1)) return { batch: merged[0]!, R: merged[1]!, C: merged[2]!, D: 1 };
  if (is(1, 0, 2)) return { batch: 1, R: merged[0]!, C: merged[1]!, D: merged[2]! };
  if (is(0, 2, 1, 3)) return { batch: merged[0]!, R: merged[1]!, C: merged[2]!, D: merged[3]! };
  return null;
}

export const transposeStats = { simd: 0, shared: 0, stock: 0 };

export function installSimdTranspose(): void {
  const stock = wasmKernel('Transpose');
  const transpose: KernelFn = (args) => {
    const x = args.inputs.x as TensorInfo;
    const perm = (args.attrs?.perm as number[] | undefined) ?? [];
    const k = simdKernels();
    const plan = x.dtype === 'float32' || x.dtype === 'int32' ? swapPlan(x.shape, perm) : null;
    if (k === null || plan === null) {
      transposeStats.stock++;
      return stock.kernelFunc(args as never) as TensorInfo;
    }
    const outShape = perm.map((a) => x.shape[a]!);
    if (plan === 'identity') {
      // Same bytes in the same order: share the buffer (tensors are immutable).
      transposeStats.shared++;
      args.backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: outShape, dtype: x.dtype };
    }
    transposeStats.simd++;
    const out = args.backend.makeOutput(outShape, x.dtype);
    k.transpose_f32(heapOffset(args.backend, x), heapOffset(args.backend, out), plan.batch, plan.R, plan.C, plan.D);
    return out;
  };
  replaceWasmKernel('Transpose', transpose, stock.setupFunc);
}
