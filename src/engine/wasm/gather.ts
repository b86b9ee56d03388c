// tfjs-backend-wasm's GatherV2 takes 15-25 ms to look up 1,024 rows of a
// [96, 128] embedding (its C++ loop moves one element at a time through
// generic strides), a few percent of a small LM's training step. A gather
// along axis 0 (every embedding lookup) is a list of row copies: done here as
// typed-array copies on the heap. Other axes and batch dims keep the stock kernel.
import type { TensorInfo } from '../tf.js';
import { replaceWasmKernel, wasmKernel, type KernelFn } from './op-utils.js';

export const gatherStats = { rows: 0, stock: 0 };

export function installRowGather(): void {
  const stock = wasmKernel('GatherV2');
  const gather: KernelFn = (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const axis = Number(args.attrs?.axis ?? 0), batchDims = Number(args.attrs?.batchDims ?? 0);
    const rank = x.shape.length;
    const ax = axis < 0 ? axis + rank : axis;
    if (ax !== 0 || batchDims !== 0 || rank < 1 || (x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') {
      gatherStats.stock++;
      return stock.kernelFunc(args as never) as TensorInfo;
    }
    gatherStats.rows++;
    const b = args.backend;
    const rows = x.shape[0]!;
    const row = x.shape.slice(1).reduce((p, d) => p * d, 1);
    const ids = b.typedArrayFromHeap(indices) as Int32Array;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < rows)) throw new Error(`GatherV2: the index value ${id} is not in [0, ${rows - 1}]`);
    }
    const n = ids.length;
    const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    // One view of the whole heap, taken after the allocation (it may grow the heap);
    // copyWithin moves each row without creating a subarray per row.
    const heap = new Int32Array(b.wasm.HEAPU8.buffer);
    const xo = (b.dataIdMap.get(x.dataId)!.memoryOffset) >> 2, oo = (b.dataIdMap.get(out.dataId)!.memoryOffset) >> 2;
    const io = (b.dataIdMap.get(indices.dataId)!.memoryOffset) >> 2;
    for (let i = 0; i < n; i++) {
      const s = xo + heap[io + i]! * row;
      heap.copyWithin(oo + i * row, s, s + row);
    }
    return out;
  };
  replaceWasmKernel('GatherV2', gather, stock.setupFunc);
}
