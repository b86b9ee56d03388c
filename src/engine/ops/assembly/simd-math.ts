// Shared pieces of the SIMD module (simd-ops.ts is its entry): the shape codes,
// vector tanh/exp/erf and each shape's value and derivative, partial loads and
// stores for row tails, f64 accumulation of per-channel partial sums.
// Shape codes: the table of engine/squash-shapes.ts (test/squash-shapes.test.ts checks them).
export const K_TANH: i32 = 0;
export const K_HARDTANH: i32 = 1;
export const K_SIGMOID: i32 = 2;
export const K_SOFTSIGN: i32 = 3;
export const K_ERF: i32 = 4;
export const K_ISRU: i32 = 5;
export const K_IDENTITY: i32 = 6;
// Not a shape of its own: tanh through the accurate (Eigen) polynomial, for
// the self-check and for callers who ask for it (engine/ops/fused-ops.ts).
export const K_TANH_ACCURATE: i32 = 7;

// Rows per block in which per-channel sums accumulate in float32 before they
// are added to the float64 scratch accumulators (bounds the f32 error).
export const BLOCK_ROWS: i32 = 16;

// ---------------------------------------------------------------------------
// tanh: Eigen's ptanh_float rational approximation (odd numerator of degree
// 13 over even denominator of degree 6), with |x| clamped to the fit range.
// No FMA in wasm SIMD, so the non-FMA clamp constant.
export const T_CLAMP: f32 = 7.90531110763549805;
export const T_TINY: f32 = 0.0004;
export const TA1: f32 = 4.89352455891786e-3;
export const TA3: f32 = 6.37261928875436e-4;
export const TA5: f32 = 1.48572235717979e-5;
export const TA7: f32 = 5.12229709037114e-8;
export const TA9: f32 = -8.60467152213735e-11;
export const TA11: f32 = 2.00018790482477e-13;
export const TA13: f32 = -2.76076847742355e-16;
export const TB0: f32 = 4.89352518554385e-3;
export const TB2: f32 = 2.268434632439e-3;
export const TB4: f32 = 1.18534705686654e-4;
export const TB6: f32 = 1.19825839466702e-6;

@inline export function vsplat(v: f32): v128 {
  return f32x4.splat(v);
}

// a * b + c. In the relaxed-SIMD build (ops-relaxed.wasm, ops-shared-relaxed.wasm;
// chosen where the runtime has relaxed SIMD, src/engine/ops/simd.ts) one
// f32x4.relaxed_madd: a fused multiply-add on a CPU with FMA (one rounding, so
// other bits than the plain build's), a multiply and an add otherwise. In the
// plain build exactly the multiply and the add.
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// acc + a * b, for accumulators: the same one instruction as madd in the
// relaxed build, and the plain build's add(acc, mul) in that operand order.
@inline export function macc(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

// pmin/pmax compile to single minps/maxps; with x as the first operand a NaN
// input propagates to the output.
@inline export function clamp4(x: v128, lo: f32, hi: f32): v128 {
  return f32x4.pmin(f32x4.pmax(x, vsplat(lo)), vsplat(hi));
}

@inline export function tanh4(x: v128): v128 {
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
// The training tanh: a (7, 8) rational x P(x^2) / Q(x^2) fitted to relative
// error on [0, 7.8] (Lawson-weighted least squares, float64; the fit lives in
// bench/tanh-fit.py). Evaluated in float32 its max relative error is 4.2e-7
// over the whole line (test/kernels.test.ts checks < 1e-6), about half the
// operations of tanh4, no tiny-x branch (x P / Q is relatively accurate at 0)
// and no output clamp (|P/Q| < 1 on the clamped range).
export const TF_CLAMP: f32 = 7.8;
export const TP0: f32 = 0.9999998839362333;
export const TP1: f32 = 0.1294312649482933;
export const TP2: f32 = 0.0029698998886821385;
export const TP3: f32 = 1.1635836175066111e-05;
export const TQ1: f32 = 0.46276363745279975;
export const TQ2: f32 = 0.023892443015972657;
export const TQ3: f32 = 0.00024135613008385718;
export const TQ4: f32 = 2.5262747530008234e-07;

@inline export function tanh4fast(x: v128): v128 {
  const xc = clamp4(x, -TF_CLAMP, TF_CLAMP);
  const x2 = f32x4.mul(xc, xc);
  let p = madd(x2, vsplat(TP3), vsplat(TP2));
  p = madd(x2, p, vsplat(TP1));
  p = madd(x2, p, vsplat(TP0));
  let q = madd(x2, vsplat(TQ4), vsplat(TQ3));
  q = madd(x2, q, vsplat(TQ2));
  q = madd(x2, q, vsplat(TQ1));
  q = madd(x2, q, vsplat(1.0));
  return f32x4.div(f32x4.mul(xc, p), q);
}

// ---------------------------------------------------------------------------
// exp and erf, vectorised in float32 with our own polynomials (the std-library
// Math would pull lookup tables, i.e. data segments, into the module).

export const LOG2E: f32 = 1.44269504088896341;
export const LN2_HI: f32 = 0.693359375;     // ln 2 split so k * LN2_HI is exact
export const LN2_LO: f32 = -2.12194440e-4;
export const EXP_MIN: f32 = -87.0;          // keeps 2^k normal
export const EXP_MAX: f32 = 88.0;

// exp(x): x = k ln2 + r, |r| <= ln2/2, Taylor polynomial to r^7 (relative
// error ~2e-8 before rounding), 2^k built from exponent bits.
@inline export function exp4(x: v128): v128 {
  const xc = clamp4(x, EXP_MIN, EXP_MAX);
  const k = f32x4.nearest(f32x4.mul(xc, vsplat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(k, vsplat(LN2_HI))), f32x4.mul(k, vsplat(LN2_LO)));
  let p = madd(r, vsplat(1.0 / 5040.0), vsplat(1.0 / 720.0));
  p = madd(r, p, vsplat(1.0 / 120.0));
  p = madd(r, p, vsplat(1.0 / 24.0));
  p = madd(r, p, vsplat(1.0 / 6.0));
  p = madd(r, p, vsplat(0.5));
  p = madd(r, p, vsplat(1.0));
  p = madd(r, p, vsplat(1.0));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(k), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

export const TWO_OVER_SQRT_PI: f32 = 1.12837916709551257;

// erf: for |u| < 0.5 the Taylor series 2/sqrt(pi) * sum (-1)^n u^(2n+1) /
// (n! (2n+1)) to n = 7 (truncation < 2e-10); otherwise 1 - erfc with
// Numerical Recipes' erfc fit t * exp(-z^2 + P(t)), t = 1/(1 + z/2)
// (fractional error < 1.2e-7). Both are evaluated and selected per lane.
// Max abs error is checked against a float64 erf in test/kernels.test.ts.
// sum_n (-1)^n u^(2n) / (n! (2n+1)) to n = 7, given u^2: erf(u) = 2/sqrt(pi) u S(u^2).
@inline export function erfSeries4(u2: v128): v128 {
  let s = f32x4.add(f32x4.mul(u2, vsplat(-1.0 / 75600.0)), vsplat(1.0 / 9360.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(-1.0 / 1320.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(1.0 / 216.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(-1.0 / 42.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(1.0 / 10.0));
  s = f32x4.add(f32x4.mul(u2, s), vsplat(-1.0 / 3.0));
  return f32x4.add(f32x4.mul(u2, s), vsplat(1.0));
}

// erfc(z) for z >= 0: Numerical Recipes' fit t exp(-z^2 + P(t)), t = 1 / (1 + z/2).
@inline export function erfcFit4(z: v128): v128 {
  const one = vsplat(1.0);
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
  return f32x4.mul(t, exp4(f32x4.sub(p, f32x4.mul(z, z))));
}

@inline export function erf4(u: v128): v128 {
  const one = vsplat(1.0);
  const z = f32x4.pmin(f32x4.abs(u), vsplat(6.0)); // erf(6) = 1 - 2e-17
  const small = f32x4.mul(f32x4.mul(u, erfSeries4(f32x4.mul(u, u))), vsplat(TWO_OVER_SQRT_PI));
  const erfc = erfcFit4(z);
  // copysign(1 - erfc, u)
  const signBit = v128.and(u, f32x4.splat(-0.0));
  const large = v128.or(f32x4.sub(one, erfc), signBit);

  return v128.bitselect(small, large, f32x4.lt(f32x4.abs(u), vsplat(0.5)));
}

// erf'(u) = 2/sqrt(pi) * exp(-u^2)
@inline export function erfDeriv4(u: v128): v128 {
  return f32x4.mul(vsplat(TWO_OVER_SQRT_PI), exp4(f32x4.neg(f32x4.mul(u, u))));
}

// ---------------------------------------------------------------------------
// Shapes f(u) and their derivatives, vectorised. `kind` is always a
// compile-time constant after inlining, so each loop body is specialised.

// isru and softsign: |u| is clamped so u*u cannot overflow to inf (which
// would turn f(1e20) into 0 instead of 1).
export const BIG: f32 = 1.0e18;

@inline export function shape4(kind: i32, u: v128): v128 {
  const one = vsplat(1.0);
  if (kind == K_TANH) return tanh4fast(u);
  if (kind == K_TANH_ACCURATE) return tanh4(u);
  if (kind == K_HARDTANH) return clamp4(u, -1.0, 1.0);
  if (kind == K_SIGMOID) return tanh4fast(f32x4.mul(u, vsplat(0.5)));
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
@inline export function derivFromF(kind: i32): bool {
  return kind == K_TANH || kind == K_TANH_ACCURATE || kind == K_SIGMOID || kind == K_IDENTITY;
}

// f'(u) given u and f = f(u) (reuses f where that is cheaper).
@inline export function deriv4(kind: i32, u: v128, f: v128): v128 {
  const one = vsplat(1.0);
  if (kind == K_TANH || kind == K_TANH_ACCURATE) return f32x4.sub(one, f32x4.mul(f, f));
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

@inline export function loadPartial(p: usize, n: i32): v128 {
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

@inline export function storePartial(p: usize, v: v128, n: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

@inline export function hsum64(v: v128): f64 {
  return (<f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1)) +
    (<f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3));
}

@inline export function zeroF32(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), 0.0);
}

@inline export function zeroF64(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f64>(p + (<usize>i << 3), 0.0);
}

// acc64[c] += part[c]; part[c] = 0, for c < C (float32 block partials into
// the float64 accumulators).
export function flushPartials(part: usize, acc64: usize, C: i32): void {
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

export function storeAcc(acc64: usize, out: usize, C: i32): void {
  for (let c = 0; c < C; c++) {
    store<f32>(out + (<usize>c << 2), <f32>load<f64>(acc64 + (<usize>c << 3)));
  }
}

// ---------------------------------------------------------------------------
// Chunk records: the norm backwards' per-channel sums, kept so that threads
// can share the rows (src/engine/ops/row-pool.ts) and the sums still not
// depend on how they were split. For each chunk of `chunkRows` rows the rows
// kernel writes a record at part + chunk * recBytes: `fields` float32 arrays
// of C sums over that chunk's rows (field f at byte f * C * 4), and in the
// record's last 16 bytes two float64 totals. chunk_reduce adds the chunks in
// chunk order in float64: with chunkRows = BLOCK_ROWS that is the same
// arithmetic as one thread flushing float32 block partials into float64.

/** Record of the chunk holding local row r (r counts from the share's first row, a chunk start). */
@inline export function chunkRecord(part: usize, r: i32, chunkRows: i32, recBytes: i32): usize {
  return part + <usize>(r / chunkRows) * <usize>recBytes;
}

/** Zeroes a record's float32 sums (fields * C floats) at the start of a chunk. */
@inline export function zeroRecord(rec: usize, floats: i32): void {
  const zero = f32x4.splat(0.0);
  let i = 0;
  for (; i + 4 <= floats; i += 4) v128.store(rec + (<usize>i << 2), zero);
  for (; i < floats; i++) store<f32>(rec + (<usize>i << 2), 0.0);
}

/** Stores a chunk's two float64 totals in the record's last 16 bytes. */
@inline export function storeTotals(rec: usize, recBytes: i32, t0: f64, t1: f64): void {
  store<f64>(rec + <usize>recBytes - 16, t0);
  store<f64>(rec + <usize>recBytes - 8, t1);
}

/**
 * out[c] = sum over chunks of field `field`'s sum c (field >= 0, C floats out),
 * or one float: the sum of total -1 - field (field -1 or -2). Float64, chunk order.
 */
export function chunk_reduce(part: usize, chunks: i32, recBytes: i32, C: i32, field: i32, out: usize): void {
  const rb = <usize>recBytes;
  if (field < 0) {
    const at = rb - 16 + (<usize>(-1 - field) << 3);
    let t: f64 = 0.0;
    for (let j = 0; j < chunks; j++) t += load<f64>(part + <usize>j * rb + at);
    store<f32>(out, <f32>t);
    return;
  }
  const base = part + ((<usize>field * <usize>C) << 2);
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    let lo = f64x2.splat(0.0);
    let hi = f64x2.splat(0.0);
    let p = base + (<usize>c << 2);
    for (let j = 0; j < chunks; j++) {
      const v = v128.load(p);
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
      p += rb;
    }
    v128.store(out + (<usize>c << 2), v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
  }
  for (; c < C; c++) {
    let t: f64 = 0.0;
    let p = base + (<usize>c << 2);
    for (let j = 0; j < chunks; j++) { t += <f64>load<f32>(p); p += rb; }
    store<f32>(out + (<usize>c << 2), <f32>t);
  }
}
