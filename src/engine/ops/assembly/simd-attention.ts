// Fused multi-head self-attention of the SIMD module (re-exported by simd-ops.ts).
//
//   qkv [B, T, 3d] (q | k | v along the last axis, d = H * D, head h at h * D)
//   z   [B, T, d]  = softmax(scale * rope(q) rope(k)^T + mask) v, heads merged
//   P   [B, H, T, Tp] the probabilities, Tp = T rounded up to 4, zero outside
//       the mask and in the padding columns (saved for backward)
//
// Work is done per (batch, head) on a scratch block the caller passes (the
// module owns no memory): the head's rows of q (rotated, times scale) and k
// (rotated) copied to [Tp, D], k transposed to [D, Tp]. Products are f32x4
// register blocks of 4 rows x 8 columns; every element is a single float32
// sum in a fixed order (d ascending, or key ascending), independent of the
// blocking, so results are deterministic. The head dim D must be a multiple of 4.
//
// RoPE (rotate-half form, as nn/rope.ts): tables cos / sin [>= T, D].

import { exp4 } from './simd-math';

const NEG_INF: f32 = -Infinity;

// ---------------------------------------------------------------------------
// Products. Pointers are byte offsets; strides are in bytes.

// out[r, j] = sum_d A[r, d] * BT[d, j] for 4 rows r and j in [0, jEnd), jEnd a multiple of 4.
function abT4(A: usize, sa: usize, BT: usize, sb: usize, out: usize, so: usize, D: i32, jEnd: i32): void {
  let j = 0;
  for (; j + 8 <= jEnd; j += 8) {
    let c00 = f32x4.splat(0.0), c01 = f32x4.splat(0.0), c10 = f32x4.splat(0.0), c11 = f32x4.splat(0.0);
    let c20 = f32x4.splat(0.0), c21 = f32x4.splat(0.0), c30 = f32x4.splat(0.0), c31 = f32x4.splat(0.0);
    let b = BT + (<usize>j << 2);
    let a = A;
    for (let d = 0; d < D; d++) {
      const b0 = v128.load(b), b1 = v128.load(b, 16);
      const a0 = v128.load32_splat(a), a1 = v128.load32_splat(a + sa);
      const a2 = v128.load32_splat(a + 2 * sa), a3 = v128.load32_splat(a + 3 * sa);
      c00 = f32x4.add(c00, f32x4.mul(a0, b0)); c01 = f32x4.add(c01, f32x4.mul(a0, b1));
      c10 = f32x4.add(c10, f32x4.mul(a1, b0)); c11 = f32x4.add(c11, f32x4.mul(a1, b1));
      c20 = f32x4.add(c20, f32x4.mul(a2, b0)); c21 = f32x4.add(c21, f32x4.mul(a2, b1));
      c30 = f32x4.add(c30, f32x4.mul(a3, b0)); c31 = f32x4.add(c31, f32x4.mul(a3, b1));
      b += sb;
      a += 4;
    }
    const o = out + (<usize>j << 2);
    v128.store(o, c00); v128.store(o, c01, 16);
    v128.store(o + so, c10); v128.store(o + so, c11, 16);
    v128.store(o + 2 * so, c20); v128.store(o + 2 * so, c21, 16);
    v128.store(o + 3 * so, c30); v128.store(o + 3 * so, c31, 16);
  }
  if (j < jEnd) {
    let c0 = f32x4.splat(0.0), c1 = f32x4.splat(0.0), c2 = f32x4.splat(0.0), c3 = f32x4.splat(0.0);
    let b = BT + (<usize>j << 2);
    let a = A;
    for (let d = 0; d < D; d++) {
      const b0 = v128.load(b);
      c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(a), b0));
      c1 = f32x4.add(c1, f32x4.mul(v128.load32_splat(a + sa), b0));
      c2 = f32x4.add(c2, f32x4.mul(v128.load32_splat(a + 2 * sa), b0));
      c3 = f32x4.add(c3, f32x4.mul(v128.load32_splat(a + 3 * sa), b0));
      b += sb;
      a += 4;
    }
    const o = out + (<usize>j << 2);
    v128.store(o, c0);
    v128.store(o + so, c1);
    v128.store(o + 2 * so, c2);
    v128.store(o + 3 * so, c3);
  }
}

// One row of abT4.
function abT1(A: usize, BT: usize, sb: usize, out: usize, D: i32, jEnd: i32): void {
  let j = 0;
  for (; j + 8 <= jEnd; j += 8) {
    let c0 = f32x4.splat(0.0), c1 = f32x4.splat(0.0);
    let b = BT + (<usize>j << 2);
    for (let d = 0; d < D; d++) {
      const a0 = v128.load32_splat(A + (<usize>d << 2));
      c0 = f32x4.add(c0, f32x4.mul(a0, v128.load(b)));
      c1 = f32x4.add(c1, f32x4.mul(a0, v128.load(b, 16)));
      b += sb;
    }
    v128.store(out + (<usize>j << 2), c0);
    v128.store(out + (<usize>j << 2), c1, 16);
  }
  if (j < jEnd) {
    let c0 = f32x4.splat(0.0);
    let b = BT + (<usize>j << 2);
    for (let d = 0; d < D; d++) {
      c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(A + (<usize>d << 2)), v128.load(b)));
      b += sb;
    }
    v128.store(out + (<usize>j << 2), c0);
  }
}

// out[r, :D] = sum_{j in [lo, hi)} M[r, j] * Bm[j, :D] for 4 rows r (D a multiple of 4).
function ab4(M: usize, sm: usize, Bm: usize, sbm: usize, out: usize, so: usize, D: i32, lo: i32, hi: i32): void {
  let c = 0;
  for (; c + 8 <= D; c += 8) {
    let c00 = f32x4.splat(0.0), c01 = f32x4.splat(0.0), c10 = f32x4.splat(0.0), c11 = f32x4.splat(0.0);
    let c20 = f32x4.splat(0.0), c21 = f32x4.splat(0.0), c30 = f32x4.splat(0.0), c31 = f32x4.splat(0.0);
    let b = Bm + <usize>lo * sbm + (<usize>c << 2);
    let m = M + (<usize>lo << 2);
    for (let j = lo; j < hi; j++) {
      const b0 = v128.load(b), b1 = v128.load(b, 16);
      const m0 = v128.load32_splat(m), m1 = v128.load32_splat(m + sm);
      const m2 = v128.load32_splat(m + 2 * sm), m3 = v128.load32_splat(m + 3 * sm);
      c00 = f32x4.add(c00, f32x4.mul(m0, b0)); c01 = f32x4.add(c01, f32x4.mul(m0, b1));
      c10 = f32x4.add(c10, f32x4.mul(m1, b0)); c11 = f32x4.add(c11, f32x4.mul(m1, b1));
      c20 = f32x4.add(c20, f32x4.mul(m2, b0)); c21 = f32x4.add(c21, f32x4.mul(m2, b1));
      c30 = f32x4.add(c30, f32x4.mul(m3, b0)); c31 = f32x4.add(c31, f32x4.mul(m3, b1));
      b += sbm;
      m += 4;
    }
    const o = out + (<usize>c << 2);
    v128.store(o, c00); v128.store(o, c01, 16);
    v128.store(o + so, c10); v128.store(o + so, c11, 16);
    v128.store(o + 2 * so, c20); v128.store(o + 2 * so, c21, 16);
    v128.store(o + 3 * so, c30); v128.store(o + 3 * so, c31, 16);
  }
  if (c < D) {
    let c0 = f32x4.splat(0.0), c1 = f32x4.splat(0.0), c2 = f32x4.splat(0.0), c3 = f32x4.splat(0.0);
    let b = Bm + <usize>lo * sbm + (<usize>c << 2);
    let m = M + (<usize>lo << 2);
    for (let j = lo; j < hi; j++) {
      const b0 = v128.load(b);
      c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(m), b0));
      c1 = f32x4.add(c1, f32x4.mul(v128.load32_splat(m + sm), b0));
      c2 = f32x4.add(c2, f32x4.mul(v128.load32_splat(m + 2 * sm), b0));
      c3 = f32x4.add(c3, f32x4.mul(v128.load32_splat(m + 3 * sm), b0));
      b += sbm;
      m += 4;
    }
    const o = out + (<usize>c << 2);
    v128.store(o, c0);
    v128.store(o + so, c1);
    v128.store(o + 2 * so, c2);
    v128.store(o + 3 * so, c3);
  }
}

// One row of ab4.
function ab1(M: usize, Bm: usize, sbm: usize, out: usize, D: i32, lo: i32, hi: i32): void {
  let c = 0;
  for (; c + 8 <= D; c += 8) {
    let c0 = f32x4.splat(0.0), c1 = f32x4.splat(0.0);
    let b = Bm + <usize>lo * sbm + (<usize>c << 2);
    for (let j = lo; j < hi; j++) {
      const m0 = v128.load32_splat(M + (<usize>j << 2));
      c0 = f32x4.add(c0, f32x4.mul(m0, v128.load(b)));
      c1 = f32x4.add(c1, f32x4.mul(m0, v128.load(b, 16)));
      b += sbm;
    }
    v128.store(out + (<usize>c << 2), c0);
    v128.store(out + (<usize>c << 2), c1, 16);
  }
  if (c < D) {
    let c0 = f32x4.splat(0.0);
    let b = Bm + <usize>lo * sbm + (<usize>c << 2);
    for (let j = lo; j < hi; j++) {
      c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(M + (<usize>j << 2)), v128.load(b)));
      b += sbm;
    }
    v128.store(out + (<usize>c << 2), c0);
  }
}

// out = M X for rows [0, R) of M: 4-row blocks, then single rows. The inner
// range is [0, hi) with hi = the last row + 1 when `lower` (M lower
// triangular), [r0, R) when `upper` (M upper triangular), else [0, N).
function product(M: usize, sm: usize, X: usize, sx: usize, out: usize, so: usize, R: i32, N: i32, D: i32,
  lower: bool, upper: bool): void {
  let r = 0;
  for (; r + 4 <= R; r += 4) {
    const lo = upper ? r : 0;
    const hi = lower ? r + 4 : N;
    ab4(M + <usize>r * sm, sm, X, sx, out + <usize>r * so, so, D, lo, hi);
  }
  for (; r < R; r++) {
    const lo = upper ? r : 0;
    const hi = lower ? r + 1 : N;
    ab1(M + <usize>r * sm, X, sx, out + <usize>r * so, D, lo, hi);
  }
}

// ---------------------------------------------------------------------------
// Layout helpers.

// dst[c, r] = src[r, c] for r < rows (zero for rows <= r < rowsPad), c < cols (a multiple of 4).
function transposePad(src: usize, ss: usize, rows: i32, cols: i32, dst: usize, ds: usize, rowsPad: i32): void {
  const rows4 = rows & ~3;
  for (let r = 0; r < rows4; r += 4) {
    for (let c = 0; c < cols; c += 4) {
      const x = src + <usize>r * ss + (<usize>c << 2);
      const a = v128.load(x), b = v128.load(x + ss), e = v128.load(x + 2 * ss), f = v128.load(x + 3 * ss);
      const t0 = v128.shuffle<i32>(a, b, 0, 4, 1, 5);
      const t1 = v128.shuffle<i32>(a, b, 2, 6, 3, 7);
      const t2 = v128.shuffle<i32>(e, f, 0, 4, 1, 5);
      const t3 = v128.shuffle<i32>(e, f, 2, 6, 3, 7);
      const y = dst + <usize>c * ds + (<usize>r << 2);
      v128.store(y, v128.shuffle<i32>(t0, t2, 0, 1, 4, 5));
      v128.store(y + ds, v128.shuffle<i32>(t0, t2, 2, 3, 6, 7));
      v128.store(y + 2 * ds, v128.shuffle<i32>(t1, t3, 0, 1, 4, 5));
      v128.store(y + 3 * ds, v128.shuffle<i32>(t1, t3, 2, 3, 6, 7));
    }
  }
  for (let c = 0; c < cols; c++) {
    const y = dst + <usize>c * ds;
    for (let r = rows4; r < rows; r++) store<f32>(y + (<usize>r << 2), load<f32>(src + <usize>r * ss + (<usize>c << 2)));
    for (let r = rows; r < rowsPad; r++) store<f32>(y + (<usize>r << 2), 0.0);
  }
}

@inline function zeroBytes(p: usize, bytes: usize): void {
  const z = f32x4.splat(0.0);
  for (let i: usize = 0; i < bytes; i += 16) v128.store(p + i, z);
}

// Rows t < T of one head of q or k (src stride ss) to dst [Tp, D] (rows T..Tp zero):
// rotated when rope, times `scale`.
function gatherRows(src: usize, ss: usize, dst: usize, T: i32, Tp: i32, D: i32, scale: f32,
  rope: i32, cos: usize, sin: usize): void {
  const rowBytes = <usize>D << 2;
  const vs = f32x4.splat(scale);
  const half = D >> 1;
  for (let t = 0; t < T; t++) {
    const x = src + <usize>t * ss;
    const y = dst + <usize>t * rowBytes;
    if (!rope) {
      for (let c: usize = 0; c < rowBytes; c += 16) v128.store(y + c, f32x4.mul(v128.load(x + c), vs));
    } else {
      const cr = cos + <usize>t * rowBytes, sr = sin + <usize>t * rowBytes;
      const hb = <usize>half << 2;
      let i = 0;
      if ((half & 3) == 0) {
        for (; i < half; i += 4) {
          const o = <usize>i << 2;
          const x1 = v128.load(x + o), x2 = v128.load(x + o + hb);
          const y1 = f32x4.sub(f32x4.mul(x1, v128.load(cr + o)), f32x4.mul(x2, v128.load(sr + o)));
          const y2 = f32x4.add(f32x4.mul(x2, v128.load(cr + o + hb)), f32x4.mul(x1, v128.load(sr + o + hb)));
          v128.store(y + o, f32x4.mul(y1, vs));
          v128.store(y + o + hb, f32x4.mul(y2, vs));
        }
      }
      for (; i < half; i++) {
        const o = <usize>i << 2;
        const x1 = load<f32>(x + o), x2 = load<f32>(x + o + hb);
        store<f32>(y + o, (x1 * load<f32>(cr + o) - x2 * load<f32>(sr + o)) * scale);
        store<f32>(y + o + hb, (x2 * load<f32>(cr + o + hb) + x1 * load<f32>(sr + o + hb)) * scale);
      }
    }
  }
  zeroBytes(dst + <usize>T * rowBytes, <usize>(Tp - T) * rowBytes);
}

// In place on rows t < T of one head of dq or dk (stride ss): times `scale`, then
// through the transpose of the rotation when rope.
function scatterFix(x: usize, ss: usize, T: i32, D: i32, scale: f32, rope: i32, cos: usize, sin: usize): void {
  const rowBytes = <usize>D << 2;
  const vs = f32x4.splat(scale);
  const half = D >> 1;
  const hb = <usize>half << 2;
  for (let t = 0; t < T; t++) {
    const y = x + <usize>t * ss;
    if (!rope) {
      if (scale != <f32>1.0) for (let c: usize = 0; c < rowBytes; c += 16) v128.store(y + c, f32x4.mul(v128.load(y + c), vs));
      continue;
    }
    const cr = cos + <usize>t * rowBytes, sr = sin + <usize>t * rowBytes;
    let i = 0;
    if ((half & 3) == 0) {
      for (; i < half; i += 4) {
        const o = <usize>i << 2;
        const g1 = f32x4.mul(v128.load(y + o), vs), g2 = f32x4.mul(v128.load(y + o + hb), vs);
        v128.store(y + o, f32x4.add(f32x4.mul(g1, v128.load(cr + o)), f32x4.mul(g2, v128.load(sr + o + hb))));
        v128.store(y + o + hb, f32x4.sub(f32x4.mul(g2, v128.load(cr + o + hb)), f32x4.mul(g1, v128.load(sr + o))));
      }
    }
    for (; i < half; i++) {
      const o = <usize>i << 2;
      const g1 = load<f32>(y + o) * scale, g2 = load<f32>(y + o + hb) * scale;
      store<f32>(y + o, g1 * load<f32>(cr + o) + g2 * load<f32>(sr + o + hb));
      store<f32>(y + o + hb, g2 * load<f32>(cr + o + hb) - g1 * load<f32>(sr + o));
    }
  }
}

// ---------------------------------------------------------------------------
// Softmax over one row and its backward. Lanes j >= jlim are masked out (P = 0).

@inline function laneMask(j: i32, jlim: i32): v128 {
  return i32x4.lt_s(i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3)), i32x4.splat(jlim));
}

function softmaxRow(S: usize, P: usize, jlim: i32, Tp: i32): void {
  const jv = (jlim + 3) & ~3;
  const ninf = f32x4.splat(NEG_INF);
  let vmax = ninf;
  for (let j = 0; j < jv; j += 4) {
    const s = v128.bitselect(v128.load(S + (<usize>j << 2)), ninf, laneMask(j, jlim));
    vmax = f32x4.max(vmax, s);
  }
  vmax = f32x4.max(vmax, v128.shuffle<f32>(vmax, vmax, 2, 3, 0, 1));
  vmax = f32x4.max(vmax, v128.shuffle<f32>(vmax, vmax, 1, 0, 3, 2));
  const zero = f32x4.splat(0.0);
  let vsum = zero;
  for (let j = 0; j < jv; j += 4) {
    const o = <usize>j << 2;
    const e = v128.bitselect(exp4(f32x4.sub(v128.load(S + o), vmax)), zero, laneMask(j, jlim));
    vsum = f32x4.add(vsum, e);
    v128.store(P + o, e);
  }
  const sum = (f32x4.extract_lane(vsum, 0) + f32x4.extract_lane(vsum, 1)) +
    (f32x4.extract_lane(vsum, 2) + f32x4.extract_lane(vsum, 3));
  const inv = f32x4.splat(<f32>1.0 / sum);
  for (let j = 0; j < jv; j += 4) {
    const o = <usize>j << 2;
    v128.store(P + o, f32x4.mul(v128.load(P + o), inv));
  }
  zeroBytes(P + (<usize>jv << 2), <usize>(Tp - jv) << 2);
}

// dS = P * (dP - sum_j P dP), written over dP's row dS; zero for j >= jlim.
function softmaxBackRow(P: usize, dP: usize, dS: usize, jlim: i32, Tp: i32): void {
  const jv = (jlim + 3) & ~3;
  const zero = f32x4.splat(0.0);
  let vdot = zero;
  for (let j = 0; j < jv; j += 4) {
    const o = <usize>j << 2;
    const g = v128.bitselect(v128.load(dP + o), zero, laneMask(j, jlim));
    vdot = f32x4.add(vdot, f32x4.mul(v128.load(P + o), g));
  }
  const dot = (f32x4.extract_lane(vdot, 0) + f32x4.extract_lane(vdot, 1)) +
    (f32x4.extract_lane(vdot, 2) + f32x4.extract_lane(vdot, 3));
  const vd = f32x4.splat(dot);
  for (let j = 0; j < jv; j += 4) {
    const o = <usize>j << 2;
    const g = f32x4.mul(v128.load(P + o), f32x4.sub(v128.load(dP + o), vd));
    v128.store(dS + o, v128.bitselect(g, zero, laneMask(j, jlim)));
  }
  zeroBytes(dS + (<usize>jv << 2), <usize>(Tp - jv) << 2);
}

// ---------------------------------------------------------------------------
// Entry points.

/**
 * z [B, T, H*D] and P [B, H, T, Tp] from qkv [B, T, 3*H*D]. causal: key j <= query i.
 * rope != 0: q and k rotated with cos / sin [>= T, D].
 * scratch: 3 Tp D + 4 Tp floats (attention-op.ts computes it).
 */
export function attn_fwd(qkv: usize, z: usize, P: usize, scratch: usize, B: i32, T: i32, H: i32, D: i32,
  causal: i32, scale: f32, rope: i32, cos: usize, sin: usize): void {
  const Tp = (T + 3) & ~3;
  const d = H * D;
  const sq = <usize>(3 * d) << 2; // qkv row stride
  const sz = <usize>d << 2;
  const sD = <usize>D << 2;
  const sT = <usize>Tp << 2;
  const Qs = scratch;
  const Ks = Qs + <usize>Tp * sD;
  const KT = Ks + <usize>Tp * sD;
  const S = KT + <usize>D * sT;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const q = qkv + <usize>b * T * sq + <usize>h * sD;
      const k = q + sz, v = q + 2 * sz;
      const zo = z + <usize>b * T * sz + <usize>h * sD;
      const Pb = P + (<usize>(b * H + h) * T) * sT;
      gatherRows(q, sq, Qs, T, Tp, D, scale, rope, cos, sin);
      gatherRows(k, sq, Ks, T, Tp, D, 1.0, rope, cos, sin);
      transposePad(Ks, sD, Tp, D, KT, sT, Tp);
      let i = 0;
      for (; i + 4 <= T; i += 4) {
        abT4(Qs + <usize>i * sD, sD, KT, sT, S, sT, D, causal ? i + 4 : Tp);
        for (let r = 0; r < 4; r++) softmaxRow(S + <usize>r * sT, Pb + <usize>(i + r) * sT, causal ? i + r + 1 : T, Tp);
      }
      for (; i < T; i++) {
        abT1(Qs + <usize>i * sD, KT, sT, S, D, causal ? (i + 4) & ~3 : Tp);
        softmaxRow(S, Pb + <usize>i * sT, causal ? i + 1 : T, Tp);
      }
      product(Pb, sT, v, sq, zo, sz, T, T, D, causal != 0, false);
    }
  }
}

/**
 * dqkv [B, T, 3*H*D] from qkv, dz [B, T, H*D] and attn_fwd's P.
 * scratch: 3 Tp D + 2 Tp Tp floats.
 */
export function attn_bwd(qkv: usize, dz: usize, P: usize, dqkv: usize, scratch: usize, B: i32, T: i32, H: i32, D: i32,
  causal: i32, scale: f32, rope: i32, cos: usize, sin: usize): void {
  const Tp = (T + 3) & ~3;
  const d = H * D;
  const sq = <usize>(3 * d) << 2;
  const sz = <usize>d << 2;
  const sD = <usize>D << 2;
  const sT = <usize>Tp << 2;
  const Qs = scratch;
  const Ks = Qs + <usize>Tp * sD;
  const VT = Ks + <usize>Tp * sD;
  const dS = VT + <usize>D * sT;
  const X = dS + <usize>Tp * sT;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const q = qkv + <usize>b * T * sq + <usize>h * sD;
      const k = q + sz, v = q + 2 * sz;
      const dq = dqkv + <usize>b * T * sq + <usize>h * sD;
      const dk = dq + sz, dv = dq + 2 * sz;
      const g = dz + <usize>b * T * sz + <usize>h * sD;
      const Pb = P + (<usize>(b * H + h) * T) * sT;
      gatherRows(q, sq, Qs, T, Tp, D, scale, rope, cos, sin);
      gatherRows(k, sq, Ks, T, Tp, D, 1.0, rope, cos, sin);
      transposePad(v, sq, T, D, VT, sT, Tp);
      // dP = dz V^T row by row into dS, then dS = P * (dP - rowdot).
      let i = 0;
      for (; i + 4 <= T; i += 4) {
        abT4(g + <usize>i * sz, sz, VT, sT, dS + <usize>i * sT, sT, D, causal ? i + 4 : Tp);
        for (let r = 0; r < 4; r++) {
          const row = dS + <usize>(i + r) * sT;
          softmaxBackRow(Pb + <usize>(i + r) * sT, row, row, causal ? i + r + 1 : T, Tp);
        }
      }
      for (; i < T; i++) {
        const row = dS + <usize>i * sT;
        abT1(g + <usize>i * sz, VT, sT, row, D, causal ? (i + 4) & ~3 : Tp);
        softmaxBackRow(Pb + <usize>i * sT, row, row, causal ? i + 1 : T, Tp);
      }
      // dv = P^T dz
      transposePad(Pb, sT, T, Tp, X, sT, Tp);
      product(X, sT, g, sz, dv, sq, T, T, D, false, causal != 0);
      // dq = scale * rope^T(dS K)
      product(dS, sT, Ks, sD, dq, sq, T, T, D, causal != 0, false);
      scatterFix(dq, sq, T, D, scale, rope, cos, sin);
      // dk = rope^T(dS^T (scale * rope(q)))
      transposePad(dS, sT, T, Tp, X, sT, Tp);
      product(X, sT, Qs, sD, dk, sq, T, T, D, false, causal != 0);
      scatterFix(dk, sq, T, D, 1.0, rope, cos, sin);
    }
  }
}
