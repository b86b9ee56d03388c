// The one data module that touches tfjs: turn pure batches into tensors of the
// shapes models expect. The caller owns (and disposes) the returned tensors.
import { tf } from '../engine/tf.js';
import type { ImageBatch, TokenBatch } from './batching.js';

export interface TokenTensors { x: tf.Tensor2D; y: tf.Tensor2D }
export interface ImageTensors { x: tf.Tensor3D; y: tf.Tensor1D }

/** Tokens as int32 [batch, context] for both inputs and targets. */
export function tokenTensors(b: TokenBatch): TokenTensors {
  return {
    x: tf.tensor2d(b.x, [b.batch, b.context], 'int32'),
    y: tf.tensor2d(b.y, [b.batch, b.context], 'int32'),
  };
}

/** Images as float32 [batch, height, width]; labels int32 [batch]. */
export function imageTensors(b: ImageBatch): ImageTensors {
  return {
    x: tf.tensor3d(b.x, [b.batch, b.height, b.width], 'float32'),
    y: tf.tensor1d(b.y, 'int32'),
  };
}

/** Either batch kind to tensors (dispatches on `batch.kind`). */
export function toTensors(b: TokenBatch): TokenTensors;
export function toTensors(b: ImageBatch): ImageTensors;
export function toTensors(b: TokenBatch | ImageBatch): TokenTensors | ImageTensors;
export function toTensors(b: TokenBatch | ImageBatch): TokenTensors | ImageTensors {
  return b.kind === 'tokens' ? tokenTensors(b) : imageTensors(b);
}
