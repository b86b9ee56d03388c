// Opt-in wasm multithreading (src/engine/wasm-threads.ts).
//
// The wasm backend initialises once per process, so every scenario runs in a
// child process (test/fixtures/wasm-threads-child.ts) that prints one JSON
// line. The children run one after another, so the GFLOP/s they report are
// comparable; they are printed as diagnostics, never asserted. What is
// asserted is structural: the threaded binary is loaded, XNNPACK reports the
// thread count, the pthread workers run; this is what breaks if the
// tfjs-backend-wasm internals the module relies on change.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareWasmThreads } from '../src/engine/wasm-threads.js';
import { workerEnv } from '../src/experiments/sweep-runner.js';

const ROOT = join(__dirname, '..');
const CHILD = join(__dirname, 'fixtures', 'wasm-threads-child.ts');
const RESULT_PREFIX = '@@wasm-threads-result ';
/** A child that has not exited by itself after this long is killed and counts as hanging. */
const CHILD_LIMIT_MS = 60_000;

interface Status { requested: boolean; active: boolean; threads: number; reason?: string }
interface ChildResult {
  error?: string;
  mode: string;
  prepared: Status;
  setBackend: boolean;
  backend: string;
  status: Status;
  getThreadsCount: number;
  flag: boolean;
  threadedBinary: boolean;
  sharedMemory: boolean;
  runningWorkers: number;
  loadedRunningWorkers: number;
  poolWorkers: number;
  globalWorker: string;
  late: Status;
  product: number[];
  gflops: number;
  matmulMs: number;
}
interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
  stderr: string;
  result?: ChildResult;
}

function runChild(mode: string, env: Record<string, string | undefined>): Promise<ChildRun> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.DYTLAB_WASM_THREADS;
  delete childEnv.DYTLAB_WASM_THREADS_TIMEOUT_MS;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], {
      cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, CHILD_LIMIT_MS);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      const result = line ? (JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult) : undefined;
      resolve({ code, signal, killed, stderr, ...(result ? { result } : {}) });
    });
  });
}

/** The child's result, failing with its stderr when it has none or reports an error. */
function resultOf(run: ChildRun | undefined): ChildResult {
  assert.ok(run, 'child did not run');
  const tail = run.stderr.slice(-1500);
  assert.ok(run.result, `child printed no result (code ${run.code}, signal ${run.signal}); stderr:\n${tail}`);
  assert.equal(run.result.error, undefined, `child failed: ${run.result.error}`);
  return run.result;
}

function assertSameProduct(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!));
    if (!(d <= worst)) worst = d; // NaN-safe: NaN makes worst NaN and fails below
  }
  assert.ok(worst <= 1e-5, `max relative difference ${worst}`);
}

describe('wasm threads: prepareWasmThreads request parsing (no backend needed)', () => {
  const saved = process.env.DYTLAB_WASM_THREADS;
  after(() => {
    if (saved === undefined) delete process.env.DYTLAB_WASM_THREADS;
    else process.env.DYTLAB_WASM_THREADS = saved;
  });

  test('off when asked to be, with the reason', () => {
    // (Unset means on where there are 2+ CPUs: that is checked in a child process below,
    // since preparing threads here would wrap this process's backend.)
    for (const v of ['0', '1', 'false', '']) {
      process.env.DYTLAB_WASM_THREADS = v;
      const s = prepareWasmThreads();
      assert.equal(s.requested, false, `"${v}"`);
      assert.equal(s.threads, 1);
      assert.match(s.reason ?? '', /DYTLAB_WASM_THREADS=.* turns them off/, `"${v}"`);
    }
    assert.equal(prepareWasmThreads(false).requested, false);
    assert.match(prepareWasmThreads(false).reason ?? '', /turned off by the caller/);
    assert.equal(prepareWasmThreads(0).requested, false);
    assert.equal(prepareWasmThreads(1).requested, false, 'one thread is single-threaded');
  });

  test('a malformed request stays off and says why', () => {
    process.env.DYTLAB_WASM_THREADS = 'lots';
    const s = prepareWasmThreads();
    assert.equal(s.requested, false);
    assert.equal(s.active, false);
    assert.match(s.reason ?? '', /DYTLAB_WASM_THREADS="lots"/);
    assert.match(prepareWasmThreads(2.5).reason ?? '', /not a non-negative integer/);
  });
});

describe('wasm threads: child processes', () => {
  const runs: Record<string, ChildRun> = {};

  before(async () => {
    // One after another, so timings are not disturbed by each other.
    runs.single = await runChild('default', { DYTLAB_WASM_THREADS: '0' });
    runs.auto = await runChild('default', {});
    runs.threaded = await runChild('default', { DYTLAB_WASM_THREADS: '2' });
    runs.broken = await runChild('broken', { DYTLAB_WASM_THREADS: '2' });
    runs.hang = await runChild('hang', { DYTLAB_WASM_THREADS: '2', DYTLAB_WASM_THREADS_TIMEOUT_MS: '3000' });
  }, { timeout: 8 * CHILD_LIMIT_MS });

  test('default (no DYTLAB_WASM_THREADS): one thread per CPU where there are two or more', () => {
    const r = resultOf(runs.auto);
    const cpus = availableParallelism();
    if (cpus < 2) {
      assert.deepEqual(r.status, { requested: false, active: false, threads: 1, reason: 'this machine has one CPU' });
      return;
    }
    assert.equal(r.status.active, true, `threads not active by default: ${r.status.reason}`);
    assert.equal(r.status.threads, Math.min(cpus, r.poolWorkers));
    assert.equal(r.threadedBinary, true);
    assert.equal(r.sharedMemory, true);
    assertSameProduct(r.product, resultOf(runs.single).product);
  });

  test('DYTLAB_WASM_THREADS=0: nothing changes, one thread', () => {
    const r = resultOf(runs.single);
    assert.equal(r.setBackend, true);
    assert.equal(r.backend, 'wasm');
    assert.deepEqual(r.prepared, { requested: false, active: false, threads: 1, reason: 'DYTLAB_WASM_THREADS=0 turns them off' });
    assert.deepEqual(r.status, { requested: false, active: false, threads: 1, reason: 'DYTLAB_WASM_THREADS=0 turns them off' });
    assert.equal(r.getThreadsCount, 1);
    assert.equal(r.flag, false, 'WASM_HAS_MULTITHREAD_SUPPORT left at its Node default');
    assert.equal(r.threadedBinary, false);
    assert.equal(r.sharedMemory, false);
    assert.equal(r.poolWorkers, 0);
    assert.equal(r.globalWorker, 'undefined', 'globalThis.Worker untouched');
    assert.equal(r.late.active, false);
    assert.match(r.late.reason ?? '', /already initialised/);
  });

  test('DYTLAB_WASM_THREADS=2: threaded binary, 2 XNNPACK threads, a running pthread worker, same matmul', (t) => {
    const r = resultOf(runs.threaded);
    const single = resultOf(runs.single);
    assert.equal(r.setBackend, true);
    assert.equal(r.backend, 'wasm');
    assert.deepEqual(r.prepared, { requested: true, active: false, threads: 2 });
    assert.deepEqual(r.status, { requested: true, active: true, threads: 2 });
    assert.equal(r.getThreadsCount, 2, "tf.wasm getThreadsCount() (XNNPACK's pool)");
    assert.equal(r.flag, true);
    assert.equal(r.threadedBinary, true, 'tfjs-backend-wasm-threaded-simd.wasm loaded (emscripten PThread present)');
    assert.equal(r.sharedMemory, true, 'the heap is a SharedArrayBuffer');
    assert.equal(r.runningWorkers, 1, 'XNNPACK runs n-1 = 1 pthread besides the main thread');
    assert.equal(r.loadedRunningWorkers, 1, 'and that worker finished loading');
    assert.equal(r.poolWorkers, 8, "emscripten's pthread pool");
    assert.equal(r.globalWorker, 'worker_threads.Worker', 'globalThis.Worker restored to what emscripten set');
    assertSameProduct(r.product, single.product);
    const speedup = r.gflops / single.gflops;
    t.diagnostic(`1024x1024 matmul: 1 thread ${single.gflops.toFixed(1)} GFLOP/s (${single.matmulMs.toFixed(1)} ms), ` +
      `2 threads ${r.gflops.toFixed(1)} GFLOP/s (${r.matmulMs.toFixed(1)} ms), x${speedup.toFixed(2)} (not asserted)`);
  });

  test('workers that fail while starting: falls back to one thread with a reason, same matmul', () => {
    const r = resultOf(runs.broken);
    assert.equal(r.setBackend, true, 'the backend still initialises');
    assert.equal(r.backend, 'wasm');
    assert.equal(r.status.requested, true);
    assert.equal(r.status.active, false);
    assert.equal(r.status.threads, 1);
    assert.match(r.status.reason ?? '', /failed to start.*simulated pthread worker failure/);
    assert.equal(r.getThreadsCount, 1);
    assert.equal(r.threadedBinary, false);
    assertSameProduct(r.product, resultOf(runs.single).product);
  });

  test('workers that never finish starting: falls back after DYTLAB_WASM_THREADS_TIMEOUT_MS', () => {
    const r = resultOf(runs.hang);
    assert.equal(r.setBackend, true);
    assert.equal(r.status.active, false);
    assert.match(r.status.reason ?? '', /did not start within 3000 ms/);
    assert.equal(r.getThreadsCount, 1);
    assertSameProduct(r.product, resultOf(runs.single).product);
  });

  test('every child process exits by itself (pthread workers do not keep it alive)', () => {
    for (const [name, run] of Object.entries(runs)) {
      assert.equal(run.killed, false, `${name}: still running after ${CHILD_LIMIT_MS / 1000} s, killed`);
      assert.equal(run.signal, null, `${name}: ended by signal ${run.signal}`);
      assert.equal(run.code, 0, `${name}: exit code ${run.code}; stderr:\n${run.stderr.slice(-1500)}`);
    }
  });
});

describe('wasm threads: the self-check at initBackend', () => {
  const run = (env: Record<string, string>) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.DYTLAB_WASM_THREADS;
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'threads-selfcheck-child.ts')],
      { cwd: ROOT, env: childEnv, encoding: 'utf8', timeout: CHILD_LIMIT_MS });
    const line = r.stdout.split('\n').find((l) => l.startsWith('@@selfcheck '));
    assert.ok(line, `no result; exit ${r.status}; stderr:\n${r.stderr.slice(-1500)}`);
    return JSON.parse(line.slice('@@selfcheck '.length)) as { threads: number; active: boolean; reason: string | null; simd: boolean; fixes: string[]; product: number[]; tanh: number };
  };
  const expectSane = (r: ReturnType<typeof run>) => {
    assert.deepEqual(r.product, [14, 32, 32, 77]);
    assert.ok(Math.abs(r.tanh - Math.tanh(0.5)) < 1e-6);
    assert.equal(r.simd, true, 'the SIMD kernels work on the (re-)created backend');
    assert.ok(r.fixes.includes('transpose-simd'));
  };

  test('passing: threads stay on (2+ CPUs)', { skip: availableParallelism() < 2 ? 'one CPU: threads are off by design' : false }, () => {
    const r = run({});
    assert.equal(r.active, true, `threads off: ${r.reason}`);
    assert.ok(r.threads >= 2);
    expectSane(r);
  });

  test('failing: the backend is re-created with one thread, and says why', { skip: availableParallelism() < 2 ? 'one CPU: threads are off by design' : false }, () => {
    const r = run({ DYTLAB_TEST_FAIL_THREAD_CHECK: '1' });
    assert.equal(r.active, false);
    assert.equal(r.threads, 1);
    assert.match(r.reason ?? '', /failed its self-check \(simulated failure/);
    expectSane(r);
  });
});

describe('sweep workers split the cores (workerEnv)', () => {
  test('N cores / jobs threads each, one thread (0) below 2, a caller-set value kept', () => {
    assert.equal(workerEnv({}, 2, 2).DYTLAB_WASM_THREADS, '0');
    assert.equal(workerEnv({}, 1, 2).DYTLAB_WASM_THREADS, '2');
    assert.equal(workerEnv({}, 2, 8).DYTLAB_WASM_THREADS, '4');
    assert.equal(workerEnv({}, 3, 8).DYTLAB_WASM_THREADS, '2');
    assert.equal(workerEnv({ DYTLAB_WASM_THREADS: '3' }, 2, 2).DYTLAB_WASM_THREADS, '3');
  });
});
