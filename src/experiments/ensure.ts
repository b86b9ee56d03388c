// Reuse before retraining: notebooks ask for a run by its config, and get the
// finished run with the same config hash from the store when there is one
// (waiting for it when another process is training it right now), and train it
// otherwise. `loadRunModel` rebuilds a finished run's model from its final
// checkpoint, so analyses read runs and never retrain silently.
import { initBackend } from '../engine/backend.js';
import { buildModel } from '../models/build.js';
import type { Model } from '../models/types.js';
import { readCheckpoint, restoreCheckpoint } from '../train/checkpoint.js';
import type { Task } from '../train/task.js';
import type { TrainProgress } from '../train/trainer.js';
import { checkRunMemory, type MemoryCheckOptions } from './memory-estimate.js';
import { resolveRun, type RunConfig } from './run-config.js';
import { createRunTask, runTraining } from './run.js';
import { configHash, withStore, type RunRecord, type RunStore } from './store/index.js';

/** allowLarge / memoryLimitBytes: the memory check runTraining makes, made here before anything is trained. */
export interface EnsureOptions extends MemoryCheckOptions {
  /** An open store or a path (default: DYTLAB_STORE or runs/dytlab.sqlite). */
  store?: RunStore | string;
  onProgress?: (p: TrainProgress) => void;
  /** A CLI progress bar while training (off by default: notebooks pass onProgress). */
  progress?: boolean;
  /** Wait at most this long for a run another live process is training (default 1 hour). */
  waitSeconds?: number;
}

export interface EnsuredRun {
  runId: string;
  /** True when a finished run with the same config hash was found (nothing was trained). */
  reused: boolean;
  record: RunRecord;
  config: RunConfig;
}

/**
 * Resolve a run config completely, as the store hashes it: resolveRun (the
 * LM's vocabulary from the data spec's vocabulary rule, no dataset built).
 * Kept for notebooks that call it; async as it always was.
 */
export async function resolveFully(config: unknown): Promise<RunConfig> {
  return resolveRun(config);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The finished run with this config, or a new one trained now. A run that ends diverged or failed is an error naming it. */
export async function ensureRun(config: unknown, opts: EnsureOptions = {}): Promise<EnsuredRun> {
  // Resolved once (no dataset, no backend): hashed here, trained as it is by runTraining when the store has no such run.
  const cfg = resolveRun(config);
  // Before runTraining builds the dataset and the model: refuse what would not fit in memory.
  checkRunMemory(cfg, opts);
  const hash = configHash(cfg);
  return withStore(opts.store, async (store) => {
    const deadline = Date.now() + (opts.waitSeconds ?? 3600) * 1000;
    for (;;) {
      const done = store.findFinished(hash);
      if (done) return { runId: done.id, reused: true, record: done, config: cfg };
      // Another process (a parallel notebook) training the same config: wait for it rather than train twice.
      store.markStaleRuns({ olderThanSeconds: 600 });
      const busy = store.listRuns().find((r) => r.configHash === hash && r.status === 'running');
      if (!busy || Date.now() > deadline) break;
      await sleep(2000);
    }
    const r = await runTraining(cfg, {
      store, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), progress: opts.progress ?? false,
      ...(opts.allowLarge !== undefined ? { allowLarge: opts.allowLarge } : {}),
      ...(opts.memoryLimitBytes !== undefined ? { memoryLimitBytes: opts.memoryLimitBytes } : {}),
    });
    if (r.status !== 'finished') {
      throw new Error(`ensureRun: run ${r.runId} ('${cfg.name}') ended ${r.status}${r.reason ? `: ${r.reason}` : ''}`);
    }
    return { runId: r.runId!, reused: false, record: store.getRun(r.runId!), config: cfg };
  });
}

export interface LoadedRun {
  model: Model;
  config: RunConfig;
  /** The run's task (its data splits and evaluation), built with the run's seed. Dispose it with the model. */
  task: Task;
  step: number;
  dispose(): void;
}

/** Rebuild a run's model from its latest checkpoint (the final one for a finished run), with its task. */
export async function loadRunModel(runId: string, opts: { store?: RunStore | string } = {}): Promise<LoadedRun> {
  const ckPath = withStore(opts.store, (store) => {
    const id = store.resolveRunId(runId);
    const ck = store.latestCheckpoint(id);
    if (!ck) throw new Error(`loadRunModel: run ${id} has no checkpoint in store ${store.path}`);
    return ck.path;
  });
  const ck = readCheckpoint(ckPath);
  const cfg = resolveRun(ck.config, `checkpoint ${ckPath}: config`);
  await initBackend(cfg.backend);
  const { task } = createRunTask(cfg);
  let model: Model | undefined;
  try {
    model = buildModel(cfg);
    restoreCheckpoint(ck, model);
  } catch (e) {
    model?.dispose();
    task.dispose();
    throw e;
  }
  return { model, config: cfg, task, step: ck.step, dispose: () => { model.dispose(); task.dispose(); } };
}
