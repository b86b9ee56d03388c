// What notebooks share (ARCHITECTURE.md, notebook/): sweeps obtained with progress, metric
// formatting, the "what was trained" table, verdict pieces.
export * from './trained.js';
export * from './recipes.js';
export * from './runs.js';
export * from './trajectory.js';
export * from './metrics.js';
export * from './sweeps.js';
export * from './source.js';
export * from './verdicts.js';
export * from './stability.js';
