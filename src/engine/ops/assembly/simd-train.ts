// Training kernels of the SIMD module: AdamW over a table of parameters,
// cross-entropy fused with log-softmax, and GELU (tanh approximation and
// exact). Same contract as simd-ops.ts: every pointer is a byte offset on
// tfjs-wasm's heap, each function writes only the ranges it is pointed at,
// nothing is owned or allocated here.
import { exp4, erfSeries4, erfcFit4, TWO_OVER_SQRT_PI, vsplat, loadPartial, storePartial, hsum64, zeroF32, zeroF64, flushPartials, storeAcc, BLOCK_ROWS } from './simd-math';

// ---------------------------------------------------------------------------
// AdamW over many tensors in one call. `table` holds `count` entries of 7
// int32: [p, pOut, g, m, v, n, decay]. For every element, in this order and
// in float32 (the composed tfjs path does the same operations, so the results
// agree bit for bit):
//   m = m * b1 + g * omb1
//   v = v * b2 + (g * g) * omb2
//   u = (m / c1) / (sqrt(v / c2) + eps)
//   pOut = p * (decay ? keep : 1) - u * lr
// m and v are updated in place; pOut may be p or a fresh buffer.
// gscale multiplies g first (1 = no scaling; g * 1 is exact).

const ADAMW_ENTRY_INTS: i32 = 7;

@inline function adamw4(vp: v128, vg: v128, pm: usize, pv: usize, off: usize, n: i32,
  b1: v128, omb1: v128, b2: v128, omb2: v128, c1: v128, c2: v128, eps: v128, lr: v128, keep: v128, gs: v128,
  po: usize, partial: bool): void {
  const g = f32x4.mul(vg, gs);
  const m0 = partial ? loadPartial(pm + off, n) : v128.load(pm + off);
  const v0 = partial ? loadPartial(pv + off, n) : v128.load(pv + off);
  const m = f32x4.add(f32x4.mul(m0, b1), f32x4.mul(g, omb1));
  const v = f32x4.add(f32x4.mul(v0, b2), f32x4.mul(f32x4.mul(g, g), omb2));
  const u = f32x4.div(f32x4.div(m, c1), f32x4.add(f32x4.sqrt(f32x4.div(v, c2)), eps));
  const p = f32x4.sub(f32x4.mul(vp, keep), f32x4.mul(u, lr));
  if (partial) {
    storePartial(pm + off, m, n);
    storePartial(pv + off, v, n);
    storePartial(po + off, p, n);
  } else {
    v128.store(pm + off, m);
    v128.store(pv + off, v);
    v128.store(po + off, p);
  }
}

function adamwTensor(p: usize, po: usize, g: usize, pm: usize, pv: usize, n: i32,
  b1: v128, omb1: v128, b2: v128, omb2: v128, c1: v128, c2: v128, eps: v128, lr: v128, keep: v128, gs: v128): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    adamw4(v128.load(p + off), v128.load(g + off), pm, pv, off, 4, b1, omb1, b2, omb2, c1, c2, eps, lr, keep, gs, po, false);
  }
  if (i < n) {
    const off = <usize>i << 2;
    adamw4(loadPartial(p + off, n - i), loadPartial(g + off, n - i), pm, pv, off, n - i,
      b1, omb1, b2, omb2, c1, c2, eps, lr, keep, gs, po, true);
  }
}

export function adamw_multi(table: usize, count: i32, b1: f32, omb1: f32, b2: f32, omb2: f32,
  c1: f32, c2: f32, eps: f32, lr: f32, keep: f32, gscale: f32): void {
  const vb1 = vsplat(b1), vomb1 = vsplat(omb1), vb2 = vsplat(b2), vomb2 = vsplat(omb2);
  const vc1 = vsplat(c1), vc2 = vsplat(c2), veps = vsplat(eps), vlr = vsplat(lr), vkeep = vsplat(keep), one = vsplat(1.0);
  const vgs = vsplat(gscale);
  for (let e = 0; e < count; e++) {
    const row = table + (<usize>e * <usize>ADAMW_ENTRY_INTS << 2);
    const n = load<i32>(row, 20);
    if (n <= 0) continue;
    adamwTensor(<usize>load<u32>(row), <usize>load<u32>(row, 4), <usize>load<u32>(row, 8),
      <usize>load<u32>(row, 12), <usize>load<u32>(row, 16), n,
      vb1, vomb1, vb2, vomb2, vc1, vc2, veps, vlr, load<i32>(row, 24) ? vkeep : one, vgs);
  }
}

// Sum of squares over every tensor of a table of `count` entries of 2 int32
// [x, n], accumulated per tensor in float32 lanes in blocks and in float64
// across blocks and tensors; the total goes to out[0] as float64.
export function sumsq_multi(table: usize, count: i32, out: usize): void {
  let total: f64 = 0.0;
  for (let e = 0; e < count; e++) {
    const row = table + (<usize>e << 3);
    const x = <usize>load<u32>(row);
    const n = load<i32>(row, 4);
    let i = 0;
    while (i + 4 <= n) {
      let acc = vsplat(0.0);
      const end = min(n & ~3, i + 256);
      for (; i < end; i += 4) {
        const v = v128.load(x + (<usize>i << 2));
        acc = f32x4.add(acc, f32x4.mul(v, v));
      }
      total += hsum64(acc);
    }
    for (; i < n; i++) {
      const v = <f64>load<f32>(x + (<usize>i << 2));
      total += v * v;
    }
  }
  store<f64>(out, total);
}

// ---------------------------------------------------------------------------
// Cross-entropy of logits x [rows, V] against int32 targets t [rows]:
//   lse_r = max_r + log(sum_j exp(x_rj - max_r)),   loss = mean_r (lse_r - x_r,t_r)
// A row whose target is outside [0, V) adds 0 (a zero one-hot row, as
// tf.oneHot gives) but counts in the mean. A row holding a non-finite logit
// gives NaN (as the composed log-softmax does).

// log(x) in float64 for x > 0 (x = 2^k m, m in [sqrt(1/2), sqrt(2)), atanh
// series to s^15: relative error < 1e-13). NaN stays NaN, +inf stays +inf.
@inline function logF64(x: f64): f64 {
  if (!(x > 0.0) || x == Infinity) return x > 0.0 ? x : (x == 0.0 ? -Infinity : NaN);
  const bits = reinterpret<u64>(x);
  let k = <i32>((bits >> 52) & 0x7ff) - 1023;
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000);
  if (m > 1.4142135623730951) { m *= 0.5; k++; }
  const s = (m - 1.0) / (m + 1.0);
  const s2 = s * s;
  let p = 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  p = p * s2 + 1.0;
  return 2.0 * s * p + <f64>k * 0.6931471805599453;
}

@inline function expScalar(u: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(u)), 0);
}

function xentRow(xr: usize, V: i32): f64 {
  // max (NaN-propagating) and min, to tell non-finite rows.
  let vmax = f32x4.splat(-Infinity);
  let vmin = f32x4.splat(Infinity);
  let j = 0;
  for (; j + 4 <= V; j += 4) {
    const v = v128.load(xr + (<usize>j << 2));
    vmax = f32x4.max(vmax, v);
    vmin = f32x4.min(vmin, v);
  }
  let mx = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
  let mn = min(min(f32x4.extract_lane(vmin, 0), f32x4.extract_lane(vmin, 1)), min(f32x4.extract_lane(vmin, 2), f32x4.extract_lane(vmin, 3)));
  for (let i = j; i < V; i++) {
    const v = load<f32>(xr + (<usize>i << 2));
    mx = max(mx, v);
    mn = min(mn, v);
  }
  if (!(mx - mn == mx - mn) || mx == Infinity || mn == -Infinity) return NaN;
  const vm = f32x4.splat(mx);
  let acc = f32x4.splat(0.0);
  j = 0;
  for (; j + 8 <= V; j += 8) {
    const off = <usize>j << 2;
    const e0 = exp4(f32x4.sub(v128.load(xr + off), vm));
    const e1 = exp4(f32x4.sub(v128.load(xr + off, 16), vm));
    acc = f32x4.add(acc, f32x4.add(e0, e1));
  }
  for (; j + 4 <= V; j += 4) {
    acc = f32x4.add(acc, exp4(f32x4.sub(v128.load(xr + (<usize>j << 2)), vm)));
  }
  let sum = hsum64(acc);
  for (; j < V; j++) sum += <f64>expScalar(load<f32>(xr + (<usize>j << 2)) - mx);
  return <f64>mx + logF64(sum);
}

/** lse [rows] (float32, saved for the backward pass) and out[0] = mean loss. */
export function xent_fwd(x: usize, t: usize, rows: i32, V: i32, lse: usize, out: usize): void {
  let total: f64 = 0.0;
  const rowBytes = <usize>V << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const l = xentRow(xr, V);
    store<f32>(lse + (<usize>r << 2), <f32>l);
    const tr = load<i32>(t + (<usize>r << 2));
    if (l != l) total += l;
    else if (tr >= 0 && tr < V) total += l - <f64>load<f32>(xr + (<usize>tr << 2));
  }
  store<f32>(out, rows > 0 ? <f32>(total / <f64>rows) : NaN);
}

/** dx = (softmax(x) - onehot(t)) * dy / rows, with dy = dyPtr[0]; zero rows where t is outside [0, V). */
export function xent_bwd(x: usize, t: usize, lse: usize, dyPtr: usize, rows: i32, V: i32, dx: usize): void {
  const scale: f32 = load<f32>(dyPtr) / <f32>rows;
  const vs = f32x4.splat(scale);
  const zero = f32x4.splat(0.0);
  const rowBytes = <usize>V << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dr = dx + <usize>r * rowBytes;
    const tr = load<i32>(t + (<usize>r << 2));
    const valid = tr >= 0 && tr < V;
    const l = load<f32>(lse + (<usize>r << 2));
    const vl = f32x4.splat(l);
    let j = 0;
    if (!valid) {
      for (; j + 4 <= V; j += 4) v128.store(dr + (<usize>j << 2), zero);
      for (; j < V; j++) store<f32>(dr + (<usize>j << 2), 0.0);
      continue;
    }
    for (; j + 8 <= V; j += 8) {
      const off = <usize>j << 2;
      const p0 = exp4(f32x4.sub(v128.load(xr + off), vl));
      const p1 = exp4(f32x4.sub(v128.load(xr + off, 16), vl));
      v128.store(dr + off, f32x4.mul(p0, vs));
      v128.store(dr + off, f32x4.mul(p1, vs), 16);
    }
    for (; j + 4 <= V; j += 4) {
      const off = <usize>j << 2;
      v128.store(dr + off, f32x4.mul(exp4(f32x4.sub(v128.load(xr + off), vl)), vs));
    }
    for (; j < V; j++) {
      const off = <usize>j << 2;
      store<f32>(dr + off, expScalar(load<f32>(xr + off) - l) * scale);
    }
    const offT = <usize>tr << 2;
    store<f32>(dr + offT, (expScalar(load<f32>(xr + offT) - l) - 1.0) * scale);
  }
}

// ---------------------------------------------------------------------------
// GELU over n floats, written to keep relative accuracy in the negative tail
// (where 1 + tanh(u) and 1 + erf(z) cancel):
//   tanh form:  y = 0.5 x (1 + tanh(u)) = x s,  s = sigmoid(2u) = 1 / (1 + e),
//               u = c (x + a x^3), e = exp(-2u), c = sqrt(2/pi), a = 0.044715
//     dy/dx = s + x * 2 s (1 - s) * c (1 + 3 a x^2),  1 - s = e s
//   exact:      y = x Phi(x),  Phi(x) = 0.5 erfc(-x / sqrt 2)
//     dy/dx = Phi(x) + x exp(-x^2 / 2) / sqrt(2 pi)

const GELU_C: f32 = 0.7978845608028654;
const GELU_A: f32 = 0.044715;
const GELU_3A: f32 = 0.134145;
const INV_SQRT2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

const G_TANH: i32 = 0;
const G_EXACT: i32 = 1;

// -2u, with u in the composed op's order: (x + ((x * x) * x) * a) * c.
@inline function minus2u(x: v128): v128 {
  const x3 = f32x4.mul(f32x4.mul(x, x), x);
  return f32x4.mul(f32x4.add(x, f32x4.mul(x3, vsplat(GELU_A))), vsplat(-2.0 * GELU_C));
}

// Phi(x) = 0.5 erfc(-x / sqrt 2). |z| < 0.5: 0.5 + 0.5 erf(z) by its Taylor
// series to z^15; otherwise erfc(|z|) = t exp(-z^2 + P(t)), t = 1 / (1 + |z|/2)
// (Numerical Recipes' erfcc, fractional error < 1.2e-7), and Phi = 0.5 erfc(|z|)
// for z < 0 or 1 - 0.5 erfc(|z|) for z > 0.
@inline function phi4(x: v128): v128 {
  const one = vsplat(1.0);
  const half = vsplat(0.5);
  const z = f32x4.mul(x, vsplat(INV_SQRT2));
  const az = f32x4.pmin(f32x4.abs(z), vsplat(9.0));
  const small = f32x4.add(half, f32x4.mul(f32x4.mul(z, erfSeries4(f32x4.mul(z, z))), vsplat(0.5 * TWO_OVER_SQRT_PI)));
  const hc = f32x4.mul(half, erfcFit4(az)); // 0.5 erfc(|z|)
  const large = v128.bitselect(hc, f32x4.sub(one, hc), f32x4.lt(z, vsplat(0.0)));
  // NaN inputs: |z| < 0.5 is false and z < 0 is false, so 1 - hc(NaN) = NaN.
  return v128.bitselect(small, large, f32x4.lt(f32x4.abs(z), half));
}

@inline function geluF4(kind: i32, x: v128): v128 {
  if (kind == G_TANH) return f32x4.div(x, f32x4.add(vsplat(1.0), exp4(minus2u(x))));
  return f32x4.mul(x, phi4(x));
}

@inline function geluD4(kind: i32, x: v128): v128 {
  const one = vsplat(1.0);
  const x2 = f32x4.mul(x, x);
  if (kind == G_TANH) {
    const e = exp4(minus2u(x));
    const s = f32x4.div(one, f32x4.add(one, e));
    const du = f32x4.mul(vsplat(2.0 * GELU_C), f32x4.add(one, f32x4.mul(x2, vsplat(GELU_3A))));
    // s (1 - s) = e s^2
    return f32x4.add(s, f32x4.mul(f32x4.mul(x, f32x4.mul(e, f32x4.mul(s, s))), du));
  }
  const pdf = f32x4.mul(vsplat(INV_SQRT_2PI), exp4(f32x4.mul(x2, vsplat(-0.5))));
  return f32x4.add(phi4(x), f32x4.mul(x, pdf));
}

@inline function geluFwdKind(kind: i32, x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    const a = geluF4(kind, v128.load(x + off));
    const b = geluF4(kind, v128.load(x + off, 16));
    v128.store(y + off, a);
    v128.store(y + off, b, 16);
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(y + off, geluF4(kind, v128.load(x + off)));
  }
  if (i < n) {
    const off = <usize>i << 2;
    storePartial(y + off, geluF4(kind, loadPartial(x + off, n - i)), n - i);
  }
}

@inline function geluBwdKind(kind: i32, x: usize, dy: usize, dx: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    const a = f32x4.mul(v128.load(dy + off), geluD4(kind, v128.load(x + off)));
    const b = f32x4.mul(v128.load(dy + off, 16), geluD4(kind, v128.load(x + off, 16)));
    v128.store(dx + off, a);
    v128.store(dx + off, b, 16);
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(dx + off, f32x4.mul(v128.load(dy + off), geluD4(kind, v128.load(x + off))));
  }
  if (i < n) {
    const off = <usize>i << 2;
    storePartial(dx + off, f32x4.mul(loadPartial(dy + off, n - i), geluD4(kind, loadPartial(x + off, n - i))), n - i);
  }
}

export function gelu_fwd(x: usize, y: usize, n: i32): void {
  geluFwdKind(G_TANH, x, y, n);
}

export function gelu_bwd(x: usize, dy: usize, dx: usize, n: i32): void {
  geluBwdKind(G_TANH, x, dy, dx, n);
}

export function gelu_exact_fwd(x: usize, y: usize, n: i32): void {
  geluFwdKind(G_EXACT, x, y, n);
}

export function gelu_exact_bwd(x: usize, dy: usize, dx: usize, n: i32): void {
  geluBwdKind(G_EXACT, x, dy, dx, n);
}

// ---------------------------------------------------------------------------
// Bias + GELU over rows: y[r, c] = gelu(x[r, c] + bias[c]) (x [rows, C], the
// product of a Linear without its bias). Backward: with u = x + bias
// recomputed, dx = dy * gelu'(u) and dbias[c] = sum_r dx[r, c], summed in
// float32 for BLOCK_ROWS rows into the dbias output, then into float64
// scratch (C f64), in a fixed order.

@inline function biasGeluFwdKind(kind: i32, x: usize, bias: usize, y: usize, rows: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    let c = 0;
    for (; c + 8 <= C; c += 8) {
      const off = <usize>c << 2;
      const a = geluF4(kind, f32x4.add(v128.load(xr + off), v128.load(bias + off)));
      const b = geluF4(kind, f32x4.add(v128.load(xr + off, 16), v128.load(bias + off, 16)));
      v128.store(yr + off, a);
      v128.store(yr + off, b, 16);
    }
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      v128.store(yr + off, geluF4(kind, f32x4.add(v128.load(xr + off), v128.load(bias + off))));
    }
    if (c < C) {
      const off = <usize>c << 2;
      const n = C - c;
      storePartial(yr + off, geluF4(kind, f32x4.add(loadPartial(xr + off, n), loadPartial(bias + off, n))), n);
    }
  }
}

@inline function biasGeluBwdKind(kind: i32, x: usize, bias: usize, dy: usize, dx: usize, dbias: usize,
  rows: i32, C: i32, scratch: usize): void {
  const rowBytes = <usize>C << 2;
  zeroF64(scratch, C);
  zeroF32(dbias, C);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dyr = dy + <usize>r * rowBytes;
    const dxr = dx + <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      const g = f32x4.mul(v128.load(dyr + off), geluD4(kind, f32x4.add(v128.load(xr + off), v128.load(bias + off))));
      v128.store(dxr + off, g);
      v128.store(dbias + off, f32x4.add(v128.load(dbias + off), g));
    }
    if (c < C) {
      const off = <usize>c << 2;
      const n = C - c;
      const g = f32x4.mul(loadPartial(dyr + off, n), geluD4(kind, f32x4.add(loadPartial(xr + off, n), loadPartial(bias + off, n))));
      storePartial(dxr + off, g, n);
      storePartial(dbias + off, f32x4.add(loadPartial(dbias + off, n), g), n);
    }
    if ((r + 1) % BLOCK_ROWS == 0 || r == rows - 1) flushPartials(dbias, scratch, C);
  }
  storeAcc(scratch, dbias, C);
}

export function bias_gelu_fwd(x: usize, bias: usize, y: usize, rows: i32, C: i32): void {
  biasGeluFwdKind(G_TANH, x, bias, y, rows, C);
}

export function bias_gelu_exact_fwd(x: usize, bias: usize, y: usize, rows: i32, C: i32): void {
  biasGeluFwdKind(G_EXACT, x, bias, y, rows, C);
}

/** scratch: C float64. */
export function bias_gelu_bwd(x: usize, bias: usize, dy: usize, dx: usize, dbias: usize, rows: i32, C: i32, scratch: usize): void {
  biasGeluBwdKind(G_TANH, x, bias, dy, dx, dbias, rows, C, scratch);
}

/** scratch: C float64. */
export function bias_gelu_exact_bwd(x: usize, bias: usize, dy: usize, dx: usize, dbias: usize, rows: i32, C: i32, scratch: usize): void {
  biasGeluBwdKind(G_EXACT, x, bias, dy, dx, dbias, rows, C, scratch);
}
