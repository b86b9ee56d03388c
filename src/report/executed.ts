// From an executed notebook's cell runs to files on disk: the events of each
// cell folded into nbformat outputs, the manifest and papermill-style metadata,
// the executed .ipynb and its offline HTML report. The kernel (kernel/) executes;
// everything after execution happens here, so the report pipeline is this folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { VERSION } from '../version.js';
import { joinSource, type CodeCell, type NotebookJson, type Output } from './nbformat.js';
import { renderNotebookHtml } from './notebook-html.js';

/** What a cell's execution emits, in order (the kernel session's events). */
export type CellEvent =
  | { type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { type: 'display'; data: Record<string, unknown>; metadata: Record<string, unknown>; displayId?: string }
  | { type: 'update'; data: Record<string, unknown>; metadata: Record<string, unknown>; displayId: string }
  | { type: 'clear'; wait: boolean }
  | { type: 'result'; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { type: 'error'; ename: string; evalue: string; traceback: string[] };

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

/** The notebook's own `seed` default (a numeric literal in its parameters cell), for the manifest. */
export function defaultSeed(nb: NotebookJson): number | undefined {
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

export interface FinishInfo {
  path: string;
  params: Record<string, unknown>;
  warnings: string[];
  start: Date;
  end: Date;
  backend: string;
  /** The repository's commit (null outside a git checkout). */
  gitCommit: string | null;
  /** What the notebook's metadata says ran it. */
  kernelspec: { name: string; display_name: string; language: string };
  languageInfo: { name: string; [k: string]: unknown };
  /** Notebook-level problem (the kernel died ...), for the manifest. */
  failure?: string;
}

/**
 * Fills the notebook in from its cell runs (outputs, counts, per-cell status;
 * code cells without a run are marked skipped) and its metadata (manifest,
 * papermill's layout). Returns the manifest and the per-cell records.
 */
export function fillExecutedNotebook(nb: NotebookJson, runs: CellRun[], info: FinishInfo): { status: 'ok' | 'error'; manifest: Record<string, unknown>; cells: CellRecord[]; firstFigure?: unknown } {
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
    notebook: basename(path), dytlab: VERSION, git_commit: info.gitCommit,
    backend: info.backend,
    parameters: params, seed: params.seed ?? defaultSeed(nb) ?? null, node: process.versions.node,
    start_time: info.start.toISOString(), duration_sec: Number(durationSec.toFixed(2)), status,
    ...(warnings.length ? { warnings } : {}),
    ...(info.failure ? { failure: info.failure } : {}),
  };
  nb.metadata = {
    ...nb.metadata,
    kernelspec: info.kernelspec,
    language_info: info.languageInfo,
    dytlab: { ...manifest, cells },
    // papermill's layout, so tools that read it find the parameters and timings.
    papermill: { parameters: params, start_time: info.start.toISOString(), end_time: info.end.toISOString(), duration: durationSec, exception: failed },
  };
  return { status, manifest, cells, ...(firstFigure ? { firstFigure } : {}) };
}

/** Writes the executed notebook and its HTML report (titled `title`; `figureFiles`: links to the saved figures' files). */
export function writeReports(nb: NotebookJson, manifest: Record<string, unknown>, outNotebook: string, outHtml: string, title: string,
  opts: { figureFiles?: Record<string, Record<string, string>> } = {}): void {
  mkdirSync(dirname(outNotebook), { recursive: true });
  writeFileSync(outNotebook, `${JSON.stringify(nb, null, 1)}\n`);
  writeFileSync(outHtml, renderNotebookHtml(nb, { manifest, title, ...(opts.figureFiles ? { figureFiles: opts.figureFiles } : {}) }));
}
