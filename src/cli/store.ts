// `dytlab store merge|ls`: combine run stores (e.g. the shards of a sweep run
// on several machines) and list what a store holds.
import { existsSync } from 'node:fs';
import {
  mergeStores, openStore, resolveStorePath, runProcessGone, type RunRecord, type RunStatus, type RunStore,
} from '../experiments/store/index.js';
import { ConfigError } from '../util/schema.js';

export interface StoreIO { stdout: { write(s: string): unknown } }

/** Config hashes with more than one finished run (the same combination trained twice, e.g. in overlapping shards). */
export function duplicateFinished(store: RunStore): { hash: string; runs: string[] }[] {
  const by = new Map<string, string[]>();
  for (const r of store.listRuns({ status: 'finished' })) by.set(r.configHash, [...(by.get(r.configHash) ?? []), r.id]);
  return [...by].filter(([, ids]) => ids.length > 1).map(([hash, runs]) => ({ hash, runs }));
}

/** `dytlab store merge TARGET SOURCE...` */
export function storeMerge(target: string, sources: string[], io: StoreIO = { stdout: process.stdout }): number {
  for (const s of sources) {
    if (!existsSync(s)) throw new ConfigError(`store merge: source ${s} does not exist`);
  }
  // Sources checked before the target is created; one transaction; a target this created is removed on failure.
  const merged = mergeStores(target, sources);
  const store = openStore(target, { staleAfterSeconds: false });
  try {
    for (const { source: s, result: r } of merged) {
      io.stdout.write(`merged ${s}: ${r.runs} runs added (${r.metrics} metric rows, ${r.traces} trace rows, ${r.artifacts} artifacts), ` +
        `${r.skipped} already in ${target}\n`);
    }
    const dups = duplicateFinished(store);
    const total = store.listRuns().length;
    io.stdout.write(`${target}: ${total} runs\n`);
    if (dups.length) {
      io.stdout.write(`note: ${dups.length} config${dups.length > 1 ? 's have' : ' has'} more than one finished run ` +
        `(trained more than once, e.g. in overlapping shards): ${dups.slice(0, 5).map((d) => `${d.hash.slice(0, 8)} (${d.runs.length})`).join(', ')}` +
        `${dups.length > 5 ? ', ...' : ''}; summaries use the latest\n`);
    }
  } finally {
    store.close();
  }
  return 0;
}

export interface RunListing {
  id: string;
  name: string;
  /** 'dead': recorded 'running', but its process is gone (pid no longer exists on this host, or no heartbeat for an hour). */
  status: RunStatus | 'dead';
  /** Why a 'dead' run is dead. */
  reason?: string;
  steps: number | null;
  metric: number | null;
  created: string;
  hash: string;
}

/** One row per run: the step it ended at (or the last step logged, while running) and the metric's last value. */
export function listRunsWithMetric(store: RunStore, metric: string, filter: { status?: RunStatus; name?: string } = {}): RunListing[] {
  return store.listRuns(filter).map((r: RunRecord) => {
    const series = store.metricSeries(r.id, metric);
    const loss = r.statusStep == null ? store.metricSeries(r.id, 'train/loss') : undefined;
    // Read-only, yet a run whose process is gone is shown as such (the writers would mark it failed).
    const gone = runProcessGone(r);
    return {
      id: r.id, name: r.name, status: gone ? 'dead' : r.status, ...(gone ? { reason: `process gone: ${gone}` } : {}),
      steps: r.statusStep ?? (loss && loss.step.length ? loss.step[loss.step.length - 1]! : null),
      metric: series.value.length ? series.value[series.value.length - 1]! : null,
      created: r.createdAt, hash: r.configHash,
    };
  });
}

export interface StoreLsOptions { store?: string; status?: RunStatus; name?: string; metric: string; json: boolean }

/** `dytlab store ls` */
export function storeLs(o: StoreLsOptions, io: StoreIO = { stdout: process.stdout }): number {
  const { store: path, status, name, metric, json } = o;
  const file = resolveStorePath(path);
  if (file !== ':memory:' && !existsSync(file)) throw new ConfigError(`store ls: ${file} does not exist`);
  const store = openStore(file, { readonly: true });
  try {
    const rows = listRunsWithMetric(store, metric, { ...(status ? { status } : {}), ...(name ? { name } : {}) });
    if (json) {
      io.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return 0;
    }
    const fmt = (v: number | null) => (v === null ? '-' : Number.isFinite(v) ? v.toPrecision(5) : String(v));
    const table = [['id', 'name', 'status', 'steps', metric, 'created', 'config'],
      ...rows.map((r) => [r.id, r.name, r.status, r.steps === null ? '-' : String(r.steps), fmt(r.metric), r.created.slice(0, 19), r.hash.slice(0, 8)])];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
    io.stdout.write(table.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n');
    io.stdout.write(`${rows.length} run${rows.length === 1 ? '' : 's'} in ${file}\n`);
  } finally {
    store.close();
  }
  return 0;
}
