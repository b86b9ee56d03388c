// Names shared by the op modules. The squash shapes themselves live in one table (../squash-shapes.ts).
export { SQUASH_SHAPES, SHAPE_CODES, assertSquashShape, type SquashShape } from '../squash-shapes.js';

/** 'auto': fused when registered for the active backend, else composed. */
export type KernelImpl = 'auto' | 'fused' | 'composed';
