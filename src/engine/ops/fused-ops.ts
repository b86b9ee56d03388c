// Kernel functions of the fused ops for the 'cpu' and 'wasm' backends.
//
// Each kernel is described once (inputs, output shapes, a JS body over
// Float32Arrays, a SIMD body over heap offsets) and run by one of three paths:
// cpu (JS on the backend's arrays), wasm + SIMD module (in place on the heap),
// wasm without it (JS on heap views; the reason is reported, see fused.ts).

import { tf } from '../tf.js';
import type { TensorInfo } from '../tf.js';
import { cpuBackendOf, cpuValues, heapOffset, wasmBackendOf } from './backend-access.js';
import type { WasmBackendLike } from './backend-access.js';
import {
  layerNormBackwardJs, layerNormForwardJs, rmsNormBackwardJs, rmsNormForwardJs, squashBackwardJs, squashForwardJs, squashValuesJs,
} from './js-ops.js';
import { CHUNK_ROWS, chunkRecordBytes, simdKernels, simdKernelsEnabled, simdKernelsProblem } from './simd.js';
import type { SimdKernels } from './simd.js';
import { runRows } from './row-pool.js';
import { SHAPE_CODES, assertSquashShape } from './types.js';
import type { SquashShape } from './types.js';

export const KERNEL_NAMES = {
  squash: 'DytlabSquash',
  squashGrad: 'DytlabSquashGrad',
  layerNorm: 'DytlabLayerNorm',
  layerNormGrad: 'DytlabLayerNormGrad',
  rmsNorm: 'DytlabRMSNorm',
  rmsNormGrad: 'DytlabRMSNormGrad',
} as const;

export type FusedBackend = 'cpu' | 'wasm';

/**
 * The SIMD squash kernels' tanh: 'fast' (the default; a rational with max
 * relative error 4.2e-7, see simd-math.ts) or 'accurate' (Eigen's float32
 * tanh, ~1 ulp). The self-check and the kernel tests run both.
 */
export type TanhPrecision = 'fast' | 'accurate';
let tanhPrecision: TanhPrecision = 'fast';
const TANH_ACCURATE_CODE = 7; // simd-math.ts K_TANH_ACCURATE

export function setTanhPrecision(p: TanhPrecision): void {
  if (p !== 'fast' && p !== 'accurate') throw new Error(`setTanhPrecision: '${String(p)}' is not 'fast' or 'accurate'`);
  tanhPrecision = p;
}

export function getTanhPrecision(): TanhPrecision {
  return tanhPrecision;
}

/** The SIMD module's kind code for a shape (tanh follows the precision setting). */
function simdCode(shape: SquashShape): number {
  return shape === 'tanh' && tanhPrecision === 'accurate' ? TANH_ACCURATE_CODE : SHAPE_CODES[shape];
}

type Attrs = Record<string, unknown> | undefined;

/** What a kernel computes, independent of the backend. */
interface Plan {
  outShapes: number[][];
  /** float64 scratch elements the SIMD body needs. */
  scratchF64: number;
  js(ins: Float32Array[], outs: Float32Array[]): void;
  simd(k: SimdKernels, ins: number[], outs: number[], scratch: number): void;
}

interface KernelSpec {
  name: string;
  inputs: readonly string[];
  /** Inputs that may be left out; when given they follow `inputs` in ins. */
  optionalInputs?: readonly string[];
  plan(ins: TensorInfo[], attrs: Attrs, ctx: string): Plan;
}

const size = (shape: number[]): number => tf.util.sizeFromShape(shape);

/** rows x C view of x (any rank >= 1, channels last). */
function geometry(x: TensorInfo, ctx: string): { rows: number; C: number } {
  if (x.shape.length < 1) throw new Error(`${ctx}: x must have rank >= 1 (channels last), got a scalar`);
  const C = x.shape[x.shape.length - 1]!;
  return { rows: C === 0 ? 0 : size(x.shape) / C, C };
}

function checkChannels(t: TensorInfo, name: string, C: number, ctx: string): void {
  if (size(t.shape) !== C) throw new Error(`${ctx}: ${name} must have C=${C} elements (x's last axis), got shape [${t.shape}]`);
}

/** alpha / s: one scalar ([1]) or one per channel ([C]). Returns per-channel-ness. */
function checkScalarOrChannels(t: TensorInfo, name: string, C: number, ctx: string): boolean {
  const n = size(t.shape);
  if (n === 1) return false;
  if (n === C) return true;
  throw new Error(`${ctx}: ${name} must have shape [1] or [C=${C}], got [${t.shape}]`);
}

function eps(attrs: Attrs, ctx: string): number {
  const v = attrs?.['eps'];
  if (typeof v !== 'number' || !(v >= 0)) throw new Error(`${ctx}: attr eps must be a number >= 0, got ${String(v)}`);
  return v;
}

function squashShape(attrs: Attrs, ctx: string): SquashShape {
  const v = attrs?.['shape'];
  if (typeof v !== 'string') throw new Error(`${ctx}: attr shape must be a squash shape name, got ${String(v)}`);
  assertSquashShape(v);
  return v;
}

// ---------------------------------------------------------------------------
// Kernel descriptions.

/** attr saveF: 1 asks the forward for f(alpha * x + s) as a second output (for the backward); 0 or absent: y only. */
function saveF(attrs: Attrs, ctx: string): boolean {
  const v = attrs?.['saveF'];
  if (v === undefined || v === 0) return false;
  if (v === 1) return true;
  throw new Error(`${ctx}: attr saveF must be 0 or 1, got ${String(v)}`);
}

const squashFwd: KernelSpec = {
  name: KERNEL_NAMES.squash,
  inputs: ['x', 'alpha', 's', 'gamma', 'beta'],
  plan([x, alpha, s, gamma, beta], attrs, ctx) {
    const shape = squashShape(attrs, ctx);
    const keep = saveF(attrs, ctx);
    const { rows, C } = geometry(x!, ctx);
    const aPC = checkScalarOrChannels(alpha!, 'alpha', C, ctx);
    const sPC = checkScalarOrChannels(s!, 's', C, ctx);
    checkChannels(gamma!, 'gamma', C, ctx);
    checkChannels(beta!, 'beta', C, ctx);
    return {
      // y, and f when saveF.
      outShapes: keep ? [x!.shape, x!.shape] : [x!.shape],
      scratchF64: 0,
      js: ([xv, av, sv, gv, bv], [y, f]) => {
        const p = { x: xv!, alpha: av!, s: sv!, gamma: gv!, beta: bv! };
        squashForwardJs(shape, p, y!, rows, C);
        if (f) squashValuesJs(shape, p, f, rows, C);
      },
      simd: (k, [xo, ao, so, go, bo], [yo, fo]) =>
        runRows(k, 'squash_fwd', [simdCode(shape), xo!, yo!, rows, C, ao!, aPC ? 1 : 0, so!, sPC ? 1 : 0, go!, bo!, fo ?? 0]),
    };
  },
};

/** Chunks and record size of a norm backward's partial sums (fields per channel, see simd.ts). */
function chunkPlan(rows: number, C: number, fields: number): { chunks: number; rec: number; scratchF64: number } {
  const chunks = Math.ceil(rows / CHUNK_ROWS), rec = chunkRecordBytes(fields, C);
  return { chunks, rec, scratchF64: (chunks * rec) / 8 };
}

const squashBwd: KernelSpec = {
  name: KERNEL_NAMES.squashGrad,
  inputs: ['x', 'dy', 'alpha', 's', 'gamma'],
  // f(alpha * x + s) as the training forward saved it: the SIMD backward reads it instead of recomputing.
  optionalInputs: ['f'],
  plan([x, dy, alpha, s, gamma, f], attrs, ctx) {
    const shape = squashShape(attrs, ctx);
    const { rows, C } = geometry(x!, ctx);
    if (size(dy!.shape) !== size(x!.shape)) throw new Error(`${ctx}: dy shape [${dy!.shape}] does not match x shape [${x!.shape}]`);
    const aPC = checkScalarOrChannels(alpha!, 'alpha', C, ctx);
    const sPC = checkScalarOrChannels(s!, 's', C, ctx);
    checkChannels(gamma!, 'gamma', C, ctx);
    if (f && size(f.shape) !== size(x!.shape)) throw new Error(`${ctx}: f shape [${f.shape}] does not match x shape [${x!.shape}]`);
    const { chunks, rec, scratchF64 } = chunkPlan(rows, C, 2 + (aPC ? 1 : 0) + (sPC ? 1 : 0));
    return {
      // dx, dalpha, ds, dgamma, dbeta, each shaped like its primal.
      outShapes: [x!.shape, alpha!.shape, s!.shape, gamma!.shape, gamma!.shape],
      scratchF64,
      js: ([xv, dyv, av, sv, gv], [dx, da, ds, dg, db]) =>
        squashBackwardJs(shape, { x: xv!, alpha: av!, s: sv!, gamma: gv! }, dyv!,
          { dx: dx!, dalpha: da!, ds: ds!, dgamma: dg!, dbeta: db! }, rows, C),
      // (The JS loops recompute f: the fallback path, kept simple.)
      simd: (k, [xo, dyo, ao, so, go, fo], [dxo, dao, dso, dgo, dbo], part) => {
        runRows(k, 'squash_bwd', [simdCode(shape), xo!, dyo!, rows, C, ao!, aPC ? 1 : 0, so!, sPC ? 1 : 0, go!,
          dxo!, part, rec, CHUNK_ROWS, fo ?? 0]);
        // Fields dgamma, dbeta, then dalpha / ds when per channel; otherwise totals 1 and 2.
        k.chunk_reduce(part, chunks, rec, C, 0, dgo!);
        k.chunk_reduce(part, chunks, rec, C, 1, dbo!);
        k.chunk_reduce(part, chunks, rec, C, aPC ? 2 : -1, dao!);
        k.chunk_reduce(part, chunks, rec, C, sPC ? 2 + (aPC ? 1 : 0) : -2, dso!);
      },
    };
  },
};

const layerNormFwd: KernelSpec = {
  name: KERNEL_NAMES.layerNorm,
  inputs: ['x', 'gamma', 'beta'],
  plan([x, gamma, beta], attrs, ctx) {
    const e = eps(attrs, ctx);
    const { rows, C } = geometry(x!, ctx);
    checkChannels(gamma!, 'gamma', C, ctx);
    checkChannels(beta!, 'beta', C, ctx);
    return {
      // y, mean, rstd (per row, saved for backward)
      outShapes: [x!.shape, [rows], [rows]],
      scratchF64: 0,
      js: ([xv, gv, bv], [y, mean, rstd]) => layerNormForwardJs(xv!, gv!, bv!, e, y!, mean!, rstd!, rows, C),
      simd: (k, [xo, go, bo], [yo, mo, ro]) => runRows(k, 'layernorm_fwd', [xo!, yo!, rows, C, go!, bo!, e, mo!, ro!]),
    };
  },
};

const layerNormBwd: KernelSpec = {
  name: KERNEL_NAMES.layerNormGrad,
  inputs: ['x', 'dy', 'gamma', 'mean', 'rstd'],
  plan([x, dy, gamma, mean, rstd], _attrs, ctx) {
    const { rows, C } = geometry(x!, ctx);
    checkChannels(gamma!, 'gamma', C, ctx);
    if (size(dy!.shape) !== size(x!.shape)) throw new Error(`${ctx}: dy shape [${dy!.shape}] does not match x shape [${x!.shape}]`);
    if (size(mean!.shape) !== rows || size(rstd!.shape) !== rows) throw new Error(`${ctx}: mean/rstd must have ${rows} elements`);
    const { chunks, rec, scratchF64 } = chunkPlan(rows, C, 2);
    return {
      outShapes: [x!.shape, gamma!.shape, gamma!.shape],
      scratchF64,
      js: ([xv, dyv, gv, mv, rv], [dx, dg, db]) => layerNormBackwardJs(xv!, dyv!, gv!, mv!, rv!, dx!, dg!, db!, rows, C),
      simd: (k, [xo, dyo, go, mo, ro], [dxo, dgo, dbo], part) => {
        runRows(k, 'layernorm_bwd', [xo!, dyo!, rows, C, go!, mo!, ro!, dxo!, part, rec, CHUNK_ROWS]);
        k.chunk_reduce(part, chunks, rec, C, 0, dgo!);
        k.chunk_reduce(part, chunks, rec, C, 1, dbo!);
      },
    };
  },
};

const rmsNormFwd: KernelSpec = {
  name: KERNEL_NAMES.rmsNorm,
  inputs: ['x', 'gamma'],
  plan([x, gamma], attrs, ctx) {
    const e = eps(attrs, ctx);
    const { rows, C } = geometry(x!, ctx);
    checkChannels(gamma!, 'gamma', C, ctx);
    return {
      outShapes: [x!.shape, [rows]],
      scratchF64: 0,
      js: ([xv, gv], [y, rstd]) => rmsNormForwardJs(xv!, gv!, e, y!, rstd!, rows, C),
      simd: (k, [xo, go], [yo, ro]) => runRows(k, 'rmsnorm_fwd', [xo!, yo!, rows, C, go!, e, ro!]),
    };
  },
};

const rmsNormBwd: KernelSpec = {
  name: KERNEL_NAMES.rmsNormGrad,
  inputs: ['x', 'dy', 'gamma', 'rstd'],
  plan([x, dy, gamma, rstd], _attrs, ctx) {
    const { rows, C } = geometry(x!, ctx);
    checkChannels(gamma!, 'gamma', C, ctx);
    if (size(dy!.shape) !== size(x!.shape)) throw new Error(`${ctx}: dy shape [${dy!.shape}] does not match x shape [${x!.shape}]`);
    if (size(rstd!.shape) !== rows) throw new Error(`${ctx}: rstd must have ${rows} elements`);
    const { chunks, rec, scratchF64 } = chunkPlan(rows, C, 1);
    return {
      outShapes: [x!.shape, gamma!.shape],
      scratchF64,
      js: ([xv, dyv, gv, rv], [dx, dg]) => rmsNormBackwardJs(xv!, dyv!, gv!, rv!, dx!, dg!, rows, C),
      simd: (k, [xo, dyo, go, ro], [dxo, dgo], part) => {
        runRows(k, 'rmsnorm_bwd', [xo!, dyo!, rows, C, go!, ro!, dxo!, part, rec, CHUNK_ROWS]);
        k.chunk_reduce(part, chunks, rec, C, 0, dgo!);
      },
    };
  },
};

export const KERNEL_SPECS: readonly KernelSpec[] = [squashFwd, squashBwd, layerNormFwd, layerNormBwd, rmsNormFwd, rmsNormBwd];

// ---------------------------------------------------------------------------
// Execution paths.

function runCpu(backend: unknown, ins: TensorInfo[], plan: Plan, ctx: string): TensorInfo[] {
  const cpu = cpuBackendOf(backend, ctx);
  const inArrays = ins.map((t) => cpuValues(cpu, t, ctx));
  const outArrays = plan.outShapes.map((s) => new Float32Array(size(s)));
  plan.js(inArrays, outArrays);
  return plan.outShapes.map((s, i) => cpu.makeTensorInfo(s, 'float32', outArrays[i]));
}

function runWasmJs(wasm: WasmBackendLike, ins: TensorInfo[], plan: Plan): TensorInfo[] {
  const outs = plan.outShapes.map((s) => wasm.makeOutput(s, 'float32'));
  // Views only after every allocation: malloc may grow the heap, which
  // detaches views taken earlier.
  const view = (t: TensorInfo): Float32Array => wasm.typedArrayFromHeap(t) as Float32Array;
  plan.js(ins.map(view), outs.map(view));
  return outs;
}

function runWasmSimd(k: SimdKernels, wasm: WasmBackendLike, ins: TensorInfo[], plan: Plan): TensorInfo[] {
  const outs = plan.outShapes.map((s) => wasm.makeOutput(s, 'float32'));
  // Scratch is a heap block of our own (the module may own no memory);
  // float64 data in a float32 tensor of twice the length.
  const scratch = plan.scratchF64 > 0 ? wasm.makeOutput([2 * plan.scratchF64], 'float32') : undefined;
  try {
    plan.simd(k, ins.map((t) => heapOffset(wasm, t)), outs.map((t) => heapOffset(wasm, t)),
      scratch === undefined ? 0 : heapOffset(wasm, scratch));
  } finally {
    if (scratch !== undefined) wasm.disposeData(scratch.dataId, true);
  }
  return outs;
}

let warnedFallback = false;

/** One visible warning per process when wasm kernels run without SIMD (unless switched off on purpose). */
function warnFallbackOnce(): void {
  if (warnedFallback || !simdKernelsEnabled()) return;
  warnedFallback = true;
  console.warn(`dytlab: fused wasm kernels are running plain-JS loops, not SIMD: ${simdKernelsProblem() ?? 'unknown reason'}`);
}

export function kernelFuncFor(spec: KernelSpec, backendName: FusedBackend): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const ctx = `${spec.name} on backend '${backendName}'`;
    const given = [...spec.inputs, ...(spec.optionalInputs ?? []).filter((name) => inputs[name] !== undefined)];
    const ins = given.map((name) => {
      const t = inputs[name] as TensorInfo | undefined;
      if (t === undefined) throw new Error(`${ctx}: missing input ${name}`);
      if (t.dtype !== 'float32') throw new Error(`${ctx}: input ${name} has dtype ${t.dtype}; only float32 is supported`);
      return t;
    });
    const plan = spec.plan(ins, attrs as Attrs, ctx);
    let outs: TensorInfo[];
    if (backendName === 'cpu') {
      outs = runCpu(backend, ins, plan, ctx);
    } else {
      const wasm = wasmBackendOf(backend, ctx);
      const k = simdKernels();
      if (k !== null) {
        outs = runWasmSimd(k, wasm, ins, plan);
      } else {
        warnFallbackOnce();
        outs = runWasmJs(wasm, ins, plan);
      }
    }
    return outs.length === 1 ? outs[0]! : outs;
  };
}
