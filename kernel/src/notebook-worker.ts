// One notebook in its own process (forked by run-notebooks.ts), as papermill
// runs each notebook in its own kernel: a cell cannot end the runner
// (process.exit, a crash, a signal), and notebooks do not share globalThis.
//
// argv[2]: a job file (JSON: the prepared notebook, cwd, timeout, allowErrors,
// and the events file). Everything the cells produce is appended to the events
// file, one JSON line at a time, with synchronous writes, so that it survives
// the process dying at any point; the parent rebuilds the executed notebook
// from it. Small progress messages go over the IPC channel.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { NotebookJson } from 'dytlab';
import { router } from './output.js';
import { progressText } from './progress-line.js';
import { backendLine, executeCells } from './runner.js';

export interface WorkerJob {
  nb: NotebookJson;
  cwd: string;
  timeoutSec?: number;
  allowErrors: boolean;
  eventsPath: string;
}

/** Lines of the events file. */
export type WorkerRecord =
  | { t: 'start'; index: number; n: number; total: number; count: number; time: string }
  | { t: 'event'; index: number; e: unknown }
  | { t: 'cell'; index: number; executionCount: number; status: 'ok' | 'error'; durationSec: number; startTime: string; backend: string }
  | { t: 'end'; backend: string };

/** IPC messages to the parent (progress only: the events file is the record). */
export type WorkerMessage =
  | { t: 'start'; index: number; n: number; total: number }
  | { t: 'cell'; index: number; n: number; total: number; status: 'ok' | 'error'; durationSec: number }
  /** A progress bar's text line (progress() in a cell), at most one a second. */
  | { t: 'progress'; index: number; text: string };

// Stream text goes to the events file as it is written (the kernel coalesces it
// for up to 50 ms, which a process.exit or a kill in that window would lose).
const write = router.write.bind(router);
router.write = (name, text) => { write(name, text); router.flush(); };

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as WorkerJob;
  const fd = openSync(job.eventsPath, 'a');
  const record = (r: WorkerRecord) => { writeSync(fd, `${JSON.stringify(r)}\n`); };
  const send = (m: WorkerMessage) => { try { process.send?.(m); } catch { /* the parent is gone */ } };
  let lastProgress = 0;
  await executeCells(job.nb, { cwd: job.cwd, ...(job.timeoutSec ? { timeoutSec: job.timeoutSec } : {}), allowErrors: job.allowErrors }, {
    onStart: (index, n, total, count) => {
      record({ t: 'start', index, n, total, count, time: new Date().toISOString() });
      send({ t: 'start', index, n, total });
    },
    onEvent: (index, e) => {
      record({ t: 'event', index, e });
      const text = progressText(e);
      const now = Date.now();
      if (text !== undefined && now - lastProgress >= 1000) {
        lastProgress = now;
        send({ t: 'progress', index, text });
      }
    },
    onDone: (r, n, total) => {
      record({ t: 'cell', index: r.index, executionCount: r.executionCount ?? 0, status: r.status, durationSec: r.durationSec, startTime: r.startTime, backend: backendLine() });
      send({ t: 'cell', index: r.index, n, total, status: r.status, durationSec: r.durationSec });
    },
  });
  record({ t: 'end', backend: backendLine() });
  closeSync(fd);
  // Timers or handles a notebook left open must not keep the worker alive.
  process.exit(0);
}

// Without the parent (it died or was interrupted), stop.
process.on('disconnect', () => process.exit(130));
main().catch((err) => {
  process.stderr.write(`dytlab notebook worker: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(70);
});
