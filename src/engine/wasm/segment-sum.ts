// tfjs-backend-wasm 4.22 has no UnsortedSegmentSum kernel, and the gradient of
// tf.gather (an embedding lookup) is an unsorted segment sum: without this,
// training any model with an embedding fails on wasm. One pass, in JS over the heap.
import type { TensorInfo } from '../tf.js';
import { replaceWasmKernel, type KernelFn } from './op-utils.js';

export const unsortedSegmentSum: KernelFn = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = Number(attrs?.numSegments);
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum: numSegments must be a non-negative integer, got ${String(attrs?.numSegments)}`);
  }
  const ids = segmentIds.shape.reduce((p, d) => p * d, 1);
  for (let i = 0; i < segmentIds.shape.length; i++) {
    if (segmentIds.shape[i] !== x.shape[i]) {
      throw new Error(`UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
    }
  }
  const inner = x.shape.slice(segmentIds.shape.length).reduce((p, d) => p * d, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  // Views after makeOutput: the allocation may have grown the heap.
  const dst = backend.typedArrayFromHeap(out);
  dst.fill(0); // malloc'd memory is not zeroed
  const src = backend.typedArrayFromHeap(x);
  const seg = backend.typedArrayFromHeap(segmentIds);
  for (let i = 0; i < ids; i++) {
    const s = seg[i]!;
    if (s < 0 || s >= numSegments) continue; // TensorFlow drops out-of-range ids
    const o = s * inner, k = i * inner;
    for (let j = 0; j < inner; j++) dst[o + j]! += src[k + j]!;
  }
  return out;
};

export function installSegmentSum(): void {
  replaceWasmKernel('UnsortedSegmentSum', unsortedSegmentSum);
}
