// Runs the missing combinations of a sweep plan in parallel worker processes,
// one child process per run (sweep-worker.ts), all writing into one store file
// (WAL, busy timeout). Events let a caller draw progress (the CLI's display, a
// notebook's progress bar).
//
// Crash safety, the mechanism: every run records the pid and host of the
// process that trains it (startRun). A run whose process is gone is marked
// 'failed' by markStaleRuns, which this runner calls when it starts (opening
// the store), whenever a worker exits without reporting, and while it waits.
// Workers stop when their parent dies (sweep-worker.ts). So after any kill
// (the sweep, a worker, both), nothing stays 'running', and the next sweep
// runs again exactly the combinations that have no finished, diverged or stalled run.
// A combination 'running' in another live process (another sweep on the
// same store) is not started twice: the runner waits for it and runs it only
// if that process dies without a result. The check is not left to chance: a
// worker claims its combination in one store transaction (RunStore.claimRun)
// and, when another process got there between the runner's look and the
// claim, reports so and trains nothing (the runner then waits, or skips).
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_STALE_SECONDS, openStore, resolveStorePath, type RunStore } from './store/index.js';
import { runState, type PlannedRun, type SweepPlan } from './sweep.js';

// -- the worker protocol -----------------------------------------------------------

export interface WorkerRequest {
  type: 'run';
  config: unknown;
  store: string;
  /** Minimum time between progress messages (default 250 ms). */
  progressMs?: number;
  /** Train even when the memory estimate is over the limit (the sweep checked every combination before starting). */
  allowLarge?: boolean;
}

export interface WorkerProgress {
  step: number;
  steps: number;
  loss: number;
  itemsPerSec: number;
  unit: string;
  etaSec: number;
  eval?: Record<string, number>;
}

export type WorkerMessage =
  | { type: 'ready' }
  | ({ type: 'progress' } & WorkerProgress)
  | { type: 'done'; status: 'finished' | 'diverged' | 'stalled' | 'failed'; step: number; hash: string; runId?: string; reason?: string; lastEval?: Record<string, number> }
  /** The worker's claim found the combination done, or in flight in another live process: it trained nothing. */
  | { type: 'claimed'; state: 'done' | 'running'; runId: string; hash: string }
  | { type: 'error'; message: string };

// -- events and results ------------------------------------------------------------

export interface RunOutcome {
  status: 'finished' | 'diverged' | 'stalled' | 'failed';
  runId?: string;
  reason?: string;
  /** Steps completed. */
  step?: number;
  lastEval?: Record<string, number>;
  seconds: number;
  /** The last lines the worker wrote to stdout/stderr, when it failed. */
  output?: string;
}

export type SweepEvent =
  | { type: 'start'; slot: number; run: PlannedRun; pid: number }
  | { type: 'progress'; slot: number; run: PlannedRun; progress: WorkerProgress }
  | { type: 'end'; slot: number; run: PlannedRun; outcome: RunOutcome }
  /** Combinations found done (or in flight elsewhere) when the runner came to them; slot: the worker that found it so (it trained nothing). */
  | { type: 'skip'; run: PlannedRun; why: 'done' | 'done elsewhere'; slot?: number }
  /**
   * The combinations in flight in another live process, which this runner waits for (sent when the set changes);
   * released: the slot of a worker whose claim found its combination in flight elsewhere (it trained nothing).
   */
  | { type: 'waiting'; runs: PlannedRun[]; released?: number };

export interface SweepRunOptions {
  /** The store file or an open store on one (the workers open it too, so not ':memory:'). Default: DYTLAB_STORE or runs/dytlab.sqlite. */
  store?: string | RunStore;
  /** Parallel workers (default: one per core). */
  jobs?: number;
  onEvent?: (e: SweepEvent) => void;
  /** Aborting kills the workers; their runs are marked failed. */
  signal?: AbortSignal;
  /** How often to look again at combinations in flight elsewhere (default 2 s). */
  pollSeconds?: number;
  /** Environment of the workers (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Let runs over the memory limit train (the CLI's --allow-large). */
  allowLarge?: boolean;
}

export interface SweepResult {
  /** Combinations in the plan (this shard). */
  planned: number;
  /** Already done before this call (or done by another process meanwhile). */
  alreadyDone: number;
  finished: number;
  diverged: number;
  /** Stopped as no better than the baseline (train.stall): a result, like a divergence; not run again. */
  stalled: number;
  failed: number;
  outcomes: { run: PlannedRun; outcome: RunOutcome }[];
  aborted: boolean;
  seconds: number;
}

/** Default number of workers: one per core. */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/**
 * A worker's environment: unless the caller chose DYTLAB_WASM_THREADS, the
 * cores are split between the workers (jobs workers on N cores: N / jobs wasm
 * threads each; 0, i.e. one thread, when that is less than 2), so parallel runs do not oversubscribe the CPU.
 */
export function workerEnv(env: NodeJS.ProcessEnv, jobs: number, cpus = availableParallelism()): NodeJS.ProcessEnv {
  if (env.DYTLAB_WASM_THREADS !== undefined) return env;
  const n = Math.floor(cpus / Math.max(1, jobs));
  return { ...env, DYTLAB_WASM_THREADS: n >= 2 ? String(n) : '0' };
}

/** The worker's entry: the built .js beside this file, or the .ts source under tsx. */
function workerEntry(): { file: string; execArgv: string[] } {
  const js = join(__dirname, 'sweep-worker.js');
  if (existsSync(js)) return { file: js, execArgv: [] };
  // Running from source: the child needs tsx too, found from here rather than from the cwd.
  return { file: join(__dirname, 'sweep-worker.ts'), execArgv: ['--import', pathToFileURL(require.resolve('tsx')).href] };
}

/** A sleep that can be cut short (by the signal or cancel()); a pending timer would keep the process alive. */
function sleep(ms: number, signal?: AbortSignal): { done: Promise<void>; cancel: () => void } {
  let cancel = () => {};
  const done = new Promise<void>((resolve) => {
    const t = setTimeout(finish, ms);
    function finish() { clearTimeout(t); signal?.removeEventListener('abort', finish); resolve(); }
    cancel = finish;
    signal?.addEventListener('abort', finish, { once: true });
  });
  return { done, cancel };
}

interface Active {
  slot: number;
  run: PlannedRun;
  child: ChildProcess;
  started: number;
  output: string;
  reported?: Extract<WorkerMessage, { type: 'done' }>;
  claimed?: Extract<WorkerMessage, { type: 'claimed' }>;
  error?: string;
  exited: Promise<void>;
  exitText?: string;
}

function spawnWorker(run: PlannedRun, slot: number, storePath: string, opts: SweepRunOptions, parallel: number, onProgress: (p: WorkerProgress) => void): Active {
  const { file, execArgv } = workerEntry();
  const child = fork(file, [], { execArgv, env: workerEnv(opts.env ?? process.env, parallel), stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const a: Active = { slot, run, child, started: Date.now(), output: '', exited: Promise.resolve() };
  const keep = (chunk: Buffer) => { a.output = (a.output + chunk.toString()).slice(-4000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('message', (m: WorkerMessage) => {
    if (m.type === 'ready') {
      const req: WorkerRequest = { type: 'run', config: run.config, store: storePath, ...(opts.allowLarge ? { allowLarge: true } : {}) };
      child.send(req);
    } else if (m.type === 'progress') {
      const { type: _t, ...p } = m;
      onProgress(p);
    } else if (m.type === 'done') {
      a.reported = m;
    } else if (m.type === 'claimed') {
      a.claimed = m;
    } else if (m.type === 'error') {
      a.error = m.message;
    }
  });
  a.exited = new Promise((resolve) => {
    child.on('error', (e) => { a.error ??= e.message; });
    child.on('exit', (code, sig) => {
      a.exitText = sig ? `killed by ${sig}` : `exited with code ${code}`;
      resolve();
    });
  });
  return a;
}

function outcomeOf(a: Active): RunOutcome {
  const seconds = (Date.now() - a.started) / 1000;
  const m = a.reported;
  if (m && m.hash !== a.run.hash) {
    // Never expected: the store would not recognise this run as the combination, and every later sweep would rerun it.
    return {
      status: 'failed', seconds, ...(m.runId ? { runId: m.runId } : {}),
      reason: `run ${m.runId ?? '?'} was recorded with config hash ${m.hash.slice(0, 12)}, but the sweep expected ` +
        `${a.run.hash.slice(0, 12)} (expansion and runTraining resolve the config differently: a bug)`,
    };
  }
  if (m) {
    return {
      status: m.status, seconds, step: m.step,
      ...(m.runId ? { runId: m.runId } : {}), ...(m.reason ? { reason: m.reason } : {}), ...(m.lastEval ? { lastEval: m.lastEval } : {}),
      ...(m.status === 'failed' && a.output ? { output: a.output } : {}),
    };
  }
  return {
    status: 'failed', seconds,
    reason: a.error ? `${a.error} (worker ${a.exitText})` : `worker ${a.exitText} before reporting a result`,
    ...(a.output ? { output: a.output } : {}),
  };
}

/**
 * Runs the plan's missing combinations ('todo'), jobs at a time. Resolves
 * when every combination of the plan is done, has failed in this call, or the
 * signal aborted the sweep.
 */
export async function runSweep(plan: SweepPlan, opts: SweepRunOptions = {}): Promise<SweepResult> {
  const storePath = typeof opts.store === 'object' ? opts.store.path : resolveStorePath(opts.store);
  if (storePath === ':memory:') throw new Error('runSweep: the workers need a store file, not ":memory:"');
  const jobs = opts.jobs ?? defaultJobs();
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`runSweep: jobs = ${String(jobs)} must be an integer >= 1`);
  const emit = opts.onEvent ?? (() => {});
  const t0 = Date.now();
  const store: RunStore = openStore(storePath); // marks runs of dead processes failed
  const result: SweepResult = {
    planned: plan.runs.length, alreadyDone: 0, finished: 0, diverged: 0, stalled: 0, failed: 0, outcomes: [], aborted: false, seconds: 0,
  };
  const queue: PlannedRun[] = [];
  let waiting: PlannedRun[] = [];
  for (const r of plan.runs) {
    if (r.state === 'done') result.alreadyDone++;
    else if (r.state === 'running') waiting.push(r);
    else queue.push(r);
  }
  const active = new Map<number, Active>();
  const freeSlots = Array.from({ length: jobs }, (_, i) => i);
  // Workers that will run at once: the cores are split between them (workerEnv).
  const parallel = Math.max(1, Math.min(jobs, queue.length + waiting.length));
  const stop = new AbortController();
  const onAbort = () => { result.aborted = true; stop.abort(); for (const a of active.values()) a.child.kill('SIGTERM'); };
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const pollMs = (opts.pollSeconds ?? 2) * 1000;
  let lastPoll = Date.now();

  const checkWaiting = () => {
    store.markStaleRuns({ olderThanSeconds: DEFAULT_STALE_SECONDS });
    const still: PlannedRun[] = [];
    for (const r of waiting) {
      const s = runState(store, r.hash);
      if (s.state === 'done') { result.alreadyDone++; emit({ type: 'skip', run: r, why: 'done elsewhere' }); }
      else if (s.state === 'running') still.push(r);
      else queue.push({ ...r, state: 'todo' }); // its process died without a result: ours to run
    }
    if (still.length !== waiting.length) emit({ type: 'waiting', runs: still });
    waiting = still;
    lastPoll = Date.now();
  };

  try {
    if (waiting.length) emit({ type: 'waiting', runs: waiting });
    for (;;) {
      while (!result.aborted && freeSlots.length && queue.length) {
        const run = queue.shift()!;
        // Someone may have run it since the plan was made.
        const s = runState(store, run.hash);
        if (s.state === 'done') { result.alreadyDone++; emit({ type: 'skip', run, why: 'done' }); continue; }
        if (s.state === 'running') { waiting.push(run); emit({ type: 'waiting', runs: [...waiting] }); continue; }
        const slot = freeSlots.shift()!;
        const a = spawnWorker(run, slot, storePath, opts, parallel, (progress) => emit({ type: 'progress', slot, run, progress }));
        active.set(slot, a);
        emit({ type: 'start', slot, run, pid: a.child.pid ?? -1 });
      }
      if (active.size === 0 && (queue.length === 0 || result.aborted) && (waiting.length === 0 || result.aborted)) break;
      const exits = [...active.values()].map((a) => a.exited.then(() => a));
      const wait = waiting.length ? Math.max(0, pollMs - (Date.now() - lastPoll)) : 3_600_000;
      const nap = sleep(wait, stop.signal);
      const ended = await Promise.race([...exits, nap.done.then(() => undefined)]);
      nap.cancel();
      if (ended) {
        active.delete(ended.slot);
        freeSlots.push(ended.slot);
        freeSlots.sort((x, y) => x - y);
      }
      if (ended?.claimed && ended.claimed.hash === ended.run.hash) {
        // Another process got there first (between our look at the store and the worker's claim).
        if (ended.claimed.state === 'done') {
          result.alreadyDone++;
          emit({ type: 'skip', run: ended.run, why: 'done elsewhere', slot: ended.slot });
        } else {
          waiting.push(ended.run);
          lastPoll = Date.now();
          emit({ type: 'waiting', runs: [...waiting], released: ended.slot });
        }
      } else if (ended) {
        const outcome = outcomeOf(ended);
        // A worker that died without reporting leaves its run 'running' under a dead pid.
        if (!ended.reported) store.markStaleRuns({ olderThanSeconds: DEFAULT_STALE_SECONDS });
        if (result.aborted && !ended.reported) outcome.reason = 'sweep aborted';
        result[outcome.status]++;
        result.outcomes.push({ run: ended.run, outcome });
        emit({ type: 'end', slot: ended.slot, run: ended.run, outcome });
      }
      if (waiting.length && !result.aborted && Date.now() - lastPoll >= pollMs) checkWaiting();
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    for (const a of active.values()) a.child.kill('SIGKILL');
    await Promise.all([...active.values()].map((a) => a.exited));
    if (active.size) store.markStaleRuns({ olderThanSeconds: DEFAULT_STALE_SECONDS });
    store.close();
  }
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}
