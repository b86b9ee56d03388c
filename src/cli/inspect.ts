// `dytlab inspect DIR`: what a Hugging Face snapshot folder holds, from
// config.json and the safetensors headers alone (no weights are read): the
// architecture, parameter count, dtypes, norm layers, the hook names a loaded
// model has, and the memory it needs. For a model_type with a registered
// architecture its describe() gives the config summary; for any other the
// usual Hugging Face keys are read generically (and the report says so).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTIVATION_FACTORS, formatBytes } from '../experiments/memory-estimate.js';
import { initBackend } from '../engine/backend.js';
import { createLM } from '../models/llama.js';
import { architectureFor, openSnapshot, supportedModelTypes, type Snapshot } from '../pretrained/index.js';
import { readSafetensorsHeader } from '../train/safetensors.js';
import type { CliIO } from './program.js';

export interface NormGroup {
  /** 'LayerNorm' (weight and bias), 'RMSNorm' (weight only, config has rms_norm_eps) or 'norm (weight only)'. */
  type: string;
  eps: number | null;
  count: number;
  sample: string[];
}

export interface InspectReport {
  dir: string;
  modelType: string;
  /** 'registered': describe() of the architecture loadPretrained uses; 'generic': the usual config keys. */
  configSource: 'registered' | 'generic';
  /** Whether loadPretrained has an architecture for this model_type (and, if not or it refuses the config, why). */
  loadable: { ok: boolean; why?: string };
  config: Record<string, unknown>;
  files: { file: string; tensors: number; bytes: number }[];
  tensors: number;
  parameters: number;
  /** Values in tensors the architecture leaves unread (buffers such as GPT-2's attn.bias, a tied head's copy). */
  skipped: { tensors: number; values: number };
  dtypes: Record<string, { tensors: number; values: number }>;
  norms: NormGroup[];
  hooks: { count: number; sample: string[]; note: string };
  memory: { weightsF32: number; forward: number; total: number; batch: number; tokens: number; note: string };
}

export interface InspectOptions { dir: string; json: boolean; batch?: number; tokens?: number }

const isPosNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;
/** The first of `keys` that config.json has as a positive number. */
function pick(config: Record<string, unknown>, keys: string[]): number | undefined {
  for (const k of keys) if (isPosNum(config[k])) return config[k];
  return undefined;
}

/** The generic reading of config.json: the usual Hugging Face keys, by their aliases. */
export function genericConfig(config: Record<string, unknown>): Record<string, unknown> {
  const vision = isPosNum(config.image_size) && isPosNum(config.patch_size);
  const dModel = pick(config, ['n_embd', 'hidden_size', 'd_model', 'dim']);
  const out: Record<string, unknown> = {
    dModel,
    nLayers: pick(config, ['n_layer', 'num_hidden_layers', 'num_layers', 'n_layers']),
    nHeads: pick(config, ['n_head', 'num_attention_heads', 'n_heads']),
    kvHeads: pick(config, ['num_key_value_heads', 'n_kv_heads']),
    dInner: pick(config, ['n_inner', 'intermediate_size', 'ffn_dim']) ?? (dModel !== undefined ? 4 * dModel : undefined),
    vocabSize: pick(config, ['vocab_size']),
    context: pick(config, ['n_positions', 'max_position_embeddings', 'n_ctx']),
    eps: pick(config, ['layer_norm_eps', 'layer_norm_epsilon', 'rms_norm_eps', 'norm_eps']),
  };
  if (vision) Object.assign(out, { imageSize: config.image_size, patchSize: config.patch_size, channels: pick(config, ['num_channels']) });
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

interface TensorInfo { name: string; dtype: string; shape: number[]; file: string }

/**
 * Every tensor's name, dtype and shape (any dtype) from the safetensors headers:
 * model.safetensors, or the shards model.safetensors.index.json's weight_map
 * names (openSnapshot has already checked them).
 */
function tensorsOf(s: Snapshot): { tensors: TensorInfo[]; files: InspectReport['files'] } {
  const index = join(s.dir, 'model.safetensors.index.json');
  const fileList = existsSync(index)
    ? [...new Set(Object.values((JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map))].sort()
    : ['model.safetensors'];
  const wanted = new Set(s.names()), seen = new Set<string>();
  const tensors: TensorInfo[] = [], files: InspectReport['files'] = [];
  for (const file of fileList) {
    let n = 0, bytes = 0;
    for (const e of readSafetensorsHeader(join(s.dir, file)).entries) {
      if (!wanted.has(e.name) || seen.has(e.name)) continue;
      seen.add(e.name);
      tensors.push({ name: e.name, dtype: e.dtype, shape: e.shape, file });
      n++; bytes += e.byteLength;
    }
    files.push({ file, tensors: n, bytes });
  }
  return { tensors, files };
}

const NORM = /(^|\.)([a-z0-9_]*norm[a-z0-9_]*|ln_?[a-z0-9]*)\.(weight|scale|gamma)$/i;

function normGroups(tensors: TensorInfo[], config: Record<string, unknown>, fallbackEps: number | null): NormGroup[] {
  const names = new Set(tensors.map((t) => t.name));
  const groups = new Map<string, NormGroup>();
  const rmsEps = pick(config, ['rms_norm_eps']) ?? null;
  // The architecture's default (describe()'s eps) when config.json leaves it out.
  const lnEps = pick(config, ['layer_norm_eps', 'layer_norm_epsilon', 'norm_eps']) ?? (rmsEps === null ? fallbackEps : null);
  for (const t of tensors) {
    if (t.shape.length !== 1 || !NORM.test(t.name)) continue;
    const base = t.name.replace(/\.(weight|scale|gamma)$/, '');
    const biased = names.has(`${base}.bias`) || names.has(`${base}.beta`);
    const type = biased ? 'LayerNorm' : rmsEps !== null ? 'RMSNorm' : 'norm (weight only)';
    const g = groups.get(type) ?? { type, eps: type === 'RMSNorm' ? rmsEps : lnEps ?? rmsEps, count: 0, sample: [] };
    g.count++;
    if (g.sample.length < 3) g.sample.push(base);
    groups.set(type, g);
  }
  return [...groups.values()];
}

/**
 * The hook names of a pre-norm transformer with `nLayers` blocks, read from the module tree of
 * a tiny lab LM of that depth (no weights of the snapshot are loaded): the same grammar a loaded
 * model declares, without a second hand-kept list.
 */
export function hookNamesFor(nLayers: number): string[] {
  const probe = createLM({ vocabSize: 2, context: 2, dModel: 2, nLayers, nHeads: 1, mlp: 'gelu', seed: 0 });
  try {
    return probe.hookNames();
  } finally {
    probe.dispose();
  }
}

const num = (v: unknown): number | undefined => (isPosNum(v) ? v : undefined);

/** Read a snapshot folder's config and headers (no weights) into a report. Errors name the folder and the file. */
export function inspectSnapshot(dir: string, opts: { batch?: number; tokens?: number } = {}): InspectReport {
  const s = openSnapshot(dir);
  const config = s.config;
  let configSource: InspectReport['configSource'] = 'generic';
  let loadable: InspectReport['loadable'];
  let summary = genericConfig(config);
  let ignorable: ((name: string) => boolean) | undefined;
  if (supportedModelTypes().includes(s.modelType)) {
    const a = architectureFor(s.modelType, dir);
    loadable = { ok: true };
    if (a.ignorable) ignorable = (n) => a.ignorable!(n, s);
    if (a.describe) {
      try {
        summary = { ...a.describe(s) };
        configSource = 'registered';
      } catch (e) {
        loadable = { ok: false, why: (e as Error).message };
      }
    }
  } else {
    loadable = { ok: false, why: `model_type ${JSON.stringify(s.modelType)} has no architecture in loadPretrained (supported: ${supportedModelTypes().join(', ') || 'none'})` };
  }

  const { tensors, files } = tensorsOf(s);
  const size = (t: TensorInfo) => t.shape.reduce((a, b) => a * b, 1);
  let parameters = 0;
  const skipped = { tensors: 0, values: 0 };
  const dtypes: InspectReport['dtypes'] = {};
  for (const t of tensors) {
    const n = size(t);
    const d = (dtypes[t.dtype] ??= { tensors: 0, values: 0 });
    d.tensors++; d.values += n;
    if (ignorable?.(t.name)) { skipped.tensors++; skipped.values += n; } else parameters += n;
  }

  const nLayers = num(summary.nLayers) ?? 0;
  const hooks = hookNamesFor(nLayers);

  // Memory: float32 weights (how the lab holds them) + one forward pass with every activation kept,
  // at half the per-element factors of a training step (as memory-estimate.ts counts an evaluation).
  const d = num(summary.dModel) ?? 0, H = num(summary.nHeads) ?? 1, ffn = num(summary.dInner) ?? 4 * d;
  const vit = num(summary.imageSize) !== undefined && num(summary.patchSize) !== undefined;
  const B = opts.batch ?? 1;
  const T = opts.tokens ?? (vit ? (Math.floor(num(summary.imageSize)! / num(summary.patchSize)!) ** 2 + 1) : Math.min(num(summary.context) ?? 1024, 1024));
  const gated = tensors.some((t) => /gate_proj|w1\.weight|gate_up_proj/.test(t.name));
  const f = vit ? ACTIVATION_FACTORS.vit : { ...ACTIVATION_FACTORS.lm, hidden: ACTIVATION_FACTORS.lm.hidden[gated ? 'swiglu' : 'gelu'] };
  const out = vit ? B * (num(summary.classes) ?? num(config.num_labels) ?? 1000) : B * T * (num(summary.vocabSize) ?? 0);
  const forward = 0.5 * 4 * (nLayers * (f.model * B * T * d + f.hidden * B * T * ffn + f.scores * B * H * T * T) + f.logits * out + f.embed * B * T * d);
  const weightsF32 = 4 * parameters;

  return {
    dir, modelType: s.modelType, configSource, loadable, config: summary, files, tensors: tensors.length,
    parameters, skipped, dtypes, norms: normGroups(tensors, config, num(summary.eps) ?? null),
    hooks: { count: hooks.length, sample: [...hooks.slice(0, 4), ...hooks.slice(-3)], note: `the lab's grammar for ${nLayers} block${nLayers === 1 ? '' : 's'}; a loaded model's hookNames() is the authority` },
    memory: {
      weightsF32, forward: Math.round(forward), total: Math.round(weightsF32 + forward), batch: B, tokens: T,
      note: `float32 weights + one forward pass of ${B} x ${T} tokens keeping every activation (half a training step's factors, experiments/memory-estimate.ts)`,
    },
  };
}

const count = (n: number) => n.toLocaleString('en-US');

export function formatInspect(r: InspectReport): string {
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${k.padEnd(14)}${v}`);
  row('snapshot', r.dir);
  row('model_type', `${r.modelType} (${r.loadable.ok ? 'an architecture of loadPretrained' : `not loadable: ${r.loadable.why}`})`);
  row('config', `${Object.entries(r.config).filter(([, v]) => typeof v !== 'object' || v === null).map(([k, v]) => `${k}=${v}`).join(' ')}` +
    (r.configSource === 'generic' ? '  (read generically from the usual config.json keys)' : ''));
  row('parameters', `${count(r.parameters)}${r.skipped.tensors ? ` (+${count(r.skipped.values)} in ${r.skipped.tensors} unread buffer tensor(s))` : ''}`);
  row('tensors', `${r.tensors} in ${r.files.map((f) => `${f.file} (${formatBytes(f.bytes)})`).join(', ')}`);
  row('dtypes', Object.entries(r.dtypes).map(([k, v]) => `${k} ${v.tensors} tensors, ${count(v.values)} values`).join('; '));
  row('norms', r.norms.length ? r.norms.map((g) => `${g.count} ${g.type} (eps ${g.eps ?? '?'}; ${g.sample.join(', ')}${g.count > g.sample.length ? ', ...' : ''})`).join('; ') : 'none found');
  row('hooks', `${r.hooks.count}: ${r.hooks.sample.slice(0, 4).join(', ')}, ..., ${r.hooks.sample.slice(4).join(', ')} (${r.hooks.note})`);
  row('memory', `${formatBytes(r.memory.total)}: weights ${formatBytes(r.memory.weightsF32)} + forward ${formatBytes(r.memory.forward)} (${r.memory.note})`);
  return lines.join('\n') + '\n';
}

export async function inspectCommand(o: InspectOptions, io: Pick<CliIO, 'stdout' | 'stderr'>): Promise<number> {
  // The hook-name probe builds a tiny model: on the cpu backend, chosen explicitly (no weights of the snapshot load).
  await initBackend('cpu');
  let r: InspectReport;
  try {
    r = inspectSnapshot(o.dir, o);
  } catch (e) {
    io.stderr.write(`dytlab inspect: ${(e as Error).message}\n`);
    return 1;
  }
  io.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : formatInspect(r));
  return 0;
}
