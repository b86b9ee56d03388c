// Checkpoints: model parameters, optimizer moments and the trainer's state in
// one safetensors file, with the run config and step in its metadata.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import type { Model } from '../models/types.js';
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

export function saveCheckpoint(path: string, model: Model, opt: AdamW, state: TrainerState, runConfig: unknown): void {
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
  const state = parse('trainer_state') as TrainerState;
  state.divergence.min = state.divergence.min ?? Infinity;
  return { path, step: Number(f.metadata.step), optimizerStep: Number(f.metadata.optimizer_step), config: parse('config'), state, tensors: f.tensors };
}

/** Copy a checkpoint's tensors into a model (same architecture) and optimizer. */
export function restoreCheckpoint(ck: LoadedCheckpoint, model: Model, opt?: AdamW): void {
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
