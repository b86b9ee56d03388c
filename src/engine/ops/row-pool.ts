// Row-parallel SIMD kernels: tfjs-wasm's threads serve only its own XNNPACK
// kernels, and our kernels ran on the main thread only. Kernels whose rows are independent (the squash
// forward, LayerNorm and RMSNorm forwards, the matrix product) can split
// their rows between the main thread and helper threads that instantiate the
// same SIMD module on the same shared memory, so every row's result is the
// same bits whichever thread computes it (nothing is reduced across rows).
// The norm backwards do reduce across rows (the parameter gradients); they
// split at chunk boundaries and leave one record of sums per chunk, which
// the caller adds up in chunk order, so their bits do not depend on the split
// either.
//
// The hand-off is a few Int32 slots in a SharedArrayBuffer (not in the wasm
// heap, which the module must not own): the main thread writes the job,
// bumps SEQ and notifies; each helper claims its share with a compare-exchange
// before it starts. When the main thread has done its own share and a share is
// still unclaimed (a helper not scheduled on a busy machine), it claims and
// computes that share itself instead of waiting, so a busy machine costs at
// most the single-threaded time.
//
// Only on shared memory (threaded wasm) and with DYTLAB_ROW_THREADS unset or
// > 1; setRowThreads(1) switches it off (benchmarks measure both).
import { Worker } from 'node:worker_threads';
import { wasmThreadsStatus } from '../wasm-threads.js';

/** Kernels the pool can split, with the positions of their row-major arguments. */
export const ROW_KERNELS = {
  // squash_fwd(kind, x, y, rows, C, alpha, aPC, s, sPC, gamma, beta, fOut); fOut may be 0 (none).
  squash_fwd: { rows: 3, cols: 4, rowPtrs: [1, 2], optRowPtrs: [11], perRowPtrs: [] as number[], f32: [] as number[] },
  // layernorm_fwd(x, y, rows, C, gamma, beta, eps, mean, rstd)
  layernorm_fwd: { rows: 2, cols: 3, rowPtrs: [0, 1], perRowPtrs: [7, 8], f32: [6] },
  // rmsnorm_fwd(x, y, rows, C, gamma, eps, rstd)
  rmsnorm_fwd: { rows: 2, cols: 3, rowPtrs: [0, 1], perRowPtrs: [6], f32: [5] },
  // Elementwise GELU over n floats (cols -1: one float per "row"); shares start at multiples
  // of 4 so every float sits in the same SIMD lane as on one thread.
  // gelu_fwd(x, y, n), gelu_bwd(x, dy, dx, n) and their exact forms.
  gelu_fwd: { rows: 2, cols: -1, rowPtrs: [0, 1], perRowPtrs: [] as number[], f32: [] as number[] },
  gelu_exact_fwd: { rows: 2, cols: -1, rowPtrs: [0, 1], perRowPtrs: [] as number[], f32: [] as number[] },
  gelu_bwd: { rows: 3, cols: -1, rowPtrs: [0, 1, 2], perRowPtrs: [] as number[], f32: [] as number[] },
  gelu_exact_bwd: { rows: 3, cols: -1, rowPtrs: [0, 1, 2], perRowPtrs: [] as number[], f32: [] as number[] },
  // bias_gelu_fwd(x, bias, y, rows, C) and its exact form.
  bias_gelu_fwd: { rows: 3, cols: 4, rowPtrs: [0, 2], perRowPtrs: [] as number[], f32: [] as number[] },
  bias_gelu_exact_fwd: { rows: 3, cols: 4, rowPtrs: [0, 2], perRowPtrs: [] as number[], f32: [] as number[] },
  // Norm backwards: the rows split at chunk starts (multiples of chunkRows), each share
  // writing its own chunks' records of per-channel sums (simd-math.ts; chunk_reduce adds
  // them in order afterwards, so the sums do not depend on the split).
  // squash_bwd(kind, x, dy, rows, C, alpha, aPC, s, sPC, gamma, dx, part, recBytes, chunkRows, fIn); fIn may be 0.
  squash_bwd: { rows: 3, cols: 4, rowPtrs: [1, 2, 10], optRowPtrs: [14], perRowPtrs: [] as number[], f32: [] as number[], chunks: { part: 11, rec: 12, rows: 13 } },
  // layernorm_bwd(x, dy, rows, C, gamma, mean, rstd, dx, part, recBytes, chunkRows)
  layernorm_bwd: { rows: 2, cols: 3, rowPtrs: [0, 1, 7], perRowPtrs: [5, 6], f32: [] as number[], chunks: { part: 8, rec: 9, rows: 10 } },
  // rmsnorm_bwd(x, dy, rows, C, gamma, rstd, dx, part, recBytes, chunkRows)
  rmsnorm_bwd: { rows: 2, cols: 3, rowPtrs: [0, 1, 6], perRowPtrs: [5], f32: [] as number[], chunks: { part: 7, rec: 8, rows: 9 } },
  // Fused attention, split by batch (see split()); scratch holds one share's worth per thread.
  // attn_fwd(qkv, z, P, scratch, B, T, H, D, causal, scale, rope, cos, sin)
  attn_fwd: { rows: 4, cols: 5, rowPtrs: [] as number[], perRowPtrs: [] as number[], f32: [9], attn: 'fwd' },
  // attn_bwd(qkv, dz, P, dqkv, scratch, B, T, H, D, causal, scale, rope, cos, sin)
  attn_bwd: { rows: 5, cols: 6, rowPtrs: [] as number[], perRowPtrs: [] as number[], f32: [10], attn: 'bwd' },
  // gemm_f32(flags, M, N, K, a, lda, b, ldb, c, ldc, pack): the rows of C split (see split()),
  // each share with its own GEMM_PACK_FLOATS of scratch (pack holds one per thread).
  gemm_f32: { rows: 1, cols: 2, rowPtrs: [] as number[], perRowPtrs: [] as number[], f32: [] as number[], gemm: true },
} as const;
export type RowKernel = keyof typeof ROW_KERNELS;
const OPS = Object.keys(ROW_KERNELS) as RowKernel[];

/** Scratch floats attn_fwd / attn_bwd use for one share (simd-attention.ts: 3 Tp D + 4 Tp, and 3 Tp D + 2 Tp^2). */
export function attnScratchFloats(kind: 'fwd' | 'bwd', T: number, D: number): number {
  const Tp = (T + 3) & ~3;
  return kind === 'fwd' ? 3 * Tp * D + 4 * Tp : 3 * Tp * D + 2 * Tp * Tp;
}

/** Below this many floats a job is not worth the hand-off (~10-50 us). */
export const MIN_POOL_FLOATS = 1 << 16;
/** Below this many multiply-adds a product is not worth it (~20 us on one thread at ~50 GFLOP/s). */
export const MIN_POOL_MACS = 1 << 19;
/** Must equal GEMM_PACK_FLOATS in assembly/simd-gemm.ts (GEMM_KC * GEMM_NC + 8; test/row-pool.test.ts checks). */
export const GEMM_PACK_FLOATS = 256 * 512 + 8;

/** How long the main thread sleeps between checks of a helper's share (ms). */
const WAIT_MS = 0.5;
/**
 * How long a thread spins on the control block before it sleeps (ms): a helper
 * after its share, the main thread waiting for one. Waking a sleeping thread
 * took 0.2 to over 1 ms on this project's VMs (a [4096, 768] DyT forward at 2
 * threads ran on the main thread alone in a sixth of the calls: the helper
 * woke after it was done), while a training step's pooled kernels come
 * tens of microseconds apart; OpenMP spins 200 ms by default for the same reason.
 */
export const SPIN_MS = 2;

// Control block layout (Int32 slots). Per share i (1..helpers): CLAIM_i, DONE_i.
const SEQ = 0, OP = 1, NSHARES = 2, READY = 3, ARGS = 4, MAX_ARGS = 16, SHARES = ARGS + MAX_ARGS, MAX_HELPERS = 7;
/** Shares computed by helpers so far (the main thread takes over unclaimed ones). */
const HELPED = SHARES + 2 * (MAX_HELPERS + 1);

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, file, control, index } = workerData;
const ctl = new Int32Array(control);
const f32 = new Float32Array(control);
const k = new WebAssembly.Instance(new WebAssembly.Module(require('node:fs').readFileSync(file)), { env: { memory } }).exports;
const KERNELS = ${JSON.stringify(ROW_KERNELS)};
const OPS = ${JSON.stringify(OPS)};
const SEQ = ${SEQ}, OP = ${OP}, NSHARES = ${NSHARES}, ARGS = ${ARGS}, SHARES = ${SHARES};
Atomics.add(ctl, ${READY}, 1);
let seen = Atomics.load(ctl, SEQ);
const SPIN_MS = ${SPIN_MS};
for (;;) {
  const until = performance.now() + SPIN_MS;
  for (let i = 1; Atomics.load(ctl, SEQ) === seen; i++) {
    if ((i & 255) === 0 && performance.now() > until) { Atomics.wait(ctl, SEQ, seen); break; }
  }
  seen = Atomics.load(ctl, SEQ);
  const share = index + 1;
  if (share >= Atomics.load(ctl, NSHARES)) continue;
  if (Atomics.compareExchange(ctl, SHARES + 2 * share, seen - 1, seen) !== seen - 1) continue; // taken by the main thread
  const name = OPS[Atomics.load(ctl, OP)];
  const spec = KERNELS[name];
  const n = Atomics.load(ctl, NSHARES);
  const args = [];
  for (let i = 0; i < ${MAX_ARGS}; i++) args.push(spec.f32.includes(i) ? f32[ARGS + i] : ctl[ARGS + i]);
  split(spec, args, share, n);
  k[name](...args);
  Atomics.add(ctl, ${HELPED}, 1);
  Atomics.store(ctl, SHARES + 2 * share + 1, seen);
  Atomics.notify(ctl, SHARES + 2 * share + 1);
}
${splitSource()}
`;

/** Narrows a kernel's arguments to share `share` of `n` (rows split as evenly as possible). Also run in the workers. */
function splitSource(): string {
  // (Written out: must equal attnScratchFloats above; test/row-pool.test.ts runs both through the pool.)
  return `function attnScratchFloats(kind, T, D) { const Tp = (T + 3) & ~3; return kind === 'fwd' ? 3 * Tp * D + 4 * Tp : 3 * Tp * D + 2 * Tp * Tp; }
  function split(spec, args, share, n) {
    const rows = args[spec.rows], C = spec.cols < 0 ? 1 : args[spec.cols];
    const unit = spec.chunks ? args[spec.chunks.rows] : 1, units = Math.ceil(rows / unit);
    const at = (i) => (i >= n ? rows : spec.cols < 0 ? Math.floor((rows * i) / n) & ~3 : Math.min(rows, Math.floor((units * i) / n) * unit));
    const r0 = at(share), r1 = at(share + 1);
    args[spec.rows] = r1 - r0;
    if (spec.chunks) args[spec.chunks.part] += (r0 / unit) * args[spec.chunks.rec];
    if (spec.attn) {
      // Batch b0's slices: qkv and dqkv [B, T, 3HD], z and dz [B, T, HD], P [B, H, T, Tp].
      const bwd = spec.attn === 'bwd', T = args[spec.rows + 1], H = args[spec.rows + 2], D = args[spec.rows + 3], Tp = (T + 3) & ~3;
      args[0] += r0 * T * 3 * H * D * 4;
      args[1] += r0 * T * H * D * 4;
      args[2] += r0 * H * T * Tp * 4;
      if (bwd) args[3] += r0 * T * 3 * H * D * 4;
      args[bwd ? 4 : 3] += share * attnScratchFloats(spec.attn, T, D) * 4;
      return;
    }
    if (spec.gemm) {
      // Row r0 of op(A) starts r0 floats in (A^T given) or r0 rows in; C at row r0; own scratch.
      args[4] += r0 * ((args[0] & 1) ? 4 : args[5] * 4);
      args[8] += r0 * args[9] * 4;
      args[10] += share * ${GEMM_PACK_FLOATS * 4};
      return;
    }
    for (const i of spec.rowPtrs) args[i] += r0 * C * 4;
    for (const i of spec.optRowPtrs ?? []) if (args[i] !== 0) args[i] += r0 * C * 4; // 0: not given
    for (const i of spec.perRowPtrs) args[i] += r0 * 4;
  }`;
}
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const split = new Function(`${splitSource()}; return split;`)() as
  (spec: (typeof ROW_KERNELS)[RowKernel], args: number[], share: number, n: number) => void;

interface Pool { memory: WebAssembly.Memory; ctl: Int32Array; f32: Float32Array; helpers: number; workers: Worker[] }

let pool: Pool | undefined;
let wanted = defaultRowThreads();
let lastProblem: string | undefined;

function defaultRowThreads(): number {
  const raw = process.env.DYTLAB_ROW_THREADS;
  if (raw === undefined) return Infinity; // as many as the wasm threads
  const v = Number(raw);
  return Number.isInteger(v) && v >= 1 ? v : 1;
}

/**
 * The most shares a job is split into: the wasm threads (1 when multithreading is
 * off), capped by setRowThreads / DYTLAB_ROW_THREADS and the helper limit. Callers
 * that hand each share its own scratch allocate this many.
 */
export function poolShares(): number {
  const s = wasmThreadsStatus();
  return Math.min(wanted, s.active ? s.threads : 1, MAX_HELPERS + 1);
}

/** Threads (main included) the row kernels may use: 1 turns the pool off. */
export function setRowThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setRowThreads: ${n} is not an integer >= 1`);
  wanted = n;
}

/** The pool's state, for status lines and tests. */
export function rowPoolStatus(): { threads: number; ready: number; helped: number; reason?: string } {
  if (!pool) return { threads: 1, ready: 0, helped: 0, ...(lastProblem ? { reason: lastProblem } : {}) };
  return { threads: pool.helpers + 1, ready: Atomics.load(pool.ctl, READY), helped: Atomics.load(pool.ctl, HELPED) };
}

/**
 * Starts the helpers for this memory (idempotent; they become ready
 * asynchronously, and until then every job runs on the main thread).
 */
function ensurePool(memory: WebAssembly.Memory, file: string, threads: number): Pool | undefined {
  if (pool?.memory === memory) return pool;
  if (pool) stopPool();
  const helpers = Math.min(MAX_HELPERS, threads - 1);
  if (helpers < 1) return undefined;
  try {
    const control = new SharedArrayBuffer(4 * (HELPED + 1));
    const p: Pool = { memory, ctl: new Int32Array(control), f32: new Float32Array(control), helpers, workers: [] };
    for (let i = 0; i < helpers; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory, file, control, index: i } });
      w.unref(); // never keeps the process alive
      w.on('error', (e) => { lastProblem = `row-kernel helper failed: ${e.message}`; if (pool === p) stopPool(); });
      p.workers.push(w);
    }
    pool = p;
    return p;
  } catch (e) {
    lastProblem = `row-kernel helpers could not start: ${(e as Error).message}`;
    return undefined;
  }
}

function stopPool(): void {
  for (const w of pool?.workers ?? []) void w.terminate();
  pool = undefined;
}

/**
 * Runs `kernels[name](...args)` with its rows split across the pool when the
 * memory is shared, the job is large enough and helpers are ready; otherwise
 * as one call. Results are bitwise the same either way.
 */
export function runRows(kernels: { memory: WebAssembly.Memory; shared: boolean; file: string } & Record<RowKernel, (...a: number[]) => void>,
  name: RowKernel, args: number[]): void {
  const spec = ROW_KERNELS[name];
  const threads = poolShares();
  const rows = args[spec.rows]!, C = spec.cols < 0 ? 1 : args[spec.cols]!;
  const big = 'gemm' in spec ? rows * C * args[3]! >= MIN_POOL_MACS
    : 'attn' in spec ? rows * args[spec.rows + 2]! * C * C * args[spec.rows + 3]! >= MIN_POOL_MACS // B H T^2 D
      : rows * C >= MIN_POOL_FLOATS;
  // What a share is made of: rows, or whole chunks of rows for the chunked kernels.
  const units = 'chunks' in spec ? Math.ceil(rows / args[spec.chunks.rows]!) : rows;
  const p = kernels.shared && threads > 1 && units >= 2 && big ? ensurePool(kernels.memory, kernels.file, threads) : undefined;
  // Helpers count themselves ready in shared memory (a training loop never yields to the event loop).
  if (!p || Atomics.load(p.ctl, READY) < p.helpers) {
    kernels[name](...args);
    return;
  }
  const n = Math.min(p.helpers + 1, units);
  const { ctl, f32 } = p;
  const seq = ctl[SEQ]! + 1;
  Atomics.store(ctl, OP, OPS.indexOf(name));
  Atomics.store(ctl, NSHARES, n);
  for (let i = 0; i < MAX_ARGS; i++) {
    if ((spec.f32 as readonly number[]).includes(i)) f32[ARGS + i] = args[i] ?? 0;
    else ctl[ARGS + i] = args[i] ?? 0;
  }
  for (let s = 1; s < n; s++) Atomics.store(ctl, SHARES + 2 * s, seq - 1); // unclaimed
  Atomics.store(ctl, SEQ, seq);
  Atomics.notify(ctl, SEQ);
  const mine = [...args];
  split(spec, mine, 0, n);
  kernels[name](...mine);
  for (let s = 1; s < n; s++) {
    if (Atomics.compareExchange(ctl, SHARES + 2 * s, seq - 1, seq) === seq - 1) {
      // Not started by its helper: do it here rather than wait.
      const theirs = [...args];
      split(spec, theirs, s, n);
      kernels[name](...theirs);
    } else {
      // Short waits: seen here, a helper's store + notify sometimes failed to wake this wait
      // (it ran to its timeout with the share done), so a long timeout cost whole seconds.
      const until = performance.now() + SPIN_MS;
      for (let i = 1; Atomics.load(ctl, SHARES + 2 * s + 1) !== seq; i++) {
        if ((i & 255) === 0 && performance.now() > until) Atomics.wait(ctl, SHARES + 2 * s + 1, Atomics.load(ctl, SHARES + 2 * s + 1), WAIT_MS);
      }
    }
  }
}
