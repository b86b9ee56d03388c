// Validation at the edge: zod schemas, and errors a researcher can act on.
// Every message names where the problem is (the config's label and the field
// path) and the value that was given.
import type { ZodError, ZodIssue, ZodTypeAny, z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string, readonly issues: string[] = [message]) {
    super(message);
    this.name = 'ConfigError';
  }
}

function valueAt(input: unknown, path: (string | number)[]): unknown {
  let v: unknown = input;
  for (const k of path) {
    if (v == null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

export function showValue(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'undefined';
  try {
    const s = JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}

function describeIssue(issue: ZodIssue, input: unknown): string {
  const field = issue.path.length ? issue.path.join('.') : '(root)';
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? ` in ${field}` : '';
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}${where}`;
  }
  const value = valueAt(input, issue.path);
  if (issue.code === 'invalid_union_discriminator') {
    return `${field} = ${showValue(value)} is not one of ${issue.options.map((o) => showValue(o)).join(', ')}`;
  }
  if (issue.code === 'invalid_enum_value') {
    return `${field} = ${showValue(value)} is not one of ${issue.options.map((o) => showValue(o)).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && value === undefined) return `${field} is required (${issue.expected})`;
  return `${field} = ${showValue(value)} is invalid: ${issue.message}`;
}

export function formatZodError(label: string, err: ZodError, input: unknown): ConfigError {
  const lines = err.issues.map((i) => describeIssue(i, input));
  return new ConfigError(`${label}: ${lines.join('; ')}`, lines);
}

/** Parse `input` with `schema`, or throw a ConfigError naming `label`, each bad field and its value. */
export function parseWith<S extends ZodTypeAny>(schema: S, input: unknown, label: string): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw formatZodError(label, r.error, input);
  return r.data as z.output<S>;
}

/** Keys that would reach Object.prototype through a dotted path (`__proto__.x`). */
const UNSAFE_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/** The keys of a dotted path (`train.steps`), refusing empty and prototype-reaching keys before anything is written. */
export function dottedPath(path: string, where: string): string[] {
  const keys = path.split('.');
  for (const k of keys) {
    if (k === '') throw new ConfigError(`${where}: '${path}' has an empty key (expected a dotted path such as train.steps)`);
    if (UNSAFE_KEYS.has(k)) throw new ConfigError(`${where}: '${path}': '${k}' cannot be set (it is not a config field)`);
  }
  return keys;
}
