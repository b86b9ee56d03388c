// `dytlab sweep <file>`: expand a sweep, skip what the store has, run the rest
// in parallel workers with a combined progress display; --dry-run prints the plan.
// A sweep with a `bracket` then runs its extensions, round by round (runBrackets).
import { existsSync } from 'node:fs';
import { openStore, resolveStorePath } from '../experiments/store/index.js';
import { expandSweep, parseShard, planSweep, shardFromEnv, type PlannedRun, type SweepGrid, type SweepPlan } from '../experiments/sweep.js';
import {
  estimateRun, formatDuration, FLOPS_PER_SECOND, makespan, storeStepTimes, type RunEstimate,
} from '../experiments/sweep-estimate.js';
import { checkRunMemory, memoryLimit } from '../experiments/memory-estimate.js';
import { defaultJobs, runSweep, type SweepResult } from '../experiments/sweep-runner.js';
import type { BracketGroupStatus } from '../experiments/sweep-bracket.js';
import { runBrackets } from '../experiments/sweep-bracket-run.js';
import { sweepBrackets } from '../experiments/sweep-select.js';
import type { BracketSpec } from '../experiments/sweep-config.js';
import { outcomeText, SweepDisplay, type DisplayStream } from './sweep-display.js';

export interface SweepIO {
  stdout: DisplayStream;
  stderr: DisplayStream;
}

export interface SweepOptions {
  file: string;
  profile?: string;
  store?: string;
  jobs?: number;
  /** `i/N`; without it, Slurm's array variables (if set) choose the shard. */
  shard?: string;
  dryRun: boolean;
  quiet: boolean;
  /** Train combinations whose memory estimate is over the limit. */
  allowLarge?: boolean;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

/** The --dry-run text: every combination of the plan with its state and estimate, and the total. */
export function formatPlan(plan: SweepPlan, estimates: Map<number, RunEstimate>, jobs: number, storePath: string): string {
  const { spec, points, excluded } = plan.grid;
  const axes = spec.axes.map((a) => `${a.name} x${a.entries.length}`).join(', ') || 'no axes';
  const lines: string[] = [];
  lines.push(`${spec.label}: ${points.length} combinations (${axes})${excluded ? `, ${excluded} excluded` : ''}`);
  if (plan.shard) lines.push(`shard ${plan.shard.index}/${plan.shard.count}: ${plan.runs.length} of them (combinations #k with k mod ${plan.shard.count} = ${plan.shard.index})`);
  lines.push(`store ${storePath}`);
  const header = ['#', 'hash', 'state', 'estimate', ...spec.axes.map((a) => a.name)];
  const body = plan.runs.map((r) => {
    const e = estimates.get(r.index);
    const state = r.state === 'running' ? 'running elsewhere' : r.state;
    return [String(r.index), r.hash.slice(0, 8), state, e && r.state === 'todo' ? formatDuration(e.seconds) : '-', ...spec.axes.map((a) => r.labels[a.name] ?? '')];
  });
  lines.push(table([header, ...body]));
  const count = (s: PlannedRun['state']) => plan.runs.filter((r) => r.state === s).length;
  lines.push(`done ${count('done')}, running elsewhere ${count('running')}, to run ${count('todo')}`);
  const todo = plan.runs.filter((r) => r.state === 'todo');
  if (todo.length) {
    const secs = todo.map((r) => estimates.get(r.index)!.seconds);
    const fromStore = todo.filter((r) => estimates.get(r.index)!.source === 'store');
    const similar = new Set(fromStore.map((r) => estimates.get(r.index)!.similar ?? 0));
    const sources = [
      fromStore.length ? `${fromStore.length} from the wall time per step of similar finished runs in the store (${[...similar].join('/')} runs)` : '',
      fromStore.length < todo.length
        ? `${todo.length - fromStore.length} from the model's size (a rough figure: ${FLOPS_PER_SECOND / 1e9} GFLOP/s per worker, wasm, one thread)`
        : '',
    ].filter(Boolean).join('; ');
    lines.push(`estimated time: ${formatDuration(makespan(secs, jobs))} with ${jobs} worker${jobs > 1 ? 's' : ''} ` +
      `(${formatDuration(secs.reduce((a, b) => a + b, 0))} of runs); estimates: ${sources}`);
  } else {
    lines.push('nothing to run');
  }
  return lines.join('\n');
}

/** The bracket's settings and each cell's state, one line per cell. */
export function formatBrackets(b: BracketSpec, status: readonly BracketGroupStatus[]): string {
  const lines = [`bracket ${b.axis} on ${b.metric} (${b.mode}; step x${b.factor}; up to ${b.maxExtra} values beyond the grid per cell):`];
  for (const s of status) {
    const tried = s.values.map((v) => `${v.value}${v.extra ? '*' : ''}`).join(' ');
    lines.push(`  ${s.group || '(all runs)'}: ${s.state}: ${s.why} [tried ${tried}]`);
  }
  if (status.some((s) => s.extra)) lines.push('  (* beyond the grid)');
  return lines.join('\n');
}

/** The summary printed when a sweep ends. */
export function formatResult(name: string, r: SweepResult): string {
  const lines = [`sweep ${name}: ${r.planned} combinations: ${r.alreadyDone} already done, ${r.finished} finished, ` +
    `${r.diverged} diverged, ${r.stalled} stalled, ${r.failed} failed in ${formatDuration(r.seconds)}${r.aborted ? ' (aborted)' : ''}`];
  for (const { run, outcome } of r.outcomes.filter((o) => o.outcome.status === 'failed')) lines.push(`  ${outcomeText(run, outcome)}`);
  if (r.failed) lines.push('failed runs are run again by the next `dytlab sweep` of this file');
  return lines.join('\n');
}

export async function sweepCommand(o: SweepOptions, io: SweepIO = { stdout: process.stdout, stderr: process.stderr },
  env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const shard = o.shard !== undefined ? parseShard(o.shard) : shardFromEnv(env);
  const a = { ...o, ...(shard ? { shard } : { shard: undefined }) };
  const grid = expandSweep(a.file, a.profile !== undefined ? { profile: a.profile } : {});
  const storePath = resolveStorePath(a.store);
  const jobs = a.jobs ?? defaultJobs();
  if (a.dryRun) {
    // A dry run writes nothing: a store that does not exist yet is as good as empty.
    const exists = storePath !== ':memory:' && existsSync(storePath);
    const store = openStore(exists ? storePath : ':memory:', exists ? { readonly: true } : {});
    try {
      const plan = planSweep(grid, store, a.shard ? { shard: a.shard } : {});
      const times = storeStepTimes(store.listRuns({ status: 'finished' }));
      const estimates = new Map(plan.runs.map((r) => [r.index, estimateRun(r.resolved, times)]));
      io.stdout.write(formatPlan(plan, estimates, jobs, storePath) + '\n');
      const b = grid.spec.bracket;
      if (b && a.shard) io.stdout.write(`bracket ${b.axis}: not run with --shard (it needs every run of a cell): merge the shards' stores, then sweep without --shard\n`);
      else if (b) {
        io.stdout.write(`bracket ${b.axis}: after the grid, may add runs (up to ${b.maxExtra} values x their seeds per cell)\n`);
        if (exists) io.stdout.write(formatBrackets(b, sweepBrackets(store, grid).status) + '\n');
      }
    } finally {
      store.close();
    }
    return 0;
  }
  // Before anything is written: every combination must fit in its worker's share of the memory
  // limit (jobs run at once), or the sweep would fail one combination at a time, hours in.
  if (!a.allowLarge) {
    const limit = memoryLimit();
    const share = { memoryLimitBytes: limit.bytes / jobs };
    for (const p of grid.points.filter((q) => !a.shard || q.index % a.shard.count === a.shard.index)) {
      try {
        checkRunMemory(p.resolved, share, `sweep ${a.file}: combination #${p.index}`);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n(with --jobs ${jobs} each worker gets 1/${jobs} of ${limit.source}; lower --jobs or pass --allow-large)`);
      }
    }
  }
  const store = openStore(storePath); // marks runs of dead processes failed before planning
  let plan: SweepPlan, meanEstimate: number;
  try {
    plan = planSweep(grid, store, a.shard ? { shard: a.shard } : {});
    const times = storeStepTimes(store.listRuns({ status: 'finished' }));
    const todo = plan.runs.filter((r) => r.state !== 'done');
    meanEstimate = todo.length ? todo.map((r) => estimateRun(r.resolved, times).seconds).reduce((x, y) => x + y, 0) / todo.length : 0;
  } finally {
    store.close();
  }
  const label = `${grid.spec.name}${grid.spec.profile ? ` (${grid.spec.profile})` : ''}${a.shard ? ` shard ${a.shard.index}/${a.shard.count}` : ''}`;
  const display = a.quiet ? undefined
    : new SweepDisplay(io.stderr, label, plan.runs.length, jobs, plan.runs.filter((r) => r.state === 'done').length, meanEstimate);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: SweepResult;
  try {
    result = await runSweep(plan, {
      store: storePath, jobs, signal: abort.signal, ...(display ? { onEvent: (e) => display.onEvent(e) } : {}),
      ...(a.allowLarge ? { allowLarge: true } : {}),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    display?.close();
  }
  io.stdout.write(formatResult(label, result) + '\n');
  if (result.aborted) return 130;
  const b = grid.spec.bracket;
  if (b && a.shard) {
    io.stdout.write(`bracket ${b.axis}: not run with --shard: merge the shards' stores, then run the sweep without --shard\n`);
  } else if (b) {
    const br = await bracketRounds(grid, label, storePath, jobs, a, io);
    if (br.aborted) return 130;
    if (br.failed) return 1;
  }
  return result.failed > 0 ? 1 : 0;
}

async function bracketRounds(grid: SweepGrid, label: string, storePath: string, jobs: number, a: Pick<SweepOptions, 'file' | 'quiet' | 'allowLarge'>, io: SweepIO):
  Promise<{ aborted: boolean; failed: number }> {
  const b = grid.spec.bracket!;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const limit = memoryLimit();
  let display: SweepDisplay | undefined;
  try {
    const r = await runBrackets(grid, {
      store: storePath, jobs, signal: abort.signal, ...(a.allowLarge ? { allowLarge: true } : {}),
      ...(a.allowLarge ? {} : { checkPoint: (p) => checkRunMemory(p.resolved, { memoryLimitBytes: limit.bytes / jobs }, `sweep ${a.file}: bracket combination #${p.index}`) }),
      onRound: (plan, round) => {
        display?.close();
        if (a.quiet) return;
        display = new SweepDisplay(io.stderr, `${label} bracket ${b.axis} round ${round}`, plan.runs.length, jobs, 0, 0);
        const d = display;
        return (e) => d.onEvent(e);
      },
    });
    display?.close();
    if (r.rounds) io.stdout.write(formatResult(`${label} bracket ${b.axis} (${r.rounds} round${r.rounds > 1 ? 's' : ''})`, r.result) + '\n');
    io.stdout.write(formatBrackets(b, r.status) + '\n');
    return { aborted: r.result.aborted, failed: r.result.failed };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    display?.close();
  }
}
