// SIMD kernels for the normalization family (DyT and relatives, LayerNorm,
// RMSNorm), compiled by scripts/build-ops.mjs with AssemblyScript.
//
// Contract, checked by the build script on the emitted .wat:
// - The module imports tfjs-wasm's own memory (env.memory) and owns nothing in
//   it: no data segments, no statics, no allocation, no stack. That memory is
//   emscripten's heap; writing anywhere we were not pointed at would corrupt it.
// - Every function reads and writes only the byte ranges its pointer arguments
//   describe. Pointers are byte offsets of float32 arrays laid out as
//   [rows, C]; per-channel vectors are [C]; `scratch` is a float64 array.
// - Tails (C not a multiple of 4) go through the same vector code with
//   lane-wise partial loads/stores, so an element's result does not depend on
//   its column position.

// Shape codes; keep in sync with SHAPE_CODES in ../simd.ts.
const K_TANH: i32 = 0;
const K_HARDTANH: i32 = 1;
const K_SIGMOID: i32 = 2;
const K_SOFTSIGN: i32 = 3;
const K_ERF: i32 = 4;
const K_ISRU: i32 = 5;
const K_IDENTITY: i32 = 6;

// Rows per block in which per-channel sums accumulate in float32 before they
// are added to the float64 scratch accumulators (bounds the f32 error).
const BLOCK_ROWS: i32 = 16;

// ---------------------------------------------------------------------------
// tanh: Eigen's ptanh_float rational approximation (odd numerator of degree
// 13 over even denominator of degree 6), with |x| clamped to the fit range.
// No FMA in wasm SIMD, so the non-FMA clamp constant.
const T_CLAMP: f32 = 7.90531110763549805;
const T_TINY: f32 = 0.0004;
const TA1: f32 = 4.89352455891786e-3;
const TA3: f32 = 6.37261928875436e-4;
const TA5: f32 = 1.48572235717979e-5;
const TA7: f32 = 5.12229709037114e-8;
const TA9: f32 = -8.60467152213735e-11;
const TA11: f32 = 2.00018790482477e-13;
const TA13: f32 = -2.76076847742355e-16;
const TB0: f32 = 4.89352518554385e-3;
const TB2: f32 = 2.268434632439e-3;
const TB4: f32 = 1.18534705686654e-4;
const TB6: f32 = 1.19825839466702e-6;

@inline function vsplat(v: f32): v128 {
  return f32x4.splat(v);
}

// pmin/pmax compile to single minps/maxps; with x as the first operand a NaN
// input propagates to the output.
@inline function clamp4(x: v128, lo: f32, hi: f32): v128 {
  return f32x4.pmin(f32x4.pmax(x, vsplat(lo)), vsplat(hi));
}

@inline function tanh4(x: v128): v128 {
  const xc = clamp4(x, -T_CLAMP, T_CLAMP);
  const x2 = f32x4.mul(xc, xc);
  let p = f32x4.add(f32x4.mul(x2, vsplat(TA13)), vsplat(TA11));
  p = f32x4.add(f32x4.mul(x2, p), vsplat(TA9));
  p = f32x4.add(f32x4.mul(x2, p), vsplat(TA7));
  p = f32x4.add(f32x4.mul(x2, p), vsplat(TA5));
  p = f32x4.add(f32x4.mul(x2, p), vsplat(TA3));
  p = f32x4.add(f32x4.mul(x2, p), vsplat(TA1));
  p = f32x4.mul(xc, p);
  let q = f32x4.add(f32x4.mul(x2, vsplat(TB6)), vsplat(TB4));
  q = f32x4.add(f32x4.mul(x2, q), vsplat(TB2));
  q = f32x4.add(f32x4.mul(x2, q), vsplat(TB0));
  const r = clamp4(f32x4.div(p, q), -1.0, 1.0);
  // Near 0 return x itself: keeps relative accuracy for tiny inputs.
  const tiny = f32x4.lt(f32x4.abs(x), vsplat(T_TINY));
  return v128.bitselect(x, r, tiny);
}

// ---------------------------------------------------------------------------
// exp and erf, vectorised in float32 with our own polynomials (the std-library
// Math would pull lookup tables, i.e. data segments, into the module).

const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;     // ln 2 split so k * LN2_HI is exact
const LN2_LO: f32 = -2.12194440e-4;
const EXP_MIN: f32 = -87.0;          // keeps 2^k normal
const EXP_MAX: f32 = 88.0;

// exp(x): x = k ln2 + r, |r| <= ln2/2, Taylor polynomial to r^7 (relative
// error ~2e-8 before rounding), 2^k built from exponent bits.
@inline function exp4(x: v128): v128 {
  const xc = clamp4(x, EXP_MIN, EXP_MAX);
  const k = f32x4.nearest(f32x4.mul(xc, vsplat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(k, vsplat(LN2_HI))), f32x4.mul(k, vsplat(LN2_LO)));
  let p = f32x4.add(f32x4.mul(r, vsplat(1.0 / 5040.0)), vsplat(1.0 / 720.0));
  p = f32x4.add(f32x4.mul(r, p), vsplat(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(r, p), vsplat(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(r, p), vsplat(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(r, p), vsplat(0.5));
  p = f32x4.add(f32x4.mul(r, p), vsplat(1.0));
  p = f32x4.add(f32x4.mul(r, p), vsplat(1.0));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(k), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

const TWO_OVER_SQRT_PI: f32 = 1.12837916709551257;

// erf: for |u| < 0.5 the Taylor series 2/sqrt(pi) * sum (-1)^n u^(2n+1) /
// (n! (2n+1)) to n = 7 (truncation < 2e-10); otherwise 1 - erfc with
// Numerical Recipes' erfc fit t * exp(-z^2 + P(t)), t = 1/(1 + z/2)
// (fractional error < 1.2e-7). Both are evaluated and selected per lane.
// Max abs error is checked against a float64 erf in test/kernels.test.ts.
@inline function erf4(u: v128): v128 {
  const one = vsplat(1.0);
  const z = f32x4.pmin(f32x4.abs(u), vsplat(6.0)); // erf(6) = 1 - 2e-17
  const u2 = f32x4.mul(u, u);
  let s = f32x4.add(f32x4.mul(u2, vsplat(-1.0 / 75600.0)), vsplat(1.0 / 9360.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(-1.0 / 1320.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(1.0 / 216.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(-1.0 / 42.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(1.0 / 10.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(-1.0 / 3.0));
  s = f32x4.add(f32x4.mul(u2, s), one);
  const small = f32x4.mul(f32x4.mul(u, s), vsplat(TWO_OVER_SQRT_PI));

  const t = f32x4.div(one, f32x4.add(one, f32x4.mul(z, vsplat(0.5))));
  let p = f32x4.add(f32x4.mul(t, vsplat(0.17087277)), vsplat(-0.82215223));
  p = f32x4.add(f32x4.mul(t, p), vsplat(1.48851587));
  p = f32x4.add(f32x4.mul(t, p), vsplat(-1.13520398));
  p = f32x4.add(f32x4.mul(t, p), vsplat(0.27886807));
  p = f32x4.add(f32x4.mul(t, p), vsplat(-0.18628806));
  p = f32x4.add(f32x4.mul(t, p), vsplat(0.09678418));
  p = f32x4.add(f32x4.mul(t, p), vsplat(0.37409196));
  p = f32x4.add(f32x4.mul(t, p), vsplat(1.00002368));
  p = f32x4.add(f32x4.mul(t, p), vsplat(-1.26551223));
  const erfc = f32x4.mul(t, exp4(f32x4.sub(p, f32x4.mul(z, z))));
  // copysign(1 - erfc, u)
  const signBit = v128.and(u, f32x4.splat(-0.0));
  const large = v128.or(f32x4.sub(one, erfc), signBit);

  return v128.bitselect(small, large, f32x4.lt(f32x4.abs(u), vsplat(0.5)));
}

// erf'(u) = 2/sqrt(pi) * exp(-u^2)
@inline function erfDeriv4(u: v128): v128 {
  return f32x4.mul(vsplat(TWO_OVER_SQRT_PI), exp4(f32x4.neg(f32x4.mul(u, u))));
}

// ---------------------------------------------------------------------------
// Shapes f(u) and their derivatives, vectorised. `kind` is always a
// compile-time constant after inlining, so each loop body is specialised.

// isru and softsign: |u| is clamped so u*u cannot overflow to inf (which
// would turn f(1e20) into 0 instead of 1).
const BIG: f32 = 1.0e18;

@inline function shape4(kind: i32, u: v128): v128 {
  const one = vsplat(1.0);
  if (kind == K_TANH) return tanh4(u);
  if (kind == K_HARDTANH) return clamp4(u, -1.0, 1.0);
  if (kind == K_SIGMOID) return tanh4(f32x4.mul(u, vsplat(0.5)));
  if (kind == K_SOFTSIGN) {
    const uc = clamp4(u, -BIG, BIG);
    return f32x4.div(uc, f32x4.add(one, f32x4.abs(uc)));
  }
  if (kind == K_ERF) return erf4(u);
  if (kind == K_ISRU) {
    const uc = clamp4(u, -BIG, BIG);
    return f32x4.div(uc, f32x4.sqrt(f32x4.add(one, f32x4.mul(uc, uc))));
  }
  return u;
}

// Whether f'(u) can be computed from f(u) alone (then u is not recomputed).
@inline function derivFromF(kind: i32): bool {
  return kind == K_TANH || kind == K_SIGMOID || kind == K_IDENTITY;
}

// f'(u) given u and f = f(u) (reuses f where that is cheaper).
@inline function deriv4(kind: i32, u: v128, f: v128): v128 {
  const one = vsplat(1.0);
  if (kind == K_TANH) return f32x4.sub(one, f32x4.mul(f, f));
  if (kind == K_HARDTANH) {
    // 1 on the closed interval [-1, 1] (tf.clipByValue's gradient), else 0.
    const inside = v128.and(f32x4.ge(u, vsplat(-1.0)), f32x4.le(u, one));
    return v128.and(inside, one);
  }
  if (kind == K_SIGMOID) return f32x4.mul(vsplat(0.5), f32x4.sub(one, f32x4.mul(f, f)));
  if (kind == K_SOFTSIGN) {
    const a = f32x4.add(one, f32x4.abs(clamp4(u, -BIG, BIG)));
    return f32x4.div(one, f32x4.mul(a, a));
  }
  if (kind == K_ERF) return erfDeriv4(u);
  if (kind == K_ISRU) {
    const uc = clamp4(u, -BIG, BIG);
    const r = f32x4.div(one, f32x4.sqrt(f32x4.add(one, f32x4.mul(uc, uc))));
    return f32x4.mul(f32x4.mul(r, r), r);
  }
  return one;
}

// ---------------------------------------------------------------------------
// Partial vectors for row tails: lanes >= n read as 0 and are never written.

@inline function loadPartial(p: usize, n: i32): v128 {
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

@inline function storePartial(p: usize, v: v128, n: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

@inline function hsum64(v: v128): f64 {
  return (<f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1)) +
    (<f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3));
}

@inline function zeroF32(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), 0.0);
}

@inline function zeroF64(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f64>(p + (<usize>i << 3), 0.0);
}

// acc64[c] += part[c]; part[c] = 0, for c < C (float32 block partials into
// the float64 accumulators).
function flushPartials(part: usize, acc64: usize, C: i32): void {
  const zero = f32x4.splat(0.0);
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const pf = part + (<usize>c << 2);
    const pd = acc64 + (<usize>c << 3);
    const v = v128.load(pf);
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
    v128.store(pd, f64x2.add(v128.load(pd), lo));
    v128.store(pd, f64x2.add(v128.load(pd, 16), hi), 16);
    v128.store(pf, zero);
  }
  for (; c < C; c++) {
    const pf = part + (<usize>c << 2);
    const pd = acc64 + (<usize>c << 3);
    store<f64>(pd, load<f64>(pd) + <f64>load<f32>(pf));
    store<f32>(pf, 0.0);
  }
}

function storeAcc(acc64: usize, out: usize, C: i32): void {
  for (let c = 0; c < C; c++) {
    store<f32>(out + (<usize>c << 2), <f32>load<f64>(acc64 + (<usize>c << 3)));
  }
}

// ---------------------------------------------------------------------------
// Elementwise tanh over n floats (drop-in for tfjs-wasm's scalar Tanh).
// Two vectors per iteration: measured ~1.8x faster than one on V8, as the
// two long dependency chains overlap.

export function tanh_f32(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    const a = tanh4(v128.load(x + off));
    const b = tanh4(v128.load(x + off, 16));
    v128.store(y + off, a);
    v128.store(y + off, b, 16);
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(y + off, tanh4(v128.load(x + off)));
  }
  if (i < n) {
    const off = <usize>i << 2;
    storePartial(y + off, tanh4(loadPartial(x + off, n - i)), n - i);
  }
}

// ---------------------------------------------------------------------------
// Squash family. Each row is processed in two passes: pass A writes
// f(alpha * x + s) for the row into the output row (a tight loop, two vectors
// per iteration, few live registers: V8 spills the long polynomial
// otherwise), pass B finishes the row while it is still in L1.
//
// PC: alpha / s are loaded per channel (runtime flags aPC / sPC); when both
// are scalars (the default) the splats a1 / s1 are used and PC is false, a
// separate specialisation without per-vector selects.

@inline function paramAt(PC: bool, isPC: i32, p: usize, off: usize, splat: v128): v128 {
  return PC && isPC ? v128.load(p + off) : splat;
}

@inline function paramAtPartial(PC: bool, isPC: i32, p: usize, off: usize, n: i32, splat: v128): v128 {
  return PC && isPC ? loadPartial(p + off, n) : splat;
}

// out[c] = f(alpha * x[c] + s) for one row.
@inline function rowShape(kind: i32, PC: bool, xr: usize, outr: usize, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, a1: v128, s1: v128): void {
  let c = 0;
  for (; c + 8 <= C; c += 8) {
    const off = <usize>c << 2;
    const u0 = f32x4.add(f32x4.mul(paramAt(PC, aPC, alpha, off, a1), v128.load(xr + off)), paramAt(PC, sPC, s, off, s1));
    const u1 = f32x4.add(f32x4.mul(paramAt(PC, aPC, alpha, off + 16, a1), v128.load(xr + off, 16)),
      paramAt(PC, sPC, s, off + 16, s1));
    const f0 = shape4(kind, u0);
    const f1 = shape4(kind, u1);
    v128.store(outr + off, f0);
    v128.store(outr + off, f1, 16);
  }
  for (; c + 4 <= C; c += 4) {
    const off = <usize>c << 2;
    const u = f32x4.add(f32x4.mul(paramAt(PC, aPC, alpha, off, a1), v128.load(xr + off)), paramAt(PC, sPC, s, off, s1));
    v128.store(outr + off, shape4(kind, u));
  }
  if (c < C) {
    const n = C - c;
    const off = <usize>c << 2;
    const u = f32x4.add(f32x4.mul(paramAtPartial(PC, aPC, alpha, off, n, a1), loadPartial(xr + off, n)),
      paramAtPartial(PC, sPC, s, off, n, s1));
    storePartial(outr + off, shape4(kind, u), n);
  }
}

// y[c] = gamma[c] * y[c] + beta[c] for one row.
@inline function rowAffine(yr: usize, C: i32, gamma: usize, beta: usize): void {
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const off = <usize>c << 2;
    v128.store(yr + off, f32x4.add(f32x4.mul(v128.load(gamma + off), v128.load(yr + off)), v128.load(beta + off)));
  }
  for (; c < C; c++) {
    const off = <usize>c << 2;
    store<f32>(yr + off, load<f32>(gamma + off) * load<f32>(yr + off) + load<f32>(beta + off));
  }
}

// Forward: y = gamma * f(alpha * x + s) + beta.
@inline function squashFwdRows(kind: i32, PC: bool, x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  const a1 = f32x4.splat(load<f32>(alpha));
  const s1 = f32x4.splat(load<f32>(s));
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    rowShape(kind, PC, xr, yr, C, alpha, aPC, s, sPC, a1, s1);
    rowAffine(yr, C, gamma, beta);
  }
}

@inline function squashFwdKind(kind: i32, x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  if (aPC | sPC) squashFwdRows(kind, true, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
  else squashFwdRows(kind, false, x, y, rows, C, alpha, 0, s, 0, gamma, beta);
}

// One (non-inlined) function per shape: V8 tiers wasm functions up to
// optimised code one by one, and a single function holding every
// specialisation stayed in the baseline tier for many calls (1.7x slower).
function squashFwdTanh(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  squashFwdKind(K_TANH, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
}
function squashFwdHardtanh(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  squashFwdKind(K_HARDTANH, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
}
function squashFwdSigmoid(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  squashFwdKind(K_SIGMOID, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
}
function squashFwdSoftsign(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  squashFwdKind(K_SOFTSIGN, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
}
function squashFwdErf(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  squashFwdKind(K_ERF, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
}
function squashFwdIsru(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  squashFwdKind(K_ISRU, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
}
function squashFwdIdentity(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  squashFwdKind(K_IDENTITY, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
}

export function squash_fwd(kind: i32, x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize): void {
  if (kind == K_TANH) squashFwdTanh(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
  else if (kind == K_HARDTANH) squashFwdHardtanh(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
  else if (kind == K_SIGMOID) squashFwdSigmoid(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
  else if (kind == K_SOFTSIGN) squashFwdSoftsign(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
  else if (kind == K_ERF) squashFwdErf(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
  else if (kind == K_ISRU) squashFwdIsru(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
  else if (kind == K_IDENTITY) squashFwdIdentity(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta);
}

// Backward. With g = dy * gamma * f'(u):
//   dx = g * alpha; dalpha = sum(g * x); ds = sum(g) (over everything, or per
//   channel when aPC / sPC); dgamma_c = sum_rows dy * f(u); dbeta_c =
//   sum_rows dy.
// Pass A leaves f(u) in the dx row; pass B reads it back and overwrites it
// with dx. Per-channel sums accumulate in the float32 outputs for BLOCK_ROWS
// rows and are then added to float64 scratch (4*C f64: dgamma, dbeta,
// dalpha, ds accumulators). Scalar sums accumulate per row in f32 lanes and
// add row totals in f64.

// g = dy * gamma * f'(u) for one vector of pass B; u is recomputed only for
// the shapes whose derivative is not a function of f(u).
@inline function bwdVector(kind: i32, f: v128, vx: v128, vdy: v128, vg: v128, va: v128, vs: v128): v128 {
  const u = derivFromF(kind) ? f : f32x4.add(f32x4.mul(va, vx), vs);
  return f32x4.mul(f32x4.mul(vdy, vg), deriv4(kind, u, f));
}

@inline function squashBwdRows(kind: i32, PC: bool, x: usize, dy: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  const a1 = f32x4.splat(load<f32>(alpha));
  const s1 = f32x4.splat(load<f32>(s));
  const zero = f32x4.splat(0.0);
  const C4 = C & ~3;
  const rest = C - C4;
  const rowBytes = <usize>C << 2;
  const accG = scratch;
  const accB = scratch + (<usize>C << 3);
  const accA = scratch + (<usize>C << 4);
  const accS = accA + (<usize>C << 3);
  zeroF64(scratch, 4 * C);
  zeroF32(dgamma, C);
  zeroF32(dbeta, C);
  if (aPC) zeroF32(dalpha, C);
  if (sPC) zeroF32(ds, C);
  let totA: f64 = 0.0;
  let totS: f64 = 0.0;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dyr = dy + <usize>r * rowBytes;
    const dxr = dx + <usize>r * rowBytes;
    rowShape(kind, PC, xr, dxr, C, alpha, aPC, s, sPC, a1, s1);
    let rowA = zero;
    let rowS = zero;
    for (let c = 0; c < C4; c += 4) {
      const off = <usize>c << 2;
      const f = v128.load(dxr + off);
      const va = paramAt(PC, aPC, alpha, off, a1);
      const vx = v128.load(xr + off);
      const vdy = v128.load(dyr + off);
      const g = bwdVector(kind, f, vx, vdy, v128.load(gamma + off), va, paramAt(PC, sPC, s, off, s1));
      v128.store(dxr + off, f32x4.mul(g, va));
      if (PC && aPC) v128.store(dalpha + off, f32x4.add(v128.load(dalpha + off), f32x4.mul(g, vx)));
      else rowA = f32x4.add(rowA, f32x4.mul(g, vx));
      if (PC && sPC) v128.store(ds + off, f32x4.add(v128.load(ds + off), g));
      else rowS = f32x4.add(rowS, g);
      v128.store(dgamma + off, f32x4.add(v128.load(dgamma + off), f32x4.mul(vdy, f)));
      v128.store(dbeta + off, f32x4.add(v128.load(dbeta + off), vdy));
    }
    if (rest) {
      // Lanes past the row end load as 0, so g = 0 there and the row sums
      // are unaffected; they are never stored.
      const off = <usize>C4 << 2;
      const f = loadPartial(dxr + off, rest);
      const va = paramAtPartial(PC, aPC, alpha, off, rest, a1);
      const vx = loadPartial(xr + off, rest);
      const vdy = loadPartial(dyr + off, rest);
      const g = bwdVector(kind, f, vx, vdy, loadPartial(gamma + off, rest), va, paramAtPartial(PC, sPC, s, off, rest, s1));
      storePartial(dxr + off, f32x4.mul(g, va), rest);
      if (PC && aPC) storePartial(dalpha + off, f32x4.add(loadPartial(dalpha + off, rest), f32x4.mul(g, vx)), rest);
      else rowA = f32x4.add(rowA, f32x4.mul(g, vx));
      if (PC && sPC) storePartial(ds + off, f32x4.add(loadPartial(ds + off, rest), g), rest);
      else rowS = f32x4.add(rowS, g);
      storePartial(dgamma + off, f32x4.add(loadPartial(dgamma + off, rest), f32x4.mul(vdy, f)), rest);
      storePartial(dbeta + off, f32x4.add(loadPartial(dbeta + off, rest), vdy), rest);
    }
    totA += hsum64(rowA);
    totS += hsum64(rowS);
    if ((r + 1) % BLOCK_ROWS == 0 || r == rows - 1) {
      flushPartials(dgamma, accG, C);
      flushPartials(dbeta, accB, C);
      if (aPC) flushPartials(dalpha, accA, C);
      if (sPC) flushPartials(ds, accS, C);
    }
  }
  storeAcc(accG, dgamma, C);
  storeAcc(accB, dbeta, C);
  if (aPC) storeAcc(accA, dalpha, C);
  else store<f32>(dalpha, <f32>totA);
  if (sPC) storeAcc(accS, ds, C);
  else store<f32>(ds, <f32>totS);
}

@inline function squashBwdKind(kind: i32, x: usize, dy: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  if (aPC | sPC) squashBwdRows(kind, true, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
  else squashBwdRows(kind, false, x, dy, rows, C, alpha, 0, s, 0, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}

function squashBwdTanh(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  squashBwdKind(K_TANH, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}
function squashBwdHardtanh(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  squashBwdKind(K_HARDTANH, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}
function squashBwdSigmoid(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  squashBwdKind(K_SIGMOID, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}
function squashBwdSoftsign(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  squashBwdKind(K_SOFTSIGN, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}
function squashBwdErf(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  squashBwdKind(K_ERF, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}
function squashBwdIsru(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  squashBwdKind(K_ISRU, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}
function squashBwdIdentity(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  squashBwdKind(K_IDENTITY, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}

export function squash_bwd(kind: i32, x: usize, dy: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, dalpha: usize, ds: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  if (kind == K_TANH) squashBwdTanh(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
  else if (kind == K_HARDTANH) squashBwdHardtanh(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
  else if (kind == K_SIGMOID) squashBwdSigmoid(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
  else if (kind == K_SOFTSIGN) squashBwdSoftsign(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
  else if (kind == K_ERF) squashBwdErf(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
  else if (kind == K_ISRU) squashBwdIsru(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
  else if (kind == K_IDENTITY) squashBwdIdentity(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, dalpha, ds, dgamma, dbeta, scratch);
}

// ---------------------------------------------------------------------------
// Row statistics shared by LayerNorm and RMSNorm.

// sum(x[0..C)) in f32 lanes, total in f64.
@inline function rowSum(xr: usize, C: i32): f64 {
  let a0 = f32x4.splat(0.0);
  let a1 = f32x4.splat(0.0);
  let c = 0;
  for (; c + 8 <= C; c += 8) {
    const off = <usize>c << 2;
    a0 = f32x4.add(a0, v128.load(xr + off));
    a1 = f32x4.add(a1, v128.load(xr + off, 16));
  }
  let t = hsum64(f32x4.add(a0, a1));
  for (; c < C; c++) t += <f64>load<f32>(xr + (<usize>c << 2));
  return t;
}

// sum((x - m)^2) in f32 lanes, total in f64 (m = 0 gives sum of squares).
@inline function rowSumSqDev(xr: usize, C: i32, m: f32): f64 {
  const vm = f32x4.splat(m);
  let a0 = f32x4.splat(0.0);
  let a1 = f32x4.splat(0.0);
  let c = 0;
  for (; c + 8 <= C; c += 8) {
    const off = <usize>c << 2;
    const d0 = f32x4.sub(v128.load(xr + off), vm);
    const d1 = f32x4.sub(v128.load(xr + off, 16), vm);
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
    a1 = f32x4.add(a1, f32x4.mul(d1, d1));
  }
  let t = hsum64(f32x4.add(a0, a1));
  for (; c < C; c++) {
    const d = <f64>(load<f32>(xr + (<usize>c << 2)) - m);
    t += d * d;
  }
  return t;
}

// ---------------------------------------------------------------------------
// LayerNorm. Forward saves per-row mean and rstd ([rows] each) for backward.

export function layernorm_fwd(x: usize, y: usize, rows: i32, C: i32, gamma: usize, beta: usize,
  eps: f64, mean: usize, rstd: usize): void {
  const rowBytes = <usize>C << 2;
  const invC: f64 = 1.0 / <f64>C;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    // Two passes (mean, then squared deviations) avoid the cancellation of
    // E[x^2] - E[x]^2; the row is in L1 by the second pass.
    const m = <f32>(rowSum(xr, C) * invC);
    const v = rowSumSqDev(xr, C, m) * invC;
    const rs = <f32>(1.0 / sqrt<f64>(v + eps));
    store<f32>(mean + (<usize>r << 2), m);
    store<f32>(rstd + (<usize>r << 2), rs);
    const vm = f32x4.splat(m);
    const vr = f32x4.splat(rs);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + off), vm), vr);
      v128.store(yr + off, f32x4.add(f32x4.mul(xh, v128.load(gamma + off)), v128.load(beta + off)));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      const xh = (load<f32>(xr + off) - m) * rs;
      store<f32>(yr + off, xh * load<f32>(gamma + off) + load<f32>(beta + off));
    }
  }
}

// dx = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)), dxh = dy * gamma;
// dgamma = sum_rows dy * xh; dbeta = sum_rows dy. scratch: 2*C f64.
export function layernorm_bwd(x: usize, dy: usize, rows: i32, C: i32, gamma: usize,
  mean: usize, rstd: usize, dx: usize, dgamma: usize, dbeta: usize, scratch: usize): void {
  const rowBytes = <usize>C << 2;
  const invC: f64 = 1.0 / <f64>C;
  const accG = scratch;
  const accB = scratch + (<usize>C << 3);
  zeroF64(scratch, 2 * C);
  zeroF32(dgamma, C);
  zeroF32(dbeta, C);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dyr = dy + <usize>r * rowBytes;
    const dxr = dx + <usize>r * rowBytes;
    const m = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const vm = f32x4.splat(m);
    const vr = f32x4.splat(rs);
    let s1 = f32x4.splat(0.0);
    let s2 = f32x4.splat(0.0);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      const vdy = v128.load(dyr + off);
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + off), vm), vr);
      const dxh = f32x4.mul(vdy, v128.load(gamma + off));
      s1 = f32x4.add(s1, dxh);
      s2 = f32x4.add(s2, f32x4.mul(dxh, xh));
      v128.store(dgamma + off, f32x4.add(v128.load(dgamma + off), f32x4.mul(vdy, xh)));
      v128.store(dbeta + off, f32x4.add(v128.load(dbeta + off), vdy));
    }
    let t1 = hsum64(s1);
    let t2 = hsum64(s2);
    for (let k = c; k < C; k++) {
      const off = <usize>k << 2;
      const vdy = load<f32>(dyr + off);
      const xh = (load<f32>(xr + off) - m) * rs;
      const dxh = vdy * load<f32>(gamma + off);
      t1 += <f64>dxh;
      t2 += <f64>(dxh * xh);
      store<f32>(dgamma + off, load<f32>(dgamma + off) + vdy * xh);
      store<f32>(dbeta + off, load<f32>(dbeta + off) + vdy);
    }
    const m1 = <f32>(t1 * invC);
    const m2 = <f32>(t2 * invC);
    const vm1 = f32x4.splat(m1);
    const vm2 = f32x4.splat(m2);
    c = 0;
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + off), vm), vr);
      const dxh = f32x4.mul(v128.load(dyr + off), v128.load(gamma + off));
      const inner = f32x4.sub(f32x4.sub(dxh, vm1), f32x4.mul(xh, vm2));
      v128.store(dxr + off, f32x4.mul(vr, inner));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      const xh = (load<f32>(xr + off) - m) * rs;
      const dxh = load<f32>(dyr + off) * load<f32>(gamma + off);
      store<f32>(dxr + off, rs * ((dxh - m1) - xh * m2));
    }
    if ((r + 1) % BLOCK_ROWS == 0 || r == rows - 1) {
      flushPartials(dgamma, accG, C);
      flushPartials(dbeta, accB, C);
    }
  }
  storeAcc(accG, dgamma, C);
  storeAcc(accB, dbeta, C);
}

// ---------------------------------------------------------------------------
// RMSNorm: y = gamma * x * rstd, rstd = 1/sqrt(mean(x^2) + eps); forward
// saves rstd ([rows]).

export function rmsnorm_fwd(x: usize, y: usize, rows: i32, C: i32, gamma: usize, eps: f64, rstd: usize): void {
  const rowBytes = <usize>C << 2;
  const invC: f64 = 1.0 / <f64>C;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    const rs = <f32>(1.0 / sqrt<f64>(rowSumSqDev(xr, C, 0.0) * invC + eps));
    store<f32>(rstd + (<usize>r << 2), rs);
    const vr = f32x4.splat(rs);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      v128.store(yr + off, f32x4.mul(f32x4.mul(v128.load(xr + off), vr), v128.load(gamma + off)));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      store<f32>(yr + off, load<f32>(xr + off) * rs * load<f32>(gamma + off));
    }
  }
}

// dx = rstd * (dxh - xh * mean(dxh * xh)), xh = x * rstd, dxh = dy * gamma;
// dgamma = sum_rows dy * xh. scratch: C f64.
export function rmsnorm_bwd(x: usize, dy: usize, rows: i32, C: i32, gamma: usize,
  rstd: usize, dx: usize, dgamma: usize, scratch: usize): void {
  const rowBytes = <usize>C << 2;
  const invC: f64 = 1.0 / <f64>C;
  zeroF64(scratch, C);
  zeroF32(dgamma, C);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dyr = dy + <usize>r * rowBytes;
    const dxr = dx + <usize>r * rowBytes;
    const rs = load<f32>(rstd + (<usize>r << 2));
    const vr = f32x4.splat(rs);
    let s2 = f32x4.splat(0.0);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      const vdy = v128.load(dyr + off);
      const xh = f32x4.mul(v128.load(xr + off), vr);
      s2 = f32x4.add(s2, f32x4.mul(f32x4.mul(vdy, v128.load(gamma + off)), xh));
      v128.store(dgamma + off, f32x4.add(v128.load(dgamma + off), f32x4.mul(vdy, xh)));
    }
    let t2 = hsum64(s2);
    for (let k = c; k < C; k++) {
      const off = <usize>k << 2;
      const vdy = load<f32>(dyr + off);
      const xh = load<f32>(xr + off) * rs;
      t2 += <f64>(vdy * load<f32>(gamma + off) * xh);
      store<f32>(dgamma + off, load<f32>(dgamma + off) + vdy * xh);
    }
    const vm2 = f32x4.splat(<f32>(t2 * invC));
    const m2 = <f32>(t2 * invC);
    c = 0;
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      const xh = f32x4.mul(v128.load(xr + off), vr);
      const dxh = f32x4.mul(v128.load(dyr + off), v128.load(gamma + off));
      v128.store(dxr + off, f32x4.mul(vr, f32x4.sub(dxh, f32x4.mul(xh, vm2))));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      const xh = load<f32>(xr + off) * rs;
      const dxh = load<f32>(dyr + off) * load<f32>(gamma + off);
      store<f32>(dxr + off, rs * (dxh - xh * m2));
    }
    if ((r + 1) % BLOCK_ROWS == 0 || r == rows - 1) flushPartials(dgamma, scratch, C);
  }
  storeAcc(scratch, dgamma, C);
}
