// An executed notebook -> one self-contained, offline HTML file.
//
// - Markdown cells: marked, math as MathML (KaTeX), headings with anchors that
//   feed the table of contents.
// - Code cells: highlighted as TypeScript, with their execution counts.
// - Outputs, best representation first: plotly JSON (drawn by plotly.js,
//   included ONCE per file, in <head>, only when the file has a figure; the
//   text/html fallback a figure also carries is not used), text/html, SVG and
//   raster images (data: URIs), markdown, LaTeX, JSON, text/plain. Streams,
//   text and errors are escaped, with ANSI escape codes stripped.
// - HTML from the notebook (raw HTML in markdown cells and text/markdown
//   outputs, text/html outputs) is sanitized (./sanitize.ts: nbconvert's
//   allowlist widened for markdown, MathML and our display plugins' tables,
//   tensor views and progress bars): reports are shared, and opening one must
//   not run the notebook author's script, as JupyterLab treats an untrusted
//   notebook. Scripts in text/html outputs are dropped, so the text/html
//   fallback of a plotly figure is never used: the figure is drawn from its
//   JSON. A figure saved with saveFigure() gets a line of links to its
//   exported files (relative hrefs, from the runner). The page's Content-Security-Policy lets only the report's own
//   scripts run (by hash) and load nothing over the network.
// - Nothing refers to an external URL: no CDN, fonts or remote images.
import { escapeHtml, jsonForScript, terminalTextToHtml } from '../display/html.js';
import { renderMath, unwrapLatex } from '../display/math.js';
import { SAVED_FIGURE_MIME } from '../figures/save.js';
import { VERSION } from '../version.js';
import { highlightCode } from './highlight.js';
import { createMarkdownRenderer, type Heading, type MarkdownRenderer } from './markdown.js';
import { joinSource, type Cell, type NotebookJson, type Output } from './nbformat.js';
import { figureHtml, figureUsesWebgl, manifestTable, pageShell, statusBadge } from './page.js';
import { sanitizeHtml } from './sanitize.js';

export interface RenderNotebookOptions {
  /** The run manifest shown in the header (every key, escaped). */
  manifest?: Record<string, unknown>;
  /** Page title (default: the notebook's metadata.title, then its first heading, then 'Notebook'). */
  title?: string;
  /** Files of the figures the notebook saved (saveFigure): name -> kind (svg, png, pdf, csv, json) -> href relative to the report. */
  figureFiles?: Record<string, Record<string, string>>;
}

const PLOTLY_MIME = 'application/vnd.plotly.v1+json';
const IMAGE_MIMES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/bmp'];
/** The order in which an output's representations are preferred. */
export const MIME_PRIORITY = [PLOTLY_MIME, 'text/html', 'image/svg+xml', ...IMAGE_MIMES, 'text/markdown', 'text/latex', 'application/json', 'text/plain'];

interface RenderState {
  md: MarkdownRenderer;
  figures: number;
  /** Whether a figure has a WebGL trace (the page then allows 'unsafe-eval'). */
  webgl: boolean;
  /** display_id -> the data of its last update_display_data. */
  updates: Map<string, Output & { data: Record<string, unknown>; metadata: Record<string, unknown> }>;
  figureFiles: Record<string, Record<string, string>> | undefined;
}

const FILE_LABELS: [string, string][] = [['svg', 'SVG'], ['png', 'PNG'], ['pdf', 'PDF'], ['csv', 'data (CSV)'], ['json', 'provenance (JSON)']];

/** The line under a saved figure: its name and links to its exported files (or that none were written). */
function savedFigureLinks(record: unknown, st: RenderState): string {
  const name = record && typeof record === 'object' && typeof (record as { name?: unknown }).name === 'string' ? (record as { name: string }).name : undefined;
  if (name === undefined) return '';
  const files = st.figureFiles?.[name];
  const links = files ? FILE_LABELS.filter(([k]) => typeof files[k] === 'string').map(([k, label]) => `<a href="${escapeHtml(encodeURI(files[k]!))}">${escapeHtml(label)}</a>`) : [];
  return `<div class="figure-files">Figure <code>${escapeHtml(name)}</code>: ${links.length ? links.join(' \u00b7 ') : '<span class="muted">files not exported (run <code>dytlab figures</code> on the executed notebook)</span>'}</div>`;
}

function plotlySpec(value: unknown): { data: unknown[]; layout?: unknown } | undefined {
  let v = value;
  if (typeof v === 'string' || Array.isArray(v)) {
    try {
      v = JSON.parse(joinSource(v));
    } catch {
      return undefined;
    }
  }
  if (v && typeof v === 'object' && Array.isArray((v as { data?: unknown }).data)) return v as { data: unknown[] };
  return undefined;
}

function base64Of(value: unknown): string | undefined {
  const b64 = joinSource(value).replace(/\s+/g, '');
  return b64 && /^[A-Za-z0-9+/]+=*$/.test(b64) ? b64 : undefined;
}

function imageSizeAttrs(metadata: Record<string, unknown> | undefined, mime: string): string {
  const m = metadata?.[mime] as { width?: unknown; height?: unknown } | undefined;
  const attrs: string[] = [];
  if (m && typeof m.width === 'number') attrs.push(`width="${m.width}"`);
  if (m && typeof m.height === 'number') attrs.push(`height="${m.height}"`);
  return attrs.length ? ` ${attrs.join(' ')}` : '';
}

/** The HTML of one mime bundle, using the best representation it has. */
function renderMimeBundle(data: Record<string, unknown>, metadata: Record<string, unknown> | undefined, st: RenderState): string {
  for (const mime of MIME_PRIORITY) {
    if (!(mime in data)) continue;
    const value = data[mime];
    switch (mime) {
      case PLOTLY_MIME: {
        const spec = plotlySpec(value);
        if (!spec) continue;
        st.figures++;
        if (figureUsesWebgl(spec)) st.webgl = true;
        return figureHtml(`figure-${st.figures}`, spec) + (SAVED_FIGURE_MIME in data ? savedFigureLinks(data[SAVED_FIGURE_MIME], st) : '');
      }
      case 'text/html':
        return `<div class="html-output">${sanitizeHtml(joinSource(value))}</div>`;
      case 'image/svg+xml': {
        const svg = joinSource(value);
        return `<img class="svg-output" alt="SVG image" src="data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}"${imageSizeAttrs(metadata, mime)}>`;
      }
      case 'text/markdown':
        return `<div class="markdown-output">${st.md.render(joinSource(value))}</div>`;
      case 'text/latex': {
        const { tex, display } = unwrapLatex(joinSource(value));
        return `<div class="latex-output">${renderMath(tex, display)}</div>`;
      }
      case 'application/json': {
        let text: string;
        try {
          text = JSON.stringify(value, null, 2) ?? 'undefined';
        } catch {
          text = String(value);
        }
        return `<pre class="json-output">${escapeHtml(text)}</pre>`;
      }
      case 'text/plain':
        return `<pre class="text-output">${terminalTextToHtml(joinSource(value))}</pre>`;
      default: {
        const b64 = base64Of(value);
        if (!b64) continue;
        return `<img alt="${escapeHtml(mime)} image" src="data:${mime};base64,${b64}"${imageSizeAttrs(metadata, mime)}>`;
      }
    }
  }
  const types = Object.keys(data);
  return `<div class="unsupported">[output with no representation this report can show${types.length ? `: ${escapeHtml(types.join(', '))}` : ''}]</div>`;
}

function displayIdOf(o: Output): string | undefined {
  const t = (o as { transient?: { display_id?: unknown } }).transient;
  return t && typeof t.display_id === 'string' ? t.display_id : undefined;
}

function renderOutput(o: Output, st: RenderState, shown: Set<string>): { html: string; prompt?: string } | undefined {
  const out = o as Output & Record<string, unknown>;
  switch (out.output_type) {
    case 'stream': {
      const name = String(out.name);
      const cls = name === 'stderr' ? 'stream stderr' : 'stream stdout';
      return { html: `<pre class="${cls}">${terminalTextToHtml(joinSource(out.text))}</pre>` };
    }
    case 'error': {
      const tb = Array.isArray(out.traceback) ? out.traceback.map((l) => String(l)).join('\n') : '';
      const head = `${String(out.ename ?? 'Error')}: ${String(out.evalue ?? '')}`;
      return {
        html: `<div class="error"><div class="error-head">${terminalTextToHtml(head)}</div>${tb.trim() ? `<pre class="traceback">${terminalTextToHtml(tb)}</pre>` : ''}</div>`,
      };
    }
    case 'display_data':
    case 'execute_result':
    case 'update_display_data': {
      const id = displayIdOf(o);
      if (out.output_type === 'update_display_data' && id !== undefined && shown.has(id)) return undefined; // applied to its display
      if (id !== undefined) shown.add(id);
      const latest = id !== undefined && out.output_type !== 'update_display_data' ? st.updates.get(id) : undefined;
      const data = (latest?.data ?? out.data) as Record<string, unknown> | undefined;
      const metadata = (latest?.metadata ?? out.metadata) as Record<string, unknown> | undefined;
      const html = data && typeof data === 'object' ? renderMimeBundle(data, metadata, st) : '<div class="unsupported">[output without data]</div>';
      if (out.output_type === 'execute_result') {
        const n = out.execution_count;
        return { html, prompt: `Out [${typeof n === 'number' ? n : ' '}]:` };
      }
      return { html };
    }
    default:
      return { html: `<div class="unsupported">[unknown output type ${escapeHtml(String((o as { output_type?: unknown }).output_type))}]</div>` };
  }
}

/** Consecutive stream outputs of the same stream become one (as Jupyter shows them). */
function mergeStreams(outputs: Output[]): Output[] {
  const merged: Output[] = [];
  for (const o of outputs) {
    const prev = merged[merged.length - 1];
    if (o && o.output_type === 'stream' && prev && prev.output_type === 'stream' && prev.name === o.name) {
      merged[merged.length - 1] = { ...prev, text: joinSource(prev.text) + joinSource(o.text) };
    } else {
      merged.push(o);
    }
  }
  return merged;
}

function tagsOf(cell: Cell): string[] {
  const tags = (cell.metadata as { tags?: unknown } | undefined)?.tags;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

function renderCell(cell: Cell, index: number, st: RenderState, shown: Set<string>): string {
  const tags = tagsOf(cell);
  if (tags.includes('remove-cell') || tags.includes('remove_cell')) return '';
  const source = joinSource(cell.source);
  const idAttr = `id="cell-${index}"`;
  if (cell.cell_type === 'markdown') {
    return `<section class="cell markdown-cell" ${idAttr}><div class="markdown">${st.md.render(source, { attachments: cell.attachments as never, collect: true })}</div></section>`;
  }
  if (cell.cell_type === 'raw') {
    if (!source.trim()) return '';
    return `<section class="cell raw-cell" ${idAttr}><div class="raw"><pre>${escapeHtml(source)}</pre></div></section>`;
  }
  if (cell.cell_type !== 'code') {
    return `<section class="cell" ${idAttr}><div class="unsupported">[cell of unknown type ${escapeHtml(String((cell as { cell_type?: unknown }).cell_type))}]</div></section>`;
  }
  const outputs = Array.isArray(cell.outputs) ? cell.outputs : [];
  if (!source.trim() && outputs.length === 0) return ''; // an empty cell shows nothing
  const count = typeof cell.execution_count === 'number' ? String(cell.execution_count) : ' ';
  const hideInput = tags.some((t) => ['remove-input', 'remove_input', 'hide-input', 'hide_input'].includes(t));
  const hideOutput = tags.some((t) => ['remove-output', 'remove_output', 'hide-output', 'hide_output'].includes(t));
  const parts: string[] = [];
  const shownTags = tags.filter((t) => t === 'parameters' || t === 'injected-parameters');
  if (shownTags.length && !hideInput) parts.push(`<div class="tags">${shownTags.map((t) => `<span class="tag">${escapeHtml(t)}</span>`).join('')}</div>`);
  if (!hideInput) {
    parts.push(`<div class="row input"><div class="prompt">In [${escapeHtml(count)}]:</div><div class="body"><pre class="hljs"><code class="language-typescript">${highlightCode(source, 'typescript')}</code></pre></div></div>`);
  }
  if (!hideOutput) {
    for (const o of mergeStreams(outputs)) {
      if (!o || typeof o !== 'object') continue;
      const r = renderOutput(o, st, shown);
      if (!r) continue;
      parts.push(`<div class="row output-row"><div class="prompt out">${r.prompt ? escapeHtml(r.prompt) : ''}</div><div class="body output">${r.html}</div></div>`);
    }
  }
  if (parts.length === 0) return '';
  return `<section class="cell code-cell" ${idAttr}>${parts.join('\n')}</section>`;
}

function tocHtml(headings: Heading[]): string {
  if (headings.length === 0) return '';
  const minLevel = Math.min(...headings.map((h) => h.level));
  const items = headings
    .filter((h) => h.level - minLevel < 3)
    .map((h) => `<li class="toc-l${h.level - minLevel + 1}"><a href="#${escapeHtml(h.id)}">${h.html}</a></li>`);
  return `<nav class="toc" aria-label="Contents"><h2>Contents</h2><ul>\n${items.join('\n')}\n</ul></nav>`;
}

/** Collects the last update_display_data per display id, across the whole notebook. */
function collectUpdates(cells: Cell[]): RenderState['updates'] {
  const updates: RenderState['updates'] = new Map();
  for (const cell of cells) {
    if (!cell || cell.cell_type !== 'code' || !Array.isArray(cell.outputs)) continue;
    for (const o of cell.outputs) {
      if (o && o.output_type === 'update_display_data') {
        const id = displayIdOf(o);
        if (id !== undefined) updates.set(id, o as never);
      }
    }
  }
  return updates;
}

/** One self-contained offline HTML page for an executed notebook (nbformat 4). */
export function renderNotebookHtml(nb: NotebookJson, opts: RenderNotebookOptions = {}): string {
  if (!nb || typeof nb !== 'object' || !Array.isArray(nb.cells)) {
    throw new TypeError('renderNotebookHtml: the notebook must be an nbformat 4 object with a cells array');
  }
  const st: RenderState = { md: createMarkdownRenderer(), figures: 0, webgl: false, updates: collectUpdates(nb.cells), figureFiles: opts.figureFiles };
  const shown = new Set<string>();
  const cells = nb.cells.map((c, i) => (c && typeof c === 'object' ? renderCell(c, i, st, shown) : '')).filter(Boolean);
  const manifest = opts.manifest;
  const firstH1 = st.md.headings.find((h) => h.level === 1);
  const metaTitle = typeof nb.metadata?.title === 'string' ? nb.metadata.title : undefined;
  const title = opts.title ?? metaTitle ?? firstH1?.text ?? 'Notebook';
  const status = manifest && typeof manifest.status === 'string' ? ` ${statusBadge(manifest.status)}` : '';
  const header = `<header class="report-header"><h1 class="report-title">${escapeHtml(title)}${status}</h1>`
    + `${manifest ? `<div class="manifest">${manifestTable(manifest)}</div>` : ''}</header>`;
  const body = [
    header,
    tocHtml(st.md.headings),
    `<main class="notebook">\n${cells.join('\n')}\n</main>`,
    `<footer>Generated by dytlab ${escapeHtml(VERSION)}. Self-contained: this file loads nothing from the network.</footer>`,
    `<script type="application/json" id="dytlab-report-meta">${jsonForScript({ figures: st.figures, dytlab: VERSION })}</script>`,
  ].join('\n');
  return pageShell({ title, body, generator: `dytlab ${VERSION}`, figures: { count: st.figures, webgl: st.webgl } });
}
