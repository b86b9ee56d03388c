/*
 * A stand-in for libcuda.so.1 on machines without an NVIDIA driver, for the
 * FFI tests of src/engine/cuda (test/cuda.test.ts builds it with `cc`). It
 * implements the driver calls dytlab uses on host memory: device pointers are
 * malloc'd addresses, events read a clock, and a "module" is a text image
 * starting with "//dytlab-mock" whose functions are
 *   mock_axpy(float *y, const float *x, float a, unsigned n): y[i] += a * x[i]
 *   mock_fill(float *y, int n, float v)
 * so launches check that koffi packs pointers, ints and floats as the driver
 * expects. With MOCK_CUDA_ANY_MODULE set, any image loads and any function
 * name resolves to a kernel that does nothing (the benchmark's tests use it:
 * outputs stay as poisoned). Unknown calls are simply absent. Error codes
 * match cuda.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
enum { OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, INVALID_DEVICE = 101,
       INVALID_IMAGE = 200, INVALID_HANDLE = 400, NOT_FOUND = 500, LAUNCH_FAILED = 719 };

static int initialized = 0;
static int ctx_token = 7, mod_token = 11, fn_axpy = 13, fn_fill = 17, fn_nop = 19;

CUresult cuInit(unsigned int flags) {
  if (flags != 0) return INVALID_VALUE;
  if (getenv("MOCK_CUDA_NO_DEVICE")) return 100; /* CUDA_ERROR_NO_DEVICE */
  initialized = 1;
  return OK;
}
CUresult cuDriverGetVersion(int *v) { if (!v) return INVALID_VALUE; *v = 12080; return OK; }
CUresult cuDeviceGetCount(int *n) { if (!initialized) return NOT_INITIALIZED; *n = 1; return OK; }
CUresult cuDeviceGet(int *d, int ordinal) { if (ordinal != 0) return INVALID_DEVICE; *d = 0; return OK; }
CUresult cuDeviceGetName(char *name, int len, int dev) {
  if (dev != 0) return INVALID_DEVICE;
  strncpy(name, "Mock GPU (dytlab test driver)", (size_t)len);
  return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attrib, int dev) {
  if (dev != 0) return INVALID_DEVICE;
  switch (attrib) {
    case 1: *v = 1024; break;   /* max threads per block */
    case 13: *v = 1500000; break;
    case 16: *v = 4; break;     /* SMs */
    case 36: *v = 2619000; break; /* memory clock kHz */
    case 37: *v = 5120; break;  /* bus width bits */
    case 38: *v = 50 * 1024 * 1024; break;
    case 75: *v = 9; break;
    case 76: *v = 0; break;
    default: return INVALID_VALUE;
  }
  return OK;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, int dev) { if (dev != 0) return INVALID_DEVICE; *bytes = (size_t)80 << 30; return OK; }
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) { if (dev != 0) return INVALID_DEVICE; *ctx = &ctx_token; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(int dev) { return dev == 0 ? OK : INVALID_DEVICE; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == &ctx_token ? OK : INVALID_HANDLE; }
CUresult cuCtxSynchronize(void) { return OK; }

CUresult cuModuleLoadData(void **module, const void *image) {
  if (!image) return INVALID_VALUE;
  if (!getenv("MOCK_CUDA_ANY_MODULE") && strncmp((const char *)image, "//dytlab-mock", 13) != 0) return INVALID_IMAGE;
  *module = &mod_token;
  return OK;
}
CUresult cuModuleUnload(void *m) { return m == &mod_token ? OK : INVALID_HANDLE; }
CUresult cuModuleGetFunction(void **fn, void *m, const char *name) {
  if (m != &mod_token) return INVALID_HANDLE;
  if (strcmp(name, "mock_axpy") == 0) *fn = &fn_axpy;
  else if (strcmp(name, "mock_fill") == 0) *fn = &fn_fill;
  else if (getenv("MOCK_CUDA_ANY_MODULE")) *fn = &fn_nop;
  else return NOT_FOUND;
  return OK;
}
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shmem, void *stream, void **params, void **extra) {
  (void)gy; (void)gz; (void)by; (void)bz; (void)shmem; (void)stream;
  if (extra != NULL || params == NULL || gx == 0 || bx == 0 || bx > 1024) return INVALID_VALUE;
  if (f == &fn_axpy) {
    float *y = (float *)(uintptr_t)*(CUdeviceptr *)params[0];
    const float *x = (const float *)(uintptr_t)*(CUdeviceptr *)params[1];
    float a = *(float *)params[2];
    unsigned n = *(unsigned *)params[3];
    for (unsigned i = 0; i < n; i++) y[i] += a * x[i];
    return OK;
  }
  if (f == &fn_fill) {
    float *y = (float *)(uintptr_t)*(CUdeviceptr *)params[0];
    int n = *(int *)params[1];
    float v = *(float *)params[2];
    if (n < 0) return LAUNCH_FAILED;
    for (int i = 0; i < n; i++) y[i] = v;
    return OK;
  }
  if (f == &fn_nop) return OK;
  return INVALID_HANDLE;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
  if (bytes > ((size_t)1 << 40)) return OUT_OF_MEMORY;
  void *m = malloc(bytes);
  if (!m) return OUT_OF_MEMORY;
  *p = (CUdeviceptr)(uintptr_t)m;
  return OK;
}
CUresult cuMemFree_v2(CUdeviceptr p) { free((void *)(uintptr_t)p); return OK; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) { memcpy((void *)(uintptr_t)dst, src, n); return OK; }
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) { memcpy(dst, (void *)(uintptr_t)src, n); return OK; }
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { memcpy((void *)(uintptr_t)dst, (void *)(uintptr_t)src, n); return OK; }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void *s) { (void)s; return cuMemcpyDtoD_v2(dst, src, n); }
CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) { memset((void *)(uintptr_t)dst, v, n); return OK; }
CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int v, size_t n) {
  unsigned int *p = (unsigned int *)(uintptr_t)dst;
  for (size_t i = 0; i < n; i++) p[i] = v;
  return OK;
}

typedef struct { double t; int recorded; } Event;
static double now_ms(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; }
CUresult cuEventCreate(void **e, unsigned flags) { (void)flags; Event *ev = calloc(1, sizeof(Event)); *e = ev; return OK; }
CUresult cuEventRecord(void *e, void *s) { (void)s; ((Event *)e)->t = now_ms(); ((Event *)e)->recorded = 1; return OK; }
CUresult cuEventSynchronize(void *e) { return ((Event *)e)->recorded ? OK : INVALID_HANDLE; }
CUresult cuEventElapsedTime(float *ms, void *a, void *b) { *ms = (float)(((Event *)b)->t - ((Event *)a)->t); return OK; }
CUresult cuEventDestroy_v2(void *e) { free(e); return OK; }

CUresult cuGetErrorName(CUresult e, const char **s) {
  switch (e) {
    case OK: *s = "CUDA_SUCCESS"; break;
    case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; break;
    case OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case NOT_INITIALIZED: *s = "CUDA_ERROR_NOT_INITIALIZED"; break;
    case 100: *s = "CUDA_ERROR_NO_DEVICE"; break;
    case INVALID_DEVICE: *s = "CUDA_ERROR_INVALID_DEVICE"; break;
    case INVALID_IMAGE: *s = "CUDA_ERROR_INVALID_IMAGE"; break;
    case INVALID_HANDLE: *s = "CUDA_ERROR_INVALID_HANDLE"; break;
    case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; break;
    case LAUNCH_FAILED: *s = "CUDA_ERROR_LAUNCH_FAILED"; break;
    default: *s = NULL; return INVALID_VALUE;
  }
  return OK;
}
CUresult cuGetErrorString(CUresult e, const char **s) {
  switch (e) {
    case OUT_OF_MEMORY: *s = "out of memory"; break;
    case 100: *s = "no CUDA-capable device is detected"; break;
    case INVALID_IMAGE: *s = "device kernel image is invalid"; break;
    case NOT_FOUND: *s = "named symbol not found"; break;
    case LAUNCH_FAILED: *s = "unspecified launch failure"; break;
    default: *s = "mock driver error"; break;
  }
  return OK;
}
