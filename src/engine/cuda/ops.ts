// Launchers of the CUDA kernels of kernels/*.cu on device buffers: launch
// geometry, kernel choice (float4 when C % 4 == 0, registers per thread for
// the norms), the partials workspace of the two-stage backward reductions.
// Shapes are [rows, C], channels last, float32, as everywhere in dytlab.
import { SHAPE_CODES, assertSquashShape } from '../ops/types.js';
import type { SquashShape } from '../ops/types.js';
import { arg, ATTR, CudaDriver } from './driver.js';
import type { DevicePtr, KernelArg } from './driver.js';
import { CudaModules } from './modules.js';
import type { CudaModuleName } from './modules.js';

/** Registers per thread the norm kernels are compiled for (template VPT). */
export const NORM_VPT = [1, 2, 4, 8, 16] as const;

export interface NormGeometry { vw: 1 | 4; cv: number; vpt: number; threads: number }

const roundUp32 = (n: number): number => Math.ceil(n / 32) * 32;

/**
 * One block per row: C / vw vectors spread over `threads` threads holding vpt
 * vectors each (in registers). The fewest registers that keep the block at
 * most `maxThreads` wide; 1024 threads as a last resort.
 */
export function normGeometry(C: number, maxThreads = 256): NormGeometry {
  if (!Number.isInteger(C) || C < 1) throw new Error(`CUDA norm kernels: C = ${C} must be a positive integer`);
  const vw = C % 4 === 0 ? 4 : 1;
  const cv = C / vw;
  for (const limit of [maxThreads, 1024]) {
    for (const vpt of NORM_VPT) {
      if (Math.ceil(cv / vpt) <= limit) return { vw, cv, vpt, threads: roundUp32(Math.ceil(cv / vpt)) };
    }
  }
  throw new Error(`CUDA norm kernels: C = ${C} is too large (at most ${16 * 1024 * vw} channels for this layout)`);
}

/** Blocks of the backward kernels: at most blocksPerSM per SM, each over a contiguous run of rows. */
export function backwardGrid(rows: number, sms: number, blocksPerSM = 4): { blocks: number; rowsPerBlock: number } {
  if (rows <= 0) return { blocks: 0, rowsPerBlock: 0 };
  const target = Math.max(1, Math.min(rows, sms * blocksPerSM));
  const rowsPerBlock = Math.ceil(rows / target);
  return { blocks: Math.ceil(rows / rowsPerBlock), rowsPerBlock };
}

/** Width in floats of one block's row of squash partials: [dgamma C][dbeta C][dalpha 1|C][ds 1|C]. */
export function squashPartialWidth(C: number, alphaPerChannel: boolean, shiftPerChannel: boolean): number {
  return 2 * C + (alphaPerChannel ? C : 1) + (shiftPerChannel ? C : 1);
}

export interface CudaTuning {
  /** Backward kernels: blocks per SM (more blocks: more parallelism, more partials to sum). */
  backwardBlocksPerSM: number;
  /** Norm kernels: widest block before using more registers per thread. */
  normMaxThreads: number;
  /** Elementwise kernels: blocks per SM of the grid-stride loop. */
  elementwiseBlocksPerSM: number;
}

export const DEFAULT_TUNING: CudaTuning = { backwardBlocksPerSM: 4, normMaxThreads: 256, elementwiseBlocksPerSM: 16 };

export interface SquashBuffers {
  x: DevicePtr; alpha: DevicePtr; s: DevicePtr; gamma: DevicePtr; beta: DevicePtr;
  alphaPerChannel: boolean; shiftPerChannel: boolean;
}

export interface DeviceInfo {
  ordinal: number;
  name: string;
  computeCapability: string;
  multiprocessors: number;
  memoryBytes: number;
  driverVersion: string;
  /** 2 x memory clock x bus width: the nominal DRAM bandwidth (GB/s). */
  nominalBandwidthGBs: number;
  l2Bytes: number;
  /** SM clock (kHz), what the spin kernel counts in. */
  clockKHz: number;
}

/** One device's context, modules, workspace and kernels. */
export class CudaKernels {
  readonly info: DeviceInfo;
  readonly modules: CudaModules;
  tuning: CudaTuning = { ...DEFAULT_TUNING };
  private workspace: { ptr: DevicePtr; bytes: number } | undefined;

  private constructor(readonly driver: CudaDriver, private readonly dev: number, ordinal: number) {
    driver.retainPrimaryContext(dev);
    const a = (k: number): number => driver.attribute(dev, k);
    const major = a(ATTR.computeCapabilityMajor), minor = a(ATTR.computeCapabilityMinor);
    const v = driver.driverVersion();
    this.info = {
      ordinal, name: driver.deviceName(dev), computeCapability: `${major}.${minor}`,
      multiprocessors: a(ATTR.multiprocessorCount), memoryBytes: driver.totalMemory(dev),
      driverVersion: `${Math.floor(v / 1000)}.${(v % 1000) / 10}`,
      nominalBandwidthGBs: (2 * a(ATTR.memoryClockRateKHz) * 1e3 * (a(ATTR.globalMemoryBusWidth) / 8)) / 1e9,
      l2Bytes: a(ATTR.l2CacheSize),
      clockKHz: a(ATTR.clockRateKHz),
    };
    this.modules = new CudaModules(driver, { major, minor });
  }

  /** Loads the driver (NoCudaDriverError without one) and opens device `ordinal`. */
  static open(ordinal = 0, driver = CudaDriver.load()): CudaKernels {
    const count = driver.deviceCount();
    if (ordinal >= count) throw new Error(`CUDA device ${ordinal} requested, ${count} present`);
    return new CudaKernels(driver, driver.device(ordinal), ordinal);
  }

  close(): void {
    if (this.workspace) this.driver.free(this.workspace.ptr);
    this.workspace = undefined;
    this.modules.unload();
    this.driver.releasePrimaryContext(this.dev);
  }

  private scratch(bytes: number): DevicePtr {
    if (!this.workspace || this.workspace.bytes < bytes) {
      if (this.workspace) this.driver.free(this.workspace.ptr);
      this.workspace = { ptr: this.driver.alloc(bytes), bytes };
    }
    return this.workspace.ptr;
  }

  private launch(module: CudaModuleName, name: string, grid: [number, number?], block: [number, number?], args: KernelArg[]): void {
    this.driver.launch(this.modules.fn(module, name), grid, block, args, 0, name);
  }

  private elementwiseBlocks(n: number, threads: number): number {
    return Math.max(1, Math.min(Math.ceil(n / threads), this.info.multiprocessors * this.tuning.elementwiseBlocksPerSM));
  }

  private checkSize(rows: number, C: number, what: string): void {
    if (!Number.isInteger(rows) || !Number.isInteger(C) || rows < 0 || C < 1) throw new Error(`${what}: rows = ${rows}, C = ${C} must be integers, C >= 1`);
    if (rows * C >= 2 ** 32) throw new Error(`${what}: [${rows}, ${C}] has ${rows * C} elements; the kernels index with 32 bits`);
  }

  /** Sums partials [G, W] into consecutive outputs of the given lengths (stage 2). */
  private reducePartials(part: DevicePtr, G: number, outs: Array<[DevicePtr, number]>): void {
    const W = outs.reduce((a, [, n]) => a + n, 0);
    const o = [...outs, ...Array.from({ length: 4 - outs.length }, (): [DevicePtr, number] => [0n, 0])];
    this.launch('util', 'dytlab_reduce_partials', [Math.ceil(W / 32)], [32, 32],
      [arg.ptr(part), arg.i32(G), arg.i32(W), ...o.flatMap(([p, n]) => [arg.ptr(p), arg.i32(n)])]);
  }

  /** y = gamma * f(alpha * x + s) + beta. */
  squashForward(shape: SquashShape, rows: number, C: number, b: SquashBuffers, y: DevicePtr): void {
    assertSquashShape(shape);
    this.checkSize(rows, C, 'squashForward');
    if (rows === 0) return;
    const vw = C % 4 === 0 ? 4 : 1;
    const n = (rows * C) / vw, threads = 256;
    this.launch('squash', `dytlab_squash_fwd_${shape}_v${vw}`, [this.elementwiseBlocks(n, threads)], [threads], [
      arg.ptr(b.x), arg.ptr(y), arg.u32(n), arg.u32(C / vw), arg.ptr(b.alpha), arg.i32(b.alphaPerChannel ? 1 : 0),
      arg.ptr(b.s), arg.i32(b.shiftPerChannel ? 1 : 0), arg.ptr(b.gamma), arg.ptr(b.beta)]);
  }

  /** dx and the parameter gradients of sum(y * dy); dalpha / ds shaped like alpha / s. */
  squashBackward(shape: SquashShape, rows: number, C: number, b: Omit<SquashBuffers, 'beta'>, dy: DevicePtr,
      out: { dx: DevicePtr; dalpha: DevicePtr; ds: DevicePtr; dgamma: DevicePtr; dbeta: DevicePtr }): void {
    assertSquashShape(shape);
    this.checkSize(rows, C, 'squashBackward');
    const nA = b.alphaPerChannel ? C : 1, nS = b.shiftPerChannel ? C : 1;
    if (rows === 0) {
      for (const [p, n] of [[out.dalpha, nA], [out.ds, nS], [out.dgamma, C], [out.dbeta, C]] as const) this.driver.memset32(p, 0, n);
      return;
    }
    const vw = C % 4 === 0 ? 4 : 1;
    const { blocks, rowsPerBlock } = backwardGrid(rows, this.info.multiprocessors, this.tuning.backwardBlocksPerSM);
    const W = squashPartialWidth(C, b.alphaPerChannel, b.shiftPerChannel);
    const part = this.scratch(blocks * W * 4);
    const threads = Math.min(256, roundUp32(C / vw));
    this.launch('squash', `dytlab_squash_bwd_${shape}_v${vw}`, [blocks], [threads], [
      arg.ptr(b.x), arg.ptr(dy), arg.ptr(b.alpha), arg.i32(b.alphaPerChannel ? 1 : 0), arg.ptr(b.s),
      arg.i32(b.shiftPerChannel ? 1 : 0), arg.ptr(b.gamma), arg.ptr(out.dx), arg.ptr(part), arg.i32(rows),
      arg.i32(C / vw), arg.i32(rowsPerBlock)]);
    this.reducePartials(part, blocks, [[out.dgamma, C], [out.dbeta, C], [out.dalpha, nA], [out.ds, nS]]);
  }

  layerNormForward(rows: number, C: number, x: DevicePtr, gamma: DevicePtr, beta: DevicePtr, eps: number,
      out: { y: DevicePtr; mean: DevicePtr; rstd: DevicePtr }): void {
    this.checkSize(rows, C, 'layerNormForward');
    if (rows === 0) return;
    const g = normGeometry(C, this.tuning.normMaxThreads);
    this.launch('norms', `dytlab_layernorm_fwd_v${g.vw}_p${g.vpt}`, [Math.min(rows, 2 ** 31 - 1)], [g.threads], [
      arg.ptr(x), arg.ptr(gamma), arg.ptr(beta), arg.ptr(out.y), arg.ptr(out.mean), arg.ptr(out.rstd),
      arg.i32(rows), arg.i32(g.cv), arg.f32(eps)]);
  }

  layerNormBackward(rows: number, C: number, x: DevicePtr, dy: DevicePtr, gamma: DevicePtr, mean: DevicePtr, rstd: DevicePtr,
      out: { dx: DevicePtr; dgamma: DevicePtr; dbeta: DevicePtr }): void {
    this.checkSize(rows, C, 'layerNormBackward');
    if (rows === 0) {
      this.driver.memset32(out.dgamma, 0, C);
      this.driver.memset32(out.dbeta, 0, C);
      return;
    }
    const g = normGeometry(C, this.tuning.normMaxThreads);
    const { blocks, rowsPerBlock } = backwardGrid(rows, this.info.multiprocessors, this.tuning.backwardBlocksPerSM);
    const part = this.scratch(blocks * 2 * C * 4);
    this.launch('norms', `dytlab_layernorm_bwd_v${g.vw}_p${g.vpt}`, [blocks], [g.threads], [
      arg.ptr(x), arg.ptr(dy), arg.ptr(gamma), arg.ptr(mean), arg.ptr(rstd), arg.ptr(out.dx), arg.ptr(part),
      arg.i32(rows), arg.i32(g.cv), arg.i32(rowsPerBlock)]);
    this.reducePartials(part, blocks, [[out.dgamma, C], [out.dbeta, C]]);
  }

  rmsNormForward(rows: number, C: number, x: DevicePtr, gamma: DevicePtr, eps: number, out: { y: DevicePtr; rstd: DevicePtr }): void {
    this.checkSize(rows, C, 'rmsNormForward');
    if (rows === 0) return;
    const g = normGeometry(C, this.tuning.normMaxThreads);
    this.launch('norms', `dytlab_rmsnorm_fwd_v${g.vw}_p${g.vpt}`, [Math.min(rows, 2 ** 31 - 1)], [g.threads], [
      arg.ptr(x), arg.ptr(gamma), arg.ptr(out.y), arg.ptr(out.rstd), arg.i32(rows), arg.i32(g.cv), arg.f32(eps)]);
  }

  rmsNormBackward(rows: number, C: number, x: DevicePtr, dy: DevicePtr, gamma: DevicePtr, rstd: DevicePtr,
      out: { dx: DevicePtr; dgamma: DevicePtr }): void {
    this.checkSize(rows, C, 'rmsNormBackward');
    if (rows === 0) {
      this.driver.memset32(out.dgamma, 0, C);
      return;
    }
    const g = normGeometry(C, this.tuning.normMaxThreads);
    const { blocks, rowsPerBlock } = backwardGrid(rows, this.info.multiprocessors, this.tuning.backwardBlocksPerSM);
    const part = this.scratch(blocks * C * 4);
    this.launch('norms', `dytlab_rmsnorm_bwd_v${g.vw}_p${g.vpt}`, [blocks], [g.threads], [
      arg.ptr(x), arg.ptr(dy), arg.ptr(gamma), arg.ptr(rstd), arg.ptr(out.dx), arg.ptr(part),
      arg.i32(rows), arg.i32(g.cv), arg.i32(rowsPerBlock)]);
    this.reducePartials(part, blocks, [[out.dgamma, C]]);
  }

  /**
   * Keeps the GPU busy for about `ms` milliseconds (one thread spinning on
   * clock64): launched before a timed batch, it lets the host queue the whole
   * batch so the GPU then runs it back to back.
   */
  spin(ms: number): void {
    this.launch('util', 'dytlab_spin', [1], [1], [arg.i64(Math.round(ms * this.info.clockKHz))]);
  }

  /** dst = src with the float4 copy kernel (n floats, n % 4 == 0). */
  copyKernel(src: DevicePtr, dst: DevicePtr, n: number): void {
    if (n % 4 !== 0) throw new Error(`copyKernel: n = ${n} must be a multiple of 4`);
    const n4 = n / 4;
    this.launch('util', 'dytlab_copy_f4', [this.elementwiseBlocks(n4, 256)], [256], [arg.ptr(src), arg.ptr(dst), arg.u32(n4)]);
  }
}

/** Every kernel name the launchers use (the tests check the built PTX has them all). */
export function cudaKernelNames(): Record<CudaModuleName, string[]> {
  const shapes = Object.keys(SHAPE_CODES);
  return {
    squash: shapes.flatMap((s) => ['fwd', 'bwd'].flatMap((d) => [1, 4].map((v) => `dytlab_squash_${d}_${s}_v${v}`))),
    norms: ['layernorm', 'rmsnorm'].flatMap((op) => ['fwd', 'bwd'].flatMap((d) =>
      [1, 4].flatMap((v) => NORM_VPT.map((p) => `dytlab_${op}_${d}_v${v}_p${p}`)))),
    util: ['dytlab_reduce_partials', 'dytlab_copy_f4', 'dytlab_spin'],
  };
}
