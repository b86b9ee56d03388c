// Data frames over the run store, for notebooks and exports: arquero tables,
// CSV (arquero) and Parquet (arquero -> Arrow IPC -> parquet-wasm).
// arquero is an ES module; Node 20.19+ loads it with require(), and it is only
// loaded when a frame is first asked for, so training code that logs to the
// store never pays for it. parquet-wasm likewise loads on the first Parquet call.
import { createRequire } from 'node:module';
import type { ColumnTable } from 'arquero' with { 'resolution-mode': 'import' };
import type * as ParquetWasm from 'parquet-wasm';

export type { ColumnTable };
type Arquero = typeof import('arquero', { with: { 'resolution-mode': 'import' } });

const requireHere = createRequire(__filename);
let aqModule: Arquero | undefined;
let pwModule: typeof ParquetWasm | undefined;

/** The arquero module (loaded on first use). */
export function arquero(): Arquero {
  return (aqModule ??= requireHere('arquero') as Arquero);
}

/** The parquet-wasm module, Node build (loaded on first use). */
export function parquetWasm(): typeof ParquetWasm {
  return (pwModule ??= requireHere('parquet-wasm') as typeof ParquetWasm);
}

/** Column-oriented data: one array per column, all the same length. */
export type Columns = Record<string, unknown[]>;

/** An arquero table from an array of records or from columns. */
export function toTable(rows: readonly object[] | Columns): ColumnTable {
  const aq = arquero();
  if (Array.isArray(rows)) return aq.from(rows as object[]);
  return aq.table(rows as Columns);
}

/**
 * Flattens a nested object into dot paths: {a: {b: 1}, c: [1, 2]} ->
 * {'a.b': 1, c: '[1,2]'}. Arrays and other non-plain values are written as
 * JSON text, so every leaf is a number, string, boolean or null.
 */
export function flattenObject(obj: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    const keys = Object.keys(obj);
    if (keys.length === 0 && prefix) out[prefix] = '{}';
    for (const k of keys) flattenObject((obj as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out);
    return out;
  }
  if (!prefix) return out;
  if (obj === undefined) return out;
  if (obj === null || typeof obj === 'number' || typeof obj === 'string' || typeof obj === 'boolean') out[prefix] = obj;
  else out[prefix] = JSON.stringify(obj);
  return out;
}

/** The value at a dot path ('optimizer.lr') of a nested object, or undefined. */
export function valueAtPath(obj: unknown, path: string): unknown {
  let v: unknown = obj;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function kindOf(v: unknown): 'null' | 'number' | 'string' | 'boolean' | 'other' {
  if (v === null || v === undefined) return 'null';
  const t = typeof v;
  return t === 'number' || t === 'string' || t === 'boolean' ? t : 'other';
}

/**
 * Columns that Arrow (and CSV) can hold with one type each: a column whose
 * non-null values mix numbers, strings and booleans, or hold objects, is
 * written as text (objects as JSON); undefined becomes null.
 */
export function exportableColumns(cols: Columns): Columns {
  const out: Columns = {};
  for (const [name, values] of Object.entries(cols)) {
    const kinds = new Set(values.map(kindOf));
    kinds.delete('null');
    if (kinds.size <= 1 && !kinds.has('other')) {
      out[name] = values.map((v) => (v === undefined ? null : v));
    } else {
      out[name] = values.map((v) => {
        const k = kindOf(v);
        if (k === 'null') return null;
        if (k === 'other') return JSON.stringify(v);
        return String(v);
      });
    }
  }
  return out;
}

/** The columns of an arquero table, as plain arrays. */
export function tableColumns(table: ColumnTable): Columns {
  const cols: Columns = {};
  for (const name of table.columnNames()) cols[name] = Array.from(table.array(name) as ArrayLike<unknown>);
  return cols;
}

/** CSV text of a table (NaN, Infinity and -Infinity are written as such; arquero's fromCSV reads them back). */
export function tableToCSV(table: ColumnTable): string {
  const aq = arquero();
  return aq.toCSV(aq.table(exportableColumns(tableColumns(table))));
}

/** Parquet bytes of a table. */
export function tableToParquet(table: ColumnTable): Uint8Array {
  const aq = arquero();
  const pw = parquetWasm();
  const ipc = aq.toArrowIPC(aq.table(exportableColumns(tableColumns(table))), { format: 'stream' });
  const arrow = pw.Table.fromIPCStream(ipc);
  return pw.writeParquet(arrow);
}

/** An arquero table read from Parquet bytes. */
export function parquetToTable(bytes: Uint8Array): ColumnTable {
  const aq = arquero();
  const pw = parquetWasm();
  return aq.fromArrow(pw.readParquet(bytes).intoIPCStream());
}
