// Tables: arrays of plain records with the same keys, and arquero tables
// (duck-typed: columnNames() and objects()) -> an HTML <table> and aligned
// plain text, both capped at TABLE_MAX_ROWS rows.
import { escapeHtml, formatNumber, toPlainJson } from './html.js';
import type { MimeBundle } from './types.js';

export const TABLE_MAX_ROWS = 50;
const MAX_CELL_CHARS = 40;

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** An array of at least one plain object, all with the same set of keys. */
export function isRecordArray(v: unknown): v is Record<string, unknown>[] {
  if (!Array.isArray(v) || v.length === 0 || !isPlainRecord(v[0])) return false;
  const keys = Object.keys(v[0]);
  if (keys.length === 0) return false;
  const keySet = new Set(keys);
  for (const row of v) {
    if (!isPlainRecord(row)) return false;
    const k = Object.keys(row);
    if (k.length !== keys.length || !k.every((x) => keySet.has(x))) return false;
  }
  return true;
}

interface FrameLike {
  columnNames(): string[];
  objects(opts?: { limit?: number }): Record<string, unknown>[];
  numRows?(): number;
}

/** An arquero ColumnTable (or anything with columnNames() and objects()). */
export function isFrameLike(v: unknown): v is FrameLike {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.columnNames === 'function' && typeof o.objects === 'function';
}

/** A cell's text: numbers compact, nested values as JSON, null/undefined as such. */
export function cellText(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return '';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  try {
    return JSON.stringify(toPlainJson(v)) ?? String(v);
  } catch {
    return String(v);
  }
}

function clip(s: string, n: number): string {
  const oneLine = s.replace(/\r?\n/g, '\u21b5');
  return oneLine.length > n ? `${oneLine.slice(0, n - 1)}\u2026` : oneLine;
}

/** Columns, the first rows, and the total row count. */
interface TableData { columns: string[]; rows: Record<string, unknown>[]; total: number }

function tableData(value: unknown): TableData {
  if (isFrameLike(value)) {
    const columns = value.columnNames();
    const total = typeof value.numRows === 'function' ? value.numRows() : value.objects().length;
    const rows = value.objects({ limit: TABLE_MAX_ROWS }).slice(0, TABLE_MAX_ROWS);
    return { columns, rows, total };
  }
  const arr = value as Record<string, unknown>[];
  return { columns: Object.keys(arr[0] as object), rows: arr.slice(0, TABLE_MAX_ROWS), total: arr.length };
}

function moreRowsNote(t: TableData): string {
  const more = t.total - t.rows.length;
  return more > 0 ? `\u2026 ${more} more row${more === 1 ? '' : 's'} (${t.total} in all)` : '';
}

export function tableHtml(t: TableData): string {
  const numeric = t.columns.map((c) => t.rows.length > 0 && t.rows.every((r) => r[c] == null || typeof r[c] === 'number'));
  const head = `<tr><th></th>${t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r, i) => `<tr><th>${i}</th>${t.columns.map((c, j) => {
    const text = cellText(r[c]);
    const style = numeric[j] ? ' style="text-align:right"' : '';
    return `<td${style}>${escapeHtml(text)}</td>`;
  }).join('')}</tr>`).join('\n');
  const note = moreRowsNote(t);
  return `<div class="dytlab-table">\n<table class="dataframe">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>\n`
    + `<p class="dytlab-table-note" style="font-size:smaller;color:#666">${note ? `${escapeHtml(note)} \u00b7 ` : ''}${t.total} row${t.total === 1 ? '' : 's'} \u00d7 ${t.columns.length} column${t.columns.length === 1 ? '' : 's'}</p>\n</div>`;
}

export function tableText(t: TableData): string {
  const cells = t.rows.map((r) => t.columns.map((c) => clip(cellText(r[c]), MAX_CELL_CHARS)));
  const header = t.columns.map((c) => clip(c, MAX_CELL_CHARS));
  const numeric = t.columns.map((c) => t.rows.length > 0 && t.rows.every((r) => r[c] == null || typeof r[c] === 'number'));
  const widths = header.map((h, j) => Math.max(h.length, ...cells.map((row) => (row[j] as string).length)));
  const pad = (s: string, j: number) => (numeric[j] ? s.padStart(widths[j] as number) : s.padEnd(widths[j] as number));
  const line = (row: string[]) => row.map(pad).join('  ').trimEnd();
  const lines = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  const note = moreRowsNote(t);
  if (note) lines.push(note);
  return lines.join('\n');
}

export function renderTable(value: unknown): MimeBundle {
  const t = tableData(value);
  return { 'text/html': tableHtml(t), 'text/plain': tableText(t) };
}
