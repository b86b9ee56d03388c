// A small seeded PRNG for data order: xoshiro128** on four uint32 words, seeded
// through splitmix32. Its whole state is four numbers, so a training run can save
// it in a checkpoint and resume its batches exactly. Not for cryptography.
import { ConfigError, showValue } from '../util/schema.js';

export const RNG_ALGORITHM = 'xoshiro128**';

/** The serialisable state of an Rng: JSON-safe, restorable with `setState`. */
export interface RngState {
  algorithm: typeof RNG_ALGORITHM;
  s: [number, number, number, number];
}

const TWO_32 = 4294967296;

/** Throw unless `seed` is a non-negative safe integer; `label` names the caller. */
export function checkSeed(seed: unknown, label: string): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new ConfigError(`${label}: seed = ${showValue(seed)} is invalid: expected a non-negative safe integer`);
  }
  return seed;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** `seed`: any non-negative safe integer (both 32-bit halves are used). */
  constructor(seed = 0) {
    checkSeed(seed, 'Rng');
    // splitmix32 spreads nearby seeds (0, 1, 2, ...) over unrelated states.
    let a = ((seed >>> 0) ^ Math.imul(Math.floor(seed / TWO_32), 0x85ebca6b)) | 0;
    const mix = (): number => {
      a = (a + 0x9e3779b9) | 0;
      let z = a;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero is xoshiro's one fixed point
  }

  /** Next uniform uint32 in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextUint32() / TWO_32;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); n an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
      throw new ConfigError(`Rng.int: n = ${showValue(n)} is invalid: expected an integer in [1, 2^32]`);
    }
    const limit = TWO_32 - (TWO_32 % n); // largest multiple of n that fits: values above it would bias low residues
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal draw (Box-Muller; no cached spare, so the state stays four words). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: log(0) impossible
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place; returns the same array. Works on arrays and typed arrays. */
  shuffle<A extends { length: number; [i: number]: unknown }>(a: A): A {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  getState(): RngState {
    return { algorithm: RNG_ALGORITHM, s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0] };
  }

  setState(state: RngState): this {
    const ok = state != null && state.algorithm === RNG_ALGORITHM && Array.isArray(state.s) && state.s.length === 4 &&
      state.s.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_32) && state.s.some((w) => w !== 0);
    if (!ok) {
      throw new ConfigError(`Rng.setState: state = ${showValue(state)} is invalid: expected ` +
        `{algorithm: '${RNG_ALGORITHM}', s: four uint32 words, not all zero}`);
    }
    [this.s0, this.s1, this.s2, this.s3] = state.s;
    return this;
  }

  /** An Rng that continues from `state`. */
  static fromState(state: RngState): Rng {
    return new Rng(0).setState(state);
  }
}
