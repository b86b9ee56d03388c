// WGSL sources of the fused normalization kernels for the webgpu backend,
// generated per variant (squash shape, per-channel alpha / shift, channel
// count, vector width, workgroup size), so every loop bound is a constant and
// every declared binding is used (pipelines use layout 'auto').
//
// Same math as the cpu/wasm kernels (js-ops.ts, assembly/simd-ops.ts):
// tanh is Eigen's rational ptanh_float (WGSL's builtin tanh is only as
// accurate as sinh/cosh: it loses relative accuracy near 0 and overflows on
// some drivers), erf is the Maclaurin series below 0.5 and Numerical Recipes'
// erfc fit above.
//
// Kernel families:
// - squash forward: elementwise, grid-stride, vec4 when C % 4 == 0;
// - LayerNorm / RMSNorm forward: one workgroup per row (rows strided over the
//   grid), the row held in registers, workgroup tree reductions, statistics
//   computed two-pass from the registers;
// - backward: a block of rows per workgroup writing dx and one row of
//   per-channel partial sums per workgroup (plus the scalar sums for a scalar
//   alpha / s), then a second kernel sums the partials over workgroups in a
//   fixed order: deterministic, no atomics.
import type { SquashShape } from '../ops/types.js';

/** Geometry shared by a kernel's variants. */
export interface RowGeometry {
  /** Channels (last axis) in floats. */
  C: number;
  /** Vector width: 4 when C % 4 == 0 (buffers are read as vec4<f32>), else 1. */
  vw: 1 | 4;
  /** Threads per workgroup (a power of two). */
  wg: number;
}

/** Picks the vector width and a workgroup size for rows of C channels. */
export function rowGeometry(C: number, maxWorkgroup: number): RowGeometry {
  const vw = C % 4 === 0 ? 4 : 1;
  const cols = C / vw;
  let wg = 32;
  // About 4 vectors per thread; at least 32 threads, at most 256 (and the device's limit).
  while (wg < 256 && wg * 4 < cols) wg *= 2;
  while (wg > maxWorkgroup) wg /= 2;
  return { C, vw, wg };
}

const cols = (g: RowGeometry): number => g.C / g.vw;
const perThread = (g: RowGeometry): number => Math.max(1, Math.ceil(cols(g) / g.wg));

function f32(v: number): string {
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function prelude(g: RowGeometry): string {
  const vec = g.vw === 4;
  return `alias V = ${vec ? 'vec4<f32>' : 'f32'};
struct Params { rows: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
const WG: u32 = ${g.wg}u;
const COLS: u32 = ${cols(g)}u;
const K: u32 = ${perThread(g)}u;
const CF: f32 = ${f32(g.C)};
fn hsum(v: V) -> f32 { return ${vec ? 'v.x + v.y + v.z + v.w' : 'v'}; }
`;
}

/**
 * Tree reduction over the workgroup (every thread must call it: barriers).
 * Two halves of the shared array, alternated by the caller (`half`): on
 * Mesa's llvmpipe a thread's read of the result can land after the next
 * call's first writes (measured: LayerNorm's variance used a partial sum of
 * the next reduction), so consecutive calls must not share slots.
 */
function reductions(): string {
  return `var<workgroup> red: array<vec2<f32>, 2u * WG>;
fn wg_sum2(v: vec2<f32>, t: u32, half: u32) -> vec2<f32> {
  let o = half * WG;
  red[o + t] = v;
  workgroupBarrier();
  for (var h: u32 = WG / 2u; h > 0u; h = h >> 1u) {
    if (t < h) { red[o + t] = red[o + t] + red[o + t + h]; }
    workgroupBarrier();
  }
  let r = red[o];
  workgroupBarrier();
  return r;
}
`;
}

/** f(u) and f'(u) of one squash shape, over V. */
export function squashFunctions(shape: SquashShape): string {
  const tanh = `const T_CLAMP: f32 = 7.90531110763549805;
const T_TINY: f32 = 0.0004;
fn tanh_r(x: V) -> V {
  let xc = clamp(x, V(-T_CLAMP), V(T_CLAMP));
  let x2 = xc * xc;
  var p = x2 * -2.76076847742355e-16 + 2.00018790482477e-13;
  p = x2 * p + -8.60467152213735e-11;
  p = x2 * p + 5.12229709037114e-8;
  p = x2 * p + 1.48572235717979e-5;
  p = x2 * p + 6.37261928875436e-4;
  p = x2 * p + 4.89352455891786e-3;
  p = xc * p;
  var q = x2 * 1.19825839466702e-6 + 1.18534705686654e-4;
  q = x2 * q + 2.268434632439e-3;
  q = x2 * q + 4.89352518554385e-3;
  let r = clamp(p / q, V(-1.0), V(1.0));
  // Near 0 return x itself: keeps relative accuracy for tiny inputs.
  return select(r, x, abs(x) < V(T_TINY));
}
`;
  const erf = `fn erf_r(u: V) -> V {
  let z = min(abs(u), V(6.0));
  let u2 = u * u;
  var s = u2 * (-1.0 / 75600.0) + (1.0 / 9360.0);
  s = u2 * s + (-1.0 / 1320.0);
  s = u2 * s + (1.0 / 216.0);
  s = u2 * s + (-1.0 / 42.0);
  s = u2 * s + (1.0 / 10.0);
  s = u2 * s + (-1.0 / 3.0);
  s = u2 * s + 1.0;
  let small = u * s * 1.12837916709551257;
  let t = 1.0 / (z * 0.5 + 1.0);
  var p = t * 0.17087277 + -0.82215223;
  p = t * p + 1.48851587;
  p = t * p + -1.13520398;
  p = t * p + 0.27886807;
  p = t * p + -0.18628806;
  p = t * p + 0.09678418;
  p = t * p + 0.37409196;
  p = t * p + 1.00002368;
  p = t * p + -1.26551223;
  let erfc = t * exp(p - z * z);
  let large = select(V(1.0) - erfc, erfc - 1.0, u < V(0.0));
  return select(large, small, abs(u) < V(0.5));
}
`;
  // isru and softsign clamp |u| so that u*u cannot overflow.
  switch (shape) {
    case 'tanh':
      return `${tanh}fn sq_f(u: V) -> V { return tanh_r(u); }
fn sq_d(u: V, f: V) -> V { return 1.0 - f * f; }
`;
    case 'sigmoid':
      return `${tanh}fn sq_f(u: V) -> V { return tanh_r(u * 0.5); }
fn sq_d(u: V, f: V) -> V { return 0.5 * (1.0 - f * f); }
`;
    case 'hardtanh':
      return `fn sq_f(u: V) -> V { return clamp(u, V(-1.0), V(1.0)); }
fn sq_d(u: V, f: V) -> V { return select(V(0.0), V(1.0), (u >= V(-1.0)) & (u <= V(1.0))); }
`;
    case 'softsign':
      return `fn sq_f(u: V) -> V { let uc = clamp(u, V(-1e18), V(1e18)); return uc / (abs(uc) + 1.0); }
fn sq_d(u: V, f: V) -> V { let a = abs(clamp(u, V(-1e18), V(1e18))) + 1.0; return 1.0 / (a * a); }
`;
    case 'erf':
      return `${erf}fn sq_f(u: V) -> V { return erf_r(u); }
fn sq_d(u: V, f: V) -> V { return 1.12837916709551257 * exp(-(u * u)); }
`;
    case 'isru':
      return `fn sq_f(u: V) -> V { let uc = clamp(u, V(-1e18), V(1e18)); return uc * inverseSqrt(uc * uc + 1.0); }
fn sq_d(u: V, f: V) -> V { let uc = clamp(u, V(-1e18), V(1e18)); let r = inverseSqrt(uc * uc + 1.0); return r * r * r; }
`;
    case 'identity':
      return `fn sq_f(u: V) -> V { return u; }
fn sq_d(u: V, f: V) -> V { return V(1.0); }
`;
  }
}

const storage = (binding: number, name: string, type: string, write = false): string =>
  `@group(0) @binding(${binding}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<${type}>;\n`;

/** alpha / s: per-channel vectors are read as V, scalars broadcast. */
function param(name: string, perChannel: boolean): { type: string; at: string } {
  return perChannel ? { type: 'V', at: `${name}[c]` } : { type: 'f32', at: `V(${name}[0])` };
}

/** Writes a V of partial sums into the f32 partials buffer at float index i. */
function writePartial(g: RowGeometry, target: string, i: string, v: string): string {
  return g.vw === 4
    ? `{ let w = ${v}; ${target}[${i}] = w.x; ${target}[${i} + 1u] = w.y; ${target}[${i} + 2u] = w.z; ${target}[${i} + 3u] = w.w; }`
    : `${target}[${i}] = ${v};`;
}

export interface SquashVariant { shape: SquashShape; alphaPerChannel: boolean; shiftPerChannel: boolean }

/** Bindings: 0 params, 1 x, 2 alpha, 3 s, 4 gamma, 5 beta, 6 y. Dispatch: any number of workgroups (grid-stride). */
export function squashForwardWgsl(g: RowGeometry, v: SquashVariant): string {
  const a = param('alpha', v.alphaPerChannel), s = param('shift', v.shiftPerChannel);
  return `${prelude(g)}${squashFunctions(v.shape)}${storage(1, 'x', 'V')}${storage(2, 'alpha', a.type)}${storage(3, 'shift', s.type)}${storage(4, 'gamma', 'V')}${storage(5, 'beta', 'V')}${storage(6, 'y', 'V', true)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P.rows * COLS;
  let stride = nwg.x * WG;
  for (var i = gid.x; i < n; i = i + stride) {
    let c = i % COLS;
    y[i] = gamma[c] * sq_f(${a.at} * x[i] + ${s.at}) + beta[c];
  }
}
`;
}

/** Width in floats of one workgroup's row of squash partials: [dgamma C][dbeta C][dalpha 1|C][ds 1|C]. */
export function squashPartialWidth(C: number, v: SquashVariant): number {
  return 2 * C + (v.alphaPerChannel ? C : 1) + (v.shiftPerChannel ? C : 1);
}

/** Bindings: 0 params, 1 x, 2 dy, 3 alpha, 4 s, 5 gamma, 6 dx, 7 partials. */
export function squashBackwardWgsl(g: RowGeometry, v: SquashVariant): string {
  const a = param('alpha', v.alphaPerChannel), s = param('shift', v.shiftPerChannel);
  const C = g.C, W = squashPartialWidth(C, v);
  const offA = 2 * C, offS = 2 * C + (v.alphaPerChannel ? C : 1);
  return `${prelude(g)}${reductions()}${squashFunctions(v.shape)}${storage(1, 'x', 'V')}${storage(2, 'dy', 'V')}${storage(3, 'alpha', a.type)}${storage(4, 'shift', s.type)}${storage(5, 'gamma', 'V')}${storage(6, 'dx', 'V', true)}${storage(7, 'part', 'f32', true)}
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lid.x;
  var accG: array<V, K>;
  var accB: array<V, K>;
  ${v.alphaPerChannel ? 'var accA: array<V, K>;' : 'var sumA = 0.0;'}
  ${v.shiftPerChannel ? 'var accS: array<V, K>;' : 'var sumS = 0.0;'}
  for (var row = wid.x; row < P.rows; row = row + nwg.x) {
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) {
        let i = row * COLS + c;
        let xv = x[i];
        let d = dy[i];
        let a = ${a.at};
        let u = a * xv + ${s.at};
        let f = sq_f(u);
        let gr = d * gamma[c] * sq_d(u, f);
        dx[i] = gr * a;
        accG[k] = accG[k] + d * f;
        accB[k] = accB[k] + d;
        ${v.alphaPerChannel ? 'accA[k] = accA[k] + gr * xv;' : 'sumA = sumA + hsum(gr * xv);'}
        ${v.shiftPerChannel ? 'accS[k] = accS[k] + gr;' : 'sumS = sumS + hsum(gr);'}
      }
    }
  }
  let base = wid.x * ${W}u;
  for (var k = 0u; k < K; k = k + 1u) {
    let c = t + k * WG;
    if (c < COLS) {
      let o = base + c * ${g.vw}u;
      ${writePartial(g, 'part', 'o', 'accG[k]')}
      ${writePartial(g, 'part', `o + ${C}u`, 'accB[k]')}
      ${v.alphaPerChannel ? writePartial(g, 'part', `o + ${offA}u`, 'accA[k]') : ''}
      ${v.shiftPerChannel ? writePartial(g, 'part', `o + ${offS}u`, 'accS[k]') : ''}
    }
  }
  ${v.alphaPerChannel && v.shiftPerChannel ? '' : `let r = wg_sum2(vec2<f32>(${v.alphaPerChannel ? '0.0' : 'sumA'}, ${v.shiftPerChannel ? '0.0' : 'sumS'}), t, 0u);
  if (t == 0u) {
    ${v.alphaPerChannel ? '' : `part[base + ${offA}u] = r.x;`}
    ${v.shiftPerChannel ? '' : `part[base + ${offS}u] = r.y;`}
  }`}
}
`;
}

/**
 * Sums partials [G, W] over G (P.rows = G) into consecutive output segments
 * of the given lengths (sum of lengths = W). Bindings: 0 params, 1 partials,
 * 2.. one output per segment. Kahan summation in a fixed order.
 */
export function reducePartialsWgsl(segments: readonly number[], wg = 64): string {
  const W = segments.reduce((a, b) => a + b, 0);
  const outs = segments.map((_, i) => storage(2 + i, `out${i}`, 'f32', true)).join('');
  let branches = '';
  let off = 0;
  segments.forEach((len, i) => {
    const cond = i === segments.length - 1 ? '' : `if (j < ${off + len}u) `;
    branches += `${i === 0 ? '' : ' else '}${cond}{ out${i}[j - ${off}u] = acc; }`;
    off += len;
  });
  return `struct Params { rows: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
const WG: u32 = ${wg}u;
${storage(1, 'part', 'f32')}${outs}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var j = gid.x; j < ${W}u; j = j + nwg.x * WG) {
    var acc = 0.0;
    var comp = 0.0;
    for (var g = 0u; g < P.rows; g = g + 1u) {
      let yv = part[g * ${W}u + j] - comp;
      let tv = acc + yv;
      comp = (tv - acc) - yv;
      acc = tv;
    }
    ${branches}
  }
}
`;
}

/** Bindings: 0 params, 1 x, 2 gamma, 3 beta, 4 y, 5 mean, 6 rstd. One workgroup per row. */
export function layerNormForwardWgsl(g: RowGeometry): string {
  return `${prelude(g)}${reductions()}${storage(1, 'x', 'V')}${storage(2, 'gamma', 'V')}${storage(3, 'beta', 'V')}${storage(4, 'y', 'V', true)}${storage(5, 'meanOut', 'f32', true)}${storage(6, 'rstdOut', 'f32', true)}
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lid.x;
  for (var row = wid.x; row < P.rows; row = row + nwg.x) {
    var xs: array<V, K>;
    var s = 0.0;
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) { xs[k] = x[row * COLS + c]; s = s + hsum(xs[k]); }
    }
    let mean = wg_sum2(vec2<f32>(s, 0.0), t, 0u).x / CF;
    var q = 0.0;
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) { let d = xs[k] - mean; q = q + hsum(d * d); }
    }
    let rstd = inverseSqrt(wg_sum2(vec2<f32>(q, 0.0), t, 1u).x / CF + P.eps);
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) { y[row * COLS + c] = (xs[k] - mean) * rstd * gamma[c] + beta[c]; }
    }
    if (t == 0u) { meanOut[row] = mean; rstdOut[row] = rstd; }
  }
}
`;
}

/** Bindings: 0 params, 1 x, 2 dy, 3 gamma, 4 mean, 5 rstd, 6 dx, 7 partials [G, 2C] (dgamma, dbeta). */
export function layerNormBackwardWgsl(g: RowGeometry): string {
  const C = g.C;
  return `${prelude(g)}${reductions()}${storage(1, 'x', 'V')}${storage(2, 'dy', 'V')}${storage(3, 'gamma', 'V')}${storage(4, 'meanIn', 'f32')}${storage(5, 'rstdIn', 'f32')}${storage(6, 'dx', 'V', true)}${storage(7, 'part', 'f32', true)}
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lid.x;
  var accG: array<V, K>;
  var accB: array<V, K>;
  var parity = 0u;
  for (var row = wid.x; row < P.rows; row = row + nwg.x) {
    let m = meanIn[row];
    let rs = rstdIn[row];
    var xh: array<V, K>;
    var dxh: array<V, K>;
    var s1 = 0.0;
    var s2 = 0.0;
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) {
        let i = row * COLS + c;
        let d = dy[i];
        xh[k] = (x[i] - m) * rs;
        dxh[k] = d * gamma[c];
        s1 = s1 + hsum(dxh[k]);
        s2 = s2 + hsum(dxh[k] * xh[k]);
        accG[k] = accG[k] + d * xh[k];
        accB[k] = accB[k] + d;
      }
    }
    let r = wg_sum2(vec2<f32>(s1, s2), t, parity) / CF;
    parity = 1u - parity;
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) { dx[row * COLS + c] = rs * (dxh[k] - r.x - xh[k] * r.y); }
    }
  }
  let base = wid.x * ${2 * C}u;
  for (var k = 0u; k < K; k = k + 1u) {
    let c = t + k * WG;
    if (c < COLS) {
      let o = base + c * ${g.vw}u;
      ${writePartial(g, 'part', 'o', 'accG[k]')}
      ${writePartial(g, 'part', `o + ${C}u`, 'accB[k]')}
    }
  }
}
`;
}

/** Bindings: 0 params, 1 x, 2 gamma, 3 y, 4 rstd. One workgroup per row. */
export function rmsNormForwardWgsl(g: RowGeometry): string {
  return `${prelude(g)}${reductions()}${storage(1, 'x', 'V')}${storage(2, 'gamma', 'V')}${storage(3, 'y', 'V', true)}${storage(4, 'rstdOut', 'f32', true)}
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lid.x;
  var parity = 0u;
  for (var row = wid.x; row < P.rows; row = row + nwg.x) {
    var xs: array<V, K>;
    var q = 0.0;
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) { xs[k] = x[row * COLS + c]; q = q + hsum(xs[k] * xs[k]); }
    }
    let rstd = inverseSqrt(wg_sum2(vec2<f32>(q, 0.0), t, parity).x / CF + P.eps);
    parity = 1u - parity;
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) { y[row * COLS + c] = xs[k] * rstd * gamma[c]; }
    }
    if (t == 0u) { rstdOut[row] = rstd; }
  }
}
`;
}

/** Bindings: 0 params, 1 x, 2 dy, 3 gamma, 4 rstd, 5 dx, 6 partials [G, C] (dgamma). */
export function rmsNormBackwardWgsl(g: RowGeometry): string {
  return `${prelude(g)}${reductions()}${storage(1, 'x', 'V')}${storage(2, 'dy', 'V')}${storage(3, 'gamma', 'V')}${storage(4, 'rstdIn', 'f32')}${storage(5, 'dx', 'V', true)}${storage(6, 'part', 'f32', true)}
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lid.x;
  var accG: array<V, K>;
  var parity = 0u;
  for (var row = wid.x; row < P.rows; row = row + nwg.x) {
    let rs = rstdIn[row];
    var xh: array<V, K>;
    var dxh: array<V, K>;
    var s2 = 0.0;
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) {
        let i = row * COLS + c;
        let d = dy[i];
        xh[k] = x[i] * rs;
        dxh[k] = d * gamma[c];
        s2 = s2 + hsum(dxh[k] * xh[k]);
        accG[k] = accG[k] + d * xh[k];
      }
    }
    let m2 = wg_sum2(vec2<f32>(s2, 0.0), t, parity).x / CF;
    parity = 1u - parity;
    for (var k = 0u; k < K; k = k + 1u) {
      let c = t + k * WG;
      if (c < COLS) { dx[row * COLS + c] = rs * (dxh[k] - xh[k] * m2); }
    }
  }
  let base = wid.x * ${g.C}u;
  for (var k = 0u; k < K; k = k + 1u) {
    let c = t + k * WG;
    if (c < COLS) {
      let o = base + c * ${g.vw}u;
      ${writePartial(g, 'part', 'o', 'accG[k]')}
    }
  }
}
`;
}
