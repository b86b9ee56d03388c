// Opt-in multithreading for @tensorflow/tfjs-backend-wasm under Node.
//
// tfjs-backend-wasm 4.x never uses its threaded build under Node: the flag
// WASM_HAS_MULTITHREAD_SUPPORT answers false when IS_NODE, and even when forced
// on, emscripten's pthread pool cannot start, because tfjs hands it the worker
// script and the main script as Blob URLs, which Node's worker_threads cannot
// load. prepareWasmThreads() makes it work, and only when asked to:
//
//  1. it checks the installed bundle still has the internals this relies on
//     (the flag, the Blob URLs, the pthread pool, emscripten's
//     `commonjsGlobal.Worker = nodeWorkerThreads.Worker`), else it changes
//     nothing and says why;
//  2. it sets the flag and tf.wasm's setThreadsCount(n), and re-registers the
//     'wasm' backend factory (same priority) behind a wrapper;
//  3. while the wrapped factory runs, `globalThis.Worker` (which emscripten
//     sets to worker_threads.Worker and then uses for `new Worker(url)`) reads
//     as PthreadWorker: a worker_threads.Worker that, given a blob: URL, starts
//     a small eval'd bootstrap instead. The bootstrap receives the worker
//     script (the Blob behind the URL) and the main script (the Blob in
//     emscripten's 'load' message, prefixed with the few bundle-scope
//     variables the factory's source refers to) as text, runs them as
//     emscripten expects, and from then on it is emscripten's pthread worker;
//  4. if a worker fails or the pool does not come up within
//     60 s (DYTLAB_WASM_THREADS_TIMEOUT_MS), the wrapper terminates the workers, turns the flag
//     off and builds the single-threaded backend instead (status.reason says
//     why), so asking for threads never takes the process down.
//
// Pthread workers never hold the process open: PthreadWorker.ref() is a
// no-op (emscripten ref()s a worker while a pthread runs on it, and XNNPACK's
// pool threads run forever), so a script exits when its own work is done.
// To stop the threads earlier, tf.removeBackend('wasm') (the backend's
// dispose() calls PThread.terminateAllThreads()).
//
// Memory: in the threaded build the wasm module does not create or export its
// memory; the JS glue creates `new WebAssembly.Memory({ initial: 256,
// maximum: 65536, shared: true })` (16 MiB, may grow to 4 GiB, buffer is a
// SharedArrayBuffer) and passes it as `importObject.env.memory` to
// WebAssembly.instantiate(bytes, importObject) (the same object is also
// `importObject.wasi_snapshot_preview1`). Each pthread worker instantiates the
// same module with the same Memory via `new WebAssembly.Instance` in its own
// thread; only the main thread goes through WebAssembly.instantiate.
import { Blob as NodeBlob, resolveObjectURL } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { Worker as NodeWorker, type TransferListItem, type WorkerOptions } from 'node:worker_threads';
import { tf } from './tf.js';

export interface WasmThreadsStatus { requested: boolean; active: boolean; threads: number; reason?: string }

/**
 * How long the threaded backend may take to bring up its pthread pool before we
 * fall back (DYTLAB_WASM_THREADS_TIMEOUT_MS overrides it, for tests and slow machines).
 */
const DEFAULT_INIT_TIMEOUT_MS = 60_000;

function initTimeoutMs(): number {
  const v = Number(process.env.DYTLAB_WASM_THREADS_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_INIT_TIMEOUT_MS;
}
const FLAG = 'WASM_HAS_MULTITHREAD_SUPPORT';
const WASM_PKG = '@tensorflow/tfjs-backend-wasm';
const MAIN_SCRIPT_NAME = 'tfjs-backend-wasm-threaded-simd.main.js';
const WORKER_SCRIPT_NAME = 'tfjs-backend-wasm-threaded-simd.worker.js';

interface WasmPackage {
  setThreadsCount?: (n: number) => void;
  getThreadsCount?: () => number;
}

/** The parts of emscripten's Module (backend.wasm) that the status reads. */
interface EmscriptenThreadedModule {
  PThread?: { runningWorkers?: unknown[]; unusedWorkers?: unknown[] };
  wasmMemory?: { buffer: ArrayBufferLike };
}

/** WebAssembly, typed locally: the project's lib setting has no WebAssembly declarations. */
const WasmGlobal = (globalThis as unknown as {
  WebAssembly: { Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => { buffer: ArrayBufferLike } };
}).WebAssembly;

const requireHere = createRequire(__filename);

let status: WasmThreadsStatus = { requested: false, active: false, threads: 1 };
/** Set once prepareWasmThreads has re-registered the factory. */
let wrapped: { threads: number; poolSize: number; preamble: string; factory: Factory; priority: number } | undefined;
/** Why the threaded build was given up during initialisation, if it was. */
let fellBack: string | undefined;
/** The init attempt PthreadWorkers belong to while the wrapped factory runs. */
let attempt: Attempt | undefined;

// ---------------------------------------------------------------------------------------------
// Request parsing

/** threads: 0 or 1 = off; explicit: a count was given (rather than "on"). */
function parseRequest(request: boolean | number | undefined): { threads: number; explicit?: boolean; auto?: boolean; reason?: string } {
  if (request === undefined) {
    const raw = process.env.DYTLAB_WASM_THREADS;
    // On by default where there is more than one core (the self-check in
    // initBackend turns them off again if the threaded build computes wrongly).
    if (raw === undefined) return { threads: defaultThreads(), auto: true };
    const v = raw.trim().toLowerCase();
    if (v === '' || v === '0' || v === '1' || v === 'false' || v === 'off' || v === 'no') return { threads: 0 };
    if (v === 'true' || v === 'on' || v === 'yes') return { threads: defaultThreads() };
    if (/^\d+$/.test(v)) return { threads: Number(v), explicit: true };
    return { threads: 0, reason: `DYTLAB_WASM_THREADS="${raw}" is not true/false or a thread count; threads stay off` };
  }
  if (request === false) return { threads: 0 };
  if (request === true) return { threads: defaultThreads() };
  if (!Number.isInteger(request) || request < 0) {
    return { threads: 0, reason: `thread count ${request} is not a non-negative integer; threads stay off` };
  }
  return { threads: request, explicit: true };
}

function cpuCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** One thread per CPU, at least 2 when asked for; by default (auto) 1 (off) on a one-CPU machine. */
function defaultThreads(): number {
  return Math.max(2, cpuCount());
}

// ---------------------------------------------------------------------------------------------
// Checks on the installed bundle

interface BundleFacts { poolSize: number; preamble: string }

const TSLIB_HELPERS = [
  'var __values = function (o) { return o[Symbol.iterator](); };',
  'var __read = function (o, n) { var a = Array.from(o); return n === undefined ? a : a.slice(0, n); };',
  'var __spreadArray = function (to, from) { return to.concat(Array.from(from)); };',
].join('\n');

/**
 * Reads the tfjs-backend-wasm Node bundle and checks the internals this module
 * relies on. Returns what the workers need, or throws with what changed.
 */
function inspectBundle(): BundleFacts {
  const file = requireHere.resolve(WASM_PKG);
  const src = readFileSync(file, 'utf8');
  const markers: Array<[string, string]> = [
    [`registerFlag('${FLAG}'`, 'the WASM_HAS_MULTITHREAD_SUPPORT flag'],
    ['factoryConfig.mainScriptUrlOrBlob = new Blob(', 'the Blob main script'],
    [`locateFile("${WORKER_SCRIPT_NAME}")`, 'the pthread worker script name'],
    ['commonjsGlobal.Worker = nodeWorkerThreads.Worker', 'emscripten taking Worker from globalThis'],
    ['"urlOrBlob": Module["mainScriptUrlOrBlob"]', "the pthread 'load' message"],
  ];
  const missing = markers.filter(([m]) => !src.includes(m)).map(([, what]) => what);
  if (missing.length) throw new Error(`${WASM_PKG} internals changed (not found: ${missing.join(', ')})`);
  if (!existsSync(join(dirname(file), 'tfjs-backend-wasm-threaded-simd.wasm'))) {
    throw new Error(`${WASM_PKG}: tfjs-backend-wasm-threaded-simd.wasm is missing`);
  }
  const pool = /var pthreadPoolSize = (\d+);/.exec(src);
  if (!pool) throw new Error(`${WASM_PKG} internals changed (pthread pool size not found)`);
  // The threaded factory's source is evaluated in each worker outside the
  // bundle, so the bundle-scope names it uses must be defined there.
  const lines = ['var commonjsGlobal = globalThis;', TSLIB_HELPERS];
  for (const m of src.matchAll(/^var (require\$\$\d+) = require\('([^']+)'\);$/gm)) {
    lines.push(`var ${m[1]} = require(${JSON.stringify(m[2])});`);
  }
  return { poolSize: Number(pool[1]), preamble: lines.join('\n') + '\n' };
}

function checkRuntime(): void {
  if (typeof SharedArrayBuffer !== 'function') throw new Error('SharedArrayBuffer is unavailable');
  const mem = new WasmGlobal.Memory({ initial: 1, maximum: 1, shared: true });
  if (!(mem.buffer instanceof SharedArrayBuffer)) throw new Error('shared WebAssembly.Memory is unavailable');
  if (typeof resolveObjectURL !== 'function') throw new Error('buffer.resolveObjectURL is unavailable');
}

function wasmPackage(): WasmPackage {
  return requireHere(WASM_PKG) as WasmPackage;
}

interface EngineInternals {
  registry?: Record<string, unknown>;
  registryFactory?: Record<string, { priority?: number }>;
  pendingBackendInit?: unknown;
  backendName?: string | null;
}

function engineInternals(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

function wasmBackendStarted(): boolean {
  const e = engineInternals();
  return e.registry?.wasm != null || (e.backendName === 'wasm' && e.pendingBackendInit != null);
}

// ---------------------------------------------------------------------------------------------
// Pthread workers

/** The code each pthread worker starts with (eval'd, so CommonJS `require` is there). */
const BOOTSTRAP = `'use strict';
const { parentPort } = require('worker_threads');
parentPort.once('message', (boot) => {
  if (!boot || boot.cmd !== 'dytlab:boot') {
    throw new Error('dytlab wasm pthread: expected a boot message first, got ' + JSON.stringify(boot && boot.cmd));
  }
  // emscripten's pthread worker script, run the way it runs as a CommonJS file.
  new Function('require', '__filename', '__dirname', boot.worker)(require, boot.workerName, '.');
  const importScripts = globalThis.importScripts;
  globalThis.importScripts = (f) => (f === boot.mainName ? (0, eval)(boot.main) : importScripts(f));
});
`;

class Attempt {
  readonly workers = new Set<PthreadWorker>();
  readonly failed: Promise<never>;
  fail!: (reason: string) => void;
  /** starting: the pool is coming up; ready: the backend was built on it; abandoned: we fell back. */
  state: 'starting' | 'ready' | 'abandoned' = 'starting';

  constructor(readonly threads: number) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = (reason: string) => reject(new Error(reason));
    });
    this.failed.catch(() => undefined);
  }
}

/** The two scripts as text, read once from tfjs's Blobs (the same for every worker). */
let scriptTexts: Promise<{ worker: string; main: string }> | undefined;

function readScripts(workerBlob: NodeBlob, mainBlob: NodeBlob): Promise<{ worker: string; main: string }> {
  scriptTexts ??= Promise.all([workerBlob.text(), mainBlob.text()])
    .then(([worker, main]) => ({ worker, main: (wrapped?.preamble ?? '') + main }));
  return scriptTexts;
}

type Posted = [unknown, readonly TransferListItem[] | undefined];

/**
 * worker_threads.Worker as emscripten's pthread pool needs it under Node: a
 * blob: URL becomes the eval'd bootstrap, messages wait until the bootstrap
 * has its scripts, errors while the pool starts make the attempt fail instead
 * of throwing, and ref() does nothing. Any other filename is a plain Worker.
 */
class PthreadWorker extends NodeWorker {
  private readonly owner: Attempt | undefined;
  private readonly scriptBlob: NodeBlob | undefined;
  private queue: Posted[] | undefined;
  loaded = false;

  constructor(filename: string | URL, options?: WorkerOptions) {
    const blob = typeof filename === 'string' && filename.startsWith('blob:') ? resolveObjectURL(filename) : undefined;
    super(blob ? BOOTSTRAP : filename, blob ? { eval: true } : options);
    this.scriptBlob = blob;
    this.owner = blob ? attempt : undefined;
    if (!blob) return;
    URL.revokeObjectURL(filename as string);
    this.queue = [];
    this.owner?.workers.add(this);
  }

  private failStart(reason: string): void {
    if (this.owner && this.owner.state !== 'ready') this.owner.fail(reason);
    else super.emit('error', new Error(reason));
  }

  override postMessage(value: unknown, transferList?: readonly TransferListItem[]): void {
    if (!this.queue) return super.postMessage(value, transferList);
    this.queue.push([value, transferList]);
    const msg = value as { cmd?: string; urlOrBlob?: unknown } | null;
    if (msg?.cmd !== 'load') return;
    if (!(msg.urlOrBlob instanceof NodeBlob) || !this.scriptBlob) {
      this.failStart(`pthread 'load' message has no Blob main script (got ${typeof msg.urlOrBlob})`);
      return;
    }
    readScripts(this.scriptBlob, msg.urlOrBlob).then(({ worker, main }) => {
      super.postMessage({ cmd: 'dytlab:boot', worker, main, mainName: MAIN_SCRIPT_NAME, workerName: WORKER_SCRIPT_NAME });
      const queued = this.queue ?? [];
      this.queue = undefined;
      for (const [v, t] of queued) {
        const m = v as { cmd?: string } | null;
        super.postMessage(m?.cmd === 'load' ? { ...m, urlOrBlob: MAIN_SCRIPT_NAME } : v, t);
      }
    }, (e: unknown) => this.failStart(`reading the pthread scripts failed: ${(e as Error)?.message ?? e}`));
  }

  override emit(event: string | symbol, ...args: any[]): boolean {
    const owner = this.owner;
    if (owner?.state === 'abandoned' && event === 'error') return true; // terminated by the fallback
    if (owner?.state === 'starting') {
      const data = args[0] as { cmd?: string } | null | undefined;
      if (event === 'message' && data?.cmd === 'loaded') {
        this.loaded = true;
        // When the last pool worker has loaded, emscripten runs the module's
        // static constructors synchronously from this handler; one of them
        // caches num_cores = emscripten_num_logical_cores() / 2 (that is
        // os.cpus().length / 2), and init_with_threads_count(n) caps XNNPACK's
        // pool at it. Let it see 2 CPUs per requested thread.
        return withCpusAtLeast(2 * owner.threads, () => super.emit(event, ...args));
      }
      if (event === 'error') {
        owner.fail(`a pthread worker failed while starting: ${(args[0] as Error)?.message ?? args[0]}`);
        return true; // emscripten's handler rethrows; the wrapper falls back instead
      }
      if (event === 'exit') owner.fail(`a pthread worker exited while starting (code ${args[0]})`);
    } else if (event === 'message' && (args[0] as { cmd?: string } | null)?.cmd === 'loaded') {
      this.loaded = true;
    }
    return super.emit(event, ...args);
  }

  /** Pthread workers must not keep the process alive (XNNPACK's pool threads never return). */
  override ref(): void {
    if (!this.scriptBlob) super.ref();
  }
}

/** Runs fn while os.cpus() lists at least n CPUs (the real ones, repeated). */
function withCpusAtLeast<T>(n: number, fn: () => T): T {
  const osModule = requireHere('node:os') as typeof os;
  const cpus = osModule.cpus;
  osModule.cpus = () => {
    const real = cpus.call(osModule);
    const out = [...real];
    while (real.length > 0 && out.length < n) out.push(real[out.length % real.length]!);
    return out;
  };
  try {
    return fn();
  } finally {
    osModule.cpus = cpus;
  }
}

/** While the wrapped factory runs, globalThis.Worker reads as PthreadWorker. */
function hookGlobalWorker(): () => void {
  const before = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  let assigned: unknown = before && 'value' in before ? before.value : undefined;
  let wasAssigned = false;
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    enumerable: before?.enumerable ?? true,
    get: () => PthreadWorker,
    set: (v: unknown) => { assigned = v; wasAssigned = true; },
  });
  return () => {
    if (before && !wasAssigned) Object.defineProperty(globalThis, 'Worker', before);
    else if (wasAssigned) {
      Object.defineProperty(globalThis, 'Worker', { configurable: true, enumerable: true, writable: true, value: assigned });
    } else delete (globalThis as { Worker?: unknown }).Worker;
  };
}

// ---------------------------------------------------------------------------------------------
// The wrapped backend factory

type Factory = Parameters<typeof tf.registerBackend>[1];

function wrapFactory(original: Factory): Factory {
  return async () => {
    if (!tf.env().getBool(FLAG) || fellBack) return original();
    const current = new Attempt(wrapped?.threads ?? 2);
    attempt = current;
    const unhook = hookGlobalWorker();
    let timer: NodeJS.Timeout | undefined;
    const limitMs = initTimeoutMs();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the pthread pool did not start within ${limitMs} ms`)), limitMs);
      timer.unref();
    });
    try {
      const backend = await Promise.race([Promise.resolve(original()), current.failed, timeout]);
      current.state = 'ready';
      return backend;
    } catch (e) {
      current.state = 'abandoned';
      fellBack = `threaded wasm backend failed to start, using one thread: ${(e as Error)?.message ?? e}`;
      for (const w of current.workers) void w.terminate();
      tf.env().set(FLAG, false);
      wasmPackage().setThreadsCount?.(-1);
      return original();
    } finally {
      clearTimeout(timer);
      unhook();
      attempt = undefined;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// API

/**
 * Call BEFORE tf.setBackend('wasm') / the wasm backend's first initialisation.
 * Reads the request from the argument or env DYTLAB_WASM_THREADS ("true"/"on" =
 * on with one thread per CPU, at least 2; a number >= 2 = that thread count;
 * "0"/"1"/"false" = off, i.e. one thread). Unset: on with one thread per CPU where there are two or
 * more (initBackend then runs a threaded self-check and abandons the threads if
 * it fails). A thread count of 1 is single-threaded, i.e. off. When threads
 * cannot be enabled the status says why and the backend stays single-threaded.
 */
export function prepareWasmThreads(request?: boolean | number): WasmThreadsStatus {
  const parsed = parseRequest(request);
  const { explicit, reason: parseReason } = parsed;
  const wanted = parsed.auto && cpuCount() < 2 ? 1 : parsed.threads;
  if (wanted <= 1) {
    if (!wrapped) {
      const why = parseReason ?? (parsed.auto ? 'this machine has one CPU'
        : request === undefined ? `DYTLAB_WASM_THREADS=${process.env.DYTLAB_WASM_THREADS ?? ''} turns them off`
          : `turned off by the caller (prepareWasmThreads(${String(request)}))`);
      status = { requested: false, active: false, threads: 1, reason: why };
    }
    return { ...status };
  }
  if (wrapped) {
    if (wanted !== wrapped.threads && !wasmBackendStarted()) {
      wrapped.threads = Math.min(wanted, wrapped.poolSize);
      wasmPackage().setThreadsCount?.(wrapped.threads);
      status = { requested: true, active: false, threads: wrapped.threads };
    }
    return { ...status };
  }
  const fail = (reason: string): WasmThreadsStatus => {
    status = { requested: true, active: false, threads: 1, reason };
    return { ...status };
  };
  try {
    if (wasmBackendStarted()) return fail('the wasm backend was already initialised; call prepareWasmThreads() before it starts');
    checkRuntime();
    const pkg = wasmPackage();
    if (typeof pkg.setThreadsCount !== 'function' || typeof pkg.getThreadsCount !== 'function') {
      return fail(`${WASM_PKG} has no setThreadsCount/getThreadsCount`);
    }
    const original = tf.findBackendFactory('wasm') as Factory | null;
    if (!original) return fail(`${WASM_PKG} did not register the 'wasm' backend on dytlab's tfjs-core`);
    const facts = inspectBundle();
    const threads = Math.min(wanted, facts.poolSize);
    const priority = engineInternals().registryFactory?.wasm?.priority ?? 2;
    tf.env().set(FLAG, true);
    pkg.setThreadsCount(threads);
    tf.removeBackend('wasm');
    wrapped = { threads, poolSize: facts.poolSize, preamble: facts.preamble, factory: wrapFactory(original), priority };
    tf.registerBackend('wasm', wrapped.factory, priority);
    status = {
      requested: true, active: false, threads,
      ...(explicit && threads < wanted ? { reason: `capped at ${threads} threads (emscripten's pthread pool size)` } : {}),
    };
    return { ...status };
  } catch (e) {
    return fail(`could not enable wasm threads: ${(e as Error)?.message ?? e}`);
  }
}

/**
 * After the backend is ready: whether threads really run (the threaded wasm
 * binary is loaded, XNNPACK reports the thread count, and that many - 1
 * pthread workers are running); updates and returns the status.
 */
export function wasmThreadsStatus(): WasmThreadsStatus {
  const backend = engineInternals().registry?.wasm as { wasm?: EmscriptenThreadedModule } | undefined;
  let count = 1;
  try {
    if (backend) count = wasmPackage().getThreadsCount?.() ?? 1;
  } catch { /* not initialised */ }
  if (!status.requested) {
    status = { ...status, threads: count };
    return { ...status };
  }
  if (!backend) {
    status = { requested: true, active: false, threads: wrapped?.threads ?? 1,
      reason: status.reason ?? 'the wasm backend has not been initialised yet' };
    return { ...status };
  }
  const mod = backend.wasm;
  const running = (mod?.PThread?.runningWorkers ?? []).filter((w) => w instanceof PthreadWorker && w.loaded).length;
  const shared = mod?.wasmMemory?.buffer instanceof SharedArrayBuffer;
  let reason: string | undefined;
  if (fellBack) reason = fellBack;
  else if (!mod?.PThread || !shared) reason = 'the single-threaded wasm binary was loaded';
  else if (count < 2) reason = `XNNPACK reports ${count} thread`;
  else if (running < count - 1) reason = `only ${running} of ${count - 1} pthread workers are running`;
  const capped = status.reason?.startsWith('capped at') ? status.reason : undefined;
  const why = reason ?? capped;
  status = { requested: true, active: reason === undefined, threads: reason === undefined ? count : 1, ...(why ? { reason: why } : {}) };
  return { ...status };
}

/**
 * Gives the threaded backend up after it started (a failed self-check): the
 * threads are terminated, the wasm backend is re-created single-threaded, and
 * the status keeps `reason`. Resolves once the new backend is ready.
 */
export async function abandonWasmThreads(reason: string): Promise<WasmThreadsStatus> {
  if (!wrapped) return { ...status };
  fellBack = reason;
  tf.env().set(FLAG, false);
  wasmPackage().setThreadsCount?.(-1);
  const { factory, priority } = wrapped;
  tf.removeBackend('wasm'); // disposes the backend: PThread.terminateAllThreads()
  tf.registerBackend('wasm', factory, priority); // the factory now builds the plain backend (fellBack)
  const { rearmWasmMemoryCapture } = await import('./wasm-memory.js');
  rearmWasmMemoryCapture();
  if (!(await tf.setBackend('wasm'))) throw new Error('@tensorflow/tfjs-backend-wasm: re-initialisation without threads failed');
  await tf.ready();
  return wasmThreadsStatus();
}
