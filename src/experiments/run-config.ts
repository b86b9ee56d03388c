// A run config: everything one training run needs, in one file (JSON or YAML).
//   { name?, seed?, backend?, model: {...}, data: {...}, train: {...} }
// The LM's vocabSize may be left out: it comes from the dataset's vocabulary.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BACKEND_NAMES } from '../engine/backend.js';
import { resolveLMConfig, resolveViTConfig, type ResolvedLMConfig, type ResolvedViTConfig } from '../models/config.js';
import { resolveTrainConfig, type ResolvedTrainConfig } from '../train/config.js';
import { parseDataSpec, type DataSpec } from '../train/tasks.js';
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

/** Validate a run config; `vocab` fills an LM's vocabSize when the file leaves it out. */
export function resolveRunConfig(input: unknown, label = 'run config', dataVocab?: number): RunConfig {
  const top = parseWith(topSchema, input, label);
  const seed = top.seed ?? 0;
  const data = parseDataSpec(top.data, `${label}: data`);
  const train = resolveTrainConfig(top.train, `${label}: train`);
  const m = { seed, ...top.model } as Record<string, unknown>;
  let model: RunConfig['model'];
  if (m.kind === 'lm') {
    // Without the dataset at hand, check everything else (its vocabulary fills vocabSize later).
    if (m.vocabSize === undefined) m.vocabSize = dataVocab ?? 1;
    if (dataVocab !== undefined && m.vocabSize !== dataVocab) {
      throw new ConfigError(`${label}: model.vocabSize = ${String(m.vocabSize)} does not match the dataset's vocabulary of ${dataVocab}`);
    }
    model = resolveLMConfig(m, `${label}: model`);
  } else {
    model = resolveViTConfig(m, `${label}: model`);
  }
  return {
    name: top.name ?? `${model.kind}-${String((model as { norm: { kind: string } }).norm.kind)}`,
    ...(top.description ? { description: top.description } : {}),
    seed, ...(top.backend ? { backend: top.backend as RunConfig['backend'] } : {}), model, data, train,
  };
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
