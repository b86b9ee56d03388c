// Float64 references of the normalization family, forward and backward, in
// plain loops: the ground truth of the GPU correctness checks (bench/gpu) and
// of the tests. The squash shapes come from SQUASH64 (numeric.ts); their
// derivatives are written out here and checked against finite differences in
// test/gpu-bench.test.ts.
import { SQUASH64 } from './numeric.js';

export type Shape64 = keyof typeof SQUASH64;
type Vec = ArrayLike<number>;

/** f'(u) in float64 (centred sigmoid: 2 sigmoid(u) - 1, so f' = 2 s (1 - s)). */
export const SQUASH64_DERIV: Record<Shape64, (u: number) => number> = {
  tanh: (u) => 1 - Math.tanh(u) ** 2,
  hardtanh: (u) => (u >= -1 && u <= 1 ? 1 : 0),
  sigmoid: (u) => { const s = 1 / (1 + Math.exp(-u)); return 2 * s * (1 - s); },
  softsign: (u) => 1 / (1 + Math.abs(u)) ** 2,
  erf: (u) => (2 / Math.sqrt(Math.PI)) * Math.exp(-u * u),
  isru: (u) => (1 + u * u) ** -1.5,
  identity: () => 1,
};

const at = (v: Vec, c: number): number => (v.length === 1 ? v[0]! : v[c]!);

export interface SquashParams64 { alpha: Vec; s: Vec; gamma: Vec; beta: Vec }

export function squashForward64(shape: Shape64, x: Vec, rows: number, C: number, p: SquashParams64): Float64Array {
  const f = SQUASH64[shape], y = new Float64Array(rows * C);
  for (let i = 0; i < rows * C; i++) {
    const c = i % C;
    y[i] = p.gamma[c]! * f(at(p.alpha, c) * x[i]! + at(p.s, c)) + p.beta[c]!;
  }
  return y;
}

export interface SquashGrads64 { dx: Float64Array; dalpha: Float64Array; ds: Float64Array; dgamma: Float64Array; dbeta: Float64Array }

/** Gradients of sum(y * dy); dalpha / ds have the length of alpha / s. */
export function squashBackward64(shape: Shape64, x: Vec, dy: Vec, rows: number, C: number, p: Omit<SquashParams64, 'beta'>): SquashGrads64 {
  const f = SQUASH64[shape], d = SQUASH64_DERIV[shape];
  const out: SquashGrads64 = {
    dx: new Float64Array(rows * C), dalpha: new Float64Array(p.alpha.length), ds: new Float64Array(p.s.length),
    dgamma: new Float64Array(C), dbeta: new Float64Array(C),
  };
  for (let i = 0; i < rows * C; i++) {
    const c = i % C, a = at(p.alpha, c);
    const u = a * x[i]! + at(p.s, c);
    const g = dy[i]! * p.gamma[c]! * d(u);
    out.dx[i] = g * a;
    out.dalpha[p.alpha.length === 1 ? 0 : c] += g * x[i]!;
    out.ds[p.s.length === 1 ? 0 : c] += g;
    out.dgamma[c] += dy[i]! * f(u);
    out.dbeta[c] += dy[i]!;
  }
  return out;
}

function rowStats(x: Vec, r: number, C: number, eps: number, centred: boolean): { mean: number; rstd: number } {
  let mean = 0;
  if (centred) {
    for (let c = 0; c < C; c++) mean += x[r * C + c]!;
    mean /= C;
  }
  let q = 0;
  for (let c = 0; c < C; c++) q += (x[r * C + c]! - mean) ** 2;
  return { mean, rstd: 1 / Math.sqrt(q / C + eps) };
}

export interface NormResult64 { y: Float64Array; mean: Float64Array; rstd: Float64Array }

/** LayerNorm (centred = true) or RMSNorm (centred = false, beta ignored): y and the per-row statistics. */
export function normForward64(centred: boolean, x: Vec, rows: number, C: number, gamma: Vec, beta: Vec | undefined, eps: number): NormResult64 {
  const y = new Float64Array(rows * C), mean = new Float64Array(rows), rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const s = rowStats(x, r, C, eps, centred);
    mean[r] = s.mean;
    rstd[r] = s.rstd;
    for (let c = 0; c < C; c++) y[r * C + c] = gamma[c]! * (x[r * C + c]! - s.mean) * s.rstd + (centred && beta ? beta[c]! : 0);
  }
  return { y, mean, rstd };
}

export interface NormGrads64 { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array }

/** Gradients of sum(y * dy) for LayerNorm (centred) or RMSNorm, statistics recomputed in float64. */
export function normBackward64(centred: boolean, x: Vec, dy: Vec, rows: number, C: number, gamma: Vec, eps: number): NormGrads64 {
  const out: NormGrads64 = { dx: new Float64Array(rows * C), dgamma: new Float64Array(C), dbeta: new Float64Array(C) };
  for (let r = 0; r < rows; r++) {
    const { mean, rstd } = rowStats(x, r, C, eps, centred);
    let m1 = 0, m2 = 0;
    for (let c = 0; c < C; c++) {
      const i = r * C + c, xh = (x[i]! - mean) * rstd, g = dy[i]! * gamma[c]!;
      m1 += g;
      m2 += g * xh;
      out.dgamma[c] += dy[i]! * xh;
      out.dbeta[c] += dy[i]!;
    }
    m1 /= C;
    m2 /= C;
    for (let c = 0; c < C; c++) {
      const i = r * C + c, xh = (x[i]! - mean) * rstd;
      out.dx[i] = rstd * (dy[i]! * gamma[c]! - (centred ? m1 : 0) - xh * m2);
    }
  }
  return out;
}
