// Data frames over the run store, for notebooks and exports: arquero tables
// of runs (config flattened), metrics (long format) and traces, written as CSV
// (arquero) or Parquet (arquero -> Arrow IPC -> parquet-wasm).
// arquero is an ES module; Node 20.19+ loads it with require(), and it is only
// loaded when a frame is first asked for, so training code that logs to the
// store never pays for it. parquet-wasm likewise loads on the first Parquet call.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import type { ColumnTable } from 'arquero' with { 'resolution-mode': 'import' };
import type * as ParquetWasm from 'parquet-wasm';
import { showValue } from '../../util/schema.js';
import { canonicalJson, stringifyNonFinite } from './codec.js';
import type { StoreDb } from './db.js';
import { StoreError } from './errors.js';
import { metrics, traces } from './records.js';
import { getRun, listRuns, requireRun, type RunFilter, type RunRecord } from './runs.js';

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
function parquetWasm(): typeof ParquetWasm {
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
function flattenObject(obj: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
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
function exportableColumns(cols: Columns): Columns {
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
function tableColumns(table: ColumnTable): Columns {
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

// ---------------------------------------------------------------------------
// Views of a store, and exports

export type ExportWhat = 'runs' | 'metrics' | 'traces';
export interface ExportResult { path: string; rows: number }

function idList(ids: string | readonly string[] | undefined): readonly string[] | undefined {
  return typeof ids === 'string' ? [ids] : ids;
}

function runIds(db: StoreDb, ids: string | readonly string[] | undefined): string[] {
  const list = idList(ids);
  if (list === undefined) return db.stmt('SELECT id FROM runs ORDER BY created_at, id').pluck().all() as string[];
  for (const id of list) requireRun(db, id);
  return [...list];
}

function runsColumns(runs: RunRecord[]): Columns {
  const flat = runs.map((r) => flattenObject(r.config));
  const configKeys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const cols: Columns = {
    id: runs.map((r) => r.id),
    name: runs.map((r) => r.name),
    kind: runs.map((r) => r.kind),
    status: runs.map((r) => r.status),
    status_reason: runs.map((r) => r.statusReason),
    status_step: runs.map((r) => r.statusStep),
    seed: runs.map((r) => r.seed),
    config_hash: runs.map((r) => r.configHash),
    resume_of: runs.map((r) => r.resumeOf),
    resume_from: runs.map((r) => r.resumeFrom),
    backend_name: runs.map((r) => (typeof r.backend.backend === 'string' ? r.backend.backend : null)),
    created_at: runs.map((r) => r.createdAt),
    started_at: runs.map((r) => r.startedAt),
    finished_at: runs.map((r) => r.finishedAt),
    wall_seconds: runs.map((r) => r.wallSeconds),
    pid: runs.map((r) => r.pid),
    hostname: runs.map((r) => r.hostname),
    last_heartbeat: runs.map((r) => r.lastHeartbeat),
    dytlab_version: runs.map((r) => r.dytlabVersion),
    config: runs.map((r) => canonicalJson(r.config)),
    backend: runs.map((r) => stringifyNonFinite(r.backend)),
  };
  for (const k of configKeys) cols[`config.${k}`] = flat.map((f) => (k in f ? f[k] : null));
  return cols;
}

function metricsColumns(db: StoreDb, ids: string[], names: readonly string[] | undefined, configFields: readonly string[]): Columns {
  const cols: Columns = { run_id: [], run_name: [], name: [], step: [], value: [], wall_time: [] };
  for (const f of configFields) cols[`config.${f}`] = [];
  for (const id of ids) {
    const run = getRun(db, id);
    const extra = configFields.map((f) => valueAtPath(run.config, f) ?? null);
    for (const m of metrics(db, id, { names })) {
      cols.run_id.push(id);
      cols.run_name.push(run.name);
      cols.name.push(m.name);
      cols.step.push(m.step);
      cols.value.push(m.value);
      cols.wall_time.push(m.wallTime);
      configFields.forEach((f, i) => cols[`config.${f}`].push(extra[i]));
    }
  }
  return cols;
}

function tracesColumns(db: StoreDb, ids: string[]): Columns {
  const cols: Columns = {
    run_id: [], step: [], layer: [], alpha: [], alpha_vector: [], input_std: [], extra: [], wall_time: [],
  };
  for (const id of ids) {
    for (const t of traces(db, id)) {
      cols.run_id.push(id);
      cols.step.push(t.step);
      cols.layer.push(t.layer);
      cols.alpha.push(t.alpha);
      cols.alpha_vector.push(t.alphaVector === null ? null : stringifyNonFinite(t.alphaVector));
      cols.input_std.push(t.inputStd);
      cols.extra.push(t.extra === null ? null : stringifyNonFinite(t.extra));
      cols.wall_time.push(t.wallTime);
    }
  }
  return cols;
}

/**
 * One row per run: the runs columns (snake_case), `backend_name`, the config
 * as canonical JSON, and every config leaf flattened into a `config.<path>`
 * column (arrays as JSON text; null where a run's config lacks the field).
 */
export function runsFrame(db: StoreDb, filter?: RunFilter): ColumnTable {
  return toTable(runsColumns(listRuns(db, filter)));
}

/**
 * Long format: run_id, run_name, name (the metric), step, value, wall_time,
 * plus a `config.<path>` column for each of opts.config (dot paths such as
 * 'optimizer.lr'). ids: one id, several, or all runs when omitted.
 */
export function metricsFrame(db: StoreDb, ids?: string | readonly string[], names?: readonly string[], opts: { config?: readonly string[] } = {}): ColumnTable {
  return toTable(metricsColumns(db, runIds(db, ids), names, opts.config ?? []));
}

/** run_id, step, layer, alpha, alpha_vector (JSON text), input_std, extra (JSON text), wall_time. */
export function tracesFrame(db: StoreDb, ids?: string | readonly string[]): ColumnTable {
  return toTable(tracesColumns(db, runIds(db, ids)));
}

function exportTable(db: StoreDb, what: ExportWhat, ids: string | readonly string[] | undefined): ColumnTable {
  switch (what) {
    case 'runs': {
      const list = ids === undefined ? listRuns(db) : runIds(db, ids).map((id) => getRun(db, id));
      return toTable(runsColumns(list));
    }
    case 'metrics': return toTable(metricsColumns(db, runIds(db, ids), undefined, []));
    case 'traces': return toTable(tracesColumns(db, runIds(db, ids)));
    default:
      throw new StoreError(`export: what = ${showValue(what)} is not one of "runs", "metrics", "traces"`);
  }
}

function exportPath(target: string, what: ExportWhat, ext: string): string {
  const abs = resolve(target);
  const given = extname(abs).toLowerCase();
  if (given !== ext && ['.csv', '.parquet', '.pq', '.json', '.arrow'].includes(given)) {
    throw new StoreError(`export ${what}: ${abs} ends in ${given}, but this export writes ${ext} ` +
      `(give a ${ext} file or a directory)`);
  }
  if (given === ext) {
    mkdirSync(dirname(abs), { recursive: true });
    return abs;
  }
  mkdirSync(abs, { recursive: true });
  return join(abs, `${what}${ext}`);
}

/**
 * Writes runs, metrics or traces as CSV. target: a file ending in .csv, or a
 * directory (created if needed) that receives `<what>.csv`. NaN, Infinity and
 * -Infinity are written as those words.
 */
export function exportCSV(db: StoreDb, target: string, what: ExportWhat, ids?: string | readonly string[]): ExportResult {
  const table = exportTable(db, what, ids);
  const path = exportPath(target, what, '.csv');
  writeFileSync(path, tableToCSV(table));
  return { path, rows: table.numRows() };
}

/** Writes runs, metrics or traces as a Parquet file (or `<what>.parquet` in a directory). */
export function exportParquet(db: StoreDb, target: string, what: ExportWhat, ids?: string | readonly string[]): ExportResult {
  const table = exportTable(db, what, ids);
  const path = exportPath(target, what, '.parquet');
  writeFileSync(path, tableToParquet(table));
  return { path, rows: table.numRows() };
}
