// Small, dependency-free helpers for producing HTML safely: escaping text and
// attributes, JSON that can sit inside a <script> element, script text that
// cannot close its own element early, and terminal-text cleanup (ANSI codes,
// carriage-return overwrites). Shared by the display plugins and the report.
import { randomUUID } from 'node:crypto';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for use in HTML content and in quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/**
 * JSON text that is safe inside `<script>` (any type): `<`, `>`, `&` and the
 * two JavaScript line terminators U+2028/U+2029 are written as \u escapes, so
 * no string value can close the element or open an HTML comment. The result is
 * still valid JSON and a valid JavaScript expression.
 */
export function jsonForScript(value: unknown): string {
  const s = JSON.stringify(value) ?? 'null';
  return s.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Makes JavaScript source safe to inline in a `<script>` element: `</script`
 * can only occur inside a string, template, regular expression or comment, and
 * `<\/script` means the same thing in all of them.
 */
export function inlineScript(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1');
}

// CSI sequences (colours, cursor moves), OSC sequences (titles, hyperlinks),
// and the remaining two-character escapes.
// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** Removes ANSI escape sequences (colours and cursor control) from terminal text. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI_RE, '');
}

/**
 * Applies carriage returns the way Jupyter shows them: on each line only the
 * text after the last `\r` remains (a trailing `\r` keeps the text before
 * it), so a progress line redrawn in place shows only its final state.
 */
export function applyCarriageReturns(text: string): string {
  if (!text.includes('\r')) return text;
  return text.replace(/\r\n/g, '\n').split('\n').map((line) => {
    const parts = line.split('\r').filter((p) => p.length > 0);
    return parts.length ? (parts[parts.length - 1] as string) : '';
  }).join('\n');
}

/** Terminal text made fit for an HTML <pre>: ANSI codes stripped, `\r` applied, escaped. */
export function terminalTextToHtml(text: string): string {
  return escapeHtml(applyCarriageReturns(stripAnsi(text)));
}

/** A fresh identifier usable as an HTML id and a Jupyter display id. */
export function newId(prefix = 'dytlab'): string {
  return `${prefix}-${randomUUID()}`;
}

/** Formats a number compactly for tables and summaries (NaN, Inf, integers, 5 significant digits). */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Inf';
  if (x === -Infinity) return '-Inf';
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) return x.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(x.toPrecision(5)));
}

/**
 * Converts a value into plain JSON data: typed arrays become arrays, Maps and
 * Sets become objects and arrays, Dates ISO strings, bigints numbers (or
 * strings when out of range), functions and symbols are dropped, non-finite
 * numbers become null (as JSON.stringify would), and cycles are cut.
 */
export function toPlainJson(value: unknown, seen: Set<object> = new Set()): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (typeof value !== 'object') return undefined; // undefined, function, symbol
  if (seen.has(value)) return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const arr = Array.from(value as unknown as ArrayLike<number | bigint>);
    return arr.map((v) => toPlainJson(v, seen));
  }
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => { const p = toPlainJson(v, seen); return p === undefined ? null : p; });
    if (value instanceof Set) return [...value].map((v) => toPlainJson(v, seen) ?? null);
    if (value instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of value) { const p = toPlainJson(v, seen); if (p !== undefined) out[String(k)] = p; }
      return out;
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return toPlainJson(toJSON.call(value), seen);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const p = toPlainJson(v, seen);
      if (p !== undefined) out[k] = p;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
