// The forward context: one stack of scopes through which every interception of
// a forward pass goes (hooks that read or replace activations, overrides of
// Linear products, precision rounding). Scopes nest: the innermost (entered
// last, closest to the model) acts first, so an outer scope sees what the
// forward pass actually used; `runWithCache(withPrecision(model, {norm:
// 'bf16'}), x)` caches the bf16-rounded norm outputs. With no scope entered a
// hook point costs one length check.
//
// This sits below nn/ (as TransformerLens's HookPoint sits below its models):
// it knows tensors, names and a Linear's shape of call, nothing of modules.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';

/** What a Linear offers an override: its path and its plain affine map. */
export interface LinearLike {
  readonly path: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** [in, out] */
  readonly weight: Tensor;
  readonly bias?: Tensor;
  affine(x2: Tensor, weight?: Tensor): Tensor;
}

/** The rest of the chain of Linear overrides: the next scope outwards, and finally the plain affine map. */
export type LinearNext = (x2: Tensor, weight: Tensor) => Tensor;

/**
 * Computes a Linear's product x2 [N, in] -> [N, out]: transform (x2, weight) and call
 * `next`, or compute the product itself (a terminal override, e.g. int8 quantization).
 */
export type LinearOverride = (layer: LinearLike, x2: Tensor, weight: Tensor, next: LinearNext) => Tensor;

export interface ForwardScope {
  /** At each hook point: return a replacement (same shape) or nothing to keep the activation. */
  hook?(name: string, x: Tensor): Tensor | void;
  linear?: LinearOverride;
}

const scopes: ForwardScope[] = [];

/** Whether any scope is entered (hooks, Linear overrides, precision): fused paths that skip hook points step aside. */
export function hooksActive(): boolean {
  return scopes.length > 0;
}

/** Run `f` (synchronous: a forward pass, an evaluation, a gradient) inside `scope`. */
export function withScope<T>(scope: ForwardScope, f: () => T): T {
  const depth = scopes.push(scope);
  try {
    return f();
  } finally {
    scopes.length = depth - 1;
  }
}

/** Called by every hook point with its name; each scope, innermost first, may replace x. */
export function atHookPoint(name: string, x: Tensor): Tensor {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const y = scopes[i]!.hook?.(name, x);
    if (y) {
      if (!tf.util.arraysEqual(y.shape, x.shape)) {
        throw new Error(`hook '${name}' returned shape [${y.shape}] for an activation of shape [${x.shape}]`);
      }
      x = y;
    }
  }
  return x;
}

/** A Linear's product through the overrides of every scope, innermost first, then the plain map. */
export function linearProduct(layer: LinearLike, x2: Tensor): Tensor {
  let chain: LinearNext = (x, w) => layer.affine(x, w);
  let any = false;
  // Built from the outermost inwards, so the innermost override is called first.
  for (const s of scopes) {
    const o = s.linear;
    if (!o) continue;
    const next = chain;
    chain = (x, w) => o(layer, x, w, next);
    any = true;
  }
  return any ? chain(x2, layer.weight) : layer.affine(x2);
}

/** Run `f` with every Linear's product computed through `fn` (nests with other scopes). */
export function withLinearOverride<T>(fn: LinearOverride, f: () => T): T {
  return withScope({ linear: fn }, f);
}
