// How long the runs of a sweep will take, for `dytlab sweep --dry-run`.
//
// First choice: finished runs in the store with a similar config (same model
// shape, batch, dataset and evaluation settings; the norm may differ), whose
// recorded wall time per step is measured on this kind of machine. Otherwise a
// rough figure from the model's size, calibrated on the reference runs of the
// README (wasm, one thread per run): seconds per step = per-op overhead
// (0.015 s + 0.014 s per layer) + training FLOPs / 18 GFLOP/s, evaluations at a
// third of a step per batch, 3 s to start a worker.
import { mlpHidden } from '../models/config.js';
import type { RunConfig } from './run-config.js';
import { canonicalJson, type RunRecord } from './store/index.js';

export const FLOPS_PER_SECOND = 18e9;
export const STARTUP_SECONDS = 3;

export interface RunEstimate {
  seconds: number;
  source: 'store' | 'model-size';
  /** How many similar finished runs the store figure comes from. */
  similar?: number;
}

/** What must match for two runs to take about as long per step. */
export function shapeKey(config: Pick<RunConfig, 'model' | 'data' | 'train'> | Record<string, unknown>): string | undefined {
  const c = config as { model?: Record<string, unknown>; data?: Record<string, unknown>; train?: Record<string, unknown> };
  if (!c.model || !c.data || !c.train) return undefined;
  const m = c.model;
  const pick = (o: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.map((k) => [k, o[k] ?? null]));
  return canonicalJson({
    model: pick(m, ['kind', 'dModel', 'nLayers', 'nHeads', 'mlp', 'mlpRatio', 'context', 'vocabSize', 'patchSize', 'imageSize', 'pool']),
    data: c.data.dataset ?? null,
    train: pick(c.train, ['batchSize', 'evalEvery', 'evalBatches', 'traceEvery']),
  });
}

/** Training FLOPs of one step (forward + backward ~ 3x forward), from the model's shape. */
export function stepFlops(cfg: Pick<RunConfig, 'model' | 'train'>): { flops: number; tokens: number } {
  const m = cfg.model, B = cfg.train.batchSize, d = m.dModel, L = m.nLayers;
  let perLayer: number, extra: number, seq: number;
  if (m.kind === 'lm') {
    const h = mlpHidden(d, m.mlpRatio);
    perLayer = 4 * d * d + (m.mlp === 'swiglu' ? 3 : 2) * d * h;
    extra = d * m.vocabSize; // the head (an embedding lookup costs no multiply-adds)
    seq = m.context;
  } else {
    const h = mlpHidden(d, m.mlpRatio);
    perLayer = 4 * d * d + 2 * d * h;
    const patches = (m.imageSize / m.patchSize) ** 2;
    extra = m.patchSize * m.patchSize * m.channels * d + d * m.classes;
    seq = patches + (m.pool === 'cls' ? 1 : 0);
  }
  const tokens = B * seq;
  // 2 FLOPs per multiply-add, x3 for the backward pass; attention scores and mixing: 4 * seq * d per token and layer.
  const flops = 6 * tokens * (L * perLayer + extra) + 3 * 4 * L * seq * d * tokens;
  return { flops, tokens };
}

/** Seconds for one run from the model's size alone. */
export function modelSizeEstimate(cfg: Pick<RunConfig, 'model' | 'train'>): number {
  const { flops } = stepFlops(cfg);
  const step = 0.015 + 0.014 * cfg.model.nLayers + flops / FLOPS_PER_SECOND;
  const t = cfg.train;
  const evals = Math.ceil(t.steps / t.evalEvery);
  // An LM evaluates evalBatches batches; a ViT the whole MNIST test split (2,004 images), in training-batch units.
  const evalBatches = cfg.model.kind === 'lm' ? t.evalBatches : 2004 / t.batchSize;
  return STARTUP_SECONDS + step * (t.steps + (evals * evalBatches) / 3);
}

/** Seconds per step of finished runs, grouped by shapeKey (median of each group). */
export function storeStepTimes(runs: readonly RunRecord[]): Map<string, { secondsPerStep: number; n: number }> {
  const by = new Map<string, number[]>();
  for (const r of runs) {
    if (r.status !== 'finished' || r.wallSeconds == null || !r.statusStep) continue;
    const key = shapeKey(r.config);
    if (key === undefined) continue;
    const list = by.get(key) ?? [];
    list.push(r.wallSeconds / r.statusStep);
    by.set(key, list);
  }
  const out = new Map<string, { secondsPerStep: number; n: number }>();
  for (const [k, v] of by) {
    const s = [...v].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    out.set(k, { secondsPerStep: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, n: s.length });
  }
  return out;
}

export function estimateRun(cfg: RunConfig, times: Map<string, { secondsPerStep: number; n: number }>): RunEstimate {
  const known = times.get(shapeKey(cfg)!);
  // The store times training only (from startRun); a worker also starts node, the backend and the data.
  if (known) return { seconds: STARTUP_SECONDS + known.secondsPerStep * cfg.train.steps, source: 'store', similar: known.n };
  return { seconds: modelSizeEstimate(cfg), source: 'model-size' };
}

/** Wall time of running these durations in order on `jobs` workers (each takes the next when free). */
export function makespan(durations: readonly number[], jobs: number): number {
  const free = new Array<number>(Math.max(1, jobs)).fill(0);
  for (const d of durations) {
    let i = 0;
    for (let j = 1; j < free.length; j++) if (free[j]! < free[i]!) i = j;
    free[i]! += d;
  }
  return Math.max(...free);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
  return `${Math.floor(seconds / 3600)} h ${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')} min`;
}
