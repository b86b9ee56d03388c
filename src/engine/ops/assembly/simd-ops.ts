// SIMD kernels for the normalization family (DyT and relatives, LayerNorm,
// RMSNorm), compiled by scripts/build-ops.mjs with AssemblyScript.
//
// Contract, checked by the build script on the emitted .wat:
// - The module imports tfjs-wasm's own memory (env.memory) and owns nothing in
//   it: no data segments, no statics, no allocation, no stack. That memory is
//   emscripten's heap; writing anywhere we were not pointed at would corrupt it.
// - Every function reads and writes only the byte ranges its pointer arguments
//   describe. Pointers are byte offsets of float32 arrays laid out as
//   [rows, C]; per-channel vectors are [C]; `part` is a block of chunk
//   records (simd-math.ts), `scratch` a float64 array.
// - Tails (C not a multiple of 4) go through the same vector code with
//   lane-wise partial loads/stores, so an element's result does not depend on
//   its column position.
//
// Files: simd-math.ts (shared vector math), this file (tanh and the squash
// family), simd-norms.ts (LayerNorm, RMSNorm).
import { K_TANH, K_TANH_ACCURATE, K_HARDTANH, K_SIGMOID, K_SOFTSIGN, K_ERF, K_ISRU, K_IDENTITY, tanh4, shape4, derivFromF, deriv4, loadPartial, storePartial, hsum64, madd, chunkRecord, zeroRecord, storeTotals } from './simd-math';
export { chunk_reduce } from './simd-math';

export { layernorm_fwd, layernorm_bwd, rmsnorm_fwd, rmsnorm_bwd } from './simd-norms';
export { transpose_f32 } from './simd-layout';
export { gemm_f32 } from './simd-gemm';
export { sum_rows_f32, sum_cols_f32 } from './simd-reduce';
export { attn_fwd, attn_bwd } from './simd-attention';
export { adamw_multi, sumsq_multi, xent_fwd, xent_bwd, gelu_fwd, gelu_bwd, gelu_exact_fwd, gelu_exact_bwd } from './simd-train';
export { bias_gelu_fwd, bias_gelu_exact_fwd, bias_gelu_bwd, bias_gelu_exact_bwd } from './simd-train';

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
// One pass (AFF): the affine is applied in the same loop and y written once;
// used for the shapes whose f is short enough not to spill (see oneLoop).
// SAVE (with AFF): f itself is also stored, at fo (the training forward keeps it for the backward).
@inline function rowShape(kind: i32, PC: bool, AFF: bool, SAVE: bool, xr: usize, outr: usize, fo: usize, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, a1: v128, s1: v128, gamma: usize, beta: usize): void {
  let c = 0;
  for (; c + 8 <= C; c += 8) {
    const off = <usize>c << 2;
    const u0 = f32x4.add(f32x4.mul(paramAt(PC, aPC, alpha, off, a1), v128.load(xr + off)), paramAt(PC, sPC, s, off, s1));
    const u1 = f32x4.add(f32x4.mul(paramAt(PC, aPC, alpha, off + 16, a1), v128.load(xr + off, 16)),
      paramAt(PC, sPC, s, off + 16, s1));
    let f0 = shape4(kind, u0);
    let f1 = shape4(kind, u1);
    if (AFF) {
      if (SAVE) {
        v128.store(fo + off, f0);
        v128.store(fo + off, f1, 16);
      }
      f0 = madd(v128.load(gamma + off), f0, v128.load(beta + off));
      f1 = madd(v128.load(gamma + off, 16), f1, v128.load(beta + off, 16));
    }
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

// y[c] = gamma[c] * f[c] + beta[c] for one row (fr may be yr: in place).
@inline function rowAffine(fr: usize, yr: usize, C: i32, gamma: usize, beta: usize): void {
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const off = <usize>c << 2;
    v128.store(yr + off, madd(v128.load(gamma + off), v128.load(fr + off), v128.load(beta + off)));
  }
  for (; c < C; c++) {
    const off = <usize>c << 2;
    store<f32>(yr + off, load<f32>(gamma + off) * load<f32>(fr + off) + load<f32>(beta + off));
  }
}

// Shapes whose f is short enough to apply the affine in the same loop (the fast
// tanh too: one pass took [4096, 768] from 2.4-2.5 to 2.1 ms on one thread).
@inline function oneLoop(kind: i32): bool {
  return kind == K_HARDTANH || kind == K_IDENTITY || kind == K_SOFTSIGN || kind == K_TANH || kind == K_SIGMOID;
}

// Forward: y = gamma * f(alpha * x + s) + beta; with SAVE, f(alpha * x + s) is
// also written to fOut (same layout as y), for the backward to read instead of
// recomputing it: the same bits, as the backward's f would be computed by the same code.
@inline function squashFwdRows(kind: i32, PC: bool, SAVE: bool, x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  const a1 = f32x4.splat(load<f32>(alpha));
  const s1 = f32x4.splat(load<f32>(s));
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    const fr = SAVE ? fOut + <usize>r * rowBytes : yr; // where f goes before the affine
    if (oneLoop(kind)) {
      // The vector part in one pass; the tail (C % 8) columns are finished by the two-pass code.
      rowShape(kind, PC, true, SAVE, xr, yr, fr, C & ~7, alpha, aPC, s, sPC, a1, s1, gamma, beta);
      const done = <usize>(C & ~7) << 2;
      if (C & 7) {
        rowShape(kind, PC, false, false, xr + done, fr + done, 0, C & 7, alpha + (PC && aPC ? done : 0), aPC, s + (PC && sPC ? done : 0), sPC, a1, s1, 0, 0);
        rowAffine(fr + done, yr + done, C & 7, gamma + done, beta + done);
      }
    } else {
      rowShape(kind, PC, false, false, xr, fr, 0, C, alpha, aPC, s, sPC, a1, s1, 0, 0);
      rowAffine(fr, yr, C, gamma, beta);
    }
  }
}

@inline function squashFwdKind(kind: i32, x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  if (fOut) {
    if (aPC | sPC) squashFwdRows(kind, true, true, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
    else squashFwdRows(kind, false, true, x, y, rows, C, alpha, 0, s, 0, gamma, beta, fOut);
  } else if (aPC | sPC) squashFwdRows(kind, true, false, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, 0);
  else squashFwdRows(kind, false, false, x, y, rows, C, alpha, 0, s, 0, gamma, beta, 0);
}

// One (non-inlined) function per shape: V8 tiers wasm functions up to
// optimised code one by one, and a single function holding every
// specialisation stayed in the baseline tier for many calls (1.7x slower).
function squashFwdTanh(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  squashFwdKind(K_TANH, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}
function squashFwdTanhAccurate(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  squashFwdKind(K_TANH_ACCURATE, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}
function squashFwdHardtanh(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  squashFwdKind(K_HARDTANH, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}
function squashFwdSigmoid(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  squashFwdKind(K_SIGMOID, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}
function squashFwdSoftsign(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  squashFwdKind(K_SOFTSIGN, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}
function squashFwdErf(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  squashFwdKind(K_ERF, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}
function squashFwdIsru(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  squashFwdKind(K_ISRU, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}
function squashFwdIdentity(x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  squashFwdKind(K_IDENTITY, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}

export function squash_fwd(kind: i32, x: usize, y: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize, beta: usize, fOut: usize): void {
  if (kind == K_TANH) squashFwdTanh(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
  else if (kind == K_TANH_ACCURATE) squashFwdTanhAccurate(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
  else if (kind == K_HARDTANH) squashFwdHardtanh(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
  else if (kind == K_SIGMOID) squashFwdSigmoid(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
  else if (kind == K_SOFTSIGN) squashFwdSoftsign(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
  else if (kind == K_ERF) squashFwdErf(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
  else if (kind == K_ISRU) squashFwdIsru(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
  else if (kind == K_IDENTITY) squashFwdIdentity(x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut);
}

// Backward. With g = dy * gamma * f'(u):
//   dx = g * alpha; dalpha = sum(g * x); ds = sum(g) (over everything, or per
//   channel when aPC / sPC); dgamma_c = sum_rows dy * f(u); dbeta_c =
//   sum_rows dy.
// Pass A leaves f(u) in the dx row; pass B reads it back and overwrites it
// with dx. With fIn (f(u) as the training forward saved it) pass A is skipped
// and pass B reads f from there. The sums go to chunk records (simd-math.ts, chunk_reduce adds
// them up): fields dgamma, dbeta, then dalpha if aPC, then ds if sPC; the
// scalar dalpha and ds accumulate per row in f32 lanes, row totals in f64,
// as the record's two totals.

// g = dy * gamma * f'(u) for one vector of pass B; u is recomputed only for
// the shapes whose derivative is not a function of f(u).
@inline function bwdVector(kind: i32, f: v128, vx: v128, vdy: v128, vg: v128, va: v128, vs: v128): v128 {
  const u = derivFromF(kind) ? f : f32x4.add(f32x4.mul(va, vx), vs);
  return f32x4.mul(f32x4.mul(vdy, vg), deriv4(kind, u, f));
}

@inline function squashBwdRows(kind: i32, PC: bool, x: usize, dy: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  const a1 = f32x4.splat(load<f32>(alpha));
  const s1 = f32x4.splat(load<f32>(s));
  const zero = f32x4.splat(0.0);
  const C4 = C & ~3;
  const rest = C - C4;
  const rowBytes = <usize>C << 2;
  const fieldBytes = <usize>C << 2;
  const fields = 2 + aPC + sPC;
  let totA: f64 = 0.0;
  let totS: f64 = 0.0;
  for (let r = 0; r < rows; r++) {
    const rec = chunkRecord(part, r, chunkRows, recBytes);
    if (r % chunkRows == 0) {
      zeroRecord(rec, fields * C);
      totA = 0.0;
      totS = 0.0;
    }
    const dgamma = rec;
    const dbeta = rec + fieldBytes;
    const dalpha = rec + 2 * fieldBytes;
    const ds = rec + <usize>(2 + aPC) * fieldBytes;
    const xr = x + <usize>r * rowBytes;
    const dyr = dy + <usize>r * rowBytes;
    const dxr = dx + <usize>r * rowBytes;
    // f(u): saved by the training forward (fIn), else recomputed into the dx row.
    const fr = fIn ? fIn + <usize>r * rowBytes : dxr;
    if (!fIn) rowShape(kind, PC, false, false, xr, dxr, 0, C, alpha, aPC, s, sPC, a1, s1, 0, 0);
    let rowA = zero;
    let rowS = zero;
    for (let c = 0; c < C4; c += 4) {
      const off = <usize>c << 2;
      const f = v128.load(fr + off);
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
      const f = loadPartial(fr + off, rest);
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
    if ((r + 1) % chunkRows == 0 || r == rows - 1) storeTotals(rec, recBytes, totA, totS);
  }
}

@inline function squashBwdKind(kind: i32, x: usize, dy: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  if (aPC | sPC) squashBwdRows(kind, true, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
  else squashBwdRows(kind, false, x, dy, rows, C, alpha, 0, s, 0, gamma, dx, part, recBytes, chunkRows, fIn);
}

function squashBwdTanh(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  squashBwdKind(K_TANH, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}
function squashBwdTanhAccurate(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  squashBwdKind(K_TANH_ACCURATE, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}
function squashBwdHardtanh(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  squashBwdKind(K_HARDTANH, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}
function squashBwdSigmoid(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  squashBwdKind(K_SIGMOID, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}
function squashBwdSoftsign(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  squashBwdKind(K_SOFTSIGN, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}
function squashBwdErf(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  squashBwdKind(K_ERF, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}
function squashBwdIsru(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  squashBwdKind(K_ISRU, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}
function squashBwdIdentity(x: usize, dy: usize, rows: i32, C: i32, alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  squashBwdKind(K_IDENTITY, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}

export function squash_bwd(kind: i32, x: usize, dy: usize, rows: i32, C: i32,
  alpha: usize, aPC: i32, s: usize, sPC: i32, gamma: usize,
  dx: usize, part: usize, recBytes: i32, chunkRows: i32, fIn: usize): void {
  if (kind == K_TANH) squashBwdTanh(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
  else if (kind == K_TANH_ACCURATE) squashBwdTanhAccurate(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
  else if (kind == K_HARDTANH) squashBwdHardtanh(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
  else if (kind == K_SIGMOID) squashBwdSigmoid(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
  else if (kind == K_SOFTSIGN) squashBwdSoftsign(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
  else if (kind == K_ERF) squashBwdErf(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
  else if (kind == K_ISRU) squashBwdIsru(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
  else if (kind == K_IDENTITY) squashBwdIdentity(x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn);
}
