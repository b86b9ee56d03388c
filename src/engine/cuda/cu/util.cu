// Helpers of the CUDA path: the second stage of the deterministic backward
// reductions, a float4 copy kernel (a bandwidth reference beside
// cuMemcpyDtoD), and a spin kernel that keeps the GPU busy while the host
// queues the launches a benchmark times (so launch overhead on the host does
// not leave gaps between the timed kernels).
#include "common.cuh"

// Sums partials [G, W] over G into up to four consecutive output segments
// (lengths n0..n3, n0 + n1 + n2 + n3 = W). Block (32, 32): 32 columns x 32
// slices of G; each slice sums its rows in double in a fixed order, then the
// slices are added in a fixed order: deterministic.
extern "C" __global__ void dytlab_reduce_partials(const float* __restrict__ part, int G, int W,
    float* o0, int n0, float* o1, int n1, float* o2, int n2, float* o3, int n3) {
  __shared__ double acc[32][33];
  const int j = blockIdx.x * 32 + threadIdx.x;
  double a = 0.0;
  if (j < W) {
#pragma unroll 4
    for (int g = threadIdx.y; g < G; g += 32) a += (double)__ldg(part + (long long)g * W + j);
  }
  acc[threadIdx.y][threadIdx.x] = a;
  __syncthreads();
  if (threadIdx.y == 0 && j < W) {
    double t = 0.0;
    for (int k = 0; k < 32; k++) t += acc[k][threadIdx.x];
    const float v = (float)t;
    if (j < n0) o0[j] = v;
    else if (j < n0 + n1) o1[j - n0] = v;
    else if (j < n0 + n1 + n2) o2[j - n0 - n1] = v;
    else if (j < n0 + n1 + n2 + n3) o3[j - n0 - n1 - n2] = v;
  }
}

// dst = src, n4 float4 elements, grid-stride.
extern "C" __global__ void dytlab_copy_f4(const float4* __restrict__ src, float4* __restrict__ dst, unsigned n4) {
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) dst[i] = __ldg(src + i);
}

// Busy-waits `cycles` SM clock cycles (one thread is enough).
extern "C" __global__ void dytlab_spin(long long cycles) {
  const long long t0 = clock64();
  while (clock64() - t0 < cycles) {}
}
