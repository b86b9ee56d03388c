// A run config: everything one training run needs, in one file (JSON or YAML).
//   { name?, seed?, backend?, model: {...}, data: {...}, train: {...} }
// The LM's vocabSize may be left out: it comes from the dataset's vocabulary
// (resolveRun, by the vocabulary rule of data/spec.ts).
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BACKEND_NAMES } from '../engine/backend.js';
import { resolveLMConfig, resolveViTConfig, type ResolvedLMConfig, type ResolvedViTConfig } from '../models/config.js';
import { resolveTrainConfig, type ResolvedTrainConfig } from '../train/config.js';
import { dataShape, parseDataSpec, type DataSpec } from '../data/spec.js';
import { ConfigError, parseWith } from '../util/schema.js';

const topSchema = z.object({
  name: z.string().min(1).optional(),
  /** Free text: why this config is the way it is. */
  description: z.string().optional(),
  seed: z.number().int().nonnegative().optional(),
  backend: z.enum(BACKEND_NAMES as unknown as [string, ...string[]]).optional(),
  model: z.object({ kind: z.enum(['lm', 'vit']) }).passthrough(),
  data: z.object({ dataset: z.string() }).passthrough(),
  train: z.object({}).passthrough(),
}).strict();

export interface RunConfig {
  name: string;
  description?: string;
  seed: number;
  backend?: 'tensorflow' | 'wasm' | 'cpu';
  model: ResolvedLMConfig | ResolvedViTConfig;
  data: DataSpec;
  train: ResolvedTrainConfig;
}

/** The model sizes a data spec fixes (dataShape), as resolving a run config checks and fills them. */
type GivenSizes = { vocabSize?: number; classes?: number; imageSize?: number; channels?: number };

function resolveWith(input: unknown, label: string, given: (data: DataSpec, kind: 'lm' | 'vit') => GivenSizes | undefined): RunConfig {
  const top = parseWith(topSchema, input, label);
  const seed = top.seed ?? 0;
  const data = parseDataSpec(top.data, `${label}: data`);
  const train = resolveTrainConfig(top.train, `${label}: train`);
  const m = { seed, ...top.model } as Record<string, unknown>;
  const sizes = given(data, m.kind as 'lm' | 'vit');
  let model: RunConfig['model'];
  if (m.kind === 'lm') {
    // Without the dataset's vocabulary, check everything else (it fills vocabSize later).
    if (m.vocabSize === undefined) m.vocabSize = sizes?.vocabSize ?? 1;
    if (sizes?.vocabSize !== undefined && m.vocabSize !== sizes.vocabSize) {
      throw new ConfigError(`${label}: model.vocabSize = ${String(m.vocabSize)} does not match the dataset's vocabulary of ${sizes.vocabSize}`);
    }
    model = resolveLMConfig(m, `${label}: model`);
  } else {
    // A ViT's defaults are MNIST's sizes; a data spec that fixes them fills (or must agree with) them.
    for (const k of ['classes', 'imageSize', 'channels'] as const) {
      const v = sizes?.[k];
      if (v === undefined) continue;
      if (m[k] === undefined) m[k] = v;
      else if (m[k] !== v) {
        throw new ConfigError(`${label}: model.${k} = ${String(m[k])} does not match the dataset's ${k === 'classes' ? 'classes' : k === 'imageSize' ? 'image size' : 'channels'} (${v})`);
      }
    }
    model = resolveViTConfig(m, `${label}: model`);
  }
  return {
    name: top.name ?? `${model.kind}-${String((model as { norm: { kind: string } }).norm.kind)}`,
    ...(top.description ? { description: top.description } : {}),
    seed, ...(top.backend ? { backend: top.backend as RunConfig['backend'] } : {}), model, data, train,
  };
}

/**
 * Validate a run config without its data's sizes; `dataVocab` fills an LM's
 * vocabSize when the file leaves it out (otherwise a placeholder 1). What the
 * store hashes is resolveRun's config.
 */
export function resolveRunConfig(input: unknown, label = 'run config', dataVocab?: number): RunConfig {
  return resolveWith(input, label, (_data, kind) => (kind === 'lm' && dataVocab !== undefined ? { vocabSize: dataVocab } : undefined));
}

/** Configs resolveRun returned: given one again (e.g. ensureRun's to runTraining), it is not resolved a second time. */
const resolvedRuns = new WeakSet<object>();

/** True for a config resolveRun returned (and so runTraining takes as it is). */
export function isResolvedRun(config: unknown): config is RunConfig {
  return typeof config === 'object' && config !== null && resolvedRuns.has(config);
}

/**
 * Resolve a run config completely, as the store hashes it and runTraining
 * trains it: validated, defaults filled, and the sizes its data spec fixes
 * (an LM's vocabSize, a ViT's classes and image size) from the vocabulary rule
 * (dataShape, data/spec.ts), with neither tensors nor a backend. A data spec
 * that does not fit the model kind is an error here. The one resolve of
 * ensureRun, runTraining and sweeps; a config it returned is returned as is.
 */
export function resolveRun(input: unknown, label = 'run config'): RunConfig {
  if (isResolvedRun(input)) return input;
  const cfg = resolveWith(input, label, (data, kind) => {
    const shape = dataShape(data);
    if (shape.modelKind !== kind) {
      throw new ConfigError(`${label}: data.dataset = "${data.dataset}" does not fit a ${kind === 'lm' ? 'language model' : 'ViT'}`);
    }
    const { modelKind: _, ...sizes } = shape;
    return sizes;
  });
  resolvedRuns.add(cfg);
  return cfg;
}

/** Read a JSON or YAML config file; parse errors name the file. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`config ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const yaml = ['.yaml', '.yml'].includes(extname(path).toLowerCase());
  let value: unknown;
  try {
    value = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config ${path}: not valid ${yaml ? 'YAML' : extname(path).slice(1).toUpperCase() || 'JSON'}: ${(e as Error).message}`);
  }
  // A run config is an object: an empty file, null, a number, a string or a list is not one.
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    const what = value === null || value === undefined ? (text.trim() === '' ? 'empty' : 'null')
      : Array.isArray(value) ? 'an array' : `a ${typeof value} (${JSON.stringify(value).slice(0, 40)})`;
    throw new ConfigError(`config ${path}: the file holds ${what === 'empty' ? 'nothing' : what}, not an object (a run config is { model, data, train, ... })`);
  }
  return value;
}
