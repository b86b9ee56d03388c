// `dytlab run` after argument parsing: parameters parsed and checked against
// each notebook's parameters cell, outputs checked, then each notebook run in
// its own worker process (notebook-worker.ts), papermill-style, so that no cell
// can end the runner or leak globals into the next notebook. The executed
// notebook and its HTML report are written here, from what the worker
// recorded, also when the worker died (the cell it died in gets an error output),
// then the figures it saved (saveFigure) as files in OUT/figures/<notebook>/.
import { fork } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { exportNotebookFigures, figureLinks, readNotebook, type NotebookJson } from 'dytlab';
import { coerceParam, declaredParameters, splitParam, type Declared } from './params.js';
import { finishNotebook, prepareNotebook, writeReports, type CellRun } from './runner.js';
import type { CellEvent } from './session.js';
import type { WorkerJob, WorkerMessage, WorkerRecord } from './notebook-worker.js';

export interface RunNotebooksOptions {
  notebooks: string[];          // paths as given
  params: string[];             // raw '-p name=value' strings, in order
  outDir: string;               // default 'reports'
  timeoutSec?: number;          // per cell
  allowErrors: boolean;
}

/** An input problem found before anything ran; exitCode 2 for usage (-p), 1 otherwise. */
export class RunInputError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
    this.name = 'RunInputError';
  }
}

/** One notebook, ready to run: prepared (parameters injected), where its reports go. */
export interface NotebookPlan {
  /** The path as given (for messages). */
  label: string;
  path: string;
  nb: NotebookJson;
  params: Record<string, unknown>;
  warnings: string[];
  outNotebook: string;
  outHtml: string;
  title: string;
}

export interface IsolatedResult {
  plan: NotebookPlan;
  status: 'ok' | 'error';
  durationSec: number;
  outNotebook: string;
  outHtml: string;
  /** The first failing cell, for messages. */
  failure?: { index: number; codeNumber: number; ename: string; evalue: string; traceback: string[] };
  firstFigure?: unknown;
  /** The figures the notebook saved, exported into `dir` (error: why they were not). */
  figures: RunFigures;
}

export interface RunFigures {
  dir: string;
  names: string[];
  /** name -> kind -> href relative to the report (beside the executed notebook). */
  links: Record<string, Record<string, string>>;
  error?: string;
}

/**
 * Exports the figures a notebook saved into OUT/figures/<report name>/ (files
 * of figures it no longer saves removed), through one Chromium. Never throws:
 * a failure (no Chromium, a name clash) is returned as `error`.
 * DYTLAB_FIGURES=skip skips the export.
 */
export async function exportRunFigures(nb: NotebookJson, path: string, outNotebook: string): Promise<RunFigures> {
  const dir = join(dirname(outNotebook), 'figures', basename(outNotebook).replace(/\.ipynb$/i, ''));
  if (process.env.DYTLAB_FIGURES === 'skip') return { dir, names: [], links: {} };
  try {
    const done = await exportNotebookFigures(nb, { outDir: dir, notebook: basename(path).replace(/\.ipynb$/i, ''), clean: true });
    return { dir, names: done.map((f) => f.name), links: figureLinks(done, dirname(outNotebook)) };
  } catch (err) {
    return { dir, names: [], links: {}, error: (err as Error).message };
  }
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
const tagsOf = (c: { metadata?: Record<string, unknown> }) => ((c.metadata?.tags as string[] | undefined) ?? []);

/** Parameters parsed, and typed per notebook against its parameters cell's defaults. */
function typedParams(label: string, nb: NotebookJson, given: { name: string; raw: string; value: unknown }[]): Record<string, unknown> {
  const cell = nb.cells.find((c) => tagsOf(c).includes('parameters'));
  const declared: Map<string, Declared> = cell ? declaredParameters([cell.source].flat().join('')) : new Map();
  const out: Record<string, unknown> = {};
  for (const p of given) {
    try {
      out[p.name] = coerceParam(p.name, p.raw, p.value, declared.get(p.name));
    } catch (err) {
      throw new RunInputError(`${(err as Error).message} (${label})`, 2);
    }
  }
  return out;
}

function realOrResolved(p: string): string {
  try { return realpathSync(p); } catch { return resolve(p); }
}

/** The output folder exists (created now) and is writable; an Error naming the path otherwise. */
export function checkOutDir(outDir: string): string {
  const abs = resolve(outDir);
  const fail = (why: string) => { throw new RunInputError(`--out ${outDir}: ${why}`, 1); };
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) fail(`${abs} exists and is not a folder`);
  } else {
    let up = dirname(abs);
    while (!existsSync(up) && dirname(up) !== up) up = dirname(up);
    if (!statSync(up).isDirectory()) fail(`cannot create ${abs}: ${up} is a file, not a folder`);
    try { mkdirSync(abs, { recursive: true }); } catch (err) { fail(`cannot create ${abs}: ${(err as Error).message}`); }
  }
  try { accessSync(abs, constants.W_OK); } catch { fail(`${abs} is not writable`); }
  return abs;
}

/**
 * Where each notebook's reports go in `outDir`: NAME.ipynb and NAME.html; a
 * name another notebook of this run already has gets -2, -3, ...; a report that
 * would overwrite an input notebook of this run is written as NAME.out.ipynb.
 * Notes say so.
 */
export function planOutputs(paths: string[], outDir: string, note: (line: string) => void): { outNotebook: string; outHtml: string }[] {
  const abs = checkOutDir(outDir);
  const inputs = new Set(paths.map(realOrResolved));
  const used = new Set<string>();
  const first = new Map<string, string>();
  return paths.map((p) => {
    const stem = basename(p).replace(/\.ipynb$/i, '');
    const free = (name: string) => !used.has(name) && !inputs.has(realOrResolved(join(abs, `${name}.ipynb`)));
    let name = stem;
    if (inputs.has(realOrResolved(join(abs, `${stem}.ipynb`)))) {
      name = `${stem}.out`;
      note(`note: ${p}: --out is its own folder; writing ${join(outDir, `${name}.ipynb`)} (and .html) so as not to overwrite an input notebook`);
    }
    if (!free(name)) {
      const base = name;
      let k = 2;
      while (!free(`${base}-${k}`)) k++;
      name = `${base}-${k}`;
      note(`note: ${p} has the same name as ${first.get(base) ?? 'another notebook'} of this run: its reports are ${join(outDir, `${name}.ipynb`)} and ${name}.html`);
    }
    used.add(name);
    if (!first.has(name)) first.set(name, p);
    const outNotebook = join(abs, `${name}.ipynb`), outHtml = join(abs, `${name}.html`);
    for (const f of [outNotebook, outHtml]) {
      if (existsSync(f)) {
        if (statSync(f).isDirectory()) throw new RunInputError(`--out ${outDir}: ${f} is a folder, cannot write the report there`, 1);
        try { accessSync(f, constants.W_OK); } catch { throw new RunInputError(`--out ${outDir}: ${f} is not writable`, 1); }
      }
    }
    return { outNotebook, outHtml };
  });
}

/** Reads, parameterizes and places every notebook; throws (RunInputError, NotebookError) before anything runs. */
export function planNotebooks(o: { notebooks: string[]; params: string[]; outDir: string }, log: (line: string) => void = (l) => console.error(l)): NotebookPlan[] {
  if (!o.notebooks.length) throw new RunInputError('run: give one or more notebooks (.ipynb)', 2);
  const given = o.params.map((a) => {
    try { return splitParam(a); } catch (err) { throw new RunInputError((err as Error).message, 2); }
  });
  const read = o.notebooks.map((label) => ({ label, path: resolve(label), nb: readNotebook(resolve(label)) }));
  const typed = read.map((r) => typedParams(r.label, r.nb, given));
  const outs = planOutputs(read.map((r) => r.path), o.outDir, log);
  return read.map((r, i) => {
    const { nb, params, warnings } = prepareNotebook(r.path, r.nb, typed[i]!, log);
    return { label: r.label, path: r.path, nb, params, warnings, ...outs[i]!, title: basename(r.path).replace(/\.ipynb$/i, '') };
  });
}

/** The worker module next to this one: built (.js) or, under tsx, its source. */
function workerCommand(): { file: string; execArgv: string[] } {
  const ext = extname(__filename);
  const file = join(__dirname, `notebook-worker${ext}`);
  // Keep the node flags that matter to a notebook; not -e/-p/--test (they would replace the worker).
  const keep = process.execArgv.filter((a) => /^--(max-old-space-size|max-semi-space-size|stack-size|expose-gc|enable-source-maps|no-warnings|conditions|experimental-)/.test(a) && a.includes('=') || a === '--expose-gc' || a === '--enable-source-maps' || a === '--no-warnings');
  if (ext === '.ts') {
    const tsx = join(dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs');
    keep.push('--import', pathToFileURL(tsx).href);
  }
  return { file, execArgv: keep };
}

export interface ExecuteOptions {
  timeoutSec?: number;
  allowErrors: boolean;
  /** Per-cell progress: one updating line on a TTY, a line per cell otherwise, or none. */
  progress?: 'auto' | 'lines' | 'none';
  /** How long past timeoutSec a cell may run before its worker is killed (a cell that ignores the interrupt). */
  killGraceSec?: number;
  /** The worker's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Every progress message of the worker (cell start and end, a progress bar's line), e.g. for a status line. */
  onMessage?: (m: WorkerMessage) => void;
}

/** Runs one planned notebook in a worker process and writes its reports, whatever happens to the worker. */
export async function runIsolated(plan: NotebookPlan, o: ExecuteOptions): Promise<IsolatedResult> {
  const tmp = mkdtempSync(join(tmpdir(), 'dytlab-nb-'));
  const eventsPath = join(tmp, 'events.jsonl'), jobPath = join(tmp, 'job.json');
  const job: WorkerJob = { nb: plan.nb, cwd: dirname(plan.path), allowErrors: o.allowErrors, eventsPath, ...(o.timeoutSec ? { timeoutSec: o.timeoutSec } : {}) };
  writeFileSync(jobPath, JSON.stringify(job));
  writeFileSync(eventsPath, '');
  const tty = o.progress === 'auto' && Boolean(process.stderr.isTTY);
  const lines = o.progress === 'lines' || (o.progress === 'auto' && !tty);
  const start = new Date();
  let timedOutKill: number | undefined;
  let stderrTail = '';
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((res) => {
    const { file, execArgv } = workerCommand();
    const child = fork(file, [jobPath], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: o.env ?? process.env });
    child.stderr?.on('data', (d: Buffer) => { stderrTail = (stderrTail + d.toString('utf8')).slice(-4000); });
    let killer: NodeJS.Timeout | undefined;
    child.on('message', (m: WorkerMessage) => {
      o.onMessage?.(m);
      if (m.t === 'start') {
        if (tty) process.stderr.write(`\r\x1b[K${plan.label}: cell ${m.n}/${m.total} (cells[${m.index}]) running`);
        if (o.timeoutSec) {
          clearTimeout(killer);
          const grace = o.killGraceSec ?? Math.max(10, o.timeoutSec);
          killer = setTimeout(() => { timedOutKill = m.index; child.kill('SIGKILL'); }, (o.timeoutSec + grace) * 1000);
        }
      } else if (m.t === 'cell') {
        clearTimeout(killer);
        const line = `${plan.label}: cell ${m.n}/${m.total} (cells[${m.index}]) ${m.status} in ${m.durationSec.toFixed(1)} s`;
        if (tty) process.stderr.write(`\r\x1b[K${line}`);
        else if (lines) process.stderr.write(`${line}\n`);
      }
    });
    child.on('error', (err) => { clearTimeout(killer); res({ code: null, signal: null, spawnError: err }); });
    child.on('exit', (code, signal) => { clearTimeout(killer); res({ code, signal }); });
  });
  if (tty) process.stderr.write('\r\x1b[K');

  // What the worker recorded (a last line cut short by a kill is dropped).
  const records: WorkerRecord[] = [];
  for (const line of readFileSync(eventsPath, 'utf8').split('\n')) {
    if (!line) continue;
    try { records.push(JSON.parse(line) as WorkerRecord); } catch { /* cut short */ }
  }
  rmSync(tmp, { recursive: true, force: true });
  const runs = new Map<number, CellRun & { done: boolean }>();
  let ended = false, backend = 'unknown (the kernel did not finish)', lastIndex: number | undefined;
  for (const r of records) {
    if (r.t === 'start') {
      runs.set(r.index, { index: r.index, executionCount: r.count, events: [], status: 'error', durationSec: (Date.now() - Date.parse(r.time)) / 1000, startTime: r.time, done: false });
      lastIndex = r.index;
    } else if (r.t === 'event') {
      runs.get(r.index)?.events.push(r.e as CellEvent);
    } else if (r.t === 'cell') {
      const run = runs.get(r.index);
      if (run) Object.assign(run, { executionCount: r.executionCount, status: r.status, durationSec: r.durationSec, startTime: r.startTime, done: true });
      backend = r.backend;
    } else if (r.t === 'end') {
      ended = true;
      backend = r.backend;
    }
  }
  let failureText: string | undefined;
  if (!ended) {
    const sig = exit.signal;
    const evalue = exit.spawnError ? `the kernel could not start: ${exit.spawnError.message}`
      : timedOutKill !== undefined ? `cell exceeded ${o.timeoutSec} s and did not stop when interrupted; the kernel was killed`
      : sig ? `the kernel was killed by ${sig}` : `the kernel exited with code ${exit.code}`;
    const ename = timedOutKill !== undefined ? 'TimeoutError' : 'DeadKernelError';
    failureText = `${ename}: ${evalue}`;
    const tail = stripAnsi(stderrTail).trim();
    const error: CellEvent = { type: 'error', ename, evalue, traceback: [failureText, ...(tail ? ['', ...tail.split('\n').slice(-20)] : [])] };
    // The cell it died in: the one running, else the last one (output after a cell ends goes to it), else the first.
    let target = lastIndex !== undefined ? runs.get(lastIndex) : undefined;
    if (!target) {
      const firstCode = plan.nb.cells.findIndex((c) => c.cell_type === 'code');
      if (firstCode >= 0) {
        target = { index: firstCode, executionCount: null, events: [], status: 'error', durationSec: 0, startTime: start.toISOString(), done: false };
        runs.set(firstCode, target);
      }
    }
    if (target) {
      target.events.push(error);
      target.status = 'error';
    }
  }
  const { status, manifest, firstFigure } = finishNotebook(plan.nb, [...runs.values()], {
    path: plan.path, params: plan.params, warnings: plan.warnings, start, end: new Date(), backend, ...(failureText ? { failure: failureText } : {}),
  });
  const figures = await exportRunFigures(plan.nb, plan.path, plan.outNotebook);
  if (figures.names.length || figures.error) {
    // In the manifest (the report's header) and in the executed notebook's metadata.
    const note = figures.error ? { figures_error: figures.error } : { figures: figures.names };
    Object.assign(manifest, note);
    Object.assign(plan.nb.metadata.dytlab as Record<string, unknown>, note);
  }
  writeReports(plan.nb, manifest, plan.outNotebook, plan.outHtml, plan.title, { figureFiles: figures.links });
  const result: IsolatedResult = { plan, status, durationSec: Number(manifest.duration_sec), outNotebook: plan.outNotebook, outHtml: plan.outHtml, figures, ...(firstFigure ? { firstFigure } : {}) };
  let n = 0;
  for (const [index, cell] of plan.nb.cells.entries()) {
    if (cell.cell_type !== 'code') continue;
    n++;
    const err = cell.outputs.find((x) => x.output_type === 'error');
    if (err && err.output_type === 'error') {
      result.failure = { index, codeNumber: n, ename: err.ename, evalue: err.evalue, traceback: err.traceback.map(stripAnsi) };
      break;
    }
  }
  return result;
}

/** The figures line of a result: where they went, or why not (undefined when it saved none). */
export function describeFigures(r: IsolatedResult): string | undefined {
  const f = r.figures;
  if (f.error) return `${r.plan.label}: figures not exported: ${f.error}`;
  return f.names.length ? `${r.plan.label}: ${f.names.length} figure${f.names.length === 1 ? '' : 's'} (${f.names.join(', ')}) -> ${f.dir}` : undefined;
}

/** The failure as a line or two: code cell number and index, error name and message, the traceback's first line when it says more. */
export function describeFailure(r: IsolatedResult): string {
  const f = r.failure;
  if (!f) return `${r.plan.label}: failed`;
  const head = `${f.ename}: ${f.evalue}`.split('\n')[0]!;
  const first = f.traceback.find((l) => l.trim() !== '')?.trim();
  return `${r.plan.label}: code cell ${f.codeNumber} (cells[${f.index}]) failed: ${head}${first && first !== head && !head.includes(first) ? `\n  ${first}` : ''}`;
}

/**
 * Everything `dytlab run` does after argument parsing. Input problems (bad -p,
 * a -p value of the wrong type, an unreadable notebook, a bad --out) throw
 * before anything runs: a RunInputError (exitCode 2 for -p problems, 1 for the
 * rest) or a NotebookError. Otherwise runs each notebook isolated, prints
 * progress (stderr) and a result line per notebook (stdout), and returns the
 * exit code: 0 when every notebook ran without error, 1 otherwise.
 */
export async function runNotebooks(o: RunNotebooksOptions): Promise<number> {
  if (o.timeoutSec !== undefined && !(o.timeoutSec > 0)) throw new RunInputError('--timeout: expected seconds > 0', 2);
  const plans = planNotebooks({ notebooks: o.notebooks, params: o.params, outDir: o.outDir || 'reports' });
  let ok = true;
  for (const plan of plans) {
    const r = await runIsolated(plan, { allowErrors: o.allowErrors, progress: 'auto', ...(o.timeoutSec ? { timeoutSec: o.timeoutSec } : {}) });
    if (r.failure) console.error(describeFailure(r));
    console.log(`${plan.label}: ${r.status} in ${r.durationSec.toFixed(1)} s -> ${r.outNotebook}, ${r.outHtml}`);
    const figs = describeFigures(r);
    if (figs) (r.figures.error ? console.error : console.log)(r.figures.error ? `error: ${figs}` : figs);
    ok &&= r.status === 'ok' && !r.figures.error;
  }
  return ok ? 0 : 1;
}
