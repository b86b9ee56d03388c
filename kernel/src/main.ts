// Entry point Jupyter starts: node dist/kernel/main.js <connection-file>
import { Kernel, readConnectionFile } from './kernel.js';
import { terminal } from './session.js';

const file = process.argv[2];
if (!file || file === '--help' || file === '-h') {
  process.stderr.write('usage: node dist/kernel/main.js <connection-file>\n(the dytlab Jupyter kernel; install it with `dytlab kernel install`)\n');
  process.exit(file ? 0 : 2);
}

let kernel: Kernel | null = null;
// SIGINT (interrupt_mode "signal", or Ctrl-C in a console) interrupts the cell, never the kernel.
process.on('SIGINT', () => { /* the session's own listener interrupts a running cell */ });
// A cell's stray async failure must not take the kernel down: report it in the cell's output.
process.on('uncaughtException', (err) => { process.stderr.write(`Uncaught ${err?.stack ?? String(err)}\n`); });
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`Unhandled promise rejection: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
});
process.on('SIGTERM', () => { void (kernel ? kernel.shutdown(0) : Promise.resolve()).then(() => process.exit(0)); });

(async () => {
  kernel = new Kernel(readConnectionFile(file));
  await kernel.start();
  const code = await kernel.done;
  process.exit(code);
})().catch((e: Error) => {
  terminal.err(`[dytlab kernel] failed to start: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
