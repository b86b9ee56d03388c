// Public ops of the normalization family with a choice of implementation:
// 'fused' runs one registered kernel forward and one backward (via
// tf.customGrad) producing dx and every parameter gradient; 'composed' uses
// stock tfjs ops and autodiff; 'auto' picks fused where registered.

import { tf } from '../tf.js';
import type { Tensor } from '../tf.js';
import { composedLayerNorm, composedRMSNorm, composedSquash } from './composed.js';
import { KERNEL_NAMES, KERNEL_SPECS, kernelFuncFor } from './fused-ops.js';
import type { FusedBackend } from './fused-ops.js';
import { simdKernels, simdKernelsProblem } from './simd.js';
import { webgpuKernelFunc } from '../webgpu/ops.js';
import { assertSquashShape } from './types.js';
import type { KernelImpl, SquashShape } from './types.js';

export type { KernelImpl, SquashShape } from './types.js';
export { KERNEL_NAMES } from './fused-ops.js';

export interface SquashParams {
  /** [1] (one per layer, the default) or [C] (per channel). */
  alpha: Tensor;
  /** [1] or [C], like alpha. */
  s: Tensor;
  gamma: Tensor;
  beta: Tensor;
}

export interface FusedKernelStatus {
  backend: string;
  registered: string[];
  /** wasm only: kernels run in the SIMD module on the backend's heap. */
  simd: boolean;
  /** Why simd is false where it could be true (wasm), or why nothing is registered. */
  reason?: string;
}

/** cpu and wasm run fused-ops.ts; webgpu runs the WGSL kernels of ../webgpu/. */
type FusedTarget = FusedBackend | 'webgpu';
const FUSED_BACKENDS: readonly FusedTarget[] = ['cpu', 'wasm', 'webgpu'];
const registeredBy = new Map<FusedTarget, string[]>();

function isFusedBackend(name: string): name is FusedTarget {
  return (FUSED_BACKENDS as readonly string[]).includes(name);
}

function statusOf(backend: FusedTarget): FusedKernelStatus {
  const registered = [...(registeredBy.get(backend) ?? [])];
  if (backend === 'cpu' || backend === 'webgpu') return { backend, registered, simd: false };
  const simd = simdKernels() !== null;
  return simd
    ? { backend, registered, simd }
    : { backend, registered, simd, reason: `fused wasm kernels fall back to plain-JS loops: ${simdKernelsProblem() ?? 'unknown'}` };
}

/**
 * Registers the fused kernels for 'cpu', 'wasm' or 'webgpu' (idempotent). On wasm the
 * SIMD module is used when the memory capture worked (see wasm-memory.ts),
 * decided per call; the status says whether it currently is and why not.
 */
export function registerFusedKernels(backendName: string): FusedKernelStatus {
  if (!isFusedBackend(backendName)) {
    return {
      backend: backendName, registered: [], simd: false,
      reason: `no fused kernels exist for backend '${backendName}' (available: ${FUSED_BACKENDS.join(', ')})`,
    };
  }
  if (!registeredBy.has(backendName)) {
    const names: string[] = [];
    for (const spec of KERNEL_SPECS) {
      if (tf.getKernel(spec.name, backendName) === undefined) {
        const kernelFunc = backendName === 'webgpu' ? webgpuKernelFunc(spec.name) : kernelFuncFor(spec, backendName);
        tf.registerKernel({ kernelName: spec.name, backendName, kernelFunc });
      }
      names.push(spec.name);
    }
    registeredBy.set(backendName, names);
  }
  return statusOf(backendName);
}

/** Status for the active backend (tf.getBackend()); undefined if none registered there. */
export function fusedKernelStatus(): FusedKernelStatus | undefined {
  const backend = tf.getBackend();
  return isFusedBackend(backend) && registeredBy.has(backend) ? statusOf(backend) : undefined;
}

function useFused(op: string, kernelName: string, impl: KernelImpl): boolean {
  if (impl !== 'auto' && impl !== 'fused' && impl !== 'composed') throw new Error(`${op}: unknown impl '${String(impl)}'`);
  if (impl === 'composed') return false;
  const backend = tf.getBackend();
  const available = tf.getKernel(kernelName, backend) !== undefined;
  if (impl === 'fused' && !available) {
    throw new Error(`${op}: impl 'fused' requested, but kernel ${kernelName} is not registered for backend '${backend}' ` +
      `(call registerFusedKernels('${backend}'); fused kernels exist for ${FUSED_BACKENDS.join(', ')})`);
  }
  return available;
}

type Save = (tensors: Tensor[]) => void;
type GradResult = { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] };

/** tf.customGrad with the inputs spelled out (its own typing is variadic). */
function customGrad<A extends Tensor[]>(f: (...args: [...A, Save]) => GradResult): (...args: A) => Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => Tensor;
}

function runKernel(name: string, inputs: Record<string, Tensor>, attrs: Record<string, string | number>): Tensor[] {
  const out = tf.engine().runKernel(name, inputs, attrs) as Tensor | Tensor[];
  return Array.isArray(out) ? out : [out];
}

/**
 * Whether a gradient tape is recording around this call (tf.grads, tf.variableGrads,
 * tf.customGrad's caller). Inside a custom gradient's forward tfjs reports its own
 * isTapeOn() as false (a kernel is running), so this reads the tape depth; a tfjs
 * without that field counts as recording (saving f is then only wasted memory).
 */
function recordingGradients(): boolean {
  const depth = (tf.engine() as unknown as { state?: { gradientDepth?: number } }).state?.gradientDepth;
  return depth === undefined || depth > 0;
}

/** y = gamma * f(alpha * x + s) + beta over the last axis of x. */
export function squashOp(x: Tensor, p: SquashParams, shape: SquashShape, impl: KernelImpl = 'auto'): Tensor {
  assertSquashShape(shape);
  if (!useFused(`squashOp(${shape})`, KERNEL_NAMES.squash, impl)) return composedSquash(x, p, shape);
  const op = customGrad<[Tensor, Tensor, Tensor, Tensor, Tensor]>((x, alpha, s, gamma, beta, save) => {
    // Under a gradient tape on wasm the forward also returns f(alpha * x + s), which the
    // SIMD backward reads instead of recomputing the tanh (as PyTorch's autograd keeps
    // tanh's output): one more saved tensor the size of x, the backward's costliest pass gone.
    const keepF = tf.getBackend() === 'wasm' && recordingGradients();
    const [y, f] = runKernel(KERNEL_NAMES.squash, { x, alpha, s, gamma, beta }, keepF ? { shape, saveF: 1 } : { shape });
    // save() clones (sharing the buffer on wasm, engine/wasm's identity fix), which keeps
    // x and f alive if the caller's tidy disposes them before backward.
    save(keepF ? [x, alpha, s, gamma, f!] : [x, alpha, s, gamma]);
    return {
      value: y!,
      gradFunc: (dy, [sx, salpha, ss, sgamma, sf]) =>
        // dx, dalpha, ds, dgamma, dbeta in one kernel call.
        runKernel(KERNEL_NAMES.squashGrad, { x: sx!, dy, alpha: salpha!, s: ss!, gamma: sgamma!, ...(sf ? { f: sf } : {}) }, { shape }),
    };
  });
  return op(x, p.alpha, p.s, p.gamma, p.beta);
}

/** LayerNorm over the last axis: gamma * (x - mean) * rstd + beta. */
export function layerNormOp(x: Tensor, gamma: Tensor, beta: Tensor, eps: number, impl: KernelImpl = 'auto'): Tensor {
  if (!useFused('layerNormOp', KERNEL_NAMES.layerNorm, impl)) return composedLayerNorm(x, gamma, beta, eps);
  const op = customGrad<[Tensor, Tensor, Tensor]>((x, gamma, beta, save) => {
    const [y, mean, rstd] = runKernel(KERNEL_NAMES.layerNorm, { x, gamma, beta }, { eps });
    save([x, gamma, mean!, rstd!]);
    return {
      value: y!,
      gradFunc: (dy, [sx, sgamma, smean, srstd]) =>
        runKernel(KERNEL_NAMES.layerNormGrad, { x: sx!, dy, gamma: sgamma!, mean: smean!, rstd: srstd! }, {}),
    };
  });
  return op(x, gamma, beta);
}

/** RMSNorm over the last axis: gamma * x * rstd. */
export function rmsNormOp(x: Tensor, gamma: Tensor, eps: number, impl: KernelImpl = 'auto'): Tensor {
  if (!useFused('rmsNormOp', KERNEL_NAMES.rmsNorm, impl)) return composedRMSNorm(x, gamma, eps);
  const op = customGrad<[Tensor, Tensor]>((x, gamma, save) => {
    const [y, rstd] = runKernel(KERNEL_NAMES.rmsNorm, { x, gamma }, { eps });
    save([x, gamma, rstd!]);
    return {
      value: y!,
      gradFunc: (dy, [sx, sgamma, srstd]) =>
        runKernel(KERNEL_NAMES.rmsNormGrad, { x: sx!, dy, gamma: sgamma!, rstd: srstd! }, {}),
    };
  });
  return op(x, gamma);
}
