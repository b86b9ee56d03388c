// LayerNorm and RMSNorm of the SIMD module (re-exported by simd-ops.ts, its entry).
import { hsum64, chunkRecord, zeroRecord } from './simd-math';

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
// dgamma = sum_rows dy * xh; dbeta = sum_rows dy, as chunk records (fields
// dgamma, dbeta; simd-math.ts) that chunk_reduce adds up.
export function layernorm_bwd(x: usize, dy: usize, rows: i32, C: i32, gamma: usize,
  mean: usize, rstd: usize, dx: usize, part: usize, recBytes: i32, chunkRows: i32): void {
  const rowBytes = <usize>C << 2;
  const invC: f64 = 1.0 / <f64>C;
  for (let r = 0; r < rows; r++) {
    const rec = chunkRecord(part, r, chunkRows, recBytes);
    if (r % chunkRows == 0) zeroRecord(rec, 2 * C);
    const dgamma = rec;
    const dbeta = rec + (<usize>C << 2);
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
  }
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
// dgamma = sum_rows dy * xh, as chunk records (one field; simd-math.ts).
export function rmsnorm_bwd(x: usize, dy: usize, rows: i32, C: i32, gamma: usize,
  rstd: usize, dx: usize, part: usize, recBytes: i32, chunkRows: i32): void {
  const rowBytes = <usize>C << 2;
  const invC: f64 = 1.0 / <f64>C;
  for (let r = 0; r < rows; r++) {
    const rec = chunkRecord(part, r, chunkRows, recBytes);
    if (r % chunkRows == 0) zeroRecord(rec, C);
    const dgamma = rec;
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
  }
}
