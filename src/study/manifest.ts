// The study: which sweep answers which question for which model family. The
// sweep files (configs/study/) hold the recipes; this list names them once, for
// `dytlab study`, the export and the notebooks.
import { projectFile } from '../util/index.js';

export type StudyModel = 'vit' | 'lm';

export interface StudySweep {
  /** The question (the `study` column of runs.csv). */
  study: string;
  model: StudyModel;
  /** The sweep file, relative to the project root. */
  file: string;
  /** The sweep's variant axis (the `variant` column). */
  variantAxis: string;
}

export const STUDY_SWEEPS: readonly StudySweep[] = [
  { study: 'variants', model: 'lm', file: 'configs/study/variants-lm.json', variantAxis: 'norm' },
  { study: 'variants', model: 'vit', file: 'configs/study/variants-vit.json', variantAxis: 'norm' },
  { study: 'swiglu', model: 'lm', file: 'configs/study/swiglu-lm.json', variantAxis: 'norm' },
  { study: 'stability', model: 'lm', file: 'configs/study/stability-lm.json', variantAxis: 'norm' },
  { study: 'stability', model: 'vit', file: 'configs/study/stability-vit.json', variantAxis: 'norm' },
];

/** The studies' questions, in words (notebooks and the export's README say them). */
export const STUDY_QUESTIONS: Record<string, string> = {
  variants: 'every norm of the family, its ablations and the norm-free methods on one recipe per family, only the norm changed',
  swiglu: 'the variants recipe of the LM with a SwiGLU MLP instead of GELU: does DyT collapse with SwiGLU?',
  stability: 'clipping off, the learning rate pushed until runs fail: LayerNorm against DyT at alpha0 0.5, 1 and 2',
};

/** Absolute path of a study sweep's file. */
export function studySweepPath(s: StudySweep): string {
  return projectFile(s.file);
}

/** The study's sweeps, optionally only some studies or one family; an unknown name is an error that lists the known ones. */
export function studySweeps(opts: { studies?: readonly string[]; model?: StudyModel } = {}): StudySweep[] {
  const known = [...new Set(STUDY_SWEEPS.map((s) => s.study))];
  for (const s of opts.studies ?? []) {
    if (!known.includes(s)) throw new RangeError(`unknown study "${s}": the studies are ${known.map((k) => `"${k}"`).join(', ')}`);
  }
  return STUDY_SWEEPS.filter((s) => (!opts.studies?.length || opts.studies.includes(s.study)) && (!opts.model || s.model === opts.model));
}
