// What the trainer records every traceEvery steps, beside the metrics:
// - per norm layer, on the fixed probe input: alpha, the std of its input, and
//   for squash norms (DyT and its family) the saturation (extra.saturation);
// - per norm layer and per block, the L2 norm of its parameters' gradients on
//   that step's batch, before clipping (metrics train/grad_norm/<name>).
// Everything here only reads tensors: no RNG draw, no change to the step.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { isSquashShape, SQUASH, type SquashShape } from '../engine/squash-shapes.js';
import { runWithCache } from '../hooks/hooks.js';
import type { HookedModel } from '../models/types.js';
import type { TraceRow } from './sink.js';

/** Saturated where f'(u) < SATURATION_SLOPE * f'(0): for tanh, |u| > 2.0034 (tanh'(2) = 0.0707). */
export const SATURATION_SLOPE = 0.07;

/**
 * Share of the elements of x (channels last, `dim` of them) whose squash input
 * u = alpha * x + shift lies in the shape's flat part: f'(u) < SATURATION_SLOPE * f'(0).
 * alpha and shift: one value, or one per channel. The identity never saturates.
 */
export function squashSaturation(x: ArrayLike<number>, dim: number, shape: SquashShape, alpha: ArrayLike<number> = [1], shift: ArrayLike<number> = [0]): number {
  if (x.length === 0) return 0;
  const df = SQUASH[shape].df64, limit = SATURATION_SLOPE * df(0);
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const c = i % dim;
    const u = alpha[alpha.length === 1 ? 0 : c]! * x[i]! + shift[shift.length === 1 ? 0 : c]!;
    if (df(u) < limit) n++;
  }
  return n / x.length;
}

/** alpha, the std of its input and (squash norms) the saturation of every norm layer, on the probe. */
export function tracesOf(model: HookedModel, probe: Tensor): TraceRow[] {
  const norms = model.normLayers();
  const { cache, dispose } = runWithCache(model, probe, norms.map((n) => `${n.name}.in`));
  try {
    return norms.map(({ name, layer }) => {
      const x = cache[`${name}.in`]!;
      const std = tf.tidy(() => tf.sqrt(tf.moments(x).variance).dataSync()[0]!);
      const params = layer.namedParameters();
      const a = params.find((p) => p.name === 'alpha')?.variable.dataSync();
      const row: TraceRow = { layer: name, alpha: a ? (a.length === 1 ? a[0]! : Array.from(a)) : null, inputStd: std };
      const shape = (layer.spec as { squash?: unknown }).squash;
      if (isSquashShape(shape)) {
        const s = params.find((p) => p.name === 'shift')?.variable.dataSync();
        row.extra = { saturation: squashSaturation(x.dataSync(), layer.dim, shape, a ?? [1], s ?? [0]) };
      }
      return row;
    });
  } finally {
    dispose();
  }
}

/** The groups whose gradient norms are traced: every norm layer, then every block (blocks.{i}), of the model's parameters. */
export function gradNormGroups(model: HookedModel): string[] {
  const blocks = new Set<string>();
  for (const p of model.namedParameters()) {
    const m = /^blocks\.\d+(?=\.)/.exec(p.name);
    if (m) blocks.add(m[0]);
  }
  return [...model.normLayers().map((n) => n.name), ...blocks];
}

/**
 * L2 norm of the gradients (by parameter name) of each group's parameters
 * (names under `<group>.`); groups with no gradient are left out. One read back.
 */
export function groupGradNorms(grads: ReadonlyMap<string, Tensor>, groups: readonly string[]): Record<string, number> {
  const members = groups.map((g) => [...grads].filter(([name]) => name.startsWith(`${g}.`)).map(([, t]) => t));
  const present = groups.map((g, i) => [g, members[i]!] as const).filter(([, ts]) => ts.length > 0);
  if (!present.length) return {};
  const sq = tf.tidy(() => tf.stack(present.map(([, ts]) => tf.addN(ts.map((t) => tf.sum(tf.square(t)))))));
  const v = sq.dataSync();
  sq.dispose();
  return Object.fromEntries(present.map(([g], i) => [g, Math.sqrt(v[i]!)]));
}
