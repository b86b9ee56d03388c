/// <reference types="@webgpu/types" />
// The WebGPU path of the GPU benchmark: tfjs-backend-webgpu on Dawn with
// dytlab's fused WGSL kernels. Adapter and features; correctness of every
// fused kernel against float64 (fresh random inputs; tfjs's buffer pool is
// filled with NaN first, so outputs start poisoned); forward and
// forward+backward times of DyT, LayerNorm and RMSNorm (fused and composed
// from stock tfjs ops) against a buffer-to-buffer copy of the same size;
// matmul TFLOP/s; one training step of two LMs with LayerNorm vs DyT.
//
// Timing: wall clock around `reps` iterations, then the backend's queue is
// submitted and awaited (onSubmittedWorkDone); per-iteration mean, median of
// rounds. This includes tfjs's JavaScript dispatch cost, which is what a
// tfjs user pays.
import { tf } from '../../src/engine/tf.js';
import type { Tensor } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import type { BackendInfo } from '../../src/engine/backend.js';
import { layerNormOp, rmsNormOp, squashOp } from '../../src/engine/ops/index.js';
import type { KernelImpl } from '../../src/engine/ops/index.js';
import { createLM } from '../../src/models/llama.js';
import { AdamW } from '../../src/train/adamw.js';
import type { NormSpec } from '../../src/nn/norm-spec.js';
import {
  EPS, NORM_CHANNELS, SQUASH_SHAPES, correctnessRow, median, normErrors, rng, squashCaseData, squashErrors, timingRow,
} from './common.js';
import type { CorrectnessRow, SquashCaseData, TargetRow, TimingRow } from './common.js';

export interface WebGpuSection {
  status: 'ok' | 'unavailable' | 'failed';
  reason?: string;
  backend?: BackendInfo;
  /** True when the adapter is a software one (llvmpipe): timings then say nothing about a GPU. */
  software?: boolean;
  correctness: CorrectnessRow[];
  timings: TimingRow[];
  matmul: Array<{ n: number; ms: number; tflops: number }>;
  lmSteps: Array<Record<string, unknown>>;
  targets: TargetRow[];
}

interface Backendish {
  device: GPUDevice;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** Submits what tfjs has recorded and waits for the GPU to finish it. */
async function flush(): Promise<void> {
  const b = tf.backend() as unknown as Backendish;
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.submitQueue();
  await b.device.queue.onSubmittedWorkDone();
}

async function timeIt(run: (i: number) => Tensor[] | void, reps: number, rounds = 3): Promise<number> {
  for (let i = 0; i < 2; i++) { const o = run(i); if (o) tf.dispose(o); }
  await flush();
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) { const o = run(i); if (o) tf.dispose(o); }
    await flush();
    ms.push((performance.now() - t0) / reps);
  }
  return median(ms);
}

/** Fills tfjs's buffer pool with NaN buffers of these element counts (freed buffers are reused for outputs). */
async function poisonPool(counts: number[]): Promise<void> {
  const ts = counts.flatMap((n) => [tf.fill([n], NaN), tf.fill([n], NaN)]);
  await flush();
  tf.dispose(ts);
  await flush();
}

const read = async (t: Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;

async function checkSquash(shape: (typeof SQUASH_SHAPES)[number], d: SquashCaseData, perChannel: boolean): Promise<CorrectnessRow> {
  const n = d.rows * d.C;
  await poisonPool([n, d.C, d.alpha.length]);
  const x = tf.tensor2d(d.x, [d.rows, d.C]), dy = tf.tensor2d(d.dy, [d.rows, d.C]);
  const p = { alpha: tf.tensor1d(d.alpha), s: tf.tensor1d(d.s), gamma: tf.tensor1d(d.gamma), beta: tf.tensor1d(d.beta) };
  const f = (x_: Tensor, alpha: Tensor, s: Tensor, gamma: Tensor, beta: Tensor): Tensor => squashOp(x_, { alpha, s, gamma, beta }, shape, 'fused');
  const y = f(x, p.alpha, p.s, p.gamma, p.beta);
  const g = tf.grads((...a: Tensor[]) => f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!))([x, p.alpha, p.s, p.gamma, p.beta], dy);
  const errors = squashErrors(shape, d, {
    y: await read(y), dx: await read(g[0]!), dalpha: await read(g[1]!), ds: await read(g[2]!), dgamma: await read(g[3]!), dbeta: await read(g[4]!),
  });
  tf.dispose([x, dy, y, ...g, ...Object.values(p)]);
  return correctnessRow('webgpu', `squash ${shape}`, d.rows, d.C, perChannel ? 'per-channel alpha, s' : 'scalar alpha, s', errors);
}

async function checkNorm(centred: boolean, d: SquashCaseData): Promise<CorrectnessRow> {
  await poisonPool([d.rows * d.C, d.C, d.rows]);
  const x = tf.tensor2d(d.x, [d.rows, d.C]), dy = tf.tensor2d(d.dy, [d.rows, d.C]);
  const gamma = tf.tensor1d(d.gamma), beta = tf.tensor1d(d.beta);
  let outs: Tensor[];
  if (centred) {
    const f = (a: Tensor, g: Tensor, b: Tensor): Tensor => layerNormOp(a, g, b, EPS, 'fused');
    outs = [f(x, gamma, beta), ...tf.grads(f as (...a: Tensor[]) => Tensor)([x, gamma, beta], dy)];
  } else {
    const f = (a: Tensor, g: Tensor): Tensor => rmsNormOp(a, g, EPS, 'fused');
    outs = [f(x, gamma), ...tf.grads(f as (...a: Tensor[]) => Tensor)([x, gamma], dy)];
  }
  const v = await Promise.all(outs.map(read));
  const errors = normErrors(centred, d, { y: v[0]!, dx: v[1]!, dgamma: v[2]!, ...(centred ? { dbeta: v[3]! } : {}) });
  tf.dispose([x, dy, gamma, beta, ...outs]);
  return correctnessRow('webgpu', centred ? 'layernorm' : 'rmsnorm', d.rows, d.C, 'fused WGSL', errors);
}

/** A raw buffer-to-buffer copy of `bytes`, the bandwidth reference of this path. */
async function timeRawCopy(bytes: number, sets: number, reps: number): Promise<number> {
  const device = (tf.backend() as unknown as Backendish).device;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const bufs = Array.from({ length: sets }, () => [device.createBuffer({ size: bytes, usage }), device.createBuffer({ size: bytes, usage })] as const);
  const run = async (n: number): Promise<number> => {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    for (let i = 0; i < n; i++) enc.copyBufferToBuffer(bufs[i % sets]![0], 0, bufs[i % sets]![1], 0, bytes);
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / n;
  };
  await run(2);
  const ms: number[] = [];
  for (let r = 0; r < 3; r++) ms.push(await run(reps));
  for (const [a, b] of bufs) { a.destroy(); b.destroy(); }
  return median(ms);
}

async function timeSize(rows: number, C: number, reps: number, l2Bytes: number, adapterNote: string | undefined): Promise<TimingRow[]> {
  const n = rows * C, bytes = 4 * n, size = `[${rows}, ${C}]`;
  const sets = Math.max(1, Math.min(8, Math.ceil((3 * l2Bytes) / (4 * bytes))));
  const note = [adapterNote, 'wall clock including tfjs dispatch', sets > 1 ? `${sets} buffer sets rotated` : undefined].filter(Boolean).join('; ');
  const xs = Array.from({ length: sets }, (_, i) => tf.randomNormal([rows, C], 0, 1, 'float32', i + 1));
  const dy = tf.randomNormal([rows, C], 0, 1, 'float32', 99);
  const p = { alpha: tf.tensor1d([0.5]), s: tf.tensor1d([0]), gamma: tf.ones([C]), beta: tf.zeros([C]) };
  const out: TimingRow[] = [];
  const copy = timingRow('webgpu', size, 'copy', 'copyBufferToBuffer', 'fwd', await timeRawCopy(bytes, sets, reps), 2 * bytes, undefined, note);
  out.push(copy);
  out.push(timingRow('webgpu', size, 'copy', 'tf.add(x, 0)', 'fwd', await timeIt((i) => [tf.add(xs[i % sets]!, 0)], reps), 2 * bytes, copy, note));
  const fns: Record<string, (impl: KernelImpl) => (...a: Tensor[]) => Tensor> = {
    dyt: (impl) => (x, a, s, g, b) => squashOp(x!, { alpha: a!, s: s!, gamma: g!, beta: b! }, 'tanh', impl),
    layernorm: (impl) => (x, g, b) => layerNormOp(x!, g!, b!, EPS, impl),
    rmsnorm: (impl) => (x, g) => rmsNormOp(x!, g!, EPS, impl),
  };
  const args = (op: string, x: Tensor): Tensor[] => op === 'dyt' ? [x, p.alpha, p.s, p.gamma, p.beta] : op === 'layernorm' ? [x, p.gamma, p.beta] : [x, p.gamma];
  for (const op of Object.keys(fns)) {
    for (const impl of ['fused', 'composed'] as const) {
      const f = fns[op]!(impl);
      const g = tf.grads(f);
      const label = impl === 'fused' ? 'fused (dytlab WGSL)' : 'composed (stock tfjs ops)';
      out.push(timingRow('webgpu', size, op, label, 'fwd', await timeIt((i) => [f(...args(op, xs[i % sets]!))], reps), 2 * bytes, copy, note));
      out.push(timingRow('webgpu', size, op, label, 'fwd+bwd', await timeIt((i) => {
        const x = xs[i % sets]!;
        return [f(...args(op, x)), ...g(args(op, x), dy)];
      }, reps), 5 * bytes, copy, note));
    }
  }
  tf.dispose([...xs, dy, ...Object.values(p)]);
  return out;
}

async function timeMatmul(n: number, reps: number): Promise<{ n: number; ms: number; tflops: number }> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1), b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  const ms = await timeIt(() => [tf.matMul(a, b)], reps);
  tf.dispose([a, b]);
  return { n, ms, tflops: (2 * n ** 3) / (ms * 1e-3) / 1e12 };
}

function crossEntropy(logits: Tensor, targets: Tensor, vocab: number): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits.reshape([-1, vocab]));
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(targets.reshape([-1]), vocab), logp), -1))) as tf.Scalar;
  });
}

/** One AdamW training step (forward, backward, update, loss read back), median of `steps` after 2 warm-up steps. */
async function lmStep(label: string, cfg: { dModel: number; nLayers: number; nHeads: number; context: number; batch: number; vocab: number },
    norm: NormSpec, steps: number): Promise<Record<string, unknown>> {
  const lm = createLM({ vocabSize: cfg.vocab, context: cfg.context, dModel: cfg.dModel, nLayers: cfg.nLayers, nHeads: cfg.nHeads, mlp: 'gelu', mlpRatio: 4, norm, seed: 1 });
  const params = lm.namedParameters();
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
  const vars = params.filter((q) => q.trainable).map((q) => q.variable);
  const ids = tf.randomUniform([cfg.batch, cfg.context], 0, cfg.vocab, 'int32', 1);
  const targets = tf.randomUniform([cfg.batch, cfg.context], 0, cfg.vocab, 'int32', 2);
  const ms: number[] = [];
  let loss = NaN;
  try {
    for (let i = 0; i < steps + 2; i++) {
      const t0 = performance.now();
      const { value, grads } = tf.variableGrads(() => crossEntropy(lm.apply(ids), targets, cfg.vocab), vars);
      const byName = new Map(params.filter((q) => q.trainable).map((q) => [q.name, grads[q.variable.name]!] as [string, Tensor]));
      opt.apply(byName, 1e-4);
      loss = (await value.data())[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      if (i >= 2) ms.push(performance.now() - t0);
    }
  } finally {
    opt.dispose();
    lm.dispose();
    tf.dispose([ids, targets]);
  }
  const stepMs = median(ms);
  return { model: label, norm: norm.kind, ...cfg, params: params.reduce((a, q) => a + q.variable.size, 0), stepMs, tokensPerSec: (cfg.batch * cfg.context) / (stepMs / 1e3), loss, steps };
}

export async function runWebGpuSection(opts: { smoke: boolean; sizes: Array<[number, number]>; reps: number; seed: number;
    l2Bytes: number; log: (s: string) => void; deadline: number }): Promise<WebGpuSection> {
  const section: WebGpuSection = { status: 'ok', correctness: [], timings: [], matmul: [], lmSteps: [], targets: [] };
  try {
    section.backend = await initBackend('webgpu');
  } catch (e) {
    section.status = 'unavailable';
    section.reason = (e as Error).message;
    opts.log(`webgpu: ${section.reason}`);
    return section;
  }
  const gpu = section.backend.gpu!;
  section.software = gpu.software;
  opts.log(`webgpu: ${gpu.device || gpu.description} (${gpu.software ? 'software' : 'hardware'}, Dawn ${gpu.dawnBackend}, ${gpu.featureLevel})`);
  const note = gpu.software ? 'software adapter (llvmpipe): says nothing about GPU speed' : undefined;
  const late = (what: string): boolean => {
    if (Date.now() < opts.deadline) return false;
    opts.log(`webgpu: time budget spent, skipping ${what}`);
    return true;
  };
  try {
    const r = rng(opts.seed + 1);
    const squashSizes: Array<[number, number]> = opts.smoke ? [[37, 77], [16, 256]] : [[64, 768], [37, 77], [1000, 256]];
    for (const shape of SQUASH_SHAPES) {
      for (const [rows, C] of squashSizes) {
        for (const pc of [false, true]) section.correctness.push(await checkSquash(shape, squashCaseData(rows, C, pc, r), pc));
      }
    }
    const channels = opts.smoke ? [77, 768] : NORM_CHANNELS;
    for (const centred of [true, false]) {
      for (const C of channels) section.correctness.push(await checkNorm(centred, squashCaseData(C > 4096 ? 8 : 33, C, false, r)));
      if (!opts.smoke) section.correctness.push(await checkNorm(centred, squashCaseData(3000, 512, false, r)));
    }
    const bad = section.correctness.filter((c) => !c.ok).length;
    opts.log(`webgpu: correctness ${section.correctness.length - bad}/${section.correctness.length} within 1e-5`);
    for (const [rows, C] of opts.sizes) {
      if (late(`timing [${rows}, ${C}]`)) break;
      section.timings.push(...await timeSize(rows, C, opts.reps, opts.l2Bytes, note));
      opts.log(`webgpu: timed [${rows}, ${C}]`);
    }
    for (const n of opts.smoke ? [256] : [1024, 2048, 4096]) {
      if (late(`matmul ${n}`)) break;
      section.matmul.push(await timeMatmul(n, opts.smoke ? 3 : 10));
    }
    opts.log(`webgpu: matmul ${section.matmul.map((m) => `${m.n}: ${m.tflops.toFixed(2)} TFLOP/s`).join(', ')}`);
    const models = opts.smoke
      ? [{ label: 'lm-tiny (smoke: d64, 2 layers)', cfg: { dModel: 64, nLayers: 2, nHeads: 2, context: 32, batch: 4, vocab: 96 }, steps: 1 }]
      : [
        { label: 'lm-tiny', cfg: { dModel: 128, nLayers: 4, nHeads: 4, context: 64, batch: 16, vocab: 96 }, steps: 5 },
        { label: 'wide LM', cfg: { dModel: 1024, nLayers: 8, nHeads: 16, context: 512, batch: 8, vocab: 256 }, steps: 3 },
      ];
    for (const m of models) {
      for (const norm of [{ kind: 'layernorm' }, { kind: 'dyt', alpha0: 1 }] as NormSpec[]) {
        if (late(`${m.label} ${norm.kind}`)) break;
        const row = await lmStep(m.label, m.cfg, norm, m.steps);
        section.lmSteps.push(row);
        opts.log(`webgpu: ${m.label} ${norm.kind}: ${(row['stepMs'] as number).toFixed(1)} ms/step, ${(row['tokensPerSec'] as number).toFixed(0)} tokens/s`);
      }
    }
    const worst = Math.max(...section.correctness.map((c) => c.maxRelErr));
    section.targets.push({ target: 'WebGPU: every fused kernel correct (1e-5 relative)', size: 'all',
      met: section.correctness.every((c) => c.ok), detail: `${section.correctness.length - bad}/${section.correctness.length} cases; worst ${worst.toExponential(2)}` });
  } catch (e) {
    section.status = 'failed';
    section.reason = (e as Error).stack ?? String(e);
    opts.log(`webgpu: FAILED ${(e as Error).message}`);
  }
  return section;
}
