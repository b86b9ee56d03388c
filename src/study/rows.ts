// A study's runs as one table, a row per run: what the CSV holds and what every
// selection and comparison works from. Rows come from a store (any sweep, with
// its bracket extensions) or from data/study/runs.csv, so notebooks have one
// code path for the quick profile (trained now) and the study (read back).
import type { RunStore } from '../experiments/store/index.js';
import { sweepBrackets } from '../experiments/sweep-select.js';
import { sweepRuns } from '../experiments/sweep-summary.js';
import { expandSweep, type SweepGrid } from '../experiments/sweep.js';
import { resolveNormSpec } from '../nn/norm-spec.js';
import type { StudyModel } from './manifest.js';

export type StudyStatus = 'ok' | 'diverged' | 'stalled';
export const STUDY_STATUSES: readonly StudyStatus[] = ['ok', 'diverged', 'stalled'];
export type StudyMetric = 'val_loss' | 'val_accuracy';

export interface StudyRow {
  /** Which question (the study's sweep; any name for a notebook's own sweep). */
  study: string;
  model: StudyModel;
  /** The variant's label in its sweep: a norm label with alpha mode and placement in it ("dyt-tanh fixed-alpha", "post-ln"). */
  variant: string;
  seed: number;
  lr: number;
  /** DyT's alpha0 (null for other norms). */
  alpha0: number | null;
  /** The run's step budget (a diverged or stalled run stopped earlier: stopped_at). */
  steps: number;
  status: StudyStatus;
  /** What val_metric and test_metric measure: the LM's loss in nats, the classifier's accuracy as a fraction. */
  metric: StudyMetric;
  /** At the last evaluation (a stalled run: at the stall check; a diverged run: null). */
  val_metric: number | null;
  /** On the held-out test split at the final step (null: not reached or no test split). */
  test_metric: number | null;
  /** The LM's MLP ('gelu' | 'swiglu'); null for the ViT. */
  mlp: string | null;
  /** Gradient clipping norm (0: off). */
  clip_norm: number;
  /** Where the run stopped (its last step). */
  stopped_at: number | null;
  run_id: string;
  config_hash: string;
  wall_seconds: number | null;
}

/** The columns of runs.csv, in order. */
export const STUDY_COLUMNS = [
  'study', 'model', 'variant', 'seed', 'lr', 'alpha0', 'steps', 'status', 'metric', 'val_metric', 'test_metric',
  'mlp', 'clip_norm', 'stopped_at', 'run_id', 'config_hash', 'wall_seconds',
] as const satisfies readonly (keyof StudyRow)[];

export const metricOf = (model: StudyModel): StudyMetric => (model === 'lm' ? 'val_loss' : 'val_accuracy');
/** The store's metric names for a model's validation and test metric. */
export const storeMetricNames = (model: StudyModel) =>
  (model === 'lm' ? { val: 'val/loss', test: 'test/loss' } : { val: 'val/accuracy', test: 'test/accuracy' });
export const higherIsBetter = (metric: StudyMetric): boolean => metric === 'val_accuracy';

const STATUS: Record<string, StudyStatus> = { finished: 'ok', diverged: 'diverged', stalled: 'stalled' };

function lastFinite(values: readonly number[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (Number.isFinite(values[i]!)) return values[i]!;
  return null;
}

export interface RowsFromStoreOptions {
  study: string;
  /** Checked against the runs' model kind when given. */
  model?: StudyModel;
  /** The variant axis (default 'norm'). */
  variantAxis?: string;
  /** The sweep's profile, when `sweep` is a file. */
  profile?: string;
}

/**
 * The results of a sweep as study rows: every combination (and bracket
 * extension) with a finished, diverged or stalled run; runs not done (missing,
 * running, failed, interrupted) are left out, since they are not results.
 */
export function studyRowsFromStore(store: RunStore, sweep: SweepGrid | string, opts: RowsFromStoreOptions): StudyRow[] {
  const base = typeof sweep === 'string' ? expandSweep(sweep, opts.profile ? { profile: opts.profile } : {}) : sweep;
  const { grid } = sweepBrackets(store, base);
  const axis = opts.variantAxis ?? 'norm';
  if (!grid.spec.axes.some((a) => a.name === axis)) {
    throw new RangeError(`studyRowsFromStore: ${grid.spec.label} has no axis "${axis}" (its axes: ${grid.spec.axes.map((a) => a.name).join(', ')})`);
  }
  const runs = sweepRuns(store, grid);
  const out: StudyRow[] = [];
  runs.forEach((r, i) => {
    const status = STATUS[r.state];
    if (!status || !r.runId) return;
    const cfg = grid.points[i]!.resolved;
    const model: StudyModel = cfg.model.kind === 'lm' ? 'lm' : 'vit';
    if (opts.model && opts.model !== model) throw new RangeError(`studyRowsFromStore: ${grid.spec.label} trains ${model} models, not ${opts.model}`);
    const names = storeMetricNames(model);
    const val = status === 'diverged' ? null : lastFinite(store.metricSeries(r.runId, names.val).value);
    const test = status === 'ok' ? lastFinite(store.metricSeries(r.runId, names.test).value) : null;
    const norm = resolveNormSpec(cfg.model.norm);
    out.push({
      study: opts.study, model, variant: String(r.axes[axis]), seed: r.seed, lr: cfg.train.lr,
      alpha0: norm.kind === 'dyt' ? norm.alpha0 : null, steps: cfg.train.steps, status, metric: metricOf(model),
      val_metric: val, test_metric: test, mlp: cfg.model.kind === 'lm' ? cfg.model.mlp : null, clip_norm: cfg.train.clipNorm,
      stopped_at: r.step, run_id: r.runId, config_hash: r.hash, wall_seconds: r.wallSeconds,
    });
  });
  return out;
}
