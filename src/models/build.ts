// The one place a model is built from a config: the switch on model kind
// (an LM or a ViT). Runs, checkpoints, analyses and benchmarks all come here.
import { resolveModelConfig, type ResolvedModelConfig } from './config.js';
import { LM } from './llama.js';
import type { Model } from './types.js';
import { ViT } from './vit.js';

/**
 * The model a config describes, with its initial weights (from the config's
 * seed): a resolved run config ({ model, ... }) or a resolved model config.
 * The caller disposes it.
 */
export function buildModel(config: ResolvedModelConfig | { model: ResolvedModelConfig }): Model {
  const m = 'model' in config ? config.model : config;
  switch (m.kind) {
    case 'lm': return new LM(m);
    case 'vit': return new ViT(m);
    default: throw new Error(`buildModel: model.kind = ${JSON.stringify((m as { kind: unknown }).kind)} is not 'lm' or 'vit'`);
  }
}

/** buildModel for a model config not yet validated (e.g. read from a checkpoint): resolved first, errors naming `label`. */
export function buildModelFrom(input: unknown, label = 'model config'): Model {
  return buildModel(resolveModelConfig(input, label));
}
