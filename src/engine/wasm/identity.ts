// tfjs-backend-wasm's Identity kernel copies its input. Identity is what
// tf.clone and every saved tensor of tf.customGrad (and of many stock
// gradients) go through, so each backward pass paid one full copy per saved
// activation. tfjs tensors are immutable, so, like the cpu backend, share the
// buffer and count a reference instead.
import type { TensorInfo } from '../tf.js';
import { replaceWasmKernel, wasmKernel, type KernelFn } from './op-utils.js';

export function installSharedIdentity(): void {
  const stock = wasmKernel('Identity');
  const identity: KernelFn = (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return stock.kernelFunc(args as never) as TensorInfo;
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  replaceWasmKernel('Identity', identity, stock.setupFunc);
}
