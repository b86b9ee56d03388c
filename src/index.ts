// dytlab's public API: `import { initBackend, createNorm, DynamicTanh } from 'dytlab'`.
// One barrel per layer, in layer order (ARCHITECTURE.md): each folder's index.ts
// says what that layer offers.
export * from './util/index.js';
export { VERSION } from './version.js';
export * from './engine/index.js';
export * from './hooks/index.js';
export * from './data/index.js';
export * from './nn/index.js';
export * from './models/index.js';
export * from './train/index.js';
export * from './analysis/index.js';
export * from './experiments/index.js';
export * from './pretrained/index.js';
export * from './study/index.js';
export * from './viz/index.js';
export * from './display/index.js';
export * from './notebook/index.js';
export * from './figures/index.js';
export * from './report/index.js';
