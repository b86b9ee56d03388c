// runs.csv (and runs.parquet beside it), traces.csv: written by the export,
// read back by notebooks, validated on the way in so that a hand-edited or
// truncated file fails with the file, line and column named.
import { existsSync, readFileSync } from 'node:fs';
import { arquero, tableToCSV, tableToParquet, toTable } from '../experiments/store/frames.js';
import { projectFile } from '../util/index.js';
import type { StudyModel } from './manifest.js';
import { STUDY_COLUMNS, STUDY_STATUSES, type StudyMetric, type StudyRow, type StudyStatus } from './rows.js';

/** data/study/runs.csv, or $DYTLAB_STUDY_RUNS. */
export function studyRunsPath(): string {
  return process.env.DYTLAB_STUDY_RUNS || projectFile('data/study/runs.csv');
}
/** data/study/traces.csv, or $DYTLAB_STUDY_TRACES. */
export function studyTracesPath(): string {
  return process.env.DYTLAB_STUDY_TRACES || projectFile('data/study/traces.csv');
}
export const hasStudyRuns = (path = studyRunsPath()): boolean => existsSync(path);

/** One trace point of a run: a norm layer's alpha (DyT), the std of its input and its squash saturation. */
export interface StudyTrace {
  study: string; model: StudyModel; variant: string; seed: number; lr: number; run_id: string;
  step: number; layer: string; alpha: number | null; input_std: number | null; saturation: number | null;
}
export const TRACE_COLUMNS = ['study', 'model', 'variant', 'seed', 'lr', 'run_id', 'step', 'layer', 'alpha', 'input_std', 'saturation'] as const satisfies readonly (keyof StudyTrace)[];

export const rowsToCSV = (rows: readonly object[], columns: readonly string[]): string =>
  tableToCSV(toTable(Object.fromEntries(columns.map((c) => [c, rows.map((r) => (r as Record<string, unknown>)[c] ?? null)]))));
export const rowsToParquet = (rows: readonly object[], columns: readonly string[]): Uint8Array =>
  tableToParquet(toTable(Object.fromEntries(columns.map((c) => [c, rows.map((r) => (r as Record<string, unknown>)[c] ?? null)]))));

type Kind = 'text' | 'int' | 'num' | 'num?' | 'text?';
const RUN_KINDS: Record<(typeof STUDY_COLUMNS)[number], Kind> = {
  study: 'text', model: 'text', variant: 'text', seed: 'int', lr: 'num', alpha0: 'num?', steps: 'int', status: 'text', metric: 'text',
  val_metric: 'num?', test_metric: 'num?', mlp: 'text?', clip_norm: 'num', stopped_at: 'num?', run_id: 'text', config_hash: 'text', wall_seconds: 'num?',
};
const TRACE_KINDS: Record<(typeof TRACE_COLUMNS)[number], Kind> = {
  study: 'text', model: 'text', variant: 'text', seed: 'int', lr: 'num', run_id: 'text', step: 'int', layer: 'text',
  alpha: 'num?', input_std: 'num?', saturation: 'num?',
};

/** Parses a CSV as text cells and converts each column by its kind; errors name file, line and column. */
function readTyped<K extends string>(path: string, kinds: Record<K, Kind>, what: string): Record<K, unknown>[] {
  if (!existsSync(path)) throw new Error(`${what}: ${path} does not exist (make it with \`dytlab study export\`)`);
  const table = arquero().fromCSV(readFileSync(path, 'utf8'), { autoType: false });
  const names = table.columnNames();
  const missing = Object.keys(kinds).filter((c) => !names.includes(c));
  if (missing.length) throw new Error(`${path}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (has: ${names.join(', ')})`);
  return (table.objects() as Record<string, string | null>[]).map((o, i) => {
    const line = i + 2; // line 1 is the header
    return Object.fromEntries((Object.keys(kinds) as K[]).map((c) => {
      const raw = o[c] ?? '';
      const bad = (why: string) => new Error(`${path}: line ${line}, column ${c}: ${JSON.stringify(raw)} ${why}`);
      const k = kinds[c];
      if (raw === '' || raw === 'null') {
        if (k === 'num?' || k === 'text?') return [c, null];
        throw bad('is empty');
      }
      if (k === 'text' || k === 'text?') return [c, raw];
      const v = raw === 'NaN' ? NaN : Number(raw);
      if (k === 'num?' && Number.isNaN(v)) return [c, null];
      if (!Number.isFinite(v)) throw bad('is not a finite number');
      if (k === 'int' && !Number.isInteger(v)) throw bad('is not an integer');
      return [c, v];
    })) as Record<K, unknown>;
  });
}

/** The study's runs (default data/study/runs.csv), checked: model, status and metric from their sets. */
export function readStudyRuns(path = studyRunsPath()): StudyRow[] {
  return readTyped(path, RUN_KINDS, 'readStudyRuns').map((r, i) => {
    const at = `${path}: line ${i + 2}`;
    if (r.model !== 'lm' && r.model !== 'vit') throw new Error(`${at}, column model: "${String(r.model)}" is not "lm" or "vit"`);
    if (!STUDY_STATUSES.includes(r.status as StudyStatus)) throw new Error(`${at}, column status: "${String(r.status)}" is not one of ${STUDY_STATUSES.join(', ')}`);
    if (r.metric !== 'val_loss' && r.metric !== 'val_accuracy') throw new Error(`${at}, column metric: "${String(r.metric)}" is not val_loss or val_accuracy`);
    return r as unknown as StudyRow & { metric: StudyMetric };
  });
}

/** The study's traces (default data/study/traces.csv). */
export function readStudyTraces(path = studyTracesPath()): StudyTrace[] {
  return readTyped(path, TRACE_KINDS, 'readStudyTraces').map((r, i) => {
    if (r.model !== 'lm' && r.model !== 'vit') throw new Error(`${path}: line ${i + 2}, column model: "${String(r.model)}" is not "lm" or "vit"`);
    return r as unknown as StudyTrace;
  });
}
