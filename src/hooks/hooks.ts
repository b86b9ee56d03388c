// Hook points. A model calls `hook(name, x)` at every named activation; with no
// hooks active that is one null check and x passes through untouched (hooks cost
// nothing). runWithCache / runWithHooks activate a context for one forward pass.
//
// Names follow one grammar (TransformerLens-like):
//   embed.out
//   blocks.{i}.norm1.in  blocks.{i}.norm1.out  blocks.{i}.attn.pattern  blocks.{i}.attn.z
//   blocks.{i}.attn.out  blocks.{i}.resid.mid  blocks.{i}.norm2.in  blocks.{i}.norm2.out
//   blocks.{i}.mlp.hidden  blocks.{i}.mlp.out  blocks.{i}.resid.post
//   final_norm.in  final_norm.out  logits
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';

/** Replace an activation: return a new tensor, or nothing to keep it. */
export type HookFn = (x: Tensor, name: string) => Tensor | void;
export type HookFilter = string | RegExp | string[] | ((name: string) => boolean);

interface HookContext {
  cache?: Map<string, Tensor>;
  filter?: (name: string) => boolean;
  fns?: Map<string, HookFn>;
  seen?: string[];
}

let active: HookContext | null = null;

/** Called by models at each hook point. */
export function hook(name: string, x: Tensor): Tensor {
  if (active === null) return x;
  const ctx = active;
  ctx.seen?.push(name);
  const fn = ctx.fns?.get(name);
  if (fn) {
    const y = fn(x, name);
    if (y) {
      if (!tf.util.arraysEqual(y.shape, x.shape)) {
        throw new Error(`hook '${name}' returned shape [${y.shape}] for an activation of shape [${x.shape}]`);
      }
      x = y;
    }
  }
  if (ctx.cache && (!ctx.filter || ctx.filter(name))) {
    ctx.cache.get(name)?.dispose();
    ctx.cache.set(name, tf.keep(x.clone()));
  }
  return x;
}

/** Turn a filter (exact name, glob with '*', list of names, RegExp or predicate) into a predicate. */
export function hookFilter(f?: HookFilter): ((name: string) => boolean) | undefined {
  if (f === undefined) return undefined;
  if (typeof f === 'function') return f;
  if (f instanceof RegExp) return (n) => f.test(n);
  const pats = (Array.isArray(f) ? f : [f]).map((p) =>
    new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^]*')}$`));
  return (n) => pats.some((r) => r.test(n));
}

/** Anything with a forward pass and a list of its hook points. */
export interface Hookable {
  apply(input: Tensor): Tensor;
  hookNames(): string[];
}

function checkNames(model: Hookable, names: Iterable<string>): void {
  const known = new Set(model.hookNames());
  for (const n of names) {
    if (!known.has(n)) {
      const near = [...known].filter((k) => k.split('.').slice(-1)[0] === n.split('.').slice(-1)[0]).slice(0, 3);
      throw new Error(`unknown hook point '${n}'${near.length ? `; did you mean ${near.map((k) => `'${k}'`).join(', ')}?` : ''} ` +
        `(model.hookNames() lists ${known.size})`);
    }
  }
}

function withContext<T>(ctx: HookContext, f: () => T): T {
  if (active !== null) throw new Error('hooks: runWithCache/runWithHooks cannot be nested');
  active = ctx;
  try {
    return f();
  } finally {
    active = null;
  }
}

export interface CacheResult {
  output: Tensor;
  /** Activations by hook name; yours to dispose (or call dispose()). */
  cache: Record<string, Tensor>;
  dispose(): void;
}

/**
 * One forward pass that records the activations at the hook points matching
 * `filter` (all when omitted). Nothing else stays allocated.
 */
export function runWithCache(model: Hookable, input: Tensor, filter?: HookFilter, hooks?: Record<string, HookFn>): CacheResult {
  if (typeof filter === 'string' && !filter.includes('*')) checkNames(model, [filter]);
  if (Array.isArray(filter)) checkNames(model, filter.filter((f) => !f.includes('*')));
  if (hooks) checkNames(model, Object.keys(hooks));
  const ctx: HookContext = {
    cache: new Map(), ...(filter !== undefined ? { filter: hookFilter(filter)! } : {}),
    ...(hooks ? { fns: new Map(Object.entries(hooks)) } : {}),
  };
  let output: Tensor;
  try {
    output = withContext(ctx, () => tf.tidy(() => model.apply(input)));
  } catch (e) {
    for (const t of ctx.cache!.values()) t.dispose();
    throw e;
  }
  const cache = Object.fromEntries(ctx.cache!);
  return { output, cache, dispose: () => tf.dispose([output, ...Object.values(cache)]) };
}

/** One forward pass in which each named hook function may replace its activation. */
export function runWithHooks(model: Hookable, input: Tensor, hooks: Record<string, HookFn>): Tensor {
  checkNames(model, Object.keys(hooks));
  return withContext({ fns: new Map(Object.entries(hooks)) }, () => tf.tidy(() => model.apply(input)));
}

/** The hook names a forward pass actually reaches, in order (tests use it to check hookNames()). */
export function traceHookNames(model: Hookable, input: Tensor): string[] {
  const seen: string[] = [];
  withContext({ seen }, () => tf.tidy(() => { model.apply(input); }));
  return seen;
}
