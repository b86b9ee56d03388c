// The provenance sidecar written beside every exported figure: where it came
// from (notebook, cell), what made it (dytlab version, git commit, backend,
// plotly.js version) and which runs it shows (run ids, config hashes, seed,
// profile). Run ids and hashes are what the caller passes, or what it finds in
// the values it is given (training results, store records, study rows).
import { execFileSync } from 'node:child_process';
import { backendInfo } from '../engine/backend.js';
import { configHash } from '../experiments/store/codec.js';
import { VERSION } from '../version.js';

export interface FigureCellRef {
  /** Index in the notebook's cells. */
  index: number;
  /** 1-based number among its code cells. */
  code_cell: number;
  id: string | null;
  execution_count: number | null;
}

export interface FigureProvenance {
  figure: string | null;
  notebook: string | null;
  cell: FigureCellRef | null;
  dytlab: string;
  git_commit: string | null;
  backend: string | null;
  run_ids: string[];
  config_hashes: string[];
  seed: number | null;
  profile: string | null;
  /** When the files were written (ISO 8601). */
  created: string;
  /** When the figure was made, for a figure saved in a notebook (ISO 8601), else null. */
  saved: string | null;
  plotly: string;
  style: string;
  width: number;
  height: number;
  scale: number;
  /** Format -> file name (beside the sidecar). */
  files: Record<string, string>;
}

/** What a caller may say about a figure's origin; the rest is filled in. */
export type ProvenanceInput = Partial<Omit<FigureProvenance, 'files' | 'width' | 'height' | 'scale' | 'style' | 'plotly' | 'created'>> & {
  /** Values to look for run ids and config hashes in (see runsFrom). */
  runs?: unknown;
};

/** The commit checked out in `cwd` (full sha), or null outside a git checkout. */
export function gitCommitOf(cwd: string = process.cwd()): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim() || null;
  } catch {
    return null;
  }
}

/** This process's compute backend in one line, or null before initBackend(). */
export function backendOfThisProcess(): string | null {
  const info = backendInfo();
  return info ? `${info.backend} (${info.backendPackage} ${info.backendVersion}${info.simd ? ', SIMD' : ''}` +
    `${info.fusedKernels.relaxedSimd?.on ? ', relaxed SIMD' : ''}, ${info.threads} thread${info.threads === 1 ? '' : 's'})` : null;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Run ids and config hashes found in `value`: a string (a run id), an array of
 * anything here, or an object with runId / run_id (a training result, a study
 * row, an ensured run), id + configHash (a store record), configHash /
 * config_hash, a record, or a resolved config (hashed as the store hashes it).
 */
export function runsFrom(value: unknown): { run_ids: string[]; config_hashes: string[] } {
  const ids = new Set<string>(), hashes = new Set<string>();
  const visit = (v: unknown, depth: number): void => {
    if (depth > 3 || v === undefined || v === null) return;
    if (typeof v === 'string') { ids.add(v); return; }
    if (Array.isArray(v)) { for (const x of v) visit(x, depth + 1); return; }
    if (!isObj(v)) return;
    const hash = str(v.configHash) ?? str(v.config_hash);
    const id = str(v.runId) ?? str(v.run_id) ?? (hash ? str(v.id) : undefined);
    if (id) ids.add(id);
    if (hash) hashes.add(hash);
    else if (isObj(v.config) && isObj(v.config.model) && isObj(v.config.train)) {
      try { hashes.add(configHash(v.config)); } catch { /* a config without stable JSON has no hash */ }
    }
    if (isObj(v.record)) visit(v.record, depth + 1);
  };
  visit(value, 0);
  return { run_ids: [...ids], config_hashes: [...hashes] };
}

/** The sidecar: the caller's fields, the runs found in `runs`, the rest of this process. */
export function buildProvenance(input: ProvenanceInput, rendered: Pick<FigureProvenance, 'plotly' | 'style' | 'width' | 'height' | 'scale' | 'files'>, cwd?: string): FigureProvenance {
  const found = runsFrom(input.runs);
  const uniq = (a: string[] | undefined, b: string[]) => [...new Set([...(a ?? []), ...b])];
  return {
    figure: input.figure ?? null,
    notebook: input.notebook ?? null,
    cell: input.cell ?? null,
    dytlab: input.dytlab ?? VERSION,
    git_commit: input.git_commit !== undefined ? input.git_commit : gitCommitOf(cwd),
    backend: input.backend !== undefined ? input.backend : backendOfThisProcess(),
    run_ids: uniq(input.run_ids, found.run_ids),
    config_hashes: uniq(input.config_hashes, found.config_hashes),
    seed: typeof input.seed === 'number' ? input.seed : null,
    profile: typeof input.profile === 'string' ? input.profile : null,
    created: new Date().toISOString(),
    saved: input.saved ?? null,
    ...rendered,
  };
}
