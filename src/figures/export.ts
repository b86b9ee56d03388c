// Static figure files from plotly specs, rendered by plotly.js's own image
// export (Plotly.toImage) in headless Chromium: SVG (text stays text), PNG (at
// `scale`), PDF (the SVG printed by Chromium: vector; a heatmap is an image
// inside both, as plotly.js draws it). Beside them the data as
// CSV and a provenance sidecar. One browser serves a whole batch: a
// FigureExporter is launched once and exports any number of figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { isPlotlyFigure, plotlyJson, type PlotlyFigure } from '../display/plotly.js';
import { plotlyVersion } from '../display/plotly-bundle.js';
import { CHROMIUM_ARGS, findChromium, playwrightCore } from './chromium.js';
import { figureCsv } from './data.js';
import { buildProvenance, type ProvenanceInput } from './provenance.js';
import { PAPER_SCALE, paperStyle, type PaperColumn } from './style.js';

const requireHere = createRequire(__filename);

export type FigureFormat = 'svg' | 'png' | 'pdf';
export const FIGURE_FORMATS: readonly FigureFormat[] = ['svg', 'png', 'pdf'];
export type FigureStyle = 'paper' | 'none';

export interface ExportOptions {
  /** Which images to write (default all three). */
  formats?: readonly FigureFormat[];
  /** CSS px (default: the layout's, else the style's: 700 x 450 plain, the column width on paper). */
  width?: number;
  height?: number;
  /** PNG pixels per CSS px (default 2 plain; on paper 300 dpi: 3.125). SVG and PDF are vector. */
  scale?: number;
  /** 'paper' applies paperStyle() first (default 'none': the figure as it is). */
  style?: FigureStyle;
  /** The paper column (default 'double'). */
  column?: PaperColumn;
  /** Write base.csv with the figure's data (default true). */
  data?: boolean;
  /** Fields of the provenance sidecar base.json (false: no sidecar). */
  provenance?: ProvenanceInput | false;
}

/** The paths written (images, then csv and json), also by kind: paths.svg, paths.csv, ... */
export type ExportedPaths = string[] & Partial<Record<FigureFormat | 'csv' | 'json', string>>;

const PLAIN_WIDTH = 700, PLAIN_HEIGHT = 450;

function positive(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`exportFigure: ${name} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

/** The spec to draw and its size, after the style; validates the options. */
export function resolveExport(spec: PlotlyFigure, opts: ExportOptions): { fig: ReturnType<typeof plotlyJson>; width: number; height: number; scale: number; formats: FigureFormat[]; style: FigureStyle } {
  if (!isPlotlyFigure(spec)) throw new TypeError('exportFigure: expected a plotly figure {data: [traces], layout?} (as the viz/ builders return)');
  const style = opts.style ?? 'none';
  if (style !== 'paper' && style !== 'none') throw new TypeError(`exportFigure: style must be 'paper' or 'none', got ${JSON.stringify(style)}`);
  if (!Array.isArray(opts.formats ?? FIGURE_FORMATS)) throw new TypeError('exportFigure: formats must be an array, e.g. [\'svg\', \'png\']');
  const formats = [...(opts.formats ?? FIGURE_FORMATS)];
  if (formats.length === 0) throw new TypeError('exportFigure: formats is empty; give some of svg, png, pdf');
  for (const f of formats) if (!FIGURE_FORMATS.includes(f)) throw new TypeError(`exportFigure: unknown format ${JSON.stringify(f)}; expected some of ${FIGURE_FORMATS.join(', ')}`);
  const w = positive('width', opts.width), h = positive('height', opts.height), s = positive('scale', opts.scale);
  const styled = style === 'paper' ? paperStyle(spec, { ...(opts.column ? { column: opts.column } : {}), ...(h !== undefined && w === undefined ? { height: h } : {}) }) : spec;
  const fig = plotlyJson(styled);
  const lw = typeof fig.layout.width === 'number' && fig.layout.width > 0 ? fig.layout.width : undefined;
  const lh = typeof fig.layout.height === 'number' && fig.layout.height > 0 ? fig.layout.height : undefined;
  const width = Math.round(w ?? lw ?? PLAIN_WIDTH);
  const height = Math.round(h ?? (style === 'paper' && w !== undefined && lw && lh ? (w * lh) / lw : lh ?? PLAIN_HEIGHT));
  fig.layout = { ...fig.layout, width, height };
  return { fig, width, height, scale: s ?? (style === 'paper' ? PAPER_SCALE : 2), formats: [...new Set(formats)], style };
}

/** A known image extension on `base` is dropped (and picked as the format when none is given). */
function splitBase(base: string, opts: ExportOptions): { base: string; opts: ExportOptions } {
  if (typeof base !== 'string' || base.trim() === '') throw new TypeError('exportFigure: base must be a path without extension, e.g. "figures/loss"');
  const m = /\.(svg|png|pdf)$/i.exec(base);
  if (!m) return { base, opts };
  const f = m[1]!.toLowerCase() as FigureFormat;
  return { base: base.slice(0, -m[0].length), opts: opts.formats ? opts : { ...opts, formats: [f] } };
}

const PAGE = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>dytlab figure export</title></head><body></body></html>';

function pdfPage(svg: string, width: number, height: number, title: string): string {
  const esc = title.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc}</title><style>@page { size: ${width}px ${height}px; margin: 0; } `
    + `html, body { margin: 0; padding: 0; width: ${width}px; height: ${height}px; overflow: hidden; } svg { display: block; }</style></head><body>${svg}</body></html>`;
}

/** One headless Chromium with plotly.js loaded; export() as many figures as needed, then close(). */
export class FigureExporter {
  private constructor(private readonly browser: Browser, private readonly page: Page, readonly executablePath: string) {}

  /** Finds Chromium (findChromium; or `executablePath`) and loads plotly.js into a page. */
  static async launch(o: { executablePath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<FigureExporter> {
    const executablePath = o.executablePath ?? findChromium(o.env ?? process.env);
    const { chromium } = playwrightCore();
    let browser: Browser;
    try {
      browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true, timeout: 120_000 });
    } catch (err) {
      throw new Error(`exporting figures: Chromium ${executablePath} did not start: ${(err as Error).message.split('\n')[0]}`);
    }
    try {
      const page = await browser.newPage();
      await page.setContent(PAGE);
      await page.addScriptTag({ path: requireHere.resolve('plotly.js-dist-min/plotly.min.js') });
      if (!(await page.evaluate(() => typeof (window as unknown as { Plotly?: { toImage?: unknown } }).Plotly?.toImage === 'function'))) {
        throw new Error('plotly.js did not load in the export page');
      }
      return new FigureExporter(browser, page, executablePath);
    } catch (err) {
      await browser.close().catch(() => undefined);
      throw err;
    }
  }

  /** Writes base.{svg,png,pdf} (the formats asked for), base.csv and base.json; returns the paths. */
  async export(spec: PlotlyFigure, base: string, options: ExportOptions = {}): Promise<ExportedPaths> {
    const split = splitBase(base, options);
    const opts = split.opts;
    const abs = resolve(split.base);
    const r = resolveExport(spec, opts);
    mkdirSync(dirname(abs), { recursive: true });
    const name = basename(abs);
    const images = await this.page.evaluate(async ({ fig, width, height, scale, svg, png }) => {
      const P = (window as unknown as { Plotly: { toImage(f: unknown, o: Record<string, unknown>): Promise<string> } }).Plotly;
      const spec = { data: fig.data, layout: fig.layout, config: { ...(fig.config ?? {}), displayModeBar: false } };
      return {
        // scale 1 for the SVG: its size in px is its printed size.
        svg: svg ? await P.toImage(spec, { format: 'svg', width, height, scale: 1, imageDataOnly: true }) : undefined,
        png: png ? await P.toImage(spec, { format: 'png', width, height, scale, imageDataOnly: true }) : undefined,
      };
    }, { fig: r.fig, width: r.width, height: r.height, scale: r.scale, svg: r.formats.includes('svg') || r.formats.includes('pdf'), png: r.formats.includes('png') })
      .catch((err: Error) => { throw new Error(`exportFigure ${split.base}: plotly.js could not render the figure: ${err.message.split('\n')[0]}`); });
    const files: Record<string, string> = {};
    const out: string[] = [];
    const put = (kind: string, path: string, body: string | Buffer) => {
      writeFileSync(path, body);
      files[kind] = basename(path);
      out.push(path);
    };
    if (r.formats.includes('svg')) put('svg', `${abs}.svg`, images.svg!);
    if (r.formats.includes('png')) put('png', `${abs}.png`, Buffer.from(images.png!, 'base64'));
    if (r.formats.includes('pdf')) {
      const pdfTab = await this.browser.newPage();
      try {
        await pdfTab.setContent(pdfPage(images.svg!, r.width, r.height, name));
        put('pdf', `${abs}.pdf`, await pdfTab.pdf({ width: `${r.width}px`, height: `${r.height}px`, printBackground: true, pageRanges: '1', margin: { top: '0', right: '0', bottom: '0', left: '0' } }));
      } finally {
        await pdfTab.close();
      }
    }
    if (opts.data !== false) put('csv', `${abs}.csv`, figureCsv(r.fig as PlotlyFigure));
    if (opts.provenance !== false) {
      const prov = buildProvenance({ figure: name, ...(opts.provenance ?? {}) }, { plotly: plotlyVersion(), style: r.style, width: r.width, height: r.height, scale: r.scale, files: { ...files } });
      put('json', `${abs}.json`, `${JSON.stringify(prov, null, 2)}\n`);
    }
    return Object.assign(out, files.svg ? { svg: `${abs}.svg` } : {}, files.png ? { png: `${abs}.png` } : {}, files.pdf ? { pdf: `${abs}.pdf` } : {},
      files.csv ? { csv: `${abs}.csv` } : {}, files.json ? { json: `${abs}.json` } : {}) as ExportedPaths;
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
  }
}

/** Runs `fn` with one exporter (one Chromium), closed afterwards whatever happens. */
export async function withFigureExporter<T>(fn: (ex: FigureExporter) => Promise<T>, o: { executablePath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<T> {
  const ex = await FigureExporter.launch(o);
  try {
    return await fn(ex);
  } finally {
    await ex.close();
  }
}

/**
 * Writes base.svg / base.png / base.pdf (any subset, `formats`) from a plotly
 * spec, with base.csv (its data) and base.json (provenance) beside them, and
 * returns the paths written. Starts a Chromium for this one figure: for many,
 * use exportFigures() or withFigureExporter().
 */
export async function exportFigure(spec: PlotlyFigure, base: string, opts: ExportOptions = {}): Promise<ExportedPaths> {
  resolveExport(spec, splitBase(base, opts).opts); // bad input fails before a browser starts
  return withFigureExporter((ex) => ex.export(spec, base, opts));
}

/** Many figures through one Chromium; `common` options under each figure's own. */
export async function exportFigures(list: readonly { spec: PlotlyFigure; base: string; options?: ExportOptions }[], common: ExportOptions = {}): Promise<ExportedPaths[]> {
  if (!Array.isArray(list)) throw new TypeError('exportFigures: expected an array of {spec, base, options?}');
  for (const f of list) resolveExport(f.spec, splitBase(f.base, { ...common, ...(f.options ?? {}) }).opts);
  if (list.length === 0) return [];
  return withFigureExporter(async (ex) => {
    const out: ExportedPaths[] = [];
    for (const f of list) out.push(await ex.export(f.spec, f.base, { ...common, ...(f.options ?? {}) }));
    return out;
  });
}
