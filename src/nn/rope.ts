// Rotary position embeddings (RoPE), rotate-half form as in GPT-NeoX / LLaMA's HF port:
// x * cos + rotate_half(x) * sin, with frequencies base^(-2i/d) over the head dimension.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';

export interface RopeTables { cos: Tensor; sin: Tensor } // [T, headDim]

export function ropeTables(maxLen: number, headDim: number, base = 10000): RopeTables {
  if (headDim % 2 !== 0) throw new Error(`RoPE: head dimension ${headDim} must be even`);
  const half = headDim / 2;
  const cos = new Float32Array(maxLen * headDim), sin = new Float32Array(maxLen * headDim);
  for (let t = 0; t < maxLen; t++) {
    for (let i = 0; i < half; i++) {
      const a = t * Math.pow(base, (-2 * i) / headDim);
      cos[t * headDim + i] = cos[t * headDim + i + half] = Math.cos(a);
      sin[t * headDim + i] = sin[t * headDim + i + half] = Math.sin(a);
    }
  }
  return { cos: tf.tensor2d(cos, [maxLen, headDim]), sin: tf.tensor2d(sin, [maxLen, headDim]) };
}

/** x: [B, H, T, D]; tables sliced to the first T positions. */
export function applyRope(x: Tensor, tables: RopeTables): Tensor {
  const T = x.shape[2]!, D = x.shape[3]!;
  const cos = tables.cos.slice([0, 0], [T, D]), sin = tables.sin.slice([0, 0], [T, D]);
  const [x1, x2] = tf.split(x, 2, 3);
  const rotated = tf.concat([tf.neg(x2!), x1!], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}
