// Would a norm layer overflow if it ran in fp16 (max 65504)? LayerNorm and
// RMSNorm reduce each row to a statistic: sum((x - mean)^2) (LayerNorm) or
// sum(x^2) (RMSNorm). With |x| around 256 a single square already exceeds
// fp16's range, and a row of d values overflows an fp16 accumulator once its
// sum of squares passes 65504. DyT has no statistic: it multiplies by alpha
// and squashes, so its output is bounded by |gamma| + |beta|; only alpha * x
// itself could overflow. These counts say where a naive fp16 kernel (no fp32
// accumulation, as mixed-precision frameworks use for norms) would break.
import { roundFp16Array, type RoundStats } from '../engine/precision.js';
import type { Tensor } from '../engine/tf.js';
import { runWithCache } from '../hooks/hooks.js';
import type { HookedModel } from '../models/types.js';
import { toMatrix, type Activation } from './outliers.js';

export const FP16_MAX = 65504;

export type NormStatKind = 'layernorm' | 'rmsnorm' | 'dyt' | 'identity';

export interface Fp16NormStats {
  kind: NormStatKind;
  rows: number;
  features: number;
  /** max |x| of the input. */
  inputMaxAbs: number;
  /** Input values that overflow when stored in fp16 (|x| rounds above 65504). */
  inputOverflow: number;
  /** LayerNorm/RMSNorm: elements whose square (centred for LayerNorm) overflows fp16. 0 for DyT. */
  squareOverflow: number;
  /** LayerNorm/RMSNorm: rows whose sum of squares exceeds 65504 (an fp16 accumulator would overflow). */
  sumSqOverflowRows: number;
  /** LayerNorm/RMSNorm: rows whose mean square (the variance itself) exceeds 65504. */
  varianceOverflowRows: number;
  /** DyT: elements where alpha * x overflows fp16. 0 for the other kinds. */
  argOverflow: number;
  /**
   * The largest value the layer's fp16 arithmetic would have to hold: the
   * largest row sum of squares (LayerNorm/RMSNorm), the largest |alpha x| (DyT),
   * max |x| (identity). 65504 / peak is the headroom before overflow.
   */
  peak: number;
}

function overflowCount(values: Float32Array): number {
  const st: RoundStats = { overflow: 0, underflow: 0 };
  roundFp16Array(values, undefined, st);
  return st.overflow;
}

/**
 * fp16 overflow counts of one norm layer's input (a [rows, features]
 * activation; 3-D tensors are flattened). `alpha` (a scalar or one per
 * feature) is needed for 'dyt'.
 */
export function fp16NormStats(input: Activation, kind: NormStatKind, alpha?: number | ArrayLike<number>): Fp16NormStats {
  const { data, shape: [n, d] } = toMatrix(input, 'fp16NormStats');
  if (!['layernorm', 'rmsnorm', 'dyt', 'identity'].includes(kind)) {
    throw new Error(`fp16NormStats: unknown kind '${String(kind)}'; expected layernorm, rmsnorm, dyt or identity`);
  }
  let inputMaxAbs = 0;
  for (let i = 0; i < data.length; i++) inputMaxAbs = Math.max(inputMaxAbs, Math.abs(data[i]!));
  const out: Fp16NormStats = {
    kind, rows: n, features: d, inputMaxAbs, inputOverflow: overflowCount(data),
    squareOverflow: 0, sumSqOverflowRows: 0, varianceOverflowRows: 0, argOverflow: 0, peak: inputMaxAbs,
  };
  if (kind === 'layernorm' || kind === 'rmsnorm') {
    out.peak = 0;
    const sq = new Float32Array(d);
    for (let i = 0; i < n; i++) {
      const row = data.subarray(i * d, (i + 1) * d);
      let mean = 0;
      if (kind === 'layernorm') {
        for (let j = 0; j < d; j++) mean += row[j]!;
        mean /= d;
      }
      let sum = 0;
      for (let j = 0; j < d; j++) {
        const c = row[j]! - mean;
        sq[j] = c * c;
        sum += c * c;
      }
      out.squareOverflow += overflowCount(sq);
      out.peak = Math.max(out.peak, sum);
      if (sum > FP16_MAX) out.sumSqOverflowRows++;
      if (sum / d > FP16_MAX) out.varianceOverflowRows++;
    }
  } else if (kind === 'dyt') {
    if (alpha === undefined) throw new Error("fp16NormStats: kind 'dyt' needs alpha (a number, or one per feature)");
    const a = typeof alpha === 'number' ? null : alpha;
    if (a && a.length !== d && a.length !== 1) throw new Error(`fp16NormStats: alpha has ${a.length} values for ${d} features`);
    const arg = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const al = a ? (a.length === 1 ? a[0]! : a[i % d]!) : (alpha as number);
      arg[i] = al * data[i]!;
    }
    out.peak = 0;
    for (let i = 0; i < arg.length; i++) out.peak = Math.max(out.peak, Math.abs(arg[i]!));
    out.argOverflow = overflowCount(arg);
  }
  return out;
}

export interface NormOverflowRow extends Fp16NormStats {
  /** The norm slot, e.g. 'blocks.2.norm1' or 'final_norm'. */
  layer: string;
  /** max |y| of the layer's float32 output. */
  outputMaxAbs: number;
  /** Output values that overflow fp16. */
  outputOverflow: number;
}

/** fp16 overflow counts of every norm layer of `model` on one input (one forward pass). */
export function normOverflowFp16(model: HookedModel, input: Tensor): NormOverflowRow[] {
  const norms = model.normLayers();
  const r = runWithCache(model, input, norms.flatMap((n) => [`${n.name}.in`, `${n.name}.out`]));
  try {
    return norms.map(({ name, layer }) => {
      const kind = layer.spec.kind as NormStatKind;
      const alphaVar = layer.namedParameters().find((p) => p.name === 'alpha')?.variable;
      const alpha = kind === 'dyt' ? (alphaVar ? Array.from(alphaVar.dataSync()) : 1) : undefined;
      const stats = fp16NormStats(r.cache[`${name}.in`]!, kind, alpha);
      const y = toMatrix(r.cache[`${name}.out`]!, `${name}.out`).data;
      let outputMaxAbs = 0;
      for (let i = 0; i < y.length; i++) outputMaxAbs = Math.max(outputMaxAbs, Math.abs(y[i]!));
      return { layer: name, ...stats, outputMaxAbs, outputOverflow: overflowCount(y) };
    });
  } finally {
    r.dispose();
  }
}
