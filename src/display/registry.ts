// Which plugin renders a value: user plugins first (most recently registered
// with {first: true} at the front), then the built-ins; the first whose test()
// accepts renders it. A plugin that throws never breaks the cell: the next
// plugin (or the util.inspect fallback) renders the value and the failure is
// reported in text/plain.
import { inspect } from 'node:util';
import { BUILTIN_PLUGINS } from './builtins.js';
import type { DisplayPlugin, MimeBundle } from './types.js';

const INSPECT_MAX_CHARS = 10_000;

let userPlugins: DisplayPlugin[] = [];
let builtins: DisplayPlugin[] = [...BUILTIN_PLUGINS];

function validatePlugin(p: DisplayPlugin): void {
  if (p === null || typeof p !== 'object') throw new TypeError('registerDisplayPlugin: a plugin is an object {name, test, render}');
  if (typeof p.name !== 'string' || p.name.trim() === '') throw new TypeError('registerDisplayPlugin: the plugin needs a non-empty string name');
  if (typeof p.test !== 'function') throw new TypeError(`registerDisplayPlugin: plugin '${p.name}' needs a test(value) function`);
  if (typeof p.render !== 'function') throw new TypeError(`registerDisplayPlugin: plugin '${p.name}' needs a render(value) function`);
}

/**
 * Adds a plugin, tried before every built-in. Among user plugins, later ones
 * come after earlier ones unless `first` is set. A user plugin with the same
 * name as another user plugin replaces it; one named like a built-in shadows it.
 */
export function registerDisplayPlugin(p: DisplayPlugin, opts: { first?: boolean } = {}): void {
  validatePlugin(p);
  userPlugins = userPlugins.filter((q) => q.name !== p.name);
  if (opts.first) userPlugins.unshift(p);
  else userPlugins.push(p);
}

/** Removes the user plugin with this name (or, when there is none, the built-in). Returns whether one was removed. */
export function unregisterDisplayPlugin(name: string): boolean {
  const nUser = userPlugins.length;
  userPlugins = userPlugins.filter((q) => q.name !== name);
  if (userPlugins.length !== nUser) return true;
  const nBuiltin = builtins.length;
  builtins = builtins.filter((q) => q.name !== name);
  return builtins.length !== nBuiltin;
}

/** Plugin names in the order they are tried. */
export function displayPlugins(): string[] {
  return [...userPlugins, ...builtins].map((p) => p.name);
}

/** Removes every user plugin and restores the built-ins. */
export function resetDisplayPlugins(): void {
  userPlugins = [];
  builtins = [...BUILTIN_PLUGINS];
}

/** util.inspect, depth 2, without colours, cut at 10,000 characters. */
export function inspectText(value: unknown): string {
  let s: string;
  try {
    s = inspect(value, { depth: 2, colors: false, maxArrayLength: 100, maxStringLength: 5_000, breakLength: 100 });
  } catch (err) {
    s = `<value that could not be inspected: ${(err as Error)?.message ?? String(err)}>`;
  }
  if (s.length > INSPECT_MAX_CHARS) s = `${s.slice(0, INSPECT_MAX_CHARS)}\u2026 (${s.length - INSPECT_MAX_CHARS} more characters)`;
  return s;
}

function describeFailure(name: string, phase: string, err: unknown): string {
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return `[display plugin '${name}' failed in ${phase}(): ${msg}]`;
}

/**
 * The MIME bundle for a value: the first plugin whose test() accepts it
 * renders it; otherwise text/plain via util.inspect. 'text/plain' is always
 * present (added from util.inspect when a plugin leaves it out).
 */
export function toMimeBundle(value: unknown): MimeBundle {
  const problems: string[] = [];
  let bundle: MimeBundle | undefined;
  for (const p of [...userPlugins, ...builtins]) {
    let accepts = false;
    try {
      accepts = Boolean(p.test(value));
    } catch (err) {
      problems.push(describeFailure(p.name, 'test', err));
      continue;
    }
    if (!accepts) continue;
    try {
      const out = p.render(value);
      if (out === null || typeof out !== 'object' || Array.isArray(out)) throw new TypeError(`render() returned ${out === null ? 'null' : Array.isArray(out) ? 'an array' : typeof out}, not a MIME bundle object`);
      bundle = { ...out };
      break;
    } catch (err) {
      problems.push(describeFailure(p.name, 'render', err));
    }
  }
  bundle ??= {};
  if (typeof bundle['text/plain'] !== 'string') bundle['text/plain'] = inspectText(value);
  if (problems.length) bundle['text/plain'] = `${problems.join('\n')}\n${bundle['text/plain'] as string}`;
  return bundle;
}
