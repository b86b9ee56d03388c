// Fused training ops on wasm + SIMD: AdamW over every parameter in one kernel
// call, cross-entropy fused with log-softmax (forward and backward one kernel
// each), GELU (tanh form and exact; forward and backward one kernel each), and
// the sum of squares over many tensors (the global gradient norm).
//
// Each op has an `impl` switch like fused.ts: 'fused' runs the SIMD kernels
// (registered as tfjs kernels for 'wasm', so profiles name them), 'composed'
// the stock tfjs ops (what every other backend runs), 'auto' picks fused when
// the backend is wasm and the SIMD module is loaded. Kernels live in
// assembly/simd-train.ts.

import { tf } from '../tf.js';
import type { Scalar, Tensor, TensorInfo, Variable } from '../tf.js';
import type { WasmBackendLike } from '../wasm/op-utils.js';
import { simdKernels, simdKernelsProblem } from './simd.js';
import { runRows } from './row-pool.js';
import type { SimdKernels } from './simd.js';
import type { KernelImpl } from './types.js';

export const TRAIN_KERNEL_NAMES = {
  gelu: 'DytlabGelu',
  geluGrad: 'DytlabGeluGrad',
  biasGelu: 'DytlabBiasGelu',
  biasGeluGrad: 'DytlabBiasGeluGrad',
  crossEntropy: 'DytlabCrossEntropy',
  crossEntropyGrad: 'DytlabCrossEntropyGrad',
  adamw: 'DytlabAdamW',
} as const;

/** 'tanh': GPT-2's gelu_new; 'exact': 0.5 x (1 + erf(x / sqrt 2)). */
export type GeluForm = 'tanh' | 'exact';

const size = (shape: readonly number[]): number => tf.util.sizeFromShape(shape as number[]);

// ---------------------------------------------------------------------------
// Choosing the implementation.

/** Why the fused training ops cannot run on the active backend now; undefined when they can. */
export function trainOpsUnavailable(): string | undefined {
  const backend = tf.getBackend();
  if (backend !== 'wasm') return `fused training ops run on the wasm backend only (active: ${backend})`;
  if (simdKernels() === null) return simdKernelsProblem() ?? 'the SIMD kernel module is unavailable';
  return undefined;
}

let defaultImpl: KernelImpl = 'auto';

/**
 * What 'auto' means for every training op (GELU, cross-entropy, AdamW, sum of
 * squares) in this process: 'auto' (the default) picks fused where it can run,
 * 'composed' / 'fused' force one path (benchmarks of a whole training step).
 */
export function setTrainOpsImpl(impl: KernelImpl): void {
  if (impl !== 'auto' && impl !== 'fused' && impl !== 'composed') throw new Error(`setTrainOpsImpl: unknown impl '${String(impl)}'`);
  defaultImpl = impl;
}

let registered = false;

function ensureRegistered(): void {
  if (registered) return;
  for (const [name, kernelFunc] of KERNELS) {
    if (tf.getKernel(name, 'wasm') === undefined) tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
  }
  registered = true;
}

function useFused(op: string, impl: KernelImpl): boolean {
  if (impl !== 'auto' && impl !== 'fused' && impl !== 'composed') throw new Error(`${op}: unknown impl '${String(impl)}'`);
  if (impl === 'auto') impl = defaultImpl;
  if (impl === 'composed') return false;
  const why = trainOpsUnavailable();
  if (why !== undefined) {
    if (impl === 'fused') throw new Error(`${op}: impl 'fused' requested, but ${why}`);
    return false;
  }
  ensureRegistered();
  return true;
}

// ---------------------------------------------------------------------------
// Kernel plumbing.

function wasmOf(backend: unknown, ctx: string): WasmBackendLike {
  const b = backend as Partial<WasmBackendLike> | null;
  if (b === null || typeof b !== 'object' || typeof b.makeOutput !== 'function' || b.dataIdMap === undefined || b.wasm === undefined) {
    throw new Error(`${ctx}: the backend is not tfjs-backend-wasm's BackendWasm`);
  }
  return b as WasmBackendLike;
}

function kernelsOrThrow(ctx: string): SimdKernels {
  const k = simdKernels();
  if (k === null) throw new Error(`${ctx}: the SIMD kernel module became unavailable: ${simdKernelsProblem() ?? 'unknown'}`);
  return k;
}

function offsetOf(b: WasmBackendLike, t: TensorInfo, ctx: string): number {
  const d = b.dataIdMap.get(t.dataId);
  if (d === undefined) throw new Error(`${ctx}: tensor [${t.shape}] is not on the wasm heap`);
  return d.memoryOffset;
}

function input(inputs: Record<string, TensorInfo>, name: string, dtype: string, ctx: string): TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new Error(`${ctx}: missing input ${name}`);
  if (t.dtype !== dtype) throw new Error(`${ctx}: input ${name} has dtype ${t.dtype}, expected ${dtype}`);
  return t;
}

type Kfn = tf.KernelFunc;
type Args = Parameters<Kfn>[0];

const geluKernel: Kfn = ({ inputs, backend, attrs }: Args) => {
  const ctx = `${TRAIN_KERNEL_NAMES.gelu} on wasm`;
  const b = wasmOf(backend, ctx);
  const x = input(inputs as Record<string, TensorInfo>, 'x', 'float32', ctx);
  const k = kernelsOrThrow(ctx);
  const y = b.makeOutput(x.shape, 'float32');
  const n = size(x.shape);
  if (n > 0) runRows(k, attrs?.['form'] === 'exact' ? 'gelu_exact_fwd' : 'gelu_fwd', [offsetOf(b, x, ctx), offsetOf(b, y, ctx), n]);
  return y;
};

const geluGradKernel: Kfn = ({ inputs, backend, attrs }: Args) => {
  const ctx = `${TRAIN_KERNEL_NAMES.geluGrad} on wasm`;
  const b = wasmOf(backend, ctx);
  const ins = inputs as Record<string, TensorInfo>;
  const x = input(ins, 'x', 'float32', ctx);
  const dy = input(ins, 'dy', 'float32', ctx);
  const n = size(x.shape);
  if (size(dy.shape) !== n) throw new Error(`${ctx}: dy shape [${dy.shape}] does not match x shape [${x.shape}]`);
  const k = kernelsOrThrow(ctx);
  const dx = b.makeOutput(x.shape, 'float32');
  if (n > 0) runRows(k, attrs?.['form'] === 'exact' ? 'gelu_exact_bwd' : 'gelu_bwd', [offsetOf(b, x, ctx), offsetOf(b, dy, ctx), offsetOf(b, dx, ctx), n]);
  return dx;
};

function biasGeometry(x: TensorInfo, bias: TensorInfo, ctx: string): { rows: number; C: number } {
  if (x.shape.length !== 2) throw new Error(`${ctx}: x must be [rows, C], got [${x.shape}]`);
  const [rows, C] = x.shape as [number, number];
  if (size(bias.shape) !== C) throw new Error(`${ctx}: bias must have C=${C} elements, got [${bias.shape}]`);
  return { rows, C };
}

const biasGeluKernel: Kfn = ({ inputs, backend, attrs }: Args) => {
  const ctx = `${TRAIN_KERNEL_NAMES.biasGelu} on wasm`;
  const b = wasmOf(backend, ctx);
  const ins = inputs as Record<string, TensorInfo>;
  const x = input(ins, 'x', 'float32', ctx);
  const bias = input(ins, 'bias', 'float32', ctx);
  const { rows, C } = biasGeometry(x, bias, ctx);
  const k = kernelsOrThrow(ctx);
  const y = b.makeOutput(x.shape, 'float32');
  if (rows * C > 0) {
    runRows(k, attrs?.['form'] === 'exact' ? 'bias_gelu_exact_fwd' : 'bias_gelu_fwd', [offsetOf(b, x, ctx), offsetOf(b, bias, ctx), offsetOf(b, y, ctx), rows, C]);
  }
  return y;
};

const biasGeluGradKernel: Kfn = ({ inputs, backend, attrs }: Args) => {
  const ctx = `${TRAIN_KERNEL_NAMES.biasGeluGrad} on wasm`;
  const b = wasmOf(backend, ctx);
  const ins = inputs as Record<string, TensorInfo>;
  const x = input(ins, 'x', 'float32', ctx);
  const bias = input(ins, 'bias', 'float32', ctx);
  const dy = input(ins, 'dy', 'float32', ctx);
  const { rows, C } = biasGeometry(x, bias, ctx);
  if (size(dy.shape) !== rows * C) throw new Error(`${ctx}: dy shape [${dy.shape}] does not match x shape [${x.shape}]`);
  const k = kernelsOrThrow(ctx);
  const dx = b.makeOutput(x.shape, 'float32');
  const dbias = b.makeOutput(bias.shape, 'float32');
  const scratch = b.makeOutput([2 * Math.max(1, C)], 'float32'); // C float64
  try {
    (attrs?.['form'] === 'exact' ? k.bias_gelu_exact_bwd : k.bias_gelu_bwd)(offsetOf(b, x, ctx), offsetOf(b, bias, ctx),
      offsetOf(b, dy, ctx), offsetOf(b, dx, ctx), offsetOf(b, dbias, ctx), rows, C, offsetOf(b, scratch, ctx));
  } finally {
    b.disposeData(scratch.dataId, true);
  }
  return [dx, dbias];
};

function xentGeometry(logits: TensorInfo, targets: TensorInfo, ctx: string): { rows: number; V: number } {
  if (logits.shape.length < 1) throw new Error(`${ctx}: logits must have rank >= 1`);
  const V = logits.shape[logits.shape.length - 1]!;
  const rows = V === 0 ? 0 : size(logits.shape) / V;
  if (size(targets.shape) !== rows) throw new Error(`${ctx}: ${size(targets.shape)} targets for ${rows} rows of logits [${logits.shape}]`);
  return { rows, V };
}

const xentKernel: Kfn = ({ inputs, backend }: Args) => {
  const ctx = `${TRAIN_KERNEL_NAMES.crossEntropy} on wasm`;
  const b = wasmOf(backend, ctx);
  const ins = inputs as Record<string, TensorInfo>;
  const logits = input(ins, 'logits', 'float32', ctx);
  const targets = input(ins, 'targets', 'int32', ctx);
  const { rows, V } = xentGeometry(logits, targets, ctx);
  const k = kernelsOrThrow(ctx);
  const loss = b.makeOutput([], 'float32');
  const lse = b.makeOutput([rows], 'float32');
  k.xent_fwd(offsetOf(b, logits, ctx), offsetOf(b, targets, ctx), rows, V, offsetOf(b, lse, ctx), offsetOf(b, loss, ctx));
  return [loss, lse];
};

const xentGradKernel: Kfn = ({ inputs, backend }: Args) => {
  const ctx = `${TRAIN_KERNEL_NAMES.crossEntropyGrad} on wasm`;
  const b = wasmOf(backend, ctx);
  const ins = inputs as Record<string, TensorInfo>;
  const logits = input(ins, 'logits', 'float32', ctx);
  const targets = input(ins, 'targets', 'int32', ctx);
  const lse = input(ins, 'lse', 'float32', ctx);
  const dy = input(ins, 'dy', 'float32', ctx);
  const { rows, V } = xentGeometry(logits, targets, ctx);
  if (size(lse.shape) !== rows) throw new Error(`${ctx}: lse must have ${rows} elements, got [${lse.shape}]`);
  if (size(dy.shape) !== 1) throw new Error(`${ctx}: dy must be a scalar, got [${dy.shape}]`);
  const k = kernelsOrThrow(ctx);
  const dx = b.makeOutput(logits.shape, 'float32');
  if (rows > 0) {
    k.xent_bwd(offsetOf(b, logits, ctx), offsetOf(b, targets, ctx), offsetOf(b, lse, ctx), offsetOf(b, dy, ctx), rows, V, offsetOf(b, dx, ctx));
  }
  return dx;
};

const ADAMW_ENTRY_INTS = 7;

/**
 * Inputs p{i}, g{i}, m{i}, v{i} for i < count; attrs: decay (0/1 per entry) and
 * the float32 constants. Updates every m{i}, v{i} IN PLACE (the op made sure no
 * other tensor shares their buffers) and returns the new parameters in fresh
 * buffers: tfjs-wasm's XNNPACK caches packed matmul weights by buffer id, so a
 * weight changed in place would be read stale by the next forward pass.
 */
const adamwKernel: Kfn = ({ inputs, backend, attrs }: Args) => {
  const ctx = `${TRAIN_KERNEL_NAMES.adamw} on wasm`;
  const b = wasmOf(backend, ctx);
  const ins = inputs as Record<string, TensorInfo>;
  const a = attrs as Record<string, number | number[]>;
  const count = a['count'] as number;
  const decay = a['decay'] as number[];
  const entries: TensorInfo[][] = [];
  for (let i = 0; i < count; i++) {
    const e = ['p', 'g', 'm', 'v'].map((s) => input(ins, `${s}${i}`, 'float32', ctx));
    const n = size(e[0]!.shape);
    if (e.some((t) => size(t.shape) !== n)) throw new Error(`${ctx}: entry ${i}: p, g, m, v sizes differ`);
    entries.push(e);
  }
  const k = kernelsOrThrow(ctx);
  const outs = entries.map(([p]) => b.makeOutput(p!.shape, 'float32'));
  const table = b.makeOutput([Math.max(1, count * ADAMW_ENTRY_INTS)], 'int32');
  try {
    // A view only after every allocation (malloc may grow the heap).
    const t = new Int32Array(b.wasm.HEAPU8.buffer, offsetOf(b, table, ctx), count * ADAMW_ENTRY_INTS);
    entries.forEach(([p, g, m, v], i) => {
      const o = i * ADAMW_ENTRY_INTS;
      t[o] = offsetOf(b, p!, ctx);
      t[o + 1] = offsetOf(b, outs[i]!, ctx);
      t[o + 2] = offsetOf(b, g!, ctx);
      t[o + 3] = offsetOf(b, m!, ctx);
      t[o + 4] = offsetOf(b, v!, ctx);
      t[o + 5] = size(p!.shape);
      t[o + 6] = decay[i] ? 1 : 0;
    });
    k.adamw_multi(offsetOf(b, table, ctx), count, a['b1'] as number, a['omb1'] as number, a['b2'] as number, a['omb2'] as number,
      a['c1'] as number, a['c2'] as number, a['eps'] as number, a['lr'] as number, a['keep'] as number, a['gscale'] as number);
  } finally {
    b.disposeData(table.dataId, true);
  }
  return outs;
};

const KERNELS: [string, Kfn][] = [
  [TRAIN_KERNEL_NAMES.gelu, geluKernel],
  [TRAIN_KERNEL_NAMES.geluGrad, geluGradKernel],
  [TRAIN_KERNEL_NAMES.biasGelu, biasGeluKernel],
  [TRAIN_KERNEL_NAMES.biasGeluGrad, biasGeluGradKernel],
  [TRAIN_KERNEL_NAMES.crossEntropy, xentKernel],
  [TRAIN_KERNEL_NAMES.crossEntropyGrad, xentGradKernel],
  [TRAIN_KERNEL_NAMES.adamw, adamwKernel],
];

type Save = (tensors: Tensor[]) => void;
type GradResult = { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] };

function customGrad1(f: (x: Tensor, save: Save) => GradResult): (x: Tensor) => Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: Tensor) => Tensor;
}

function runKernel(name: string, inputs: Record<string, Tensor>, attrs: Record<string, unknown> = {}): Tensor[] {
  const out = tf.engine().runKernel(name, inputs, attrs as never) as Tensor | Tensor[];
  return Array.isArray(out) ? out : [out];
}

// ---------------------------------------------------------------------------
// GELU.

const GELU_C = Math.sqrt(2 / Math.PI);

/** The composed GELU (stock tfjs ops), tanh form: what nn/mlp.ts has always computed. */
export function composedGelu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), GELU_C)))));
}

/** The composed exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
export function composedGeluExact(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/**
 * GELU with one kernel forward and one backward (dx from x and dy) on wasm +
 * SIMD; the composed tfjs ops elsewhere. form 'tanh' (default) or 'exact'.
 */
export function geluOp(x: Tensor, form: GeluForm = 'tanh', impl: KernelImpl = 'auto'): Tensor {
  if (form !== 'tanh' && form !== 'exact') throw new Error(`geluOp: unknown form '${String(form)}' (tanh or exact)`);
  const composed = form === 'tanh' ? composedGelu : composedGeluExact;
  if (x.dtype !== 'float32') {
    if (impl === 'fused') throw new Error(`geluOp: impl 'fused' needs float32 input, got ${x.dtype}`);
    return composed(x);
  }
  if (!useFused('geluOp', impl)) return composed(x);
  const op = customGrad1((x, save) => {
    const [y] = runKernel(TRAIN_KERNEL_NAMES.gelu, { x }, { form });
    save([x]);
    return { value: y!, gradFunc: (dy, [sx]) => runKernel(TRAIN_KERNEL_NAMES.geluGrad, { x: sx!, dy }, { form }) };
  });
  return op(x);
}

/**
 * gelu(x + bias) for x [rows, C] (a Linear's product before its bias) and bias
 * [C]: on wasm + SIMD one kernel forward and one backward giving dx and dbias
 * (the bias add and its gradient's column sum fold into the GELU kernels);
 * elsewhere gelu(tf.add(x, bias)) composed.
 */
export function biasGeluOp(x: Tensor, bias: Tensor, form: GeluForm = 'tanh', impl: KernelImpl = 'auto'): Tensor {
  if (form !== 'tanh' && form !== 'exact') throw new Error(`biasGeluOp: unknown form '${String(form)}' (tanh or exact)`);
  const composed = (): Tensor => tf.tidy(() => (form === 'tanh' ? composedGelu : composedGeluExact)(tf.add(x, bias)));
  const fits = x.dtype === 'float32' && bias.dtype === 'float32' && x.rank === 2 && bias.size === x.shape[1];
  if (!fits) {
    if (impl === 'fused') throw new Error(`biasGeluOp: impl 'fused' needs float32 x [rows, C] and bias [C] (got [${x.shape}], [${bias.shape}])`);
    return composed();
  }
  if (!useFused('biasGeluOp', impl)) return composed();
  const op = tf.customGrad(((x: Tensor, bias: Tensor, save: Save) => {
    const [y] = runKernel(TRAIN_KERNEL_NAMES.biasGelu, { x, bias }, { form });
    save([x, bias]);
    return { value: y!, gradFunc: (dy: Tensor, [sx, sb]: Tensor[]) => runKernel(TRAIN_KERNEL_NAMES.biasGeluGrad, { x: sx!, bias: sb!, dy }, { form }) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: Tensor, bias: Tensor) => Tensor;
  return op(x, bias);
}

/** Whether the training ops take their fused path under 'auto' now (wasm + SIMD, not switched to composed). */
export function trainOpsFused(): boolean {
  return defaultImpl !== 'composed' && trainOpsUnavailable() === undefined;
}

// ---------------------------------------------------------------------------
// Cross-entropy.

/** The composed mean cross-entropy (log-softmax, one-hot, mean): what train/tasks.ts has always computed. */
export function composedCrossEntropy(logits: Tensor, targets: Tensor): Scalar {
  return tf.tidy(() => {
    const V = logits.shape[logits.rank - 1]!;
    const lp = tf.logSoftmax(logits.reshape([-1, V]));
    const oh = tf.oneHot(targets.reshape([-1]).toInt(), V);
    return tf.neg(tf.mean(tf.sum(tf.mul(lp, oh), 1))) as Scalar;
  });
}

/**
 * Mean cross-entropy of logits [..., V] against integer targets [...] (one per
 * row): a target outside [0, V) adds 0 to the sum but counts in the mean, as
 * with tf.oneHot. Fused on wasm + SIMD: forward one kernel (a stable
 * log-sum-exp per row, saved), backward one kernel ((softmax - onehot) * dy / N).
 */
export function crossEntropyOp(logits: Tensor, targets: Tensor, impl: KernelImpl = 'auto'): Scalar {
  const V = logits.rank >= 1 ? logits.shape[logits.rank - 1]! : 0;
  const fits = logits.dtype === 'float32' && logits.rank >= 1 && V > 0 && targets.size * V === logits.size && logits.size > 0;
  if (!fits) {
    if (impl === 'fused') throw new Error(`crossEntropyOp: impl 'fused' needs float32 logits [..., V] with one target per row (logits [${logits.shape}], targets [${targets.shape}])`);
    return composedCrossEntropy(logits, targets);
  }
  if (!useFused('crossEntropyOp', impl)) return composedCrossEntropy(logits, targets);
  return tf.tidy(() => {
    const t = targets.dtype === 'int32' ? targets : targets.toInt();
    const op = customGrad1((logits, save) => {
      const [loss, lse] = runKernel(TRAIN_KERNEL_NAMES.crossEntropy, { logits, targets: t });
      save([logits, t, lse!]);
      return {
        value: loss!,
        gradFunc: (dy, [sl, st, slse]) =>
          runKernel(TRAIN_KERNEL_NAMES.crossEntropyGrad, { logits: sl!, targets: st!, lse: slse!, dy }),
      };
    });
    return op(logits) as Scalar;
  });
}

// ---------------------------------------------------------------------------
// AdamW.

export interface AdamWEntry {
  param: Variable;
  grad: Tensor;
  m: Variable;
  v: Variable;
  /** Decoupled weight decay applies to this parameter. */
  decay: boolean;
}

export interface AdamWStep {
  beta1: number;
  beta2: number;
  eps: number;
  lr: number;
  weightDecay: number;
  /** The step number after this update (1 for the first); bias correction uses it. */
  step: number;
  /** Gradients are multiplied by this first (e.g. a clipping factor); default 1. */
  gradScale?: number;
}

/** The composed AdamW update (about ten tfjs ops per parameter): what train/adamw.ts has always run. */
export function composedAdamW(entries: readonly AdamWEntry[], s: AdamWStep): void {
  const { beta1: b1, beta2: b2, eps, lr, weightDecay } = s;
  const c1 = 1 - Math.pow(b1, s.step), c2 = 1 - Math.pow(b2, s.step);
  const scale = s.gradScale ?? 1;
  tf.tidy(() => {
    for (const { param, grad, m, v, decay } of entries) {
      const g = scale === 1 ? grad : tf.mul(grad, scale);
      m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
      v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
      const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
      const decayed = weightDecay > 0 && decay ? tf.mul(param, 1 - lr * weightDecay) : param;
      param.assign(tf.sub(decayed, tf.mul(update, lr)));
    }
  });
}

/**
 * Gives `v` a buffer no other tensor shares (a copy, assigned), so a kernel may
 * write it in place; a no-op when it already owns its buffer.
 */
function ownBuffer(b: WasmBackendLike, v: Variable): void {
  const d = b.dataIdMap.get(v.dataId);
  if (d === undefined) throw new Error(`AdamW: variable ${v.name} is not on the wasm heap`);
  if (d.refCount === 1) return;
  const bytes = v.size * 4;
  const copy = b.makeOutput(v.shape, 'float32');
  const src = b.dataIdMap.get(v.dataId)!.memoryOffset;
  const dst = b.dataIdMap.get(copy.dataId)!.memoryOffset;
  b.wasm.HEAPU8.copyWithin(dst, src, src + bytes);
  const t = tf.engine().makeTensorFromTensorInfo(copy, b as never);
  v.assign(t);
  t.dispose();
}

/**
 * Whether the fused AdamW can take these entries: float32 everywhere, matching
 * sizes, and no tensor in two entries (a tied parameter listed twice is
 * updated twice in sequence by the composed path; the kernel reads every old
 * value first).
 */
function adamwFits(entries: readonly AdamWEntry[]): boolean {
  const distinct = new Set(entries.flatMap((e) => [e.param, e.m, e.v]));
  if (distinct.size !== 3 * entries.length) return false;
  return entries.every(({ param, grad, m, v }) =>
    param.dtype === 'float32' && grad.dtype === 'float32' && m.dtype === 'float32' && v.dtype === 'float32' &&
    grad.size === param.size && m.size === param.size && v.size === param.size &&
    tf.util.arraysEqual(m.shape, param.shape) && tf.util.arraysEqual(v.shape, param.shape));
}

/**
 * One AdamW update of every entry: m, v, bias correction, decoupled weight
 * decay (entries with decay), the parameter. Fused: one kernel call over a
 * table of all entries, m and v updated in place, each parameter assigned a
 * fresh buffer; the same float32 operations in the same order as the composed
 * path, so both give the same numbers.
 */
export function adamwUpdate(entries: readonly AdamWEntry[], s: AdamWStep, impl: KernelImpl = 'auto'): void {
  if (entries.length === 0) return;
  if (!adamwFits(entries)) {
    if (impl === 'fused') throw new Error(`adamwUpdate: impl 'fused' needs float32 parameters, gradients and moments of matching shapes`);
    composedAdamW(entries, s);
    return;
  }
  if (!useFused('adamwUpdate', impl)) {
    composedAdamW(entries, s);
    return;
  }
  const b = wasmOf(tf.backend(), 'adamwUpdate');
  const live = entries.filter((e) => e.param.size > 0);
  for (const e of live) {
    ownBuffer(b, e.m);
    ownBuffer(b, e.v);
  }
  const { beta1: b1, beta2: b2, eps, lr, weightDecay } = s;
  const inputs: Record<string, Tensor> = {};
  live.forEach((e, i) => {
    inputs[`p${i}`] = e.param;
    inputs[`g${i}`] = e.grad;
    inputs[`m${i}`] = e.m;
    inputs[`v${i}`] = e.v;
  });
  const attrs = {
    count: live.length,
    decay: live.map((e) => (weightDecay > 0 && e.decay ? 1 : 0)),
    // The scalars the composed ops would make into float32 tensors (the kernel's f32 arguments round them the same way).
    b1, omb1: 1 - b1, b2, omb2: 1 - b2,
    c1: 1 - Math.pow(b1, s.step), c2: 1 - Math.pow(b2, s.step),
    eps, lr, keep: 1 - lr * weightDecay, gscale: s.gradScale ?? 1,
  };
  const outs = runKernel(TRAIN_KERNEL_NAMES.adamw, inputs, attrs);
  live.forEach((e, i) => e.param.assign(outs[i]!));
  tf.dispose(outs);
}

// ---------------------------------------------------------------------------
// Sum of squares over many tensors.

/** The composed sum of squares (one tfjs reduction per tensor, added in float32). */
export function composedSumOfSquares(tensors: readonly Tensor[]): number {
  if (tensors.length === 0) return 0;
  const sq = tf.tidy(() => tf.addN(tensors.map((g) => tf.sum(tf.square(g)))));
  const v = sq.dataSync()[0]!;
  sq.dispose();
  return v;
}

/**
 * sum over every tensor of sum(x^2): fused, one kernel call over all of them
 * (float64 accumulation across blocks and tensors); composed, tfjs reductions.
 */
export function sumOfSquares(tensors: readonly Tensor[], impl: KernelImpl = 'auto'): number {
  const fits = tensors.every((t) => t.dtype === 'float32');
  if (!fits) {
    if (impl === 'fused') throw new Error(`sumOfSquares: impl 'fused' needs float32 tensors`);
    return composedSumOfSquares(tensors);
  }
  if (tensors.length === 0 || !useFused('sumOfSquares', impl)) return composedSumOfSquares(tensors);
  const b = wasmOf(tf.backend(), 'sumOfSquares');
  const k = kernelsOrThrow('sumOfSquares');
  const live = tensors.filter((t) => t.size > 0);
  const table = b.makeOutput([Math.max(1, 2 * live.length)], 'int32');
  const out = b.makeOutput([2], 'float32');
  try {
    const tOff = offsetOf(b, table, 'sumOfSquares');
    const view = new Int32Array(b.wasm.HEAPU8.buffer, tOff, 2 * live.length);
    live.forEach((t, i) => {
      view[2 * i] = offsetOf(b, t, 'sumOfSquares');
      view[2 * i + 1] = t.size;
    });
    const oOff = offsetOf(b, out, 'sumOfSquares');
    k.sumsq_multi(tOff, live.length, oOff);
    return new DataView(b.wasm.HEAPU8.buffer).getFloat64(oOff, true);
  } finally {
    b.disposeData(table.dataId, true);
    b.disposeData(out.dataId, true);
  }
}
