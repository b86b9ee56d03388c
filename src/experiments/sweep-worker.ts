// A sweep worker: a child process (forked by sweep-runner.ts) that trains one
// run through runTraining into the shared store and reports over IPC.
//
// If the sweep's process dies (even by SIGKILL) the worker notices at its next
// training step (its parent pid changes) and stops; the run is recorded
// 'failed' ("sweep process died") rather than left 'running'. Killed itself,
// it leaves its run 'running' under its own pid, which the next sweep (or any
// process opening the store) marks failed because that pid no longer exists.
import { runTraining } from './run.js';
import { configHash } from './store.js';
import type { WorkerRequest, WorkerMessage } from './sweep-runner.js';

const parentPid = process.ppid;
const orphaned = () => process.ppid !== parentPid;

let finishing = false;

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
  const r = await runTraining(req.config, {
    store: req.store,
    progress: false,
    onProgress: (p) => {
      // Throwing here ends trainLoop: the run is recorded failed with this reason.
      if (orphaned()) throw new Error(`sweep process ${parentPid} died`);
      const now = Date.now();
      if (now - last < (req.progressMs ?? 250) && p.step < p.steps) return;
      last = now;
      void send({
        type: 'progress', step: p.step, steps: p.steps, loss: p.loss, itemsPerSec: p.itemsPerSec, unit: p.unit,
        etaSec: p.etaSec, ...(p.eval ? { eval: p.eval } : {}),
      });
    },
  });
  await finish({
    type: 'done', status: r.status, step: r.step, hash: configHash(r.config),
    ...(r.runId ? { runId: r.runId } : {}), ...(r.reason ? { reason: r.reason } : {}), ...(r.lastEval ? { lastEval: r.lastEval } : {}),
  }, 0);
}

if (!process.send) {
  console.error('sweep-worker: run me through the sweep runner (needs an IPC channel)');
  process.exit(2);
}
// While no training step is running (startup, between messages) the event loop notices the parent going away.
process.on('disconnect', () => { if (!finishing) process.exit(75); });
process.once('message', (req: WorkerRequest) => {
  work(req).catch((e: Error) => finish({ type: 'error', message: e.message }, 1));
});
void send({ type: 'ready' });
