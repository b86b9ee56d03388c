// A sweep worker: a child process (forked by sweep-runner.ts) that trains one
// run through runTraining into the shared store and reports over IPC.
// runTraining resolves the combination's config with resolveRun, the function
// expandSweep resolved and hashed it with (one vocabulary rule, data/spec.ts),
// so the run is recorded under the hash the sweep planned it by.
//
// If the sweep's process dies (even by SIGKILL) the worker notices at its next
// training step (its parent pid changes) and stops; the run is recorded
// 'failed' ("sweep process died") rather than left 'running'. Killed itself,
// it leaves its run 'running' under its own pid, which the next sweep (or any
// process opening the store) marks failed because that pid no longer exists.
// SIGINT/SIGTERM (Ctrl-C reaches the whole process group; an aborted sweep
// sends SIGTERM): the run stops at its step boundary, recorded 'interrupted'
// with a checkpoint, and the next sweep runs it again.
//
// The run is claimed in the store (one transaction) before it trains: a
// combination another process finished or is training meanwhile is reported
// back ('claimed') rather than trained twice.
import { runTraining, RunClaimedError } from './run.js';
import { configHash } from './store/index.js';
import type { WorkerRequest, WorkerMessage } from './sweep-runner.js';

const parentPid = process.ppid;
const orphaned = () => process.ppid !== parentPid;

let finishing = false;
/** While a run trains, a parent that goes away is noticed at the next step (onProgress), which records the run failed. */
let training = false;

/** Sends a message; resolves once it is written (or could not be: the parent is gone). */
function send(m: WorkerMessage): Promise<void> {
  if (!process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    try {
      process.send!(m, undefined, undefined, () => resolve());
    } catch {
      resolve(); // the parent is gone; the next check stops the run
    }
  });
}

async function finish(m: WorkerMessage, code: number): Promise<void> {
  await send(m);
  finishing = true;
  process.exitCode = code;
  if (process.connected) process.disconnect();
}

async function work(req: WorkerRequest): Promise<void> {
  let last = 0;
  let r: Awaited<ReturnType<typeof runTraining>>;
  training = true;
  try {
    r = await run(req, () => last, (t) => { last = t; });
  } catch (e) {
    training = false;
    if (!(e instanceof RunClaimedError)) throw e;
    await finish({ type: 'claimed', state: e.state, runId: e.run.id, hash: e.run.configHash }, 0);
    return;
  }
  training = false;
  await finish({
    // An interrupted worker (its sweep was stopped) is a failure to the runner; a stall is a result, like a divergence.
    type: 'done', status: r.status === 'interrupted' ? 'failed' : r.status, step: r.step, hash: configHash(r.config),
    ...(r.runId ? { runId: r.runId } : {}), ...(r.reason ? { reason: r.reason } : {}), ...(r.lastEval ? { lastEval: r.lastEval } : {}),
  }, 0);
}

function run(req: WorkerRequest, lastSent: () => number, sent: (t: number) => void): ReturnType<typeof runTraining> {
  return runTraining(req.config, {
    store: req.store,
    claim: true,
    handleSignals: true,
    ...(req.allowLarge ? { allowLarge: true } : {}),
    progress: false,
    onProgress: (p) => {
      // Throwing here ends trainLoop: the run is recorded failed with this reason.
      if (orphaned()) throw new Error(`sweep process ${parentPid} died`);
      const now = Date.now();
      if (now - lastSent() < (req.progressMs ?? 250) && p.step < p.steps) return;
      sent(now);
      void send({
        type: 'progress', step: p.step, steps: p.steps, loss: p.loss, itemsPerSec: p.itemsPerSec, unit: p.unit,
        etaSec: p.etaSec, ...(p.eval ? { eval: p.eval } : {}),
      });
    },
  });
}

if (!process.send) {
  console.error('sweep-worker: run me through the sweep runner (needs an IPC channel)');
  process.exit(2);
}
// While no training step is running (startup, between messages) the event loop notices the parent going away.
process.on('disconnect', () => { if (!finishing && !training) process.exit(75); });
process.once('message', (req: WorkerRequest) => {
  work(req).catch((e: Error) => finish({ type: 'error', message: e.message }, 1));
});
void send({ type: 'ready' });
