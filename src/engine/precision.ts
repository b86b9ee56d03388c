// Low-precision number formats as "fake quantization": every cast takes a
// float32 tensor and returns a float32 tensor whose values are exactly
// representable in the target format (round-to-nearest-even, RNE). The tensor
// versions carry a straight-through gradient (dy passes unchanged), so a cast
// can sit inside a training graph and simulate bf16/fp16/fp8/int8 numerics.
//
// The rounding itself is plain bit arithmetic on the float32 encoding, in
// small pure functions over Float32Array (exported, so analyses can use them
// without tensors). Tensor wrappers read with dataSync(): tf.customGrad's
// forward function is synchronous, so an async read is not possible there.
//
// Design choices (see also the docs on each function):
//  - NaN stays NaN in every float format; the output is the canonical quiet
//    NaN with the input's sign (a NaN whose payload sits only in the dropped
//    low bits must not round into an infinity).
//  - bf16 and fp16 overflow to +-inf per IEEE RNE (fp16: |x| >= 65520 -> inf).
//  - fp8 E4M3 (OCP E4M3FN) has no infinity: finite overflow AND +-inf saturate
//    to +-448 (the "satfinite" conversion mode). NaN stays NaN.
//  - fp8 E5M2 saturates finite overflow to +-57344 (|x| >= 61440 would be inf
//    under IEEE rules); +-inf inputs stay +-inf, NaN stays NaN.
//  - Overflow/underflow statistics count finite inputs whose rounded magnitude
//    exceeded the max finite value (became inf or were clamped), and non-zero
//    inputs that rounded to zero. Infinite and NaN inputs are never counted.
//  - int8 is symmetric absmax quantization to [-127, 127] with a float32
//    scale per tensor / row / column; ties round to even; an all-zero group has
//    scale 0 and dequantizes to 0. Scales ignore non-finite values; the
//    fake-quant path passes NaN/inf through unchanged, while quantizeInt8
//    (which must produce real int8 codes) rejects non-finite input.

import { tf } from './tf.js';
import type { Tensor } from './tf.js';

// ---------------------------------------------------------------------------
// Formats

/** The sub-byte/half/bfloat float formats implemented by bit rounding. */
export type FloatFormat = 'bf16' | 'fp16' | 'fp8_e4m3' | 'fp8_e5m2';
/** int8 absmax scale granularity: one scale per tensor, per row, per column. */
export type Int8Granularity = 'tensor' | 'row' | 'col';
/** Every format castTo() accepts. */
export type PrecisionFormat = 'fp32' | FloatFormat | 'int8_tensor' | 'int8_row' | 'int8_col';

export const PRECISION_FORMATS: readonly PrecisionFormat[] = [
  'fp32', 'bf16', 'fp16', 'fp8_e4m3', 'fp8_e5m2', 'int8_tensor', 'int8_row', 'int8_col',
];

export function isPrecisionFormat(s: unknown): s is PrecisionFormat {
  return typeof s === 'string' && (PRECISION_FORMATS as readonly string[]).includes(s);
}

export interface FormatInfo {
  readonly kind: 'float' | 'int';
  /** Storage bits per element (int8: the code only, scales not included). */
  readonly bits: number;
  /** Exponent field width (0 for int8). */
  readonly exponentBits: number;
  /** Explicit fraction bits p; relative spacing of normals is 2^-p. int8: 7 magnitude bits. */
  readonly mantissaBits: number;
  /** Exponent bias (0 for int8). */
  readonly bias: number;
  /** Largest finite magnitude. int8: 127, in units of the scale. */
  readonly maxFinite: number;
  /** Smallest positive normal. int8: 1 (units of scale). */
  readonly minNormal: number;
  /** Smallest positive subnormal. int8: 1 (units of scale). */
  readonly minSubnormal: number;
  /** Whether the format encodes +-inf. */
  readonly hasInf: boolean;
  /** What a finite value beyond maxFinite becomes. */
  readonly overflow: 'inf' | 'saturate';
}

function floatInfo(bits: number, exponentBits: number, mantissaBits: number, maxFinite: number,
  hasInf: boolean, overflow: 'inf' | 'saturate'): FormatInfo {
  const bias = 2 ** (exponentBits - 1) - 1;
  const emin = 1 - bias;
  return {
    kind: 'float', bits, exponentBits, mantissaBits, bias, maxFinite,
    minNormal: 2 ** emin, minSubnormal: 2 ** (emin - mantissaBits), hasInf, overflow,
  };
}

const INT8_INFO: FormatInfo = {
  kind: 'int', bits: 8, exponentBits: 0, mantissaBits: 7, bias: 0, maxFinite: 127,
  minNormal: 1, minSubnormal: 1, hasInf: false, overflow: 'saturate',
};

/** Constants of each format, for analyses (e.g. dynamic-range plots). */
export const FORMAT_INFO: Readonly<Record<PrecisionFormat, FormatInfo>> = {
  fp32: floatInfo(32, 8, 23, (2 - 2 ** -23) * 2 ** 127, true, 'inf'),
  bf16: floatInfo(16, 8, 7, (2 - 2 ** -7) * 2 ** 127, true, 'inf'),
  fp16: floatInfo(16, 5, 10, 65504, true, 'inf'),
  // E4M3FN: the all-ones exponent still holds normals (only S.1111.111 is NaN),
  // so max = 1.75 * 2^8 = 448 rather than the IEEE-style 240.
  fp8_e4m3: floatInfo(8, 4, 3, 448, false, 'saturate'),
  fp8_e5m2: floatInfo(8, 5, 2, 57344, true, 'saturate'),
  int8_tensor: INT8_INFO,
  int8_row: INT8_INFO,
  int8_col: INT8_INFO,
};

// ---------------------------------------------------------------------------
// Float rounding core

/** Accumulator for overflow/underflow counts (see module comment for the definitions). */
export interface RoundStats {
  overflow: number;
  underflow: number;
}

interface FloatSpec {
  /** Fraction bits kept. */
  readonly p: number;
  /** Unbiased exponent of the smallest normal. */
  readonly emin: number;
  /** float32 bit pattern (no sign) of the largest finite value. */
  readonly maxBits: number;
  /** Finite overflow: to inf (IEEE) or clamp to max finite. */
  readonly overflowToInf: boolean;
  /** Map +-inf inputs to +-max (formats without inf). */
  readonly saturateInf: boolean;
}

function f32Bits(v: number): number {
  const f = new Float32Array([v]);
  return new Uint32Array(f.buffer)[0]!;
}

function makeSpec(fmt: FloatFormat, saturateInf: boolean): FloatSpec {
  const info = FORMAT_INFO[fmt];
  return {
    p: info.mantissaBits,
    emin: 1 - info.bias,
    maxBits: f32Bits(info.maxFinite),
    overflowToInf: info.overflow === 'inf',
    saturateInf,
  };
}

const SPECS: Readonly<Record<FloatFormat, FloatSpec>> = {
  bf16: makeSpec('bf16', false),
  fp16: makeSpec('fp16', false),
  fp8_e4m3: makeSpec('fp8_e4m3', true),
  fp8_e5m2: makeSpec('fp8_e5m2', false),
};

function u32View(f: Float32Array): Uint32Array {
  return new Uint32Array(f.buffer, f.byteOffset, f.length);
}

/**
 * Round every element of `src` to the format described by `spec`, writing
 * float32 values into `dst` (may be `src` itself: each element is read
 * before it is written).
 */
function roundFloatCore(src: Float32Array, spec: FloatSpec, dst: Float32Array | undefined,
  stats: RoundStats | undefined, name: string): Float32Array {
  const n = src.length;
  const out = dst ?? new Float32Array(n);
  if (out.length !== n) {
    throw new Error(`${name}: dst has length ${out.length}, expected ${n} (same as src)`);
  }
  const su = u32View(src);
  const du = u32View(out);
  const { p, emin, maxBits, overflowToInf, saturateInf } = spec;
  // Normal-range path: drop the low `shift` bits of the float32 encoding.
  const shift = 23 - p;
  const halfMinus1 = (1 << (shift - 1)) - 1;
  const keepMask = ~((1 << shift) - 1);
  const minNormalBiased = emin + 127; // float32 biased exponent of the target's min normal
  // Subnormal path: results are k * 2^(emin - p).
  const quantum = 2 ** (emin - p);
  let overflow = 0;
  let underflow = 0;
  for (let i = 0; i < n; i++) {
    const u = su[i]!;
    const sign = (u & 0x80000000) >>> 0;
    const a = u & 0x7fffffff;
    if (a >= 0x7f800000) {
      if (a > 0x7f800000) {
        // NaN: canonical quiet NaN (keeping payload bits could round to inf).
        du[i] = (sign | 0x7fc00000) >>> 0;
      } else {
        du[i] = saturateInf ? (sign | maxBits) >>> 0 : u;
      }
      continue;
    }
    const biased = a >>> 23;
    // float32 subnormals (biased 0) share exponent -126 with biased 1, so for
    // bf16 (emin = -126) they take the bit path too: its spacing matches.
    if (Math.max(biased, 1) >= minNormalBiased) {
      // RNE on the encoding: add just under half an ulp, plus 1 if the kept
      // lsb is odd (so an exact tie goes up only from odd), then truncate.
      // A carry out of the fraction bumps the exponent, which is the right
      // answer (e.g. 1.1111...1 -> 10.0); a carry past max lands above maxBits.
      let r = (a + halfMinus1 + ((a >>> shift) & 1)) & keepMask;
      if (r > maxBits) {
        overflow++;
        r = overflowToInf ? 0x7f800000 : maxBits;
      } else if (r === 0 && a !== 0) {
        underflow++;
      }
      du[i] = (sign | r) >>> 0;
    } else {
      // Below the target's normal range: round the 24-bit significand to a
      // multiple of the subnormal quantum 2^(emin-p). The value is
      // sig * 2^(e-23), so k = RNE(sig / 2^s) with s = (emin - p) - (e - 23).
      const e = biased === 0 ? -126 : biased - 127;
      const s = emin - p - e + 23; // >= 24 - p here, since e < emin
      let k = 0;
      // s >= 25 means |x| < 2^(q-1) (half a quantum): rounds to 0 for sure.
      if (s <= 24) {
        const sig = biased === 0 ? a : (a & 0x7fffff) | 0x800000;
        k = (sig + (1 << (s - 1)) - 1 + ((sig >>> s) & 1)) >>> s;
      }
      if (k === 0 && a !== 0) underflow++;
      // k <= 2^p; k * quantum is exact in float32 (k == 2^p is the min normal).
      const v = k * quantum;
      out[i] = sign ? -v : v;
    }
  }
  if (stats) {
    stats.overflow += overflow;
    stats.underflow += underflow;
  }
  return out;
}

/** bfloat16 RNE (8 exponent bits, 7 fraction bits); overflow -> inf; subnormals kept. */
export function roundBf16Array(src: Float32Array, dst?: Float32Array, stats?: RoundStats): Float32Array {
  return roundFloatCore(src, SPECS.bf16, dst, stats, 'roundBf16Array');
}

/** IEEE binary16 RNE incl. subnormals (min 2^-24); |x| >= 65520 -> +-inf. */
export function roundFp16Array(src: Float32Array, dst?: Float32Array, stats?: RoundStats): Float32Array {
  return roundFloatCore(src, SPECS.fp16, dst, stats, 'roundFp16Array');
}

/** OCP FP8 E4M3FN RNE (bias 7, subnormals to 2^-9); saturates finite overflow and +-inf to +-448. */
export function roundFp8E4M3Array(src: Float32Array, dst?: Float32Array, stats?: RoundStats): Float32Array {
  return roundFloatCore(src, SPECS.fp8_e4m3, dst, stats, 'roundFp8E4M3Array');
}

/** OCP FP8 E5M2 RNE (bias 15, subnormals to 2^-16); finite overflow saturates to +-57344, inf stays inf. */
export function roundFp8E5M2Array(src: Float32Array, dst?: Float32Array, stats?: RoundStats): Float32Array {
  return roundFloatCore(src, SPECS.fp8_e5m2, dst, stats, 'roundFp8E5M2Array');
}

/** Dispatch over the float formats. */
export function roundFloatArray(src: Float32Array, format: FloatFormat, dst?: Float32Array,
  stats?: RoundStats): Float32Array {
  const spec = (SPECS as Record<string, FloatSpec | undefined>)[format];
  if (spec === undefined) {
    throw new Error(`roundFloatArray: unknown float format '${String(format)}'; expected one of ${Object.keys(SPECS).join(', ')}`);
  }
  return roundFloatCore(src, spec, dst, stats, 'roundFloatArray');
}

// ---------------------------------------------------------------------------
// int8 absmax

/**
 * Round half to even. Math.round rounds halves toward +inf (2.5 -> 3,
 * -2.5 -> -2), which biases quantization; this sends ties to the even neighbour.
 */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  // r - v is exact here (|v| far below 2^52); 0.5 means v was a tie rounded up.
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface Int8Quantized {
  /** int8 codes in [-127, 127], row-major like the input. */
  q: Int8Array;
  /** float32 scales: length 1 (tensor), rows (row) or cols (col). */
  scale: Float32Array;
  shape: number[];
  axis: Int8Granularity;
}

export interface QuantizeInt8Options {
  /** Scale granularity; default 'tensor'. */
  axis?: Int8Granularity;
}

const INT8_MAX = 127;

function checkGranularity(axis: unknown, fn: string): Int8Granularity {
  if (axis !== 'tensor' && axis !== 'row' && axis !== 'col') {
    throw new Error(`${fn}: unknown int8 granularity '${String(axis)}'; expected 'tensor', 'row' or 'col'`);
  }
  return axis;
}

/** Number of scale groups and the element -> group map for a granularity. */
function groupLayout(shape: readonly number[], n: number, axis: Int8Granularity, fn: string):
  { groups: number; cols: number } {
  const size = shape.reduce((acc, d) => acc * d, 1);
  if (size !== n) {
    throw new Error(`${fn}: shape [${shape.join(', ')}] has ${size} elements but the data has ${n}`);
  }
  if (axis === 'tensor') return { groups: 1, cols: 1 };
  if (shape.length !== 2) {
    throw new Error(`${fn}: int8 granularity '${axis}' needs a 2-D tensor [rows, cols], ` +
      `got shape [${shape.join(', ')}] (rank ${shape.length})`);
  }
  const [rows, cols] = shape as [number, number];
  return { groups: axis === 'row' ? rows : cols, cols };
}

function groupOf(i: number, axis: Int8Granularity, cols: number): number {
  return axis === 'tensor' ? 0 : axis === 'row' ? Math.floor(i / cols) : i % cols;
}

/** Per-group absmax / 127 as float32; non-finite values are ignored. */
function absmaxScales(src: Float32Array, axis: Int8Granularity, groups: number, cols: number): Float32Array {
  const amax = new Float64Array(groups);
  for (let i = 0; i < src.length; i++) {
    const m = Math.abs(src[i]!);
    const g = groupOf(i, axis, cols);
    if (m > amax[g]! && m !== Infinity) amax[g] = m; // NaN fails the comparison
  }
  const scale = new Float32Array(groups);
  for (let g = 0; g < groups; g++) scale[g] = amax[g]! / INT8_MAX;
  return scale;
}

function quantCode(v: number, s: number): number {
  // Scale 0 means an all-zero group (or one whose scale underflowed): code 0, no 0/0.
  if (s === 0) return 0;
  const q = roundHalfEven(v / s);
  // Defensive: the float32 scale is within 2^-24 of absmax/127, so v / s stays
  // below 127.5; the clamp only guards the [-127, 127] contract.
  return (q > INT8_MAX ? INT8_MAX : q < -INT8_MAX ? -INT8_MAX : q) | 0; // | 0 also drops -0
}

/** Quantize a row-major float32 array of the given shape. Rejects NaN/inf (no int8 code for them). */
export function quantizeInt8Array(src: Float32Array, shape: readonly number[],
  axis: Int8Granularity = 'tensor'): Int8Quantized {
  const fn = 'quantizeInt8';
  axis = checkGranularity(axis, fn);
  const { groups, cols } = groupLayout(shape, src.length, axis, fn);
  for (let i = 0; i < src.length; i++) {
    if (!Number.isFinite(src[i]!)) {
      throw new Error(`${fn}: input has a non-finite value (${src[i]}) at flat index ${i}; ` +
        `int8 codes cannot represent NaN/inf (fakeQuantInt8 passes them through instead)`);
    }
  }
  const scale = absmaxScales(src, axis, groups, cols);
  const q = new Int8Array(src.length);
  for (let i = 0; i < src.length; i++) q[i] = quantCode(src[i]!, scale[groupOf(i, axis, cols)]!);
  return { q, scale, shape: [...shape], axis };
}

/** q * scale, as float32, into `dst` (new if omitted). */
export function dequantizeInt8Array(qz: Int8Quantized, dst?: Float32Array): Float32Array {
  const fn = 'dequantizeInt8';
  const axis = checkGranularity(qz.axis, fn);
  const { groups, cols } = groupLayout(qz.shape, qz.q.length, axis, fn);
  if (qz.scale.length !== groups) {
    throw new Error(`${fn}: expected ${groups} scale(s) for granularity '${axis}' and shape ` +
      `[${qz.shape.join(', ')}], got ${qz.scale.length}`);
  }
  const out = dst ?? new Float32Array(qz.q.length);
  if (out.length !== qz.q.length) throw new Error(`${fn}: dst has length ${out.length}, expected ${qz.q.length}`);
  for (let i = 0; i < out.length; i++) out[i] = qz.q[i]! * qz.scale[groupOf(i, axis, cols)]!;
  return out;
}

/**
 * dequantize(quantize(src)) in one pass. Non-finite inputs pass through
 * unchanged (and do not enter the scale), so a NaN stays NaN as in the float formats.
 */
export function fakeQuantInt8Array(src: Float32Array, shape: readonly number[],
  axis: Int8Granularity = 'tensor', dst?: Float32Array): Float32Array {
  const fn = 'fakeQuantInt8';
  axis = checkGranularity(axis, fn);
  const { groups, cols } = groupLayout(shape, src.length, axis, fn);
  const scale = absmaxScales(src, axis, groups, cols);
  const out = dst ?? new Float32Array(src.length);
  if (out.length !== src.length) throw new Error(`${fn}: dst has length ${out.length}, expected ${src.length}`);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (!Number.isFinite(v)) { out[i] = v; continue; }
    const s = scale[groupOf(i, axis, cols)]!;
    // q * s is exact in double (8-bit times 24-bit), rounded once on store: same as dequantize.
    out[i] = quantCode(v, s) * s;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Array-level dispatcher

function int8Axis(format: PrecisionFormat): Int8Granularity | undefined {
  return format === 'int8_tensor' ? 'tensor' : format === 'int8_row' ? 'row' : format === 'int8_col' ? 'col' : undefined;
}

function checkFormat(format: unknown, fn: string): PrecisionFormat {
  if (!isPrecisionFormat(format)) {
    throw new Error(`${fn}: unknown precision format '${String(format)}'; expected one of ${PRECISION_FORMATS.join(', ')}`);
  }
  return format;
}

/**
 * Cast a float32 array to `format` (fake quantization). `shape` is needed for
 * int8_row / int8_col (2-D [rows, cols]); it defaults to [src.length].
 */
export function castArray(src: Float32Array, format: PrecisionFormat, shape?: readonly number[],
  dst?: Float32Array): Float32Array {
  format = checkFormat(format, 'castArray');
  if (format === 'fp32') {
    const out = dst ?? new Float32Array(src.length);
    if (out.length !== src.length) throw new Error(`castArray: dst has length ${out.length}, expected ${src.length}`);
    if (out !== src) out.set(src);
    return out;
  }
  const axis = int8Axis(format);
  if (axis !== undefined) return fakeQuantInt8Array(src, shape ?? [src.length], axis, dst);
  return roundFloatArray(src, format as FloatFormat, dst);
}

// ---------------------------------------------------------------------------
// Tensor API (straight-through gradients)

function assertFloat32(x: Tensor, fn: string): void {
  if (x.dtype !== 'float32') {
    throw new Error(`${fn}: expected a float32 tensor, got dtype ${x.dtype}`);
  }
}

/**
 * y = f(x) elementwise on the data with dy/dx := identity (straight-through
 * estimator): the rounding is piecewise constant, so its true gradient is 0
 * almost everywhere, which would stop training.
 */
function straightThrough(x: Tensor, f: (src: Float32Array) => Float32Array): Tensor {
  const op = tf.customGrad((...args: unknown[]) => {
    const input = args[0] as Tensor;
    const out = f(input.dataSync() as Float32Array);
    return {
      value: tf.tensor(out, input.shape, 'float32'),
      // clone: hand back a fresh tensor rather than aliasing the engine's dy.
      gradFunc: (dy: Tensor) => dy.clone(),
    };
  });
  return op(x);
}

/** bfloat16 fake-quant (see roundBf16Array). */
export function toBf16(x: Tensor): Tensor {
  assertFloat32(x, 'toBf16');
  return straightThrough(x, (d) => roundBf16Array(d));
}

/** fp16 fake-quant (see roundFp16Array). */
export function toFp16(x: Tensor): Tensor {
  assertFloat32(x, 'toFp16');
  return straightThrough(x, (d) => roundFp16Array(d));
}

/** fp8 E4M3FN fake-quant, saturating to +-448 (see roundFp8E4M3Array). */
export function toFp8E4M3(x: Tensor): Tensor {
  assertFloat32(x, 'toFp8E4M3');
  return straightThrough(x, (d) => roundFp8E4M3Array(d));
}

/** fp8 E5M2 fake-quant, finite overflow saturating to +-57344 (see roundFp8E5M2Array). */
export function toFp8E5M2(x: Tensor): Tensor {
  assertFloat32(x, 'toFp8E5M2');
  return straightThrough(x, (d) => roundFp8E5M2Array(d));
}

export interface CastWithStats {
  /** The rounded tensor (straight-through gradient). */
  y: Tensor;
  /** Finite inputs whose rounded magnitude exceeded max finite (became inf, or were clamped for saturating formats). */
  overflow: number;
  /** Non-zero finite inputs that rounded to +-0. */
  underflow: number;
}

/** Round to a float format and count overflows/underflows of this call. */
export function roundWithStats(x: Tensor, format: FloatFormat): CastWithStats {
  const fn = 'roundWithStats';
  assertFloat32(x, fn);
  if (!(format in SPECS)) {
    throw new Error(`${fn}: unknown float format '${String(format)}'; expected one of ${Object.keys(SPECS).join(', ')}`);
  }
  const stats: RoundStats = { overflow: 0, underflow: 0 };
  const y = straightThrough(x, (d) => roundFloatArray(d, format, undefined, stats));
  return { y, overflow: stats.overflow, underflow: stats.underflow };
}

/** fp16 cast plus counts: overflow = finite inputs that became +-inf, underflow = non-zero inputs flushed to +-0. */
export function toFp16WithStats(x: Tensor): CastWithStats {
  return roundWithStats(x, 'fp16');
}

function normalizeAxis(opts: QuantizeInt8Options | Int8Granularity | undefined, fn: string): Int8Granularity {
  const axis = typeof opts === 'string' ? opts : opts?.axis ?? 'tensor';
  return checkGranularity(axis, fn);
}

/** Absmax int8 quantization of a float32 tensor (codes and scales on the CPU side). */
export function quantizeInt8(x: Tensor, opts?: QuantizeInt8Options | Int8Granularity): Int8Quantized {
  assertFloat32(x, 'quantizeInt8');
  const axis = normalizeAxis(opts, 'quantizeInt8');
  return quantizeInt8Array(x.dataSync() as Float32Array, x.shape, axis);
}

/** float32 tensor of q * scale with the original shape. */
export function dequantizeInt8(qz: Int8Quantized): Tensor {
  return tf.tensor(dequantizeInt8Array(qz), qz.shape, 'float32');
}

/** dequantize(quantize(x)) with a straight-through gradient; NaN/inf pass through. */
export function fakeQuantInt8(x: Tensor, granularity: Int8Granularity = 'tensor'): Tensor {
  const fn = 'fakeQuantInt8';
  assertFloat32(x, fn);
  const axis = checkGranularity(granularity, fn);
  groupLayout(x.shape, x.size, axis, fn); // fail here, with a plain stack, before entering the tape
  const shape = x.shape;
  return straightThrough(x, (d) => fakeQuantInt8Array(d, shape, axis));
}

/**
 * Fake-quantize `x` to `format` (a float32 tensor of the rounded values) with
 * a straight-through gradient. 'fp32' returns a clone.
 */
export function castTo(x: Tensor, format: PrecisionFormat): Tensor {
  format = checkFormat(format, 'castTo');
  assertFloat32(x, 'castTo');
  switch (format) {
    case 'fp32': return x.clone();
    case 'bf16': return toBf16(x);
    case 'fp16': return toFp16(x);
    case 'fp8_e4m3': return toFp8E4M3(x);
    case 'fp8_e5m2': return toFp8E5M2(x);
    case 'int8_tensor': return fakeQuantInt8(x, 'tensor');
    case 'int8_row': return fakeQuantInt8(x, 'row');
    case 'int8_col': return fakeQuantInt8(x, 'col');
  }
}
