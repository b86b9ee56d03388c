// DyT and its relatives on CUDA: y = gamma * f(alpha * x + s) + beta over the
// last axis, forward and backward, float32. Same math as the cpu/wasm/WebGPU
// kernels (src/engine/kernels, src/engine/webgpu/wgsl.ts), with CUDA's own
// accurate tanhf / erff / expf (not the fast-math intrinsics: tanh.approx.f32
// has ~5e-4 relative error).
//
// Forward: elementwise, grid-stride, float4 loads/stores when C % 4 == 0.
// Backward, deterministic in two stages (no atomics):
//   1. squash_bwd: block b takes rows [b * rpb, (b + 1) * rpb); thread t the
//      columns t, t + blockDim, ...; it writes dx and, per column, the sums
//      over its rows of dy * f (dgamma), dy (dbeta) and, for per-channel
//      alpha / s, g * x and g (g = dy * gamma * f'(u)); scalar alpha / s sums
//      go through a block reduction. One row of partials per block:
//      [dgamma C][dbeta C][dalpha 1|C][ds 1|C].
//   2. reduce_partials (util.cu) sums the rows of partials in a fixed order.
// alpha and s are scalars ([1]) or per channel ([C]): apc / spc flags.
#include "common.cuh"

enum Shape { TANH = 0, HARDTANH = 1, SIGMOID = 2, SOFTSIGN = 3, ERF = 4, ISRU = 5, IDENTITY = 6 };

// isru and softsign clamp |u| so that u*u cannot overflow.
#define BIG 1.0e18f

template <int S> DYT_DEVICE float sq_f(float u) {
  if constexpr (S == TANH) return tanhf(u);
  else if constexpr (S == HARDTANH) return fminf(fmaxf(u, -1.f), 1.f);
  else if constexpr (S == SIGMOID) return tanhf(0.5f * u);
  else if constexpr (S == SOFTSIGN) { const float uc = fminf(fmaxf(u, -BIG), BIG); return uc / (1.f + fabsf(uc)); }
  else if constexpr (S == ERF) return erff(u);
  else if constexpr (S == ISRU) { const float uc = fminf(fmaxf(u, -BIG), BIG); return uc / sqrtf(1.f + uc * uc); }
  else return u;
}

// f'(u) given f = f(u).
template <int S> DYT_DEVICE float sq_d(float u, float f) {
  if constexpr (S == TANH) return 1.f - f * f;
  else if constexpr (S == HARDTANH) return (u >= -1.f && u <= 1.f) ? 1.f : 0.f;
  else if constexpr (S == SIGMOID) return 0.5f * (1.f - f * f);
  else if constexpr (S == SOFTSIGN) { const float a = 1.f + fabsf(fminf(fmaxf(u, -BIG), BIG)); return 1.f / (a * a); }
  else if constexpr (S == ERF) return 1.1283791670955126f * expf(-u * u);
  else if constexpr (S == ISRU) { const float uc = fminf(fmaxf(u, -BIG), BIG); const float r = 1.f / sqrtf(1.f + uc * uc); return r * r * r; }
  else return 1.f;
}

template <int S, typename T>
DYT_DEVICE void squash_fwd_body(const float* __restrict__ x, float* __restrict__ y, unsigned n, unsigned cv,
    const float* __restrict__ alpha, int apc, const float* __restrict__ s, int spc,
    const float* __restrict__ gamma, const float* __restrict__ beta) {
  using V = Vec<T>;
  const T a0 = splat<T>(__ldg(alpha)), s0 = splat<T>(__ldg(s));
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const unsigned c = i % cv;
    const T a = apc ? V::load(alpha, c) : a0;
    const T u = V::load(x, i) * a + (spc ? V::load(s, c) : s0);
    const T f = apply1(u, [](float v) { return sq_f<S>(v); });
    V::store(y, i, V::load(gamma, c) * f + V::load(beta, c));
  }
}

template <int S, typename T>
DYT_DEVICE void squash_bwd_body(const float* __restrict__ x, const float* __restrict__ dy,
    const float* __restrict__ alpha, int apc, const float* __restrict__ s, int spc, const float* __restrict__ gamma,
    float* __restrict__ dx, float* __restrict__ part, int rows, int cv, int rpb) {
  using V = Vec<T>;
  const int C = cv * V::N;
  const int W = 2 * C + (apc ? C : 1) + (spc ? C : 1);
  const int offA = 2 * C, offS = 2 * C + (apc ? C : 1);
  const int r0 = blockIdx.x * rpb, r1 = min(rows, r0 + rpb);
  float* prow = part + (long long)blockIdx.x * W;
  const T a0 = splat<T>(__ldg(alpha)), s0 = splat<T>(__ldg(s));
  float sumA = 0.f, sumS = 0.f;
  for (int c = threadIdx.x; c < cv; c += blockDim.x) {
    const T g = V::load(gamma, c);
    const T a = apc ? V::load(alpha, c) : a0;
    const T sh = spc ? V::load(s, c) : s0;
    T accG = splat<T>(0.f), accB = splat<T>(0.f), accA = splat<T>(0.f), accS = splat<T>(0.f);
#pragma unroll 4
    for (int r = r0; r < r1; r++) {
      const unsigned i = (unsigned)r * cv + c;
      const T xv = V::load(x, i), d = V::load(dy, i);
      const T u = xv * a + sh;
      const T f = apply1(u, [](float v) { return sq_f<S>(v); });
      const T gr = d * g * apply2(u, f, [](float uu, float ff) { return sq_d<S>(uu, ff); });
      V::store(dx, i, gr * a);
      accG += d * f;
      accB += d;
      if (apc) accA += gr * xv; else sumA += V::sum(gr * xv);
      if (spc) accS += gr; else sumS += V::sum(gr);
    }
    store_partial(prow, c * V::N, accG);
    store_partial(prow, C + c * V::N, accB);
    if (apc) store_partial(prow, offA + c * V::N, accA);
    if (spc) store_partial(prow, offS + c * V::N, accS);
  }
  if (!apc || !spc) {
    const float2 r = block_sum2(make_float2(sumA, sumS));
    if (threadIdx.x == 0) {
      if (!apc) prow[offA] = r.x;
      if (!spc) prow[offS] = r.y;
    }
  }
}

#define SQUASH_FWD_ARGS const float* x, float* y, unsigned n, unsigned cv, const float* alpha, int apc, \
  const float* s, int spc, const float* gamma, const float* beta
#define SQUASH_BWD_ARGS const float* x, const float* dy, const float* alpha, int apc, const float* s, int spc, \
  const float* gamma, float* dx, float* part, int rows, int cv, int rpb

#define SQUASH_KERNELS(S, NAME) \
  extern "C" __global__ void dytlab_squash_fwd_##NAME##_v1(SQUASH_FWD_ARGS) { \
    squash_fwd_body<S, float>(x, y, n, cv, alpha, apc, s, spc, gamma, beta); } \
  extern "C" __global__ void dytlab_squash_fwd_##NAME##_v4(SQUASH_FWD_ARGS) { \
    squash_fwd_body<S, float4>(x, y, n, cv, alpha, apc, s, spc, gamma, beta); } \
  extern "C" __global__ void dytlab_squash_bwd_##NAME##_v1(SQUASH_BWD_ARGS) { \
    squash_bwd_body<S, float>(x, dy, alpha, apc, s, spc, gamma, dx, part, rows, cv, rpb); } \
  extern "C" __global__ void dytlab_squash_bwd_##NAME##_v4(SQUASH_BWD_ARGS) { \
    squash_bwd_body<S, float4>(x, dy, alpha, apc, s, spc, gamma, dx, part, rows, cv, rpb); }

SQUASH_KERNELS(TANH, tanh)
SQUASH_KERNELS(HARDTANH, hardtanh)
SQUASH_KERNELS(SIGMOID, sigmoid)
SQUASH_KERNELS(SOFTSIGN, softsign)
SQUASH_KERNELS(ERF, erf)
SQUASH_KERNELS(ISRU, isru)
SQUASH_KERNELS(IDENTITY, identity)
