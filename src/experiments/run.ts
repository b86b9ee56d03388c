// One training run, end to end: validate the config, choose the backend, load
// the data, build the model, record the run in the store, train, and record how
// it ended. Bad configs and missing datasets fail before anything is written.
import { dirname, join } from 'node:path';
import { initBackend, type BackendInfo } from '../engine/backend.js';
import { buildModel } from '../models/build.js';
import type { Model } from '../models/types.js';
import { checkResumeConfig, readCheckpoint } from '../train/checkpoint.js';
import type { Task } from '../train/task.js';
import { createTask } from '../train/tasks.js';
import { trainLoop, trainLoopAsync, type LoopOptions, type LoopResult, type TrainProgress } from '../train/trainer.js';
import type { FinalStatus, TraceRow, TrainSink } from '../train/sink.js';
import { ConfigError } from '../util/schema.js';
import { checkRunMemory, type MemoryCheckOptions } from './memory-estimate.js';
import { resolveRun, type RunConfig } from './run-config.js';
import { withStore, type RunRecord, type RunStore } from './store/index.js';

/** allowLarge / memoryLimitBytes: the memory check before anything is allocated (memory-estimate.ts). */
export interface RunOptions extends MemoryCheckOptions {
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
  /**
   * For a CLI process (`dytlab train` passes it): on SIGINT or SIGTERM, stop at
   * the next step boundary, record the run 'interrupted' with its step, write a
   * checkpoint (when the run has a store file), print one line on stderr saying
   * how to resume, and exit the process with 130 (SIGINT) or 143 (SIGTERM). A
   * second signal exits at once.
   */
  handleSignals?: boolean;
  /**
   * Record the run only if the store has no finished, diverged or stalled run with the
   * same config and none in flight in a live process (RunStore.claimRun, one
   * transaction); otherwise throw a RunClaimedError. What sweeps use, so that
   * two sweeps on one store never train a combination twice.
   */
  claim?: boolean;
  /**
   * The run's task, already built for this config (createRunTask(resolveRun(config))):
   * trained on instead of building the dataset again. It stays the caller's to dispose.
   */
  task?: Task;
}

/** runTraining with claim: true found the config done, or in flight in another live process; nothing was trained. */
export class RunClaimedError extends Error {
  constructor(readonly state: 'done' | 'running', readonly run: RunRecord, storePath: string) {
    super(`run store ${storePath}: config ${run.configHash.slice(0, 12)} is ${state === 'done'
      ? `already done (run ${run.id}, ${run.status})` : `in flight in process ${run.pid} on ${run.hostname} (run ${run.id})`}`);
    this.name = 'RunClaimedError';
  }
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
    finish: (status: FinalStatus, info) => { store.finishRun(id, { status, ...info }); },
  };
}

const nullSink: TrainSink = { logMetrics() {}, logTraces() {}, addCheckpoint() {}, finish() {} };

/** The task (data splits, batching, evaluation) of a run config, with the dataset's vocabulary size. */
export function createRunTask(cfg: RunConfig): ReturnType<typeof createTask> {
  const setup = createTask(cfg.data, {
    modelKind: cfg.model.kind, batchSize: cfg.train.batchSize, seed: cfg.seed, evalBatches: cfg.train.evalBatches,
    ...(cfg.model.kind === 'lm' ? { context: cfg.model.context } : {}),
  });
  // The vocabulary rule (data/spec.ts) and the built dataset agree, or the config's hash would not say what was trained.
  const m = cfg.model;
  const want = m.kind === 'lm' ? setup.vocabSize : setup.classes, have = m.kind === 'lm' ? m.vocabSize : m.classes;
  if (want !== undefined && want !== have) {
    setup.task.dispose();
    throw new ConfigError(`run config: model.${m.kind === 'lm' ? 'vocabSize' : 'classes'} = ${have} does not match the dataset's ` +
      `${m.kind === 'lm' ? 'vocabulary of' : 'classes'} ${want}`);
  }
  return setup;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** SIGINT/SIGTERM turned into an abort (the first) and an immediate exit (the second), while installed. */
function catchSignals(): { signal: AbortSignal; caught: () => NodeJS.Signals | undefined; dispose: () => void } {
  const ctl = new AbortController();
  let caught: NodeJS.Signals | undefined;
  let at = 0;
  const on = (sig: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice (the terminal signals the whole process group, and a sweep passes it on).
    if (caught && Date.now() - at < 1000) return;
    if (caught) {
      process.stderr.write(`\n${sig} again: exiting now; the run stays 'running' until the store sees its process is gone\n`);
      process.exit(SIGNAL_EXIT[sig] ?? 1);
    }
    caught = sig;
    at = Date.now();
    process.stderr.write(`\n${sig}: stopping at the end of this step (${sig} again to exit at once)\n`);
    ctl.abort(sig);
  };
  for (const s of Object.keys(SIGNAL_EXIT)) process.on(s, on);
  return {
    signal: ctl.signal,
    caught: () => caught,
    dispose: () => { for (const s of Object.keys(SIGNAL_EXIT)) process.off(s, on); },
  };
}

/**
 * Train one run from a config object (or resume one from a checkpoint). The
 * config is resolved here (resolveRun) unless it is resolveRun's own result;
 * `opts.task` is used instead of building the dataset when given.
 */
export async function runTraining(config: unknown | undefined, opts: RunOptions = {}): Promise<RunResult> {
  const signals = opts.handleSignals ? catchSignals() : undefined;
  try {
    const r = await train(config, opts, signals?.signal);
    const sig = signals?.caught();
    if (sig && r.status === 'interrupted') {
      const ckpt = r.checkpoints.at(-1);
      process.stderr.write(`dytlab: ${r.reason ?? `interrupted by ${sig}`} of ${r.config.train.steps}; ` +
        `${r.runId ? `run ${r.runId} recorded as interrupted; ` : ''}` +
        (ckpt ? `resume with: dytlab train --resume ${ckpt} (or run its sweep again)\n`
          : 'no checkpoint was written (no run store file); run it again to start over\n'));
      process.exit(SIGNAL_EXIT[sig] ?? 1);
    }
    return r;
  } finally {
    signals?.dispose();
  }
}

async function train(config: unknown | undefined, opts: RunOptions, interrupt: AbortSignal | undefined): Promise<RunResult> {
  // A checkpoint is read (and checked) before anything is recorded.
  const checkpoint = opts.resumeFrom ? readCheckpoint(opts.resumeFrom) : undefined;
  const raw = config ?? checkpoint?.config;
  if (raw === undefined) throw new Error('runTraining: give a config, or resumeFrom a checkpoint');
  // Resolved once, the data's sizes from the vocabulary rule (no dataset, no backend); a resolved config is taken as it is.
  const cfg = resolveRun(raw);
  // Before any dataset or model is allocated: refuse what would not fit in memory, naming the fields.
  checkRunMemory(cfg, opts);
  // Resuming continues the checkpoint's run: same model, data and optimizer, and steps left to train.
  if (checkpoint) checkResumeConfig(checkpoint, resolveRun(checkpoint.config, `checkpoint ${checkpoint.path}: config`), cfg);
  if (opts.task && opts.task.kind !== cfg.model.kind) {
    throw new Error(`runTraining: the task given is for a ${opts.task.kind} model, the config's model is a ${cfg.model.kind}`);
  }
  const backend = await initBackend(cfg.backend);
  const ownsTask = !opts.task;
  const task = opts.task ?? createRunTask(cfg).task;
  let model: Model;
  try {
    model = buildModel(cfg);
  } catch (e) {
    if (ownsTask) task.dispose();
    throw e;
  }
  // The store: the one given, one opened here (and closed after the run), or none.
  const record = async (store: RunStore | undefined): Promise<RunResult> => {
    let runId: string | undefined;
    try {
      if (store) {
        const init = {
          config: cfg, kind: cfg.model.kind, name: cfg.name, seed: cfg.seed, backend,
          ...(opts.resumeFrom ? { resumeOf: opts.resumeFrom } : {}),
        };
        if (opts.claim) {
          const c = store.claimRun(init);
          if (!c.claimed) throw new RunClaimedError(c.state, c.run, store.path);
          runId = c.run.id;
        } else {
          runId = store.createRun(init).id;
          store.startRun(runId);
        }
        store.logMetrics(runId, 0, Object.fromEntries(Object.entries(task.info).filter(([, v]) => typeof v === 'number')) as Record<string, number>);
      }
      const sink = store && runId ? storeSink(store, runId) : nullSink;
      // Checkpoints live beside the store (runs/checkpoints/<run id>/); an in-memory store keeps none.
      const checkpointDir = store && runId && store.path !== ':memory:' ? join(dirname(store.path), 'checkpoints', runId) : undefined;
      const loopOpts: LoopOptions = {
        runConfig: cfg,
        ...(checkpointDir ? { checkpointDir } : {}),
        ...(checkpoint ? { resumeFrom: checkpoint } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.progress !== undefined ? { progress: opts.progress } : {}),
        ...(opts.stopAfter !== undefined ? { stopAfter: opts.stopAfter } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      };
      // With signals to watch, the loop gives the event loop a turn after every step (their handlers run there).
      const result = interrupt
        ? await trainLoopAsync(model, task, cfg.train, sink, { ...loopOpts, interrupt })
        : trainLoop(model, task, cfg.train, sink, loopOpts);
      return { ...result, ...(runId ? { runId } : {}), config: cfg, backend, taskInfo: task.info, ...(opts.keepModel ? { model } : {}) };
    } catch (e) {
      // Whatever went wrong, the store says so: a run is never left 'running' by a failure we saw.
      if (store && runId && ['created', 'running'].includes(store.getRun(runId).status)) {
        store.finishRun(runId, { status: 'failed', reason: (e as Error).message });
      }
      throw e;
    } finally {
      if (ownsTask) task.dispose();
      if (!opts.keepModel) model.dispose();
    }
  };
  return opts.store === false ? record(undefined) : withStore(opts.store, record);
}
