// The parts every report page shares: the document shell with its
// Content-Security-Policy (scripts allowed by hash only), the stylesheet, the
// plotly.js bundle with the figure-drawing helper, and the run manifest table.
import { createHash } from 'node:crypto';
import { escapeHtml, formatNumber, jsonForScript } from '../display/html.js';
import { plotlyBundleScriptHash, plotlyBundleScriptTag } from '../display/plotly-bundle.js';
import { HIGHLIGHT_CSS } from './highlight.js';

/**
 * The Content-Security-Policy of a report page. Scripts: only the page's own
 * inline scripts run, each named by the sha256 of its text (plotly.js and the
 * figure-drawing helper; a page without figures runs none), so HTML that came
 * from a notebook cannot run script even where the sanitizer missed something.
 * `'unsafe-eval'` only for a page with a WebGL trace (regl, in plotly.js,
 * builds its draw calls with `new Function`; SVG traces need no eval).
 * Styles: `'unsafe-inline'`, since the display plugins' HTML and plotly.js
 * itself set style attributes. Images, fonts and media only as data:/blob:;
 * nothing is loaded from the network or another file, no frames, objects,
 * forms or <base>.
 */
export function reportCsp(opts: { scriptHashes?: readonly string[]; allowEval?: boolean } = {}): string {
  const hashes = opts.scriptHashes ?? [];
  const scripts = hashes.length ? [...hashes, ...(opts.allowEval ? ["'unsafe-eval'"] : [])].join(' ') : "'none'";
  return [
    "default-src 'none'",
    `script-src ${scripts}`,
    "style-src 'unsafe-inline'",
    'img-src data: blob:',
    'font-src data:',
    'media-src data: blob:',
    'worker-src blob:',
    "connect-src 'none'",
    "frame-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** The policy of a page that runs no script (a report without figures). */
export const REPORT_CSP = reportCsp();

/** `'sha256-…'`: the CSP source that lets an inline <script> whose text is exactly `js` run. */
export function scriptHash(js: string): string {
  return `'sha256-${createHash('sha256').update(js, 'utf8').digest('base64')}'`;
}

/** plotly.js trace types drawn with WebGL (regl / stack.gl), which need 'unsafe-eval'. */
export const WEBGL_TRACE_TYPES: ReadonlySet<string> = new Set([
  'scattergl', 'scatterpolargl', 'splom', 'parcoords', 'heatmapgl', 'pointcloud', 'contourgl',
  'scatter3d', 'surface', 'mesh3d', 'cone', 'streamtube', 'volume', 'isosurface',
  'scattermap', 'scattermapbox', 'choroplethmap', 'choroplethmapbox', 'densitymap', 'densitymapbox',
]);

/** True when a figure spec has a WebGL trace (in its data or its animation frames). */
export function figureUsesWebgl(spec: unknown): boolean {
  const s = spec as { data?: unknown; frames?: unknown } | null;
  const traces = (d: unknown): boolean => Array.isArray(d) && d.some((t) => {
    const type = (t as { type?: unknown } | null)?.type;
    return typeof type === 'string' && WEBGL_TRACE_TYPES.has(type.toLowerCase());
  });
  if (!s || typeof s !== 'object') return false;
  return traces(s.data) || (Array.isArray(s.frames) && s.frames.some((f) => traces((f as { data?: unknown } | null)?.data)));
}

export const PAGE_CSS = `
:root { --fg: #1f2328; --muted: #656d76; --border: #d0d7de; --bg-code: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.page { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; }
a { color: var(--accent); }
h1, h2, h3, h4, h5, h6 { line-height: 1.25; margin: 1.2em 0 0.5em; }
.anchor-link { margin-left: 0.35em; font-size: 0.8em; color: var(--muted); text-decoration: none; visibility: hidden; }
h1:hover .anchor-link, h2:hover .anchor-link, h3:hover .anchor-link, h4:hover .anchor-link, h5:hover .anchor-link, h6:hover .anchor-link { visibility: visible; }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
pre { margin: 0; padding: 8px 12px; overflow-x: auto; white-space: pre; }
p code, li code, td code { background: var(--bg-code); padding: 0.1em 0.3em; border-radius: 4px; }
table { border-collapse: collapse; }
.report-header { border-bottom: 1px solid var(--border); margin-bottom: 16px; padding-bottom: 12px; }
.report-header h1 { margin-top: 0.3em; }
.manifest { font-size: 13px; }
.manifest th, .manifest td { text-align: left; vertical-align: top; padding: 2px 12px 2px 0; border: none; }
.manifest th { color: var(--muted); font-weight: 600; white-space: nowrap; }
.manifest table table th, .manifest table table td { padding: 0 10px 0 0; }
.status { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eaeef2; }
.status-ok, .status-succeeded, .status-success, .status-completed, .status-done, .status-passed { background: #dafbe1; color: #116329; }
.status-error, .status-failed, .status-failure, .status-timeout, .status-diverged { background: #ffebe9; color: #a40e26; }
.status-running, .status-partial, .status-skipped { background: #fff8c5; color: #7d4e00; }
nav.toc { border: 1px solid var(--border); border-radius: 6px; padding: 8px 16px; margin: 16px 0 24px; font-size: 14px; }
nav.toc h2 { font-size: 15px; margin: 4px 0; }
nav.toc ul { margin: 0; padding-left: 1.2em; list-style: none; }
nav.toc li { margin: 2px 0; }
nav.toc .toc-l2 { padding-left: 1em; } nav.toc .toc-l3 { padding-left: 2em; } nav.toc .toc-l4, nav.toc .toc-l5, nav.toc .toc-l6 { padding-left: 3em; }
.cell { margin: 10px 0; }
.cell .row { display: flex; align-items: flex-start; }
.prompt { flex: 0 0 72px; padding: 8px 8px 0 0; text-align: right; color: var(--muted); font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.prompt.out { color: #b3541e; }
.body { flex: 1 1 auto; min-width: 0; }
.input pre { background: var(--bg-code); border: 1px solid var(--border); border-radius: 6px; }
.tags { margin: 0 0 2px 72px; } .tag { font-size: 11px; color: var(--muted); border: 1px solid var(--border); border-radius: 8px; padding: 0 6px; margin-right: 4px; }
.output { margin: 4px 0; overflow-x: auto; }
.output pre { padding: 4px 0; }
.output .stderr { background: #fff5f5; }
.output .error { background: #fff0f0; border-left: 3px solid #cf222e; padding: 4px 8px; }
.output .error-head { font-weight: 600; color: #a40e26; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.output img { max-width: 100%; }
.output table, .markdown table { font-size: 13px; }
.output th, .output td, .markdown th, .markdown td { border: 1px solid var(--border); padding: 3px 8px; }
.markdown { padding: 0 8px 0 72px; }
.markdown img { max-width: 100%; }
.markdown blockquote { margin: 0; padding: 0 1em; color: var(--muted); border-left: 4px solid var(--border); }
.math-display { overflow-x: auto; margin: 0.8em 0; }
math[display="block"] { display: block; margin: 0.6em 0; }
.missing-image, .unsupported { color: var(--muted); font-style: italic; }
.plotly-figure { width: 100%; min-height: 120px; }
.figure-files { font-size: 13px; color: var(--muted); margin: 2px 0 8px; }
.figure-files a { margin: 0 2px; }
.raw pre { color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--border); padding-top: 8px; }
.index-table { width: 100%; font-size: 14px; }
.index-table th, .index-table td { border-bottom: 1px solid var(--border); padding: 8px 12px 8px 0; text-align: left; vertical-align: middle; }
.index-table .num { text-align: right; white-space: nowrap; }
.index-table .nb-path { color: var(--muted); font-size: 12px; }
.thumb { width: 320px; height: 200px; }
@media print { .anchor-link, nav.toc { display: none; } .page { max-width: none; padding: 0; } }
${HIGHLIGHT_CSS}`;

/**
 * The page's one script besides plotly.js, at the end of <body>: draws every
 * figure div (`data-dytlab-figure`) from the JSON <script> right after it, with
 * the overrides in its `data-dytlab-overrides`. Markup from a notebook cannot
 * add either: the sanitizer lets no data-* attribute or <script> through.
 */
const PLOT_HELPER = `
window.dytlabPlot = function (el) {
  if (typeof el === 'string') el = document.getElementById(el);
  if (!el || !el.hasAttribute('data-dytlab-figure')) return;
  var src = el.nextElementSibling;
  if (!src || src.tagName !== 'SCRIPT' || src.type !== 'application/json') { el.textContent = 'figure JSON missing'; return; }
  var fig, o = {};
  try { fig = JSON.parse(src.textContent); } catch (e) { el.textContent = 'invalid figure JSON: ' + e; return; }
  try { o = JSON.parse(el.getAttribute('data-dytlab-overrides') || '{}'); } catch (e) { o = {}; }
  if (!window.Plotly) { el.textContent = 'plotly.js did not load, so this figure cannot be drawn'; return; }
  var layout = Object.assign({}, fig.layout || {}, o.layout || {});
  var config = Object.assign({ responsive: true, displaylogo: false }, fig.config || {}, o.config || {});
  try {
    var p = window.Plotly.newPlot(el, { data: fig.data || [], layout: layout, config: config, frames: fig.frames });
    if (p && typeof p.catch === 'function') p.catch(function (e) { el.textContent = 'plotly.js could not draw this figure: ' + e; });
  } catch (e) { el.textContent = 'plotly.js could not draw this figure: ' + e; }
};
Array.prototype.forEach.call(document.querySelectorAll('div[data-dytlab-figure]'), function (el) { window.dytlabPlot(el); });
`;

/** A figure: its div (with the overrides, if any) and its JSON; the helper at the end of the page draws it. */
export function figureHtml(id: string, spec: unknown, opts: { className?: string; style?: string; overrides?: unknown } = {}): string {
  const s = spec as { layout?: { height?: unknown } };
  const height = typeof s.layout?.height === 'number' && s.layout.height > 0 ? s.layout.height : 450;
  const style = opts.style ?? `height:${height}px`;
  const overrides = opts.overrides ? ` data-dytlab-overrides="${escapeHtml(JSON.stringify(opts.overrides))}"` : '';
  return `<div id="${escapeHtml(id)}" class="${escapeHtml(opts.className ?? 'plotly-figure')}" style="${escapeHtml(style)}" data-dytlab-figure${overrides}></div>\n`
    + `<script type="application/json" id="${escapeHtml(id)}-json">${jsonForScript(spec)}</script>`;
}

/**
 * The whole document. With `figures`, plotly.js goes in <head> (once) and the
 * drawing helper at the end of <body>, and the CSP names both by their hashes
 * (plus 'unsafe-eval' when `figures.webgl`); without, the page runs no script.
 */
export function pageShell(opts: { title: string; head?: string; body: string; generator: string; figures?: { count: number; webgl?: boolean } }): string {
  const drawn = (opts.figures?.count ?? 0) > 0;
  const csp = drawn
    ? reportCsp({ scriptHashes: [plotlyBundleScriptHash(), scriptHash(PLOT_HELPER)], allowEval: Boolean(opts.figures?.webgl) })
    : REPORT_CSP;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="generator" content="${escapeHtml(opts.generator)}">
<title>${escapeHtml(opts.title)}</title>
<style>${PAGE_CSS}</style>
${drawn ? `${plotlyBundleScriptTag()}\n` : ''}${opts.head ?? ''}
</head>
<body>
<div class="page">
${opts.body}
</div>
${drawn ? `<script>${PLOT_HELPER}</script>\n` : ''}</body>
</html>
`;
}

/** A status word as a coloured badge. */
export function statusBadge(status: unknown): string {
  const s = String(status ?? 'unknown');
  const cls = s.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return `<span class="status status-${escapeHtml(cls)}">${escapeHtml(s)}</span>`;
}

/** Seconds as "12.3 s" / "4 min 05 s" / "1 h 02 min". */
export function formatSeconds(sec: number): string {
  if (!Number.isFinite(sec)) return String(sec);
  if (sec < 60) return `${sec < 10 ? sec.toFixed(2) : sec.toFixed(1)} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${String(Math.round(sec % 60)).padStart(2, '0')} s`;
  return `${Math.floor(sec / 3600)} h ${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')} min`;
}

function manifestValue(key: string, v: unknown, depth: number): string {
  if (v === null || v === undefined) return '<span class="muted">\u2014</span>';
  if (typeof v === 'number') {
    if (/duration|elapsed|seconds|(^|_)sec$|Sec$/i.test(key)) return `${escapeHtml(formatSeconds(v))}`;
    return escapeHtml(formatNumber(v));
  }
  if (typeof v === 'string') {
    if (/^status$/i.test(key)) return statusBadge(v);
    return escapeHtml(v);
  }
  if (typeof v === 'boolean' || typeof v === 'bigint') return escapeHtml(String(v));
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x))) {
      return escapeHtml(v.map((x) => (typeof x === 'number' ? formatNumber(x) : String(x))).join(', ')) || '[]';
    }
    return `<code>${escapeHtml(safeJson(v))}</code>`;
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return '{}';
    if (depth >= 2) return `<code>${escapeHtml(safeJson(v))}</code>`;
    return `<table>${entries.map(([k, x]) => `<tr><th>${escapeHtml(k)}</th><td>${manifestValue(k, x, depth + 1)}</td></tr>`).join('')}</table>`;
  }
  return escapeHtml(String(v));
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Every key of the run manifest, escaped (nested objects as nested tables). */
export function manifestTable(manifest: Record<string, unknown> | undefined): string {
  if (!manifest || typeof manifest !== 'object') return '';
  const entries = Object.entries(manifest);
  if (entries.length === 0) return '';
  return `<table class="manifest-table">${entries.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${manifestValue(k, v, 0)}</td></tr>`).join('\n')}</table>`;
}
