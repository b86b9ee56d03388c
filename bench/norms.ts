// LayerNorm, RMSNorm and DyT (y = gamma * tanh(alpha * x + s) + beta), composed
// from stock tfjs ops and fused (src/engine/ops), forward and
// forward+backward, on every backend that loads, against the fastest real copy
// of the same tensor measured in the same process.
//
// Usage: node --import tsx bench/norms.ts [--quick]
// Writes bench/results/norms-<backend>-<timestamp>.json per backend.
//
// Method notes (also recorded in the JSON):
// - forward+backward = tf.grads(f)(inputs, dy): the gradient of sum(y * dy)
//   with respect to x and every parameter, seeded with dy directly. Writing
//   it as tf.grads(() => sum(f(...) * dy)) adds tf.ones + a broadcast multiply
//   of the full tensor to every backward (~30 ms on wasm at [4096, 768], more
//   than the norms themselves).
// - sync: cpu and wasm kernels run synchronously inside the op call; each
//   timed run still reads one element back (backend.readSync(dataId, 0, 1))
//   before stopping the clock. A full `await y.data()` would copy 12.6 MB out
//   of the wasm heap (~7 ms) and swamp what is measured. Other backends
//   (tfjs-node) use `await y.data()`.
// - copy: every candidate is checked to produce a distinct buffer; the fastest
//   real copy is the reference (tf.clone shares the buffer on cpu). Each row's
//   ratio is to that copy timed alternately with the row's own runs
//   (timeInterleaved), so a machine whose speed drifts moves both alike.
// - relaxed SIMD: DYTLAB_RELAXED_SIMD=1 measures the kernels' relaxed-SIMD
//   build (src/engine/ops/simd.ts); the note line says which ran.
import { tf } from '../src/engine/tf.js';
import type { Tensor } from '../src/engine/tf.js';
import { initBackend, type BackendName } from '../src/engine/backend.js';
import { setSimdTanhEnabled } from '../src/engine/wasm/setup.js';
import { relaxedSimdStatus } from '../src/engine/ops/simd.js';
import {
  fusedKernelStatus, layerNormOp, registerFusedKernels, rmsNormOp, setSimdKernelsEnabled, squashOp,
} from '../src/engine/ops/index.js';
import type { KernelImpl } from '../src/engine/ops/index.js';
import { machineInfo, writeResults } from './support.js';
import { timeInterleaved, timeRuns, type Timing } from '../src/analysis/efficiency.js';

const quick = process.argv.includes('--quick');
const SIZES: Array<[number, number]> = [[4096, 768], [1024, 128]];
const EPS = 1e-5;


interface Row {
  size: string;
  op: 'copy' | 'layernorm' | 'rmsnorm' | 'dyt';
  impl: string;
  fwd?: Timing;
  fwdBwd?: Timing;
  fwdVsCopy?: number;
  fwdBwdVsCopy?: number;
  /** The copy's median in the same interleaved runs as fwd / fwdBwd (the ratios' denominators). */
  copyFwdMs?: number;
  copyFwdBwdMs?: number;
}

// ---------------------------------------------------------------------------
// Timing

function repsFor(elements: number, slowPath: boolean): { warmup: number; reps: number } {
  if (quick) return { warmup: 1, reps: slowPath ? 3 : 5 };
  if (slowPath && elements > 1e6) return { warmup: 2, reps: 7 };
  return { warmup: 3, reps: 15 };
}

// ---------------------------------------------------------------------------
// The copy reference

/** Where a tensor's data lives, to tell a real copy from a shared buffer. */
function storageKey(t: Tensor): string {
  const b = tf.backend() as unknown as {
    dataIdMap?: { get(id: unknown): { memoryOffset: number } | undefined };
    readSync(id: unknown): unknown;
  };
  if (tf.getBackend() === 'wasm') return `heap@${b.dataIdMap?.get(t.dataId)?.memoryOffset}`;
  if (tf.getBackend() === 'cpu') {
    const v = b.readSync(t.dataId) as Float32Array;
    return `${buffers.get(v.buffer) ?? registerBuffer(v.buffer)}@${v.byteOffset}`;
  }
  return `dataId@${dataIds.get(t.dataId) ?? registerDataId(t.dataId)}`;
}
const buffers = new Map<ArrayBufferLike, number>();
const dataIds = new Map<object, number>();
function registerBuffer(b: ArrayBufferLike): number { buffers.set(b, buffers.size); return buffers.size - 1; }
function registerDataId(d: object): number { dataIds.set(d, dataIds.size); return dataIds.size - 1; }

const COPY_CANDIDATES: Array<[string, (x: Tensor) => Tensor]> = [
  ['tf.clone(x)', (x) => tf.clone(x)],
  ['tf.add(x, 0)', (x) => tf.add(x, 0)],
  ['tf.mul(x, 1)', (x) => tf.mul(x, 1)],
];

async function fastestCopy(x: Tensor, elements: number): Promise<{ method: string; run: (x: Tensor) => Tensor; timing: Timing; candidates: Record<string, unknown> }> {
  const candidates: Record<string, unknown> = {};
  let best: { method: string; run: (x: Tensor) => Tensor; timing: Timing } | undefined;
  for (const [name, f] of COPY_CANDIDATES) {
    const probe = f(x);
    const real = storageKey(probe) !== storageKey(x);
    probe.dispose();
    if (!real) { candidates[name] = 'shares the input buffer: not a copy'; continue; }
    const { warmup, reps } = repsFor(elements, false);
    const timing = await timeRuns(() => [f(x)], warmup, reps);
    candidates[name] = timing;
    if (!best || timing.medianMs < best.timing.medianMs) best = { method: name, run: f, timing };
  }
  if (!best) throw new Error(`no copy candidate produced a real copy on ${tf.getBackend()}`);
  return { ...best, candidates };
}

// ---------------------------------------------------------------------------
// The ops

interface Inputs { x: Tensor; dy: Tensor; alpha: Tensor; s: Tensor; gamma: Tensor; beta: Tensor }

type Fwd = (...t: Tensor[]) => Tensor;

function variantFns(op: Row['op'], impl: KernelImpl, inp: Inputs): { fwd: Fwd; args: Tensor[] } {
  switch (op) {
    case 'layernorm':
      return { fwd: (x, g, b) => layerNormOp(x!, g!, b!, EPS, impl), args: [inp.x, inp.gamma, inp.beta] };
    case 'rmsnorm':
      return { fwd: (x, g) => rmsNormOp(x!, g!, EPS, impl), args: [inp.x, inp.gamma] };
    default:
      return {
        fwd: (x, alpha, s, gamma, beta) => squashOp(x!, { alpha: alpha!, s: s!, gamma: gamma!, beta: beta! }, 'tanh', impl),
        args: [inp.x, inp.alpha, inp.s, inp.gamma, inp.beta],
      };
  }
}

/** Runs `f` with tfjs-wasm's stock (scalar) Tanh kernel in place of the engine's SIMD one. */
async function withStockTanh<T>(f: () => Promise<T>): Promise<T> {
  setSimdTanhEnabled(false);
  try {
    return await f();
  } finally {
    setSimdTanhEnabled(true);
  }
}

// ---------------------------------------------------------------------------

async function benchBackend(backend: string): Promise<{ rows: Row[]; copies: Record<string, unknown>; notes: string[] }> {
  // The engine as users get it: backend fixes installed (matmul, Identity without copy, SIMD Tanh).
  const info = await initBackend(backend as BackendName);
  const notes: string[] = [`engine fixes: ${info.fixes.join(', ') || 'none'}`];
  const status = registerFusedKernels(backend);
  const fused = status.registered.length > 0;
  if (!fused) notes.push(`no fused kernels: ${status.reason}`);
  else if (backend === 'wasm') {
    const r = relaxedSimdStatus();
    notes.push(status.simd ? `fused wasm kernels: SIMD module, relaxed SIMD ${r.on ? 'on' : 'off'} (${r.reason})` : `fused wasm kernels WITHOUT SIMD: ${status.reason}`);
  }
  const rows: Row[] = [];
  const copies: Record<string, unknown> = {};

  for (const [R, C] of SIZES) {
    const size = `[${R}, ${C}]`;
    const elements = R * C;
    const inp: Inputs = {
      x: tf.randomNormal([R, C], 0, 1, 'float32', 1), dy: tf.randomNormal([R, C], 0, 1, 'float32', 2),
      alpha: tf.tensor1d([0.5]), s: tf.tensor1d([0]), gamma: tf.randomNormal([C], 1, 0.1, 'float32', 3),
      beta: tf.randomNormal([C], 0, 0.1, 'float32', 4),
    };
    const copy = await fastestCopy(inp.x, elements);
    copies[size] = { method: copy.method, candidates: copy.candidates };
    rows.push({ size, op: 'copy', impl: copy.method, fwd: copy.timing, fwdVsCopy: 1 });
    printRow(rows[rows.length - 1]!);

    // A group of rows is timed together: the copy and each row's op alternate rep by rep
    // (timeInterleaved), so the ratios to the copy and between the rows of a group (fused
    // DyT against fused LayerNorm) are taken at the same moments on a machine whose speed drifts.
    const measure = async (group: Array<{ op: Row['op']; impl: KernelImpl; label: string }>): Promise<void> => {
      const fns = group.map(({ op, impl }) => variantFns(op, impl, inp));
      const slow = group.some(({ impl }) => impl === 'composed') || backend !== 'wasm';
      const { warmup, reps } = repsFor(elements, slow);
      const copyRun = (): Tensor[] => [copy.run(inp.x)];
      const [c1, ...f] = await timeInterleaved([copyRun, ...fns.map(({ fwd, args }) => () => [fwd(...args)])], warmup, reps);
      const [c2, ...fb] = await timeInterleaved([copyRun, ...fns.map(({ fwd, args }) => {
        const grads = tf.grads(fwd);
        return () => grads(args, inp.dy);
      })], warmup, reps);
      group.forEach(({ op, label }, i) => {
        rows.push({
          size, op, impl: label, fwd: f[i], fwdBwd: fb[i], copyFwdMs: c1!.medianMs, copyFwdBwdMs: c2!.medianMs,
          fwdVsCopy: f[i]!.medianMs / c1!.medianMs, fwdBwdVsCopy: fb[i]!.medianMs / c2!.medianMs,
        });
        printRow(rows[rows.length - 1]!);
      });
    };

    if (fused) await measure((['layernorm', 'rmsnorm', 'dyt'] as const).map((op) => ({ op, impl: 'fused' as const, label: 'fused' })));
    for (const op of ['layernorm', 'rmsnorm', 'dyt'] as const) {
      if (fused && backend === 'wasm' && op === 'dyt') {
        // The fallback when the memory capture fails: same kernels, JS loops on heap views.
        setSimdKernelsEnabled(false);
        try { await measure([{ op, impl: 'fused', label: 'fused, SIMD off (JS loops)' }]); } finally { setSimdKernelsEnabled(true); }
      }
      if (op === 'dyt' && backend === 'wasm') {
        await withStockTanh(() => measure([{ op: 'dyt', impl: 'composed', label: 'composed (stock tfjs Tanh)' }]));
        await measure([{ op: 'dyt', impl: 'composed', label: 'composed (SIMD Tanh kernel)' }]);
      } else {
        await measure([{ op, impl: 'composed', label: 'composed' }]);
      }
    }
    tf.dispose(Object.values(inp));
  }
  return { rows, copies, notes };
}

function fmt(t?: Timing): string {
  return t ? t.medianMs.toFixed(2) : '-';
}

function printHeader(backend: string): void {
  console.log(`\n== ${backend} ==  (median ms; x copy = ratio to the fastest real copy of x, timed alternately with each row)`);
  console.log(`${'size'.padEnd(12)} ${'op'.padEnd(10)} ${'impl'.padEnd(28)} ${'fwd ms'.padStart(9)} ${'x copy'.padStart(7)} ${'fwd+bwd ms'.padStart(11)} ${'x copy'.padStart(7)}`);
}

function printRow(r: Row): void {
  console.log(`${r.size.padEnd(12)} ${r.op.padEnd(10)} ${r.impl.padEnd(28)} ${fmt(r.fwd).padStart(9)} ${(r.fwdVsCopy?.toFixed(1) ?? '-').padStart(7)} ` +
    `${fmt(r.fwdBwd).padStart(11)} ${(r.fwdBwdVsCopy?.toFixed(1) ?? '-').padStart(7)}`);
}

interface Target { target: string; size: string; met: boolean; detail: string }

function wasmTargets(rows: Row[]): Target[] {
  const out: Target[] = [];
  for (const [R, C] of SIZES) {
    const size = `[${R}, ${C}]`;
    const get = (op: Row['op'], impl: string): Row | undefined => rows.find((r) => r.size === size && r.op === op && r.impl === impl);
    const copy = rows.find((r) => r.size === size && r.op === 'copy');
    const dyt = get('dyt', 'fused'), ln = get('layernorm', 'fused');
    const stock = get('dyt', 'composed (stock tfjs Tanh)'), simdTanh = get('dyt', 'composed (SIMD Tanh kernel)');
    if (!copy || !dyt?.fwd || !dyt.fwdBwd || !ln?.fwdBwd) continue;
    const r1 = dyt.fwdVsCopy!;
    // Issue 16's targets (the 2x of issue 8 before it).
    out.push({ target: 'fused DyT forward within 1.5x of a copy', size, met: r1 <= 1.5,
      detail: `${dyt.fwd.medianMs.toFixed(2)} ms vs copy ${dyt.copyFwdMs!.toFixed(2)} ms timed alternately (${r1.toFixed(1)}x)` });
    out.push({ target: 'fused DyT fwd+bwd no slower than fused LayerNorm fwd+bwd', size, met: dyt.fwdBwd.medianMs <= ln.fwdBwd.medianMs,
      detail: `${dyt.fwdBwd.medianMs.toFixed(2)} ms vs ${ln.fwdBwd.medianMs.toFixed(2)} ms (${(dyt.fwdBwd.medianMs / ln.fwdBwd.medianMs).toFixed(2)}x)` });
    if (stock?.fwdBwd) {
      const sp = stock.fwdBwd.medianMs / dyt.fwdBwd.medianMs;
      const vsSimd = simdTanh?.fwdBwd ? `; vs composed with the SIMD Tanh kernel: ${(simdTanh.fwdBwd.medianMs / dyt.fwdBwd.medianMs).toFixed(1)}x` : '';
      out.push({ target: 'fused DyT fwd+bwd >= 3x faster than composed DyT with tf.tanh (stock)', size, met: sp >= 3,
        detail: `${sp.toFixed(1)}x (${stock.fwdBwd.medianMs.toFixed(2)} ms -> ${dyt.fwdBwd.medianMs.toFixed(2)} ms)${vsSimd}` });
    }
  }
  return out;
}

async function availableBackends(): Promise<{ names: string[]; notes: string[] }> {
  const names = ['wasm', 'cpu'];
  const notes: string[] = [];
  try {
    const mod = '@tensorflow/tfjs-node';
    await import(mod);
    if (tf.findBackendFactory('tensorflow')) names.unshift('tensorflow');
  } catch (e) {
    notes.push(`tensorflow (tfjs-node) not available: ${(e as Error).message.split('\n')[0]}`);
  }
  return { names, notes };
}

async function main(): Promise<void> {
  const { names, notes } = await availableBackends();
  notes.forEach((n) => console.log(`note: ${n}`));
  console.log(`norm benchmarks${quick ? ' (--quick)' : ''}: backends ${names.join(', ')}`);
  for (const backend of names) {
    printHeader(backend);
    const { rows, copies, notes: bnotes } = await benchBackend(backend);
    bnotes.forEach((n) => console.log(`note: ${n}`));
    const targets = backend === 'wasm' ? wasmTargets(rows) : [];
    if (targets.length) {
      console.log('\nissue targets (wasm):');
      for (const t of targets) console.log(`  [${t.met ? 'MET' : 'NOT MET'}] ${t.target} at ${t.size}: ${t.detail}`);
    }
    const file = writeResults('norms', backend, {
      machine: machineInfo(), backend, quick, fusedKernels: fusedKernelStatus(),
      method: {
        fwdBwd: 'tf.grads(f)(inputs, dy): gradient of sum(y * dy) w.r.t. x and all parameters, seeded with dy',
        sync: backend === 'wasm' || backend === 'cpu' ? 'backend.readSync(dataId, 0, 1) (kernels run synchronously)' : 'await tensor.data()',
        timing: 'median of timed runs after warm-up; minMs also recorded',
        dyt: 'alpha, s scalar ([1]); composed DyT uses tf.tanh',
      },
      copies, rows, targets, notes: [...notes, ...bnotes],
    });
    console.log(`wrote ${file}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
