// What a run records while it trains: per-step metrics, per-layer alpha
// traces and artifacts (checkpoints, reports). Every write is one transaction
// and counts as a heartbeat of the run's process (runs.ts touch); NaN and
// +-Infinity round-trip (schema.ts).
import { parseWith, showValue } from '../../util/schema.js';
import { decodeNumber, encodeNumber, nowIso, parseNonFinite, stringifyNonFinite } from './codec.js';
import type { Statement, StoreDb } from './db.js';
import { StoreError } from './errors.js';
import { requireRun, touch } from './runs.js';
import { TRACE_COLUMNS, type ArtifactDbRow, type MetricDbRow, type TraceDbRow } from './schema.js';
import { artifactSchema, checkName, checkStep, checkValue } from './validate.js';

interface MetricRow { step: number; name: string; value: number }
/** A metric row to write; wallTime (seconds since the epoch) defaults to now. */
export interface MetricInput extends MetricRow { wallTime?: number }
export interface MetricRecord extends MetricRow { wallTime: number }

export interface TraceInput {
  layer: string;
  /** One scalar alpha, a per-channel vector (its mean goes to `alpha`), or null (no alpha: LayerNorm, RMSNorm). */
  alpha?: number | ArrayLike<number> | null;
  inputStd: number;
  extra?: object | null;
}
export interface TraceRecord {
  step: number;
  layer: string;
  alpha: number | null;
  alphaVector: number[] | null;
  inputStd: number;
  extra: Record<string, unknown> | null;
  wallTime: number;
}

export interface ArtifactInput { kind: string; path: string; step?: number; meta?: object }
export interface ArtifactRecord {
  id: number;
  runId: string;
  kind: string;
  path: string;
  step: number | null;
  meta: Record<string, unknown> | null;
  createdAt: string;
}

function parseJsonObject(text: string | null): Record<string, unknown> | null {
  return text == null ? null : (parseNonFinite(text) as Record<string, unknown>);
}

function rowToArtifact(r: ArtifactDbRow): ArtifactRecord {
  return {
    id: r.id, runId: r.run_id, kind: r.kind, path: r.path, step: r.step,
    meta: parseJsonObject(r.meta), createdAt: r.created_at,
  };
}

function rowToTrace(r: TraceDbRow): TraceRecord {
  return {
    step: r.step,
    layer: r.layer,
    alpha: decodeNumber(r.alpha, r.alpha_nonfinite),
    alphaVector: r.alpha_vector == null ? null : (parseNonFinite(r.alpha_vector) as number[]),
    inputStd: decodeNumber(r.input_std, r.input_std_nonfinite) ?? NaN,
    extra: parseJsonObject(r.extra),
    wallTime: r.wall_time,
  };
}

// ---------------------------------------------------------------------------
// Metrics
function upsertMetric(db: StoreDb): Statement {
  return db.stmt(`INSERT INTO metrics (run_id, step, name, value, value_nonfinite, wall_time) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value, value_nonfinite = excluded.value_nonfinite,
    wall_time = excluded.wall_time`);
}

/** Writes several metrics of one step (one transaction); a (step, name) written before is replaced. */
export function logMetrics(db: StoreDb, id: string, step: number, values: Record<string, number>): number {
  const where = `logMetrics ${id}`;
  checkStep(step, where);
  if (values === null || typeof values !== 'object') {
    throw new StoreError(`${where}: values = ${showValue(values)} must be an object of name -> number`);
  }
  const entries = Object.entries(values);
  for (const [name, v] of entries) {
    checkName(name, where);
    checkValue(v, `${where}: ${name}`);
  }
  const now = Date.now() / 1000;
  const at = nowIso();
  return db.write(() => {
    requireRun(db, id);
    const ins = upsertMetric(db);
    for (const [name, v] of entries) ins.run(id, step, name, ...encodeNumber(v), now);
    touch(db, id, at);
    return entries.length;
  });
}

/** Writes many metric rows (any steps) in one transaction. */
export function logMetricsBatch(db: StoreDb, id: string, rows: readonly MetricInput[]): number {
  const where = `logMetricsBatch ${id}`;
  if (!Array.isArray(rows)) throw new StoreError(`${where}: rows = ${showValue(rows)} must be an array`);
  rows.forEach((r, i) => {
    if (r === null || typeof r !== 'object') throw new StoreError(`${where}: rows[${i}] = ${showValue(r)} is not an object`);
    checkStep(r.step, `${where}: rows[${i}]`);
    checkName(r.name, `${where}: rows[${i}]`);
    checkValue(r.value, `${where}: rows[${i}].value`);
    if (r.wallTime !== undefined && !Number.isFinite(r.wallTime)) {
      throw new StoreError(`${where}: rows[${i}].wallTime = ${showValue(r.wallTime)} must be seconds since the epoch`);
    }
  });
  const now = Date.now() / 1000;
  const at = nowIso();
  return db.write(() => {
    requireRun(db, id);
    const ins = upsertMetric(db);
    for (const r of rows) ins.run(id, r.step, r.name, ...encodeNumber(r.value), r.wallTime ?? now);
    touch(db, id, at);
    return rows.length;
  });
}

/** Metric rows ordered by step then name, NaN and +-Infinity restored. */
export function metrics(db: StoreDb, id: string, opts: { names?: readonly string[]; fromStep?: number; toStep?: number } = {}): MetricRecord[] {
  requireRun(db, id);
  const where = ['run_id = ?'];
  const params: unknown[] = [id];
  if (opts.names !== undefined) {
    if (opts.names.length === 0) return [];
    where.push(`name IN (${opts.names.map(() => '?').join(', ')})`);
    params.push(...opts.names);
  }
  if (opts.fromStep !== undefined) { where.push('step >= ?'); params.push(opts.fromStep); }
  if (opts.toStep !== undefined) { where.push('step <= ?'); params.push(opts.toStep); }
  const rows = db.stmt(`SELECT step, name, value, value_nonfinite, wall_time FROM metrics WHERE ${where.join(' AND ')}
    ORDER BY step, name`).all(...params) as MetricDbRow[];
  return rows.map((r) => ({ step: r.step, name: r.name, value: decodeNumber(r.value, r.value_nonfinite) as number, wallTime: r.wall_time }));
}

/** One metric as two aligned arrays, ordered by step. */
export function metricSeries(db: StoreDb, id: string, name: string): { step: number[]; value: number[] } {
  requireRun(db, id);
  const rows = db.stmt('SELECT step, value, value_nonfinite FROM metrics WHERE run_id = ? AND name = ? ORDER BY step')
    .all(id, name) as MetricDbRow[];
  return { step: rows.map((r) => r.step), value: rows.map((r) => decodeNumber(r.value, r.value_nonfinite) as number) };
}

/** Names of the metrics a run logged, sorted. */
export function metricNames(db: StoreDb, id: string): string[] {
  requireRun(db, id);
  return db.stmt('SELECT DISTINCT name FROM metrics WHERE run_id = ? ORDER BY name').pluck().all(id) as string[];
}

// ---------------------------------------------------------------------------
// Traces

/**
 * Writes one step's per-layer traces (one transaction). alpha: a scalar, a
 * per-channel vector (stored as JSON, its mean in the alpha column), or
 * null/absent for norms without alpha. A (step, layer) written before is replaced.
 */
export function logTraces(db: StoreDb, id: string, step: number, rows: readonly TraceInput[]): number {
  const where = `logTraces ${id}`;
  checkStep(step, where);
  if (!Array.isArray(rows)) throw new StoreError(`${where}: rows = ${showValue(rows)} must be an array`);
  const now = Date.now() / 1000;
  const encoded = rows.map((r, i) => {
    const w = `${where}: rows[${i}]`;
    if (r === null || typeof r !== 'object') throw new StoreError(`${w} = ${showValue(r)} is not an object`);
    if (typeof r.layer !== 'string' || r.layer.length === 0) {
      throw new StoreError(`${w}.layer = ${showValue(r.layer)} must be a non-empty string`);
    }
    checkValue(r.inputStd, `${w}.inputStd`);
    let alpha: number | null = null;
    let vector: string | null = null;
    if (typeof r.alpha === 'number') {
      alpha = r.alpha;
    } else if (r.alpha != null) {
      if (typeof r.alpha !== 'object' || typeof (r.alpha as ArrayLike<number>).length !== 'number') {
        throw new StoreError(`${w}.alpha = ${showValue(r.alpha)} must be a number, an array of numbers or null`);
      }
      const v = Array.from(r.alpha as ArrayLike<number>);
      v.forEach((x, j) => checkValue(x, `${w}.alpha[${j}]`));
      alpha = v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
      vector = stringifyNonFinite(v);
    }
    if (r.extra != null && (typeof r.extra !== 'object' || Array.isArray(r.extra))) {
      throw new StoreError(`${w}.extra = ${showValue(r.extra)} must be an object`);
    }
    const [a, aTag] = alpha === null ? [null, null] : encodeNumber(alpha);
    const [s, sTag] = encodeNumber(r.inputStd);
    return [id, step, r.layer, a, aTag, vector, s, sTag, r.extra == null ? null : stringifyNonFinite(r.extra), now];
  });
  const at = nowIso();
  return db.write(() => {
    requireRun(db, id);
    const ins = db.stmt(`INSERT INTO traces (${TRACE_COLUMNS.join(', ')}) VALUES (${TRACE_COLUMNS.map(() => '?').join(', ')})
      ON CONFLICT (run_id, layer, step) DO UPDATE SET alpha = excluded.alpha, alpha_nonfinite = excluded.alpha_nonfinite,
      alpha_vector = excluded.alpha_vector, input_std = excluded.input_std,
      input_std_nonfinite = excluded.input_std_nonfinite, extra = excluded.extra, wall_time = excluded.wall_time`);
    for (const e of encoded) ins.run(...e);
    touch(db, id, at);
    return encoded.length;
  });
}

/** Trace rows ordered by step then layer. */
export function traces(db: StoreDb, id: string, opts: { layers?: readonly string[]; fromStep?: number } = {}): TraceRecord[] {
  requireRun(db, id);
  const where = ['run_id = ?'];
  const params: unknown[] = [id];
  if (opts.layers !== undefined) {
    if (opts.layers.length === 0) return [];
    where.push(`layer IN (${opts.layers.map(() => '?').join(', ')})`);
    params.push(...opts.layers);
  }
  if (opts.fromStep !== undefined) { where.push('step >= ?'); params.push(opts.fromStep); }
  return (db.stmt(`SELECT * FROM traces WHERE ${where.join(' AND ')} ORDER BY step, layer`).all(...params) as TraceDbRow[])
    .map(rowToTrace);
}

// ---------------------------------------------------------------------------
// Artifacts

/** Records a file a run produced (checkpoint, report, ...). The path is stored as given. */
export function addArtifact(db: StoreDb, id: string, artifact: ArtifactInput): ArtifactRecord {
  const a = parseWith(artifactSchema, artifact, `addArtifact ${id} (run store ${db.path})`);
  const rowId = db.write(() => {
    requireRun(db, id);
    return db.stmt(`INSERT INTO artifacts (run_id, kind, path, step, meta, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(id, a.kind, a.path, a.step ?? null, a.meta === undefined ? null : stringifyNonFinite(a.meta), nowIso())
      .lastInsertRowid;
  });
  return rowToArtifact(db.stmt('SELECT * FROM artifacts WHERE id = ?').get(rowId) as ArtifactDbRow);
}

/** A run's artifacts, optionally of one kind, in the order they were added. */
export function artifacts(db: StoreDb, id: string, kind?: string): ArtifactRecord[] {
  requireRun(db, id);
  const rows = kind === undefined
    ? db.stmt('SELECT * FROM artifacts WHERE run_id = ? ORDER BY id').all(id)
    : db.stmt('SELECT * FROM artifacts WHERE run_id = ? AND kind = ? ORDER BY id').all(id, kind);
  return (rows as ArtifactDbRow[]).map(rowToArtifact);
}

/** The checkpoint with the highest step (the last added among equal steps), if any. */
export function latestCheckpoint(db: StoreDb, id: string): ArtifactRecord | undefined {
  requireRun(db, id);
  const row = db.stmt(`SELECT * FROM artifacts WHERE run_id = ? AND kind = 'checkpoint'
    ORDER BY step DESC NULLS LAST, id DESC LIMIT 1`).get(id) as ArtifactDbRow | undefined;
  return row && rowToArtifact(row);
}
