// An in-process execution session on tslab's converter and executor, shared by
// the Jupyter kernel and the headless notebook runner.
//
// How a cell's value is captured: tslab's converter rewrites the cell's last
// expression statement into `export const tsLastExpr = <expr>` and the executor,
// after running the cell, hands that value to the `console.log` of the console
// object given to createExecutor (not the global console: cells' own
// console.log goes to process.stdout). We give the executor our own console
// object, whose `log` receives the value itself, and whose `error` receives
// thrown errors themselves. Compile diagnostics are taken from the converter's
// result (we wrap the converter the executor uses), with codes and positions.
import * as path from 'node:path';
import type { Converter, ConvertResult, Diagnostic } from 'tslab/dist/converter';
import type { ConverterSet, Executor } from 'tslab/dist/executor';
import type { CodeMetadata } from 'tslab/dist/metadata';
import { addOverlay, createConverterAt, installDytlabResolveFallback, ts } from './tslab-env.js';
import { bundleFor, displayApi, type MimeBundle } from './display-bridge.js';
import { router } from './output.js';
import { compileError, runtimeError, type CellError, type CellSource } from './errors.js';
import { Watchdog } from './watchdog.js';

export type { MimeBundle } from './display-bridge.js';
export { terminal } from './output.js';

/** What a cell's execution emits (defined with the report pipeline, which turns these into nbformat outputs). */
export type { CellEvent } from 'dytlab';
import type { CellEvent } from 'dytlab';

export interface ExecuteReply { status: 'ok' | 'error' | 'aborted'; executionCount: number }

export interface ExecuteOptions {
  /** Interrupt the cell after this long and report `TimeoutError: cell exceeded N s`. */
  timeoutMs?: number;
  /** No result event, no execution count. */
  silent?: boolean;
  /** Count this cell (default: true unless silent). */
  storeHistory?: boolean;
}

export interface Session {
  /**
   * Compiles and runs one cell. Events (output, displays, the value, an error)
   * arrive through `onEvent` while it runs; output written after the cell ends
   * (timers, unawaited promises) keeps going to its `onEvent` until the next cell
   * starts. Cells run one at a time, in call order.
   */
  execute(code: string, onEvent: (e: CellEvent) => void, opts?: ExecuteOptions): Promise<ExecuteReply>;
  /** Completions at `cursorPos` (a JavaScript string index, i.e. UTF-16 units). */
  complete(code: string, cursorPos: number): { matches: string[]; cursorStart: number; cursorEnd: number };
  /** Type information at `cursorPos` (UTF-16 index), as text/plain. */
  inspect(code: string, cursorPos: number, detailLevel: number): { found: boolean; data: MimeBundle };
  isComplete(code: string): { status: 'complete' | 'incomplete' | 'invalid' | 'unknown'; indent?: string };
  /**
   * Interrupts the running cell when it waits on a promise. A synchronous busy
   * loop is interrupted by SIGINT (the session listens for it while open): the
   * Jupyter kernel raises it from its control thread, timeouts from a watchdog thread.
   */
  interrupt(): void;
  readonly executionCount: number;
  /** Releases the compiler, the output capture and the SIGINT listener. */
  close(): void;
}

export interface SessionOptions {
  /**
   * The folder cells compile and resolve modules from (the notebook's folder).
   * The session does not chdir: the process's working directory is the caller's.
   */
  cwd: string;
}

const OWN_DIR = __dirname;

class SessionImpl implements Session {
  private count = 0;
  private serial = 0;
  private readonly executor: Executor;
  private readonly tslabGlobal: unknown;
  private readonly removeOverlay: () => void;
  private readonly cells = new Map<string, CellSource>();
  private readonly watchdog = new Watchdog();
  private queue: Promise<unknown> = Promise.resolve();
  private busy = false;
  private interruptRequested = false;
  private closed = false;
  /** What the executor reported for the cell running now. */
  private cap: { converted?: ConvertResult; moduleDiags?: Diagnostic[]; value?: { v: unknown }; errors: unknown[] } = { errors: [] };
  private readonly onSigint = () => this.sigint();

  constructor(cwd: string) {
    installDytlabResolveFallback();
    this.removeOverlay = addOverlay(cwd);
    const wrap = (conv: Converter): Converter => ({
      convert: (prev, src) => {
        const r = conv.convert(prev, src);
        this.cap.converted = r;
        return r;
      },
      inspect: (prev, src, pos) => conv.inspect(prev, src, pos),
      complete: (prev, src, pos) => conv.complete(prev, src, pos),
      addModule: (name: string, content: string, meta?: CodeMetadata) => {
        const d = conv.addModule(name, content, meta);
        this.cap.moduleDiags = d;
        return d;
      },
      close: () => conv.close(),
    });
    let node: Converter | undefined, browser: Converter | undefined;
    const convs: ConverterSet = {
      get node() { return (node ??= wrap(createConverterAt(cwd, { isJS: false, isBrowser: false }))); },
      get browser() { return (browser ??= wrap(createConverterAt(cwd, { isJS: false, isBrowser: true }))); },
      close() { node?.close(); browser?.close(); },
    };
    void convs.node; // warm the compiler now (a second or two), not in the first cell
    const { createExecutor } = require('tslab/dist/executor') as typeof import('tslab/dist/executor');
    const g = globalThis as { __tslab__?: unknown };
    this.executor = createExecutor(cwd, convs, {
      log: (value?: unknown) => { this.cap.value = { v: value }; },
      error: (first?: unknown, ...rest: unknown[]) => {
        // Diagnostics arrive as ('%s%d:%d - %s', file, line, col, text): we have them from convert().
        if (first === '%s%d:%d - %s' && rest.length === 4) return;
        this.cap.errors.push(first);
      },
    });
    // tslab passes its exports/require to cells through one global; sessions take turns with it.
    this.tslabGlobal = g.__tslab__;
    router.acquire();
    displayApi().resetPlotlyEmbed?.();
    process.on('SIGINT', this.onSigint);
  }

  get executionCount(): number { return this.count; }

  execute(code: string, onEvent: (e: CellEvent) => void, opts: ExecuteOptions = {}): Promise<ExecuteReply> {
    const run = this.queue.then(() => this.run(code, onEvent, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(code: string, onEvent: (e: CellEvent) => void, opts: ExecuteOptions): Promise<ExecuteReply> {
    if (this.closed) throw new Error('session is closed');
    const silent = Boolean(opts.silent);
    const store = opts.storeHistory ?? !silent;
    if (store && !silent) this.count++;
    const executionCount = this.count;
    const label = store && !silent ? `In[${executionCount}]` : '<cell>';
    const filename = `dytlab-cell-${++this.serial}`;
    router.route(onEvent);
    this.cap = { errors: [] };
    (globalThis as { __tslab__?: unknown }).__tslab__ = this.tslabGlobal;
    this.busy = true;
    this.interruptRequested = false;
    const disarm = opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? this.watchdog.arm(opts.timeoutMs) : null;
    let ok = false;
    let timedOut = false;
    try {
      ok = await this.runNamed(code, filename, label);
    } catch (e) {
      this.cap.errors.push(e);
    } finally {
      if (disarm) timedOut = disarm();
      this.busy = false;
    }
    router.flush();
    const emit = (e: CellEvent) => {
      router.event(e);
    };
    if (this.cap.moduleDiags?.length) {
      const err = compileError(this.cap.moduleDiags, code, label);
      emit({ type: 'stream', name: 'stderr', text: `${err.traceback.join('\n')}\n` });
    }
    if (ok) {
      if (this.cap.value && !silent) emit({ type: 'result', data: bundleFor(this.cap.value.v), metadata: {} });
      router.flush();
      return { status: 'ok', executionCount };
    }
    const err = this.describe(code, label, timedOut ? opts.timeoutMs! : undefined);
    emit({ type: 'error', ...err });
    router.flush();
    return { status: 'error', executionCount };
  }

  /** Runs the cell with vm scripts named `filename`, so that stack frames say which cell they are in. */
  private runNamed(code: string, filename: string, label: string): Promise<boolean> {
    const vm = require('node:vm') as typeof import('node:vm');
    const orig = vm.runInThisContext;
    let compiled: string | undefined;
    vm.runInThisContext = function (this: unknown, js: string, options?: import('node:vm').RunningScriptOptions | string) {
      if (compiled === undefined && typeof js === 'string' && js.endsWith('\n})(__tslab__.exports, __tslab__.require)')) {
        vm.runInThisContext = orig;
        compiled = js;
        const o = typeof options === 'object' && options ? options : {};
        return orig.call(vm, js, { ...o, filename });
      }
      return orig.call(vm, js, options);
    } as typeof vm.runInThisContext;
    try {
      // The executor compiles and starts the cell synchronously, then awaits it.
      return this.executor.execute(code);
    } finally {
      vm.runInThisContext = orig;
      if (compiled !== undefined) {
        const shift = /^\(async function\(exports, require\) \{ |^\(function\(exports, require\) \{ /.exec(compiled)?.[0].length ?? 0;
        this.cells.set(filename, { filename, label, src: code, js: compiled, firstLineShift: shift });
        // Keep the sources of recent cells only: old frames then show compiled positions.
        if (this.cells.size > 500) this.cells.delete(this.cells.keys().next().value!);
      }
    }
  }

  private describe(code: string, label: string, timeoutMs: number | undefined): CellError {
    const diags = this.cap.converted?.diagnostics;
    if (timeoutMs !== undefined) {
      const s = Number((timeoutMs / 1000).toFixed(3));
      return { ename: 'TimeoutError', evalue: `cell exceeded ${s} s`, traceback: [`TimeoutError: cell exceeded ${s} s`] };
    }
    if (diags && diags.length) return compileError(diags, code, label);
    const e = this.cap.errors[0];
    const interrupted = e instanceof Error && ((e as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED' || e.message === 'Interrupted asynchronously');
    if (interrupted || (this.interruptRequested && e === undefined)) {
      return { ename: 'InterruptError', evalue: 'execution interrupted', traceback: ['InterruptError: execution interrupted'] };
    }
    if (e === undefined) return { ename: 'Error', evalue: 'the cell failed', traceback: ['Error: the cell failed'] };
    return runtimeError(e, this.cells, OWN_DIR);
  }

  interrupt(): void {
    if (!this.busy || this.interruptRequested) return;
    this.interruptRequested = true;
    this.executor.interrupt();
  }

  private sigint(): void {
    if (this.busy) { this.interrupt(); return; }
    // A timeout's repeated signal that came just after its cell ended.
    if (Date.now() - this.watchdog.lastFired < 3000) return;
    // Otherwise behave as if we were not listening: the default action ends the process.
    if (process.listenerCount('SIGINT') === 1) {
      process.removeListener('SIGINT', this.onSigint);
      process.kill(process.pid, 'SIGINT');
    }
  }

  complete(code: string, cursorPos: number): { matches: string[]; cursorStart: number; cursorEnd: number } {
    try {
      const info = this.executor.complete(code, cursorPos);
      return { matches: info.candidates, cursorStart: info.start, cursorEnd: info.end };
    } catch {
      return { matches: [], cursorStart: cursorPos, cursorEnd: cursorPos };
    }
  }

  inspect(code: string, cursorPos: number, detailLevel: number): { found: boolean; data: MimeBundle } {
    const { printQuickInfo } = require('tslab/dist/inspect') as typeof import('tslab/dist/inspect');
    // Jupyter asks with the cursor after `name(` or `name, `: fall back to the identifier before it.
    const positions = [cursorPos];
    let p = cursorPos;
    while (p > 0 && /[\s(,]/.test(code[p - 1]!)) p--;
    if (p !== cursorPos && p > 0) positions.push(p - 1);
    if (cursorPos > 0) positions.push(cursorPos - 1);
    for (const pos of positions) {
      let info;
      try { info = this.executor.inspect(code, pos); } catch { info = undefined; }
      if (!info) continue;
      let text = printQuickInfo(info);
      if (detailLevel <= 0) text = text.split('\n\n')[0] ?? text;
      if (text) return { found: true, data: { 'text/plain': text } };
    }
    return { found: false, data: {} };
  }

  isComplete(code: string): { status: 'complete' | 'incomplete' | 'invalid' | 'unknown'; indent?: string } {
    try {
      const { isCompleteCode } = require('tslab/dist/converter') as typeof import('tslab/dist/converter');
      const r = isCompleteCode(code);
      if (!r.completed) return { status: 'incomplete', indent: r.indent ?? '' };
      // Syntax errors other than "more input expected" make the code invalid.
      const sf = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
      if (sf.parseDiagnostics && sf.parseDiagnostics.length > 0) return { status: 'invalid' };
      return { status: 'complete' };
    } catch {
      return { status: 'unknown' };
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('SIGINT', this.onSigint);
    this.watchdog.close();
    router.release();
    this.removeOverlay();
    try { this.executor.close(); } catch { /* already closed */ }
  }
}

/** A new session compiling from `opts.cwd` (creating it warms the compiler: a second or two). */
export function createSession(opts: SessionOptions): Session {
  return new SessionImpl(path.resolve(opts.cwd));
}
