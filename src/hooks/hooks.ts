// Reading and changing a forward pass at its hook points. Models declare their
// hook points as HookPoint modules where each activation is made (nn/hook-point.ts),
// so `model.hookNames()` comes from the module tree. Names follow one grammar
// (TransformerLens-like):
//   embed.out
//   blocks.{i}.norm1.in  blocks.{i}.norm1.out  blocks.{i}.attn.pattern  blocks.{i}.attn.z
//   blocks.{i}.attn.out  blocks.{i}.resid.mid  blocks.{i}.norm2.in  blocks.{i}.norm2.out
//   blocks.{i}.mlp.hidden  blocks.{i}.mlp.out  blocks.{i}.resid.post
//   final_norm.in  final_norm.out  logits
// Each function here enters one scope of the forward context (context.ts), so
// they nest with each other and with Linear overrides and precision rounding.
import { tf } from '../engine/tf.js';
import type { Scalar, Tensor } from '../engine/tf.js';
import { withScope } from './context.js';

/** Replace an activation: return a new tensor, or nothing to keep it. */
export type HookFn = (x: Tensor, name: string) => Tensor | void;
export type HookFilter = string | RegExp | string[] | ((name: string) => boolean);

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

function checkFilter(model: Hookable, filter?: HookFilter): void {
  if (typeof filter === 'string' && !filter.includes('*')) checkNames(model, [filter]);
  if (Array.isArray(filter)) checkNames(model, filter.filter((f) => !f.includes('*')));
}

function replaced(fn: HookFn | undefined, name: string, x: Tensor): Tensor {
  const y = fn?.(x, name);
  if (!y) return x;
  if (!tf.util.arraysEqual(y.shape, x.shape)) throw new Error(`hook '${name}' returned shape [${y.shape}] for an activation of shape [${x.shape}]`);
  return y;
}

export interface CacheResult {
  output: Tensor;
  /** Activations by hook name; yours to dispose (or call dispose()). */
  cache: Record<string, Tensor>;
  dispose(): void;
}

/**
 * One forward pass that records the activations at the hook points matching
 * `filter` (all when omitted), after `hooks` (if given) replaced theirs, and after
 * any scope nested inside (e.g. a precision-wrapped model's rounding): the values
 * the forward pass used. Nothing else stays allocated.
 */
export function runWithCache(model: Hookable, input: Tensor, filter?: HookFilter, hooks?: Record<string, HookFn>): CacheResult {
  checkFilter(model, filter);
  if (hooks) checkNames(model, Object.keys(hooks));
  const keep = hookFilter(filter), fns = new Map(Object.entries(hooks ?? {}));
  const cache = new Map<string, Tensor>();
  let output: Tensor;
  try {
    output = withScope({
      hook(name, x) {
        const y = replaced(fns.get(name), name, x);
        if (!keep || keep(name)) {
          cache.get(name)?.dispose();
          cache.set(name, tf.keep(y.clone()));
        }
        return y;
      },
    }, () => tf.tidy(() => model.apply(input)));
  } catch (e) {
    for (const t of cache.values()) t.dispose();
    throw e;
  }
  const out = Object.fromEntries(cache);
  return { output, cache: out, dispose: () => tf.dispose([output, ...Object.values(out)]) };
}

/** One forward pass in which each named hook function may replace its activation. */
export function runWithHooks(model: Hookable, input: Tensor, hooks: Record<string, HookFn>): Tensor {
  checkNames(model, Object.keys(hooks));
  const fns = new Map(Object.entries(hooks));
  return withScope({ hook: (name, x) => replaced(fns.get(name), name, x) }, () => tf.tidy(() => model.apply(input)));
}

export interface GradientResult {
  /** The loss. */
  value: Scalar;
  /** d loss / d activation at each matching hook point, the activation's shape. Yours to dispose (or call dispose()). */
  grads: Record<string, Tensor>;
  dispose(): void;
}

/**
 * Backward hooks: one forward and backward pass of `loss(model.apply(input))`,
 * returning the gradient of the loss with respect to the activation at every
 * hook point matching `filter` (all when omitted).
 */
export function runWithGradients(model: Hookable, input: Tensor, loss: (output: Tensor) => Scalar, filter?: HookFilter): GradientResult {
  checkFilter(model, filter);
  const keep = hookFilter(filter);
  const grads = new Map<string, Tensor>();
  // An identity whose gradient function records what flows back through it.
  const probe = (name: string) => tf.customGrad(((x: Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: Tensor) => {
      const prev = grads.get(name);
      grads.set(name, tf.keep(prev ? tf.add(prev, dy) : tf.clone(dy)));
      prev?.dispose();
      return dy;
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: Tensor) => Tensor;
  let value: Scalar;
  try {
    const r = withScope({ hook: (name, x) => (!keep || keep(name) ? probe(name)(x) : undefined) },
      () => tf.variableGrads(() => loss(model.apply(input))));
    value = r.value;
    tf.dispose(Object.values(r.grads));
  } catch (e) {
    for (const t of grads.values()) t.dispose();
    throw e;
  }
  const out = Object.fromEntries(grads);
  return { value, grads: out, dispose: () => tf.dispose([value, ...Object.values(out)]) };
}

/** The hook names a forward pass actually reaches, in order (tests use it to check hookNames()). */
export function traceHookNames(model: Hookable, input: Tensor): string[] {
  const seen: string[] = [];
  withScope({ hook: (name) => { seen.push(name); } }, () => tf.tidy(() => { model.apply(input); }));
  return seen;
}
