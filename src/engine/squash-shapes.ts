// The squash shapes f in y = gamma * f(alpha * x + s) + beta: one table of
// name, code, formula, float64 value and derivative. Everything that knows the
// family reads it: the norm spec (nn/norm-spec.ts), the fused ops and their
// SIMD/WGSL/CUDA variants (by code), curve fitting (analysis/curvefit.ts), the
// float64 references (ops/reference.ts) and the benches. The fast variants
// keep their own arithmetic (rational tanh, SIMD); the tests hold them to
// these float64 values.
import { erf64 } from '../util/erf.js';

/** Shape names, in code order (code = index: the SIMD module's K_* constants, WGSL and CUDA kernel names follow it). */
export const SQUASH_SHAPES = ['tanh', 'hardtanh', 'sigmoid', 'softsign', 'erf', 'isru', 'identity'] as const;
export type SquashShape = (typeof SQUASH_SHAPES)[number];

export interface SquashShapeDef {
  readonly name: SquashShape;
  /** Index in SQUASH_SHAPES: the code the kernels are compiled with. */
  readonly code: number;
  /** f(u) as written in reports and docs. */
  readonly formula: string;
  /** f(u) in float64 (reference accuracy). */
  readonly f64: (u: number) => number;
  /** f'(u) in float64. */
  readonly df64: (u: number) => number;
  /** sup |f| (Infinity when unbounded). */
  readonly bound: number;
}

const SQRT_PI = Math.sqrt(Math.PI);

const DEFS: { [K in SquashShape]: Omit<SquashShapeDef, 'name' | 'code'> } = {
  tanh: { formula: 'tanh(u)', f64: Math.tanh, df64: (u) => 1 - Math.tanh(u) ** 2, bound: 1 },
  hardtanh: { formula: 'clip(u, -1, 1)', f64: (u) => Math.min(1, Math.max(-1, u)), df64: (u) => (u >= -1 && u <= 1 ? 1 : 0), bound: 1 },
  // Centred so that f(0) = 0: 2 sigmoid(u) - 1 = tanh(u / 2), written as tanh so it stays accurate near 0.
  sigmoid: { formula: '2 sigmoid(u) - 1', f64: (u) => Math.tanh(u / 2), df64: (u) => 0.5 * (1 - Math.tanh(u / 2) ** 2), bound: 1 },
  softsign: { formula: 'u / (1 + |u|)', f64: (u) => u / (1 + Math.abs(u)), df64: (u) => 1 / (1 + Math.abs(u)) ** 2, bound: 1 },
  erf: { formula: 'erf(u)', f64: erf64, df64: (u) => (2 / SQRT_PI) * Math.exp(-u * u), bound: 1 },
  isru: { formula: 'u / sqrt(1 + u^2)', f64: (u) => u / Math.sqrt(1 + u * u), df64: (u) => (1 + u * u) ** -1.5, bound: 1 },
  identity: { formula: 'u', f64: (u) => u, df64: () => 1, bound: Infinity },
};

/** Every shape's definition, by name. */
export const SQUASH: { readonly [K in SquashShape]: SquashShapeDef } = Object.fromEntries(
  SQUASH_SHAPES.map((name, code) => [name, Object.freeze({ name, code, ...DEFS[name] })]),
) as { [K in SquashShape]: SquashShapeDef };

/** Shape codes by name (the SIMD module, WGSL and CUDA launchers). */
export const SHAPE_CODES: Readonly<Record<SquashShape, number>> = Object.fromEntries(SQUASH_SHAPES.map((n, i) => [n, i])) as Record<SquashShape, number>;

export function isSquashShape(shape: unknown): shape is SquashShape {
  return typeof shape === 'string' && (SQUASH_SHAPES as readonly string[]).includes(shape);
}

export function assertSquashShape(shape: string): asserts shape is SquashShape {
  if (!isSquashShape(shape)) throw new Error(`unknown squash shape '${shape}'; expected one of ${SQUASH_SHAPES.join(', ')}`);
}

/** f(u) of a squash shape, float64. */
export function squashF64(shape: SquashShape, u: number): number {
  return SQUASH[shape].f64(u);
}
