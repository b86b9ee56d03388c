export { createViT, ViT } from './vit.js';
export { createLM, LM } from './llama.js';
export { convertNorms, type NormChoice } from './shared.js';
export { Block } from './block.js';
export { buildModel, buildModelFrom } from './build.js';
export {
  vitConfigSchema, lmConfigSchema, modelConfigSchema, resolveViTConfig, resolveLMConfig, resolveModelConfig, mlpHidden,
} from './config.js';
export type { ViTConfig, LMConfig, ModelConfig, ResolvedViTConfig, ResolvedLMConfig, ResolvedModelConfig } from './config.js';
export type { HookedModel, Model, ModelShape } from './types.js';
