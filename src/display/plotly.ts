// Plotly figure specs -> MIME bundle.
//
// A figure travels as `application/vnd.plotly.v1+json` ({data, layout,
// config}); JupyterLab's plotly renderer and our HTML report draw that. Classic
// Notebook and `jupyter nbconvert --to html` ignore that type, so every figure
// also carries a `text/html` fallback: a div and a script that calls
// `Plotly.newPlot`.
//
// Offline, that fallback needs plotly.js itself, which is 4.8 MB minified.
// Embedding it in every figure would make a notebook with 20 figures ~100 MB,
// so only the FIRST figure rendered in a notebook session embeds the bundle
// (one <script> that sets window.Plotly); every later figure's script waits
// (polling every 50 ms, up to 60 s) until window.Plotly exists, then draws.
// In an exported page the outputs appear in document order, so the bundle is
// loaded before any later figure's script runs; in a live notebook it was loaded
// when the first figure was shown.
//
// What keeps the embedded copy in the saved notebook:
// - The runner calls resetPlotlyEmbed() before each notebook, the kernel on
//   start and restart: the first figure of each notebook embeds the bundle.
// - clearOutput() in the cell that received the bundle, or a display update
//   that replaces that figure by something else, resets the state, so the next
//   figure embeds it again; a display update that replaces that figure by
//   another figure embeds it again in the new figure.
// - A notebook whose first figure output was deleted (e.g. outputs cleared by
//   hand, then only later cells re-run) loses it: the later figures then show a
//   message saying to re-run from the top instead of a plot.
// The price of keeping it: updating THAT figure in place (handle.update), or a
// clearOutput()+display() loop in its cell, sends the 4.8 MB again each time.
// Live-updated figures are cheap when they are not the first figure shown.
// JupyterLab runs the scripts of text/html outputs only in trusted notebooks
// (outputs just produced are trusted); its plotly extension, where installed,
// draws the JSON instead.
import { escapeHtml, jsonForScript, newId, toPlainJson } from './html.js';
import { plotlyBundleScriptTag, PLOTLY_BUNDLE_MARKER } from './plotly-bundle.js';
import type { MimeBundle } from './types.js';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

export interface PlotlyFigure {
  data: Record<string, unknown>[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
  frames?: unknown[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A trace: an object with a `type`, or with `x` / `y` data. */
function isTrace(t: unknown): boolean {
  if (t === null || typeof t !== 'object' || Array.isArray(t)) return false;
  const o = t as Record<string, unknown>;
  return typeof o.type === 'string' || 'x' in o || 'y' in o;
}

/**
 * True for a plotly figure spec: an object with an array `data` of traces
 * (objects with a `type` or `x`/`y`), an optional object `layout` (and
 * `config`). `{data: [], layout: {...}}` counts; `{data: []}` alone does not.
 */
export function isPlotlyFigure(v: unknown): v is PlotlyFigure {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  if (!Array.isArray(o.data)) return false;
  if (o.layout !== undefined && !isPlainObject(o.layout)) return false;
  if (o.config !== undefined && !isPlainObject(o.config)) return false;
  if (o.data.length === 0) return isPlainObject(o.layout);
  return o.data.every(isTrace);
}

/** The figure as plain JSON: typed arrays become arrays, NaN/Inf become null. */
export function plotlyJson(fig: PlotlyFigure): { data: unknown[]; layout: Record<string, unknown>; config?: Record<string, unknown>; frames?: unknown[] } {
  const out: { data: unknown[]; layout: Record<string, unknown>; config?: Record<string, unknown>; frames?: unknown[] } = {
    data: toPlainJson(fig.data) as unknown[],
    layout: (toPlainJson(fig.layout ?? {}) as Record<string, unknown>),
  };
  if (fig.config !== undefined) out.config = toPlainJson(fig.config) as Record<string, unknown>;
  if (fig.frames !== undefined) out.frames = toPlainJson(fig.frames) as unknown[];
  return out;
}

function titleOf(layout: Record<string, unknown>): string | undefined {
  const t = layout.title;
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { text?: unknown }).text === 'string') return (t as { text: string }).text;
  return undefined;
}

/** A one-line text/plain summary of a figure. */
export function plotlyPlainText(fig: { data: unknown[]; layout: Record<string, unknown> }): string {
  const types = fig.data.map((t) => String((t as { type?: unknown }).type ?? 'scatter'));
  const title = titleOf(fig.layout);
  const kinds = [...new Set(types)].join(', ');
  return `<Plotly figure${title ? ` "${title}"` : ''}: ${fig.data.length} trace${fig.data.length === 1 ? '' : 's'}${kinds ? ` (${kinds})` : ''}>`;
}

// Per-process state of the html fallback's embedded bundle.
let embedded = false;
let forceEmbed = 0;

/** Makes the next figure's text/html fallback embed plotly.js again (public: resetPlotlyEmbed() in display.ts). */
export function clearPlotlyEmbedFlag(): void {
  embedded = false;
}

/** Whether a figure's fallback has embedded plotly.js since the last reset. */
export function plotlyEmbedded(): boolean {
  return embedded;
}

/** Runs `fn` with every figure rendered in it embedding plotly.js (used when re-rendering the figure that carried it). */
export function withPlotlyEmbedForced<T>(fn: () => T): T {
  forceEmbed++;
  try {
    return fn();
  } finally {
    forceEmbed--;
  }
}

/** True when HTML carries an embedded plotly.js bundle. */
export function htmlEmbedsPlotly(html: unknown): boolean {
  return typeof html === 'string' && html.includes(PLOTLY_BUNDLE_MARKER);
}

/** The text/html fallback: [plotly.js once per session] + a div + a script that draws when Plotly is there. */
export function plotlyFallbackHtml(fig: { data: unknown[]; layout: Record<string, unknown>; config?: Record<string, unknown>; frames?: unknown[] }, embed: boolean): string {
  const id = newId('dytlab-plot');
  const height = typeof fig.layout.height === 'number' && fig.layout.height > 0 ? fig.layout.height : 450;
  const width = typeof fig.layout.width === 'number' && fig.layout.width > 0 ? `${fig.layout.width}px` : '100%';
  const spec = { data: fig.data, layout: fig.layout, config: { responsive: true, displaylogo: false, ...(fig.config ?? {}) }, frames: fig.frames };
  const script = `(function () {
  var id = ${jsonForScript(id)};
  var fig = ${jsonForScript(spec)};
  var waited = 0;
  function draw() {
    var el = document.getElementById(id);
    if (!el) return;
    if (window.Plotly && typeof window.Plotly.newPlot === 'function') {
      el.textContent = '';
      var p = window.Plotly.newPlot(el, fig);
      if (p && typeof p.catch === 'function') p.catch(function (e) { el.textContent = 'plotly.js could not draw this figure: ' + e; });
      return;
    }
    if (waited >= 60000) {
      el.textContent = 'plotly.js is not loaded: dytlab embeds it only in the first figure of a notebook session, and that output is missing. Re-run the notebook from the top (or call resetPlotlyEmbed() before this figure).';
      return;
    }
    waited += 50;
    setTimeout(draw, 50);
  }
  draw();
})();`;
  return [
    embed ? plotlyBundleScriptTag() : '',
    `<div id="${escapeHtml(id)}" class="dytlab-plotly" style="width:${width};height:${height}px;"></div>`,
    `<script type="text/javascript">\n${script}\n</script>`,
  ].filter(Boolean).join('\n');
}

/** The MIME bundle of a plotly figure. */
export function renderPlotly(value: unknown): MimeBundle {
  const fig = plotlyJson(value as PlotlyFigure);
  const embed = forceEmbed > 0 || !embedded;
  const html = plotlyFallbackHtml(fig, embed);
  if (embed) embedded = true;
  return { [PLOTLY_MIME]: fig, 'text/html': html, 'text/plain': plotlyPlainText(fig) };
}
