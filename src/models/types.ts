// What every model offers the trainer and the analyses.
import type { Tensor } from '../engine/tf.js';
import type { Hookable } from '../hooks/hooks.js';
import type { Module } from '../nn/module.js';
import type { NormLayer } from '../nn/norms.js';
import type { ResolvedLMConfig, ResolvedViTConfig } from './config.js';

export interface Model extends Module, Hookable {
  readonly kind: 'vit' | 'lm';
  readonly config: ResolvedViTConfig | ResolvedLMConfig;
  /** Logits: [B, classes] for the ViT, [B, T, vocab] for the LM. */
  apply(input: Tensor): Tensor;
  hookNames(): string[];
  /** Every norm slot with its dotted name ('blocks.0.norm1', ..., 'final_norm'). */
  normLayers(): { name: string; layer: NormLayer }[];
}
