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

/** max|a - b| / max|b|: the error relative to the size of the reference. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxRelErr: lengths differ (${a.length} vs ${b.length})`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-30);
}

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

/**
 * erf in float64: the Maclaurin series below |u| = 3 (cancellation keeps ~1e-13 there), the
 * continued fraction erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))) above.
 */
export function erf64(u: number): number {
  const s = Math.sign(u), a = Math.abs(u);
  if (a >= 3) {
    let f = a;
    for (let k = 80; k >= 1; k--) f = a + k / 2 / f;
    return s * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f);
  }
  let term = a, sum = a;
  for (let n = 1; n < 200; n++) {
    term *= (-a * a) / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return (s * 2 * sum) / Math.sqrt(Math.PI);
}

/** f(u) of every squash shape (sigmoid centred: 2 sigmoid(u) - 1). */
export const SQUASH64 = {
  tanh: Math.tanh,
  hardtanh: (u: number) => Math.min(1, Math.max(-1, u)),
  sigmoid: (u: number) => 2 / (1 + Math.exp(-u)) - 1,
  softsign: (u: number) => u / (1 + Math.abs(u)),
  erf: erf64,
  isru: (u: number) => u / Math.sqrt(1 + u * u),
  identity: (u: number) => u,
} satisfies Record<string, (u: number) => number>;

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
