// The one place the library imports tfjs from, so every module (and every
// notebook that imports `tf` from 'dytlab') shares a single engine instance.
//
// `@tensorflow/tfjs-core`'s Node build carries no gradients and no chained ops
// (x.sum()); in CommonJS only the `@tensorflow/tfjs` bundle registers them,
// on this same (deduplicated) tfjs-core instance.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';

export { tf };
export type {
  Tensor, Scalar, Rank, TensorLike, DataType, Variable, NamedTensorMap, TensorInfo, KernelConfig, KernelFunc,
} from '@tensorflow/tfjs-core';
