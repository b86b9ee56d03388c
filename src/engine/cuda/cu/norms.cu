// LayerNorm and RMSNorm on CUDA over the last axis, forward and backward,
// float32. Same math as the cpu/wasm/WebGPU kernels.
//
// Forward: one block per row (rows strided over the grid); the row sits in
// registers (VPT vectors per thread, float4 when C % 4 == 0), so x is read
// once; the statistics come from warp-shuffle + shared-memory block sums,
// two-pass (mean, then the centred sum of squares) from the registers.
// Backward, deterministic in two stages like squash.cu: block b walks rows
// [b * rpb, (b + 1) * rpb) one at a time (row in registers, one block sum per
// row for the dx formula) and keeps per-column dgamma / dbeta sums in
// registers; it writes one row of partials ([dgamma C][dbeta C] or
// [dgamma C]); reduce_partials (util.cu) sums them in a fixed order.
#include "common.cuh"

template <typename T, int VPT>
DYT_DEVICE void layernorm_fwd_body(const float* __restrict__ x, const float* __restrict__ gamma,
    const float* __restrict__ beta, float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd,
    int rows, int cv, float eps) {
  using V = Vec<T>;
  const float Cf = (float)(cv * V::N);
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    const unsigned base = (unsigned)row * cv;
    T v[VPT];
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      v[k] = c < cv ? V::load(x, base + c) : splat<T>(0.f);
      s += V::sum(v[k]);
    }
    const float mu = block_sum2(make_float2(s, 0.f)).x / Cf;
    float q = 0.f;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      if (c < cv) { const T d = v[k] - mu; q += V::sum(d * d); }
    }
    const float rs = 1.f / sqrtf(block_sum2(make_float2(q, 0.f)).x / Cf + eps);
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      if (c < cv) V::store(y, base + c, (v[k] - mu) * rs * V::load(gamma, c) + V::load(beta, c));
    }
    if (threadIdx.x == 0) { mean[row] = mu; rstd[row] = rs; }
  }
}

template <typename T, int VPT>
DYT_DEVICE void layernorm_bwd_body(const float* __restrict__ x, const float* __restrict__ dy,
    const float* __restrict__ gamma, const float* __restrict__ mean, const float* __restrict__ rstd,
    float* __restrict__ dx, float* __restrict__ part, int rows, int cv, int rpb) {
  using V = Vec<T>;
  const int C = cv * V::N;
  const float Cf = (float)C;
  const int r0 = blockIdx.x * rpb, r1 = min(rows, r0 + rpb);
  T gm[VPT], accG[VPT], accB[VPT];
#pragma unroll
  for (int k = 0; k < VPT; k++) {
    const int c = threadIdx.x + k * blockDim.x;
    gm[k] = c < cv ? V::load(gamma, c) : splat<T>(0.f);
    accG[k] = splat<T>(0.f);
    accB[k] = splat<T>(0.f);
  }
  for (int row = r0; row < r1; row++) {
    const unsigned base = (unsigned)row * cv;
    const float m = __ldg(mean + row), rs = __ldg(rstd + row);
    T xh[VPT], dxh[VPT];
    float s1 = 0.f, s2 = 0.f;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      if (c < cv) {
        const T d = V::load(dy, base + c);
        xh[k] = (V::load(x, base + c) - m) * rs;
        dxh[k] = d * gm[k];
        s1 += V::sum(dxh[k]);
        s2 += V::sum(dxh[k] * xh[k]);
        accG[k] += d * xh[k];
        accB[k] += d;
      }
    }
    const float2 r = block_sum2(make_float2(s1, s2));
    const float m1 = r.x / Cf, m2 = r.y / Cf;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      if (c < cv) V::store(dx, base + c, (dxh[k] - m1 - xh[k] * m2) * rs);
    }
  }
  float* prow = part + (long long)blockIdx.x * 2 * C;
#pragma unroll
  for (int k = 0; k < VPT; k++) {
    const int c = threadIdx.x + k * blockDim.x;
    if (c < cv) { store_partial(prow, c * V::N, accG[k]); store_partial(prow, C + c * V::N, accB[k]); }
  }
}

template <typename T, int VPT>
DYT_DEVICE void rmsnorm_fwd_body(const float* __restrict__ x, const float* __restrict__ gamma,
    float* __restrict__ y, float* __restrict__ rstd, int rows, int cv, float eps) {
  using V = Vec<T>;
  const float Cf = (float)(cv * V::N);
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    const unsigned base = (unsigned)row * cv;
    T v[VPT];
    float q = 0.f;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      v[k] = c < cv ? V::load(x, base + c) : splat<T>(0.f);
      q += V::sum(v[k] * v[k]);
    }
    const float rs = 1.f / sqrtf(block_sum2(make_float2(q, 0.f)).x / Cf + eps);
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      if (c < cv) V::store(y, base + c, v[k] * rs * V::load(gamma, c));
    }
    if (threadIdx.x == 0) rstd[row] = rs;
  }
}

template <typename T, int VPT>
DYT_DEVICE void rmsnorm_bwd_body(const float* __restrict__ x, const float* __restrict__ dy,
    const float* __restrict__ gamma, const float* __restrict__ rstd, float* __restrict__ dx,
    float* __restrict__ part, int rows, int cv, int rpb) {
  using V = Vec<T>;
  const int C = cv * V::N;
  const float Cf = (float)C;
  const int r0 = blockIdx.x * rpb, r1 = min(rows, r0 + rpb);
  T gm[VPT], accG[VPT];
#pragma unroll
  for (int k = 0; k < VPT; k++) {
    const int c = threadIdx.x + k * blockDim.x;
    gm[k] = c < cv ? V::load(gamma, c) : splat<T>(0.f);
    accG[k] = splat<T>(0.f);
  }
  for (int row = r0; row < r1; row++) {
    const unsigned base = (unsigned)row * cv;
    const float rs = __ldg(rstd + row);
    T xh[VPT], dxh[VPT];
    float s2 = 0.f;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      if (c < cv) {
        const T d = V::load(dy, base + c);
        xh[k] = V::load(x, base + c) * rs;
        dxh[k] = d * gm[k];
        s2 += V::sum(dxh[k] * xh[k]);
        accG[k] += d * xh[k];
      }
    }
    const float m2 = block_sum2(make_float2(s2, 0.f)).x / Cf;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
      const int c = threadIdx.x + k * blockDim.x;
      if (c < cv) V::store(dx, base + c, (dxh[k] - xh[k] * m2) * rs);
    }
  }
  float* prow = part + (long long)blockIdx.x * C;
#pragma unroll
  for (int k = 0; k < VPT; k++) {
    const int c = threadIdx.x + k * blockDim.x;
    if (c < cv) store_partial(prow, c * V::N, accG[k]);
  }
}

#define LN_FWD_ARGS const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, \
  int rows, int cv, float eps
#define LN_BWD_ARGS const float* x, const float* dy, const float* gamma, const float* mean, const float* rstd, \
  float* dx, float* part, int rows, int cv, int rpb
#define RMS_FWD_ARGS const float* x, const float* gamma, float* y, float* rstd, int rows, int cv, float eps
#define RMS_BWD_ARGS const float* x, const float* dy, const float* gamma, const float* rstd, float* dx, \
  float* part, int rows, int cv, int rpb

// Kernel names: dytlab_<op>_<fwd|bwd>_v<1|4>_p<VPT>.
#define NORM_KERNELS(VN, T, P) \
  extern "C" __global__ void dytlab_layernorm_fwd_v##VN##_p##P(LN_FWD_ARGS) { \
    layernorm_fwd_body<T, P>(x, gamma, beta, y, mean, rstd, rows, cv, eps); } \
  extern "C" __global__ void dytlab_layernorm_bwd_v##VN##_p##P(LN_BWD_ARGS) { \
    layernorm_bwd_body<T, P>(x, dy, gamma, mean, rstd, dx, part, rows, cv, rpb); } \
  extern "C" __global__ void dytlab_rmsnorm_fwd_v##VN##_p##P(RMS_FWD_ARGS) { \
    rmsnorm_fwd_body<T, P>(x, gamma, y, rstd, rows, cv, eps); } \
  extern "C" __global__ void dytlab_rmsnorm_bwd_v##VN##_p##P(RMS_BWD_ARGS) { \
    rmsnorm_bwd_body<T, P>(x, dy, gamma, rstd, dx, part, rows, cv, rpb); }

NORM_KERNELS(1, float, 1)
NORM_KERNELS(1, float, 2)
NORM_KERNELS(1, float, 4)
NORM_KERNELS(1, float, 8)
NORM_KERNELS(1, float, 16)
NORM_KERNELS(4, float4, 1)
NORM_KERNELS(4, float4, 2)
NORM_KERNELS(4, float4, 4)
NORM_KERNELS(4, float4, 8)
NORM_KERNELS(4, float4, 16)
