// Where an experiment notebook's runs come from, one code path for every
// profile: with profile 'study' the study's runs.csv (nothing is trained; when
// the file is missing the notebook says how to make it), otherwise the
// notebook's own sweeps, obtained now (sweeps.ts) and read back from the store
// as the same study rows.
import type { RunConfig } from '../experiments/run-config.js';
import type { RunStore } from '../experiments/store/index.js';
import { expandSweep, type SweepGrid } from '../experiments/sweep.js';
import { studySweepPath, studySweeps, type StudyModel } from '../study/manifest.js';
import { studyRowsFromStore, type StudyRow } from '../study/rows.js';
import { hasStudyRuns, readStudyRuns, studyRunsPath } from '../study/table-io.js';
import { obtainSweep, sweepTrainedEntries } from './sweeps.js';
import { trainedTable, trainedTableFromRows } from './trained.js';

export interface ExperimentOptions {
  /** 'study' reads runs.csv; any other is a profile of the sweeps. */
  profile: string;
  jobs?: number;
  /** The study's question these notebooks read in runs.csv ('variants', 'stability', ...). */
  study: string;
  /** The notebook's sweep file per model family (configs/sweeps/), for the other profiles. */
  sweeps: Partial<Record<StudyModel, string>>;
  /** A sweep's variant label as the study writes it (e.g. 'tanh' -> 'dyt-tanh'), so one analysis reads both. */
  rename?: (sweepLabel: string) => string;
  /** The variants this notebook reports, as a list or a test of the (renamed) label (default: all). */
  variants?: readonly string[] | ((variant: string) => boolean);
  /** runs.csv (default: studyRunsPath(), which honours DYTLAB_STUDY_RUNS). */
  path?: string;
}

export interface ExperimentData {
  source: 'study' | 'sweeps';
  rows: StudyRow[];
  /** The "what was trained" table. */
  trained: Record<string, string | number>[];
  /** The sweeps' grids with their extensions (profile other than 'study'). */
  grids: Partial<Record<StudyModel, SweepGrid>>;
  /** Where the rows came from, in a sentence (the missing file and how to make it, when it is missing). */
  note: string;
}

/** A study sweep's config per variant label (its first point), for the columns runs.csv does not hold. */
function studyConfigs(study: string): (row: StudyRow) => RunConfig | undefined {
  const cache = new Map<string, Map<string, RunConfig>>();
  return (row) => {
    const key = `${study}/${row.model}`;
    if (!cache.has(key)) {
      const m = new Map<string, RunConfig>();
      for (const s of studySweeps({ studies: [study], model: row.model })) {
        const grid = expandSweep(studySweepPath(s));
        for (const p of grid.points) if (!m.has(p.labels[s.variantAxis]!)) m.set(p.labels[s.variantAxis]!, p.resolved);
      }
      cache.set(key, m);
    }
    return cache.get(key)!.get(row.variant);
  };
}

/** The notebook's rows for its profile, with its "what was trained" table. */
export async function experimentRows(store: RunStore, opts: ExperimentOptions): Promise<ExperimentData> {
  const want = opts.variants;
  const keep = (v: string) => (want === undefined ? true : typeof want === 'function' ? want(v) : want.includes(v));
  if (opts.profile === 'study') {
    const path = opts.path ?? studyRunsPath();
    if (!hasStudyRuns(path)) {
      return {
        source: 'study', rows: [], trained: [], grids: {},
        note: `**No study results here.** The study profile reads ${path} and trains nothing; that file is missing. ` +
          'Make it with `dytlab study run` (hours on 2 cores, resumable), then `dytlab study export`, and run this notebook again.',
      };
    }
    const rows = readStudyRuns(path).filter((r) => r.study === opts.study && keep(r.variant));
    return {
      source: 'study', rows, trained: trainedTableFromRows(rows, { configOf: studyConfigs(opts.study) }), grids: {},
      note: `Read ${rows.length} runs of the study "${opts.study}" from ${path} (nothing trained).`,
    };
  }
  const rename = opts.rename ?? ((v: string) => v);
  const rows: StudyRow[] = [];
  const trained: Record<string, string | number>[] = [];
  const grids: Partial<Record<StudyModel, SweepGrid>> = {};
  for (const [model, file] of Object.entries(opts.sweeps) as [StudyModel, string][]) {
    const grid = await obtainSweep(store, file, opts.profile, opts.jobs ? { jobs: opts.jobs } : {});
    grids[model] = grid;
    rows.push(...studyRowsFromStore(store, grid, { study: grid.spec.name, model }).map((r) => ({ ...r, variant: rename(r.variant) }))
      .filter((r) => keep(r.variant)));
    const entries = sweepTrainedEntries(store, grid).map((e) => ({ ...e, label: rename(e.label) })).filter((e) => keep(e.label));
    trained.push(...trainedTable(entries));
  }
  // Every combination of the grids (with their extensions) counts; one without a result failed or is missing, and the next run retries it.
  const planned = Object.values(grids).flatMap((g) => g!.points).filter((p) => keep(rename(p.labels.norm ?? ''))).length;
  return {
    source: 'sweeps', rows, trained, grids,
    note: `The sweeps' ${opts.profile} profile: ${rows.length} of ${planned} runs have a result (ok, diverged or stalled) in ${store.path}.`,
  };
}
