export { hook, hookFilter, runWithCache, runWithHooks, traceHookNames } from './hooks.js';
export type { HookFn, HookFilter, Hookable, CacheResult } from './hooks.js';
