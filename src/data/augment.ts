// Data augmentation for small image sets: random translations, seeded and
// resumable (the caller keeps the Rng's state with its checkpoint).
import type { ImageBatch } from './batching.js';
import type { Rng } from './rng.js';

/**
 * Shift every image of the batch by (dy, dx), each uniform in [-maxShift, maxShift],
 * filling uncovered pixels with the image's top-left value (the background).
 * Returns a new batch; the input is untouched.
 */
export function randomShift(b: ImageBatch, maxShift: number, rng: Rng): ImageBatch {
  if (!Number.isInteger(maxShift) || maxShift < 0) throw new Error(`randomShift: maxShift = ${maxShift} must be a non-negative integer`);
  const { height: H, width: W } = b;
  const out = new Float32Array(b.x.length);
  for (let i = 0; i < b.batch; i++) {
    const dy = rng.int(2 * maxShift + 1) - maxShift, dx = rng.int(2 * maxShift + 1) - maxShift;
    const src = b.x.subarray(i * H * W, (i + 1) * H * W), dst = out.subarray(i * H * W, (i + 1) * H * W);
    dst.fill(src[0]!);
    for (let y = Math.max(0, dy); y < Math.min(H, H + dy); y++) {
      const sy = y - dy;
      const x0 = Math.max(0, dx), x1 = Math.min(W, W + dx);
      dst.set(src.subarray(sy * W + x0 - dx, sy * W + x1 - dx), y * W + x0);
    }
  }
  return { ...b, x: out };
}
