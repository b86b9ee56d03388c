// AdamW (Loshchilov & Hutter): Adam moments with decoupled weight decay,
// written out so that its state can be checkpointed and restored exactly.
// Weight decay applies only to matrices (rank >= 2) other than position
// embeddings and class tokens: never to norm parameters (alpha, gamma, beta,
// shift), biases, gates, Fixup scalars or the embedding scale.
import { tf } from '../engine/tf.js';
import type { NamedTensorMap, Tensor, Variable } from '../engine/tf.js';
import type { NamedParameter } from '../nn/module.js';
import { adamwUpdate, sumOfSquares, type AdamWEntry } from '../engine/ops/train-ops.js';
import type { KernelImpl } from '../engine/ops/types.js';

export interface AdamWConfig { beta1: number; beta2: number; eps: number; weightDecay: number }

export function decays(p: NamedParameter): boolean {
  const last = p.name.split('.').pop()!;
  return p.variable.rank >= 2 && last !== 'pos' && last !== 'cls';
}

export class AdamW {
  /** Updates applied so far (bias correction uses it). */
  step = 0;
  readonly m = new Map<string, Variable>();
  readonly v = new Map<string, Variable>();
  /**
   * 'auto': on wasm with the SIMD module, every parameter in one fused kernel
   * call (engine/ops/train-ops.ts); elsewhere the composed tfjs ops. Both give
   * the same numbers; 'composed' / 'fused' force one (tests, benchmarks).
   */
  impl: KernelImpl = 'auto';
  private readonly params: NamedParameter[];

  constructor(params: NamedParameter[], readonly cfg: AdamWConfig) {
    this.params = params.filter((p) => p.trainable);
    const zeros = (p: NamedParameter) => tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false));
    for (const p of this.params) {
      this.m.set(p.name, zeros(p));
      this.v.set(p.name, zeros(p));
    }
  }

  get names(): string[] {
    return this.params.map((p) => p.name);
  }

  /** One update with learning rate `lr`; grads keyed by parameter name. */
  apply(grads: Map<string, Tensor>, lr: number): void {
    this.step++;
    const entries: AdamWEntry[] = [];
    for (const p of this.params) {
      const g = grads.get(p.name);
      if (!g) continue; // a parameter the loss does not reach
      entries.push({ param: p.variable, grad: g, m: this.m.get(p.name)!, v: this.v.get(p.name)!, decay: decays(p) });
    }
    // m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p = p (1 - lr wd, decayed only) - lr (m / c1) / (sqrt(v / c2) + eps).
    adamwUpdate(entries, { ...this.cfg, lr, step: this.step }, this.impl);
  }

  /** Moments as a flat tensor map (for checkpoints). */
  state(): NamedTensorMap {
    const out: NamedTensorMap = {};
    for (const [k, t] of this.m) out[`m.${k}`] = t;
    for (const [k, t] of this.v) out[`v.${k}`] = t;
    return out;
  }

  restore(step: number, tensors: Record<string, Tensor>): void {
    for (const [prefix, map] of [['m', this.m], ['v', this.v]] as const) {
      for (const [k, t] of map) {
        const src = tensors[`${prefix}.${k}`];
        if (!src) throw new Error(`optimizer state: missing '${prefix}.${k}'`);
        if (!tf.util.arraysEqual(src.shape, t.shape)) throw new Error(`optimizer state '${prefix}.${k}': shape [${src.shape}] != [${t.shape}]`);
        t.assign(src);
      }
    }
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * Scale gradients so their global L2 norm is at most maxNorm; returns the norm before clipping.
 * When clipping happens `clipped` holds new tensors the caller disposes.
 */
export function clipByGlobalNorm(grads: Map<string, Tensor>, maxNorm: number): { norm: number; clipped: Map<string, Tensor> } {
  // One kernel over every gradient on wasm + SIMD (float64 sums), tfjs reductions elsewhere.
  const norm = Math.sqrt(sumOfSquares([...grads.values()]));
  if (!(maxNorm > 0) || !Number.isFinite(norm) || norm <= maxNorm) return { norm, clipped: grads };
  const scale = maxNorm / (norm + 1e-6);
  const clipped = new Map([...grads].map(([k, g]) => [k, tf.mul(g, scale)] as [string, Tensor]));
  return { norm, clipped };
}
