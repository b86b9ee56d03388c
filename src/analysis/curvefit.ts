// Curve fitting of squashing shapes: y = a * f(b * x + c) + d, by Levenberg-Marquardt.
//
// Pure TypeScript, float64 throughout. Each LM iteration is ONE pass over the data that
// evaluates the model at the trial parameters and accumulates the cost together with the
// 4x4 normal equations J^T W J and J^T W r (no per-point allocation), so an accepted step
// already carries the system for the next one. Large inputs are first fitted on a strided
// subsample (initialisation and restarts happen there), then polished on the full data.
// Robust fits use Huber weights by iteratively reweighted least squares (IRLS).
//
// 'identity' and 'linear' (f(u) = u) are over-parameterised: they are fitted in closed form
// as y = a' x + d' and reported with a = a', b = 1, c = 0.

import { SHAPE_CODES } from '../engine/squash-shapes.js';
import { erf, erfcTail, erfSmall } from '../util/erf.js';

/** The squash shapes a fit can use (the table's, without sigmoid: a rescaled tanh), and 'linear' (= identity). */
export const SHAPES = ['tanh', 'erf', 'softsign', 'isru', 'hardtanh', 'identity', 'linear'] as const;
export type CurveShape = (typeof SHAPES)[number];

export interface CurveParams { a: number; b: number; c: number; d: number }

export interface FitOptions {
  shape: CurveShape;
  /**
   * Huber IRLS. `true` uses delta = 1.345 * (1.4826 * MAD of the residuals), re-estimated at
   * every reweighting; `{ huberDelta }` fixes delta, in the units of y.
   */
  robust?: boolean | { huberDelta?: number };
  /** Starting parameters; the data-driven initialisation is used when absent. */
  init?: CurveParams;
  /** Most LM iterations per stage (subsample, full data, and each IRLS reweighting). Default 100. */
  maxIter?: number;
}

export interface ResidualStats { mean: number; std: number; maxAbs: number; p50Abs: number; p99Abs: number }

export interface FitResult {
  shape: CurveShape;
  params: CurveParams;
  /** 1 - SS_res / SS_tot over all points (unweighted, also for robust fits). */
  r2: number;
  rmse: number;
  n: number;
  /** LM iterations over all stages, restarts and reweightings (0 for the closed form). */
  iterations: number;
  converged: boolean;
  /** Statistics of y - model over all points; p50Abs / p99Abs are percentiles of |residual|. */
  residuals: ResidualStats;
}

// ---------------------------------------------------------------------------------------
// shapes

// Shape ids are the table's codes (engine/squash-shapes.ts): tanh 0, hardtanh 1, softsign 3, erf 4, isru 5, identity 6.
const SHAPE_ID: Record<CurveShape, number> = {
  tanh: SHAPE_CODES.tanh, erf: SHAPE_CODES.erf, softsign: SHAPE_CODES.softsign, isru: SHAPE_CODES.isru,
  hardtanh: SHAPE_CODES.hardtanh, identity: SHAPE_CODES.identity, linear: SHAPE_CODES.identity,
};
const LINEAR_ID = SHAPE_CODES.identity;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erf as the fitter evaluates it (shared with the cpu kernels: src/util/erf.ts). */
export { erf };

function shapeValue(sid: number, u: number): number {
  switch (sid) {
    case 0: return Math.tanh(u);
    case 4: return erf(u);
    case 3: return u / (1 + Math.abs(u));
    case 5: return Math.abs(u) > 1e8 ? Math.sign(u) : u / Math.sqrt(1 + u * u);
    case 1: return u > 1 ? 1 : u < -1 ? -1 : u;
    default: return u;
  }
}

/** evaluate a * f(b * x + c) + d for every x. */
export function evalCurve(shape: CurveShape, params: CurveParams, x: ArrayLike<number>): Float32Array {
  const sid = shapeIdOf(shape);
  const { a, b, c, d } = params;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = a * shapeValue(sid, b * x[i]! + c) + d;
  return out;
}

function shapeIdOf(shape: string): number {
  const sid = (SHAPE_ID as Record<string, number | undefined>)[shape];
  if (typeof shape !== 'string' || sid === undefined || !Object.prototype.hasOwnProperty.call(SHAPE_ID, shape)) {
    throw new Error(`fitCurve: unknown shape '${String(shape)}'; expected one of ${SHAPES.join(', ')}`);
  }
  return sid;
}

// ---------------------------------------------------------------------------------------
// the one-pass accumulation: out = [cost, A00 A01 A02 A03 A11 A12 A13 A22 A23 A33, g0 g1 g2 g3]

const ACC = 15;

function accumulate(sid: number, x: Float32Array, y: Float32Array, w: Float64Array | null, p: Float64Array, out: Float64Array): void {
  const a = p[0]!, b = p[1]!, c = p[2]!, d = p[3]!;
  let cost = 0, g0 = 0, g1 = 0, g2 = 0, g3 = 0;
  let A00 = 0, A01 = 0, A02 = 0, A03 = 0, A11 = 0, A12 = 0, A13 = 0, A22 = 0, A23 = 0, A33 = 0;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    const u = b * xi + c;
    let f: number, fp: number;
    switch (sid) {
      case 0: { f = Math.tanh(u); fp = 1 - f * f; break; }
      case 4: {
        const z = Math.abs(u);
        const e = Math.exp(-z * z);
        fp = TWO_OVER_SQRT_PI * e;
        if (z < 0.5) { f = erfSmall(u); break; }
        const erfc = erfcTail(z, e);
        f = u >= 0 ? 1 - erfc : erfc - 1;
        break;
      }
      case 3: { const s = 1 / (1 + Math.abs(u)); f = u * s; fp = s * s; break; }
      case 5: {
        if (Math.abs(u) > 1e8) { f = u > 0 ? 1 : -1; fp = 0; }
        else { const q = 1 / Math.sqrt(1 + u * u); f = u * q; fp = q * q * q; }
        break;
      }
      case 1: {
        if (u > 1) { f = 1; fp = 0; } else if (u < -1) { f = -1; fp = 0; } else { f = u; fp = 1; }
        break;
      }
      default: { f = u; fp = 1; }
    }
    const r = y[i]! - (a * f + d);
    const j2 = a * fp, j1 = j2 * xi;
    const wi = w === null ? 1 : w[i]!;
    const wr = wi * r;
    cost += wr * r;
    g0 += wr * f; g1 += wr * j1; g2 += wr * j2; g3 += wr;
    const w0 = wi * f, w1 = wi * j1, w2 = wi * j2;
    A00 += w0 * f; A01 += w0 * j1; A02 += w0 * j2; A03 += w0;
    A11 += w1 * j1; A12 += w1 * j2; A13 += w1;
    A22 += w2 * j2; A23 += w2;
    A33 += wi;
  }
  out[0] = cost;
  out[1] = A00; out[2] = A01; out[3] = A02; out[4] = A03;
  out[5] = A11; out[6] = A12; out[7] = A13;
  out[8] = A22; out[9] = A23; out[10] = A33;
  out[11] = g0; out[12] = g1; out[13] = g2; out[14] = g3;
}

/** r[i] = y[i] - model(x[i]) in float64. */
function residualsInto(sid: number, x: Float32Array, y: Float32Array, p: Float64Array, r: Float64Array): void {
  const a = p[0]!, b = p[1]!, c = p[2]!, d = p[3]!;
  for (let i = 0; i < x.length; i++) r[i] = y[i]! - (a * shapeValue(sid, b * x[i]! + c) + d);
}

// ---------------------------------------------------------------------------------------
// Levenberg-Marquardt

/** Solve the SPD 4x4 system M s = g by Cholesky (M is destroyed). false if not positive definite. */
function cholSolve4(M: Float64Array, g: Float64Array, s: Float64Array): boolean {
  for (let j = 0; j < 4; j++) {
    let sum = M[j * 4 + j]!;
    for (let k = 0; k < j; k++) sum -= M[j * 4 + k]! * M[j * 4 + k]!;
    if (!(sum > 0) || !Number.isFinite(sum)) return false;
    const ljj = Math.sqrt(sum);
    M[j * 4 + j] = ljj;
    for (let i = j + 1; i < 4; i++) {
      let v = M[i * 4 + j]!;
      for (let k = 0; k < j; k++) v -= M[i * 4 + k]! * M[j * 4 + k]!;
      M[i * 4 + j] = v / ljj;
    }
  }
  for (let i = 0; i < 4; i++) {
    let v = g[i]!;
    for (let k = 0; k < i; k++) v -= M[i * 4 + k]! * s[k]!;
    s[i] = v / M[i * 4 + i]!;
  }
  for (let i = 3; i >= 0; i--) {
    let v = s[i]!;
    for (let k = i + 1; k < 4; k++) v -= M[k * 4 + i]! * s[k]!;
    s[i] = v / M[i * 4 + i]!;
  }
  return true;
}

interface LmResult { iterations: number; converged: boolean; cost: number }

const SYM = [[1, 2, 3, 4], [2, 5, 6, 7], [3, 6, 8, 9], [4, 7, 9, 10]] as const;

/** Minimise sum w r^2 from p (updated in place). */
function levmar(sid: number, x: Float32Array, y: Float32Array, w: Float64Array | null, p: Float64Array, maxIter: number): LmResult {
  let cur = new Float64Array(ACC), trial = new Float64Array(ACC);
  const M = new Float64Array(16), g = new Float64Array(4), step = new Float64Array(4), pt = new Float64Array(4);
  accumulate(sid, x, y, w, p, cur);
  if (!Number.isFinite(cur[0]!)) return { iterations: 0, converged: false, cost: cur[0]! };
  let lambda = 1e-3, iterations = 0, converged = false;
  while (iterations < maxIter) {
    if (cur[0] === 0) { converged = true; break; }
    iterations++;
    let maxDiag = 0;
    for (let i = 0; i < 4; i++) maxDiag = Math.max(maxDiag, cur[SYM[i]![i]!]!);
    const floor = Math.max(maxDiag * 1e-12, 1e-300);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) M[i * 4 + j] = cur[SYM[i]![j]!]!;
      M[i * 4 + i] = M[i * 4 + i]! + lambda * Math.max(cur[SYM[i]![i]!]!, floor) + floor;
      g[i] = cur[11 + i]!;
    }
    if (!cholSolve4(M, g, step)) {
      lambda *= 10;
      if (lambda > 1e16) break;
      continue;
    }
    let small = true;
    for (let i = 0; i < 4; i++) {
      pt[i] = p[i]! + step[i]!;
      if (Math.abs(step[i]!) > 1e-10 * (Math.abs(p[i]!) + 1e-10)) small = false;
    }
    accumulate(sid, x, y, w, pt, trial);
    if (trial[0]! <= cur[0]!) {
      const rel = (cur[0]! - trial[0]!) / Math.max(cur[0]!, 1e-300);
      p.set(pt);
      const tmp = cur; cur = trial; trial = tmp;
      lambda = Math.max(lambda * 0.3, 1e-15);
      if (small || rel < 1e-12) { converged = true; break; }
    } else {
      if (small) { converged = true; break; }          // no descent at the precision of the data
      lambda *= 10;
      if (lambda > 1e16) { converged = true; break; } // only vanishing steps remain: a minimum
    }
  }
  return { iterations, converged, cost: cur[0]! };
}

// ---------------------------------------------------------------------------------------
// order statistics (quickselect, deterministic)

/** Partially orders a so that a[k] is the k-th smallest; returns it. */
function select(a: Float64Array, k: number, lo0 = 0, hi0 = a.length - 1): number {
  let lo = lo0, hi = hi0;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // median of three as pivot
    let x0 = a[lo]!, x1 = a[mid]!, x2 = a[hi]!;
    if (x0 > x1) { const t = x0; x0 = x1; x1 = t; }
    if (x1 > x2) { x1 = x2; }
    if (x0 > x1) { x1 = x0; }
    const pivot = x1;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) { const t = a[i]!; a[i] = a[j]!; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}

/** Percentile q in [0,1] with linear interpolation between order statistics (reorders a). */
function percentile(a: Float64Array, q: number): number {
  const n = a.length;
  const pos = q * (n - 1), k = Math.floor(pos), frac = pos - k;
  const vk = select(a, k);
  if (frac === 0 || k + 1 >= n) return vk;
  let next = Infinity;
  for (let i = k + 1; i < n; i++) if (a[i]! < next) next = a[i]!;
  return vk + frac * (next - vk);
}

/** 1.4826 * median(|r - median(r)|), computed in scratch. */
function madScale(r: Float64Array, scratch: Float64Array): number {
  scratch.set(r);
  const med = percentile(scratch, 0.5);
  for (let i = 0; i < r.length; i++) scratch[i] = Math.abs(r[i]! - med);
  return 1.4826 * percentile(scratch, 0.5);
}

// ---------------------------------------------------------------------------------------
// stages

interface Stage { iterations: number; converged: boolean; cost: number }

function plainStage(sid: number, x: Float32Array, y: Float32Array, p: Float64Array, maxIter: number): Stage {
  return levmar(sid, x, y, null, p, maxIter);
}

/** Huber IRLS from p (in place): reweight, refit, until the parameters settle. */
function robustStage(sid: number, x: Float32Array, y: Float32Array, p: Float64Array, maxIter: number, fixedDelta: number | undefined): Stage {
  const n = x.length;
  const r = new Float64Array(n), w = new Float64Array(n), scratch = new Float64Array(n), prev = new Float64Array(4);
  let iterations = 0, converged = false, cost = NaN;
  for (let outer = 0; outer < 50; outer++) {
    residualsInto(sid, x, y, p, r);
    const delta = fixedDelta ?? 1.345 * madScale(r, scratch);
    if (!(delta > 0) || !Number.isFinite(delta)) { converged = true; break; } // exact fit: nothing to downweight
    for (let i = 0; i < n; i++) {
      const ar = Math.abs(r[i]!);
      w[i] = ar <= delta ? 1 : delta / ar;
    }
    prev.set(p);
    const res = levmar(sid, x, y, w, p, maxIter);
    iterations += res.iterations;
    cost = res.cost;
    let settled = true;
    for (let i = 0; i < 4; i++) if (Math.abs(p[i]! - prev[i]!) > 1e-7 * (Math.abs(p[i]!) + 1e-6)) settled = false;
    if (settled) { converged = res.converged; break; }
  }
  return { iterations, converged, cost };
}

function linearClosedForm(x: Float32Array, y: Float32Array, w: Float64Array | null): [number, number] {
  const n = x.length;
  let sw = 0, sx = 0, sy = 0;
  for (let i = 0; i < n; i++) { const wi = w === null ? 1 : w[i]!; sw += wi; sx += wi * x[i]!; sy += wi * y[i]!; }
  const mx = sx / sw, my = sy / sw;
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    const wi = w === null ? 1 : w[i]!;
    const dx = x[i]! - mx;
    sxx += wi * dx * dx; sxy += wi * dx * (y[i]! - my);
  }
  const a = sxy / sxx;
  return [a, my - a * mx];
}

function fitLinear(x: Float32Array, y: Float32Array, robust: { delta: number | undefined } | null): { p: Float64Array; iterations: number; converged: boolean } {
  const [a0, d0] = linearClosedForm(x, y, null);
  const p = Float64Array.of(a0, 1, 0, d0);
  if (robust === null) return { p, iterations: 0, converged: true };
  const n = x.length;
  const r = new Float64Array(n), w = new Float64Array(n), scratch = new Float64Array(n);
  let iterations = 0, converged = false;
  for (let outer = 0; outer < 100; outer++) {
    residualsInto(LINEAR_ID, x, y, p, r);
    const delta = robust.delta ?? 1.345 * madScale(r, scratch);
    if (!(delta > 0) || !Number.isFinite(delta)) { converged = true; break; }
    for (let i = 0; i < n; i++) { const ar = Math.abs(r[i]!); w[i] = ar <= delta ? 1 : delta / ar; }
    const [a, d] = linearClosedForm(x, y, w);
    iterations++;
    const settled = Math.abs(a - p[0]!) <= 1e-9 * (Math.abs(a) + 1e-9) && Math.abs(d - p[3]!) <= 1e-9 * (Math.abs(d) + 1e-9);
    p[0] = a; p[3] = d;
    if (settled) { converged = true; break; }
  }
  return { p, iterations, converged };
}

// ---------------------------------------------------------------------------------------
// initialisation

const INIT_SAMPLE = 4096;
const SUBSAMPLE = 16384;

/** Strided subsample (deterministic) of at most m points. */
function strided(x: Float32Array, y: Float32Array, m: number): [Float32Array, Float32Array] {
  const n = x.length;
  if (n <= m) return [x, y];
  const stride = n / m;
  const xs = new Float32Array(m), ys = new Float32Array(m);
  for (let k = 0; k < m; k++) { const i = Math.floor(k * stride); xs[k] = x[i]!; ys[k] = y[i]!; }
  return [xs, ys];
}

interface DataInit { p: Float64Array; xmed: number }

/**
 * a from half the y range (1st..99th percentile), d from its midrange, c = 0, and b from the
 * least-squares slope of the middle 30% of points (ranked by x) divided by a.
 */
function dataInit(x: Float32Array, y: Float32Array): DataInit {
  const [xs, ys] = strided(x, y, INIT_SAMPLE);
  const m = xs.length;
  const ysorted = Float64Array.from(ys).sort();
  const q = (arr: Float64Array, f: number): number => {
    const pos = f * (arr.length - 1), k = Math.floor(pos);
    return k + 1 < arr.length ? arr[k]! + (pos - k) * (arr[k + 1]! - arr[k]!) : arr[k]!;
  };
  const lo = q(ysorted, 0.01), hi = q(ysorted, 0.99);
  let a0 = (hi - lo) / 2;
  const d0 = (hi + lo) / 2;
  if (!(a0 > 0)) a0 = 1;
  const order = Array.from({ length: m }, (_, i) => i).sort((i, j) => xs[i]! - xs[j]! || i - j);
  const xmed = xs[order[m >> 1]!]!;
  const slopeOver = (from: number, to: number): number => {
    let sx = 0, sy = 0;
    const k = to - from;
    for (let t = from; t < to; t++) { sx += xs[order[t]!]!; sy += ys[order[t]!]!; }
    const mx = sx / k, my = sy / k;
    let sxx = 0, sxy = 0;
    for (let t = from; t < to; t++) { const dx = xs[order[t]!]! - mx; sxx += dx * dx; sxy += dx * (ys[order[t]!]! - my); }
    return sxx > 0 ? sxy / sxx : NaN;
  };
  const half = Math.max(2, Math.round(0.15 * m));
  let slope = slopeOver(Math.max(0, (m >> 1) - half), Math.min(m, (m >> 1) + half));
  if (!Number.isFinite(slope) || slope === 0) slope = slopeOver(0, m);
  let b0 = slope / a0;
  if (!Number.isFinite(b0) || b0 === 0) {
    let sx = 0, sxx = 0;
    for (let i = 0; i < m; i++) { sx += xs[i]!; sxx += xs[i]! * xs[i]!; }
    const sd = Math.sqrt(Math.max(sxx / m - (sx / m) ** 2, 0));
    b0 = sd > 0 ? 1 / sd : 1;
  }
  return { p: Float64Array.of(a0, b0, 0, d0), xmed };
}

function r2Of(cost: number, y: Float32Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i]!;
  const my = s / y.length;
  let ss = 0;
  for (let i = 0; i < y.length; i++) ss += (y[i]! - my) ** 2;
  return ss > 0 ? 1 - cost / ss : cost === 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------
// validation

function validate(x: Float32Array, y: Float32Array, opts: FitOptions): number {
  if (opts === null || typeof opts !== 'object') throw new Error('fitCurve: options with a shape are required');
  const sid = shapeIdOf(opts.shape);
  if (x.length !== y.length) throw new Error(`fitCurve: x and y have different lengths (x: ${x.length}, y: ${y.length})`);
  if (x.length < 4) throw new Error(`fitCurve: need at least 4 points to fit 4 parameters, got ${x.length}`);
  const problems: string[] = [];
  for (const [name, arr] of [['x', x], ['y', y]] as const) {
    let count = 0, first = -1;
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i]!)) { if (count === 0) first = i; count++; }
    }
    if (count > 0) problems.push(`${name} contains ${count} non-finite value${count === 1 ? '' : 's'} (NaN or Inf), first at index ${first} (${arr[first]})`);
  }
  if (problems.length > 0) throw new Error(`fitCurve: ${problems.join('; ')}`);
  let constant = true;
  for (let i = 1; i < x.length; i++) if (x[i] !== x[0]) { constant = false; break; }
  if (constant) throw new Error(`fitCurve: x is constant (value ${x[0]}): the curve is not identifiable`);
  if (opts.maxIter !== undefined && !(Number.isInteger(opts.maxIter) && opts.maxIter >= 1)) {
    throw new Error(`fitCurve: maxIter must be a positive integer, got ${opts.maxIter}`);
  }
  if (typeof opts.robust === 'object' && opts.robust !== null && opts.robust.huberDelta !== undefined) {
    const hd = opts.robust.huberDelta;
    if (!(hd > 0) || !Number.isFinite(hd)) throw new Error(`fitCurve: robust.huberDelta must be a positive finite number, got ${hd}`);
  }
  if (opts.init !== undefined) {
    for (const k of ['a', 'b', 'c', 'd'] as const) {
      if (!Number.isFinite(opts.init[k])) throw new Error(`fitCurve: init.${k} must be a finite number, got ${opts.init[k]}`);
    }
  }
  return sid;
}

// ---------------------------------------------------------------------------------------
// the entry point

export function fitCurve(x: Float32Array, y: Float32Array, opts: FitOptions): FitResult {
  const sid = validate(x, y, opts);
  const maxIter = opts.maxIter ?? 100;
  const robust = opts.robust === undefined || opts.robust === false ? null
    : { delta: opts.robust === true ? undefined : opts.robust.huberDelta };
  const n = x.length;

  let p: Float64Array, iterations = 0, converged: boolean;
  if (sid === LINEAR_ID) {
    ({ p, iterations, converged } = fitLinear(x, y, robust));
  } else {
    const stage = (xs: Float32Array, ys: Float32Array, q: Float64Array): Stage =>
      robust === null ? plainStage(sid, xs, ys, q, maxIter) : robustStage(sid, xs, ys, q, maxIter, robust.delta);
    // 1. initialise (and restart when poor) on a subsample
    const [xs, ys] = strided(x, y, n <= 2 * SUBSAMPLE ? n : SUBSAMPLE);
    const { p: p0, xmed } = dataInit(xs, ys);
    const a0 = p0[0]!, b0 = p0[1]!, d0 = p0[3]!;
    const starts: Float64Array[] = [];
    if (opts.init !== undefined) starts.push(Float64Array.of(opts.init.a, opts.init.b, opts.init.c, opts.init.d));
    starts.push(p0);
    for (const [sa, sb] of [[1, 1], [1, 3], [1, 1 / 3], [1.5, 1 / 1.5], [1, 10]] as const) {
      const bb = (b0 * sb) / sa;
      starts.push(Float64Array.of(a0 * sa, bb, -bb * xmed, d0));
    }
    let best: Float64Array | null = null, bestCost = Infinity, bestConverged = false;
    for (let s = 0; s < starts.length; s++) {
      const q = Float64Array.from(starts[s]!);
      const res = stage(xs, ys, q);
      iterations += res.iterations;
      // robust stages compare by the plain cost so restarts are ranked on one scale
      const cost = robust === null ? res.cost : plainCost(sid, xs, ys, q);
      if (Number.isFinite(cost) && cost < bestCost) { best = q; bestCost = cost; bestConverged = res.converged; }
      // a good fit ends the search; a poor one (not converged, or r2 <= 0.95) tries the next start
      if (res.converged && r2Of(cost, ys) > 0.95) break;
    }
    if (best === null) throw new Error('fitCurve: every start diverged (non-finite cost); check the scale of x and y');
    p = best;
    converged = bestConverged;
    // 2. polish on the full data
    if (xs !== x) {
      const res = stage(x, y, p);
      iterations += res.iterations;
      converged = res.converged;
    }
    // canonical sign: every shape is odd, so (a, b, c) and (-a, -b, -c) are the same curve
    if (p[0]! < 0) { p[0] = -p[0]!; p[1] = -p[1]!; p[2] = -p[2]!; }
  }

  // 3. statistics over all points
  const r = new Float64Array(n);
  residualsInto(sid, x, y, p, r);
  let sum = 0, ssr = 0, maxAbs = 0, sy = 0;
  for (let i = 0; i < n; i++) {
    const ri = r[i]!;
    sum += ri; ssr += ri * ri; sy += y[i]!;
    const ar = Math.abs(ri);
    if (ar > maxAbs) maxAbs = ar;
  }
  const mean = sum / n;
  let sd = 0, sst = 0;
  const my = sy / n;
  for (let i = 0; i < n; i++) { sd += (r[i]! - mean) ** 2; sst += (y[i]! - my) ** 2; }
  for (let i = 0; i < n; i++) r[i] = Math.abs(r[i]!);
  const p99Abs = percentile(r, 0.99);
  const p50Abs = percentile(r, 0.5);
  return {
    shape: opts.shape,
    params: { a: p[0]!, b: p[1]!, c: p[2]! + 0, d: p[3]! },
    r2: sst > 0 ? 1 - ssr / sst : ssr === 0 ? 1 : 0,
    rmse: Math.sqrt(ssr / n),
    n,
    iterations,
    converged,
    residuals: { mean, std: Math.sqrt(sd / n), maxAbs, p50Abs, p99Abs },
  };
}

function plainCost(sid: number, x: Float32Array, y: Float32Array, p: Float64Array): number {
  const a = p[0]!, b = p[1]!, c = p[2]!, d = p[3]!;
  let s = 0;
  for (let i = 0; i < x.length; i++) { const r = y[i]! - (a * shapeValue(sid, b * x[i]! + c) + d); s += r * r; }
  return s;
}
