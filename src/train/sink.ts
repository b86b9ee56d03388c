// Where a training run's records go. The run store (experiments/) implements
// this; tests and notebooks can pass a memory sink. The trainer never imports
// the store: imports flow one way (train <- experiments).
export interface TraceRow { layer: string; alpha: number | number[] | null; inputStd: number; extra?: Record<string, unknown> }
/**
 * How a run ends. 'interrupted': stopped by a signal at a step boundary (resumable from its checkpoint; a sweep runs it again).
 * 'stalled': stopped by the stall check (train.stall), no better than its task's baseline; like 'diverged', a result that counts as a failure.
 */
export const FINAL_STATUSES = ['finished', 'diverged', 'failed', 'interrupted', 'stalled'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

export interface TrainSink {
  logMetrics(step: number, values: Record<string, number>): void;
  logTraces(step: number, rows: TraceRow[]): void;
  addCheckpoint(path: string, step: number): void;
  finish(status: FinalStatus, info: { reason?: string; step: number }): void;
}

/** Keeps everything in memory (for tests and quick notebook runs). */
export class MemorySink implements TrainSink {
  readonly metrics: { step: number; name: string; value: number }[] = [];
  readonly traces: ({ step: number } & TraceRow)[] = [];
  readonly checkpoints: { path: string; step: number }[] = [];
  status?: { status: FinalStatus; reason?: string; step: number };
  logMetrics(step: number, values: Record<string, number>): void {
    for (const [name, value] of Object.entries(values)) this.metrics.push({ step, name, value });
  }
  logTraces(step: number, rows: TraceRow[]): void {
    for (const r of rows) this.traces.push({ step, ...r });
  }
  addCheckpoint(path: string, step: number): void {
    this.checkpoints.push({ path, step });
  }
  finish(status: FinalStatus, info: { reason?: string; step: number }): void {
    this.status = { status, ...info };
  }
  series(name: string): number[] {
    return this.metrics.filter((m) => m.name === name).map((m) => m.value);
  }
}
