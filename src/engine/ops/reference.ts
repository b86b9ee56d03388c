// Float64 forward references of the normalization family, in plain
// TypeScript with no approximations beyond libm: the ground truth for tests
// (finite differences of these check every gradient).

import type { SquashShape } from './types.js';

/** erf in float64 (abs error < 1e-13): Taylor series below 3, continued fraction above. */
export function erfF64(x: number): number {
  const z = Math.abs(x);
  if (Number.isNaN(x)) return x;
  if (z < 3) {
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))), evaluated bottom-up.
  let f = z;
  for (let n = 60; n >= 1; n--) f = z + (n / 2) / f;
  const erfc = Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

/** f(u) of a squash shape, float64. */
export function squashF64(shape: SquashShape, u: number): number {
  switch (shape) {
    case 'tanh': return Math.tanh(u);
    case 'hardtanh': return Math.min(1, Math.max(-1, u));
    // 2*sigmoid(u) - 1, written as tanh(u/2) so it stays accurate near 0.
    case 'sigmoid': return Math.tanh(u / 2);
    case 'softsign': return u / (1 + Math.abs(u));
    case 'erf': return erfF64(u);
    case 'isru': return u / Math.sqrt(1 + u * u);
    case 'identity': return u;
  }
}

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
