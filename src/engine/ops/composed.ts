// The normalization family composed from stock tfjs ops; gradients come from
// tfjs autodiff. This is the baseline the fused kernels are measured and
// tested against, so each shape uses the obvious tfjs op (tf.tanh for DyT).

import { tf } from '../tf.js';
import type { Tensor } from '../tf.js';
import type { SquashShape } from './types.js';

export interface SquashTensors { alpha: Tensor; s: Tensor; gamma: Tensor; beta: Tensor }

function squashShapeOp(u: Tensor, shape: SquashShape): Tensor {
  switch (shape) {
    case 'tanh': return tf.tanh(u);
    case 'hardtanh': return tf.clipByValue(u, -1, 1);
    case 'sigmoid': return tf.sub(tf.mul(tf.sigmoid(u), 2), 1);
    case 'softsign': return tf.div(u, tf.add(tf.abs(u), 1));
    case 'erf': return tf.erf(u);
    case 'isru': return tf.mul(u, tf.rsqrt(tf.add(tf.square(u), 1)));
    case 'identity': return u;
  }
}

/** y = gamma * f(alpha * x + s) + beta over the last axis of x. */
export function composedSquash(x: Tensor, p: SquashTensors, shape: SquashShape): Tensor {
  return tf.tidy(() => {
    const u = tf.add(tf.mul(x, p.alpha), p.s);
    return tf.add(tf.mul(squashShapeOp(u, shape), p.gamma), p.beta);
  });
}

/** LayerNorm over the last axis (biased variance). */
export function composedLayerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  return tf.tidy(() => {
    const centred = tf.sub(x, tf.mean(x, -1, true));
    const variance = tf.mean(tf.square(centred), -1, true);
    return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
  });
}

/** RMSNorm over the last axis. */
export function composedRMSNorm(x: Tensor, gamma: Tensor, eps: number): Tensor {
  return tf.tidy(() => {
    const ms = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), gamma);
  });
}
