// A notebook's sweeps: obtained with a progress bar (runs in the store are
// reused, missing ones trained now, then the bracket's extension rounds), and
// what was trained in them as the entries of the "what was trained" table.
import { display } from '../display/display.js';
import { progress, type ProgressDisplay } from '../display/progress.js';
import type { RunStore } from '../experiments/store/index.js';
import { runBrackets } from '../experiments/sweep-bracket-run.js';
import { runSweep, type SweepEvent, type SweepResult } from '../experiments/sweep-runner.js';
import { sweepRuns, type RunState } from '../experiments/sweep-summary.js';
import { expandSweep, planSweep, type SweepGrid, type SweepPlan } from '../experiments/sweep.js';
import { projectFile } from '../util/paths.js';
import type { TrainedEntry, TrainedStatus } from './trained.js';

export interface ObtainOptions {
  /** Training processes at a time; 0 or left out: one per core. */
  jobs?: number;
  /** Where the sweep files are (default: the package's configs/sweeps/). */
  dir?: string;
}

/** Events of one runSweep call written into a progress bar; `done` counts runs at their end. */
function barEvents(bar: ProgressDisplay, start: number): { onEvent: (e: SweepEvent) => void; done: () => number } {
  let done = start;
  const loss = new Map<number, string>();
  const onEvent = (e: SweepEvent) => {
    if (e.type === 'start') loss.delete(e.slot);
    else if (e.type === 'progress') {
      loss.set(e.slot, `loss ${e.progress.loss.toFixed(3)}`);
      bar.update(done, `${e.run.group}, seed ${e.run.seed}: step ${e.progress.step}/${e.progress.steps}, loss ${e.progress.loss.toFixed(3)}`);
    } else if (e.type === 'end') {
      done++;
      const o = e.outcome;
      bar.update(done, `${e.run.group}, seed ${e.run.seed}: ${o.status} at step ${o.step ?? 0}, ${loss.get(e.slot) ?? 'no loss logged'}${o.reason ? ` (${o.reason})` : ''}`);
    } else if (e.type === 'skip') {
      done++;
      bar.update(done, `${e.run.group}, seed ${e.run.seed}: finished by another process`);
    }
  };
  return { onEvent, done: () => done };
}

const summaryText = (r: SweepResult) => `${r.alreadyDone} reused from the store, ${r.finished} trained, ${r.diverged} diverged, ` +
  `${r.stalled} stalled, ${r.failed} failed (${r.seconds.toFixed(0)} s)`;

/** Failed runs (crashes, not divergences) stay missing: the tables count them, the next run of the notebook retries them. */
function showFailed(r: SweepResult): void {
  const failed = r.outcomes.filter((o) => o.outcome.status === 'failed');
  if (failed.length) display(failed.map((f) => ({ combination: f.run.group, seed: f.run.seed, reason: f.outcome.reason ?? 'unknown' })));
}

/**
 * A sweep's runs for one of its profiles: finished, diverged or stalled runs
 * come from the store, the missing ones are trained now (a progress bar shows
 * each), then, when the sweep has a `bracket`, its extension rounds (one bar
 * per round). Returns the grid with the extensions found (`extensions` counts
 * them), so that sweepRuns and studyRowsFromStore see every run.
 */
export async function obtainSweep(store: RunStore, file: string, profile: string, opts: ObtainOptions = {}): Promise<SweepGrid> {
  const path = opts.dir ? `${opts.dir.replace(/\/$/, '')}/${file}` : projectFile(`configs/sweeps/${file}`);
  const grid = expandSweep(path, { profile });
  const plan: SweepPlan = planSweep(grid, store);
  const total = plan.runs.length;
  const start = plan.runs.filter((r) => r.state === 'done').length;
  const bar = progress(total, `${grid.spec.name} (${profile}): ${total} runs`);
  bar.update(start, start === total ? 'every run is in the store' : `${start} in the store, ${total - start} to train`);
  const ev = barEvents(bar, start);
  const jobs = opts.jobs && opts.jobs > 0 ? { jobs: opts.jobs } : {};
  const res = await runSweep(plan, { store, ...jobs, onEvent: ev.onEvent });
  bar.finish(summaryText(res));
  showFailed(res);
  let roundBar: ProgressDisplay | undefined;
  const brackets = await runBrackets(grid, {
    store, ...jobs,
    onRound: (p, round) => {
      roundBar?.finish();
      roundBar = progress(p.runs.length, `${grid.spec.name}: bracket round ${round}, ${p.runs.length} runs beyond the grid's edge`);
      return barEvents(roundBar, 0).onEvent;
    },
  });
  if (roundBar) {
    roundBar.finish(`${brackets.rounds} bracket round${brackets.rounds === 1 ? '' : 's'}: ${summaryText(brackets.result)}`);
    showFailed(brackets.result);
  }
  return brackets.grid;
}

const STATE_OF: Record<RunState, TrainedStatus> = {
  finished: 'ok', diverged: 'diverged', stalled: 'stalled', failed: 'failed', interrupted: 'failed', running: 'missing', missing: 'missing',
};

/**
 * The "what was trained" entries of a sweep: one per label of `variantAxis`
 * (default 'norm'; the whole grid when the sweep has no such axis), with the
 * config of its first point, its seeds, the learning rates it tried and how
 * its runs ended. `label` names entries when there is no variant axis.
 */
export function sweepTrainedEntries(store: RunStore, grid: SweepGrid, opts: { variantAxis?: string; label?: string } = {}): TrainedEntry[] {
  const axis = opts.variantAxis ?? 'norm';
  const has = grid.spec.axes.some((a) => a.name === axis);
  const runs = sweepRuns(store, grid);
  const out = new Map<string, TrainedEntry>();
  grid.points.forEach((p, i) => {
    const key = has ? p.labels[axis]! : opts.label ?? grid.spec.name;
    let e = out.get(key);
    if (!e) out.set(key, e = { label: key, config: p.resolved, seeds: [], statuses: {}, lrs: [] });
    if (!e.seeds.includes(p.seed)) e.seeds.push(p.seed);
    if (!e.lrs!.includes(p.resolved.train.lr)) e.lrs!.push(p.resolved.train.lr);
    const s = STATE_OF[runs[i]!.state];
    e.statuses[s] = (e.statuses[s] ?? 0) + 1;
  });
  return [...out.values()];
}
