// Small numeric helpers shared by the test suites.

/** Deterministic PRNG (mulberry32): tests draw their inputs from explicit seeds. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard normal draws (Box-Muller) from `seed`. */
export function normals(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = scale * m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = scale * m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export { maxRelErr } from '../../src/engine/ops/reference.js';

/** Central finite differences of a float64 scalar function f at p, for every coordinate. */
export function centralDiff(f: (p: Float64Array) => number, p: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const old = p[i]!;
    p[i] = old + h;
    const up = f(p);
    p[i] = old - h;
    const down = f(p);
    p[i] = old;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// ---- float64 references of the squash shapes, written independently of the library ----

/** Central differences of a scalar loss with respect to each coordinate of `param` (changed in place, then restored). */
export function fdGrad(param: Float64Array, loss: () => number, h: number): Float64Array {
  const g = new Float64Array(param.length);
  for (let i = 0; i < param.length; i++) {
    const old = param[i]!;
    param[i] = old + h;
    const up = loss();
    param[i] = old - h;
    const down = loss();
    param[i] = old;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
