// How much memory a run config needs, estimated from the config alone (nothing
// is allocated), so that runTraining can refuse an oversized model or dataset
// up front with an error naming the fields that make it large, instead of
// growing for minutes and dying (or failing deep inside tfjs with "Invalid
// typed array length", naming nothing).
//
// Every tensor is float32 (4 bytes a value). The estimate for one training step:
//   parameters     every variable of the model (countModelParameters counts them exactly)
//   AdamW state    two moments per trainable value
//   gradients      one per trainable value, while the step runs
//   activations    the peak of one step's tape, forward and backward together: per block
//                  ACTIVATION_FACTORS.model values per [batch, tokens, dModel] element,
//                  .hidden per [batch, tokens, mlp hidden] and .scores per [batch, heads,
//                  tokens, tokens]; .logits per output value ([batch, context, vocab] for the
//                  LM) and .embed per [batch, tokens, dModel] outside the blocks. The factors
//                  are least-squares fits of tf.profile's peakBytes over a training step
//                  (variableGrads of the loss) of 10 small LMs and 8 small ViTs on the wasm and
//                  cpu backends (fits within 4%), rounded up: tfjs keeps every intermediate
//                  of the forward pass until the gradients are done.
//   buffers        constants the layers hold: the causal mask (context^2 per block),
//                  RoPE tables, the norms' ones/zeros
//   dataset        the Markov chain's tables and token stream, the decoded images, the text
//   checkpoint     the JS copies of parameters and moments while a checkpoint is written
// Gradients + activations and the checkpoint copies are never alive together, so
// the total counts the larger of the two.
import { totalmem } from 'node:os';
import { mlpHidden, type ResolvedLMConfig, type ResolvedViTConfig } from '../models/config.js';
import { resolveNormSpec, type NormSpec } from '../nn/norm-spec.js';
import { ConfigError } from '../util/schema.js';
import type { RunConfig } from './run-config.js';

const F32 = 4;

/** Values one training step keeps alive, per element of the named shapes (see the top of this file). */
export const ACTIVATION_FACTORS = {
  lm: { model: 88, hidden: { swiglu: 19, gelu: 33 }, scores: 9, logits: 16, embed: 24 },
  vit: { model: 68, hidden: 36, scores: 7, logits: 16, embed: 21 },
} as const;

/** A run may use this fraction of os.totalmem() unless told otherwise. */
export const MEMORY_LIMIT_FRACTION = 0.75;

/** The vocabulary assumed for Moby-Dick before it is loaded (byte level: 256; the char vocabulary is smaller). */
const TEXT_VOCAB_BOUND = 256;

export interface ParameterCount {
  /** Values in all of the model's variables (trainable or not). */
  total: number;
  /** Values AdamW updates (and keeps two moments for). */
  trainable: number;
  /** Values in constant buffers (masks, RoPE tables, norm constants). */
  buffers: number;
}

export interface MemoryParts {
  parameters: number;
  adamw: number;
  gradients: number;
  activations: number;
  buffers: number;
  dataset: number;
  checkpoint: number;
}

export interface MemoryDriver {
  /** Dotted config field, e.g. 'model.dModel'. */
  field: string;
  value: number;
  /** Fraction of the total saved by setting this field alone to a small run's value. */
  saving: number;
}

export interface MemoryEstimate {
  /** Bytes at the peak of one training step (or of writing a checkpoint, when larger). */
  totalBytes: number;
  parts: MemoryParts;
  parameters: ParameterCount;
  /** The vocabulary the estimate assumed (the LM's; 0 for a ViT). */
  vocabSize: number;
  /** The fields that make the config large (largest saving first; see estimateRunMemory). */
  drivers: MemoryDriver[];
}

function normCount(spec: NormSpec, d: number): ParameterCount {
  const s = resolveNormSpec(spec);
  switch (s.kind) {
    case 'identity': return { total: 0, trainable: 0, buffers: 0 };
    case 'layernorm': return { total: s.affine ? 2 * d : 0, trainable: s.affine ? 2 * d : 0, buffers: 2 * d };
    case 'rmsnorm': return { total: s.affine ? d : 0, trainable: s.affine ? d : 0, buffers: d };
    case 'dyisru': return { total: 1 + (s.affine ? 2 * d : 0), trainable: 1 + (s.affine ? 2 * d : 0), buffers: 0 };
    case 'dyt': {
      const a = s.perChannelAlpha ? d : 1;
      const alpha = s.alpha === 'none' ? 0 : a, shift = s.shift ? a : 0, affine = s.affine ? 2 * d : 0;
      return { total: alpha + shift + affine, trainable: (s.alpha === 'learnable' ? alpha : 0) + shift + affine, buffers: 2 * a + 2 * d };
    }
  }
}

const add = (...cs: ParameterCount[]): ParameterCount => cs.reduce((x, y) => ({
  total: x.total + y.total, trainable: x.trainable + y.trainable, buffers: x.buffers + y.buffers,
}), { total: 0, trainable: 0, buffers: 0 });
const weights = (n: number): ParameterCount => ({ total: n, trainable: n, buffers: 0 });

/** The values in a model's variables and buffers, from its config: what `new LM(cfg)` / `new ViT(cfg)` allocates. */
export function countModelParameters(model: ResolvedLMConfig | ResolvedViTConfig): ParameterCount {
  const d = model.dModel, L = model.nLayers, h = mlpHidden(d, model.mlpRatio);
  const gates = model.residual.kind === 'none' ? 0 : 2;
  const fixup = model.fixup ? 4 : 0;
  const norms = add(normCount(model.attnNorm, d), normCount(model.mlpNorm, d));
  // σReparam: per Linear a trainable scalar gamma and a kept vector u of its output width.
  const sigma = (outs: number[]): ParameterCount => (model.linearReparam === 'sigma'
    ? { total: outs.reduce((t, o) => t + 1 + o, 0), trainable: outs.length, buffers: 0 } : weights(0));
  if (model.kind === 'lm') {
    const T = model.context, V = model.vocabSize;
    const attn = weights(4 * d * d); // qkv + proj, no biases
    const mlp = weights(model.mlp === 'swiglu' ? 3 * d * h : 2 * d * h); // no biases
    const masks: ParameterCount = { total: 0, trainable: 0, buffers: T * T + (model.rope ? 2 * T * (d / model.nHeads) : 0) };
    const block = add(attn, mlp, norms, weights(gates + fixup), masks, sigma(model.mlp === 'swiglu' ? [3 * d, d, h, h, d] : [3 * d, d, h, d]));
    return add(
      weights(V * d), weights(model.embedScale ? 1 : 0),
      { total: block.total * L, trainable: block.trainable * L, buffers: block.buffers * L },
      normCount(model.finalNorm, d), weights(model.tiedHead ? 0 : d * V), sigma(model.tiedHead ? [] : [V]),
    );
  }
  const g = model.imageSize / model.patchSize;
  const tokens = g * g + (model.pool === 'cls' ? 1 : 0);
  const attn = weights(4 * d * d + 4 * d); // qkv + proj, with biases
  const mlp = weights(2 * d * h + h + d);
  const block = add(attn, mlp, norms, weights(gates + fixup), sigma([3 * d, d, h, d]));
  return add(
    weights(model.patchSize * model.patchSize * model.channels * d + d), weights(model.pool === 'cls' ? d : 0), weights(tokens * d),
    { total: block.total * L, trainable: block.trainable * L, buffers: block.buffers * L },
    normCount(model.finalNorm, d), weights(d * model.classes + model.classes), sigma([d, model.classes]),
  );
}

/** The vocabulary an LM config will have once its dataset is loaded (a Markov chain says it; text is bounded). */
function vocabOf(cfg: RunConfig): number {
  if (cfg.model.kind !== 'lm') return 0;
  if (cfg.data.dataset === 'markov') return cfg.data.vocabSize;
  return Math.max(cfg.model.vocabSize, TEXT_VOCAB_BOUND);
}

function datasetBytes(cfg: RunConfig): number {
  const s = cfg.data;
  switch (s.dataset) {
    // ids to shuffle, the successor table, unigram counts (float64), the token stream.
    case 'markov': return F32 * s.vocabSize * (1 + s.branching) + 8 * s.vocabSize + F32 * (s.length ?? 200_000);
    // Moby-Dick: ~1.3M characters as strings, ids and splits.
    case 'moby-dick': return 40e6;
    // 10,000 digits of 28x28: the package's numbers (float64), decoded and normalised copies (float32).
    case 'mnist': return 10_000 * 784 * (8 + F32 + F32);
    case 'synthetic-images': return ((s.nTrain ?? 2000) + (s.nTest ?? 500) + 10) * 784 * F32;
  }
}

function activationBytes(cfg: RunConfig, vocab: number): number {
  const m = cfg.model;
  const d = m.dModel, L = m.nLayers, H = m.nHeads, h = mlpHidden(d, m.mlpRatio);
  const f = m.kind === 'lm'
    ? { ...ACTIVATION_FACTORS.lm, hidden: ACTIVATION_FACTORS.lm.hidden[m.mlp] }
    : ACTIVATION_FACTORS.vit;
  const step = (B: number, T: number, out: number) =>
    F32 * (L * (f.model * B * T * d + f.hidden * B * T * h + f.scores * B * H * T * T) + f.logits * out + f.embed * B * T * d);
  const B = cfg.train.batchSize;
  if (m.kind === 'lm') return step(B, m.context, B * m.context * vocab);
  const g = m.imageSize / m.patchSize, T = g * g + (m.pool === 'cls' ? 1 : 0);
  // The test set is evaluated in batches of at least 100 (forward only: counted as half a step).
  const evalB = Math.max(B, 100);
  return Math.max(step(B, T, B * m.classes), 0.5 * step(evalB, T, evalB * m.classes));
}

function partsOf(cfg: RunConfig): { parts: MemoryParts; parameters: ParameterCount; vocabSize: number; totalBytes: number } {
  const vocabSize = vocabOf(cfg);
  const model = cfg.model.kind === 'lm' ? { ...cfg.model, vocabSize } : cfg.model;
  const p = countModelParameters(model);
  const parts: MemoryParts = {
    parameters: F32 * p.total,
    adamw: 2 * F32 * p.trainable,
    gradients: F32 * p.trainable,
    activations: activationBytes(cfg, vocabSize),
    buffers: F32 * p.buffers,
    dataset: datasetBytes(cfg),
    checkpoint: F32 * (p.total + 2 * p.trainable),
  };
  const totalBytes = parts.parameters + parts.adamw + parts.buffers + parts.dataset
    + Math.max(parts.gradients + parts.activations, parts.checkpoint);
  return { parts, parameters: p, vocabSize, totalBytes };
}

interface Knob { field: string; ref: number; get: (c: RunConfig) => number | undefined; set: (c: RunConfig, v: number) => void }
const modelKnob = (k: string, ref: number): Knob => ({
  field: `model.${k}`, ref,
  get: (c) => (c.model as unknown as Record<string, number>)[k],
  set: (c, v) => { (c.model as unknown as Record<string, number>)[k] = v; },
});
const dataKnob = (k: string, ref: number): Knob => ({
  field: `data.${k}`, ref,
  get: (c) => (c.data as unknown as Record<string, number | undefined>)[k],
  set: (c, v) => { (c.data as Record<string, unknown>)[k] = v; },
});

/**
 * The numeric fields a user can lower, each with the value of a small run
 * (what the drivers are measured against: a field below it is not to blame).
 */
function knobs(cfg: RunConfig): Knob[] {
  const out = [modelKnob('dModel', 64), modelKnob('nLayers', 2), modelKnob('nHeads', 4), modelKnob('mlpRatio', 4)];
  out.push({ field: 'train.batchSize', ref: 32, get: (c) => c.train.batchSize, set: (c, v) => { c.train.batchSize = v; } });
  if (cfg.model.kind === 'lm') {
    out.push(modelKnob('context', 64));
    if (cfg.data.dataset === 'markov') out.push(dataKnob('vocabSize', 256), dataKnob('branching', 4), dataKnob('length', 200_000));
    else out.push(modelKnob('vocabSize', TEXT_VOCAB_BOUND));
  } else {
    out.push(modelKnob('imageSize', 28), modelKnob('classes', 10));
    if (cfg.data.dataset === 'synthetic-images') out.push(dataKnob('nTrain', 2000), dataKnob('nTest', 500));
  }
  return out;
}

/**
 * Estimate the memory one training run of a (validated) config needs, from the
 * config alone. Activations are those the composed ops keep; the fused training
 * ops on wasm (attention, cross-entropy, GELU) keep fewer, so there it is an
 * upper bound (test/memory-estimate.test.ts checks both). Drivers: for each field above a small run's value, the share of
 * the total saved by setting it to that value; the fields within 3/4 of the
 * largest saving are named.
 */
export function estimateRunMemory(cfg: RunConfig): MemoryEstimate {
  const base = partsOf(cfg);
  const savings: MemoryDriver[] = [];
  for (const k of knobs(cfg)) {
    const value = k.get(cfg);
    if (value === undefined || !(value > k.ref)) continue;
    const c = structuredClone(cfg);
    k.set(c, k.ref);
    const saving = 1 - partsOf(c).totalBytes / base.totalBytes;
    if (saving > 0) savings.push({ field: k.field, value, saving });
  }
  savings.sort((a, b) => b.saving - a.saving);
  const best = savings[0]?.saving ?? 0;
  return { ...base, drivers: savings.filter((s) => s.saving >= 0.75 * best) };
}

/** "19.2 GB", "340.0 MB" (decimal units). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  for (const [unit, size] of [['TB', 1e12], ['GB', 1e9], ['MB', 1e6], ['kB', 1e3]] as const) {
    if (Math.abs(n) >= size) return `${(n / size).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}

export interface MemoryCheckOptions {
  /** Train even when the estimate is over the limit (the CLI's --allow-large). */
  allowLarge?: boolean;
  /** The limit in bytes (default: MEMORY_LIMIT_FRACTION of os.totalmem()). */
  memoryLimitBytes?: number;
}

const PART_LABELS: [keyof MemoryParts, string][] = [
  ['parameters', 'parameters'], ['gradients', 'gradients'], ['adamw', 'AdamW state'], ['activations', 'activations'],
  ['buffers', 'buffers'], ['dataset', 'dataset'], ['checkpoint', 'checkpoint copies'],
];

/** The limit a run is held to, and how it was chosen (for the error). */
export function memoryLimit(opts: MemoryCheckOptions = {}): { bytes: number; source: string } {
  if (opts.memoryLimitBytes !== undefined) {
    if (!(opts.memoryLimitBytes > 0)) throw new ConfigError(`memoryLimitBytes = ${opts.memoryLimitBytes} is invalid: must be a number of bytes > 0`);
    return { bytes: opts.memoryLimitBytes, source: 'memoryLimitBytes' };
  }
  const total = totalmem();
  return { bytes: MEMORY_LIMIT_FRACTION * total, source: `${MEMORY_LIMIT_FRACTION * 100}% of this machine's memory, os.totalmem() = ${formatBytes(total)}` };
}

/**
 * Refuse (a ConfigError) a config whose estimate is over the limit, naming the
 * fields that make it large, the estimate by part and the limit. Returns the estimate.
 */
export function checkRunMemory(cfg: RunConfig, opts: MemoryCheckOptions = {}, label = 'run config'): MemoryEstimate {
  const est = estimateRunMemory(cfg);
  if (opts.allowLarge) return est;
  const limit = memoryLimit(opts);
  if (est.totalBytes <= limit.bytes) return est;
  const fields = est.drivers.map((d) => d.field);
  const named = est.drivers.map((d) => `${d.field} = ${d.value}`);
  const who = named.length ? `${named.join(' and ')} ${named.length > 1 ? 'need' : 'needs'}` : 'this config needs';
  // The parts the total adds up: the step's gradients and activations, or the checkpoint copies when larger.
  const checkpointPeak = est.parts.checkpoint > est.parts.gradients + est.parts.activations;
  const counted = (k: keyof MemoryParts) => (k === 'checkpoint' ? checkpointPeak : k === 'gradients' || k === 'activations' ? !checkpointPeak : true);
  const shown = PART_LABELS.filter(([k]) => counted(k) && est.parts[k] >= 0.01 * est.totalBytes)
    .map(([k, name]) => `${name} ${formatBytes(est.parts[k])}`);
  const lower = fields.length ? `Lower ${fields.join(' or ')}, or pass` : 'Pass';
  const when = checkpointPeak ? 'at its peak, writing a checkpoint' : 'for one training step';
  throw new ConfigError(`${label}: ${who} about ${formatBytes(est.totalBytes)} (${shown.join(', ')}) ${when}; ` +
    `the limit is ${formatBytes(limit.bytes)} (${limit.source}). ${lower} --allow-large (allowLarge: true) to train it anyway.`);
}
