// Checkpoints: model parameters, optimizer moments and the trainer's state in
// one safetensors file, with the run config and step in its metadata.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import type { HookedModel } from '../models/types.js';
import type { AdamW } from './adamw.js';
import { readSafetensors, writeSafetensors, type SafeTensor } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'dytlab-checkpoint-1';

export interface TrainerState {
  step: number;
  taskState: unknown;
  divergence: { ema: number | null; min: number; seen: number };
  losses: number[];
}

function toSafe(t: Tensor): SafeTensor {
  const data = t.dataSync();
  return t.dtype === 'int32'
    ? { dtype: 'I32', shape: t.shape, data: Int32Array.from(data) }
    : { dtype: 'F32', shape: t.shape, data: Float32Array.from(data) };
}

export function saveCheckpoint(path: string, model: HookedModel, opt: AdamW, state: TrainerState, runConfig: unknown): void {
  const tensors: Record<string, SafeTensor> = {};
  for (const p of model.namedParameters()) tensors[`model.${p.name}`] = toSafe(p.variable);
  for (const [k, t] of Object.entries(opt.state())) tensors[`optim.${k}`] = toSafe(t);
  writeSafetensors(path, tensors, {
    format: CHECKPOINT_FORMAT,
    step: String(state.step),
    optimizer_step: String(opt.step),
    config: JSON.stringify(runConfig),
    // JSON cannot hold Infinity: the running minimum starts there.
    trainer_state: JSON.stringify({ ...state, divergence: { ...state.divergence, min: Number.isFinite(state.divergence.min) ? state.divergence.min : null } }),
  });
}

export interface LoadedCheckpoint {
  path: string;
  step: number;
  optimizerStep: number;
  config: unknown;
  state: TrainerState;
  tensors: Record<string, SafeTensor>;
}

/** Read a checkpoint's metadata and tensors, checking it is a dytlab checkpoint. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  const f = readSafetensors(path);
  if (f.metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error(`checkpoint ${path}: not a dytlab checkpoint (format '${f.metadata.format ?? 'missing'}', expected '${CHECKPOINT_FORMAT}')`);
  }
  const parse = (k: string) => {
    try {
      return JSON.parse(f.metadata[k] ?? '');
    } catch {
      throw new Error(`checkpoint ${path}: metadata '${k}' is missing or not JSON`);
    }
  };
  const count = (k: string): number => {
    const text = f.metadata[k];
    const n = text === undefined || text.trim() === '' ? NaN : Number(text);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new Error(`checkpoint ${path}: metadata '${k}' = ${text === undefined ? 'missing' : JSON.stringify(text)} is not a step count (an integer >= 0)`);
    }
    return n;
  };
  const step = count('step');
  const optimizerStep = count('optimizer_step');
  const state = parse('trainer_state') as TrainerState;
  if (state === null || typeof state !== 'object' || Array.isArray(state) || state.divergence === null || typeof state.divergence !== 'object') {
    throw new Error(`checkpoint ${path}: metadata 'trainer_state' is not a trainer state object`);
  }
  if (state.step !== step) {
    throw new Error(`checkpoint ${path}: metadata 'step' = ${step} but its trainer_state.step = ${JSON.stringify(state.step)}; the file is inconsistent`);
  }
  state.divergence.min = state.divergence.min ?? Infinity;
  return { path, step, optimizerStep, config: parse('config'), state, tensors: f.tensors };
}

/** The optimizer's part of a train config: what the saved moments and the schedule depend on. */
export const OPTIMIZER_FIELDS = ['lr', 'minLr', 'warmupSteps', 'weightDecay', 'beta1', 'beta2', 'eps', 'clipNorm'] as const;

function leafDiffs(a: unknown, b: unknown, path: string, out: { path: string; ck: unknown; cfg: unknown }[]): void {
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) leafDiffs(a[k], b[k], path ? `${path}.${k}` : k, out);
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push({ path, ck: a, cfg: b });
  }
}

const show = (v: unknown): string => (v === undefined ? 'absent' : JSON.stringify(v));

/**
 * Refuses to resume `ck` with a run config that would continue a different
 * run: another model, data or optimizer config (both resolved, defaults
 * filled), a batch size that differs, or train.steps below the checkpoint's
 * step. The error names the checkpoint file, the field and both values.
 */
export function checkResumeConfig(
  ck: Pick<LoadedCheckpoint, 'path' | 'step'>,
  ckConfig: { model: unknown; data: unknown; train: Record<string, unknown> },
  runConfig: { model: unknown; data: unknown; train: Record<string, unknown> },
): void {
  const diffs: { path: string; ck: unknown; cfg: unknown }[] = [];
  leafDiffs(ckConfig.model, runConfig.model, 'model', diffs);
  leafDiffs(ckConfig.data, runConfig.data, 'data', diffs);
  for (const k of [...OPTIMIZER_FIELDS, 'batchSize']) leafDiffs(ckConfig.train[k], runConfig.train[k], `train.${k}`, diffs);
  if (diffs.length) {
    const d = diffs[0]!;
    const group = d.path.startsWith('train.') ? (d.path === 'train.batchSize' ? 'batch size' : 'optimizer config') : `${d.path.split('.')[0]} config`;
    throw new Error(`checkpoint ${ck.path}: its ${group} differs from the run config: ${d.path} = ${show(d.ck)} in the checkpoint, ` +
      `${show(d.cfg)} in the run config${diffs.length > 1 ? ` (and ${diffs.length - 1} more: ${diffs.slice(1, 4).map((x) => x.path).join(', ')})` : ''}; ` +
      'resuming would continue a different run (resume with the checkpoint\'s config, or start a new run)');
  }
  const steps = runConfig.train.steps;
  if (typeof steps !== 'number' || steps < ck.step) {
    throw new Error(`checkpoint ${ck.path}: step = ${ck.step} is beyond the run config's train.steps = ${show(steps)}; ` +
      `give train.steps >= ${ck.step} (e.g. --set train.steps=${ck.step})`);
  }
}

/** Copy a checkpoint's tensors into a model (same architecture) and optimizer. */
export function restoreCheckpoint(ck: LoadedCheckpoint, model: HookedModel, opt?: AdamW): void {
  const params = model.namedParameters();
  for (const p of params) {
    const t = ck.tensors[`model.${p.name}`];
    if (!t) throw new Error(`checkpoint ${ck.path}: no tensor for parameter '${p.name}' (was it saved from another architecture?)`);
    if (!tf.util.arraysEqual(t.shape, p.variable.shape)) {
      throw new Error(`checkpoint ${ck.path}: '${p.name}' has shape [${t.shape}], the model expects [${p.variable.shape}]`);
    }
    tf.tidy(() => p.variable.assign(tf.tensor(t.data, t.shape, t.dtype === 'I32' ? 'int32' : 'float32')));
  }
  const extra = Object.keys(ck.tensors).filter((k) => k.startsWith('model.') && !params.some((p) => `model.${p.name}` === k));
  if (extra.length) throw new Error(`checkpoint ${ck.path}: parameters the model does not have: ${extra.slice(0, 5).join(', ')}`);
  if (opt) {
    const tensors = tf.tidy(() => Object.fromEntries(Object.entries(ck.tensors).filter(([k]) => k.startsWith('optim.'))
      .map(([k, t]) => [k.slice('optim.'.length), tf.keep(tf.tensor(t.data, t.shape))])));
    opt.restore(ck.optimizerStep, tensors);
    tf.dispose(Object.values(tensors));
  }
}
