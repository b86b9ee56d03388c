// Multi-head self-attention from the fused q|k|v projection, in one SIMD kernel
// forward and one backward (src/engine/ops/assembly/simd-attention.ts), or as
// the composed chain of tfjs ops that nn/attention.ts runs:
//   qkv [B, T, 3d] -> split, heads [B, H, T, D] -> softmax(q k^T / sqrt(D) + mask) v -> z [B, T, d]
// with optional RoPE on q and k (rotate-half tables cos / sin [>= T, D], as nn/rope.ts).
//
// 'auto' runs fused on the wasm backend when the SIMD module is available and
// the head dim is a multiple of 4; elsewhere (cpu, webgpu, tensorflow, no
// SIMD) composed. The fused backward saves the probabilities P [B, H, T, Tp]
// (Tp = T rounded up to 4), which autodiff of the composed chain keeps too.

import { tf } from '../tf.js';
import type { Tensor, TensorInfo } from '../tf.js';
import { heapOffset, wasmBackendOf } from './backend-access.js';
import { simdKernels, simdKernelsProblem } from './simd.js';
import { attnScratchFloats, poolShares, runRows } from './row-pool.js';
import type { KernelImpl } from './types.js';

export const ATTENTION_KERNEL_NAMES = { forward: 'DytlabAttention', backward: 'DytlabAttentionGrad' } as const;

/** RoPE tables, rotate-half form: [maxLen, D] each (only the first T rows are read). */
export interface AttentionRope { cos: Tensor; sin: Tensor }

export interface AttentionOpOptions {
  heads: number;
  /** Key j attends to query i only for j <= i. */
  causal: boolean;
  rope?: AttentionRope;
  /** Default: the process-wide choice (setAttentionImpl), 'auto' unless changed. */
  impl?: KernelImpl;
}

let defaultImpl: KernelImpl = 'auto';

/** Process-wide implementation for attention (Attention.apply and attentionOp without impl); benchmarks compare both. */
export function setAttentionImpl(impl: KernelImpl): void {
  checkImpl(impl);
  defaultImpl = impl;
}

export function attentionImpl(): KernelImpl {
  return defaultImpl;
}

function checkImpl(impl: unknown): asserts impl is KernelImpl {
  if (impl !== 'auto' && impl !== 'fused' && impl !== 'composed') throw new Error(`attention: unknown impl '${String(impl)}'`);
}

interface Geometry { B: number; T: number; H: number; D: number; d: number }

function geometry(shape: readonly number[], heads: number): Geometry {
  if (shape.length !== 3) throw new Error(`attention: qkv must be [B, T, 3d], got shape [${shape}]`);
  const [B, T, three] = shape as [number, number, number];
  if (!Number.isInteger(heads) || heads < 1) throw new Error(`attention: heads must be a positive integer, got ${heads}`);
  if (three % (3 * heads) !== 0) throw new Error(`attention: qkv's last axis ${three} is not 3 * heads (${heads}) * head dim`);
  const d = three / 3;
  return { B, T, H: heads, D: d / heads, d };
}

/**
 * Why the fused kernel cannot run attention on qkv of this shape on the active
 * backend right now, or undefined when it can.
 */
export function fusedAttentionProblem(qkvShape: readonly number[], heads: number): string | undefined {
  const { D } = geometry(qkvShape, heads);
  const backend = tf.getBackend();
  if (backend !== 'wasm') return `fused attention runs on the wasm backend only (active: ${backend})`;
  if (D % 4 !== 0) return `fused attention needs a head dim that is a multiple of 4 (got ${D})`;
  if (simdKernels() === null) return simdKernelsProblem() ?? 'the SIMD module is unavailable';
  return undefined;
}

/** Whether attentionOp with `impl` would run the fused kernel (throws for 'fused' when it cannot). */
export function attentionUsesFused(qkvShape: readonly number[], heads: number, impl: KernelImpl = defaultImpl): boolean {
  checkImpl(impl);
  if (impl === 'composed') return false;
  const problem = fusedAttentionProblem(qkvShape, heads);
  if (impl === 'fused' && problem !== undefined) throw new Error(`attentionOp: impl 'fused' requested, but ${problem}`);
  return problem === undefined;
}

/** qkv [B, T, 3d] -> z [B, T, d]: multi-head self-attention with the heads merged. */
export function attentionOp(qkv: Tensor, opts: AttentionOpOptions): Tensor {
  const impl = opts.impl ?? defaultImpl;
  const g = geometry(qkv.shape, opts.heads);
  if (opts.rope) checkRope(opts.rope, g);
  if (!attentionUsesFused(qkv.shape, opts.heads, impl)) return composedAttention(qkv, opts);
  registerAttentionKernels();
  const attrs = { heads: opts.heads, causal: opts.causal ? 1 : 0 };
  const tables: Record<string, Tensor> = opts.rope ? { cos: opts.rope.cos, sin: opts.rope.sin } : {};
  const op = tf.customGrad(((x: Tensor, save: (ts: Tensor[]) => void) => {
    const [z, P] = tf.engine().runKernel(ATTENTION_KERNEL_NAMES.forward, { qkv: x, ...tables }, attrs) as Tensor[];
    save([x, P!]);
    return {
      value: z!,
      gradFunc: (dz: Tensor, [sx, sP]: Tensor[]) =>
        [tf.engine().runKernel(ATTENTION_KERNEL_NAMES.backward, { qkv: sx!, dz, P: sP!, ...tables }, attrs) as Tensor],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: Tensor) => Tensor;
  return op(qkv);
}

function checkRope(rope: AttentionRope, g: Geometry): void {
  for (const [name, t] of [['cos', rope.cos], ['sin', rope.sin]] as const) {
    if (t.rank !== 2 || t.shape[1] !== g.D || t.shape[0]! < g.T || t.dtype !== 'float32') {
      throw new Error(`attention: rope.${name} must be float32 [>= T=${g.T}, D=${g.D}], got ${t.dtype} [${t.shape}]`);
    }
  }
}

/** The composed chain (as nn/attention.ts's apply): split, heads, scores, mask, softmax, times v, heads merged. */
export function composedAttention(qkv: Tensor, opts: AttentionOpOptions): Tensor {
  const { B, T, H, D, d } = geometry(qkv.shape, opts.heads);
  return tf.tidy(() => {
    const heads = (t: Tensor) => t.reshape([B, T, H, D]).transpose([0, 2, 1, 3]);
    let [q, k, v] = tf.split(qkv, 3, 2).map(heads) as [Tensor, Tensor, Tensor];
    if (opts.rope) {
      q = composedRope(q, opts.rope);
      k = composedRope(k, opts.rope);
    }
    let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D));
    if (opts.causal) scores = tf.add(scores, tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9));
    return tf.matMul(tf.softmax(scores), v).transpose([0, 2, 1, 3]).reshape([B, T, d]);
  });
}

/** x [B, H, T, D]: x * cos + rotate_half(x) * sin (nn/rope.ts's applyRope). */
function composedRope(x: Tensor, rope: AttentionRope): Tensor {
  const T = x.shape[2]!, D = x.shape[3]!;
  const cos = rope.cos.slice([0, 0], [T, D]), sin = rope.sin.slice([0, 0], [T, D]);
  const [x1, x2] = tf.split(x, 2, 3);
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2!), x1!], 3), sin));
}

// ---------------------------------------------------------------------------
// The wasm kernels.

type Attrs = Record<string, unknown> | undefined;

function kernelGeometry(qkv: TensorInfo, attrs: Attrs, ctx: string): Geometry & { causal: number; Tp: number } {
  const heads = attrs?.['heads'];
  const causal = attrs?.['causal'];
  if (typeof heads !== 'number') throw new Error(`${ctx}: attr heads must be a number`);
  if (causal !== 0 && causal !== 1) throw new Error(`${ctx}: attr causal must be 0 or 1`);
  const g = geometry(qkv.shape, heads);
  if (g.D % 4 !== 0) throw new Error(`${ctx}: head dim ${g.D} is not a multiple of 4`);
  return { ...g, causal, Tp: (g.T + 3) & ~3 };
}

function input(inputs: Record<string, unknown>, name: string, ctx: string, optional = false): TensorInfo | undefined {
  const t = inputs[name] as TensorInfo | undefined;
  if (t === undefined) {
    if (optional) return undefined;
    throw new Error(`${ctx}: missing input ${name}`);
  }
  if (t.dtype !== 'float32') throw new Error(`${ctx}: input ${name} has dtype ${t.dtype}; only float32 is supported`);
  return t;
}

function kernelsOrThrow(ctx: string) {
  const k = simdKernels();
  if (k === null) throw new Error(`${ctx}: the SIMD module is unavailable (${simdKernelsProblem() ?? 'unknown'}); use impl 'composed'`);
  return k;
}

function withScratch<T>(wasm: ReturnType<typeof wasmBackendOf>, floats: number, f: (offset: number) => T): T {
  const scratch = wasm.makeOutput([floats], 'float32');
  try {
    return f(heapOffset(wasm, scratch));
  } finally {
    wasm.disposeData(scratch.dataId, true);
  }
}

const forwardKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const ctx = `${ATTENTION_KERNEL_NAMES.forward} on backend 'wasm'`;
  const qkv = input(inputs, 'qkv', ctx)!;
  const cos = input(inputs, 'cos', ctx, true), sin = input(inputs, 'sin', ctx, true);
  const { B, T, H, D, d, causal, Tp } = kernelGeometry(qkv, attrs as Attrs, ctx);
  const wasm = wasmBackendOf(backend, ctx);
  const k = kernelsOrThrow(ctx);
  const z = wasm.makeOutput([B, T, d], 'float32');
  const P = wasm.makeOutput([B, H, T, Tp], 'float32');
  if (B * T > 0) {
    // One share of scratch per thread: the row pool splits the batch.
    withScratch(wasm, poolShares() * attnScratchFloats('fwd', T, D), (scratch) => runRows(k, 'attn_fwd', [heapOffset(wasm, qkv), heapOffset(wasm, z), heapOffset(wasm, P),
      scratch, B, T, H, D, causal, 1 / Math.sqrt(D), cos && sin ? 1 : 0, cos ? heapOffset(wasm, cos) : 0, sin ? heapOffset(wasm, sin) : 0]));
  }
  return [z, P];
};

const backwardKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const ctx = `${ATTENTION_KERNEL_NAMES.backward} on backend 'wasm'`;
  const qkv = input(inputs, 'qkv', ctx)!, dz = input(inputs, 'dz', ctx)!, P = input(inputs, 'P', ctx)!;
  const cos = input(inputs, 'cos', ctx, true), sin = input(inputs, 'sin', ctx, true);
  const { B, T, H, D, d, causal, Tp } = kernelGeometry(qkv, attrs as Attrs, ctx);
  if (!tf.util.arraysEqual(dz.shape, [B, T, d])) throw new Error(`${ctx}: dz must be [${B}, ${T}, ${d}], got [${dz.shape}]`);
  if (!tf.util.arraysEqual(P.shape, [B, H, T, Tp])) throw new Error(`${ctx}: P must be [${B}, ${H}, ${T}, ${Tp}], got [${P.shape}]`);
  const wasm = wasmBackendOf(backend, ctx);
  const k = kernelsOrThrow(ctx);
  const dqkv = wasm.makeOutput([B, T, 3 * d], 'float32');
  if (B * T > 0) {
    withScratch(wasm, poolShares() * attnScratchFloats('bwd', T, D), (scratch) => runRows(k, 'attn_bwd', [heapOffset(wasm, qkv), heapOffset(wasm, dz),
      heapOffset(wasm, P), heapOffset(wasm, dqkv), scratch, B, T, H, D, causal, 1 / Math.sqrt(D),
      cos && sin ? 1 : 0, cos ? heapOffset(wasm, cos) : 0, sin ? heapOffset(wasm, sin) : 0]));
  }
  return dqkv;
};

/** Registers the fused attention kernels on 'wasm' (idempotent; attentionOp calls it). */
export function registerAttentionKernels(): void {
  if (tf.getKernel(ATTENTION_KERNEL_NAMES.forward, 'wasm') === undefined) {
    tf.registerKernel({ kernelName: ATTENTION_KERNEL_NAMES.forward, backendName: 'wasm', kernelFunc: forwardKernel });
  }
  if (tf.getKernel(ATTENTION_KERNEL_NAMES.backward, 'wasm') === undefined) {
    tf.registerKernel({ kernelName: ATTENTION_KERNEL_NAMES.backward, backendName: 'wasm', kernelFunc: backwardKernel });
  }
}
