// Shared by the sections of the GPU benchmark (bench/gpu/gpu-bench.ts): what
// is checked, the float64 ground truth, result shapes and formatting.
import { maxRelErr, normBackward64, normForward64, squashBackward64, squashForward64 } from '../../src/engine/ops/reference.js';
import { SQUASH_SHAPES, type SquashShape } from '../../src/engine/squash-shapes.js';
import { Rng } from '../../src/data/rng.js';

export { SQUASH_SHAPES };
export type SquashShapeName = SquashShape;
export const EPS = 1e-5;
/** The issue's correctness target: max |gpu - float64| / max |float64| per output. */
export const REL_TOL = 1e-5;

export interface CorrectnessRow {
  path: 'cuda' | 'webgpu';
  kernel: string;
  size: string;
  variant: string;
  /** Max relative error per output (y, dx, dalpha, ...). */
  errors: Record<string, number>;
  maxRelErr: number;
  ok: boolean;
}

export interface TimingRow {
  path: string;
  size: string;
  op: 'copy' | 'dyt' | 'layernorm' | 'rmsnorm' | string;
  impl: string;
  pass: 'fwd' | 'fwd+bwd';
  ms: number;
  /** Bytes that must move (one read of each input, one write of each output, full-size tensors only). */
  bytes: number;
  gbps: number;
  /** ms / the copy's ms at the same size on the same path. */
  xCopy?: number;
  /** achieved GB/s / the copy's achieved GB/s. */
  ofCopyBandwidth?: number;
  note?: string;
}

export interface TargetRow { target: string; size: string; met: boolean | null; detail: string }

/** Seeded uniform in [0, 1) (the lab's xoshiro128** generator); the seed of a run is recorded. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

export function randn(n: number, r: () => number, mean = 0, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = mean + m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = mean + m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export interface SquashCaseData {
  rows: number; C: number; x: Float32Array; dy: Float32Array;
  alpha: Float32Array; s: Float32Array; gamma: Float32Array; beta: Float32Array;
}

/** Fresh inputs for one correctness case; per-channel alpha / s when asked. */
export function squashCaseData(rows: number, C: number, perChannel: boolean, r: () => number): SquashCaseData {
  return {
    rows, C,
    x: randn(rows * C, r, 0.3, 1.5), dy: randn(rows * C, r, 0.2, 1),
    alpha: perChannel ? randn(C, r, 0.8, 0.2) : Float32Array.of(0.8),
    s: perChannel ? randn(C, r, 0.1, 0.2) : Float32Array.of(0.1),
    gamma: randn(C, r, 1, 0.2), beta: randn(C, r, 0, 0.2),
  };
}

export interface SquashResult { y: ArrayLike<number>; dx: ArrayLike<number>; dalpha: ArrayLike<number>; ds: ArrayLike<number>; dgamma: ArrayLike<number>; dbeta: ArrayLike<number> }

export function squashErrors(shape: SquashShapeName, d: SquashCaseData, got: SquashResult): Record<string, number> {
  const y = squashForward64(shape, d.x, d.rows, d.C, d);
  const g = squashBackward64(shape, d.x, d.dy, d.rows, d.C, d);
  return {
    y: maxRelErr(got.y, y), dx: maxRelErr(got.dx, g.dx), dalpha: maxRelErr(got.dalpha, g.dalpha),
    ds: maxRelErr(got.ds, g.ds), dgamma: maxRelErr(got.dgamma, g.dgamma), dbeta: maxRelErr(got.dbeta, g.dbeta),
  };
}

export interface NormResult { y: ArrayLike<number>; dx: ArrayLike<number>; dgamma: ArrayLike<number>; dbeta?: ArrayLike<number> }

export function normErrors(centred: boolean, d: SquashCaseData, got: NormResult): Record<string, number> {
  const f = normForward64(centred, d.x, d.rows, d.C, d.gamma, d.beta, EPS);
  const g = normBackward64(centred, d.x, d.dy, d.rows, d.C, d.gamma, EPS);
  const e: Record<string, number> = { y: maxRelErr(got.y, f.y), dx: maxRelErr(got.dx, g.dx), dgamma: maxRelErr(got.dgamma, g.dgamma) };
  if (centred && got.dbeta) e['dbeta'] = maxRelErr(got.dbeta, g.dbeta);
  return e;
}

export function correctnessRow(path: CorrectnessRow['path'], kernel: string, rows: number, C: number, variant: string,
    errors: Record<string, number>): CorrectnessRow {
  // NaN (an unwritten, poisoned output) counts as a failure.
  const max = Math.max(...Object.values(errors).map((v) => (Number.isNaN(v) ? Infinity : v)));
  return { path, kernel, size: `[${rows}, ${C}]`, variant, errors, maxRelErr: max, ok: max < REL_TOL };
}

/** Channel counts that exercise every kernel variant (float4 / scalar, registers per thread). */
export const NORM_CHANNELS = [77, 301, 600, 768, 1030, 2048, 4096, 8192, 16384];

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function timingRow(path: string, size: string, op: string, impl: string, pass: TimingRow['pass'], ms: number,
    bytes: number, copy?: TimingRow, note?: string): TimingRow {
  const gbps = bytes / (ms * 1e-3) / 1e9;
  return {
    path, size, op, impl, pass, ms, bytes, gbps,
    ...(copy ? { xCopy: ms / copy.ms, ofCopyBandwidth: gbps / copy.gbps } : {}),
    ...(note ? { note } : {}),
  };
}

/** Markdown table of timing rows. */
export function timingTable(rows: TimingRow[]): string {
  const head = '| path | size | op | impl | pass | ms | GB/s | x copy time | of copy GB/s |\n|---|---|---|---|---|---|---|---|---|';
  const f = (v: number | undefined, d: number): string => (v === undefined ? '-' : v.toFixed(d));
  return [head, ...rows.map((r) => `| ${r.path} | ${r.size} | ${r.op} | ${r.impl} | ${r.pass} | ${f(r.ms, 4)} | ${f(r.gbps, 0)} | ` +
    `${f(r.xCopy, 2)} | ${r.ofCopyBandwidth === undefined ? '-' : `${(100 * r.ofCopyBandwidth).toFixed(0)}%`} |`)].join('\n');
}

export function correctnessTable(rows: CorrectnessRow[]): string {
  const head = '| path | kernel | size | variant | max rel err | ok |\n|---|---|---|---|---|---|';
  return [head, ...rows.map((r) => `| ${r.path} | ${r.kernel} | ${r.size} | ${r.variant} | ${r.maxRelErr.toExponential(2)} | ${r.ok ? 'yes' : '**NO**'} |`)].join('\n');
}

export function targetTable(rows: TargetRow[]): string {
  const head = '| target | size | met | detail |\n|---|---|---|---|';
  return [head, ...rows.map((r) => `| ${r.target} | ${r.size} | ${r.met === null ? 'n/a' : r.met ? 'yes' : '**no**'} | ${r.detail} |`)].join('\n');
}
