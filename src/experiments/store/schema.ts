// What a run store file holds: its tables, the version they have, how an older
// file is migrated, and how the tables' rows look to the code that reads them.
//
// Non-finite numbers. SQLite stores NaN as NULL, and JSON has no NaN or
// Infinity. A REAL column that may hold them (metrics.value, traces.alpha,
// traces.input_std) has a companion `<column>_nonfinite` TEXT column: a finite
// value is stored as itself with the tag NULL; NaN, +Inf, -Inf are stored as
// NULL with the tag 'NaN', 'Infinity', '-Infinity'. SQL aggregates therefore
// skip them. Inside JSON columns (traces.alpha_vector, traces.extra) they are
// the strings "NaN", "Infinity", "-Infinity", read back as numbers.
import { FINAL_STATUSES } from '../../train/sink.js';
import { showValue } from '../../util/schema.js';
import { VERSION } from '../../version.js';
import { nowIso } from './codec.js';
import { StoreError } from './errors.js';

/** Version of the tables below; a store records the version it was written with. */
export const STORE_SCHEMA_VERSION = 3;

/** Every status a run can have: 'created', 'running', then how it ended (FINAL_STATUSES). */
export const RUN_STATUSES = ['created', 'running', ...FINAL_STATUSES] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

// ---------------------------------------------------------------------------
// Tables

const runsTable = (name: string, statuses: readonly string[]) => `CREATE TABLE ${name} (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  config TEXT NOT NULL,
  config_hash TEXT NOT NULL,
  seed INTEGER NOT NULL,
  backend TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN (${statuses.map((x) => `'${x}'`).join(', ')})),
  status_reason TEXT,
  status_step INTEGER,
  resume_of TEXT,
  resume_from TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  wall_seconds REAL,
  pid INTEGER,
  hostname TEXT,
  last_heartbeat TEXT,
  dytlab_version TEXT NOT NULL
);`;
const RUNS_INDEXES = `
CREATE INDEX runs_config_hash ON runs (config_hash, status);
CREATE INDEX runs_status ON runs (status);`;

const SCHEMA = `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
${runsTable('runs', RUN_STATUSES)}
${RUNS_INDEXES}
CREATE TABLE metrics (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL,
  value_nonfinite TEXT CHECK (value_nonfinite IN ('NaN', 'Infinity', '-Infinity')),
  wall_time REAL NOT NULL,
  PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;
CREATE TABLE traces (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  layer TEXT NOT NULL,
  alpha REAL,
  alpha_nonfinite TEXT CHECK (alpha_nonfinite IN ('NaN', 'Infinity', '-Infinity')),
  alpha_vector TEXT,
  input_std REAL,
  input_std_nonfinite TEXT CHECK (input_std_nonfinite IN ('NaN', 'Infinity', '-Infinity')),
  extra TEXT,
  wall_time REAL NOT NULL,
  PRIMARY KEY (run_id, layer, step)
) WITHOUT ROWID;
CREATE TABLE artifacts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  step INTEGER,
  meta TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX artifacts_run ON artifacts (run_id, kind, step);
`;

/**
 * Migrations from version v to v + 1, applied in order inside one transaction
 * (with foreign keys off, so that rebuilding a table cascades nothing).
 * Each rebuilds the runs table for its CHECK constraint (same columns, every row kept):
 * 1 -> 2: the status 'interrupted'; 2 -> 3: the status 'stalled'.
 */
const rebuildRuns = (tmp: string) => `${runsTable(tmp, RUN_STATUSES)}
INSERT INTO ${tmp} SELECT * FROM runs;
DROP TABLE runs;
ALTER TABLE ${tmp} RENAME TO runs;
${RUNS_INDEXES}`;
const MIGRATIONS: Record<number, string> = {
  1: rebuildRuns('runs_v2'),
  2: rebuildRuns('runs_v3'),
};

// ---------------------------------------------------------------------------
// Rows

export const RUN_COLUMNS = [
  'id', 'name', 'kind', 'config', 'config_hash', 'seed', 'backend', 'status', 'status_reason', 'status_step',
  'resume_of', 'resume_from', 'created_at', 'started_at', 'finished_at', 'wall_seconds', 'pid', 'hostname', 'last_heartbeat',
  'dytlab_version',
] as const;
export const METRIC_COLUMNS = ['run_id', 'step', 'name', 'value', 'value_nonfinite', 'wall_time'] as const;
export const TRACE_COLUMNS = [
  'run_id', 'step', 'layer', 'alpha', 'alpha_nonfinite', 'alpha_vector', 'input_std', 'input_std_nonfinite', 'extra',
  'wall_time',
] as const;
export const ARTIFACT_COLUMNS = ['run_id', 'kind', 'path', 'step', 'meta', 'created_at'] as const;

export interface RunRow {
  id: string; name: string; kind: string; config: string; config_hash: string; seed: number; backend: string;
  status: RunStatus; status_reason: string | null; status_step: number | null; resume_of: string | null; resume_from: string | null;
  created_at: string; started_at: string | null; finished_at: string | null; wall_seconds: number | null;
  pid: number | null; hostname: string | null; last_heartbeat: string | null; dytlab_version: string;
}
export interface MetricDbRow { step: number; name: string; value: number | null; value_nonfinite: string | null; wall_time: number }
export interface TraceDbRow {
  step: number; layer: string; alpha: number | null; alpha_nonfinite: string | null; alpha_vector: string | null;
  input_std: number | null; input_std_nonfinite: string | null; extra: string | null; wall_time: number;
}
export interface ArtifactDbRow {
  id: number; run_id: string; kind: string; path: string; step: number | null; meta: string | null; created_at: string;
}

// ---------------------------------------------------------------------------
// Checking, creating and migrating a file's schema

/** What this needs of a better-sqlite3 connection (structural, so that no exported type names better-sqlite3). */
interface SchemaConnection {
  prepare(sql: string): { run(...params: unknown[]): unknown; all(...params: unknown[]): unknown[]; pluck(): { all(): unknown[] } };
  exec(sql: string): unknown;
  pragma(sql: string): unknown;
}

/** The file's tables; reading them fails with SQLITE_NOTADB on a file that is not SQLite. */
export function listTables(conn: SchemaConnection): string[] {
  return conn.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  ).pluck().all() as string[];
}

/** The schema version of a dytlab store ('empty': a database without tables); anything else is an error naming the file. */
function schemaVersion(conn: SchemaConnection, path: string, names: string[]): number | 'empty' {
  if (!names.includes('meta')) {
    if (names.length === 0) return 'empty';
    throw new StoreError(`${path} is an SQLite database but not a dytlab run store ` +
      `(it has no meta table; its tables: ${names.join(', ')})`);
  }
  const meta = new Map((conn.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[])
    .map((r) => [r.key, r.value]));
  if (meta.get('app') !== 'dytlab') {
    throw new StoreError(`${path} is not a dytlab run store (its meta table says app = ${showValue(meta.get('app'))})`);
  }
  const version = Number(meta.get('schema_version'));
  if (!Number.isInteger(version) || version < 1) {
    throw new StoreError(`${path}: unreadable schema_version ${showValue(meta.get('schema_version'))} in its meta table`);
  }
  if (version > STORE_SCHEMA_VERSION) {
    throw new StoreError(`run store ${path} has schema version ${version}, written by a newer dytlab ` +
      `(${meta.get('dytlab_version') ?? 'unknown'}); this dytlab (${VERSION}) reads schema versions up to ` +
      `${STORE_SCHEMA_VERSION}. Upgrade dytlab to read it.`);
  }
  return version;
}

/**
 * Checks a store opened read-only. Never written: an older schema is read as
 * it is (every version so far has the same columns; only the statuses allowed
 * grew), and the migration waits until a process opens it for writing.
 */
export function checkReadOnly(conn: SchemaConnection, path: string): void {
  const v = schemaVersion(conn, path, listTables(conn));
  if (v === 'empty') throw new StoreError(`${path} is an empty SQLite database, not a dytlab run store`);
}

/**
 * Creates the tables in an empty database, or migrates an older store to
 * STORE_SCHEMA_VERSION. Call it inside one IMMEDIATE transaction with foreign
 * keys off (a migration that rebuilds the runs table must not cascade into its metrics).
 */
export function createOrMigrate(conn: SchemaConnection, path: string): void {
  const v = schemaVersion(conn, path, listTables(conn));
  if (v === 'empty') {
    conn.exec(SCHEMA);
    const put = conn.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    put.run('app', 'dytlab');
    put.run('schema_version', String(STORE_SCHEMA_VERSION));
    put.run('created_at', nowIso());
    put.run('dytlab_version', VERSION);
    return;
  }
  for (let from = v; from < STORE_SCHEMA_VERSION; from++) {
    const sql = MIGRATIONS[from];
    if (sql === undefined) {
      throw new StoreError(`run store ${path} has schema version ${v} and this dytlab has no migration ` +
        `from version ${from}; export it with the dytlab that wrote it`);
    }
    conn.exec(sql);
  }
  if (v < STORE_SCHEMA_VERSION) {
    const broken = conn.pragma('foreign_key_check') as unknown[];
    if (broken.length) throw new StoreError(`run store ${path}: migration to schema version ${STORE_SCHEMA_VERSION} found ${broken.length} rows whose run is missing`);
    conn.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(STORE_SCHEMA_VERSION));
  }
}
