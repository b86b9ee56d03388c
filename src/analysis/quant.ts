// Post-training quantization (PTQ) by fake quantization: every Linear's input
// X [N, in] and weight W [in, out] are rounded to a format and back to float32,
// and the product runs in float32. Methods:
//   int8_tensor  absmax int8, one scale for X and one for W
//   int8_vector  vector-wise int8: one scale per row of X, one per column of W (LLM.int8)
//   int8_mixed   int8_vector plus LLM.int8's mixed-precision decomposition: the
//                columns of X holding any |x| >= outlierThreshold (default 6),
//                and the matching rows of W, stay in fp16; the rest is int8_vector
//                (row/column scales computed without the outlier columns/rows)
//   fp8_e4m3, fp8_e5m2  per-tensor scaling: s = absmax / the format's max, x -> s * round(x / s)
//   bf16, fp16   X and W rounded; the output too (a 16-bit model stores its
//                activations in 16 bits); overflows counted for X, W and Y
//   fp32         nothing rounded (the reference)
// Bias adds stay float32. The LM's tied head (a plain matmul with the
// embedding) is not a Linear and stays float32.
//
// quantizedProduct is the pure array version (float64 accumulation);
// withQuantizedLinears runs any code (an evaluation, a forward pass) with
// every Linear quantized through a Linear override of the forward context; evaluatePtq and
// layerSqnr measure the loss/accuracy change and the per-layer signal-to-
// quantization-noise ratio.
import { z } from 'zod';
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { fakeQuantInt8Array, roundFloatArray, type RoundStats } from '../engine/precision.js';
import { roundScaledArray } from '../engine/scaled-cast.js';
import { withLinearOverride, type LinearLike as Linear, type LinearNext } from '../hooks/context.js';
import type { HookedModel } from '../models/types.js';
import type { Evaluator } from './eval-windows.js';
import { parseWith } from '../util/schema.js';
import type { Matrix } from './outliers.js';

export const QUANT_METHODS = ['fp32', 'int8_tensor', 'int8_vector', 'int8_mixed', 'fp8_e4m3', 'fp8_e5m2', 'bf16', 'fp16'] as const;
export type QuantMethod = (typeof QUANT_METHODS)[number];

export interface QuantOptions {
  /** int8_mixed: a column of X is an outlier column when some |x| >= this. Default 6 (LLM.int8). */
  outlierThreshold?: number;
  /** Which Linears (by module path, e.g. 'blocks.0.attn.qkv') to quantize; default all. */
  layers?: RegExp | ((name: string) => boolean);
}

const methodSchema = z.enum(QUANT_METHODS);
const optsSchema = z.object({
  outlierThreshold: z.number().finite({ message: 'must be a finite number' }).positive({ message: 'must be > 0' }).optional(),
  layers: z.union([z.instanceof(RegExp), z.function()]).optional(),
}).strict();

function checkMethod(method: unknown, label: string): QuantMethod {
  return parseWith(z.object({ method: methodSchema }), { method }, label).method;
}

/** Overflow/underflow counts per operand (see engine/precision.ts for the definitions). */
export interface OperandCounts { x: RoundStats; w: RoundStats; y: RoundStats }

function newCounts(): OperandCounts {
  return { x: { overflow: 0, underflow: 0 }, w: { overflow: 0, underflow: 0 }, y: { overflow: 0, underflow: 0 } };
}

/** The columns j of X [n, k] with some |x[i, j]| >= threshold (LLM.int8's outlier feature dimensions for one input). */
export function outlierColumns(x: Float32Array, n: number, k: number, threshold: number): number[] {
  const cols: number[] = [];
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < n; i++) {
      if (Math.abs(x[i * k + j]!) >= threshold) { cols.push(j); break; }
    }
  }
  return cols;
}

/** W [k, m] rounded for a method whose weight rounding does not depend on X (every method but int8_mixed). */
function quantizeWeight(w: Float32Array, k: number, m: number, method: Exclude<QuantMethod, 'int8_mixed'>, counts: OperandCounts): Float32Array {
  switch (method) {
    case 'fp32': return w;
    case 'int8_tensor': return fakeQuantInt8Array(w, [k, m], 'tensor');
    case 'int8_vector': return fakeQuantInt8Array(w, [k, m], 'col');
    case 'fp8_e4m3': case 'fp8_e5m2': return roundScaledArray(w, method, counts.w).out;
    case 'bf16': case 'fp16': return roundFloatArray(w, method, undefined, counts.w);
  }
}

function quantizeInput(x: Float32Array, n: number, k: number, method: Exclude<QuantMethod, 'int8_mixed'>, counts: OperandCounts): Float32Array {
  switch (method) {
    case 'fp32': return x;
    case 'int8_tensor': return fakeQuantInt8Array(x, [n, k], 'tensor');
    case 'int8_vector': return fakeQuantInt8Array(x, [n, k], 'row');
    case 'fp8_e4m3': case 'fp8_e5m2': return roundScaledArray(x, method, counts.x).out;
    case 'bf16': case 'fp16': return roundFloatArray(x, method, undefined, counts.x);
  }
}

/**
 * LLM.int8's decomposition as one pair of fake-quantized operands: X's outlier
 * columns and W's matching rows rounded to fp16, everything else vector-wise
 * int8 with scales computed over the non-outlier part. Then X' W' equals
 * fp16(X_O) fp16(W_O) + int8(X_R) int8(W_R), the two products of the method.
 */
function quantizeMixed(x: Float32Array, n: number, k: number, w: Float32Array, m: number, cols: readonly number[],
  counts: OperandCounts): { x: Float32Array; w: Float32Array } {
  const xr = Float32Array.from(x), wr = Float32Array.from(w);
  for (const j of cols) {
    for (let i = 0; i < n; i++) xr[i * k + j] = 0;
    wr.fill(0, j * m, (j + 1) * m);
  }
  const xq = fakeQuantInt8Array(xr, [n, k], 'row');
  const wq = fakeQuantInt8Array(wr, [k, m], 'col');
  if (cols.length) {
    const colVals = new Float32Array(n);
    for (const j of cols) {
      for (let i = 0; i < n; i++) colVals[i] = x[i * k + j]!;
      roundFloatArray(colVals, 'fp16', colVals, counts.x);
      for (let i = 0; i < n; i++) xq[i * k + j] = colVals[i]!;
      wq.set(roundFloatArray(w.subarray(j * m, (j + 1) * m), 'fp16', undefined, counts.w), j * m);
    }
  }
  return { x: xq, w: wq };
}

export interface QuantizedOperands {
  x: Float32Array;
  w: Float32Array;
  /** int8_mixed: the outlier columns kept in fp16 (empty for the other methods). */
  outlierColumns: number[];
}

/** Fake-quantized X [n, k] and W [k, m] for one method (pure; the inputs are not modified). */
export function quantizeOperands(x: Matrix, w: Matrix, method: QuantMethod, opts: QuantOptions = {}, counts: OperandCounts = newCounts()): QuantizedOperands {
  method = checkMethod(method, 'quantizeOperands');
  const o = parseWith(optsSchema, opts, 'quantizeOperands options');
  const [n, k] = x.shape, [k2, m] = w.shape;
  if (k !== k2) throw new Error(`quantizeOperands: X is [${n}, ${k}] but W is [${k2}, ${m}]; inner dimensions differ`);
  if (x.data.length !== n * k || w.data.length !== k2 * m) throw new Error('quantizeOperands: a shape does not match its data length');
  if (method === 'int8_mixed') {
    const cols = outlierColumns(x.data, n, k, o.outlierThreshold ?? 6);
    return { ...quantizeMixed(x.data, n, k, w.data, m, cols, counts), outlierColumns: cols };
  }
  return { x: quantizeInput(x.data, n, k, method, counts), w: quantizeWeight(w.data, k, m, method, counts), outlierColumns: [] };
}

export interface QuantizedProduct {
  y: Matrix;
  counts: OperandCounts;
  outlierColumns: number[];
}

/** Q(X) Q(W) (+ output rounding for bf16/fp16), accumulated in float64 and stored as float32. The reference for the tensor path. */
export function quantizedProduct(x: Matrix, w: Matrix, method: QuantMethod, opts: QuantOptions = {}): QuantizedProduct {
  const counts = newCounts();
  const q = quantizeOperands(x, w, method, opts, counts);
  const [n, k] = x.shape, m = w.shape[1];
  const y = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += q.x[i * k + t]! * q.w[t * m + j]!;
      y[i * m + j] = s;
    }
  }
  if (method === 'bf16' || method === 'fp16') roundFloatArray(y, method, y, counts.y);
  return { y: { data: y, shape: [n, m] }, counts, outlierColumns: q.outlierColumns };
}

// ---------------------------------------------------------------------------
// Quantizing a model's Linears

export interface LayerQuantStats {
  /** Module path of the Linear. */
  layer: string;
  calls: number;
  counts: OperandCounts;
  /** int8_mixed: outlier columns per call, summed (divide by calls for the mean). */
  outlierColumns: number;
  /** With measure: sum over calls of y_ref^2 and of (y_q - y_ref)^2, y_ref the float32 product of the same input. */
  signal: number;
  noise: number;
}

interface SessionOptions extends QuantOptions {
  /** Also compute each layer's float32 product of the same input (for the local SQNR). */
  measure?: boolean;
  /** Keep every layer's output values (for comparisons between whole forward passes). */
  capture?: boolean;
}

class QuantSession {
  readonly stats = new Map<string, LayerQuantStats>();
  readonly captured = new Map<string, Float32Array[]>();
  private readonly weights = new Map<Linear, Tensor>();
  private readonly select: (name: string) => boolean;

  constructor(readonly method: QuantMethod, private readonly opts: SessionOptions) {
    const l = opts.layers;
    this.select = l === undefined ? () => true : l instanceof RegExp ? (n) => l.test(n) : l;
  }

  private statsOf(layer: string): LayerQuantStats {
    let s = this.stats.get(layer);
    if (!s) this.stats.set(layer, (s = { layer, calls: 0, counts: newCounts(), outlierColumns: 0, signal: 0, noise: 0 }));
    return s;
  }

  /**
   * The Linear override: quantized affine map of one layer (a terminal override: it computes
   * the product from x2 and its own quantized copy of layer.weight). Layers it leaves alone
   * go on down the chain.
   */
  readonly override = (layer: Linear, x2: Tensor, weight: Tensor, next: LinearNext): Tensor => {
    if (this.method === 'fp32' && !this.opts.measure && !this.opts.capture) return next(x2, weight);
    if (!this.select(layer.path)) return next(x2, weight);
    const st = this.statsOf(layer.path);
    st.calls++;
    const [n, k] = x2.shape as [number, number];
    const m = layer.outFeatures;
    const xd = x2.dataSync() as Float32Array;
    let xq: Tensor, wq: Tensor;
    if (this.method === 'int8_mixed') {
      const cols = outlierColumns(xd, n, k, this.opts.outlierThreshold ?? 6);
      st.outlierColumns += cols.length;
      const q = quantizeMixed(xd, n, k, layer.weight.dataSync() as Float32Array, m, cols, st.counts);
      xq = tf.tensor(q.x, [n, k], 'float32');
      wq = tf.tensor(q.w, [k, m], 'float32');
    } else {
      xq = this.method === 'fp32' ? x2 : tf.tensor(quantizeInput(xd, n, k, this.method, st.counts), [n, k], 'float32');
      wq = this.weightOf(layer, st);
    }
    let y = layer.affine(xq, wq);
    if (this.method === 'bf16' || this.method === 'fp16') {
      y = tf.tensor(roundFloatArray(y.dataSync() as Float32Array, this.method, undefined, st.counts.y), y.shape, 'float32');
    }
    if (this.opts.measure || this.opts.capture) {
      const yq = y.dataSync() as Float32Array;
      if (this.opts.capture) {
        let list = this.captured.get(layer.path);
        if (!list) this.captured.set(layer.path, (list = []));
        list.push(Float32Array.from(yq));
      }
      if (this.opts.measure) {
        const ref = layer.affine(x2);
        const yr = ref.dataSync();
        ref.dispose();
        for (let i = 0; i < yr.length; i++) {
          const e = yq[i]! - yr[i]!;
          st.signal += yr[i]! * yr[i]!;
          st.noise += e * e;
        }
      }
    }
    return y;
  };

  /** Quantized weights are computed once per layer (they do not depend on X) and kept until dispose. */
  private weightOf(layer: Linear, st: LayerQuantStats): Tensor {
    if (this.method === 'fp32') return layer.weight;
    let w = this.weights.get(layer);
    if (!w) {
      const [k, m] = layer.weight.shape as [number, number];
      const q = quantizeWeight(layer.weight.dataSync() as Float32Array, k, m, this.method as Exclude<QuantMethod, 'int8_mixed'>, st.counts);
      w = tf.keep(tf.tensor(q, [k, m], 'float32'));
      this.weights.set(layer, w);
    }
    return w;
  }

  dispose(): void {
    for (const w of this.weights.values()) w.dispose();
    this.weights.clear();
  }
}

export interface QuantizedRun<T> {
  result: T;
  /** Per quantized Linear, in the order they were first called. */
  layers: LayerQuantStats[];
}

/** Run `f` (synchronous: a forward pass, task.evaluate(model)) with every selected Linear fake-quantized by `method`. */
export function withQuantizedLinears<T>(method: QuantMethod, f: () => T, opts: QuantOptions & { measure?: boolean } = {}): QuantizedRun<T> {
  method = checkMethod(method, 'withQuantizedLinears');
  const { measure, ...rest } = opts;
  parseWith(optsSchema, rest, 'withQuantizedLinears options');
  const s = new QuantSession(method, { ...rest, ...(measure ? { measure } : {}) });
  try {
    const result = withLinearOverride(s.override, f);
    return { result, layers: [...s.stats.values()] };
  } finally {
    s.dispose();
  }
}

function sumCounts(layers: readonly LayerQuantStats[]): OperandCounts {
  const c = newCounts();
  for (const l of layers) {
    for (const k of ['x', 'w', 'y'] as const) {
      c[k].overflow += l.counts[k].overflow;
      c[k].underflow += l.counts[k].underflow;
    }
  }
  return c;
}

export interface PtqRow {
  method: QuantMethod;
  /** The task's metrics with the Linears quantized (e.g. val/loss, val/accuracy). */
  metrics: Record<string, number>;
  /** metrics minus the float32 baseline's, per metric. */
  delta: Record<string, number>;
  /** Overflows/underflows summed over layers and calls. */
  counts: OperandCounts;
  /** int8_mixed: mean outlier columns per Linear call (0 otherwise). */
  meanOutlierColumns: number;
}

export interface PtqResult {
  /** The float32 metrics. */
  baseline: Record<string, number>;
  rows: PtqRow[];
}

/**
 * The task's evaluation of `model` in float32 and with each PTQ method (default: every method but fp32).
 * `task` is a lab Task, or any evaluator of the model (windowsTask over id windows, snapshotTask for a loaded checkpoint).
 */
export function evaluatePtq<M extends HookedModel>(model: M, task: Evaluator<M>, opts: QuantOptions & { methods?: readonly QuantMethod[] } = {}): PtqResult {
  const { methods = QUANT_METHODS.filter((m) => m !== 'fp32'), ...qopts } = opts;
  methods.forEach((m, i) => checkMethod(m, `evaluatePtq: methods[${i}]`));
  const baseline = task.evaluate(model);
  const rows = methods.map((method): PtqRow => {
    const { result, layers } = withQuantizedLinears(method, () => task.evaluate(model), qopts);
    const delta = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v - (baseline[k] ?? NaN)]));
    const calls = layers.reduce((a, l) => a + l.calls, 0);
    return {
      method, metrics: result, delta, counts: sumCounts(layers),
      meanOutlierColumns: calls ? layers.reduce((a, l) => a + l.outlierColumns, 0) / calls : 0,
    };
  });
  return { baseline, rows };
}

/** 10 log10(signal / noise) in dB; Infinity when there is no noise. */
export function sqnrDb(signal: number, noise: number): number {
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

export interface LayerSqnr {
  layer: string;
  /** SQNR of the layer's output against the float32 product of the same (quantized model's) input: this layer's own error. */
  sqnrDb: number;
  /** SQNR of the layer's output against the float32 model's output at the same layer: the error accumulated up to here. */
  sqnrModelDb: number;
  counts: OperandCounts;
  outlierColumns: number;
}

/** Per-layer SQNR of one method on one input (one forward pass each, float32 and quantized). */
export function layerSqnr(model: HookedModel, input: Tensor, method: QuantMethod, opts: QuantOptions = {}): LayerSqnr[] {
  method = checkMethod(method, 'layerSqnr');
  parseWith(optsSchema, opts, 'layerSqnr options');
  const forward = (s: QuantSession) => {
    try {
      withLinearOverride(s.override, () => tf.dispose(model.apply(input)));
    } finally {
      s.dispose();
    }
  };
  const ref = new QuantSession('fp32', { ...opts, capture: true });
  forward(ref);
  const q = new QuantSession(method, { ...opts, capture: true, measure: true });
  forward(q);
  return [...q.stats.values()].map((st) => {
    const a = q.captured.get(st.layer)!, b = ref.captured.get(st.layer)!;
    let signal = 0, noise = 0;
    a.forEach((ya, c) => {
      const yb = b[c]!;
      for (let i = 0; i < yb.length; i++) {
        const e = ya[i]! - yb[i]!;
        signal += yb[i]! * yb[i]!;
        noise += e * e;
      }
    });
    return { layer: st.layer, sqnrDb: sqnrDb(st.signal, st.noise), sqnrModelDb: sqnrDb(signal, noise), counts: st.counts, outlierColumns: st.outlierColumns };
  });
}
