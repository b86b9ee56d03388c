// The architectures a snapshot can be loaded as, keyed by config.json's
// model_type. Each builds a model of the lab (hook grammar, norm slots,
// namedParameters) from a Snapshot; loadPretrained (index.ts) picks one here.
import type { Tensor } from '../engine/tf.js';
import type { NormLayer } from '../nn/norms.js';
import type { HookedModel } from '../models/types.js';
import type { Snapshot } from './snapshot.js';

/** What the analyses read of a pretrained model's shape (the lab's field names). */
export interface PretrainedConfig {
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Tokens of the vocabulary (LMs). */
  vocabSize?: number;
  /** Longest sequence the model takes (max positions). */
  context?: number;
  /** Anything else an architecture wants to say (kvHeads, headDim, eps, ropeTheta, ...). */
  [key: string]: unknown;
}

/** A loaded checkpoint: a model of the lab (same hooks, norm slots and parameters) plus where it came from. */
export interface PretrainedModel extends HookedModel {
  readonly kind: 'lm' | 'vit';
  /** config.json's model_type ('gpt2', 'llama', ...). */
  readonly modelType: string;
  /** The snapshot folder it was loaded from. */
  readonly source: string;
  readonly config: PretrainedConfig;
  /** lm: int32 ids [B, T] -> logits [B, T, vocab]. */
  apply(input: Tensor): Tensor;
  hookNames(): string[];
  /** Every norm slot with its dotted name ('blocks.0.norm1', ..., 'final_norm'): convertNorms swaps them. */
  normLayers(): { name: string; layer: NormLayer }[];
}

export interface Architecture {
  modelType: string;
  /** Build the model, reading every tensor it needs from the snapshot (s.read marks it used). */
  build(s: Snapshot): PretrainedModel;
  /** A summary of the config (no weights read), e.g. for `dytlab inspect`. */
  describe?(s: Snapshot): Record<string, unknown>;
  /** Tensors of the snapshot that may stay unread (buffers such as GPT-2's attn.bias); others left unread are an error. */
  ignorable?(name: string, s: Snapshot): boolean;
}

const architectures = new Map<string, Architecture>();

/** Add (or replace) the architecture for its model_type. */
export function registerArchitecture(a: Architecture): void {
  if (typeof a.modelType !== 'string' || a.modelType === '') throw new Error('registerArchitecture: modelType must be a non-empty string');
  architectures.set(a.modelType, a);
}

/** The model_types that can be loaded, sorted. */
export function supportedModelTypes(): string[] {
  return [...architectures.keys()].sort();
}

/** The architecture for a model_type; an unknown one fails naming the folder, the model_type and the supported ones. */
export function architectureFor(modelType: string, dir: string): Architecture {
  const a = architectures.get(modelType);
  if (!a) {
    throw new Error(`pretrained snapshot ${dir}: model_type ${JSON.stringify(modelType)} is not supported; ` +
      `supported model types: ${supportedModelTypes().join(', ') || 'none registered'}`);
  }
  return a;
}
