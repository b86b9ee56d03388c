// Merging run stores (e.g. the shards of a sweep run on several machines): the
// runs of the sources that the target lacks are copied with their metrics,
// traces and artifacts, all in one transaction.
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { resolveStorePath, StoreDb } from './db.js';
import { StoreError } from './errors.js';
import { hasRun } from './runs.js';
import { ARTIFACT_COLUMNS, METRIC_COLUMNS, RUN_COLUMNS, TRACE_COLUMNS } from './schema.js';

export interface MergeResult { runs: number; skipped: number; metrics: number; traces: number; artifacts: number }

/**
 * Copies into db every run of each other store whose id is absent there, with
 * its metrics, traces and artifacts, in one transaction: after a failure (a
 * corrupt source, a full disk) db is as it was. Runs already there are
 * skipped, whatever their state in the other store. Each source is opened
 * read-only (and so checked) before anything is written.
 */
export function mergeAll(db: StoreDb, otherStorePaths: readonly string[]): MergeResult[] {
  if (db.readonly) throw new StoreError(`run store ${db.path} was opened read-only`);
  const sources: StoreDb[] = [];
  try {
    for (const p of otherStorePaths) {
      const other = resolve(p);
      sources.push(other === db.path ? db : new StoreDb(other, { readonly: true, busyTimeoutMs: db.busyTimeoutMs }));
    }
    return db.write(() => sources.map((src) => (src === db ? selfMerge(db) : copyRuns(db, src))));
  } finally {
    for (const src of sources) if (src !== db) src.close();
  }
}

function selfMerge(db: StoreDb): MergeResult {
  const n = db.stmt('SELECT COUNT(*) FROM runs').pluck().get() as number;
  return { runs: 0, skipped: n, metrics: 0, traces: 0, artifacts: 0 };
}

/** Copies src's runs that are absent from db, with their rows (inside db.write()). */
function copyRuns(db: StoreDb, src: StoreDb): MergeResult {
  const ids = [...src.rows('SELECT id FROM runs ORDER BY created_at, id')].map((r) => r[0] as string);
  const fresh = ids.filter((id) => !hasRun(db, id));
  const result: MergeResult = { runs: 0, skipped: ids.length - fresh.length, metrics: 0, traces: 0, artifacts: 0 };
  const insert = (table: string, columns: readonly string[]) =>
    db.stmt(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
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

/**
 * Merges every source into target (created if needed) in one transaction.
 * The sources are checked first (they exist, are dytlab stores, pass SQLite's
 * quick_check), before the target is created; if the merge fails anyway, a
 * target this call created is removed, and one that existed is unchanged.
 */
export function mergeStores(target: string, sources: readonly string[], opts: { busyTimeoutMs?: number } = {}): { source: string; result: MergeResult }[] {
  const file = resolveStorePath(target);
  if (file === ':memory:') throw new StoreError('store merge: the target must be a file, not ":memory:"');
  if (sources.length === 0) throw new StoreError(`store merge ${file}: give at least one source`);
  for (const s of sources) {
    if (!existsSync(s)) throw new StoreError(`store merge: source ${s} does not exist`);
    const src = new StoreDb(s, { readonly: true, ...opts });
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
  let store: StoreDb | undefined;
  try {
    // A target opened this way marks no stale runs (as RunStore with staleAfterSeconds: false).
    store = new StoreDb(file, opts);
    const results = mergeAll(store, sources);
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
