// The run store: one SQLite file (better-sqlite3) that every run writes its
// config, provenance, per-step metrics, alpha traces and artifacts into, and
// that analyses and notebooks read from.
//
// Concurrency. The database is in WAL mode with a busy timeout, so a sweep's
// worker processes write into one file at the same time: readers never block,
// writers take turns. Every write call is one BEGIN IMMEDIATE transaction
// (taking the write lock up front, so the busy timeout applies instead of an
// immediate SQLITE_BUSY on a read->write upgrade), and it is committed before
// the call returns: whatever a process wrote before it was killed stays in the
// file. synchronous=NORMAL: a commit survives the process being killed; only a
// power loss or OS crash can lose the last commits, never corrupt the file.
//
// Non-finite numbers. SQLite stores NaN as NULL, and JSON has no NaN or
// Infinity. A REAL column that may hold them (metrics.value, traces.alpha,
// traces.input_std) has a companion `<column>_nonfinite` TEXT column: a finite
// value is stored as itself with the tag NULL; NaN, +Inf, -Inf are stored as
// NULL with the tag 'NaN', 'Infinity', '-Infinity'. SQL aggregates therefore
// skip them. Inside JSON columns (traces.alpha_vector, traces.extra) they are
// the strings "NaN", "Infinity", "-Infinity", read back as numbers.
//
// Run ids are ULIDs (store-codec.ts): 26 characters, sortable by creation time.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { parseWith, showValue } from '../util/schema.js';
import { VERSION } from '../version.js';
import {
  canonicalJson, configHash, decodeNumber, encodeNumber, newRunId, parseNonFinite, stringifyNonFinite,
} from './store-codec.js';
import {
  flattenObject, tableToCSV, tableToParquet, toTable, valueAtPath,
} from './store-frames.js';
import type { ColumnTable, Columns } from './store-frames.js';

export { canonicalJson, configHash, newRunId, runIdTime } from './store-codec.js';
export { toTable, parquetToTable } from './store-frames.js';
export type { ColumnTable } from './store-frames.js';

/** Version of the tables below; a store records the version it was written with. */
export const STORE_SCHEMA_VERSION = 2;
/** Default store file, relative to the current working directory. */
export const DEFAULT_STORE_PATH = join('runs', 'dytlab.sqlite');
/** Runs still 'running' whose last heartbeat is older than this are marked failed when a store is opened. */
export const DEFAULT_STALE_SECONDS = 3600;
/** How long a writer waits for another process's write lock before failing (ms). */
export const DEFAULT_BUSY_TIMEOUT_MS = 30_000;

export const RUN_STATUSES = ['created', 'running', 'finished', 'diverged', 'failed', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** How a run ends. 'interrupted': stopped by SIGINT/SIGTERM at a step boundary (resumable from its checkpoint; a sweep runs it again). */
export const FINAL_STATUSES = ['finished', 'diverged', 'failed', 'interrupted'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];
/** The reason markStaleRuns gives starts with this. */
export const STALE_REASON_PREFIX = 'process died';

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface RunRecord {
  id: string;
  name: string;
  kind: string;
  config: Record<string, unknown>;
  configHash: string;
  seed: number;
  /** The engine's BackendInfo, as recorded. */
  backend: Record<string, unknown>;
  status: RunStatus;
  statusReason: string | null;
  statusStep: number | null;
  /** Id of the run this one resumes, if known. */
  resumeOf: string | null;
  /** The checkpoint file it resumes from, if given (absolute path). */
  resumeFrom: string | null;
  /** ISO 8601 UTC timestamps. */
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  wallSeconds: number | null;
  pid: number | null;
  hostname: string | null;
  lastHeartbeat: string | null;
  dytlabVersion: string;
}

export interface RunInit {
  config: object;
  kind: string;
  name?: string;
  seed: number;
  backend: object;
  /**
   * What this run continues: a run id in this store, or a checkpoint file.
   * A checkpoint recorded as an artifact here resolves to its run's id; any
   * other existing file is kept as resumeFrom only. Anything else is an error.
   */
  resumeOf?: string;
  /** The checkpoint file this run starts from (its run is looked up among this store's artifacts). */
  resumeFrom?: string;
}

export interface MetricRow { step: number; name: string; value: number }
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

export interface RunFilter {
  status?: RunStatus | RunStatus[];
  kind?: string;
  configHash?: string;
  name?: string;
}

export interface StoreOptions {
  /** Open without writing: no schema creation or migration, no stale-run marking. The file must exist. */
  readonly?: boolean;
  /** Busy timeout in ms (default DEFAULT_BUSY_TIMEOUT_MS). */
  busyTimeoutMs?: number;
  /** Heartbeat age after which open() marks a running run failed; false: do not mark on open. Default DEFAULT_STALE_SECONDS. */
  staleAfterSeconds?: number | false;
}

export type ExportWhat = 'runs' | 'metrics' | 'traces';
export interface ExportResult { path: string; rows: number }
export interface MergeResult { runs: number; skipped: number; metrics: number; traces: number; artifacts: number }

/** What claimRun found: the run it recorded as running in this process, or the run that makes a new one unnecessary. */
export type ClaimResult =
  | { claimed: true; run: RunRecord }
  /** done: a finished (else diverged) run with this config hash exists; running: one is in flight in a live process. */
  | { claimed: false; state: 'done' | 'running'; run: RunRecord };

// ---------------------------------------------------------------------------
// Schema

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
 * 1 -> 2: the status 'interrupted' (the runs table is rebuilt for its CHECK constraint).
 */
const MIGRATIONS: Record<number, string> = {
  1: `${runsTable('runs_v2', RUN_STATUSES)}
INSERT INTO runs_v2 SELECT * FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
${RUNS_INDEXES}`,
};

const RUN_COLUMNS = [
  'id', 'name', 'kind', 'config', 'config_hash', 'seed', 'backend', 'status', 'status_reason', 'status_step',
  'resume_of', 'resume_from', 'created_at', 'started_at', 'finished_at', 'wall_seconds', 'pid', 'hostname', 'last_heartbeat',
  'dytlab_version',
] as const;
const METRIC_COLUMNS = ['run_id', 'step', 'name', 'value', 'value_nonfinite', 'wall_time'] as const;
const TRACE_COLUMNS = [
  'run_id', 'step', 'layer', 'alpha', 'alpha_nonfinite', 'alpha_vector', 'input_std', 'input_std_nonfinite', 'extra',
  'wall_time',
] as const;
const ARTIFACT_COLUMNS = ['run_id', 'kind', 'path', 'step', 'meta', 'created_at'] as const;

interface RunRow {
  id: string; name: string; kind: string; config: string; config_hash: string; seed: number; backend: string;
  status: RunStatus; status_reason: string | null; status_step: number | null; resume_of: string | null; resume_from: string | null;
  created_at: string; started_at: string | null; finished_at: string | null; wall_seconds: number | null;
  pid: number | null; hostname: string | null; last_heartbeat: string | null; dytlab_version: string;
}
interface MetricDbRow { step: number; name: string; value: number | null; value_nonfinite: string | null; wall_time: number }
interface TraceDbRow {
  step: number; layer: string; alpha: number | null; alpha_nonfinite: string | null; alpha_vector: string | null;
  input_std: number | null; input_std_nonfinite: string | null; extra: string | null; wall_time: number;
}
interface ArtifactDbRow {
  id: number; run_id: string; kind: string; path: string; step: number | null; meta: string | null; created_at: string;
}

// ---------------------------------------------------------------------------
// Validation

const nonEmpty = z.string().min(1, 'must be a non-empty string');
const plainObject = z.custom<Record<string, unknown>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'must be an object',
);
const stepSchema = z.number().int('must be an integer').nonnegative('must be >= 0');

const runInitSchema = z.object({
  config: plainObject,
  kind: nonEmpty,
  name: nonEmpty.optional(),
  seed: z.number().int('must be an integer'),
  backend: plainObject,
  resumeOf: nonEmpty.optional(),
  resumeFrom: nonEmpty.optional(),
}).strict();

const finishSchema = z.object({
  status: z.enum(FINAL_STATUSES),
  reason: z.string().optional(),
  step: stepSchema.optional(),
}).strict();

const artifactSchema = z.object({
  kind: nonEmpty,
  path: nonEmpty,
  step: stepSchema.optional(),
  meta: plainObject.optional(),
}).strict();

const filterSchema = z.object({
  status: z.union([z.enum(RUN_STATUSES), z.array(z.enum(RUN_STATUSES))]).optional(),
  kind: z.string().optional(),
  configHash: z.string().optional(),
  name: z.string().optional(),
}).strict();

const staleSchema = z.object({ olderThanSeconds: z.number().nonnegative('must be >= 0') }).strict();

function checkStep(step: unknown, where: string): number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw new StoreError(`${where}: step = ${showValue(step)} must be an integer >= 0`);
  }
  return step;
}

function checkValue(value: unknown, where: string): number {
  if (typeof value !== 'number') {
    throw new StoreError(`${where} = ${showValue(value)} is not a number (NaN and +-Infinity are allowed)`);
  }
  return value;
}

function checkName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new StoreError(`${where}: name = ${showValue(name)} must be a non-empty string`);
  }
  return name;
}

// ---------------------------------------------------------------------------
// Helpers

/** Path of the store: the argument, else $DYTLAB_STORE, else runs/dytlab.sqlite; resolved against the cwd. */
export function resolveStorePath(path?: string): string {
  const p = path ?? (process.env.DYTLAB_STORE || DEFAULT_STORE_PATH);
  return p === ':memory:' ? p : resolve(p);
}

function nowIso(): string {
  return new Date().toISOString();
}

function secondsBetween(fromIso: string | null, toIso: string): number | null {
  if (!fromIso) return null;
  return (Date.parse(toIso) - Date.parse(fromIso)) / 1000;
}

/** Whether a process with this pid exists on this machine. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why a 'running' run's process is gone, or undefined while it may be alive:
 * on this host, its pid no longer exists (this process counts as alive); on
 * any host, its last heartbeat is older than olderThanSeconds. Reads only: a
 * read-only listing uses it to show dead runs as dead.
 */
export function runProcessGone(
  run: Pick<RunRecord, 'status' | 'pid' | 'hostname' | 'lastHeartbeat' | 'startedAt' | 'createdAt'>,
  opts: { olderThanSeconds?: number; host?: string; now?: string } = {},
): string | undefined {
  if (run.status !== 'running') return undefined;
  const host = opts.host ?? osHostname();
  const beat = run.lastHeartbeat ?? run.startedAt ?? run.createdAt;
  const limit = opts.olderThanSeconds ?? DEFAULT_STALE_SECONDS;
  const age = secondsBetween(beat, opts.now ?? nowIso()) ?? Infinity;
  if (run.hostname === host && run.pid != null && run.pid !== process.pid && !pidAlive(run.pid)) {
    return `pid ${run.pid} on ${run.hostname} no longer exists`;
  }
  if (age > limit) return `last heartbeat ${age.toFixed(0)} s ago, older than the ${limit} s limit`;
  return undefined;
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** SQLite could not read a read-only WAL database in place (it needs to create the -shm file beside it). */
function cannotReadInPlace(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_READONLY_DIRECTORY' || code === 'SQLITE_READONLY_CANTINIT' || code === 'SQLITE_READONLY_RECOVERY' ||
    code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY';
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Retries fn while SQLite reports BUSY (beyond the busy handler: journal-mode switches, WAL recovery). */
function retryBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (!isBusy(e) || Date.now() > deadline) throw e;
      sleepMs(Math.min(5 * 2 ** attempt, 200) * (0.5 + Math.random()));
    }
  }
}

function parseJsonObject(text: string | null): Record<string, unknown> | null {
  return text == null ? null : (parseNonFinite(text) as Record<string, unknown>);
}

/** A JSON object column of a run row; anything else (invalid JSON, null, a number, an array) is an error naming the file, run and column. */
function jsonObjectColumn(text: unknown, column: string, runId: string, path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = typeof text === 'string' ? JSON.parse(text) : text;
  } catch (e) {
    throw new StoreError(`run store ${path}: run ${runId}: ${column} is not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new StoreError(`run store ${path}: run ${runId}: ${column} = ${showValue(typeof text === 'string' ? text.slice(0, 60) : text)} ` +
      `is ${v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`}, not an object`);
  }
  return v as Record<string, unknown>;
}

function rowToRun(r: RunRow, path: string): RunRecord {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    config: jsonObjectColumn(r.config, 'config', r.id, path),
    configHash: r.config_hash,
    seed: r.seed,
    backend: jsonObjectColumn(r.backend, 'backend', r.id, path),
    status: r.status,
    statusReason: r.status_reason,
    statusStep: r.status_step,
    resumeOf: r.resume_of,
    resumeFrom: r.resume_from,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    wallSeconds: r.wall_seconds,
    pid: r.pid,
    hostname: r.hostname,
    lastHeartbeat: r.last_heartbeat,
    dytlabVersion: r.dytlab_version,
  };
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

function idList(ids: string | readonly string[] | undefined): readonly string[] | undefined {
  return typeof ids === 'string' ? [ids] : ids;
}

// ---------------------------------------------------------------------------
// The store

export class RunStore {
  /** Absolute path of the store file (or ':memory:'). */
  readonly path: string;
  readonly readonly: boolean;
  private db: Database.Database;
  /** True when a read-only store could not be read in place and was read into memory (see openSnapshot). */
  readonly snapshot: boolean = false;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly busyTimeoutMs: number;
  private readonly host = osHostname();

  constructor(path?: string, options: StoreOptions = {}) {
    this.path = resolveStorePath(path);
    this.readonly = options.readonly ?? false;
    this.busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const memory = this.path === ':memory:';
    if (!memory) {
      if (existsSync(this.path) && statSync(this.path).isDirectory()) {
        throw new StoreError(`run store ${this.path} is a directory; give the path of a .sqlite file`);
      }
      if (this.readonly && !existsSync(this.path)) throw new StoreError(`run store ${this.path} does not exist`);
      if (!this.readonly) mkdirSync(dirname(this.path), { recursive: true });
    }
    try {
      this.db = new Database(this.path, { readonly: this.readonly, fileMustExist: this.readonly, timeout: this.busyTimeoutMs });
    } catch (e) {
      throw new StoreError(`cannot open run store ${this.path}: ${(e as Error).message}`);
    }
    try {
      this.init(memory);
    } catch (e) {
      this.db.close();
      if (!(this.readonly && !memory && cannotReadInPlace(e))) throw this.storeError(e, 'cannot open');
      // A WAL store in a directory this process cannot write (no -shm to create): read a copy.
      this.db = this.openSnapshot(e as Error);
      (this as { snapshot: boolean }).snapshot = true;
      try {
        this.init(memory);
      } catch (e2) {
        this.db.close();
        throw this.storeError(e2, 'cannot open');
      }
    }
    if (!this.readonly && options.staleAfterSeconds !== false) {
      this.markStaleRuns({ olderThanSeconds: options.staleAfterSeconds ?? DEFAULT_STALE_SECONDS });
    }
  }

  private init(memory: boolean): void {
    // Reading the schema fails with SQLITE_NOTADB on a file that is not SQLite.
    const tables = () => (this.db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    ).pluck().all() as string[]);
    retryBusy(tables, this.busyTimeoutMs);
    if (!this.readonly) {
      if (!memory) {
        const mode = retryBusy(() => this.db.pragma('journal_mode = WAL', { simple: true }), this.busyTimeoutMs);
        if (String(mode).toLowerCase() !== 'wal') {
          throw new StoreError(`run store ${this.path}: could not switch to WAL mode (journal_mode is ${String(mode)}); ` +
            'is the file on a network file system?');
        }
      }
      this.db.pragma('synchronous = NORMAL');
    }

    const check = (names: string[]): number | 'empty' => {
      if (!names.includes('meta')) {
        if (names.length === 0) return 'empty';
        throw new StoreError(`${this.path} is an SQLite database but not a dytlab run store ` +
          `(it has no meta table; its tables: ${names.join(', ')})`);
      }
      const meta = new Map((this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[])
        .map((r) => [r.key, r.value]));
      if (meta.get('app') !== 'dytlab') {
        throw new StoreError(`${this.path} is not a dytlab run store (its meta table says app = ${showValue(meta.get('app'))})`);
      }
      const version = Number(meta.get('schema_version'));
      if (!Number.isInteger(version) || version < 1) {
        throw new StoreError(`${this.path}: unreadable schema_version ${showValue(meta.get('schema_version'))} in its meta table`);
      }
      if (version > STORE_SCHEMA_VERSION) {
        throw new StoreError(`run store ${this.path} has schema version ${version}, written by a newer dytlab ` +
          `(${meta.get('dytlab_version') ?? 'unknown'}); this dytlab (${VERSION}) reads schema versions up to ` +
          `${STORE_SCHEMA_VERSION}. Upgrade dytlab to read it.`);
      }
      return version;
    };

    if (this.readonly) {
      // Never written: an older schema is read as it is (every version so far has the same columns; only
      // the statuses allowed grew), and the migration waits until a process opens it for writing.
      const v = check(tables());
      if (v === 'empty') throw new StoreError(`${this.path} is an empty SQLite database, not a dytlab run store`);
      return;
    }
    // Creation and migration run in one IMMEDIATE transaction, so processes
    // that open a new store at the same moment create it exactly once. Foreign
    // keys are off meanwhile (a migration that rebuilds the runs table must not
    // cascade into its metrics); the pragma cannot change inside a transaction.
    this.db.pragma('foreign_keys = OFF');
    retryBusy(() => this.db.transaction(() => {
      const v = check(tables());
      if (v === 'empty') {
        this.db.exec(SCHEMA);
        const put = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('app', 'dytlab');
        put.run('schema_version', String(STORE_SCHEMA_VERSION));
        put.run('created_at', nowIso());
        put.run('dytlab_version', VERSION);
        return;
      }
      for (let from = v; from < STORE_SCHEMA_VERSION; from++) {
        const sql = MIGRATIONS[from];
        if (sql === undefined) {
          throw new StoreError(`run store ${this.path} has schema version ${v} and this dytlab has no migration ` +
            `from version ${from}; export it with the dytlab that wrote it`);
        }
        this.db.exec(sql);
      }
      if (v < STORE_SCHEMA_VERSION) {
        const broken = this.db.pragma('foreign_key_check') as unknown[];
        if (broken.length) throw new StoreError(`run store ${this.path}: migration to schema version ${STORE_SCHEMA_VERSION} found ${broken.length} rows whose run is missing`);
        this.db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(STORE_SCHEMA_VERSION));
      }
    }).immediate(), this.busyTimeoutMs);
    this.db.pragma('foreign_keys = ON');
  }

  /**
   * A read-only store that SQLite cannot read in place: a WAL database whose
   * directory this process may not write (SQLite needs to create its -shm
   * file). Without a write-ahead log holding commits, the file alone is the
   * whole store, and a copy of it in memory reads exactly what is there.
   */
  private openSnapshot(cause: Error): Database.Database {
    const wal = `${this.path}-wal`;
    if (existsSync(wal) && statSync(wal).size > 0) {
      throw new StoreError(`run store ${this.path}: cannot be read in place (SQLite: ${cause.message}): it is in WAL mode, ` +
        `this process cannot write its directory, and its write-ahead log ${wal} holds commits that are not in the file yet. ` +
        'Open it once with write access (e.g. dytlab store ls as its owner) or copy the .sqlite and its -wal file to a writable directory.');
    }
    let buf: Buffer;
    try {
      buf = readFileSync(this.path);
    } catch (e) {
      throw new StoreError(`cannot open run store ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // Bytes 18-19 of the header say WAL (2); an in-memory database must read as rollback-journal (1). Only the copy changes.
    if (buf.length >= 100 && buf.subarray(0, 16).toString('latin1') === 'SQLite format 3\0') buf[18] = buf[19] = 1;
    try {
      return new Database(buf, { readonly: true });
    } catch (e) {
      throw this.storeError(e, 'cannot open');
    }
  }

  /** An SQLite error as a StoreError naming this store's file and what SQLite said. */
  private storeError(e: unknown, doing?: string): Error {
    if (e instanceof StoreError) return e;
    const code = (e as { code?: unknown }).code;
    const msg = (e as Error)?.message ?? String(e);
    if (code === 'SQLITE_NOTADB') {
      return new StoreError(`run store ${this.path}: not a dytlab run store: not an SQLite database (SQLite: ${msg})`);
    }
    if (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT')) {
      return new StoreError(`run store ${this.path}: the file is corrupt (SQLite: ${msg}); ` +
        'what is still readable can be recovered with sqlite3\'s .recover');
    }
    if (typeof code === 'string' && code.startsWith('SQLITE_')) {
      return new StoreError(`run store ${this.path}: ${doing ? `${doing}: ` : ''}${msg} (SQLite: ${code})`);
    }
    if (doing === 'cannot open' && e instanceof Error) return new StoreError(`cannot open run store ${this.path}: ${msg}`);
    return e as Error;
  }

  // -- internals -------------------------------------------------------------

  private get conn(): Database.Database {
    if (!this.db.open) throw new StoreError(`run store ${this.path} is closed`);
    return this.db;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.guard(() => this.conn.prepare(sql));
      this.statements.set(sql, this.guarded(s));
      s = this.statements.get(sql)!;
    } else if (!this.db.open) {
      throw new StoreError(`run store ${this.path} is closed`);
    }
    return s;
  }

  /** Runs fn, turning an SQLite error (corrupt file, not a database, I/O) into a StoreError naming the file. BUSY passes (retryBusy). */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw isBusy(e) ? e : this.storeError(e);
    }
  }

  /** A statement whose calls go through guard(). */
  private guarded(s: Database.Statement): Database.Statement {
    const g: Database.Statement = {
      get source() { return s.source; },
      get reader() { return s.reader; },
      run: (...a: unknown[]) => this.guard(() => s.run(...a)),
      get: (...a: unknown[]) => this.guard(() => s.get(...a)),
      all: (...a: unknown[]) => this.guard(() => s.all(...a)),
      iterate: (...a: unknown[]) => this.guard(() => s.iterate(...a)),
      pluck(toggle = true) { s.pluck(toggle); return g; },
      raw(toggle = true) { s.raw(toggle); return g; },
    };
    return g;
  }

  /** Runs fn in one BEGIN IMMEDIATE transaction (committed on return, rolled back on throw). */
  private write<T>(fn: () => T): T {
    if (this.readonly) throw new StoreError(`run store ${this.path} was opened read-only`);
    const conn = this.conn;
    if (conn.inTransaction) return fn();
    try {
      return retryBusy(() => conn.transaction(fn).immediate(), this.busyTimeoutMs);
    } catch (e) {
      throw this.storeError(e);
    }
  }

  private unknownRun(id: unknown): StoreError {
    return new StoreError(`unknown run id ${showValue(id)} in run store ${this.path}`);
  }

  private runRow(id: string): RunRow {
    if (typeof id !== 'string') throw this.unknownRun(id);
    const row = this.stmt('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    if (!row) throw this.unknownRun(id);
    return row;
  }

  private requireRun(id: string): void {
    if (typeof id !== 'string' || this.stmt('SELECT 1 FROM runs WHERE id = ?').get(id) === undefined) {
      throw this.unknownRun(id);
    }
  }

  /** A log call from the process that runs the run counts as a heartbeat. */
  private touch(id: string, at: string): void {
    this.stmt("UPDATE runs SET last_heartbeat = ? WHERE id = ? AND status = 'running' AND pid = ? AND hostname = ?")
      .run(at, id, process.pid, this.host);
  }

  /** The run a checkpoint file was recorded for (matched as given or as an absolute path). */
  private checkpointRun(path: string): string | undefined {
    return this.stmt(`SELECT run_id FROM artifacts WHERE kind = 'checkpoint' AND path IN (?, ?) ORDER BY id DESC LIMIT 1`)
      .pluck().get(path, resolve(path)) as string | undefined;
  }

  private resolveResume(of: string | undefined, from: string | undefined): { of: string | null; from: string | null } {
    let runId: string | null = null;
    let file: string | null = from === undefined ? null : resolve(from);
    if (of !== undefined) {
      if (this.hasRun(of)) {
        runId = of;
      } else if (this.checkpointRun(of) !== undefined) {
        runId = this.checkpointRun(of)!;
        file ??= resolve(of);
      } else if (existsSync(of) && statSync(of).isFile()) {
        file ??= resolve(of);
      } else {
        throw new StoreError(`createRun: resumeOf ${showValue(of)} is neither a run id in run store ${this.path} ` +
          'nor a checkpoint file');
      }
    }
    if (from !== undefined && runId === null) runId = this.checkpointRun(from) ?? null;
    return { of: runId, from: file };
  }

  // -- runs ------------------------------------------------------------------

  /** Records a new run (status 'created'). Its config is stored as canonical JSON with its hash. */
  createRun(init: RunInit): RunRecord {
    const p = parseWith(runInitSchema, init, `createRun (run store ${this.path})`);
    const configText = canonicalJson(p.config);
    const hash = configHash(p.config);
    const id = newRunId();
    const now = nowIso();
    this.write(() => {
      const resume = this.resolveResume(p.resumeOf, p.resumeFrom);
      this.stmt(`INSERT INTO runs (id, name, kind, config, config_hash, seed, backend, status, resume_of, resume_from,
        created_at, dytlab_version) VALUES (?, ?, ?, ?, ?, ?, ?, 'created', ?, ?, ?, ?)`)
        .run(id, p.name ?? `${p.kind}-${hash.slice(0, 8)}`, p.kind, configText, hash, p.seed,
          stringifyNonFinite(p.backend), resume.of, resume.from, now, VERSION);
    });
    return this.getRun(id);
  }

  /**
   * Marks the run as running in this process: status 'running', started_at,
   * pid, hostname, heartbeat. A run can be started once ('created'), or again
   * by the same process.
   */
  startRun(id: string): RunRecord {
    const now = nowIso();
    this.write(() => {
      const row = this.runRow(id);
      const mine = row.pid === process.pid && row.hostname === this.host;
      if (row.status !== 'created' && !(row.status === 'running' && mine)) {
        throw new StoreError(`startRun: run ${id} in ${this.path} is '${row.status}'` +
          (row.status === 'running' ? ` in process ${row.pid} on ${row.hostname}` : '') +
          '; only a newly created run can be started (create a new run with resumeOf to continue it)');
      }
      this.stmt(`UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?), pid = ?, hostname = ?,
        last_heartbeat = ?, status_reason = NULL WHERE id = ?`).run(now, process.pid, this.host, now, id);
    });
    return this.getRun(id);
  }

  /**
   * Records that the run's process is alive. A run that markStaleRuns had
   * marked failed while this very process was still alive (a stall longer
   * than the limit) is set back to 'running'.
   */
  heartbeat(id: string): void {
    const now = nowIso();
    this.write(() => {
      const row = this.runRow(id);
      const mine = row.pid === process.pid && row.hostname === this.host;
      if (row.status === 'failed' && mine && row.status_reason?.startsWith(STALE_REASON_PREFIX)) {
        this.stmt(`UPDATE runs SET status = 'running', status_reason = NULL, status_step = NULL, finished_at = NULL,
          wall_seconds = NULL, last_heartbeat = ? WHERE id = ?`).run(now, id);
      } else {
        this.stmt('UPDATE runs SET last_heartbeat = ? WHERE id = ?').run(now, id);
      }
    });
  }

  /** Ends the run: 'finished', 'diverged' or 'failed', with an optional reason and the step it ended at. */
  finishRun(id: string, end: { status: FinalStatus; reason?: string; step?: number }): RunRecord {
    const p = parseWith(finishSchema, end, `finishRun ${id} (run store ${this.path})`);
    const now = nowIso();
    this.write(() => {
      const row = this.runRow(id);
      this.stmt(`UPDATE runs SET status = ?, status_reason = ?, status_step = ?, finished_at = ?, wall_seconds = ?,
        last_heartbeat = ? WHERE id = ?`)
        .run(p.status, p.reason ?? null, p.step ?? null, now, secondsBetween(row.started_at ?? row.created_at, now),
          now, id);
    });
    return this.getRun(id);
  }

  /** The run with this id; throws (naming the id and the store) when there is none. */
  getRun(id: string): RunRecord {
    return rowToRun(this.runRow(id), this.path);
  }

  hasRun(id: string): boolean {
    return typeof id === 'string' && this.stmt('SELECT 1 FROM runs WHERE id = ?').get(id) !== undefined;
  }

  /** The one run whose id is `idOrPrefix` or starts with it (at least 4 characters), as a CLI accepts. */
  resolveRunId(idOrPrefix: string): string {
    if (this.hasRun(idOrPrefix)) return idOrPrefix;
    if (typeof idOrPrefix === 'string' && idOrPrefix.length >= 4) {
      const ids = this.stmt('SELECT id FROM runs WHERE upper(substr(id, 1, length(?))) = upper(?) ORDER BY id LIMIT 6')
        .pluck().all(idOrPrefix, idOrPrefix) as string[];
      if (ids.length === 1) return ids[0];
      if (ids.length > 1) {
        throw new StoreError(`run id prefix ${showValue(idOrPrefix)} is ambiguous in ${this.path}: ` +
          `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`);
      }
    }
    throw this.unknownRun(idOrPrefix);
  }

  /** Runs matching every given field, oldest first. */
  listRuns(filter: RunFilter = {}): RunRecord[] {
    const f = parseWith(filterSchema, filter, `listRuns filter (run store ${this.path})`);
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.status !== undefined) {
      const s = Array.isArray(f.status) ? f.status : [f.status];
      if (s.length === 0) return [];
      where.push(`status IN (${s.map(() => '?').join(', ')})`);
      params.push(...s);
    }
    if (f.kind !== undefined) { where.push('kind = ?'); params.push(f.kind); }
    if (f.configHash !== undefined) { where.push('config_hash = ?'); params.push(f.configHash); }
    if (f.name !== undefined) { where.push('name = ?'); params.push(f.name); }
    const sql = `SELECT * FROM runs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`;
    return (this.stmt(sql).all(...params) as RunRow[]).map((r) => rowToRun(r, this.path));
  }

  /** The most recently finished run (status 'finished') with this config hash, if any. */
  findFinished(hash: string): RunRecord | undefined {
    const row = this.stmt(`SELECT * FROM runs WHERE config_hash = ? AND status = 'finished'
      ORDER BY finished_at DESC, id DESC LIMIT 1`).get(hash) as RunRow | undefined;
    return row && rowToRun(row, this.path);
  }

  /**
   * Marks failed every 'running' run whose process is gone: its pid no longer
   * exists on this host, or (any host) its last heartbeat is older than
   * olderThanSeconds. The reason names the last heartbeat; status_step is the
   * last step it logged a metric at. Returns how many runs were marked.
   * Called when a store is opened for writing.
   */
  markStaleRuns(opts: { olderThanSeconds: number }): number {
    const { olderThanSeconds } = parseWith(staleSchema, opts, `markStaleRuns (run store ${this.path})`);
    return this.write(() => {
      const rows = this.stmt(`SELECT id, pid, hostname, started_at, created_at, last_heartbeat FROM runs
        WHERE status = 'running'`).all() as Pick<RunRow, 'id' | 'pid' | 'hostname' | 'started_at' | 'created_at' | 'last_heartbeat'>[];
      const now = nowIso();
      let marked = 0;
      for (const r of rows) {
        const why = this.goneWhy(r, olderThanSeconds, now);
        if (why) marked += this.markDead(r, why, now);
      }
      return marked;
    });
  }

  private goneWhy(r: Pick<RunRow, 'pid' | 'hostname' | 'started_at' | 'created_at' | 'last_heartbeat'>, olderThanSeconds: number, now: string): string | undefined {
    return runProcessGone({
      status: 'running', pid: r.pid, hostname: r.hostname, lastHeartbeat: r.last_heartbeat, startedAt: r.started_at, createdAt: r.created_at,
    }, { olderThanSeconds, host: this.host, now });
  }

  /** Marks a 'running' run whose process is gone failed (inside write()); status_step is the last step it logged. */
  private markDead(r: Pick<RunRow, 'id' | 'started_at' | 'created_at' | 'last_heartbeat'>, why: string, now: string): number {
    const beat = r.last_heartbeat ?? r.started_at ?? r.created_at;
    const last = this.stmt('SELECT MAX(step) FROM metrics WHERE run_id = ?').pluck().get(r.id) as number | null;
    const reason = `${STALE_REASON_PREFIX} (last heartbeat ${beat}; ${why})`;
    return this.stmt(`UPDATE runs SET status = 'failed', status_reason = ?, status_step = ?, finished_at = ?,
      wall_seconds = ? WHERE id = ? AND status = 'running'`)
      .run(reason, last, now, secondsBetween(r.started_at ?? r.created_at, beat), r.id).changes;
  }

  /**
   * Claims a config for this process, atomically (one BEGIN IMMEDIATE
   * transaction): when the store holds no finished or diverged run with the
   * same config hash and none 'running' in a live process, records a new run
   * as 'running' here (pid, host, heartbeat) and returns it; otherwise returns
   * the run that is done or in flight. Two processes claiming the same config
   * at once: exactly one gets it. A 'running' run whose process is gone is
   * marked failed on the way. olderThanSeconds: heartbeat age after which a
   * run of another host counts as gone (default DEFAULT_STALE_SECONDS).
   */
  claimRun(init: RunInit, opts: { olderThanSeconds?: number } = {}): ClaimResult {
    const p = parseWith(runInitSchema, init, `claimRun (run store ${this.path})`);
    const configText = canonicalJson(p.config);
    const hash = configHash(p.config);
    const id = newRunId();
    const now = nowIso();
    const found = this.write((): { id: string; state?: 'done' | 'running' } => {
      const rows = this.stmt(`SELECT * FROM runs WHERE config_hash = ? AND status IN ('finished', 'diverged', 'running')
        ORDER BY created_at, id`).all(hash) as RunRow[];
      const done = rows.filter((r) => r.status === 'finished').at(-1) ?? rows.filter((r) => r.status === 'diverged').at(-1);
      if (done) return { id: done.id, state: 'done' };
      let live: RunRow | undefined;
      for (const r of rows) {
        if (r.status !== 'running') continue;
        const why = this.goneWhy(r, opts.olderThanSeconds ?? DEFAULT_STALE_SECONDS, now);
        if (why) this.markDead(r, why, now);
        else live = r;
      }
      if (live) return { id: live.id, state: 'running' };
      const resume = this.resolveResume(p.resumeOf, p.resumeFrom);
      this.stmt(`INSERT INTO runs (id, name, kind, config, config_hash, seed, backend, status, resume_of, resume_from,
        created_at, started_at, pid, hostname, last_heartbeat, dytlab_version)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(id, p.name ?? `${p.kind}-${hash.slice(0, 8)}`, p.kind, configText, hash, p.seed, stringifyNonFinite(p.backend),
          resume.of, resume.from, now, now, process.pid, this.host, now, VERSION);
      return { id };
    });
    const run = this.getRun(found.id);
    return found.state ? { claimed: false, state: found.state, run } : { claimed: true, run };
  }

  // -- metrics -----------------------------------------------------------------

  private upsertMetric(): Database.Statement {
    return this.stmt(`INSERT INTO metrics (run_id, step, name, value, value_nonfinite, wall_time) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value, value_nonfinite = excluded.value_nonfinite,
      wall_time = excluded.wall_time`);
  }

  /** Writes several metrics of one step (one transaction); a (step, name) written before is replaced. */
  logMetrics(id: string, step: number, values: Record<string, number>): number {
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
    return this.write(() => {
      this.requireRun(id);
      const ins = this.upsertMetric();
      for (const [name, v] of entries) ins.run(id, step, name, ...encodeNumber(v), now);
      this.touch(id, at);
      return entries.length;
    });
  }

  /** Writes many metric rows (any steps) in one transaction. */
  logMetricsBatch(id: string, rows: readonly MetricInput[]): number {
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
    return this.write(() => {
      this.requireRun(id);
      const ins = this.upsertMetric();
      for (const r of rows) ins.run(id, r.step, r.name, ...encodeNumber(r.value), r.wallTime ?? now);
      this.touch(id, at);
      return rows.length;
    });
  }

  /** Metric rows ordered by step then name, NaN and +-Infinity restored. */
  metrics(id: string, opts: { names?: readonly string[]; fromStep?: number; toStep?: number } = {}): MetricRecord[] {
    this.requireRun(id);
    const where = ['run_id = ?'];
    const params: unknown[] = [id];
    if (opts.names !== undefined) {
      if (opts.names.length === 0) return [];
      where.push(`name IN (${opts.names.map(() => '?').join(', ')})`);
      params.push(...opts.names);
    }
    if (opts.fromStep !== undefined) { where.push('step >= ?'); params.push(opts.fromStep); }
    if (opts.toStep !== undefined) { where.push('step <= ?'); params.push(opts.toStep); }
    const rows = this.stmt(`SELECT step, name, value, value_nonfinite, wall_time FROM metrics WHERE ${where.join(' AND ')}
      ORDER BY step, name`).all(...params) as MetricDbRow[];
    return rows.map((r) => ({ step: r.step, name: r.name, value: decodeNumber(r.value, r.value_nonfinite) as number, wallTime: r.wall_time }));
  }

  /** One metric as two aligned arrays, ordered by step. */
  metricSeries(id: string, name: string): { step: number[]; value: number[] } {
    this.requireRun(id);
    const rows = this.stmt('SELECT step, value, value_nonfinite FROM metrics WHERE run_id = ? AND name = ? ORDER BY step')
      .all(id, name) as MetricDbRow[];
    return { step: rows.map((r) => r.step), value: rows.map((r) => decodeNumber(r.value, r.value_nonfinite) as number) };
  }

  /** Names of the metrics a run logged, sorted. */
  metricNames(id: string): string[] {
    this.requireRun(id);
    return this.stmt('SELECT DISTINCT name FROM metrics WHERE run_id = ? ORDER BY name').pluck().all(id) as string[];
  }

  // -- traces ------------------------------------------------------------------

  /**
   * Writes one step's per-layer traces (one transaction). alpha: a scalar, a
   * per-channel vector (stored as JSON, its mean in the alpha column), or
   * null/absent for norms without alpha. A (step, layer) written before is replaced.
   */
  logTraces(id: string, step: number, rows: readonly TraceInput[]): number {
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
    return this.write(() => {
      this.requireRun(id);
      const ins = this.stmt(`INSERT INTO traces (${TRACE_COLUMNS.join(', ')}) VALUES (${TRACE_COLUMNS.map(() => '?').join(', ')})
        ON CONFLICT (run_id, layer, step) DO UPDATE SET alpha = excluded.alpha, alpha_nonfinite = excluded.alpha_nonfinite,
        alpha_vector = excluded.alpha_vector, input_std = excluded.input_std,
        input_std_nonfinite = excluded.input_std_nonfinite, extra = excluded.extra, wall_time = excluded.wall_time`);
      for (const e of encoded) ins.run(...e);
      this.touch(id, at);
      return encoded.length;
    });
  }

  /** Trace rows ordered by step then layer. */
  traces(id: string, opts: { layers?: readonly string[]; fromStep?: number } = {}): TraceRecord[] {
    this.requireRun(id);
    const where = ['run_id = ?'];
    const params: unknown[] = [id];
    if (opts.layers !== undefined) {
      if (opts.layers.length === 0) return [];
      where.push(`layer IN (${opts.layers.map(() => '?').join(', ')})`);
      params.push(...opts.layers);
    }
    if (opts.fromStep !== undefined) { where.push('step >= ?'); params.push(opts.fromStep); }
    return (this.stmt(`SELECT * FROM traces WHERE ${where.join(' AND ')} ORDER BY step, layer`).all(...params) as TraceDbRow[])
      .map(rowToTrace);
  }

  // -- artifacts ---------------------------------------------------------------

  /** Records a file a run produced (checkpoint, report, ...). The path is stored as given. */
  addArtifact(id: string, artifact: ArtifactInput): ArtifactRecord {
    const a = parseWith(artifactSchema, artifact, `addArtifact ${id} (run store ${this.path})`);
    const rowId = this.write(() => {
      this.requireRun(id);
      return this.stmt(`INSERT INTO artifacts (run_id, kind, path, step, meta, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
        .run(id, a.kind, a.path, a.step ?? null, a.meta === undefined ? null : stringifyNonFinite(a.meta), nowIso())
        .lastInsertRowid;
    });
    return rowToArtifact(this.stmt('SELECT * FROM artifacts WHERE id = ?').get(rowId) as ArtifactDbRow);
  }

  /** A run's artifacts, optionally of one kind, in the order they were added. */
  artifacts(id: string, kind?: string): ArtifactRecord[] {
    this.requireRun(id);
    const rows = kind === undefined
      ? this.stmt('SELECT * FROM artifacts WHERE run_id = ? ORDER BY id').all(id)
      : this.stmt('SELECT * FROM artifacts WHERE run_id = ? AND kind = ? ORDER BY id').all(id, kind);
    return (rows as ArtifactDbRow[]).map(rowToArtifact);
  }

  /** The checkpoint with the highest step (the last added among equal steps), if any. */
  latestCheckpoint(id: string): ArtifactRecord | undefined {
    this.requireRun(id);
    const row = this.stmt(`SELECT * FROM artifacts WHERE run_id = ? AND kind = 'checkpoint'
      ORDER BY step DESC NULLS LAST, id DESC LIMIT 1`).get(id) as ArtifactDbRow | undefined;
    return row && rowToArtifact(row);
  }

  // -- frames and exports ------------------------------------------------------

  private runIds(ids: string | readonly string[] | undefined): string[] {
    const list = idList(ids);
    if (list === undefined) return this.stmt('SELECT id FROM runs ORDER BY created_at, id').pluck().all() as string[];
    for (const id of list) this.requireRun(id);
    return [...list];
  }

  private runsColumns(runs: RunRecord[]): Columns {
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

  private metricsColumns(ids: string[], names: readonly string[] | undefined, configFields: readonly string[]): Columns {
    const cols: Columns = { run_id: [], run_name: [], name: [], step: [], value: [], wall_time: [] };
    for (const f of configFields) cols[`config.${f}`] = [];
    for (const id of ids) {
      const run = this.getRun(id);
      const extra = configFields.map((f) => valueAtPath(run.config, f) ?? null);
      for (const m of this.metrics(id, { names })) {
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

  private tracesColumns(ids: string[]): Columns {
    const cols: Columns = {
      run_id: [], step: [], layer: [], alpha: [], alpha_vector: [], input_std: [], extra: [], wall_time: [],
    };
    for (const id of ids) {
      for (const t of this.traces(id)) {
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

  /** An arquero table from records or columns. */
  toTable(rows: readonly object[] | Columns): ColumnTable {
    return toTable(rows);
  }

  /**
   * One row per run: the runs columns (snake_case), `backend_name`, the config
   * as canonical JSON, and every config leaf flattened into a `config.<path>`
   * column (arrays as JSON text; null where a run's config lacks the field).
   */
  runsFrame(filter?: RunFilter): ColumnTable {
    return toTable(this.runsColumns(this.listRuns(filter)));
  }

  /**
   * Long format: run_id, run_name, name (the metric), step, value, wall_time,
   * plus a `config.<path>` column for each of opts.config (dot paths such as
   * 'optimizer.lr'). ids: one id, several, or all runs when omitted.
   */
  metricsFrame(ids?: string | readonly string[], names?: readonly string[], opts: { config?: readonly string[] } = {}): ColumnTable {
    return toTable(this.metricsColumns(this.runIds(ids), names, opts.config ?? []));
  }

  /** run_id, step, layer, alpha, alpha_vector (JSON text), input_std, extra (JSON text), wall_time. */
  tracesFrame(ids?: string | readonly string[]): ColumnTable {
    return toTable(this.tracesColumns(this.runIds(ids)));
  }

  private exportTable(what: ExportWhat, ids: string | readonly string[] | undefined): ColumnTable {
    switch (what) {
      case 'runs': {
        const list = ids === undefined ? this.listRuns() : this.runIds(ids).map((id) => this.getRun(id));
        return toTable(this.runsColumns(list));
      }
      case 'metrics': return toTable(this.metricsColumns(this.runIds(ids), undefined, []));
      case 'traces': return toTable(this.tracesColumns(this.runIds(ids)));
      default:
        throw new StoreError(`export: what = ${showValue(what)} is not one of "runs", "metrics", "traces"`);
    }
  }

  private exportPath(target: string, what: ExportWhat, ext: string): string {
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
  exportCSV(target: string, what: ExportWhat, ids?: string | readonly string[]): ExportResult {
    const table = this.exportTable(what, ids);
    const path = this.exportPath(target, what, '.csv');
    writeFileSync(path, tableToCSV(table));
    return { path, rows: table.numRows() };
  }

  /** Writes runs, metrics or traces as a Parquet file (or `<what>.parquet` in a directory). */
  exportParquet(target: string, what: ExportWhat, ids?: string | readonly string[]): ExportResult {
    const table = this.exportTable(what, ids);
    const path = this.exportPath(target, what, '.parquet');
    writeFileSync(path, tableToParquet(table));
    return { path, rows: table.numRows() };
  }

  // -- merge ---------------------------------------------------------------------

  /**
   * Copies into this store every run of the other store whose id is absent
   * here, with its metrics, traces and artifacts (one transaction). Runs
   * already here are skipped, whatever their state in the other store.
   */
  merge(otherStorePath: string): MergeResult {
    return this.mergeAll([otherStorePath])[0]!;
  }

  /**
   * merge() of several stores in one transaction: after a failure (a corrupt
   * source, a full disk) this store is as it was. Each source is opened
   * read-only (and so checked) before anything is written.
   */
  mergeAll(otherStorePaths: readonly string[]): MergeResult[] {
    if (this.readonly) throw new StoreError(`run store ${this.path} was opened read-only`);
    const sources: RunStore[] = [];
    try {
      for (const p of otherStorePaths) {
        const other = resolve(p);
        sources.push(other === this.path ? this : new RunStore(other, { readonly: true, busyTimeoutMs: this.busyTimeoutMs }));
      }
      return this.write(() => sources.map((src) => (src === this ? this.selfMerge() : this.copyRuns(src))));
    } finally {
      for (const src of sources) if (src !== this) src.close();
    }
  }

  private selfMerge(): MergeResult {
    const n = this.stmt('SELECT COUNT(*) FROM runs').pluck().get() as number;
    return { runs: 0, skipped: n, metrics: 0, traces: 0, artifacts: 0 };
  }

  /** Rows of a query on this store, read one at a time; SQLite errors name this store's file. */
  private *rows(sql: string, ...params: unknown[]): Generator<unknown[]> {
    const it = this.guard(() => this.conn.prepare(sql).raw().iterate(...params));
    for (;;) {
      const next = this.guard(() => it.next());
      if (next.done) return;
      yield next.value as unknown[];
    }
  }

  /** Copies src's runs that are absent here, with their rows (inside write()). */
  private copyRuns(src: RunStore): MergeResult {
    const ids = [...src.rows('SELECT id FROM runs ORDER BY created_at, id')].map((r) => r[0] as string);
    const fresh = ids.filter((id) => !this.hasRun(id));
    const result: MergeResult = { runs: 0, skipped: ids.length - fresh.length, metrics: 0, traces: 0, artifacts: 0 };
    const insert = (table: string, columns: readonly string[]) =>
      this.stmt(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
    const tables = [
      ['runs', RUN_COLUMNS, 'id', 'runs'], ['metrics', METRIC_COLUMNS, 'run_id', 'metrics'],
      ['traces', TRACE_COLUMNS, 'run_id', 'traces'], ['artifacts', ARTIFACT_COLUMNS, 'run_id', 'artifacts'],
    ] as const;
    for (const id of fresh) {
      for (const [table, columns, key, count] of tables) {
        const ins = insert(table, columns);
        for (const row of src.rows(`SELECT ${columns.join(', ')} FROM ${table} WHERE ${key} = ?${table === 'artifacts' ? ' ORDER BY id' : ''}`, id)) {
          ins.run(...row);
          result[count]++;
        }
      }
    }
    return result;
  }

  /** SQLite's quick_check of the whole file: the problems it finds (none: []). */
  check(): string[] {
    const rows = this.guard(() => this.conn.pragma('quick_check') as { quick_check: string }[]);
    return rows.map((r) => r.quick_check).filter((t) => t !== 'ok');
  }

  /** Closes the database; later calls throw. Closing twice is harmless. */
  close(): void {
    if (this.db.open) this.db.close();
    this.statements.clear();
  }
}

/**
 * Opens (creating if needed) the run store at `path`, else $DYTLAB_STORE, else
 * runs/dytlab.sqlite under the current directory. Opening for writing marks
 * stale runs failed (see RunStore.markStaleRuns).
 */
export function openStore(path?: string, options?: StoreOptions): RunStore {
  return new RunStore(path, options);
}

export interface MergeStoresResult { source: string; result: MergeResult }

/**
 * Merges every source into target (created if needed) in one transaction.
 * The sources are checked first (they exist, are dytlab stores, pass SQLite's
 * quick_check), before the target is created; if the merge fails anyway, a
 * target this call created is removed, and one that existed is unchanged.
 */
export function mergeStores(target: string, sources: readonly string[], opts: { busyTimeoutMs?: number } = {}): MergeStoresResult[] {
  const file = resolveStorePath(target);
  if (file === ':memory:') throw new StoreError('store merge: the target must be a file, not ":memory:"');
  if (sources.length === 0) throw new StoreError(`store merge ${file}: give at least one source`);
  for (const s of sources) {
    if (!existsSync(s)) throw new StoreError(`store merge: source ${s} does not exist`);
    const src = new RunStore(s, { readonly: true, ...opts });
    try {
      const problems = src.check();
      if (problems.length) {
        throw new StoreError(`store merge: source ${src.path} is corrupt (SQLite quick_check: ${problems.slice(0, 3).join('; ')}); ` +
          `nothing was merged into ${file}`);
      }
    } finally {
      src.close();
    }
  }
  const existed = existsSync(file);
  let store: RunStore | undefined;
  try {
    store = new RunStore(file, { staleAfterSeconds: false, ...opts });
    const results = store.mergeAll(sources);
    return results.map((result, i) => ({ source: sources[i]!, result }));
  } catch (e) {
    store?.close();
    store = undefined;
    if (!existed) for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) rmSync(f, { force: true });
    throw e;
  } finally {
    store?.close();
  }
}
