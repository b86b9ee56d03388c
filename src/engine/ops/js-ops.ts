// Plain-JS loops for the fused kernels: the cpu backend's implementation and
// the wasm backend's fallback when the SIMD module is unavailable. Arrays are
// float32 [rows, C]; sums accumulate in float64 (JS numbers). Hot loops sit
// in small functions of their own so V8 optimises each separately.

import { SHAPE_CODES } from './types.js';
import type { SquashShape } from './types.js';
import { erf } from '../../util/erf.js';

// Eigen's ptanh_float coefficients (the same as the SIMD kernel), evaluated
// in float64: max abs error ~2.5e-7 vs Math.tanh, ~2.5x faster than it here.
const T_CLAMP = 7.90531110763549805;
const TA1 = 4.89352455891786e-3, TA3 = 6.37261928875436e-4, TA5 = 1.48572235717979e-5;
const TA7 = 5.12229709037114e-8, TA9 = -8.60467152213735e-11, TA11 = 2.00018790482477e-13;
const TA13 = -2.76076847742355e-16;
const TB0 = 4.89352518554385e-3, TB2 = 2.268434632439e-3, TB4 = 1.18534705686654e-4, TB6 = 1.19825839466702e-6;

export function tanhRational(x: number): number {
  // Branch-free form (Math.min/max): ~20% faster than ternaries here.
  const xc = Math.min(Math.max(x, -T_CLAMP), T_CLAMP);
  const x2 = xc * xc;
  const p = xc * (((((((TA13 * x2 + TA11) * x2 + TA9) * x2 + TA7) * x2 + TA5) * x2 + TA3) * x2) + TA1);
  const q = ((TB6 * x2 + TB4) * x2 + TB2) * x2 + TB0;
  return Math.abs(x) < 4e-4 ? x : Math.min(Math.max(p / q, -1), 1);
}

const BIG = 1e18;

/** f(u) for shape code `k` (see SHAPE_CODES). */
function shapeF(k: number, u: number): number {
  switch (k) {
    case 0: return tanhRational(u);
    case 1: return u < -1 ? -1 : u > 1 ? 1 : u;
    case 2: return tanhRational(0.5 * u);
    case 3: { const uc = Math.max(-BIG, Math.min(BIG, u)); return uc / (1 + Math.abs(uc)); }
    case 4: return erf(u);
    case 5: { const uc = Math.max(-BIG, Math.min(BIG, u)); return uc / Math.sqrt(1 + uc * uc); }
    default: return u;
  }
}

/** f'(u) for shape code `k`, given f = f(u). */
function shapeD(k: number, u: number, f: number): number {
  switch (k) {
    case 0: return 1 - f * f;
    case 1: return u >= -1 && u <= 1 ? 1 : 0;
    case 2: return 0.5 * (1 - f * f);
    case 3: { const a = 1 + Math.abs(Math.max(-BIG, Math.min(BIG, u))); return 1 / (a * a); }
    case 4: return 1.1283791670955126 * Math.exp(-u * u);
    case 5: { const uc = Math.max(-BIG, Math.min(BIG, u)); const r = 1 / Math.sqrt(1 + uc * uc); return r * r * r; }
    default: return 1;
  }
}

/** Operands of the squash kernels; alpha / s have length 1 or C. */
export interface SquashArrays {
  x: Float32Array; alpha: Float32Array; s: Float32Array; gamma: Float32Array; beta: Float32Array;
}

// DyT forward with scalar alpha and s, the common case, kept monomorphic.
function dytForwardScalar(x: Float32Array, y: Float32Array, rows: number, C: number, a: number, s: number,
  gamma: Float32Array, beta: Float32Array): void {
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < C; c++, i++) y[i] = gamma[c]! * tanhRational(a * x[i]! + s) + beta[c]!;
  }
}

function squashForwardGeneric(k: number, p: SquashArrays, y: Float32Array, rows: number, C: number): void {
  const { x, alpha, s, gamma, beta } = p;
  const aPC = alpha.length !== 1, sPC = s.length !== 1;
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < C; c++, i++) {
      const u = (aPC ? alpha[c]! : alpha[0]!) * x[i]! + (sPC ? s[c]! : s[0]!);
      y[i] = gamma[c]! * shapeF(k, u) + beta[c]!;
    }
  }
}

export function squashForwardJs(shape: SquashShape, p: SquashArrays, y: Float32Array, rows: number, C: number): void {
  if (shape === 'tanh' && p.alpha.length === 1 && p.s.length === 1) {
    dytForwardScalar(p.x, y, rows, C, p.alpha[0]!, p.s[0]!, p.gamma, p.beta);
  } else {
    squashForwardGeneric(SHAPE_CODES[shape], p, y, rows, C);
  }
}

/** f[i] = f(alpha * x[i] + s) before the affine: what the training forward saves (the backward's f). */
export function squashValuesJs(shape: SquashShape, p: Omit<SquashArrays, 'gamma' | 'beta'>, f: Float32Array, rows: number, C: number): void {
  const k = SHAPE_CODES[shape];
  const { x, alpha, s } = p;
  const aPC = alpha.length !== 1, sPC = s.length !== 1;
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < C; c++, i++) {
      const u = (aPC ? alpha[c]! : alpha[0]!) * x[i]! + (sPC ? s[c]! : s[0]!);
      f[i] = k === 0 ? tanhRational(u) : shapeF(k, u);
    }
  }
}

/** Outputs of the squash backward kernel; dalpha / ds match alpha / s. */
export interface SquashGrads {
  dx: Float32Array; dalpha: Float32Array; ds: Float32Array; dgamma: Float32Array; dbeta: Float32Array;
}

export function squashBackwardJs(shape: SquashShape, p: Omit<SquashArrays, 'beta'>, dy: Float32Array,
  out: SquashGrads, rows: number, C: number): void {
  const k = SHAPE_CODES[shape];
  const { x, alpha, s, gamma } = p;
  const aPC = alpha.length !== 1, sPC = s.length !== 1;
  const accA = new Float64Array(aPC ? C : 1);
  const accS = new Float64Array(sPC ? C : 1);
  const accG = new Float64Array(C);
  const accB = new Float64Array(C);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < C; c++, i++) {
      const a = aPC ? alpha[c]! : alpha[0]!;
      const xi = x[i]!;
      const u = a * xi + (sPC ? s[c]! : s[0]!);
      const f = k === 0 ? tanhRational(u) : shapeF(k, u);
      const d = k === 0 ? 1 - f * f : shapeD(k, u, f);
      const dyi = dy[i]!;
      const g = dyi * gamma[c]! * d;
      out.dx[i] = g * a;
      accA[aPC ? c : 0] += g * xi;
      accS[sPC ? c : 0] += g;
      accG[c] += dyi * f;
      accB[c] += dyi;
    }
  }
  out.dalpha.set(accA);
  out.ds.set(accS);
  out.dgamma.set(accG);
  out.dbeta.set(accB);
}

export function layerNormForwardJs(x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number,
  y: Float32Array, mean: Float32Array, rstd: Float32Array, rows: number, C: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * C;
    let sum = 0;
    for (let c = 0; c < C; c++) sum += x[o + c]!;
    const m = sum / C;
    let sq = 0;
    for (let c = 0; c < C; c++) { const d = x[o + c]! - m; sq += d * d; }
    const rs = 1 / Math.sqrt(sq / C + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let c = 0; c < C; c++) y[o + c] = (x[o + c]! - m) * rs * gamma[c]! + beta[c]!;
  }
}

export function layerNormBackwardJs(x: Float32Array, dy: Float32Array, gamma: Float32Array,
  mean: Float32Array, rstd: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
  rows: number, C: number): void {
  const accG = new Float64Array(C);
  const accB = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    const o = r * C;
    const m = mean[r]!, rs = rstd[r]!;
    let s1 = 0, s2 = 0;
    for (let c = 0; c < C; c++) {
      const xh = (x[o + c]! - m) * rs;
      const dyi = dy[o + c]!;
      const dxh = dyi * gamma[c]!;
      s1 += dxh;
      s2 += dxh * xh;
      accG[c] += dyi * xh;
      accB[c] += dyi;
    }
    const m1 = s1 / C, m2 = s2 / C;
    for (let c = 0; c < C; c++) {
      const xh = (x[o + c]! - m) * rs;
      dx[o + c] = rs * (dy[o + c]! * gamma[c]! - m1 - xh * m2);
    }
  }
  dgamma.set(accG);
  dbeta.set(accB);
}

export function rmsNormForwardJs(x: Float32Array, gamma: Float32Array, eps: number,
  y: Float32Array, rstd: Float32Array, rows: number, C: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * C;
    let sq = 0;
    for (let c = 0; c < C; c++) { const v = x[o + c]!; sq += v * v; }
    const rs = 1 / Math.sqrt(sq / C + eps);
    rstd[r] = rs;
    for (let c = 0; c < C; c++) y[o + c] = x[o + c]! * rs * gamma[c]!;
  }
}

export function rmsNormBackwardJs(x: Float32Array, dy: Float32Array, gamma: Float32Array, rstd: Float32Array,
  dx: Float32Array, dgamma: Float32Array, rows: number, C: number): void {
  const accG = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    const o = r * C;
    const rs = rstd[r]!;
    let s2 = 0;
    for (let c = 0; c < C; c++) {
      const xh = x[o + c]! * rs;
      const dyi = dy[o + c]!;
      s2 += dyi * gamma[c]! * xh;
      accG[c] += dyi * xh;
    }
    const m2 = s2 / C;
    for (let c = 0; c < C; c++) {
      dx[o + c] = rs * (dy[o + c]! * gamma[c]! - x[o + c]! * rs * m2);
    }
  }
  dgamma.set(accG);
}
