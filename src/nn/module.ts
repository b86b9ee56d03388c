// A small Module base: named, typed parameters and child modules, so that
// `model.namedParameters()` yields names like `blocks.3.norm1.alpha`.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';

export interface NamedParameter {
  name: string;
  variable: Variable;
  /** false for constants an analysis may still want to read (e.g. a fixed alpha). */
  trainable: boolean;
}

export abstract class Module {
  private readonly params = new Map<string, Variable>();
  private readonly children = new Map<string, Module>();
  private readonly buffers: Tensor[] = [];

  /** Register a parameter under `name`; trainable unless said otherwise. */
  protected param(name: string, init: Tensor, trainable = true): Variable {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: duplicate name '${name}'`);
    const v = tf.variable(init, trainable);
    init.dispose();
    this.params.set(name, v);
    return v;
  }

  protected child<M extends Module>(name: string, m: M): M {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: duplicate name '${name}'`);
    this.children.set(name, m);
    return m;
  }

  /** A constant tensor owned by this module (kept out of tidy scopes, freed by dispose). */
  protected buffer<T extends Tensor>(t: T): T {
    this.buffers.push(tf.keep(t));
    return t;
  }

  namedParameters(prefix = ''): NamedParameter[] {
    const out: NamedParameter[] = [];
    for (const [name, variable] of this.params) out.push({ name: prefix + name, variable, trainable: variable.trainable });
    for (const [name, m] of this.children) out.push(...m.namedParameters(`${prefix}${name}.`));
    return out;
  }

  /** Parameter by its dotted name, or undefined. */
  parameter(name: string): Variable | undefined {
    return this.namedParameters().find((p) => p.name === name)?.variable;
  }

  trainableVariables(): Variable[] {
    return this.namedParameters().filter((p) => p.trainable).map((p) => p.variable);
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const t of this.buffers) t.dispose();
    for (const m of this.children.values()) m.dispose();
    this.params.clear();
    this.children.clear();
    this.buffers.length = 0;
  }
}
