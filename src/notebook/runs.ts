// A notebook's training run, by its config: the ended run with the same config
// hash from the store, or trained now with a progress bar. A run that stalled or
// diverged is a result the notebook reports (its last checkpoint is still there),
// not an error; a failed run is an error naming it.
import { ensureRun } from '../experiments/ensure.js';
import { resolveRun, type RunConfig } from '../experiments/run-config.js';
import { configHash, type RunStore } from '../experiments/store/index.js';
import { progress } from '../display/progress.js';
import type { TrainedEntry, TrainedStatus } from './trained.js';

/** How an obtained run ended, in the study's words: finished runs are 'ok'. */
export type ObtainedStatus = 'ok' | 'diverged' | 'stalled';

export interface ObtainedRun {
  runId: string;
  /** True when the store already had it (nothing was trained). */
  reused: boolean;
  status: ObtainedStatus;
  /** Why it diverged or stalled, and at which step (null for 'ok'). */
  reason: string | null;
  step: number | null;
  label: string;
  config: RunConfig;
}

const ENDED: Record<string, ObtainedStatus> = { finished: 'ok', diverged: 'diverged', stalled: 'stalled' };

/** The last ended (finished, diverged or stalled) run with this hash, finished runs first. */
function ended(store: RunStore, hash: string) {
  const runs = store.listRuns({ configHash: hash }).filter((r) => r.status in ENDED);
  return runs.filter((r) => r.status === 'finished').at(-1) ?? runs.at(-1);
}

/**
 * The run of `config` (label: what the progress bar and tables call it): reused
 * from `store` when a run with its hash ended there, else trained now with a
 * progress bar. `status` says how it ended; a failed run throws.
 */
export async function obtainRun(store: RunStore, config: unknown, label: string): Promise<ObtainedRun> {
  if (!store || typeof store.listRuns !== 'function') throw new Error(`obtainRun(${label}): store must be an open RunStore (openStore(...))`);
  const cfg = resolveRun(config, `obtainRun(${label})`);
  const hash = configHash(cfg);
  const done = ended(store, hash);
  const result = (r: { id: string; status: string; statusReason: string | null; statusStep: number | null }, reused: boolean): ObtainedRun => ({
    runId: r.id, reused, status: ENDED[r.status]!, reason: r.status === 'finished' ? null : r.statusReason,
    step: r.status === 'finished' ? cfg.train.steps : r.statusStep, label, config: cfg,
  });
  const bar = progress(cfg.train.steps, `${label}: ${cfg.name}, ${cfg.train.steps} steps`);
  if (done) {
    bar.update(cfg.train.steps);
    bar.finish(`reused ${done.status} run ${done.id}`);
    return result(done, true);
  }
  try {
    const r = await ensureRun(cfg, { store, onProgress: (p) => bar.update(p.step, `loss ${p.loss.toFixed(3)}`) });
    bar.finish(r.reused ? `reused finished run ${r.runId}` : `trained run ${r.runId}`);
    return result(r.record, r.reused);
  } catch (e) {
    // ensureRun throws for a run that ended diverged or stalled: that run is the result.
    const after = ended(store, hash);
    if (!after) throw e;
    bar.finish(`${after.status} run ${after.id}: ${after.statusReason ?? ''}`);
    return result(after, false);
  }
}

/** A row of the "what was trained" table (trainedTable) for obtained runs of one configuration (one per seed). */
export function trainedEntry(label: string, runs: readonly ObtainedRun[]): TrainedEntry {
  if (!runs.length) throw new Error(`trainedEntry(${label}): no runs`);
  const statuses: Partial<Record<TrainedStatus, number>> = {};
  for (const r of runs) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  const lrs = [...new Set(runs.map((r) => r.config.train.lr))];
  return { label, config: runs[0]!.config, seeds: runs.map((r) => r.config.seed), statuses, ...(lrs.length > 1 ? { lrs } : {}) };
}

/** The last logged value of a run's metric (e.g. 'val/loss', 'test/accuracy'), undefined when it was never logged. */
export function lastMetric(store: RunStore, runId: string, name: string): number | undefined {
  const s = store.metricSeries(runId, name);
  return s.value.length ? s.value[s.value.length - 1] : undefined;
}

/** A table cell: v to `digits` decimals (a number, so columns sort), null when it is missing or not finite. */
export function roundTo(v: number | null | undefined, digits = 3): number | null {
  if (!Number.isInteger(digits) || digits < 0 || digits > 15) throw new RangeError(`roundTo: digits = ${String(digits)} must be an integer from 0 to 15`);
  return typeof v === 'number' && Number.isFinite(v) ? Number(v.toFixed(digits)) : null;
}
