// The publication style: a pure function over a plotly spec, so the same
// figure can be shown in a notebook (display(paperStyle(fig))) and exported
// for a paper. It changes the layout and config only, never the data: trace
// colours set by a builder stay; traces without one take the palette.
//
// Sizes are CSS pixels, as plotly's are: 96 px to the inch, so a 3.5 in
// column is 336 px and an SVG or PDF of that width prints 3.5 in wide. PNGs
// are rendered at PAPER.dpi (scale dpi/96), so they print at the same size.
import { isPlotlyFigure, type PlotlyFigure } from '../display/plotly.js';

/** Okabe & Ito's colour-blind-safe palette (blue first; yellow, weak on white, late). */
export const OKABE_ITO: readonly string[] = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

const PX_PER_IN = 96;
const PX_PER_PT = PX_PER_IN / 72;

/** The paper style's numbers (the widths are the usual two-column journal ones). */
export const PAPER = {
  /** One family: Arial's metrics (Liberation Sans is metric-compatible, so the layout is the same where Arial is missing). */
  fontFamily: 'Arial, "Liberation Sans", Helvetica, sans-serif',
  fontSizePt: 8,
  titleSizePt: 9,
  singleColumnIn: 3.5,
  doubleColumnIn: 7.16,
  /** PNG resolution. */
  dpi: 300,
  pxPerIn: PX_PER_IN,
} as const;

export type PaperColumn = 'single' | 'double';

/** A column's width in CSS px (336 for single, 687 for double). */
export function columnWidthPx(column: PaperColumn): number {
  if (column !== 'single' && column !== 'double') throw new TypeError(`paper style: column must be 'single' or 'double', got ${JSON.stringify(column)}`);
  return Math.round((column === 'single' ? PAPER.singleColumnIn : PAPER.doubleColumnIn) * PX_PER_IN);
}

/** The PNG scale that gives PAPER.dpi at the figure's physical size. */
export const PAPER_SCALE = PAPER.dpi / PX_PER_IN;

/** Width a figure without one is taken to have on screen, to keep its aspect ratio on paper. */
const SCREEN_WIDTH_PX = 800;
const SCREEN_HEIGHT_PX = 450;

export interface PaperStyleOptions {
  /** Single (3.5 in) or double (7.16 in) column; default 'double'. */
  column?: PaperColumn;
  /** Height in CSS px; default: the figure's aspect ratio (its layout height over its width, or 800 px) at the column width. */
  height?: number;
}

function fontPx(pt: number): number {
  return Number((pt * PX_PER_PT).toFixed(2));
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {};
}

/** The title object with the paper's title font (a string title becomes {text}). */
function styledTitle(t: unknown, sizePt: number): unknown {
  if (t === undefined) return undefined;
  const o = typeof t === 'string' ? { text: t } : obj(t);
  return { ...o, font: { ...obj(o.font), family: PAPER.fontFamily, size: fontPx(sizePt) } };
}

const AXIS_STYLE = {
  showline: true, linecolor: '#000000', linewidth: 1, mirror: false,
  ticks: 'outside', ticklen: 3, tickwidth: 1, tickcolor: '#000000',
  gridcolor: '#e5e5e5', zeroline: false, automargin: true,
};

/**
 * The figure in the publication style: one font family at 8 pt (titles 9 pt),
 * the column's width and a height from its aspect ratio, the Okabe-Ito
 * colorway, white background, plain axes, tight margins, no modebar. Returns a
 * new spec; `data` is the same array (not copied, not changed).
 */
export function paperStyle<F extends PlotlyFigure>(fig: F, opts: PaperStyleOptions = {}): F {
  if (!isPlotlyFigure(fig)) throw new TypeError('paperStyle: expected a plotly figure {data: [traces], layout?}');
  const width = columnWidthPx(opts.column ?? 'double');
  const layout = obj(fig.layout);
  if (opts.height !== undefined && !(Number.isFinite(opts.height) && opts.height > 0)) throw new RangeError(`paperStyle: height must be a positive number of px, got ${opts.height}`);
  const w0 = typeof layout.width === 'number' && layout.width > 0 ? layout.width : SCREEN_WIDTH_PX;
  const h0 = typeof layout.height === 'number' && layout.height > 0 ? layout.height : SCREEN_HEIGHT_PX;
  const height = Math.round(opts.height ?? width * (h0 / w0));
  const out: Record<string, unknown> = {
    ...layout,
    width, height,
    font: { ...obj(layout.font), family: PAPER.fontFamily, size: fontPx(PAPER.fontSizePt), color: '#000000' },
    colorway: [...OKABE_ITO],
    paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff',
    margin: { l: 48, r: 12, t: layout.title !== undefined ? 28 : 10, b: 40, pad: 0, ...obj(layout.margin) },
    legend: { ...obj(layout.legend), font: { ...obj(obj(layout.legend).font), family: PAPER.fontFamily, size: fontPx(PAPER.fontSizePt) }, bgcolor: 'rgba(255,255,255,0)' },
  };
  if (layout.title !== undefined) out.title = styledTitle(layout.title, PAPER.titleSizePt);
  // Every axis the layout names (xaxis, xaxis2, yaxis3, ...), and the default pair.
  const axes = new Set(['xaxis', 'yaxis', ...Object.keys(layout).filter((k) => /^[xy]axis\d*$/.test(k))]);
  for (const k of axes) {
    const a = obj(layout[k]);
    out[k] = { ...AXIS_STYLE, ...a, ...(a.title !== undefined ? { title: styledTitle(a.title, PAPER.fontSizePt) } : {}) };
  }
  const config = { ...obj(fig.config), displayModeBar: false, displaylogo: false, responsive: false };
  return { ...fig, layout: out, config };
}
