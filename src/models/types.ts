// What every model offers the trainer and the analyses.
import type { Tensor } from '../engine/tf.js';
import type { Hookable } from '../hooks/hooks.js';
import type { Module } from '../nn/module.js';
import type { NormLayer } from '../nn/norms.js';
import type { ResolvedLMConfig, ResolvedViTConfig } from './config.js';

/** What an analysis may read of any model's config: the lab's models and imported checkpoints alike. */
export interface ModelShape {
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** LMs: tokens of the vocabulary. */
  vocabSize?: number;
  /** LMs: the longest sequence the model takes. */
  context?: number;
}

/**
 * A transformer the analyses can study: a forward pass, hook points (the lab's
 * grammar), norm slots and named parameters. The lab's ViT and LM, and
 * checkpoints loaded with loadPretrained, are all HookedModels.
 */
export interface HookedModel extends Module, Hookable {
  readonly kind: 'vit' | 'lm';
  readonly config: ModelShape;
  /** Logits: [B, classes] for a ViT, [B, T, vocab] for an LM. */
  apply(input: Tensor): Tensor;
  hookNames(): string[];
  /** Every norm slot with its dotted name ('blocks.0.norm1', ..., 'final_norm'). */
  normLayers(): { name: string; layer: NormLayer }[];
}

/** A model the lab built from a run config (its full resolved config). */
export interface Model extends HookedModel {
  readonly config: ResolvedViTConfig | ResolvedLMConfig;
}
