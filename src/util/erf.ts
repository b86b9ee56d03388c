// Two erfs. erf64: reference accuracy (abs error < 1e-13), for the squash table's
// float64 values and the tests. erf: |error| < 1.2e-7 and fast, shared by the cpu
// fused kernels and the curve fitter: a Maclaurin polynomial for |u| < 0.5 (exact to
// float64 rounding, so erf(0) = 0, erf is odd and small inputs keep their
// relative accuracy), the Chebyshev-fitted erfc of Numerical Recipes (`erfcc`,
// fractional error < 1.2e-7) beyond.

// Maclaurin coefficients: 2/sqrt(pi) * (-1)^n / (n! (2n+1)), n = 0..9 (|u| < 0.5: error < 1e-16).
const ERF_SERIES = Array.from({ length: 10 }, (_, n) => {
  let fact = 1;
  for (let k = 2; k <= n; k++) fact *= k;
  return (2 / Math.sqrt(Math.PI)) * (n % 2 === 0 ? 1 : -1) / (fact * (2 * n + 1));
});
const [E0, E1, E2, E3, E4, E5, E6, E7, E8, E9] = ERF_SERIES as [number, number, number, number, number, number, number, number, number, number];

/** erf(u) for |u| < 0.5. */
export function erfSmall(u: number): number {
  const v = u * u;
  return u * (E0 + v * (E1 + v * (E2 + v * (E3 + v * (E4 + v * (E5 + v * (E6 + v * (E7 + v * (E8 + v * E9)))))))));
}

/** erfc(z) for z = |u| >= 0.5, given exp(-z^2) (callers that also need erf' = 2/sqrt(pi) exp(-z^2) compute it once). */
export function erfcTail(z: number, expNegZ2: number): number {
  const t = 1 / (1 + 0.5 * z);
  return t * expNegZ2 * Math.exp(-1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
}

export function erf(u: number): number {
  const z = Math.abs(u);
  if (z < 0.5) return erfSmall(u);
  const erfc = erfcTail(z, Math.exp(-z * z));
  return u >= 0 ? 1 - erfc : erfc - 1;
}

/** erf in float64 (abs error < 1e-13): Taylor series below 3, continued fraction above. */
export function erf64(x: number): number {
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
