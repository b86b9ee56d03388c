// Running a sweep's bracket after its grid: look at the store (sweepBrackets),
// run the extensions it asks for (runSweep), look again, until every cell has
// ended or waits on runs that failed in this call. Nothing is remembered
// between calls but the store: a killed bracket, run again, walks the same way
// to where it stopped (the extensions are combinations with their own config
// hashes, found there like the grid's).
import { openStore, resolveStorePath, type RunStore } from './store/index.js';
import type { BracketGroupStatus } from './sweep-bracket.js';
import { runSweep, type SweepResult, type SweepRunOptions } from './sweep-runner.js';
import { sweepBrackets } from './sweep-select.js';
import { planSweep, type SweepGrid, type SweepPlan, type SweepPoint } from './sweep.js';

export interface BracketRunOptions extends Omit<SweepRunOptions, 'onEvent'> {
  /** Called before each round of extensions with its plan (round from 1); what it returns gets that round's events. */
  onRound?: (plan: SweepPlan, round: number) => SweepRunOptions['onEvent'] | void;
  /** Called on each new extension before it runs (a memory check); throwing stops the bracket. */
  checkPoint?: (p: SweepPoint) => void;
}

export interface BracketRunResult {
  /** The runs of the extension rounds, added up (planned: extensions run or waited for). */
  result: SweepResult;
  rounds: number;
  /** The grid with every extension found. */
  grid: SweepGrid;
  status: BracketGroupStatus[];
}

function look(storePath: string, grid: SweepGrid): { grid: SweepGrid; status: BracketGroupStatus[]; plan: SweepPlan } {
  const store: RunStore = openStore(storePath); // marks runs of dead processes failed
  try {
    const walk = sweepBrackets(store, grid);
    const own = walk.grid.points.length - (walk.grid.extensions ?? 0);
    const ext: SweepGrid = { ...walk.grid, points: walk.grid.points.slice(own) };
    const plan = planSweep(ext, store);
    return { ...walk, plan: { ...plan, grid: walk.grid, runs: plan.runs.filter((r) => r.state !== 'done') } };
  } finally {
    store.close();
  }
}

/**
 * Runs the bracket extensions of a sweep whose grid has been run (its runs in
 * the store), round after round. A grid without a bracket: nothing to do.
 */
export async function runBrackets(grid: SweepGrid, opts: BracketRunOptions = {}): Promise<BracketRunResult> {
  const storePath = typeof opts.store === 'object' ? opts.store.path : resolveStorePath(opts.store);
  const total: SweepResult = { planned: 0, alreadyDone: 0, finished: 0, diverged: 0, stalled: 0, failed: 0, outcomes: [], aborted: false, seconds: 0 };
  const tried = new Set<string>();
  const checked = new Set<string>();
  const t0 = Date.now();
  let rounds = 0;
  for (;;) {
    const now = look(storePath, grid);
    // Runs this call already tried and saw fail are left for the next sweep, as the grid's are.
    const runs = now.plan.runs.filter((r) => !(r.state === 'todo' && tried.has(r.hash)));
    if (!grid.spec.bracket || !runs.length || total.aborted || opts.signal?.aborted) {
      total.seconds = (Date.now() - t0) / 1000;
      total.aborted ||= Boolean(opts.signal?.aborted);
      return { result: total, rounds, grid: now.grid, status: now.status };
    }
    for (const r of runs) {
      if (!checked.has(r.hash)) opts.checkPoint?.(r);
      checked.add(r.hash);
      tried.add(r.hash);
    }
    rounds++;
    const plan = { ...now.plan, runs };
    const onEvent = opts.onRound?.(plan, rounds) ?? undefined;
    const { onRound: _o, checkPoint: _c, ...runOpts } = opts;
    const r = await runSweep(plan, { ...runOpts, store: storePath, ...(onEvent ? { onEvent } : {}) });
    total.planned += r.planned;
    total.alreadyDone += r.alreadyDone;
    total.finished += r.finished;
    total.diverged += r.diverged;
    total.stalled += r.stalled;
    total.failed += r.failed;
    total.outcomes.push(...r.outcomes);
    total.aborted ||= r.aborted;
  }
}
