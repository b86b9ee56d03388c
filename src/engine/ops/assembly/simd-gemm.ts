// Matrix product C = op(A) op(B) in float32 with 128-bit SIMD.
//
// Why our own: tfjs-backend-wasm sends XNNPACK only untransposed operands (a
// gradient pays two Transposes first), XNNPACK repacks B on every call where
// B is new (in training, always), and tfjs runs everything else as a scalar
// loop. This kernel reads either layout of either operand through strides,
// packs a KC x NC panel of B at a time, and splits the rows of C across
// threads (src/engine/ops/row-pool.ts): a row's result does not depend on
// which thread computes it or how the rows were split.
//
// Layout (BLAS-like, row-major, pointers are byte offsets):
//   A: flags bit 0 clear: [M, lda >= K], element (i, k) at a[i*lda + k];
//      set (A^T given): [K, lda >= M], element (i, k) at a[k*lda + i].
//   B: flags bit 1 clear: [K, ldb >= N], element (k, n) at b[k*ldb + n];
//      set (B^T given): [N, ldb >= K], element (k, n) at b[n*ldb + k].
//   C: [M, ldc >= N]. pack: GEMM_PACK_FLOATS floats of scratch.
// Loop order (GotoBLAS's): a KC x NC panel of B packed as 8-column strips
// (L2-resident), then for each 4-row block of A (L1-resident) every strip, so
// C is written a row block at a time in whole cache lines. The k sum runs in
// blocks of GEMM_KC, each block's partial sums added to C in order, so results
// depend only on (K, GEMM_KC), never on M, N or threads.

import { macc } from './simd-math';

export const GEMM_KC: i32 = 256;
/** Columns of B packed at a time (a multiple of 8). */
export const GEMM_NC: i32 = 512;
/** Scratch per thread: one packed KC x NC panel of B, plus 8 floats for partial rows of C. */
export const GEMM_PACK_FLOATS: i32 = GEMM_KC * GEMM_NC + 8;
const NR: i32 = 8;
const MR: i32 = 4;

/** Packs B[k0:k0+kc, j0:j0+w] as kc rows of 8 floats (columns past w are zero). */
@inline function packStrip(flags: i32, b: usize, ldb: i32, k0: i32, kc: i32, j0: i32, w: i32, pack: usize): void {
  if ((flags & 2) == 0 && w == NR) {
    let src = b + ((<usize>k0 * ldb + j0) << 2);
    const step = <usize>ldb << 2;
    for (let kk = 0; kk < kc; kk++) {
      const dst = pack + (<usize>kk << 5);
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      src += step;
    }
    return;
  }
  for (let kk = 0; kk < kc; kk++) {
    const dst = pack + (<usize>kk << 5);
    for (let jj = 0; jj < NR; jj++) {
      let v: f32 = 0;
      if (jj < w) {
        const k = k0 + kk, n = j0 + jj;
        v = (flags & 2) == 0 ? load<f32>(b + ((<usize>k * ldb + n) << 2)) : load<f32>(b + ((<usize>n * ldb + k) << 2));
      }
      store<f32>(dst + (<usize>jj << 2), v);
    }
  }
}

/** Writes (first) or adds (later k blocks) an 8-wide accumulator pair into C's row at `c`, w <= 8 columns; tmp: 8 floats. */
@inline function flushRow(c: usize, w: i32, first: bool, lo: v128, hi: v128, tmp: usize): void {
  if (w == NR) {
    if (first) { v128.store(c, lo); v128.store(c, hi, 16); } else {
      v128.store(c, f32x4.add(v128.load(c), lo));
      v128.store(c, f32x4.add(v128.load(c, 16), hi), 16);
    }
    return;
  }
  v128.store(tmp, lo); v128.store(tmp, hi, 16);
  for (let j = 0; j < w; j++) {
    const p = c + (<usize>j << 2), v = load<f32>(tmp + (<usize>j << 2));
    store<f32>(p, first ? v : load<f32>(p) + v);
  }
}

/** MR rows x 8 columns over kc steps: A rows at a0 + r*rowStep, advancing kStep bytes per k. */
@inline function block4(a0: usize, rowStep: usize, kStep: usize, pack: usize, kc: i32, c: usize, ldcBytes: usize, w: i32, first: bool, tmp: usize): void {
  let p0 = a0, p1 = a0 + rowStep, p2 = a0 + 2 * rowStep, p3 = a0 + 3 * rowStep;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let pb = pack;
  for (let kk = 0; kk < kc; kk++) {
    const b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let a = v128.load32_splat(p0);
    c00 = macc(c00, a, b0); c01 = macc(c01, a, b1);
    a = v128.load32_splat(p1);
    c10 = macc(c10, a, b0); c11 = macc(c11, a, b1);
    a = v128.load32_splat(p2);
    c20 = macc(c20, a, b0); c21 = macc(c21, a, b1);
    a = v128.load32_splat(p3);
    c30 = macc(c30, a, b0); c31 = macc(c31, a, b1);
    p0 += kStep; p1 += kStep; p2 += kStep; p3 += kStep;
    pb += 32;
  }
  flushRow(c, w, first, c00, c01, tmp);
  flushRow(c + ldcBytes, w, first, c10, c11, tmp);
  flushRow(c + 2 * ldcBytes, w, first, c20, c21, tmp);
  flushRow(c + 3 * ldcBytes, w, first, c30, c31, tmp);
}

/** One row x 8 columns (the rows past the last multiple of MR). */
@inline function block1(a0: usize, kStep: usize, pack: usize, kc: i32, c: usize, w: i32, first: bool, tmp: usize): void {
  let p0 = a0;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let pb = pack;
  for (let kk = 0; kk < kc; kk++) {
    const a = v128.load32_splat(p0);
    c00 = macc(c00, a, v128.load(pb));
    c01 = macc(c01, a, v128.load(pb, 16));
    p0 += kStep;
    pb += 32;
  }
  flushRow(c, w, first, c00, c01, tmp);
}

export function gemm_f32(flags: i32, M: i32, N: i32, K: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, pack: usize): void {
  if (M <= 0 || N <= 0) return;
  const ldcBytes = <usize>ldc << 2;
  if (K <= 0) {
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) store<f32>(c + <usize>i * ldcBytes + (<usize>j << 2), 0);
    return;
  }
  // Bytes between consecutive rows of op(A), and between consecutive k.
  const rowStep: usize = (flags & 1) == 0 ? <usize>lda << 2 : 4;
  const kStep: usize = (flags & 1) == 0 ? 4 : <usize>lda << 2;
  const M4 = M - M % MR;
  const tmp = pack + (<usize>(GEMM_KC * GEMM_NC) << 2);
  for (let k0 = 0; k0 < K; k0 += GEMM_KC) {
    const kc = min(GEMM_KC, K - k0);
    const first = k0 == 0;
    const stripBytes = <usize>kc << 5;
    const ak = a + <usize>k0 * kStep;
    for (let n0 = 0; n0 < N; n0 += GEMM_NC) {
      const nc = min(GEMM_NC, N - n0);
      const strips = (nc + NR - 1) / NR;
      for (let s = 0; s < strips; s++) packStrip(flags, b, ldb, k0, kc, n0 + s * NR, min(NR, nc - s * NR), pack + <usize>s * stripBytes);
      const cn = c + (<usize>n0 << 2);
      let i = 0;
      for (; i < M4; i += MR) {
        const ai = ak + <usize>i * rowStep, ci = cn + <usize>i * ldcBytes;
        for (let s = 0; s < strips; s++) {
          block4(ai, rowStep, kStep, pack + <usize>s * stripBytes, kc, ci + (<usize>(s * NR) << 2), ldcBytes, min(NR, nc - s * NR), first, tmp);
        }
      }
      for (; i < M; i++) {
        const ai = ak + <usize>i * rowStep, ci = cn + <usize>i * ldcBytes;
        for (let s = 0; s < strips; s++) {
          block1(ai, kStep, pack + <usize>s * stripBytes, kc, ci + (<usize>(s * NR) << 2), min(NR, nc - s * NR), first, tmp);
        }
      }
    }
  }
}
