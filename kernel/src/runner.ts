// The headless notebook runner: executes .ipynb files through the same session
// as the Jupyter kernel (no Python needed), papermill-style parameters, per-cell
// timeout, errors recorded as proper outputs; writes the executed notebook
// (nbformat 4) and an offline HTML report. runNotebook() runs one in this
// process (a library function); `dytlab run` goes through runNotebooks()
// (run-notebooks.ts), which runs each notebook in its own worker process
// (notebook-worker.ts) on the pieces below.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  VERSION, backendInfo, readNotebook, renderNotebookHtml, resetPlotlyEmbed, joinSource,
  type CodeCell, type NotebookJson, type Output,
} from 'dytlab';
import { DEFAULT_NAME, DISPLAY_NAME } from './install.js';
import { languageInfo } from './language.js';
import { declaredParameters, injectedSource } from './params.js';
import { createSession, terminal, type CellEvent } from './session.js';

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

export interface CellRecord { index: number; status: 'ok' | 'error' | 'skipped'; durationSec: number }

/** What executing one code cell gave (in-process or reported by a worker). */
export interface CellRun {
  index: number;
  executionCount: number | null;
  events: CellEvent[];
  status: 'ok' | 'error';
  durationSec: number;
  startTime: string;
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

/** The notebook's own `seed` default (a numeric literal in its parameters cell), for the manifest. */
function defaultSeed(nb: NotebookJson): number | undefined {
  const cell = nb.cells.find((c) => ((c.metadata?.tags as string[] | undefined) ?? []).includes('parameters'));
  const m = cell && /^\s*(?:const|let|var)\s+seed\s*(?::[^=]+)?=\s*(-?\d+)\s*;?\s*$/m.exec(joinSource(cell.source));
  return m ? Number(m[1]) : undefined;
}

/** Fold a cell's events into nbformat outputs (update_display_data rewrites the earlier output in place). */
export function outputsFrom(events: CellEvent[], executionCount: number): Output[] {
  const outputs: Output[] = [];
  const byId = new Map<string, Output & { data: Record<string, unknown>; metadata: Record<string, unknown> }>();
  let clearPending = false;
  const push = (o: Output) => {
    if (clearPending) { outputs.length = 0; clearPending = false; }
    outputs.push(o);
  };
  for (const e of events) {
    switch (e.type) {
      case 'stream': {
        const last = outputs[outputs.length - 1];
        if (!clearPending && last?.output_type === 'stream' && last.name === e.name) last.text = joinSource(last.text) + e.text;
        else push({ output_type: 'stream', name: e.name, text: e.text });
        break;
      }
      case 'display': {
        const o = { output_type: 'display_data' as const, data: e.data, metadata: e.metadata, ...(e.displayId ? { transient: { display_id: e.displayId } } : {}) };
        push(o);
        if (e.displayId) byId.set(e.displayId, o);
        break;
      }
      case 'update': {
        const o = byId.get(e.displayId);
        if (o) { o.data = e.data; o.metadata = e.metadata; }
        break;
      }
      case 'clear':
        if (e.wait) clearPending = true;
        else outputs.length = 0;
        break;
      case 'result':
        push({ output_type: 'execute_result', execution_count: executionCount, data: e.data, metadata: e.metadata });
        break;
      case 'error':
        push({ output_type: 'error', ename: e.ename, evalue: e.evalue, traceback: e.traceback });
        break;
    }
  }
  // transient is not part of a saved notebook.
  return outputs.map((o) => {
    if ('transient' in o) {
      const { transient: _t, ...rest } = o as Output & { transient?: unknown };
      return rest as Output;
    }
    return o;
  });
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

export interface FinishInfo {
  path: string;
  params: Record<string, unknown>;
  warnings: string[];
  start: Date;
  end: Date;
  backend: string;
  /** Notebook-level problem (the kernel died ...), for the manifest. */
  failure?: string;
}

/**
 * Fills the notebook in from its cell runs (outputs, counts, per-cell status;
 * code cells without a run are marked skipped) and its metadata (manifest,
 * papermill's layout). Returns the manifest and the per-cell records.
 */
export function finishNotebook(nb: NotebookJson, runs: CellRun[], info: FinishInfo): { status: 'ok' | 'error'; manifest: Record<string, unknown>; cells: CellRecord[]; firstFigure?: unknown } {
  const byIndex = new Map(runs.map((r) => [r.index, r]));
  const cells: CellRecord[] = [];
  let failed = info.failure !== undefined, firstFigure: unknown;
  for (const [index, cell] of nb.cells.entries()) {
    if (cell.cell_type !== 'code') continue;
    const code = cell as CodeCell;
    const meta = (code.metadata ??= {}) as Record<string, unknown>;
    const run = byIndex.get(index);
    if (!run) {
      code.outputs = [];
      code.execution_count = null;
      meta.dytlab = { status: 'skipped' };
      cells.push({ index, status: 'skipped', durationSec: 0 });
      continue;
    }
    code.execution_count = run.executionCount;
    code.outputs = outputsFrom(run.events, run.executionCount ?? 0);
    if (run.executionCount === null) code.outputs = code.outputs.map((o) => (o.output_type === 'execute_result' ? { ...o, execution_count: null } : o));
    if (run.status === 'error') failed = true;
    meta.dytlab = { status: run.status, duration: run.durationSec, start_time: run.startTime };
    cells.push({ index, status: run.status, durationSec: run.durationSec });
    firstFigure ??= code.outputs.map((o) => ('data' in o ? o.data['application/vnd.plotly.v1+json'] : undefined)).find((f) => f !== undefined);
  }
  const durationSec = (info.end.getTime() - info.start.getTime()) / 1000;
  const status: 'ok' | 'error' = failed ? 'error' : 'ok';
  const { params, path, warnings } = info;
  const manifest: Record<string, unknown> = {
    notebook: basename(path), dytlab: VERSION, git_commit: gitCommit(dirname(resolve(path))),
    backend: info.backend,
    parameters: params, seed: params.seed ?? defaultSeed(nb) ?? null, node: process.versions.node,
    start_time: info.start.toISOString(), duration_sec: Number(durationSec.toFixed(2)), status,
    ...(warnings.length ? { warnings } : {}),
    ...(info.failure ? { failure: info.failure } : {}),
  };
  nb.metadata = {
    ...nb.metadata,
    kernelspec: { name: DEFAULT_NAME, display_name: DISPLAY_NAME, language: 'typescript' },
    language_info: languageInfo(),
    dytlab: { ...manifest, cells },
    // papermill's layout, so tools that read it find the parameters and timings.
    papermill: { parameters: params, start_time: info.start.toISOString(), end_time: info.end.toISOString(), duration: durationSec, exception: failed },
  };
  return { status, manifest, cells, ...(firstFigure ? { firstFigure } : {}) };
}

/** Writes the executed notebook and its HTML report (titled `title`). */
export function writeReports(nb: NotebookJson, manifest: Record<string, unknown>, outNotebook: string, outHtml: string, title: string): void {
  mkdirSync(dirname(outNotebook), { recursive: true });
  writeFileSync(outNotebook, `${JSON.stringify(nb, null, 1)}\n`);
  writeFileSync(outHtml, renderNotebookHtml(nb, { manifest, title }));
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
