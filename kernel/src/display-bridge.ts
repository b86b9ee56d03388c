// The display API the kernel uses from 'dytlab' (src/display): a sink for
// display()/clearOutput() and toMimeBundle for a cell's value. Looked up at run
// time so that the kernel still works (text/plain results, no dytlab display())
// with a library build that does not export it.
import * as util from 'node:util';

export type MimeBundle = Record<string, unknown>;

export interface DisplaySink {
  display(data: MimeBundle, metadata: Record<string, unknown>, displayId?: string): void;
  update(data: MimeBundle, metadata: Record<string, unknown>, displayId: string): void;
  clear(wait: boolean): void;
}

interface DisplayApi {
  setDisplaySink(s: DisplaySink | null): DisplaySink | null;
  toMimeBundle(value: unknown): MimeBundle;
  resetPlotlyEmbed(): void;
}

let api: Partial<DisplayApi> | undefined;

/** dytlab's display functions that exist in this build (loads the library once). */
export function displayApi(): Partial<DisplayApi> {
  if (api) return api;
  try {
    api = require('dytlab') as Partial<DisplayApi>;
  } catch (e) {
    // Said once, on the kernel's own stderr (the log), instead of kept where nothing reads it.
    process.stderr.write(`dytlab kernel: display plugins unavailable (cannot load 'dytlab': ${(e as Error).message}); values show as text\n`);
    api = {};
  }
  return api;
}

/** text/plain the way Node's REPL shows a value. */
export function plainText(value: unknown): string {
  return typeof value === 'string' ? util.inspect(value) : util.inspect(value, { depth: 4, maxArrayLength: 100, breakLength: 100 });
}

/**
 * The MIME bundle for a cell's last value: dytlab's display plugins when
 * present, else text/plain. A bundle always has text/plain.
 */
export function bundleFor(value: unknown): MimeBundle {
  const to = displayApi().toMimeBundle;
  if (typeof to === 'function') {
    try {
      const b = to(value);
      if (b && typeof b === 'object') return 'text/plain' in b ? b : { ...b, 'text/plain': plainText(value) };
    } catch { /* fall back to text */ }
  }
  return { 'text/plain': plainText(value) };
}
