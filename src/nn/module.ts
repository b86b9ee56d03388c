// A small Module base: named, typed parameters and child modules, so that
// `model.namedParameters()` yields names like `blocks.3.norm1.alpha`, and each
// module knows its own dotted path. Hook points are modules too (HookPoint,
// below): declared where an activation is made, named by their place in the
// tree, so `hookNames()` lists them in the order they are declared.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { atHookPoint } from '../hooks/context.js';

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
  /** Dotted path from the root module ('' for the root), e.g. 'blocks.3.attn'. */
  path = '';

  /** Register a parameter under `name`; trainable unless said otherwise. */
  protected param(name: string, init: Tensor, trainable = true): Variable {
    this.checkFree(name);
    const v = tf.variable(init, trainable);
    init.dispose();
    this.params.set(name, v);
    return v;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.checkFree(name);
    if (name.includes('.') && !(m instanceof HookPoint)) throw new Error(`${this.constructor.name}: child name '${name}' must not contain '.'`);
    this.children.set(name, m);
    m.setPath(this.join(name));
    return m;
  }

  /**
   * Declare a hook point at `name` below this module ('norm1.in' in block 3 is
   * 'blocks.3.norm1.in'); call its apply(x) where the activation is made.
   * Declare them in forward order: hookNames() keeps the order of the tree.
   */
  protected hookPoint(name: string): HookPoint {
    return this.child(name, new HookPoint());
  }

  /** The hook points below this module, by path, in declaration order. */
  hookNames(): string[] {
    return this.namedModules().filter((m) => m.module instanceof HookPoint).map((m) => m.module.path);
  }

  /** A constant tensor owned by this module (kept out of tidy scopes, freed by dispose). */
  protected buffer<T extends Tensor>(t: T): T {
    this.buffers.push(tf.keep(t));
    return t;
  }

  private checkFree(name: string): void {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: duplicate name '${name}'`);
  }

  private join(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  private setPath(path: string): void {
    this.path = path;
    for (const [name, m] of this.children) m.setPath(this.join(name));
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

  /** Every module below this one (depth first), with its dotted path relative to this one. */
  namedModules(prefix = ''): { name: string; module: Module; parent: Module; key: string }[] {
    const out: { name: string; module: Module; parent: Module; key: string }[] = [];
    for (const [key, m] of this.children) {
      const name = prefix + key;
      out.push({ name, module: m, parent: this, key });
      out.push(...m.namedModules(`${name}.`));
    }
    return out;
  }

  /**
   * Swap the child registered as `key` for `m` (disposing the old one). Fields of
   * this module that pointed at the old child are re-pointed, so forward passes
   * written against fields see the new module.
   */
  replaceChild(key: string, m: Module): void {
    const old = this.children.get(key);
    if (!old) throw new Error(`${this.constructor.name} at '${this.path}': no child '${key}'`);
    this.children.set(key, m);
    m.setPath(this.join(key));
    for (const k of Object.keys(this)) {
      if ((this as Record<string, unknown>)[k] === old) (this as Record<string, unknown>)[k] = m;
    }
    old.dispose();
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

/** An ordered list of modules named '0', '1', ... (so paths read 'blocks.3.attn'). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[] = [];
  constructor(items: M[]) {
    super();
    items.forEach((m, i) => this.items.push(this.child(String(i), m)));
  }
  override replaceChild(key: string, m: Module): void {
    const i = Number(key);
    super.replaceChild(key, m);
    this.items[i] = m as M;
  }
}

/**
 * A named point in a forward pass where scopes of the forward context (hooks,
 * caches, precision rounding) may read or replace the activation. With no scope
 * active, apply(x) is x.
 */
export class HookPoint extends Module {
  apply(x: Tensor): Tensor {
    return atHookPoint(this.path, x);
  }
}
