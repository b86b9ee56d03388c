// Float casts with one per-tensor scale, as fp8 is used in practice: the
// tensor's absmax is mapped onto the format's largest finite value, so the
// whole tensor uses the format's range instead of saturating (E4M3 tops out at
// 448) or flushing small values to zero:
//   s = absmax(x) / maxFinite,   y = s * round_fmt(x / s)
// x / s is formed in float32 (then rounded by the bit-exact casts in
// precision.ts) and s * q in double, stored as float32. An all-zero tensor
// has s = 0 and gives zeros. Non-finite values stay out of the absmax and pass
// through unchanged, like fakeQuantInt8.
import { tf } from './tf.js';
import type { Tensor } from './tf.js';
import { FORMAT_INFO, roundFloatArray, type FloatFormat, type RoundStats } from './precision.js';

const FLOAT_FORMATS: readonly FloatFormat[] = ['bf16', 'fp16', 'fp8_e4m3', 'fp8_e5m2'];

function checkFloatFormat(format: unknown, fn: string): FloatFormat {
  if (!(FLOAT_FORMATS as readonly unknown[]).includes(format)) {
    throw new Error(`${fn}: unknown float format '${String(format)}'; expected one of ${FLOAT_FORMATS.join(', ')}`);
  }
  return format as FloatFormat;
}

/** Largest finite |x| of an array (0 when it has none). */
export function absMaxFinite(src: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < src.length; i++) {
    const a = Math.abs(src[i]!);
    if (a > m && a !== Infinity) m = a; // NaN fails the comparison
  }
  return m;
}

export interface ScaledRound {
  /** s * round(x / s), float32. */
  out: Float32Array;
  /** The scale s = absmax / maxFinite (0 for an all-zero input). */
  scale: number;
}

/** Per-tensor scaled rounding of a float32 array to `format` (see the module comment). */
export function roundScaledArray(src: Float32Array, format: FloatFormat, stats?: RoundStats): ScaledRound {
  format = checkFloatFormat(format, 'roundScaledArray');
  const scale = absMaxFinite(src) / FORMAT_INFO[format].maxFinite;
  const out = new Float32Array(src.length);
  if (scale === 0) {
    for (let i = 0; i < src.length; i++) out[i] = Number.isFinite(src[i]!) ? 0 : src[i]!;
    return { out, scale };
  }
  for (let i = 0; i < src.length; i++) out[i] = src[i]! / scale;
  roundFloatArray(out, format, out, stats);
  for (let i = 0; i < src.length; i++) {
    if (Number.isFinite(src[i]!)) out[i] = out[i]! * scale;
    else out[i] = src[i]!;
  }
  return { out, scale };
}

/**
 * Per-tensor scaled cast with a straight-through gradient (dy passes
 * unchanged; the scale is treated as a constant).
 */
export function castScaled(x: Tensor, format: FloatFormat): Tensor {
  format = checkFloatFormat(format, 'castScaled');
  if (x.dtype !== 'float32') throw new Error(`castScaled: expected a float32 tensor, got dtype ${x.dtype}`);
  const op = tf.customGrad((...args: unknown[]) => {
    const input = args[0] as Tensor;
    const { out } = roundScaledArray(input.dataSync() as Float32Array, format);
    return { value: tf.tensor(out, input.shape, 'float32'), gradFunc: (dy: Tensor) => dy.clone() };
  });
  return op(x);
}
