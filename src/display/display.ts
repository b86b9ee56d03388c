// display(), its handles, clearOutput(), and the sink they write to. The
// kernel and the headless runner install a sink for the duration of a cell;
// without one (a plain script), displays print their text/plain to stdout.
import { newId } from './html.js';
import { clearPlotlyEmbedFlag, htmlEmbedsPlotly, withPlotlyEmbedForced } from './plotly.js';
import { toMimeBundle } from './registry.js';
import type { DisplaySink, MimeBundle } from './types.js';

let sink: DisplaySink | null = null;
/** Display ids whose current output carries the embedded plotly.js bundle. */
const bundleHolders = new Set<string>();
/** The sink that received the embedded bundle (clearOutput() there drops it). */
let bundleSink: DisplaySink | null = null;

/** Installs the sink displays go to (null: stdout). Returns the previous one. */
export function setDisplaySink(s: DisplaySink | null): DisplaySink | null {
  const prev = sink;
  sink = s;
  return prev;
}

/** The sink now installed, or null. */
export function currentDisplaySink(): DisplaySink | null {
  return sink;
}

export interface DisplayHandle {
  readonly id: string;
  /** Replaces this display's output (update_display_data) with `value`'s bundle. */
  update(value: unknown): void;
}

function printPlain(bundle: MimeBundle): void {
  process.stdout.write(`${String(bundle['text/plain'])}\n`);
}

function emit(kind: 'display' | 'update', bundle: MimeBundle, id: string): void {
  const carries = htmlEmbedsPlotly(bundle['text/html']);
  if (!sink) {
    // Nothing keeps the HTML: the next figure shown must embed plotly.js itself.
    if (carries) clearPlotlyEmbedFlag();
    printPlain(bundle);
    return;
  }
  if (carries) {
    bundleHolders.add(id);
    bundleSink = sink;
  } else if (kind === 'update' && bundleHolders.delete(id) && bundleHolders.size === 0) {
    // The output that carried plotly.js was replaced by something else.
    clearPlotlyEmbedFlag();
  }
  if (kind === 'display') sink.display(bundle, {}, id);
  else sink.update(bundle, {}, id);
}

class Handle implements DisplayHandle {
  constructor(readonly id: string) {}

  update(value: unknown): void {
    // The output that holds plotly.js keeps holding it when its figure is replaced.
    const bundle = bundleHolders.has(this.id) ? withPlotlyEmbedForced(() => toMimeBundle(value)) : toMimeBundle(value);
    emit('update', bundle, this.id);
  }
}

/**
 * Shows `value` as a MIME bundle (see toMimeBundle) and returns a handle that
 * can replace it in place. `id` names the display (default: a fresh id);
 * displaying again with the same id adds another output that updates together.
 */
export function display(value: unknown, opts: { id?: string } = {}): DisplayHandle {
  const id = opts.id ?? newId();
  emit('display', toMimeBundle(value), id);
  return new Handle(id);
}

/** Clears the cell's output (with `wait`, when the next output arrives). Without a sink it does nothing. */
export function clearOutput(wait = false): void {
  if (!sink) return;
  if (bundleSink === sink && bundleHolders.size > 0) {
    // The cleared outputs may include the one with plotly.js: embed it again next time.
    resetPlotlyEmbed();
  }
  sink.clear(wait);
}

/**
 * Makes the next plotly figure's text/html fallback embed plotly.js again and
 * forgets which outputs carried it. The headless runner calls this before each
 * notebook, the kernel when it starts or restarts.
 */
export function resetPlotlyEmbed(): void {
  bundleHolders.clear();
  bundleSink = null;
  clearPlotlyEmbedFlag();
}
