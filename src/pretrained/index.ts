// pretrained: real trained networks from Hugging Face snapshot folders
// (config.json + safetensors), loaded as models of the lab: the same hook
// grammar, norm slots and parameter names as the models trained here.
//   const gpt2 = loadPretrained('/models/gpt2');   // a folder, never the network
//   runWithCache(gpt2, ids, 'blocks.*.norm1.*');  convertNorms(gpt2, { kind: 'dyt' });
import { architectureFor, registerArchitecture, type Architecture, type PretrainedModel } from './registry.js';
import { openSnapshot, type Snapshot } from './snapshot.js';
import { gpt2Architecture } from './gpt2.js';
import { llamaArchitecture } from './llama.js';
import { vitArchitecture } from './vit.js';
import { gptNeoXArchitecture } from './gpt-neox.js';

/** The architectures built in, one per model_type (each file exports its own). */
const BUILTIN: Architecture[] = [gpt2Architecture, llamaArchitecture, vitArchitecture, gptNeoXArchitecture];
for (const a of BUILTIN) registerArchitecture(a);

export interface LoadPretrainedOptions {
  /** Tensors of the snapshot that no parameter reads are an error unless the architecture ignores them; true: allow them. */
  allowUnused?: boolean;
}

/** Tensors the model did not read and the architecture does not call ignorable. */
export function unusedTensors(s: Snapshot, a: Architecture): string[] {
  const used = s.used();
  return s.names().filter((n) => !used.has(n) && !(a.ignorable?.(n, s) ?? false));
}

function shapeOf(s: Snapshot, name: string): string {
  try {
    return ` [${s.info(name).shape.join(', ')}]`;
  } catch {
    return '';
  }
}

/** Load a snapshot folder (model.safetensors or a sharded index) as a model of the lab. The caller disposes it. */
export function loadPretrained(dir: string, opts: LoadPretrainedOptions = {}): PretrainedModel {
  const s = openSnapshot(dir);
  const a = architectureFor(s.modelType, dir);
  const model = a.build(s);
  const extra = opts.allowUnused ? [] : unusedTensors(s, a);
  if (extra.length) {
    model.dispose();
    throw new Error(`pretrained snapshot ${dir}: ${extra.length} unused tensor(s) that a ${s.modelType} model has no place for: ` +
      `${extra.slice(0, 8).map((n) => `'${n}'${shapeOf(s, n)}`).join(', ')}${extra.length > 8 ? ', ...' : ''} ` +
      '(pass { allowUnused: true } to load anyway)');
  }
  return model;
}

/** The snapshot's config summary (no weights read): the architecture's describe(), or the config itself. */
export function describePretrained(dir: string): Record<string, unknown> {
  const s = openSnapshot(dir);
  const a = architectureFor(s.modelType, dir);
  return { modelType: s.modelType, tensors: s.names().length, ...(a.describe ? a.describe(s) : s.config) };
}

export { openSnapshot, toFloat32, SNAPSHOT_DTYPES } from './snapshot.js';
export type { Snapshot, SnapshotTensor, SnapshotDType } from './snapshot.js';
export { registerArchitecture, architectureFor, supportedModelTypes } from './registry.js';
export type { Architecture, PretrainedModel, PretrainedConfig } from './registry.js';
export { cfgInt, cfgNum, cfgBool, cfgStr } from './config.js';
export { GPT2, gpt2Architecture, gpt2Config } from './gpt2.js';
export type { GPT2Config } from './gpt2.js';
export { Llama, llamaArchitecture, llamaConfig, llamaInvFreq } from './llama.js';
export type { LlamaConfig, RopeScaling } from './llama.js';
export { PreNormBlock } from './layers.js';
export { PretrainedViT, vitArchitecture, vitConfig } from './vit.js';
export type { ViTPretrainedConfig } from './vit.js';
export { PretrainedGPTNeoX, gptNeoXArchitecture, gptNeoXConfig, rotaryInvFreq, splitFusedQKV } from './gpt-neox.js';
export type { GPTNeoXPretrainedConfig } from './gpt-neox.js';
export { HIDDEN_ACTS } from './hidden-act.js';
export type { HiddenAct } from './hidden-act.js';
export { loadTokenizer, textToBatches, textWindows } from './tokenizer.js';
export type { TextTokenizer, EncodeOptions, DecodeOptions, TextBatchOptions } from './tokenizer.js';
export { snapshotTask, readImageArray } from './data.js';
export type { SnapshotTask, SnapshotTaskOptions } from './data.js';
