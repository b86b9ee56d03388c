// The study's export: its runs from the store as data/study/runs.csv (and
// Parquet), the learning rate chosen per variant (choices.csv), and the traces
// of the runs the notebooks read (traces.csv). Written to temporary files and
// renamed, so a failed export leaves the previous one whole.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunStore } from '../experiments/store/index.js';
import { sweepBrackets } from '../experiments/sweep-select.js';
import { sweepRuns } from '../experiments/sweep-summary.js';
import { expandSweep } from '../experiments/sweep.js';
import { studySweepPath, studySweeps, type StudySweep } from './manifest.js';
import { studyRowsFromStore, STUDY_COLUMNS, type StudyRow } from './rows.js';
import { chooseLearningRates, type LrChoice } from './select.js';
import { rowsToCSV, rowsToParquet, TRACE_COLUMNS, type StudyTrace } from './table-io.js';

export interface StudyProgress {
  sweep: StudySweep;
  /** Combinations (with bracket extensions found so far) and how many have a result. */
  planned: number;
  done: number;
  /** Bracket cells still extending or waiting for runs. */
  openCells: number;
}

/** How far each study sweep is in a store: runs with a result, and cells whose bracket has not ended. */
export function studyProgress(store: RunStore, opts: { profile?: string; studies?: readonly string[] } = {}): StudyProgress[] {
  return studySweeps(opts.studies ? { studies: opts.studies } : {}).map((s) => {
    const { grid, status } = sweepBrackets(store, expandSweep(studySweepPath(s), opts.profile ? { profile: opts.profile } : {}));
    const runs = sweepRuns(store, grid);
    const done = runs.filter((r) => r.state === 'finished' || r.state === 'diverged' || r.state === 'stalled').length;
    return { sweep: s, planned: runs.length, done, openCells: status.filter((c) => c.state === 'pending' || c.state === 'extend').length };
  });
}

/** Every study sweep's rows from a store. */
export function studyRows(store: RunStore, opts: { profile?: string; studies?: readonly string[] } = {}): StudyRow[] {
  return studySweeps(opts.studies ? { studies: opts.studies } : {}).flatMap((s) =>
    studyRowsFromStore(store, studySweepPath(s), { study: s.study, model: s.model, variantAxis: s.variantAxis, ...(opts.profile ? { profile: opts.profile } : {}) }));
}

/** One row per (study, model, variant): what was tried, what was chosen on validation, and test at that choice. */
export function choiceRows(choices: readonly LrChoice[]): Record<string, string | number | null>[] {
  return choices.map((c) => ({
    study: c.study, model: c.model, variant: c.variant, metric: c.metric, lrs_tried: c.tried.map((t) => t.lr).join(' '),
    failed_lrs: c.tried.filter((t) => t.failed > 0).map((t) => t.lr).join(' '), best_lr: c.bestLr, state: c.state, seeds: c.atBest.length,
    val_mean: c.val.mean, val_ci_low: c.val.ciLow, val_ci_high: c.val.ciHigh,
    test_mean: c.test.mean, test_ci_low: c.test.ciLow, test_ci_high: c.test.ciHigh, test_df: c.test.df,
    ok: c.statuses.ok, diverged: c.statuses.diverged, stalled: c.statuses.stalled,
  }));
}

/** The traces the notebooks read: every run at its variant's chosen learning rate, and every run of the swiglu study. */
export function studyTraces(store: RunStore, rows: readonly StudyRow[], choices: readonly LrChoice[]): StudyTrace[] {
  const chosen = new Set(choices.flatMap((c) => c.atBest.map((r) => r.run_id)));
  const pick = rows.filter((r) => chosen.has(r.run_id) || r.study === 'swiglu');
  if (!pick.length) return [];
  const byId = new Map(pick.map((r) => [r.run_id, r]));
  const frame = store.tracesFrame(pick.map((r) => r.run_id));
  return (frame.objects() as { run_id: string; step: number; layer: string; alpha: number | null; input_std: number | null; extra: string | null }[]).map((t) => {
    const r = byId.get(t.run_id)!;
    const extra = t.extra ? (JSON.parse(t.extra) as { saturation?: number }) : {};
    return {
      study: r.study, model: r.model, variant: r.variant, seed: r.seed, lr: r.lr, run_id: r.run_id, step: t.step, layer: t.layer,
      alpha: t.alpha ?? null, input_std: t.input_std ?? null, saturation: typeof extra.saturation === 'number' ? extra.saturation : null,
    };
  });
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export interface StudyExport { dir: string; files: string[]; rows: number; traces: number; choices: LrChoice[]; progress: StudyProgress[] }

/** Writes runs.csv, runs.parquet, choices.csv and traces.csv into `dir` from the store. */
export function exportStudy(store: RunStore, opts: { dir: string; profile?: string }): StudyExport {
  const dir = resolve(opts.dir);
  const rows = studyRows(store, opts);
  if (!rows.length) throw new Error(`study export: the store ${store.path} has no study runs${opts.profile ? ` (profile ${opts.profile})` : ''}: run \`dytlab study run\` first`);
  const choices = chooseLearningRates(rows);
  const traces = studyTraces(store, rows, choices);
  mkdirSync(dir, { recursive: true });
  const files: [string, string | Uint8Array][] = [
    ['runs.csv', rowsToCSV(rows, STUDY_COLUMNS)],
    ['runs.parquet', rowsToParquet(rows, STUDY_COLUMNS)],
    ['choices.csv', rowsToCSV(choiceRows(choices), Object.keys(choiceRows(choices)[0]!))],
    ['traces.csv', rowsToCSV(traces, TRACE_COLUMNS)],
  ];
  for (const [name, data] of files) writeAtomic(join(dir, name), data);
  return { dir, files: files.map(([n]) => join(dir, n)), rows: rows.length, traces: traces.length, choices, progress: studyProgress(store, opts) };
}
