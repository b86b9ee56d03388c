// The swap test: if a trained LayerNorm layer really acts like a tanh, then
// replacing it by a DyT whose alpha and affine come from that layer's fitted
// curve should cost little, without retraining. For a LayerNorm
//   out = g * n(x) + b,   n(x) ~= a * tanh(beta_fit * x + c) + d   (fitted)
// the DyT  gamma * tanh(alpha * x) + beta  with  alpha = beta_fit, gamma = g * a,
// beta = g * d + b  matches it up to the shift c (DyT has none; its size is reported).
// Baselines: alpha = alpha0 (0.5, the paper's init) and alpha = 1 / std of the
// layer's input, both keeping LayerNorm's own g and b.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import type { HookedModel } from '../models/types.js';
import { convertNorms } from '../models/shared.js';
import type { NormLayer } from '../nn/norms.js';
import type { Task } from '../train/task.js';
import { resolveTrainConfig } from '../train/config.js';
import { trainLoop, type TrainProgress } from '../train/trainer.js';
import type { TrainSink } from '../train/sink.js';
import { fitCurve } from './curvefit.js';
import { normMappings } from './mapping.js';

export interface SwapLayerPlan {
  layer: string;
  alpha: number;
  gamma: Float32Array;
  beta: Float32Array;
  /** For the fitted plan: the tanh fit of the layer's mapping, and the shift c that DyT cannot express. */
  fit?: { a: number; b: number; c: number; d: number; r2: number };
  /** 1 / std of the layer's input on the fitting batch. */
  invStd: number;
}

export type SwapVariant = 'fitted' | 'alpha0' | 'invstd';

function affineOf(layer: NormLayer): { g: Float32Array; b: Float32Array } {
  const p = Object.fromEntries(layer.namedParameters().map((q) => [q.name, q.variable]));
  const g = p.gamma ? Float32Array.from(p.gamma.dataSync()) : new Float32Array(layer.dim).fill(1);
  const b = p.beta ? Float32Array.from(p.beta.dataSync()) : new Float32Array(layer.dim);
  return { g, b };
}

/** Per norm layer of `model`: the DyT parameters of each swap variant, from the layers' mappings on `input`. */
export function planSwaps(model: HookedModel, input: Tensor, opts: { alpha0?: number; maxFitPoints?: number } = {}): Record<SwapVariant, SwapLayerPlan[]> {
  const norms = model.normLayers();
  const notNorm = norms.filter((n) => n.layer.spec.kind !== 'layernorm' && n.layer.spec.kind !== 'rmsnorm');
  if (notNorm.length) throw new Error(`planSwaps: the swap test starts from LayerNorm/RMSNorm layers; ${notNorm.map((n) => `${n.name} is ${n.layer.spec.kind}`).join(', ')}`);
  const maps = normMappings(model, input, { keepFull: true, maxPoints: 1 });
  const out: Record<SwapVariant, SwapLayerPlan[]> = { fitted: [], alpha0: [], invstd: [] };
  for (const m of maps) {
    const layer = norms.find((n) => n.name === m.layer)!.layer;
    const { g, b } = affineOf(layer);
    const { x, y } = m.full!;
    let s = 0, ss = 0;
    for (let i = 0; i < x.length; i++) { s += x[i]!; ss += x[i]! * x[i]!; }
    const std = Math.sqrt(Math.max(ss / x.length - (s / x.length) ** 2, 0));
    const invStd = std > 0 ? 1 / std : 1;
    const step = Math.max(1, Math.ceil(x.length / (opts.maxFitPoints ?? 200_000)));
    const xs = Float32Array.from({ length: Math.ceil(x.length / step) }, (_, i) => x[i * step]!);
    const ys = Float32Array.from({ length: xs.length }, (_, i) => y[i * step]!);
    const f = fitCurve(xs, ys, { shape: 'tanh' });
    // The fit's sign convention is free (a, b) -> (-a, -b); DyT's alpha is taken positive.
    const sign = f.params.b < 0 ? -1 : 1;
    const a = f.params.a * sign, bfit = f.params.b * sign, c = f.params.c * sign;
    out.fitted.push({
      layer: m.layer, alpha: bfit, invStd,
      gamma: g.map((gi) => gi * a), beta: g.map((gi, i) => gi * f.params.d + b[i]!),
      fit: { a, b: bfit, c, d: f.params.d, r2: f.r2 },
    });
    out.alpha0.push({ layer: m.layer, alpha: opts.alpha0 ?? 0.5, invStd, gamma: g.slice(), beta: b.slice() });
    out.invstd.push({ layer: m.layer, alpha: invStd, invStd, gamma: g.slice(), beta: b.slice() });
  }
  return out;
}

/** Replace the model's norms by DyT layers (learnable alpha) carrying the planned parameters. */
export function applySwap(model: HookedModel, plans: SwapLayerPlan[]): string[] {
  const byLayer = new Map(plans.map((p) => [p.layer, p]));
  const missing = model.normLayers().map((n) => n.name).filter((n) => !byLayer.has(n));
  if (missing.length) throw new Error(`applySwap: no plan for norm layer(s) ${missing.join(', ')}`);
  const done = convertNorms(model, { kind: 'dyt', squash: 'tanh', alpha: 'learnable' });
  for (const { name, layer } of model.normLayers()) {
    const p = byLayer.get(name)!;
    const vars = Object.fromEntries(layer.namedParameters().map((q) => [q.name, q.variable]));
    if (p.gamma.length !== layer.dim || p.beta.length !== layer.dim) {
      throw new Error(`applySwap: plan for ${name} has ${p.gamma.length} channels, the layer has ${layer.dim}`);
    }
    tf.tidy(() => {
      vars.alpha!.assign(tf.tensor1d([p.alpha]));
      vars.gamma!.assign(tf.tensor1d(p.gamma));
      vars.beta!.assign(tf.tensor1d(p.beta));
    });
  }
  return done;
}

export interface SwapRow {
  variant: 'layernorm' | SwapVariant;
  stage: 'trained' | 'swapped' | 'fine-tuned';
  /** Fine-tuning steps taken (0 before fine-tuning). */
  steps: number;
  metrics: Record<string, number>;
  status?: string;
}

export interface SwapTestOptions {
  /** Builds a fresh copy of the trained LayerNorm model with its task (e.g. () => loadRunModel(runId)). */
  load: () => Promise<{ model: HookedModel; task: Task; dispose(): void }> | { model: HookedModel; task: Task; dispose(): void };
  variants?: SwapVariant[];
  /** Fine-tuning after the swap: steps (0 = none) and learning rate; batch size from the task. */
  fineTune?: { steps: number; lr: number; batchSize: number; warmupSteps?: number };
  alpha0?: number;
  onProgress?: (what: string, p?: TrainProgress) => void;
}

export interface SwapTestResult {
  rows: SwapRow[];
  plans: Record<SwapVariant, SwapLayerPlan[]>;
}

const nullSink: TrainSink = { logMetrics() {}, logTraces() {}, addCheckpoint() {}, finish() {} };

/** Evaluate the LayerNorm model, each swap without retraining, and each after a short fine-tune. */
export async function swapTest(opts: SwapTestOptions): Promise<SwapTestResult> {
  const variants = opts.variants ?? ['fitted', 'alpha0', 'invstd'];
  const rows: SwapRow[] = [];
  const base = await opts.load();
  let plans: Record<SwapVariant, SwapLayerPlan[]>;
  try {
    opts.onProgress?.('evaluating the LayerNorm model');
    rows.push({ variant: 'layernorm', stage: 'trained', steps: 0, metrics: base.task.evaluate(base.model) });
    const probe = base.task.probe();
    try {
      plans = planSwaps(base.model, probe, { ...(opts.alpha0 !== undefined ? { alpha0: opts.alpha0 } : {}) });
    } finally {
      probe.dispose();
    }
  } finally {
    base.dispose();
  }
  const ft = opts.fineTune;
  // The LayerNorm model gets the same fine-tune as a control: more training on its own helps too.
  for (const v of [...(ft && ft.steps > 0 ? ['layernorm' as const] : []), ...variants]) {
    const run = await opts.load();
    try {
      if (v !== 'layernorm') {
        applySwap(run.model, plans[v]);
        opts.onProgress?.(`evaluating the ${v} swap`);
        rows.push({ variant: v, stage: 'swapped', steps: 0, metrics: run.task.evaluate(run.model) });
      }
      if (ft && ft.steps > 0) {
        const cfg = resolveTrainConfig({
          steps: ft.steps, batchSize: ft.batchSize, lr: ft.lr, warmupSteps: ft.warmupSteps ?? Math.min(10, ft.steps),
          evalEvery: ft.steps, traceEvery: ft.steps,
        });
        const r = trainLoop(run.model, run.task, cfg, nullSink, { progress: false, onProgress: (p) => opts.onProgress?.(`fine-tuning: ${v}`, p) });
        rows.push({ variant: v, stage: 'fine-tuned', steps: r.step, metrics: run.task.evaluate(run.model), status: r.status });
      }
    } finally {
      run.dispose();
    }
  }
  return { rows, plans };
}
