// `dytlab study run|status|export`: the study's sweeps (configs/study/, listed
// in study/manifest.ts) run one after another into one store (each resumable,
// with its learning-rate bracket), how far they are, and their export to
// data/study/ (runs.csv, runs.parquet, choices.csv, traces.csv).
import { existsSync } from 'node:fs';
import { openStore } from '../experiments/store/index.js';
import { projectFile } from '../util/index.js';
import { exportStudy, studyProgress } from '../study/export.js';
import { studySweepPath, studySweeps } from '../study/manifest.js';
import { sweepCommand, type SweepIO } from './sweep.js';

/** The study's own store, apart from the default one: runs/study.sqlite (or --store). */
export const studyStorePath = (store?: string): string => store ?? projectFile('runs/study.sqlite');

export interface StudyRunOptions { store?: string; jobs?: number; profile?: string; only?: string[]; dryRun: boolean; quiet: boolean }

export async function studyRun(o: StudyRunOptions, io: SweepIO): Promise<number> {
  const sweeps = studySweeps(o.only?.length ? { studies: o.only } : {});
  let worst = 0;
  for (const s of sweeps) {
    io.stdout.write(`study ${s.study} (${s.model}): ${s.file}\n`);
    const code = await sweepCommand({
      file: studySweepPath(s), store: studyStorePath(o.store), dryRun: o.dryRun, quiet: o.quiet,
      ...(o.jobs !== undefined ? { jobs: o.jobs } : {}), ...(o.profile ? { profile: o.profile } : {}),
    }, io);
    if (code === 130 || code === 143) return code; // interrupted: stop here, the store resumes
    worst = Math.max(worst, code);
  }
  return worst;
}

export function studyStatus(o: { store?: string; profile?: string }, io: SweepIO): number {
  const path = studyStorePath(o.store);
  if (!existsSync(path)) {
    io.stdout.write(`no study store at ${path}: nothing has run yet (\`dytlab study run\`)\n`);
    return 0;
  }
  const store = openStore(path, { readonly: true });
  try {
    const rows = studyProgress(store, o.profile ? { profile: o.profile } : {});
    for (const p of rows) {
      const state = p.done === p.planned && !p.openCells ? 'complete' : `${p.planned - p.done} to run${p.openCells ? `, ${p.openCells} bracket cells open` : ''}`;
      io.stdout.write(`${`${p.sweep.study} (${p.sweep.model})`.padEnd(18)} ${String(p.done).padStart(4)} of ${String(p.planned).padEnd(4)} runs with a result: ${state}\n`);
    }
    return 0;
  } finally {
    store.close();
  }
}

export function studyExport(o: { store?: string; out?: string; profile?: string; partial?: boolean }, io: SweepIO): number {
  const path = studyStorePath(o.store);
  if (!existsSync(path)) {
    io.stderr.write(`dytlab study export: no study store at ${path} (run \`dytlab study run\` first, or give --store)\n`);
    return 1;
  }
  const store = openStore(path, { readonly: true });
  try {
    const open = studyProgress(store, o.profile ? { profile: o.profile } : {}).filter((p) => p.done < p.planned || p.openCells);
    if (open.length && !o.partial) {
      io.stderr.write(`dytlab study export: the study is not complete (${open.map((p) => `${p.sweep.study}/${p.sweep.model}: ${p.planned - p.done} runs to go` +
        `${p.openCells ? `, ${p.openCells} bracket cells open` : ''}`).join('; ')}): run \`dytlab study run\` again, or export with --partial\n`);
      return 1;
    }
    const r = exportStudy(store, { dir: o.out ?? projectFile('data/study'), ...(o.profile ? { profile: o.profile } : {}) });
    const states = new Map<string, number>();
    for (const c of r.choices) states.set(c.state, (states.get(c.state) ?? 0) + 1);
    io.stdout.write(`study export: ${r.rows} runs, ${r.choices.length} (study, model, variant) cells ` +
      `(${[...states].map(([k, v]) => `${v} ${k}`).join(', ')}), ${r.traces} trace points${open.length ? ' (partial)' : ''}\n`);
    for (const f of r.files) io.stdout.write(`  ${f}\n`);
    return 0;
  } finally {
    store.close();
  }
}
