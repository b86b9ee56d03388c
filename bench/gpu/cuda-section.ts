// The CUDA path of the GPU benchmark: our kernels (src/engine/cuda) through the
// driver API. Correctness of every kernel against float64 (fresh random
// inputs, outputs poisoned with NaN first), then forward and forward+backward
// times against a device-to-device copy of the same size in the same run.
//
// Timing: CUDA events around `reps` back-to-back launches, per-launch mean,
// median of 5 such rounds after warm-up. Each round starts with a spin kernel
// that keeps the GPU busy while the host queues the round (a launch through
// koffi costs microseconds of host time, as long as a small kernel runs), so
// the events time the kernels back to back, not the host. Buffers rotate over enough sets to
// exceed 3x the L2 cache, so [4096, 768] (12.6 MB per tensor, less than an
// H100's 50 MB L2) is measured from DRAM like [4096, 4096].
import { CudaKernels, NoCudaDriverError } from '../../src/engine/cuda/index.js';
import type { DevicePtr, SquashBuffers } from '../../src/engine/cuda/index.js';
import {
  EPS, NORM_CHANNELS, SQUASH_SHAPES, correctnessRow, median, normErrors, rng, squashCaseData, squashErrors, timingRow,
} from './common.js';
import type { CorrectnessRow, SquashCaseData, TargetRow, TimingRow } from './common.js';

const NAN_BITS = 0x7fc00000;

export interface CudaSection {
  status: 'ok' | 'unavailable' | 'failed';
  reason?: string;
  device?: Record<string, unknown>;
  modules?: Record<string, unknown>;
  correctness: CorrectnessRow[];
  timings: TimingRow[];
  tuning: TimingRow[];
  targets: TargetRow[];
  /** Timed rounds in which the host took longer to queue the launches than the spin kernel ran (0 expected). */
  hostBoundRounds?: number;
}

class Buffers {
  private readonly owned: DevicePtr[] = [];
  constructor(private readonly k: CudaKernels) {}
  alloc(n: number): DevicePtr {
    const p = this.k.driver.alloc(4 * n);
    this.owned.push(p);
    return p;
  }
  upload(a: Float32Array): DevicePtr {
    const p = this.alloc(a.length);
    this.k.driver.upload(p, a);
    return p;
  }
  /** Allocated and filled with NaN, so an output the kernel never writes shows up. */
  poisoned(n: number): DevicePtr {
    const p = this.alloc(n);
    this.k.driver.memset32(p, NAN_BITS, n);
    return p;
  }
  read(p: DevicePtr, n: number): Float32Array {
    const out = new Float32Array(n);
    this.k.driver.download(out, p);
    return out;
  }
  freeAll(): void {
    for (const p of this.owned) this.k.driver.free(p);
    this.owned.length = 0;
  }
}

function checkSquash(k: CudaKernels, shape: (typeof SQUASH_SHAPES)[number], d: SquashCaseData, perChannel: boolean): CorrectnessRow {
  const b = new Buffers(k);
  try {
    const n = d.rows * d.C;
    const p: SquashBuffers = {
      x: b.upload(d.x), alpha: b.upload(d.alpha), s: b.upload(d.s), gamma: b.upload(d.gamma), beta: b.upload(d.beta),
      alphaPerChannel: perChannel, shiftPerChannel: perChannel,
    };
    const dy = b.upload(d.dy);
    const y = b.poisoned(n);
    const out = { dx: b.poisoned(n), dalpha: b.poisoned(d.alpha.length), ds: b.poisoned(d.s.length), dgamma: b.poisoned(d.C), dbeta: b.poisoned(d.C) };
    k.squashForward(shape, d.rows, d.C, p, y);
    k.squashBackward(shape, d.rows, d.C, p, dy, out);
    k.driver.synchronize();
    const errors = squashErrors(shape, d, {
      y: b.read(y, n), dx: b.read(out.dx, n), dalpha: b.read(out.dalpha, d.alpha.length), ds: b.read(out.ds, d.s.length),
      dgamma: b.read(out.dgamma, d.C), dbeta: b.read(out.dbeta, d.C),
    });
    return correctnessRow('cuda', `squash ${shape}`, d.rows, d.C, perChannel ? 'per-channel alpha, s' : 'scalar alpha, s', errors);
  } finally {
    b.freeAll();
  }
}

function checkNorm(k: CudaKernels, centred: boolean, d: SquashCaseData): CorrectnessRow {
  const b = new Buffers(k);
  try {
    const n = d.rows * d.C;
    const x = b.upload(d.x), dy = b.upload(d.dy), gamma = b.upload(d.gamma), beta = b.upload(d.beta);
    const y = b.poisoned(n), rstd = b.poisoned(d.rows), dx = b.poisoned(n), dgamma = b.poisoned(d.C);
    let dbeta: DevicePtr | undefined;
    if (centred) {
      const mean = b.poisoned(d.rows);
      dbeta = b.poisoned(d.C);
      k.layerNormForward(d.rows, d.C, x, gamma, beta, EPS, { y, mean, rstd });
      k.layerNormBackward(d.rows, d.C, x, dy, gamma, mean, rstd, { dx, dgamma, dbeta });
    } else {
      k.rmsNormForward(d.rows, d.C, x, gamma, EPS, { y, rstd });
      k.rmsNormBackward(d.rows, d.C, x, dy, gamma, rstd, { dx, dgamma });
    }
    k.driver.synchronize();
    const errors = normErrors(centred, d, {
      y: b.read(y, n), dx: b.read(dx, n), dgamma: b.read(dgamma, d.C), ...(dbeta ? { dbeta: b.read(dbeta, d.C) } : {}),
    });
    return correctnessRow('cuda', centred ? 'layernorm' : 'rmsnorm', d.rows, d.C, `vpt for C=${d.C}`, errors);
  } finally {
    b.freeAll();
  }
}

/** Per-launch milliseconds: events around `reps` launches queued behind a spin kernel, median of `rounds`. */
function time(k: CudaKernels, run: (i: number) => void, reps: number, rounds = 5): number {
  const d = k.driver;
  const e0 = d.createEvent(), e1 = d.createEvent();
  try {
    for (let i = 0; i < 3; i++) run(i);
    d.synchronize();
    // How long the host takes to queue one round; the spin must outlast it.
    const h0 = performance.now();
    for (let i = 0; i < reps; i++) run(i);
    const spinMs = Math.min(500, 1 + 2 * (performance.now() - h0));
    d.synchronize();
    const ms: number[] = [];
    for (let r = 0; r < rounds; r++) {
      k.spin(spinMs);
      d.record(e0);
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) run(i);
      if (performance.now() - t0 > spinMs) hostBound++;
      d.record(e1);
      ms.push(d.elapsed(e0, e1) / reps);
    }
    return median(ms);
  } finally {
    d.destroyEvent(e0);
    d.destroyEvent(e1);
  }
}

/** Rounds whose queuing outlasted the spin (the GPU may have waited for the host): reported. */
let hostBound = 0;

interface SizeSet { x: DevicePtr; y: DevicePtr; dy: DevicePtr; dx: DevicePtr; mean: DevicePtr; rstd: DevicePtr }

function timeSize(k: CudaKernels, rows: number, C: number, reps: number, r: () => number, tuningOut: TimingRow[]): TimingRow[] {
  const b = new Buffers(k);
  const n = rows * C, bytes = 4 * n, size = `[${rows}, ${C}]`;
  try {
    // Enough buffer sets that one pass over them does not fit in L2.
    const sets = Math.max(1, Math.min(8, Math.ceil((3 * k.info.l2Bytes) / (4 * bytes))));
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = 2 * r() - 1;
    const S: SizeSet[] = Array.from({ length: sets }, () => {
      const x = b.upload(data), dy = b.upload(data);
      return { x, dy, y: b.alloc(n), dx: b.alloc(n), mean: b.alloc(rows), rstd: b.alloc(rows) };
    });
    const gamma = b.upload(new Float32Array(C).fill(1)), beta = b.alloc(C);
    k.driver.memset32(beta, 0, C);
    const alpha = b.upload(Float32Array.of(0.5)), s = b.upload(Float32Array.of(0));
    const grads = { dalpha: b.alloc(1), ds: b.alloc(1), dgamma: b.alloc(C), dbeta: b.alloc(C) };
    const p = (i: number): SquashBuffers => ({ x: S[i % sets]!.x, alpha, s, gamma, beta, alphaPerChannel: false, shiftPerChannel: false });
    const note = sets > 1 ? `${sets} buffer sets rotated (L2 ${(k.info.l2Bytes / 2 ** 20).toFixed(0)} MiB)` : undefined;

    const rows_: TimingRow[] = [];
    const copy = timingRow('cuda', size, 'copy', 'cuMemcpyDtoDAsync', 'fwd',
      time(k, (i) => k.driver.copyAsync(S[i % sets]!.y, S[i % sets]!.x, bytes), reps), 2 * bytes, undefined, note);
    rows_.push(copy);
    if (n % 4 === 0) {
      rows_.push(timingRow('cuda', size, 'copy', 'float4 copy kernel', 'fwd',
        time(k, (i) => k.copyKernel(S[i % sets]!.x, S[i % sets]!.y, n), reps), 2 * bytes, copy, note));
    }
    const ops = {
      dyt: {
        fwd: (i: number) => k.squashForward('tanh', rows, C, p(i), S[i % sets]!.y),
        bwd: (i: number) => k.squashBackward('tanh', rows, C, p(i), S[i % sets]!.dy, { dx: S[i % sets]!.dx, ...grads }),
      },
      layernorm: {
        fwd: (i: number) => { const t = S[i % sets]!; k.layerNormForward(rows, C, t.x, gamma, beta, EPS, { y: t.y, mean: t.mean, rstd: t.rstd }); },
        bwd: (i: number) => { const t = S[i % sets]!; k.layerNormBackward(rows, C, t.x, t.dy, gamma, t.mean, t.rstd, { dx: t.dx, dgamma: grads.dgamma, dbeta: grads.dbeta }); },
      },
      rmsnorm: {
        fwd: (i: number) => { const t = S[i % sets]!; k.rmsNormForward(rows, C, t.x, gamma, EPS, { y: t.y, rstd: t.rstd }); },
        bwd: (i: number) => { const t = S[i % sets]!; k.rmsNormBackward(rows, C, t.x, t.dy, gamma, t.rstd, { dx: t.dx, dgamma: grads.dgamma }); },
      },
    };
    for (const [op, f] of Object.entries(ops)) {
      rows_.push(timingRow('cuda', size, op, 'fused (dytlab CUDA)', 'fwd', time(k, f.fwd, reps), 2 * bytes, copy, note));
      rows_.push(timingRow('cuda', size, op, 'fused (dytlab CUDA)', 'fwd+bwd', time(k, (i) => { f.fwd(i); f.bwd(i); }, reps), 5 * bytes, copy, note));
    }
    // Launch-parameter variants of the backward and norm kernels, to show how much the defaults leave.
    const saved = { ...k.tuning };
    try {
      for (const bps of [2, 4, 8]) {
        for (const maxThreads of [256, 1024]) {
          k.tuning = { ...saved, backwardBlocksPerSM: bps, normMaxThreads: maxThreads };
          const label = `blocks/SM ${bps}, norm threads <= ${maxThreads}`;
          for (const op of ['dyt', 'layernorm'] as const) {
            if (op === 'dyt' && maxThreads !== 256) continue; // the squash kernels ignore normMaxThreads
            const f = ops[op];
            tuningOut.push(timingRow('cuda', size, op, label, 'fwd+bwd', time(k, (i) => { f.fwd(i); f.bwd(i); }, reps), 5 * bytes, copy, note));
          }
        }
      }
    } finally {
      k.tuning = saved;
    }
    return rows_;
  } finally {
    b.freeAll();
  }
}

function targets(t: TimingRow[], correctness: CorrectnessRow[], sizes: string[]): TargetRow[] {
  const out: TargetRow[] = [];
  // Speed of kernels that compute the wrong thing is not judged.
  const correct = correctness.length > 0 && correctness.every((c) => c.ok);
  const judge = (met: boolean): boolean | null => (correct ? met : null);
  const why = correct ? '' : 'not judged (kernels failed correctness): ';
  for (const size of sizes) {
    const get = (op: string, pass: string): TimingRow | undefined => t.find((r) => r.size === size && r.op === op && r.pass === pass && r.impl.startsWith('fused'));
    const dytF = get('dyt', 'fwd'), dytFB = get('dyt', 'fwd+bwd'), lnFB = get('layernorm', 'fwd+bwd');
    if (dytF?.ofCopyBandwidth !== undefined) {
      out.push({ target: 'DyT forward >= 85% of copy bandwidth', size, met: judge(dytF.ofCopyBandwidth >= 0.85),
        detail: `${why}${dytF.gbps.toFixed(0)} GB/s = ${(100 * dytF.ofCopyBandwidth).toFixed(1)}% of the copy's` });
    }
    if (dytFB && lnFB) {
      const ratio = dytFB.ms / lnFB.ms;
      out.push({ target: 'DyT fwd+bwd within 1.3x of fused LayerNorm fwd+bwd', size, met: judge(ratio <= 1.3),
        detail: `${why}${dytFB.ms.toFixed(4)} ms vs ${lnFB.ms.toFixed(4)} ms (${ratio.toFixed(2)}x)` });
    }
  }
  const bad = correctness.filter((c) => !c.ok);
  out.push({ target: 'every CUDA kernel correct to 1e-5 relative', size: 'all', met: correctness.length > 0 && bad.length === 0,
    detail: `${correctness.length - bad.length}/${correctness.length} cases; worst ${Math.max(...correctness.map((c) => c.maxRelErr)).toExponential(2)}` +
      (bad.length ? `; failing: ${bad.slice(0, 5).map((c) => `${c.kernel} ${c.size} ${c.variant}`).join(', ')}` : '') });
  return out;
}

export function runCudaSection(opts: { sizes: Array<[number, number]>; reps: number; seed: number; log: (s: string) => void }): CudaSection {
  const section: CudaSection = { status: 'ok', correctness: [], timings: [], tuning: [], targets: [] };
  let k: CudaKernels;
  try {
    k = CudaKernels.open(0);
  } catch (e) {
    section.status = e instanceof NoCudaDriverError ? 'unavailable' : 'failed';
    section.reason = (e as Error).message;
    opts.log(`cuda: ${section.reason}`);
    return section;
  }
  try {
    section.device = { ...k.info };
    opts.log(`cuda: ${k.info.name}, cc ${k.info.computeCapability}, ${k.info.multiprocessors} SMs, driver ${k.info.driverVersion}`);
    const r = rng(opts.seed);
    for (const shape of SQUASH_SHAPES) {
      for (const [rows, C] of [[64, 768], [37, 77], [1000, 256]] as const) {
        for (const pc of [false, true]) section.correctness.push(checkSquash(k, shape, squashCaseData(rows, C, pc, r), pc));
      }
    }
    for (const centred of [true, false]) {
      for (const C of NORM_CHANNELS) section.correctness.push(checkNorm(k, centred, squashCaseData(C > 4096 ? 8 : 33, C, false, r)));
      section.correctness.push(checkNorm(k, centred, squashCaseData(3000, 512, false, r)));
    }
    section.modules = k.modules.loaded;
    const bad = section.correctness.filter((c) => !c.ok).length;
    opts.log(`cuda: correctness ${section.correctness.length - bad}/${section.correctness.length} within 1e-5`);
    for (const [rows, C] of opts.sizes) {
      section.timings.push(...timeSize(k, rows, C, opts.reps, r, section.tuning));
      opts.log(`cuda: timed [${rows}, ${C}]`);
    }
    section.targets = targets(section.timings, section.correctness, opts.sizes.map(([a, b]) => `[${a}, ${b}]`));
    section.hostBoundRounds = hostBound;
  } catch (e) {
    section.status = 'failed';
    section.reason = (e as Error).stack ?? String(e);
    opts.log(`cuda: FAILED ${(e as Error).message}`);
  } finally {
    try { k.close(); } catch { /* closing after a failure */ }
  }
  return section;
}
