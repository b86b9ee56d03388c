// The training loop. One step:
//   batch -> loss and gradients -> divergence check -> clip -> AdamW (warmup + cosine)
// with evaluation, per-layer traces (alpha, std of each norm's input, squash
// saturation, per-layer and per-block gradient norms: traces.ts) and
// checkpoints at their intervals, progress on a bar and/or a callback, and a
// flat tensor count across steps. Divergence is recorded, never thrown; so is
// a stall (train.stall: no better than the task's baseline, stall.ts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import type { HookedModel } from '../models/types.js';
import { AdamW, clipByGlobalNorm } from './adamw.js';
import { readCheckpoint, restoreCheckpoint, saveCheckpoint, type LoadedCheckpoint, type TrainerState } from './checkpoint.js';
import type { ResolvedTrainConfig } from './config.js';
import { checkDivergence, newDivergenceState } from './divergence.js';
import { progressBar } from './progress.js';
import { withPrecision } from './precision.js';
import { lrAt } from './schedule.js';
import type { FinalStatus, TrainSink } from './sink.js';
import { checkStall, stallStep } from './stall.js';
import type { Task } from './task.js';
import { gradNormGroups, groupGradNorms, tracesOf } from './traces.js';

export interface TrainProgress {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  itemsPerSec: number;
  unit: string;
  eval?: Record<string, number>;
  etaSec: number;
}

export interface LoopOptions {
  /** Checkpoints go here (created); none are written without it. */
  checkpointDir?: string;
  /** The run config stored in each checkpoint's metadata. */
  runConfig?: unknown;
  /** Continue from this checkpoint (a path, or one already read): identical to an uninterrupted run. */
  resumeFrom?: string | LoadedCheckpoint;
  onProgress?: (p: TrainProgress) => void;
  /** A terminal progress bar on stderr. */
  progress?: boolean;
  /** Stop (as 'failed', reason 'stopped') after this step, e.g. to test resuming. */
  stopAfter?: number;
  signal?: AbortSignal;
  /**
   * Stop at the next step boundary as 'interrupted' (e.g. on SIGINT), writing
   * a checkpoint when checkpointDir is set; the reason names the abort reason.
   * Only an asynchronous driver (trainLoopAsync) lets a signal handler run mid-run.
   */
  interrupt?: AbortSignal;
}

export interface LoopResult {
  status: FinalStatus;
  reason?: string;
  /** Steps completed. */
  step: number;
  losses: number[];
  lastEval?: Record<string, number>;
  checkpoints: string[];
}

/** Trains to the end (synchronously). */
export function trainLoop(model: HookedModel, task: Task, cfg: ResolvedTrainConfig, sink: TrainSink, opts: LoopOptions = {}): LoopResult {
  const steps = trainSteps(model, task, cfg, sink, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** trainLoop, giving the event loop a turn after every step (so signal handlers and timers run, e.g. to interrupt it). */
export async function trainLoopAsync(model: HookedModel, task: Task, cfg: ResolvedTrainConfig, sink: TrainSink, opts: LoopOptions = {}): Promise<LoopResult> {
  const steps = trainSteps(model, task, cfg, sink, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The training loop as a generator: yields the step count after each step; its return value is the result. */
export function* trainSteps(model: HookedModel, task: Task, cfg: ResolvedTrainConfig, sink: TrainSink, opts: LoopOptions = {}): Generator<number, LoopResult, void> {
  if (cfg.stall && !task.baseline) {
    const why = 'train.stall is set but this task has no baseline to compare with';
    sink.finish('failed', { reason: why, step: 0 });
    throw new Error(why);
  }
  const opt = new AdamW(model.namedParameters(), cfg);
  const state: TrainerState = { step: 0, taskState: undefined, divergence: newDivergenceState(), losses: [] };
  if (opts.resumeFrom) {
    try {
      const ck = typeof opts.resumeFrom === 'string' ? readCheckpoint(opts.resumeFrom) : opts.resumeFrom;
      restoreCheckpoint(ck, model, opt);
      task.restore(ck.state.taskState);
      Object.assign(state, ck.state);
    } catch (e) {
      opt.dispose();
      sink.finish('failed', { reason: (e as Error).message, step: 0 });
      throw e;
    }
  }
  const checkpoints: string[] = [];
  let savedAt = -1;
  const save = () => {
    if (!opts.checkpointDir || savedAt === state.step) return;
    savedAt = state.step;
    mkdirSync(opts.checkpointDir, { recursive: true });
    const path = join(opts.checkpointDir, `step-${String(state.step).padStart(6, '0')}.safetensors`);
    saveCheckpoint(path, model, opt, { ...state, taskState: task.state() }, opts.runConfig ?? null);
    checkpoints.push(path);
    sink.addCheckpoint(path, state.step);
  };
  const bar = opts.progress ? progressBar(cfg.steps, 'train') : undefined;
  const probe = task.probe();
  const t0 = performance.now();
  let items = 0, lastEval: Record<string, number> | undefined;
  let status: FinalStatus = 'finished', reason: string | undefined;
  const tensorsAtStart = tf.memory().numTensors;
  const startStep = state.step;
  const vars = model.trainableVariables();
  const nameOf = new Map(model.namedParameters().map((p) => [p.variable.name, p.name]));
  // Loss and evaluation see the configured precision (the model itself when float32); traces read the plain model.
  const forward = withPrecision(model, cfg.precision);
  const stallAt = cfg.stall ? stallStep(cfg.stall, cfg.steps) : undefined;
  const gradGroups = gradNormGroups(model);

  try {
    if (state.step === 0) sink.logTraces(0, tracesOf(model, probe));
    while (state.step < cfg.steps) {
      if (opts.interrupt?.aborted) {
        status = 'interrupted';
        reason = `interrupted${opts.interrupt.reason !== undefined ? ` by ${String(opts.interrupt.reason)}` : ''} at step ${state.step}`;
        save();
        break;
      }
      if (opts.signal?.aborted) { status = 'failed'; reason = 'aborted'; break; }
      const step = state.step;
      const batch = task.nextBatch();
      const { value, grads } = tf.variableGrads(() => task.loss(forward, batch.x, batch.y), vars);
      const byName = new Map<string, Tensor>();
      for (const [vname, g] of Object.entries(grads)) byName.set(nameOf.get(vname)!, g);
      const loss = value.dataSync()[0]!;
      const { norm, clipped } = clipByGlobalNorm(byName, cfg.clipNorm);
      const diverged = checkDivergence(state.divergence, loss, norm, cfg.divergenceFactor);
      // Per-layer gradient norms (before clipping) on trace steps: read only, the step is unchanged.
      const layerGrads = !diverged && (step + 1) % cfg.traceEvery === 0 ? groupGradNorms(byName, gradGroups) : undefined;
      const lr = lrAt(step, cfg);
      if (!diverged) opt.apply(clipped, lr);
      tf.dispose([value, batch.x, batch.y, ...Object.values(grads), ...(clipped === byName ? [] : [...clipped.values()])]);
      if (diverged) {
        status = 'diverged';
        reason = diverged;
        sink.logMetrics(step + 1, { 'train/loss': loss, 'train/grad_norm': norm });
        break;
      }
      state.step = step + 1;
      state.losses.push(loss);
      items += batch.items;
      const elapsed = (performance.now() - t0) / 1000;
      const rate = items / elapsed;
      if (state.step % cfg.logEvery === 0) {
        sink.logMetrics(state.step, { 'train/loss': loss, 'train/lr': lr, 'train/grad_norm': norm, [`train/${task.unit}_per_sec`]: rate });
      }
      if (state.step % cfg.traceEvery === 0) {
        sink.logTraces(state.step, tracesOf(model, probe));
        if (layerGrads) sink.logMetrics(state.step, Object.fromEntries(Object.entries(layerGrads).map(([g, v]) => [`train/grad_norm/${g}`, v])));
      }
      if (state.step % cfg.evalEvery === 0 || state.step === cfg.steps || state.step === stallAt) {
        lastEval = task.evaluate(forward);
        // The separate test split (data.testSplit): scored once, at the final step, beside val/*.
        if (state.step === cfg.steps && task.evaluateTest) lastEval = { ...lastEval, ...task.evaluateTest(forward) };
        sink.logMetrics(state.step, lastEval);
      }
      if (cfg.checkpointEvery > 0 && state.step % cfg.checkpointEvery === 0 && state.step < cfg.steps) save();
      const etaSec = ((cfg.steps - state.step) * elapsed) / Math.max(1, state.step - startStep);
      bar?.update(state.step, `loss ${loss.toFixed(3)}${lastEval ? ` ${Object.entries(lastEval).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ')}` : ''} ${rate.toFixed(0)} ${task.unit}/s`);
      opts.onProgress?.({ step: state.step, steps: cfg.steps, loss, lr, gradNorm: norm, itemsPerSec: rate, unit: task.unit, ...(lastEval ? { eval: lastEval } : {}), etaSec });
      const stalled = state.step === stallAt ? checkStall(cfg.stall!, task.baseline!, lastEval, state.step, cfg.steps) : undefined;
      if (stalled) {
        status = 'stalled';
        reason = stalled;
        save();
        break;
      }
      if (opts.stopAfter !== undefined && state.step >= opts.stopAfter && state.step < cfg.steps) {
        save();
        status = 'failed';
        reason = `stopped after step ${state.step} (stopAfter)`;
        break;
      }
      yield state.step;
    }
    if (status === 'finished') save();
  } catch (e) {
    status = 'failed';
    reason = (e as Error).message;
    throw e;
  } finally {
    bar?.finish(`${status}${reason ? `: ${reason}` : ''}`, state.step);
    probe.dispose();
    opt.dispose();
    sink.finish(status, { ...(reason ? { reason } : {}), step: state.step });
    const leaked = tf.memory().numTensors - tensorsAtStart;
    if (leaked > 0 && status === 'finished') process.emitWarning(`trainLoop: ${leaked} tensors more than at the start`);
  }
  return { status, ...(reason ? { reason } : {}), step: state.step, losses: state.losses, ...(lastEval ? { lastEval } : {}), checkpoints };
}
