export { hookFilter, runWithCache, runWithGradients, runWithHooks, traceHookNames } from './hooks.js';
export type { CacheResult, GradientResult, HookFn, HookFilter, Hookable } from './hooks.js';
export { atHookPoint, linearProduct, withLinearOverride, withScope } from './context.js';
export type { ForwardScope, LinearLike, LinearNext, LinearOverride } from './context.js';
