// The headless notebook runner: executes .ipynb files through the same session
// as the Jupyter kernel (no Python needed), papermill-style parameters, per-cell
// timeout, errors recorded as proper outputs. What follows execution (outputs,
// manifest, the executed notebook and its HTML report) is the report pipeline's
// (src/report/executed.ts). runNotebook() runs one in this
// process (a library function); `dytlab run` goes through runNotebooks()
// (run-notebooks.ts), which runs each notebook in its own worker process
// (notebook-worker.ts) on the pieces below.
import { execFileSync } from 'node:child_process';
import { basename, dirname, join, resolve } from 'node:path';
import {
  backendInfo, fillExecutedNotebook, readNotebook, resetPlotlyEmbed, joinSource, writeReports,
  type CellEvent, type CellRecord, type CellRun, type CodeCell, type FinishInfo, type NotebookJson,
} from 'dytlab';
import { DEFAULT_NAME, DISPLAY_NAME } from './install.js';
import { languageInfo } from './language.js';
import { declaredParameters, injectedSource } from './params.js';
import { createSession, terminal } from './session.js';

export { outputsFrom, writeReports, type CellRecord, type CellRun } from 'dytlab';

export interface RunNotebookOptions {
  params?: Record<string, unknown>;
  outDir?: string;
  /** Per-cell timeout in seconds (default none). */
  timeoutSec?: number;
  /** Keep executing after a failing cell. */
  allowErrors?: boolean;
  /** Where cells run (imports resolve from here); default: the notebook's folder. */
  cwd?: string;
  /** Called after each cell, for progress. */
  onCell?: (index: number, total: number, status: string) => void;
  log?: (line: string) => void;
}

export interface RunNotebookResult {
  notebook: string;
  outNotebook: string;
  outHtml: string;
  status: 'ok' | 'error';
  durationSec: number;
  cells: CellRecord[];
  warnings: string[];
  firstFigure?: unknown;
  manifest: Record<string, unknown>;
}

export function gitCommit(cwd: string): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const tagsOf = (c: { metadata?: Record<string, unknown> }) => ((c.metadata?.tags as string[] | undefined) ?? []);

export interface PreparedNotebook { nb: NotebookJson; params: Record<string, unknown>; warnings: string[] }

/**
 * The notebook with its `injected-parameters` cell (an old one dropped; the new
 * one after the `parameters` cell, or first). A name the parameters cell does
 * not declare is a warning (logged), injected anyway.
 */
export function prepareNotebook(path: string, nb: NotebookJson, params: Record<string, unknown>, log: (line: string) => void): PreparedNotebook {
  const warnings: string[] = [];
  const pIndex = nb.cells.findIndex((c) => tagsOf(c).includes('parameters'));
  nb.cells = nb.cells.filter((c) => !tagsOf(c).includes('injected-parameters'));
  if (Object.keys(params).length) {
    const declared = pIndex >= 0 ? declaredParameters(joinSource(nb.cells[pIndex]!.source)) : new Map();
    for (const name of Object.keys(params)) {
      if (!declared.has(name)) {
        const w = `${basename(path)}: parameter '${name}' is not declared in the notebook's parameters cell${pIndex < 0 ? ' (it has none)' : ''}; injected anyway`;
        warnings.push(w);
        log(`warning: ${w}`);
      }
    }
    const cell: CodeCell = { cell_type: 'code', execution_count: null, metadata: { tags: ['injected-parameters'] }, outputs: [], source: injectedSource(params, declared) };
    // nbformat 4.5 requires cell ids; papermill names this cell the same way.
    if (nb.nbformat_minor >= 5 || nb.cells.some((c) => c.id !== undefined)) cell.id = 'injected-parameters';
    nb.cells.splice(pIndex >= 0 ? pIndex + 1 : 0, 0, cell);
  }
  return { nb, params, warnings };
}

export interface ExecuteHooks {
  /** A code cell starts: its index in nb.cells, its 1-based number among code cells, how many there are. */
  onStart?: (index: number, codeNumber: number, codeCells: number, executionCount: number) => void;
  onEvent?: (index: number, e: CellEvent) => void;
  onDone?: (run: CellRun, codeNumber: number, codeCells: number) => void;
}

/** The backend as the manifest shows it (of this process). */
export function backendLine(): string {
  const info = backendInfo();
  return info ? `${info.backend} (${info.backendPackage} ${info.backendVersion}${info.simd ? ', SIMD' : ''}, ${info.threads} thread${info.threads === 1 ? '' : 's'})` : 'not initialised';
}

/** Runs the notebook's code cells in a new session, in order, until one fails (or all, with allowErrors). */
export async function executeCells(nb: NotebookJson, o: { cwd: string; timeoutSec?: number; allowErrors?: boolean }, hooks: ExecuteHooks = {}): Promise<CellRun[]> {
  resetPlotlyEmbed();
  const session = createSession({ cwd: o.cwd });
  const runs: CellRun[] = [];
  const codeCells = nb.cells.filter((c) => c.cell_type === 'code').length;
  let n = 0;
  try {
    for (const [index, cell] of nb.cells.entries()) {
      if (cell.cell_type !== 'code') continue;
      n++;
      const events: CellEvent[] = [];
      const t0 = performance.now(), startTime = new Date().toISOString();
      hooks.onStart?.(index, n, codeCells, session.executionCount + 1);
      const reply = await session.execute(joinSource(cell.source), (e) => { events.push(e); hooks.onEvent?.(index, e); },
        o.timeoutSec ? { timeoutMs: o.timeoutSec * 1000 } : {});
      const run: CellRun = { index, executionCount: reply.executionCount, events, status: reply.status === 'ok' ? 'ok' : 'error', durationSec: (performance.now() - t0) / 1000, startTime };
      runs.push(run);
      hooks.onDone?.(run, n, codeCells);
      if (run.status === 'error' && !o.allowErrors) break;
    }
  } finally {
    session.close();
  }
  return runs;
}

/** Fills the notebook in from its runs (report/executed.ts), with this kernel's kernelspec, language and the git commit. */
export function finishNotebook(nb: NotebookJson, runs: CellRun[], info: Omit<FinishInfo, 'gitCommit' | 'kernelspec' | 'languageInfo'>): ReturnType<typeof fillExecutedNotebook> {
  return fillExecutedNotebook(nb, runs, {
    ...info, gitCommit: gitCommit(dirname(resolve(info.path))),
    kernelspec: { name: DEFAULT_NAME, display_name: DISPLAY_NAME, language: 'typescript' }, languageInfo: languageInfo(),
  });
}

/** Runs one notebook in this process (cells share this process's globals; `dytlab run` isolates each in a worker). */
export async function runNotebook(path: string, opts: RunNotebookOptions = {}): Promise<RunNotebookResult> {
  // The session captures process.stderr while open: write to the real terminal.
  const log = opts.log ?? ((l: string) => terminal.err(`${l}\n`));
  const { nb, params, warnings } = prepareNotebook(path, readNotebook(path), opts.params ?? {}, log);
  const start = new Date();
  const runs = await executeCells(nb, { cwd: resolve(opts.cwd ?? dirname(path)), ...(opts.timeoutSec ? { timeoutSec: opts.timeoutSec } : {}), ...(opts.allowErrors ? { allowErrors: true } : {}) },
    { onDone: (r, n, total) => opts.onCell?.(n, total, r.status) });
  const { status, manifest, cells, firstFigure } = finishNotebook(nb, runs, { path, params, warnings, start, end: new Date(), backend: backendLine() });
  const outDir = resolve(opts.outDir ?? 'reports');
  const stem = basename(path).replace(/\.ipynb$/, '');
  const outNotebook = join(outDir, `${stem}.ipynb`), outHtml = join(outDir, `${stem}.html`);
  writeReports(nb, manifest, outNotebook, outHtml, stem);
  return { notebook: path, outNotebook, outHtml, status, durationSec: Number(manifest.duration_sec), cells, warnings, ...(firstFigure ? { firstFigure } : {}), manifest };
}
