// The run store: one SQLite file (better-sqlite3) that every run writes its
// config, provenance, per-step metrics, alpha traces and artifacts into, and
// that analyses and notebooks read from. RunStore is the front; each job is a
// file of this folder:
//   schema.ts   tables, schema version, migrations
//   db.ts       the connection: opening, statements, write transactions (concurrency)
//   validate.ts checks of what callers pass in
//   runs.ts     runs and their lifecycle: create/start/claim/finish, liveness, stale runs
//   records.ts  metrics, traces, artifacts
//   frames.ts   table views, CSV and Parquet exports
//   merge.ts    merging stores
//   codec.ts    canonical JSON and config hashes, run ids, non-finite numbers
import type { FinalStatus } from '../../train/sink.js';
import { StoreDb, type ConnectionOptions } from './db.js';
import * as frames from './frames.js';
import type { ColumnTable, Columns, ExportResult, ExportWhat } from './frames.js';
import * as merging from './merge.js';
import type { MergeResult } from './merge.js';
import * as records from './records.js';
import type { ArtifactInput, ArtifactRecord, MetricInput, MetricRecord, TraceInput, TraceRecord } from './records.js';
import * as runs from './runs.js';
import { DEFAULT_STALE_SECONDS, type ClaimResult, type RunFilter, type RunInit, type RunRecord } from './runs.js';

export { canonicalJson, configHash, runIdTime } from './codec.js';
export { resolveStorePath } from './db.js';
export { StoreError } from './errors.js';
export { parquetToTable, tableToCSV, tableToParquet, toTable } from './frames.js';
export { mergeStores } from './merge.js';
export { DEFAULT_STALE_SECONDS, pidAlive, runProcessGone } from './runs.js';
export type { RunRecord } from './runs.js';
export { RUN_STATUSES, STORE_SCHEMA_VERSION } from './schema.js';
export type { RunStatus } from './schema.js';

interface StoreOptions extends ConnectionOptions {
  /** Heartbeat age after which open() marks a running run failed; false: do not mark on open. Default DEFAULT_STALE_SECONDS. */
  staleAfterSeconds?: number | false;
}

export class RunStore {
  /** Absolute path of the store file (or ':memory:'). */
  readonly path: string;
  readonly readonly: boolean;
  /** True when a read-only store could not be read in place and was read into memory. */
  readonly snapshot: boolean;
  private readonly db: StoreDb;

  constructor(path?: string, options: StoreOptions = {}) {
    this.db = new StoreDb(path, options);
    this.path = this.db.path;
    this.readonly = this.db.readonly;
    this.snapshot = this.db.snapshot;
    if (!this.readonly && options.staleAfterSeconds !== false) {
      this.markStaleRuns({ olderThanSeconds: options.staleAfterSeconds ?? DEFAULT_STALE_SECONDS });
    }
  }

  // -- runs (runs.ts) ----------------------------------------------------------

  /** Records a new run (status 'created'). Its config is stored as canonical JSON with its hash. */
  createRun(init: RunInit): RunRecord { return runs.createRun(this.db, init); }
  /** Marks the run as running in this process (once from 'created', or again by the same process). */
  startRun(id: string): RunRecord { return runs.startRun(this.db, id); }
  /** Records that the run's process is alive (reviving a run marked stale while this process lived). */
  heartbeat(id: string): void { runs.heartbeat(this.db, id); }
  /** Ends the run: 'finished', 'diverged', 'failed', 'interrupted' or 'stalled', with an optional reason and the step it ended at. */
  finishRun(id: string, end: { status: FinalStatus; reason?: string; step?: number }): RunRecord {
    return runs.finishRun(this.db, id, end);
  }
  /** The run with this id; throws (naming the id and the store) when there is none. */
  getRun(id: string): RunRecord { return runs.getRun(this.db, id); }
  hasRun(id: string): boolean { return runs.hasRun(this.db, id); }
  /** The one run whose id is `idOrPrefix` or starts with it (at least 4 characters), as a CLI accepts. */
  resolveRunId(idOrPrefix: string): string { return runs.resolveRunId(this.db, idOrPrefix); }
  /** Runs matching every given field, oldest first. */
  listRuns(filter: RunFilter = {}): RunRecord[] { return runs.listRuns(this.db, filter); }
  /** The most recently finished run (status 'finished') with this config hash, if any. */
  findFinished(hash: string): RunRecord | undefined { return runs.findFinished(this.db, hash); }
  /** Marks failed every 'running' run whose process is gone; returns how many. Called when a store is opened for writing. */
  markStaleRuns(opts: { olderThanSeconds: number }): number { return runs.markStaleRuns(this.db, opts); }
  /** Records a config as running in this process unless a run of it is done or in flight (atomically). */
  claimRun(init: RunInit, opts: { olderThanSeconds?: number } = {}): ClaimResult { return runs.claimRun(this.db, init, opts); }

  // -- metrics, traces, artifacts (records.ts) ---------------------------------

  /** Writes several metrics of one step (one transaction); a (step, name) written before is replaced. */
  logMetrics(id: string, step: number, values: Record<string, number>): number {
    return records.logMetrics(this.db, id, step, values);
  }
  /** Writes many metric rows (any steps) in one transaction. */
  logMetricsBatch(id: string, rows: readonly MetricInput[]): number { return records.logMetricsBatch(this.db, id, rows); }
  /** Metric rows ordered by step then name, NaN and +-Infinity restored. */
  metrics(id: string, opts: { names?: readonly string[]; fromStep?: number; toStep?: number } = {}): MetricRecord[] {
    return records.metrics(this.db, id, opts);
  }
  /** One metric as two aligned arrays, ordered by step. */
  metricSeries(id: string, name: string): { step: number[]; value: number[] } { return records.metricSeries(this.db, id, name); }
  /** Names of the metrics a run logged, sorted. */
  metricNames(id: string): string[] { return records.metricNames(this.db, id); }
  /** Writes one step's per-layer traces (one transaction); a (step, layer) written before is replaced. */
  logTraces(id: string, step: number, rows: readonly TraceInput[]): number { return records.logTraces(this.db, id, step, rows); }
  /** Trace rows ordered by step then layer. */
  traces(id: string, opts: { layers?: readonly string[]; fromStep?: number } = {}): TraceRecord[] {
    return records.traces(this.db, id, opts);
  }
  /** Records a file a run produced (checkpoint, report, ...). The path is stored as given. */
  addArtifact(id: string, artifact: ArtifactInput): ArtifactRecord { return records.addArtifact(this.db, id, artifact); }
  /** A run's artifacts, optionally of one kind, in the order they were added. */
  artifacts(id: string, kind?: string): ArtifactRecord[] { return records.artifacts(this.db, id, kind); }
  /** The checkpoint with the highest step (the last added among equal steps), if any. */
  latestCheckpoint(id: string): ArtifactRecord | undefined { return records.latestCheckpoint(this.db, id); }

  // -- frames and exports (frames.ts) ------------------------------------------

  /** An arquero table from records or columns. */
  toTable(rows: readonly object[] | Columns): ColumnTable { return frames.toTable(rows); }
  /** One row per run: the runs columns, `backend_name`, the config as JSON and flattened into `config.<path>` columns. */
  runsFrame(filter?: RunFilter): ColumnTable { return frames.runsFrame(this.db, filter); }
  /** Long format: run_id, run_name, name, step, value, wall_time, plus a `config.<path>` column per opts.config. */
  metricsFrame(ids?: string | readonly string[], names?: readonly string[], opts: { config?: readonly string[] } = {}): ColumnTable {
    return frames.metricsFrame(this.db, ids, names, opts);
  }
  /** run_id, step, layer, alpha, alpha_vector (JSON text), input_std, extra (JSON text), wall_time. */
  tracesFrame(ids?: string | readonly string[]): ColumnTable { return frames.tracesFrame(this.db, ids); }
  /** Writes runs, metrics or traces as CSV (a .csv file, or `<what>.csv` in a directory). */
  exportCSV(target: string, what: ExportWhat, ids?: string | readonly string[]): ExportResult {
    return frames.exportCSV(this.db, target, what, ids);
  }
  /** Writes runs, metrics or traces as a Parquet file (or `<what>.parquet` in a directory). */
  exportParquet(target: string, what: ExportWhat, ids?: string | readonly string[]): ExportResult {
    return frames.exportParquet(this.db, target, what, ids);
  }

  // -- merge (merge.ts) --------------------------------------------------------

  /** Copies into this store every run of the other store whose id is absent here, with its rows (one transaction). */
  merge(otherStorePath: string): MergeResult { return merging.mergeAll(this.db, [otherStorePath])[0]!; }
  /** merge() of several stores in one transaction: after a failure this store is as it was. */
  mergeAll(otherStorePaths: readonly string[]): MergeResult[] { return merging.mergeAll(this.db, otherStorePaths); }

  // -- the file ----------------------------------------------------------------

  /** SQLite's quick_check of the whole file: the problems it finds (none: []). */
  check(): string[] { return this.db.check(); }
  /** Closes the database; later calls throw. Closing twice is harmless. */
  close(): void { this.db.close(); }
}

/**
 * Opens (creating if needed) the run store at `path`, else $DYTLAB_STORE, else
 * runs/dytlab.sqlite under the current directory. Opening for writing marks
 * stale runs failed (see RunStore.markStaleRuns).
 */
export function openStore(path?: string, options?: StoreOptions): RunStore {
  return new RunStore(path, options);
}

/**
 * fn with a store: the one given, or the one at a path (openStore(path), the
 * default store when undefined), which is closed when fn returns or throws,
 * or when the promise fn returns settles. A store given is left open.
 */
export function withStore<T>(pathOrStore: RunStore | string | undefined, fn: (store: RunStore) => T): T {
  if (typeof pathOrStore === 'object') return fn(pathOrStore);
  const store = openStore(pathOrStore);
  let result: T;
  try {
    result = fn(store);
  } catch (e) {
    store.close();
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => store.close()) as T;
  store.close();
  return result;
}
