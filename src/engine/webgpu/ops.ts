// The fused kernels of the normalization family on the webgpu backend: the
// same kernel names, inputs, outputs and validation as on cpu/wasm
// (../kernels/fused-ops.ts; its plan() checks shapes and attributes),
// computed by the WGSL of wgsl.ts. Loads no GPU package: it only uses the
// backend object tfjs passes in.
import { tf } from '../tf.js';
import type { TensorInfo } from '../tf.js';
import { KERNEL_NAMES, KERNEL_SPECS } from '../ops/fused-ops.js';
import { assertSquashShape } from '../ops/types.js';
import type { SquashShape } from '../ops/types.js';
import { dispatch, gpuOutput, maxWorkgroupSize, webgpuBackendOf, zerosOutput } from './dispatch.js';
import type { WebGpuBackendLike } from './dispatch.js';
import {
  layerNormBackwardWgsl, layerNormForwardWgsl, reducePartialsWgsl, rmsNormBackwardWgsl, rmsNormForwardWgsl, rowGeometry,
  squashBackwardWgsl, squashForwardWgsl, squashPartialWidth,
} from './wgsl.js';
import type { RowGeometry, SquashVariant } from './wgsl.js';

type Attrs = Record<string, unknown> | undefined;

/** Workgroups of the backward kernels: at most this many partial rows to sum. */
export const MAX_PARTIAL_GROUPS = 512;
const ELEMENTWISE_WG = 256;

const size = (shape: number[]): number => tf.util.sizeFromShape(shape);

function maxGroups(b: WebGpuBackendLike): number {
  return b.device.limits.maxComputeWorkgroupsPerDimension;
}

function geometry(b: WebGpuBackendLike, x: TensorInfo): { rows: number; g: RowGeometry } {
  const C = x.shape[x.shape.length - 1]!;
  const rows = C === 0 ? 0 : size(x.shape) / C;
  return { rows, g: rowGeometry(C, maxWorkgroupSize(b.device)) };
}

/** Sums per-workgroup partials [groups, sum(segments)] into the outputs. */
function reducePartials(b: WebGpuBackendLike, part: TensorInfo, groups: number, outs: TensorInfo[]): void {
  const segments = outs.map((o) => size(o.shape));
  const W = segments.reduce((a, c) => a + c, 0);
  dispatch(b, reducePartialsWgsl(segments), { rows: groups }, [part, ...outs],
    Math.min(Math.ceil(W / 64), maxGroups(b)));
}

type Runner = (b: WebGpuBackendLike, ins: TensorInfo[], attrs: Attrs, outShapes: number[][]) => TensorInfo[];

const squashVariant = (attrs: Attrs, alpha: TensorInfo, s: TensorInfo): SquashVariant => {
  const shape = attrs?.['shape'] as string;
  assertSquashShape(shape);
  return { shape: shape as SquashShape, alphaPerChannel: size(alpha.shape) !== 1, shiftPerChannel: size(s.shape) !== 1 };
};

/** A per-channel alpha / s of length C = 1 is also a scalar: read it as one. */
function perChannelNeedsVector(v: SquashVariant, C: number): SquashVariant {
  return C === 1 ? { ...v, alphaPerChannel: false, shiftPerChannel: false } : v;
}

const RUNNERS: Record<string, Runner> = {
  [KERNEL_NAMES.squash]: (b, [x, alpha, s, gamma, beta], attrs, [yShape]) => {
    const { rows, g } = geometry(b, x!);
    const v = perChannelNeedsVector(squashVariant(attrs, alpha!, s!), g.C);
    if (rows === 0) return [zerosOutput(b, yShape!)];
    const y = gpuOutput(b, yShape!);
    const n = (rows * g.C) / g.vw;
    const wg = Math.min(ELEMENTWISE_WG, maxWorkgroupSize(b.device));
    dispatch(b, squashForwardWgsl({ ...g, wg }, v), { rows }, [x!, alpha!, s!, gamma!, beta!, y],
      Math.min(Math.ceil(n / wg), maxGroups(b)));
    return [y];
  },
  [KERNEL_NAMES.squashGrad]: (b, [x, dy, alpha, s, gamma], attrs, shapes) => {
    const { rows, g } = geometry(b, x!);
    const v = perChannelNeedsVector(squashVariant(attrs, alpha!, s!), g.C);
    const [dx, dalpha, ds, dgamma, dbeta] = shapes.map((sh) => (rows === 0 ? zerosOutput(b, sh) : gpuOutput(b, sh)));
    if (rows === 0) return [dx!, dalpha!, ds!, dgamma!, dbeta!];
    const groups = Math.min(rows, MAX_PARTIAL_GROUPS);
    const part = gpuOutput(b, [groups * squashPartialWidth(g.C, v)]);
    try {
      dispatch(b, squashBackwardWgsl(g, v), { rows }, [x!, dy!, alpha!, s!, gamma!, dx!, part], groups);
      // Partials layout: [dgamma C][dbeta C][dalpha][ds].
      reducePartials(b, part, groups, [dgamma!, dbeta!, dalpha!, ds!]);
    } finally {
      b.disposeData(part.dataId);
    }
    return [dx!, dalpha!, ds!, dgamma!, dbeta!];
  },
  [KERNEL_NAMES.layerNorm]: (b, [x, gamma, beta], attrs, [yShape, mShape, rShape]) => {
    const { rows, g } = geometry(b, x!);
    if (rows === 0) return [yShape!, mShape!, rShape!].map((sh) => zerosOutput(b, sh));
    const [y, mean, rstd] = [yShape!, mShape!, rShape!].map((sh) => gpuOutput(b, sh));
    dispatch(b, layerNormForwardWgsl(g), { rows, eps: attrs!['eps'] as number }, [x!, gamma!, beta!, y!, mean!, rstd!],
      Math.min(rows, maxGroups(b)));
    return [y!, mean!, rstd!];
  },
  [KERNEL_NAMES.layerNormGrad]: (b, [x, dy, gamma, mean, rstd], _attrs, shapes) => {
    const { rows, g } = geometry(b, x!);
    const [dx, dgamma, dbeta] = shapes.map((sh) => (rows === 0 ? zerosOutput(b, sh) : gpuOutput(b, sh)));
    if (rows === 0) return [dx!, dgamma!, dbeta!];
    const groups = Math.min(rows, MAX_PARTIAL_GROUPS);
    const part = gpuOutput(b, [groups * 2 * g.C]);
    try {
      dispatch(b, layerNormBackwardWgsl(g), { rows }, [x!, dy!, gamma!, mean!, rstd!, dx!, part], groups);
      reducePartials(b, part, groups, [dgamma!, dbeta!]);
    } finally {
      b.disposeData(part.dataId);
    }
    return [dx!, dgamma!, dbeta!];
  },
  [KERNEL_NAMES.rmsNorm]: (b, [x, gamma], attrs, [yShape, rShape]) => {
    const { rows, g } = geometry(b, x!);
    if (rows === 0) return [yShape!, rShape!].map((sh) => zerosOutput(b, sh));
    const [y, rstd] = [yShape!, rShape!].map((sh) => gpuOutput(b, sh));
    dispatch(b, rmsNormForwardWgsl(g), { rows, eps: attrs!['eps'] as number }, [x!, gamma!, y!, rstd!], Math.min(rows, maxGroups(b)));
    return [y!, rstd!];
  },
  [KERNEL_NAMES.rmsNormGrad]: (b, [x, dy, gamma, rstd], _attrs, shapes) => {
    const { rows, g } = geometry(b, x!);
    const [dx, dgamma] = shapes.map((sh) => (rows === 0 ? zerosOutput(b, sh) : gpuOutput(b, sh)));
    if (rows === 0) return [dx!, dgamma!];
    const groups = Math.min(rows, MAX_PARTIAL_GROUPS);
    const part = gpuOutput(b, [groups * g.C]);
    try {
      dispatch(b, rmsNormBackwardWgsl(g), { rows }, [x!, dy!, gamma!, rstd!, dx!, part], groups);
      reducePartials(b, part, groups, [dgamma!]);
    } finally {
      b.disposeData(part.dataId);
    }
    return [dx!, dgamma!];
  },
};

/** tfjs kernel function of one fused kernel on 'webgpu'. */
export function webgpuKernelFunc(name: string): tf.KernelFunc {
  const spec = KERNEL_SPECS.find((s) => s.name === name);
  const run = RUNNERS[name];
  if (!spec || !run) throw new Error(`no webgpu implementation of fused kernel ${name}`);
  return ({ inputs, backend, attrs }) => {
    const ctx = `${name} on backend 'webgpu'`;
    const ins = spec.inputs.map((n) => {
      const t = inputs[n] as TensorInfo | undefined;
      if (t === undefined) throw new Error(`${ctx}: missing input ${n}`);
      if (t.dtype !== 'float32') throw new Error(`${ctx}: input ${n} has dtype ${t.dtype}; only float32 is supported`);
      return t;
    });
    // Validation and output shapes are shared with the cpu/wasm kernels.
    const plan = spec.plan(ins, attrs as Attrs, ctx);
    const outs = run(webgpuBackendOf(backend, ctx), ins, attrs as Attrs, plan.outShapes);
    return outs.length === 1 ? outs[0]! : outs;
  };
}
