// The efficiency question measured on the active backend: layer times of
// LayerNorm, RMSNorm and DyT (fused and composed), forward and
// forward+backward, each as a ratio to the fastest real copy of the same
// tensor measured in the same process; one training step of a model with each
// norm; and the GPU results the device script (bench/gpu/run.sh) wrote and a
// session committed under data/gpu/. Notebook 09 is built on these.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { layerNormOp, rmsNormOp, squashOp } from '../engine/ops/index.js';
import type { KernelImpl } from '../engine/ops/index.js';
import { createLM } from '../models/llama.js';
import type { NormSpec } from '../nn/norm-spec.js';
import { AdamW } from '../train/adamw.js';
import { crossEntropy } from '../train/tasks.js';
import { parseWith } from '../util/schema.js';
import { packageRoot } from '../util/paths.js';

export type LayerOp = 'layernorm' | 'rmsnorm' | 'dyt';

export interface LayerTiming {
  backend: string;
  size: string;
  op: LayerOp;
  impl: 'fused' | 'composed';
  fwdMs: number;
  /** tf.grads of the layer: its forward and backward once each. */
  fwdBwdMs: number;
  /** The copy, timed alternately with this layer's forward (and the other ops of its impl). */
  copyMs: number;
  /** The copy, timed alternately with the forward+backward runs. */
  copyFwdBwdMs: number;
  copyMethod: string;
  /** fwdMs / copyMs: 1 is the floor of a layer that reads x once and writes y once. */
  fwdXCopy: number;
  /** fwdBwdMs / copyFwdBwdMs (the floor is about 2.5: 5 tensor passes against the copy's 2). */
  fwdBwdXCopy: number;
}

/**
 * Waits until `t` is computed. cpu and wasm compute synchronously inside the
 * op, so one element is read (a full read would time a 12 MB copy out of
 * the wasm heap); other backends are awaited.
 */
export async function settle(t: Tensor): Promise<void> {
  const b = tf.getBackend();
  if (b === 'cpu' || b === 'wasm') (tf.backend() as unknown as { readSync(id: unknown, s?: number, e?: number): unknown }).readSync(t.dataId, 0, 1);
  else await t.data();
}

export interface Timing { medianMs: number; minMs: number; runs: number }

/** One timed run until its outputs are settled (then disposed), in ms. */
async function timeOnce(run: () => Tensor[]): Promise<number> {
  const t0 = performance.now();
  const outs = run();
  for (const o of outs) await settle(o);
  const dt = performance.now() - t0;
  tf.dispose(outs);
  return dt;
}

function timingOf(ts: number[]): Timing {
  const sorted = ts.slice().sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return { medianMs: sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2, minMs: sorted[0]!, runs: ts.length };
}

/** `reps` timed runs after `warmup` untimed ones, each until its outputs are settled (and then disposed). */
export async function timeRuns(run: () => Tensor[], warmup: number, reps: number): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await timeOnce(run);
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) ts.push(await timeOnce(run));
  return timingOf(ts);
}

/**
 * Like timeRuns for several runs at once, alternating them rep by rep (after
 * `warmup` rounds of each), so that every timing is taken at the same moments:
 * a ratio of two of them holds when the machine's speed drifts during a run.
 */
export async function timeInterleaved(runs: Array<() => Tensor[]>, warmup: number, reps: number): Promise<Timing[]> {
  for (let i = 0; i < warmup; i++) for (const run of runs) await timeOnce(run);
  const ts = runs.map(() => [] as number[]);
  for (let i = 0; i < reps; i++) for (let j = 0; j < runs.length; j++) ts[j]!.push(await timeOnce(runs[j]!));
  return ts.map(timingOf);
}

/**
 * Best of `reps` timed runs after `warmup`: on a shared machine other processes
 * only ever add time, so the minimum is the least disturbed estimate.
 */
async function timeMs(run: () => Tensor[], reps: number, warmup = 1): Promise<number> {
  return (await timeRuns(run, warmup, reps)).minMs;
}

/** Fastest of tf.add(x, 0) and tf.mul(x, 1) (tf.clone may share the buffer instead of copying). */
async function copyReference(x: Tensor, reps: number): Promise<{ ms: number; method: string; run: (t: Tensor) => Tensor }> {
  let best: { ms: number; method: string; run: (t: Tensor) => Tensor } = { ms: Infinity, method: '', run: (t) => tf.add(t, 0) };
  for (const [method, f] of [['tf.add(x, 0)', (t: Tensor) => tf.add(t, 0)], ['tf.mul(x, 1)', (t: Tensor) => tf.mul(t, 1)]] as const) {
    const ms = await timeMs(() => [f(x)], reps);
    if (ms < best.ms) best = { ms, method, run: f };
  }
  return best;
}

export interface LayerTimingOptions {
  sizes: Array<[number, number]>;
  ops?: LayerOp[];
  impls?: Array<'fused' | 'composed'>;
  /** Timed runs per measurement (the best is reported); one warm-up run before. */
  reps?: number;
  seed?: number;
}

/**
 * Layer times on the active backend (initBackend first). Per size and impl, the
 * copy and every op run alternately rep by rep (timeInterleaved; best of the
 * reps after one warm-up), so each ratio to the copy, and the ops against each
 * other, are taken at the same moments on a machine whose speed drifts.
 */
export async function timeLayers(opts: LayerTimingOptions): Promise<LayerTiming[]> {
  const ops = opts.ops ?? ['layernorm', 'rmsnorm', 'dyt'];
  const impls = opts.impls ?? ['fused', 'composed'];
  const reps = opts.reps ?? 5, seed = opts.seed ?? 0;
  const rows: LayerTiming[] = [];
  for (const [R, C] of opts.sizes) {
    const x = tf.randomNormal([R, C], 0, 1, 'float32', seed + 1), dy = tf.randomNormal([R, C], 0, 1, 'float32', seed + 2);
    const p = { alpha: tf.tensor1d([0.5]), s: tf.tensor1d([0]), gamma: tf.ones([C]), beta: tf.zeros([C]) };
    try {
      const copy = await copyReference(x, reps);
      const copyRun = (): Tensor[] => [copy.run(x)];
      const byImpl = new Map<string, LayerTiming[]>();
      for (const impl of impls) {
        const layers = ops.map((op) => layer(op, impl as KernelImpl, x, p));
        const [cf, ...fwd] = await timeInterleaved([copyRun, ...layers.map(({ f, args }) => () => [f(...args)])], 1, reps);
        const [cb, ...fwdBwd] = await timeInterleaved([copyRun, ...layers.map(({ f, args }) => {
          const g = tf.grads(f);
          return () => g(args, dy);
        })], 1, reps);
        byImpl.set(impl, ops.map((op, i) => ({
          backend: tf.getBackend(), size: `[${R}, ${C}]`, op, impl, fwdMs: fwd[i]!.minMs, fwdBwdMs: fwdBwd[i]!.minMs,
          copyMs: cf!.minMs, copyFwdBwdMs: cb!.minMs, copyMethod: copy.method,
          fwdXCopy: fwd[i]!.minMs / cf!.minMs, fwdBwdXCopy: fwdBwd[i]!.minMs / cb!.minMs,
        })));
      }
      for (let i = 0; i < ops.length; i++) for (const impl of impls) rows.push(byImpl.get(impl)![i]!);
    } finally {
      tf.dispose([x, dy, ...Object.values(p)]);
    }
  }
  return rows;
}

type Layer = { f: (...t: Tensor[]) => Tensor; args: Tensor[] };

function layer(op: LayerOp, impl: KernelImpl, x: Tensor, p: { alpha: Tensor; s: Tensor; gamma: Tensor; beta: Tensor }): Layer {
  switch (op) {
    case 'layernorm': return { f: (a, g, b) => layerNormOp(a!, g!, b!, 1e-5, impl), args: [x, p.gamma, p.beta] };
    case 'rmsnorm': return { f: (a, g) => rmsNormOp(a!, g!, 1e-5, impl), args: [x, p.gamma] };
    case 'dyt': return { f: (a, al, s, g, b) => squashOp(a!, { alpha: al!, s: s!, gamma: g!, beta: b! }, 'tanh', impl), args: [x, p.alpha, p.s, p.gamma, p.beta] };
  }
}

export interface StepModel { dModel: number; nLayers: number; nHeads: number; context: number; batch: number; vocab: number }

export interface StepTiming { backend: string; model: string; norm: string; impl: string; stepMs: number; tokensPerSec: number }

/**
 * One AdamW training step (forward, backward, update; loss read back) of an
 * LLaMA-style LM (GELU MLP) with each norm, best of `steps` after one warm-up.
 */
export async function timeTrainSteps(model: StepModel, norms: NormSpec[], opts: { steps?: number; label?: string } = {}): Promise<StepTiming[]> {
  const steps = opts.steps ?? 3;
  const out: StepTiming[] = [];
  const ids = tf.randomUniform([model.batch, model.context], 0, model.vocab, 'int32', 1);
  const targets = tf.randomUniform([model.batch, model.context], 0, model.vocab, 'int32', 2);
  try {
    for (const norm of norms) {
      const lm = createLM({ vocabSize: model.vocab, context: model.context, dModel: model.dModel, nLayers: model.nLayers, nHeads: model.nHeads, mlp: 'gelu', mlpRatio: 4, norm, seed: 1 });
      const params = lm.namedParameters().filter((q) => q.trainable);
      const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
      const ms: number[] = [];
      try {
        for (let i = 0; i < steps + 1; i++) {
          const t0 = performance.now();
          const { value, grads } = tf.variableGrads(() => crossEntropy(lm.apply(ids), targets), params.map((q) => q.variable));
          opt.apply(new Map(params.map((q) => [q.name, grads[q.variable.name]!] as [string, Tensor])), 1e-4);
          await value.data();
          tf.dispose([value, ...Object.values(grads)]);
          if (i > 0) ms.push(performance.now() - t0);
        }
      } finally {
        opt.dispose();
        lm.dispose();
      }
      const stepMs = Math.min(...ms);
      out.push({
        backend: tf.getBackend(), model: opts.label ?? `d${model.dModel} x ${model.nLayers}, ctx ${model.context}, batch ${model.batch}`,
        norm: norm.kind, impl: ('impl' in norm && norm.impl) || 'auto', stepMs, tokensPerSec: (model.batch * model.context) / (stepMs / 1e3),
      });
    }
  } finally {
    tf.dispose([ids, targets]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// GPU results committed by sessions that ran bench/gpu/run.sh.

const timingRowSchema = z.object({
  path: z.string(), size: z.string(), op: z.string(), impl: z.string(), pass: z.enum(['fwd', 'fwd+bwd']),
  ms: z.number(), gbps: z.number(), xCopy: z.number().optional(), ofCopyBandwidth: z.number().optional(),
}).passthrough();

const gpuResultSchema = z.object({
  schema: z.literal('dytlab-gpu-bench/1'),
  smoke: z.boolean(),
  date: z.string(),
  card: z.string(),
  driver: z.string(),
  provenance: z.object({ commit: z.string() }).passthrough(),
  cuda: z.object({ status: z.string(), reason: z.string().optional(), timings: z.array(timingRowSchema), targets: z.array(z.object({ target: z.string(), size: z.string(), met: z.boolean().nullable(), detail: z.string() })) }).passthrough(),
  webgpu: z.object({ status: z.string(), reason: z.string().optional(), timings: z.array(timingRowSchema), software: z.boolean().optional() }).passthrough(),
  pytorch: z.object({ status: z.string(), reason: z.string().optional(), rows: z.array(timingRowSchema) }).passthrough(),
}).passthrough();

export type GpuResult = z.infer<typeof gpuResultSchema> & { file: string };
export type GpuTimingRow = z.infer<typeof timingRowSchema>;

/** data/gpu/ of the package (where sessions commit the device script's JSON). */
export function gpuResultsDir(): string {
  const root = packageRoot();
  if (root === undefined) throw new Error('cannot find the dytlab package root to locate data/gpu');
  return path.join(root, 'data', 'gpu');
}

/** Every committed GPU result (smoke runs excluded unless asked for), newest first; [] when there is none. */
export function loadGpuResults(dir = gpuResultsDir(), opts: { includeSmoke?: boolean } = {}): GpuResult[] {
  if (!fs.existsSync(dir)) return [];
  const out: GpuResult[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const file = path.join(dir, f);
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
    }
    const r = { ...parseWith(gpuResultSchema, raw, file), file };
    if (!r.smoke || opts.includeSmoke) out.push(r);
  }
  return out.sort((a, b) => b.date.localeCompare(a.date));
}

/** All timing rows of one result (CUDA, WebGPU, PyTorch) with the card and date. */
export function gpuTimingRows(r: GpuResult): Array<GpuTimingRow & { card: string; date: string }> {
  return [...r.cuda.timings, ...r.webgpu.timings, ...r.pytorch.rows].map((t) => ({ ...t, card: r.card, date: r.date.slice(0, 10) }));
}
