// Fused norm kernels exist for the backends we can program (cpu: JS loops,
// wasm: SIMD WebAssembly, webgpu: WGSL); elsewhere the composed tfjs ops are used.
import { registerFusedKernels, relaxedSimdStatus } from './ops/index.js';
import type { RelaxedSimdStatus } from './ops/index.js';
import type { BackendName } from './backend.js';

export function installFusedKernels(backend: BackendName): { registered: string[]; simd: boolean; relaxedSimd?: RelaxedSimdStatus; reason?: string } {
  if (backend === 'cpu' || backend === 'wasm' || backend === 'webgpu') {
    const s = registerFusedKernels(backend);
    return {
      registered: s.registered, simd: s.simd,
      ...(backend === 'wasm' && s.simd ? { relaxedSimd: relaxedSimdStatus() } : {}),
      ...(s.reason ? { reason: s.reason } : {}),
    };
  }
  return { registered: [], simd: false, reason: `no fused kernels for the ${backend} backend: composed tfjs ops are used` };
}
