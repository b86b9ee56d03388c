// One training run, end to end: validate the config, choose the backend, load
// the data, build the model, record the run in the store, train, and record how
// it ended. Bad configs and missing datasets fail before anything is written.
import { dirname, join } from 'node:path';
import { initBackend, type BackendInfo } from '../engine/backend.js';
import { LM } from '../models/llama.js';
import { ViT } from '../models/vit.js';
import type { Model } from '../models/types.js';
import { readCheckpoint } from '../train/checkpoint.js';
import { createTask } from '../train/tasks.js';
import { trainLoop, type LoopResult, type TrainProgress } from '../train/trainer.js';
import type { RunStatus, TraceRow, TrainSink } from '../train/sink.js';
import { resolveRunConfig, type RunConfig } from './run-config.js';
import { openStore, type RunStore } from './store.js';

export interface RunOptions {
  /** An open store, a path to one, or false for none (a memory-only run). Default: runs/dytlab.sqlite. */
  store?: RunStore | string | false;
  /** Resume from this checkpoint file (its config is used when `config` is omitted). */
  resumeFrom?: string;
  onProgress?: (p: TrainProgress) => void;
  progress?: boolean;
  /** Stop after this step (writing a checkpoint), e.g. to test resuming. */
  stopAfter?: number;
  /** Keep the trained model (the caller disposes it); otherwise it is disposed. */
  keepModel?: boolean;
  signal?: AbortSignal;
}

export interface RunResult extends LoopResult {
  runId?: string;
  config: RunConfig;
  backend: BackendInfo;
  taskInfo: Record<string, number | string>;
  model?: Model;
}

function storeSink(store: RunStore, id: string): TrainSink {
  return {
    logMetrics: (step, values) => { store.logMetrics(id, step, values); }, // also refreshes the heartbeat
    logTraces: (step, rows: TraceRow[]) => { store.logTraces(id, step, rows); },
    addCheckpoint: (path, step) => { store.addArtifact(id, { kind: 'checkpoint', path, step }); },
    finish: (status: RunStatus, info) => { store.finishRun(id, { status, ...info }); },
  };
}

const nullSink: TrainSink = { logMetrics() {}, logTraces() {}, addCheckpoint() {}, finish() {} };

/** The task (data splits, batching, evaluation) of a run config, with the dataset's vocabulary size. */
export function createRunTask(cfg: RunConfig): ReturnType<typeof createTask> {
  return createTask(cfg.data, {
    modelKind: cfg.model.kind, batchSize: cfg.train.batchSize, seed: cfg.seed, evalBatches: cfg.train.evalBatches,
    ...(cfg.model.kind === 'lm' ? { context: cfg.model.context } : {}),
  });
}

/** Train one run from a config object (or resume one from a checkpoint). */
export async function runTraining(config: unknown | undefined, opts: RunOptions = {}): Promise<RunResult> {
  // A checkpoint is read (and checked) before anything is recorded.
  const checkpoint = opts.resumeFrom ? readCheckpoint(opts.resumeFrom) : undefined;
  const raw = config ?? checkpoint?.config;
  if (raw === undefined) throw new Error('runTraining: give a config, or resumeFrom a checkpoint');
  // Validate once without the dataset (cheap, catches typos), then again with its vocabulary.
  const first = resolveRunConfig(raw);
  const backend = await initBackend(first.backend);
  const { task, vocabSize } = createRunTask(first);
  const cfg = resolveRunConfig(raw, 'run config', vocabSize);
  const model: Model = cfg.model.kind === 'lm' ? new LM(cfg.model) : new ViT(cfg.model);
  const store = opts.store === false ? undefined : typeof opts.store === 'object' ? opts.store : openStore(opts.store);
  const ownsStore = store !== undefined && typeof opts.store !== 'object';
  let runId: string | undefined;
  try {
    if (store) {
      const rec = store.createRun({
        config: cfg, kind: cfg.model.kind, name: cfg.name, seed: cfg.seed, backend,
        ...(opts.resumeFrom ? { resumeOf: opts.resumeFrom } : {}),
      });
      runId = rec.id;
      store.startRun(runId);
      store.logMetrics(runId, 0, Object.fromEntries(Object.entries(task.info).filter(([, v]) => typeof v === 'number')) as Record<string, number>);
    }
    const sink = store && runId ? storeSink(store, runId) : nullSink;
    // Checkpoints live beside the store (runs/checkpoints/<run id>/); an in-memory store keeps none.
    const checkpointDir = store && runId && store.path !== ':memory:' ? join(dirname(store.path), 'checkpoints', runId) : undefined;
    const result = trainLoop(model, task, cfg.train, sink, {
      runConfig: cfg,
      ...(checkpointDir ? { checkpointDir } : {}),
      ...(checkpoint ? { resumeFrom: checkpoint } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.progress !== undefined ? { progress: opts.progress } : {}),
      ...(opts.stopAfter !== undefined ? { stopAfter: opts.stopAfter } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { ...result, ...(runId ? { runId } : {}), config: cfg, backend, taskInfo: task.info, ...(opts.keepModel ? { model } : {}) };
  } catch (e) {
    // Whatever went wrong, the store says so: a run is never left 'running' by a failure we saw.
    if (store && runId && ['created', 'running'].includes(store.getRun(runId).status)) {
      store.finishRun(runId, { status: 'failed', reason: (e as Error).message });
    }
    throw e;
  } finally {
    task.dispose();
    if (!opts.keepModel) model.dispose();
    if (ownsStore) store.close();
  }
}
