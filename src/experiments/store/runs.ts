// Runs and their lifecycle: created -> running (in one process on one host,
// which heartbeats) -> finished | diverged | failed | interrupted | stalled. A 'running'
// run whose process is gone (its pid no longer exists on this host, or its
// heartbeat is too old) is marked failed; claimRun records a config as running
// here unless it is done or in flight elsewhere, atomically.
//
// Run ids are ULIDs (codec.ts): 26 characters, sortable by creation time.
import { existsSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import type { FinalStatus } from '../../train/sink.js';
import { parseWith, showValue } from '../../util/schema.js';
import { VERSION } from '../../version.js';
import { canonicalJson, configHash, newRunId, nowIso, stringifyNonFinite } from './codec.js';
import type { StoreDb } from './db.js';
import { StoreError } from './errors.js';
import type { RunRow, RunStatus } from './schema.js';
import { filterSchema, finishSchema, runInitSchema, staleSchema } from './validate.js';

/** Runs still 'running' whose last heartbeat is older than this are marked failed when a store is opened. */
export const DEFAULT_STALE_SECONDS = 3600;
/** The reason markStaleRuns gives starts with this. */
const STALE_REASON_PREFIX = 'process died';

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

export interface RunFilter {
  status?: RunStatus | RunStatus[];
  kind?: string;
  configHash?: string;
  name?: string;
}

/** What claimRun found: the run it recorded as running in this process, or the run that makes a new one unnecessary. */
export type ClaimResult =
  | { claimed: true; run: RunRecord }
  /** done: a finished (else diverged, else stalled) run with this config hash exists; running: one is in flight in a live process. */
  | { claimed: false; state: 'done' | 'running'; run: RunRecord };

// ---------------------------------------------------------------------------
// Liveness

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

// ---------------------------------------------------------------------------
// Run rows

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

function unknownRun(db: StoreDb, id: unknown): StoreError {
  return new StoreError(`unknown run id ${showValue(id)} in run store ${db.path}`);
}

function runRow(db: StoreDb, id: string): RunRow {
  if (typeof id !== 'string') throw unknownRun(db, id);
  const row = db.stmt('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
  if (!row) throw unknownRun(db, id);
  return row;
}

/** Throws (naming the id and the store) unless the run exists. */
export function requireRun(db: StoreDb, id: string): void {
  if (typeof id !== 'string' || db.stmt('SELECT 1 FROM runs WHERE id = ?').get(id) === undefined) {
    throw unknownRun(db, id);
  }
}

/** A log call from the process that runs the run counts as a heartbeat. */
export function touch(db: StoreDb, id: string, at: string): void {
  db.stmt("UPDATE runs SET last_heartbeat = ? WHERE id = ? AND status = 'running' AND pid = ? AND hostname = ?")
    .run(at, id, process.pid, db.host);
}

/** The run a checkpoint file was recorded for (matched as given or as an absolute path). */
function checkpointRun(db: StoreDb, path: string): string | undefined {
  return db.stmt(`SELECT run_id FROM artifacts WHERE kind = 'checkpoint' AND path IN (?, ?) ORDER BY id DESC LIMIT 1`)
    .pluck().get(path, resolve(path)) as string | undefined;
}

function resolveResume(db: StoreDb, of: string | undefined, from: string | undefined): { of: string | null; from: string | null } {
  let runId: string | null = null;
  let file: string | null = from === undefined ? null : resolve(from);
  if (of !== undefined) {
    if (hasRun(db, of)) {
      runId = of;
    } else if (checkpointRun(db, of) !== undefined) {
      runId = checkpointRun(db, of)!;
      file ??= resolve(of);
    } else if (existsSync(of) && statSync(of).isFile()) {
      file ??= resolve(of);
    } else {
      throw new StoreError(`createRun: resumeOf ${showValue(of)} is neither a run id in run store ${db.path} ` +
        'nor a checkpoint file');
    }
  }
  if (from !== undefined && runId === null) runId = checkpointRun(db, from) ?? null;
  return { of: runId, from: file };
}

// ---------------------------------------------------------------------------
// Lifecycle

/** Records a new run (status 'created'). Its config is stored as canonical JSON with its hash. */
export function createRun(db: StoreDb, init: RunInit): RunRecord {
  const p = parseWith(runInitSchema, init, `createRun (run store ${db.path})`);
  const configText = canonicalJson(p.config);
  const hash = configHash(p.config);
  const id = newRunId();
  const now = nowIso();
  db.write(() => {
    const resume = resolveResume(db, p.resumeOf, p.resumeFrom);
    db.stmt(`INSERT INTO runs (id, name, kind, config, config_hash, seed, backend, status, resume_of, resume_from,
      created_at, dytlab_version) VALUES (?, ?, ?, ?, ?, ?, ?, 'created', ?, ?, ?, ?)`)
      .run(id, p.name ?? `${p.kind}-${hash.slice(0, 8)}`, p.kind, configText, hash, p.seed,
        stringifyNonFinite(p.backend), resume.of, resume.from, now, VERSION);
  });
  return getRun(db, id);
}

/**
 * Marks the run as running in this process: status 'running', started_at,
 * pid, hostname, heartbeat. A run can be started once ('created'), or again
 * by the same process.
 */
export function startRun(db: StoreDb, id: string): RunRecord {
  const now = nowIso();
  db.write(() => {
    const row = runRow(db, id);
    const mine = row.pid === process.pid && row.hostname === db.host;
    if (row.status !== 'created' && !(row.status === 'running' && mine)) {
      throw new StoreError(`startRun: run ${id} in ${db.path} is '${row.status}'` +
        (row.status === 'running' ? ` in process ${row.pid} on ${row.hostname}` : '') +
        '; only a newly created run can be started (create a new run with resumeOf to continue it)');
    }
    db.stmt(`UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?), pid = ?, hostname = ?,
      last_heartbeat = ?, status_reason = NULL WHERE id = ?`).run(now, process.pid, db.host, now, id);
  });
  return getRun(db, id);
}

/**
 * Records that the run's process is alive. A run that markStaleRuns had
 * marked failed while this very process was still alive (a stall longer
 * than the limit) is set back to 'running'.
 */
export function heartbeat(db: StoreDb, id: string): void {
  const now = nowIso();
  db.write(() => {
    const row = runRow(db, id);
    const mine = row.pid === process.pid && row.hostname === db.host;
    if (row.status === 'failed' && mine && row.status_reason?.startsWith(STALE_REASON_PREFIX)) {
      db.stmt(`UPDATE runs SET status = 'running', status_reason = NULL, status_step = NULL, finished_at = NULL,
        wall_seconds = NULL, last_heartbeat = ? WHERE id = ?`).run(now, id);
    } else {
      db.stmt('UPDATE runs SET last_heartbeat = ? WHERE id = ?').run(now, id);
    }
  });
}

/** Ends the run: 'finished', 'diverged', 'failed', 'interrupted' or 'stalled', with an optional reason and the step it ended at. */
export function finishRun(db: StoreDb, id: string, end: { status: FinalStatus; reason?: string; step?: number }): RunRecord {
  const p = parseWith(finishSchema, end, `finishRun ${id} (run store ${db.path})`);
  const now = nowIso();
  db.write(() => {
    const row = runRow(db, id);
    db.stmt(`UPDATE runs SET status = ?, status_reason = ?, status_step = ?, finished_at = ?, wall_seconds = ?,
      last_heartbeat = ? WHERE id = ?`)
      .run(p.status, p.reason ?? null, p.step ?? null, now, secondsBetween(row.started_at ?? row.created_at, now),
        now, id);
  });
  return getRun(db, id);
}

/**
 * Marks failed every 'running' run whose process is gone: its pid no longer
 * exists on this host, or (any host) its last heartbeat is older than
 * olderThanSeconds. The reason names the last heartbeat; status_step is the
 * last step it logged a metric at. Returns how many runs were marked.
 */
export function markStaleRuns(db: StoreDb, opts: { olderThanSeconds: number }): number {
  const { olderThanSeconds } = parseWith(staleSchema, opts, `markStaleRuns (run store ${db.path})`);
  return db.write(() => {
    const rows = db.stmt(`SELECT id, pid, hostname, started_at, created_at, last_heartbeat FROM runs
      WHERE status = 'running'`).all() as Pick<RunRow, 'id' | 'pid' | 'hostname' | 'started_at' | 'created_at' | 'last_heartbeat'>[];
    const now = nowIso();
    let marked = 0;
    for (const r of rows) {
      const why = goneWhy(db, r, olderThanSeconds, now);
      if (why) marked += markDead(db, r, why, now);
    }
    return marked;
  });
}

function goneWhy(db: StoreDb, r: Pick<RunRow, 'pid' | 'hostname' | 'started_at' | 'created_at' | 'last_heartbeat'>, olderThanSeconds: number, now: string): string | undefined {
  return runProcessGone({
    status: 'running', pid: r.pid, hostname: r.hostname, lastHeartbeat: r.last_heartbeat, startedAt: r.started_at, createdAt: r.created_at,
  }, { olderThanSeconds, host: db.host, now });
}

/** Marks a 'running' run whose process is gone failed (inside write()); status_step is the last step it logged. */
function markDead(db: StoreDb, r: Pick<RunRow, 'id' | 'started_at' | 'created_at' | 'last_heartbeat'>, why: string, now: string): number {
  const beat = r.last_heartbeat ?? r.started_at ?? r.created_at;
  const last = db.stmt('SELECT MAX(step) FROM metrics WHERE run_id = ?').pluck().get(r.id) as number | null;
  const reason = `${STALE_REASON_PREFIX} (last heartbeat ${beat}; ${why})`;
  return db.stmt(`UPDATE runs SET status = 'failed', status_reason = ?, status_step = ?, finished_at = ?,
    wall_seconds = ? WHERE id = ? AND status = 'running'`)
    .run(reason, last, now, secondsBetween(r.started_at ?? r.created_at, beat), r.id).changes;
}

/**
 * Claims a config for this process, atomically (one BEGIN IMMEDIATE
 * transaction): when the store holds no finished, diverged or stalled run with the
 * same config hash and none 'running' in a live process, records a new run
 * as 'running' here (pid, host, heartbeat) and returns it; otherwise returns
 * the run that is done or in flight. Two processes claiming the same config
 * at once: exactly one gets it. A 'running' run whose process is gone is
 * marked failed on the way. olderThanSeconds: heartbeat age after which a
 * run of another host counts as gone (default DEFAULT_STALE_SECONDS).
 */
export function claimRun(db: StoreDb, init: RunInit, opts: { olderThanSeconds?: number } = {}): ClaimResult {
  const p = parseWith(runInitSchema, init, `claimRun (run store ${db.path})`);
  const configText = canonicalJson(p.config);
  const hash = configHash(p.config);
  const id = newRunId();
  const now = nowIso();
  const found = db.write((): { id: string; state?: 'done' | 'running' } => {
    const rows = db.stmt(`SELECT * FROM runs WHERE config_hash = ? AND status IN ('finished', 'diverged', 'stalled', 'running')
      ORDER BY created_at, id`).all(hash) as RunRow[];
    const latest = (s: RunStatus) => rows.filter((r) => r.status === s).at(-1);
    // A divergence or a stall is a result of the config, as a finished run is.
    const done = latest('finished') ?? latest('diverged') ?? latest('stalled');
    if (done) return { id: done.id, state: 'done' };
    let live: RunRow | undefined;
    for (const r of rows) {
      if (r.status !== 'running') continue;
      const why = goneWhy(db, r, opts.olderThanSeconds ?? DEFAULT_STALE_SECONDS, now);
      if (why) markDead(db, r, why, now);
      else live = r;
    }
    if (live) return { id: live.id, state: 'running' };
    const resume = resolveResume(db, p.resumeOf, p.resumeFrom);
    db.stmt(`INSERT INTO runs (id, name, kind, config, config_hash, seed, backend, status, resume_of, resume_from,
      created_at, started_at, pid, hostname, last_heartbeat, dytlab_version)
      VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(id, p.name ?? `${p.kind}-${hash.slice(0, 8)}`, p.kind, configText, hash, p.seed, stringifyNonFinite(p.backend),
        resume.of, resume.from, now, now, process.pid, db.host, now, VERSION);
    return { id };
  });
  const run = getRun(db, found.id);
  return found.state ? { claimed: false, state: found.state, run } : { claimed: true, run };
}

// ---------------------------------------------------------------------------
// Lookups

/** The run with this id; throws (naming the id and the store) when there is none. */
export function getRun(db: StoreDb, id: string): RunRecord {
  return rowToRun(runRow(db, id), db.path);
}

export function hasRun(db: StoreDb, id: string): boolean {
  return typeof id === 'string' && db.stmt('SELECT 1 FROM runs WHERE id = ?').get(id) !== undefined;
}

/** The one run whose id is `idOrPrefix` or starts with it (at least 4 characters), as a CLI accepts. */
export function resolveRunId(db: StoreDb, idOrPrefix: string): string {
  if (hasRun(db, idOrPrefix)) return idOrPrefix;
  if (typeof idOrPrefix === 'string' && idOrPrefix.length >= 4) {
    const ids = db.stmt('SELECT id FROM runs WHERE upper(substr(id, 1, length(?))) = upper(?) ORDER BY id LIMIT 6')
      .pluck().all(idOrPrefix, idOrPrefix) as string[];
    if (ids.length === 1) return ids[0];
    if (ids.length > 1) {
      throw new StoreError(`run id prefix ${showValue(idOrPrefix)} is ambiguous in ${db.path}: ` +
        `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`);
    }
  }
  throw unknownRun(db, idOrPrefix);
}

/** Runs matching every given field, oldest first. */
export function listRuns(db: StoreDb, filter: RunFilter = {}): RunRecord[] {
  const f = parseWith(filterSchema, filter, `listRuns filter (run store ${db.path})`);
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
  return (db.stmt(sql).all(...params) as RunRow[]).map((r) => rowToRun(r, db.path));
}

/** The most recently finished run (status 'finished') with this config hash, if any. */
export function findFinished(db: StoreDb, hash: string): RunRecord | undefined {
  const row = db.stmt(`SELECT * FROM runs WHERE config_hash = ? AND status = 'finished'
    ORDER BY finished_at DESC, id DESC LIMIT 1`).get(hash) as RunRow | undefined;
  return row && rowToRun(row, db.path);
}
