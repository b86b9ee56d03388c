// Reading config.json fields: typed, with defaults, and errors that name the
// folder, the field, what was expected and what was found.
import type { Snapshot } from './snapshot.js';

type Cfg = Pick<Snapshot, 'dir' | 'config'>;

function fail(s: Cfg, key: string, expected: string): never {
  throw new Error(`pretrained snapshot ${s.dir}: config.json ${key} = ${JSON.stringify(s.config[key])}; expected ${expected}`);
}

/** The first of `keys` present in config.json (aliases such as n_embd / hidden_size), or undefined. */
function pick(s: Cfg, keys: string | string[]): [string, unknown] {
  const ks = Array.isArray(keys) ? keys : [keys];
  for (const k of ks) if (s.config[k] !== undefined && s.config[k] !== null) return [k, s.config[k]];
  return [ks[0]!, undefined];
}

/** A positive integer field (the first alias present), or `fallback` when absent. */
export function cfgInt(s: Cfg, keys: string | string[], fallback?: number): number {
  const [k, v] = pick(s, keys);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(s, k, 'a positive integer');
  return v;
}

/** A finite positive number field, or `fallback` when absent. */
export function cfgNum(s: Cfg, keys: string | string[], fallback?: number): number {
  const [k, v] = pick(s, keys);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(s, k, 'a finite number > 0');
  return v;
}

export function cfgBool(s: Cfg, keys: string | string[], fallback: boolean): boolean {
  const [k, v] = pick(s, keys);
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail(s, k, 'true or false');
  return v;
}

/** A string field, one of `allowed` when given. */
export function cfgStr<T extends string>(s: Cfg, keys: string | string[], fallback: T, allowed?: readonly T[]): T {
  const [k, v] = pick(s, keys);
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || (allowed && !allowed.includes(v as T))) fail(s, k, allowed ? `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}` : 'a string');
  return v as T;
}

/** Fail naming a config field whose value this loader does not support. */
export function unsupported(s: Cfg, key: string, why: string): never {
  fail(s, key, why);
}
