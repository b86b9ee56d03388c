// Everything the engine does to tfjs-backend-wasm, in order: before the backend
// instantiates (threads opt-in, memory capture for our SIMD kernels) and after
// (the kernel fixes). See ../../../shared ENGINE-NOTES for the measurements behind each.
import '@tensorflow/tfjs-backend-wasm';
import { tf } from '../tf.js';
import { installWasmMemoryCapture } from '../wasm-memory.js';
import { prepareWasmThreads, wasmThreadsStatus } from '../wasm-threads.js';
import { simdKernels, simdTanhKernel } from '../ops/simd.js';
import { installMatmulFix, simdGemmActive } from './matmul.js';
import { installSegmentSum } from './segment-sum.js';
import { installSharedIdentity } from './identity.js';
import { installSimdTranspose } from './transpose.js';
import { installRowGather } from './gather.js';
import { installSimdSum } from './sum.js';
import { replaceWasmKernel, type KernelFn } from './op-utils.js';

const fixes: string[] = [];
let tanhReason: string | undefined;
let tanhKernel: KernelFn | undefined;
let stockTanh: ReturnType<typeof tf.getKernel>;

export function prepareWasm(): void {
  prepareWasmThreads();
  installWasmMemoryCapture();
}

export function finishWasm(): void {
  if (fixes.length) return;
  installMatmulFix();
  fixes.push('matmul-xnnpack');
  installSegmentSum();
  fixes.push('unsorted-segment-sum');
  installSharedIdentity();
  fixes.push('identity-no-copy');
  installRowGather();
  fixes.push('gather-rows');
  if (simdKernels() !== null) {
    installSimdTranspose();
    fixes.push('transpose-simd');
    installSimdSum();
    fixes.push('sum-simd');
    // The matmul fix's first choice (DYTLAB_SIMD_GEMM=0 leaves only the XNNPACK rewrites).
    if (simdGemmActive()) fixes.push('matmul-simd');
  }
  tanhKernel = (simdTanhKernel() ?? undefined) as KernelFn | undefined;
  stockTanh = tf.getKernel('Tanh', 'wasm');
  if (tanhKernel) {
    setSimdTanhEnabled(true);
    fixes.push('tanh-simd');
  } else {
    tanhReason = 'SIMD kernel module unavailable; the stock scalar Tanh kernel stays';
  }
}

/** Switch tf.tanh on wasm between dytlab's SIMD kernel and the stock one (benchmarks compare both). */
export function setSimdTanhEnabled(on: boolean): void {
  if (!tanhKernel || !stockTanh) throw new Error(`setSimdTanhEnabled: the SIMD Tanh kernel is not installed${tanhReason ? ` (${tanhReason})` : ''}`);
  replaceWasmKernel('Tanh', on ? tanhKernel : (stockTanh.kernelFunc as unknown as KernelFn), stockTanh.setupFunc);
}

/** Whether tf.tanh on wasm currently runs dytlab's SIMD kernel (not the stock scalar one). */
export function simdTanhActive(): boolean {
  return tanhKernel != null && tf.getKernel('Tanh', 'wasm')?.kernelFunc === tanhKernel;
}

export function installedWasmFixes(): string[] {
  return [...fixes];
}

export function wasmThreadInfo(): { threads: number; active: boolean; reason?: string } {
  const s = wasmThreadsStatus();
  return { threads: s.threads, active: s.active, ...(s.reason ? { reason: s.reason } : {}) };
}
