// The headless notebook runner: executes .ipynb files in-process through the
// same session as the Jupyter kernel (no Python needed), papermill-style
// parameters, per-cell timeout, errors recorded as proper outputs; writes the
// executed notebook (nbformat 4) and an offline HTML report.
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

function gitCommit(cwd: string): string | null {
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

export async function runNotebook(path: string, opts: RunNotebookOptions = {}): Promise<RunNotebookResult> {
  const nb: NotebookJson = readNotebook(path);
  // The session captures process.stderr while open: write to the real terminal.
  const log = opts.log ?? ((l: string) => terminal.err(`${l}\n`));
  const warnings: string[] = [];
  const params = opts.params ?? {};
  // Parameters: defaults in the tagged cell, given values injected after it.
  const pIndex = nb.cells.findIndex((c) => ((c.metadata?.tags as string[] | undefined) ?? []).includes('parameters'));
  nb.cells = nb.cells.filter((c) => !((c.metadata?.tags as string[] | undefined) ?? []).includes('injected-parameters'));
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

  resetPlotlyEmbed();
  const cwd = resolve(opts.cwd ?? dirname(path));
  const session = createSession({ cwd });
  const start = new Date();
  const cells: CellRecord[] = [];
  let failed = false, firstFigure: unknown;
  const codeCells = nb.cells.filter((c) => c.cell_type === 'code').length;
  let done = 0;
  try {
    for (const [index, cell] of nb.cells.entries()) {
      if (cell.cell_type !== 'code') continue;
      const code = cell as CodeCell;
      const meta = (code.metadata ??= {}) as Record<string, unknown>;
      if (failed && !opts.allowErrors) {
        code.outputs = [];
        code.execution_count = null;
        meta.dytlab = { status: 'skipped' };
        cells.push({ index, status: 'skipped', durationSec: 0 });
        continue;
      }
      const events: CellEvent[] = [];
      const t0 = performance.now(), cellStart = new Date();
      const reply = await session.execute(joinSource(code.source), (e) => events.push(e), opts.timeoutSec ? { timeoutMs: opts.timeoutSec * 1000 } : {});
      const durationSec = (performance.now() - t0) / 1000;
      code.execution_count = reply.executionCount;
      code.outputs = outputsFrom(events, reply.executionCount);
      const status = reply.status === 'ok' ? 'ok' : 'error';
      if (status === 'error') failed = true;
      meta.dytlab = { status, duration: durationSec, start_time: cellStart.toISOString() };
      cells.push({ index, status, durationSec });
      firstFigure ??= code.outputs.map((o) => ('data' in o ? o.data['application/vnd.plotly.v1+json'] : undefined)).find((f) => f !== undefined);
      opts.onCell?.(++done, codeCells, status);
    }
  } finally {
    session.close();
  }
  const end = new Date();
  const durationSec = (end.getTime() - start.getTime()) / 1000;
  const status: 'ok' | 'error' = failed ? 'error' : 'ok';
  const info = backendInfo();
  const manifest: Record<string, unknown> = {
    notebook: basename(path), dytlab: VERSION, git_commit: gitCommit(dirname(resolve(path))),
    backend: info ? `${info.backend} (${info.backendPackage} ${info.backendVersion}${info.simd ? ', SIMD' : ''}, ${info.threads} thread${info.threads === 1 ? '' : 's'})` : 'not initialised',
    parameters: params, seed: params.seed ?? defaultSeed(nb) ?? null, node: process.versions.node,
    start_time: start.toISOString(), duration_sec: Number(durationSec.toFixed(2)), status,
    ...(warnings.length ? { warnings } : {}),
  };
  nb.metadata = {
    ...nb.metadata,
    kernelspec: { name: DEFAULT_NAME, display_name: DISPLAY_NAME, language: 'typescript' },
    language_info: languageInfo(),
    dytlab: { ...manifest, cells },
    // papermill's layout, so tools that read it find the parameters and timings.
    papermill: { parameters: params, start_time: start.toISOString(), end_time: end.toISOString(), duration: durationSec, exception: failed },
  };
  const outDir = resolve(opts.outDir ?? 'reports');
  mkdirSync(outDir, { recursive: true });
  const stem = basename(path).replace(/\.ipynb$/, '');
  const outNotebook = join(outDir, `${stem}.ipynb`), outHtml = join(outDir, `${stem}.html`);
  writeFileSync(outNotebook, `${JSON.stringify(nb, null, 1)}\n`);
  writeFileSync(outHtml, renderNotebookHtml(nb, { manifest, title: stem }));
  return { notebook: path, outNotebook, outHtml, status, durationSec, cells, warnings, ...(firstFigure ? { firstFigure } : {}), manifest };
}
