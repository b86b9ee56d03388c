// `dytlab store merge|ls`: combine run stores (e.g. the shards of a sweep run
// on several machines) and list what a store holds.
import { existsSync } from 'node:fs';
import { openStore, resolveStorePath, RUN_STATUSES, type RunRecord, type RunStatus, type RunStore } from '../experiments/store.js';
import { ConfigError, showValue } from '../util/schema.js';

const USAGE = `usage: dytlab store merge <target> <source>...   copy every run of the sources that the target lacks (by run id)
       dytlab store ls [--store PATH] [--status S] [--name NAME] [--metric NAME] [--json]`;

export interface StoreIO { stdout: { write(s: string): unknown } }

/** Config hashes with more than one finished run (the same combination trained twice, e.g. in overlapping shards). */
export function duplicateFinished(store: RunStore): { hash: string; runs: string[] }[] {
  const by = new Map<string, string[]>();
  for (const r of store.listRuns({ status: 'finished' })) by.set(r.configHash, [...(by.get(r.configHash) ?? []), r.id]);
  return [...by].filter(([, ids]) => ids.length > 1).map(([hash, runs]) => ({ hash, runs }));
}

function merge(args: string[], io: StoreIO): number {
  const [target, ...sources] = args;
  if (target === undefined || sources.length === 0) throw new ConfigError(`store merge: give a target and at least one source\n${USAGE}`);
  for (const s of sources) {
    if (!existsSync(s)) throw new ConfigError(`store merge: source ${s} does not exist`);
  }
  const store = openStore(target, { staleAfterSeconds: false });
  try {
    for (const s of sources) {
      const r = store.merge(s);
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
  status: RunStatus;
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
    return {
      id: r.id, name: r.name, status: r.status,
      steps: r.statusStep ?? (loss && loss.step.length ? loss.step[loss.step.length - 1]! : null),
      metric: series.value.length ? series.value[series.value.length - 1]! : null,
      created: r.createdAt, hash: r.configHash,
    };
  });
}

function ls(args: string[], io: StoreIO): number {
  let path: string | undefined, status: RunStatus | undefined, name: string | undefined, metric = 'val/loss', json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new ConfigError(`store ls: option ${a} needs a value`);
      return v;
    };
    if (a === '--store') path = value();
    else if (a === '--status') {
      const v = value();
      if (!(RUN_STATUSES as readonly string[]).includes(v)) {
        throw new ConfigError(`store ls: --status ${showValue(v)} is not one of ${RUN_STATUSES.join(', ')}`);
      }
      status = v as RunStatus;
    } else if (a === '--name') name = value();
    else if (a === '--metric') metric = value();
    else if (a === '--json') json = true;
    else throw new ConfigError(`store ls: unknown option '${a}'\n${USAGE}`);
  }
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

export async function storeCommand(args: string[], io: StoreIO = { stdout: process.stdout }): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'merge': return merge(rest, io);
    case 'ls': return ls(rest, io);
    default:
      throw new ConfigError(`store: ${sub === undefined ? 'give a subcommand' : `unknown subcommand '${sub}'`}\n${USAGE}`);
  }
}
