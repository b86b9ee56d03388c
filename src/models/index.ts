export { createViT, ViT } from './vit.js';
export { createLM, LM } from './llama.js';
export { convertNorms, type NormChoice } from './shared.js';
export { Block } from './block.js';
export {
  vitConfigSchema, lmConfigSchema, modelConfigSchema, resolveViTConfig, resolveLMConfig, mlpHidden,
} from './config.js';
export type { ViTConfig, LMConfig, ModelConfig, ResolvedViTConfig, ResolvedLMConfig } from './config.js';
export type { Model } from './types.js';
