// Names shared by the kernel modules.

/** Squash shapes f in y = gamma * f(alpha * x + s) + beta. */
export type SquashShape = 'tanh' | 'hardtanh' | 'sigmoid' | 'softsign' | 'erf' | 'isru' | 'identity';

export const SQUASH_SHAPES: readonly SquashShape[] = ['tanh', 'hardtanh', 'sigmoid', 'softsign', 'erf', 'isru', 'identity'];

/** Shape codes of the SIMD module; keep in sync with K_* in assembly/kernels.ts. */
export const SHAPE_CODES: Readonly<Record<SquashShape, number>> = {
  tanh: 0, hardtanh: 1, sigmoid: 2, softsign: 3, erf: 4, isru: 5, identity: 6,
};

/** 'auto': fused when registered for the active backend, else composed. */
export type KernelImpl = 'auto' | 'fused' | 'composed';

export function assertSquashShape(shape: string): asserts shape is SquashShape {
  if (!(SQUASH_SHAPES as readonly string[]).includes(shape)) {
    throw new Error(`unknown squash shape '${shape}'; expected one of ${SQUASH_SHAPES.join(', ')}`);
  }
}
