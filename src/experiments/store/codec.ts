// Encodings the run store relies on, kept free of SQLite so that config code
// can hash configs without opening a database:
// - canonicalJson / configHash: one text and one sha256 per config, whatever
//   the order its keys were written in;
// - newRunId: sortable, unique run ids (ULID: 48-bit milliseconds + 80 random bits);
// - non-finite numbers: SQLite turns NaN into NULL and JSON has no NaN or
//   Infinity, so the store keeps them as tags ('NaN', 'Infinity', '-Infinity');
// - timestamps: ISO 8601 UTC text.
import { createHash, randomBytes } from 'node:crypto';
import { showValue } from '../../util/schema.js';

// ---------------------------------------------------------------------------
// Canonical JSON and config hashes

function canonical(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new Error(`canonicalJson: ${path} = ${showValue(value)} is not a finite number; JSON cannot hold it`);
      }
      return JSON.stringify(value);
    case 'undefined':
      return undefined;
    case 'bigint':
    case 'symbol':
    case 'function':
      throw new Error(`canonicalJson: ${path} is a ${typeof value}, which JSON cannot hold`);
    default:
      break;
  }
  const obj = value as object;
  if (seen.has(obj)) throw new Error(`canonicalJson: ${path} refers back to itself (a cycle)`);
  if (ArrayBuffer.isView(obj) && !(obj instanceof DataView)) {
    return canonical(Array.from(obj as unknown as ArrayLike<number>), path, seen);
  }
  if (obj instanceof Map || obj instanceof Set) {
    throw new Error(`canonicalJson: ${path} is a ${obj.constructor.name}; use a plain object or array`);
  }
  const toJSON = (obj as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return canonical((toJSON as () => unknown).call(obj), path, seen);
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((v, i) => canonical(v, `${path}[${i}]`, seen) ?? 'null').join(',')}]`;
    }
    const parts: string[] = [];
    for (const key of Object.keys(obj).sort()) {
      const s = canonical((obj as Record<string, unknown>)[key], path === '(root)' ? key : `${path}.${key}`, seen);
      if (s !== undefined) parts.push(`${JSON.stringify(key)}:${s}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}

/**
 * JSON text with object keys sorted recursively (UTF-16 code-unit order), no
 * whitespace, `undefined` fields dropped (as JSON.stringify does), typed arrays
 * written as arrays. Throws on NaN/Infinity, bigint, functions, Maps, Sets and
 * cycles, naming the field, because a config holding them has no stable text.
 */
export function canonicalJson(value: unknown): string {
  const s = canonical(value, '(root)', new Set());
  if (s === undefined) throw new Error('canonicalJson: the value is undefined');
  return s;
}

/** sha256 (hex, 64 characters) of canonicalJson(config). */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

// ---------------------------------------------------------------------------
// Run ids

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = -1;
let lastRandom: number[] = [];

/**
 * A ULID: 26 Crockford base-32 characters, the first 10 the creation time in
 * milliseconds, the last 16 random. Ids sort by creation time as text; within
 * one process ids created in the same millisecond still increase.
 */
export function newRunId(now: number = Date.now()): string {
  let rand: number[];
  if (now <= lastTime) {
    // Same millisecond (or the clock went back): increment the previous random part.
    now = lastTime;
    rand = lastRandom.slice();
    let i = rand.length - 1;
    while (i >= 0 && rand[i] === 31) rand[i--] = 0;
    if (i < 0) throw new Error('newRunId: random part overflowed within one millisecond');
    rand[i] += 1;
  } else {
    const bytes = randomBytes(16);
    rand = Array.from(bytes, (b) => b & 31);
  }
  lastTime = now;
  lastRandom = rand;
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time + rand.map((r) => CROCKFORD[r]).join('');
}

/** Creation time (ms since the epoch) encoded in a run id made by newRunId. */
export function runIdTime(id: string): number | undefined {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) return undefined;
  let t = 0;
  for (const c of id.slice(0, 10)) t = t * 32 + CROCKFORD.indexOf(c);
  return t;
}

// ---------------------------------------------------------------------------
// Non-finite numbers

type NonFiniteTag = 'NaN' | 'Infinity' | '-Infinity';
const NONFINITE_TAGS: readonly NonFiniteTag[] = ['NaN', 'Infinity', '-Infinity'];

/** [REAL column value, tag column value]: finite numbers as themselves, others as NULL plus a tag. */
export function encodeNumber(v: number): [number | null, NonFiniteTag | null] {
  if (Number.isFinite(v)) return [v, null];
  if (Number.isNaN(v)) return [null, 'NaN'];
  return [null, v > 0 ? 'Infinity' : '-Infinity'];
}

/** Inverse of encodeNumber; NULL without a tag is `null` (no value). */
export function decodeNumber(num: number | null, tag: string | null): number | null {
  if (num !== null) return num;
  switch (tag) {
    case null: return null;
    case 'NaN': return NaN;
    case 'Infinity': return Infinity;
    case '-Infinity': return -Infinity;
    default: throw new Error(`decodeNumber: unknown non-finite tag ${showValue(tag)}`);
  }
}

/** JSON.stringify that writes NaN/Infinity/-Infinity as the strings "NaN", "Infinity", "-Infinity". */
export function stringifyNonFinite(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? encodeNumber(v)[1] : v));
}

/** JSON.parse that turns the strings "NaN", "Infinity", "-Infinity" back into numbers. */
export function parseNonFinite(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' && (NONFINITE_TAGS as readonly string[]).includes(v) ? decodeNumber(null, v) : v));
}

// ---------------------------------------------------------------------------
// Timestamps

/** Now, as the store writes times: ISO 8601 UTC. */
export function nowIso(): string {
  return new Date().toISOString();
}
