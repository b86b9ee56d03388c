// Shared helpers of dytlab's CUDA kernels (float32, row-major [rows, C] with
// channels last). Included by every .cu file of this folder; compiled by
// scripts/build-cuda.mjs to PTX and an sm_90 cubin.
#pragma once
#include <cuda_runtime.h>

#define DYT_DEVICE __device__ __forceinline__

// Vector loads and stores: float4 when C % 4 == 0 (16-byte aligned rows),
// float otherwise. Read-only inputs go through the non-coherent cache.
template <typename T> struct Vec;
template <> struct Vec<float> {
  static constexpr int N = 1;
  static DYT_DEVICE float load(const float* p, long long i) { return __ldg(p + i); }
  static DYT_DEVICE void store(float* p, long long i, float v) { p[i] = v; }
  static DYT_DEVICE float sum(float v) { return v; }
};
template <> struct Vec<float4> {
  static constexpr int N = 4;
  static DYT_DEVICE float4 load(const float* p, long long i) { return __ldg(reinterpret_cast<const float4*>(p) + i); }
  static DYT_DEVICE void store(float* p, long long i, float4 v) { reinterpret_cast<float4*>(p)[i] = v; }
  static DYT_DEVICE float sum(float4 v) { return (v.x + v.y) + (v.z + v.w); }
};

// Component-wise helpers so the same code serves float and float4.
DYT_DEVICE float4 operator+(float4 a, float4 b) { return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w); }
DYT_DEVICE float4 operator-(float4 a, float4 b) { return make_float4(a.x - b.x, a.y - b.y, a.z - b.z, a.w - b.w); }
DYT_DEVICE float4 operator*(float4 a, float4 b) { return make_float4(a.x * b.x, a.y * b.y, a.z * b.z, a.w * b.w); }
DYT_DEVICE float4 operator*(float4 a, float s) { return make_float4(a.x * s, a.y * s, a.z * s, a.w * s); }
DYT_DEVICE float4 operator+(float4 a, float s) { return make_float4(a.x + s, a.y + s, a.z + s, a.w + s); }
DYT_DEVICE float4 operator-(float4 a, float s) { return make_float4(a.x - s, a.y - s, a.z - s, a.w - s); }
DYT_DEVICE void operator+=(float4& a, float4 b) { a = a + b; }

template <typename T> DYT_DEVICE T splat(float v);
template <> DYT_DEVICE float splat<float>(float v) { return v; }
template <> DYT_DEVICE float4 splat<float4>(float v) { return make_float4(v, v, v, v); }

template <typename F> DYT_DEVICE float apply1(float v, F f) { return f(v); }
template <typename F> DYT_DEVICE float4 apply1(float4 v, F f) { return make_float4(f(v.x), f(v.y), f(v.z), f(v.w)); }
template <typename F> DYT_DEVICE float apply2(float a, float b, F f) { return f(a, b); }
template <typename F> DYT_DEVICE float4 apply2(float4 a, float4 b, F f) {
  return make_float4(f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w));
}

// Stores a vector of partial sums into a float array at index i (float units).
DYT_DEVICE void store_partial(float* p, long long i, float v) { p[i] = v; }
DYT_DEVICE void store_partial(float* p, long long i, float4 v) { p[i] = v.x; p[i + 1] = v.y; p[i + 2] = v.z; p[i + 3] = v.w; }

// Warp and block sums of a float2 (fixed order: deterministic).
DYT_DEVICE float2 warp_sum2(float2 v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    v.x += __shfl_xor_sync(0xffffffffu, v.x, o);
    v.y += __shfl_xor_sync(0xffffffffu, v.y, o);
  }
  return v;
}

// Every thread of the block must call it; blockDim.x a multiple of 32, <= 1024.
DYT_DEVICE float2 block_sum2(float2 v) {
  __shared__ float2 sh[32];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum2(v);
  __syncthreads();  // sh may still be read by a previous call
  if (lane == 0) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    float2 t = lane < nw ? sh[lane] : make_float2(0.f, 0.f);
    t = warp_sum2(t);
    if (lane == 0) sh[0] = t;
  }
  __syncthreads();
  return sh[0];
}
