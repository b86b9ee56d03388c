// Float64 references of the normalization family, forward and backward, in
// plain loops with no approximations beyond libm, written apart from the fused
// ops: the ground truth of the tests and of the GPU correctness checks
// (bench/gpu). Squash values and derivatives come from the shape table.
import { erf64 } from '../../util/erf.js';
import { SQUASH, squashF64, type SquashShape } from '../squash-shapes.js';

/** erf in float64 (abs error < 1e-13); the reference the fast erf is held to. */
export const erfF64 = erf64;
export { squashF64 };

type Vec = ArrayLike<number>;

export interface SquashRefParams { alpha: Vec; s: Vec; gamma: Vec; beta: Vec }

/** y = gamma * f(alpha * x + s) + beta over rows of C; alpha / s of length 1 or C. */
export function squashReference(x: Vec, rows: number, C: number, p: SquashRefParams, shape: SquashShape): Float64Array {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const a = p.alpha.length === 1 ? p.alpha[0]! : p.alpha[c]!;
      const s = p.s.length === 1 ? p.s[0]! : p.s[c]!;
      y[i] = p.gamma[c]! * squashF64(shape, a * x[i]! + s) + p.beta[c]!;
    }
  }
  return y;
}

/** LayerNorm with biased variance, float64. */
export function layerNormReference(x: Vec, rows: number, C: number, gamma: Vec, beta: Vec, eps: number): Float64Array {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c]!;
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = gamma[c]! * (x[r * C + c]! - mean) * rstd + beta[c]!;
  }
  return y;
}

/** RMSNorm, float64. */
export function rmsNormReference(x: Vec, rows: number, C: number, gamma: Vec, eps: number): Float64Array {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let ms = 0;
    for (let c = 0; c < C; c++) ms += x[r * C + c]! ** 2;
    const rstd = 1 / Math.sqrt(ms / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = gamma[c]! * x[r * C + c]! * rstd;
  }
  return y;
}

// ---- forward and backward in one place (the GPU checks compare every output and gradient) ----

const at = (v: Vec, c: number): number => (v.length === 1 ? v[0]! : v[c]!);

export interface SquashParams64 { alpha: Vec; s: Vec; gamma: Vec; beta: Vec }

export function squashForward64(shape: SquashShape, x: Vec, rows: number, C: number, p: SquashParams64): Float64Array {
  const f = SQUASH[shape].f64, y = new Float64Array(rows * C);
  for (let i = 0; i < rows * C; i++) {
    const c = i % C;
    y[i] = p.gamma[c]! * f(at(p.alpha, c) * x[i]! + at(p.s, c)) + p.beta[c]!;
  }
  return y;
}

export interface SquashGrads64 { dx: Float64Array; dalpha: Float64Array; ds: Float64Array; dgamma: Float64Array; dbeta: Float64Array }

/** Gradients of sum(y * dy); dalpha / ds have the length of alpha / s. */
export function squashBackward64(shape: SquashShape, x: Vec, dy: Vec, rows: number, C: number, p: Omit<SquashParams64, 'beta'>): SquashGrads64 {
  const { f64: f, df64: d } = SQUASH[shape];
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

/** max|a - b| / max|b|: the error relative to the size of the reference (what the self-check and the GPU checks report). */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxRelErr: lengths differ (${a.length} vs ${b.length})`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-30);
}
