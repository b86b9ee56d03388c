// Seeded parameter initialisation: every draw takes the next seed from one
// counter, so the same config and seed build the same weights, in any process.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';

export class Init {
  private counter = 0;
  constructor(readonly seed: number, readonly std = 0.02) {
    if (!Number.isInteger(seed)) throw new Error(`Init: seed = ${seed} must be an integer`);
  }

  private next(): number {
    // Distinct, reproducible seeds per draw (tfjs seeds its own PRNG per call).
    return (this.seed * 1_000_003 + ++this.counter * 7919) % 2_147_483_647;
  }

  /** Truncated normal (|z| < 2 std), the usual transformer init. */
  normal(shape: number[], std = this.std): Tensor {
    return tf.truncatedNormal(shape, 0, std, 'float32', this.next());
  }

  zeros(shape: number[]): Tensor {
    return tf.zeros(shape);
  }
}
