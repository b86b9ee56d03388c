// Cell timeouts. A synchronous busy loop blocks the event loop, so no timer on
// the main thread can stop it; a worker thread can: it raises SIGINT in this
// process, which breaks a cell running under vm's breakOnSigint, or reaches the
// session's SIGINT listener when the cell is waiting on a promise. It raises it
// again every second until the cell is disarmed (a signal that arrived while the
// cell was being compiled is otherwise lost).
//
// state[0]: the armed generation (0: none; -g: generation g has fired);
// state[1]: 1 while the worker is between its check and its kill().
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const state = new Int32Array(workerData.sab);
parentPort.on('message', ({ gen, ms }) => {
  const fire = () => {
    const s = Atomics.load(state, 0);
    if (s !== gen && s !== -gen) return;
    Atomics.compareExchange(state, 0, gen, -gen);
    Atomics.store(state, 1, 1);
    if (Atomics.load(state, 0) === -gen) {
      try { process.kill(process.pid, 'SIGINT'); } catch {}
    }
    Atomics.store(state, 1, 0);
    Atomics.notify(state, 1);
    setTimeout(fire, 1000);
  };
  setTimeout(fire, ms);
});
`;

export class Watchdog {
  private worker: Worker | null = null;
  private readonly state = new Int32Array(new SharedArrayBuffer(8));
  private gen = 0;
  /** When a timeout last fired (its late signals are expected for a moment). */
  lastFired = 0;

  /** Arms a timer for the cell that starts now; returns a disarm function that says whether it fired. */
  arm(ms: number): () => boolean {
    if (!this.worker) {
      this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sab: this.state.buffer } });
      this.worker.unref();
    }
    const gen = ++this.gen;
    Atomics.store(this.state, 0, gen);
    this.worker.postMessage({ gen, ms: Math.max(0, ms) });
    return () => {
      const prev = Atomics.exchange(this.state, 0, 0);
      // A kill() in progress finishes before we go on (its signal is then already delivered).
      while (Atomics.load(this.state, 1) === 1) Atomics.wait(this.state, 1, 1, 50);
      const fired = prev === -gen;
      if (fired) this.lastFired = Date.now();
      return fired;
    };
  }

  close(): void {
    Atomics.store(this.state, 0, 0);
    void this.worker?.terminate();
    this.worker = null;
  }
}
