// Figures of norm-layer mappings: input x against the output before the affine
// step, coloured by token or by channel, with fitted curves drawn over them;
// one layer, or a grid of layers in depth order (the S-shape appearing with depth).
import { evalCurve, type CurveParams, type CurveShape } from '../analysis/curvefit.js';
import { compact, type FigureSpec, type NumericArray, toJsonNumbers } from './common.js';
import { subsampleIndices } from './scatter.js';

/** What the builders need of a layer mapping (analysis/mapping's LayerMapping fits). */
export interface MappingData {
  layer: string;
  label?: string;
  x: NumericArray;
  y: NumericArray;
  token?: NumericArray;
  channel?: NumericArray;
  /** Points drawn before subsampling (for the "showing n of N" note). */
  total?: number;
}

export interface CurveOverlay { shape: CurveShape; params: CurveParams; name?: string; r2?: number }

export interface MappingScatterOptions {
  colorBy?: 'token' | 'channel' | 'none';
  /** Fitted curves drawn over the points. */
  fits?: CurveOverlay[];
  /** At most this many points drawn (evenly spaced among those given). Default 20000. */
  maxPoints?: number;
  /** WebGL markers; default: on above 5000 points. */
  webgl?: boolean;
  title?: string;
}

const CURVE_COLORS = ['#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#17becf', '#8c564b'];

function range(x: (number | null)[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of x) if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return Number.isFinite(lo) ? [lo, hi] : [0, 1];
}

function curveTraces(fits: CurveOverlay[], lo: number, hi: number, axis: { x: string; y: string } | undefined, legend: boolean): Record<string, unknown>[] {
  const n = 200;
  const xs = Float32Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
  return fits.map((f, i) => {
    const ys = evalCurve(f.shape, f.params, xs);
    return compact({
      type: 'scatter', mode: 'lines', name: f.name ?? `${f.shape} fit${f.r2 !== undefined ? ` (R² ${f.r2.toFixed(3)})` : ''}`,
      x: round4(Array.from(xs)), y: round4(Array.from(ys)), line: { color: CURVE_COLORS[i % CURVE_COLORS.length], width: 2 },
      xaxis: axis?.x, yaxis: axis?.y, showlegend: legend,
    });
  });
}

/** 4 significant digits: far below a marker's size on screen, and a third of the JSON of full float precision. */
function round4(a: (number | null)[]): (number | null)[] {
  return a.map((v) => (v === null || v === 0 ? v : Number(v.toPrecision(4))));
}

function pointsTrace(m: MappingData, opts: MappingScatterOptions, axis?: { x: string; y: string }, showScale = true): { trace: Record<string, unknown>; x: (number | null)[]; shown: number } {
  const x = round4(toJsonNumbers(m.x, `mapping '${m.layer}': x`));
  const y = round4(toJsonNumbers(m.y, `mapping '${m.layer}': y`));
  if (x.length !== y.length) throw new RangeError(`mapping '${m.layer}': x has ${x.length} values but y has ${y.length}`);
  const colorBy = opts.colorBy ?? 'token';
  let color: (number | null)[] | undefined;
  if (colorBy !== 'none') {
    const src = colorBy === 'token' ? m.token : m.channel;
    if (src === undefined) throw new TypeError(`mapping '${m.layer}': colorBy '${colorBy}' needs its ${colorBy} indices`);
    color = toJsonNumbers(src, `mapping '${m.layer}': ${colorBy}`);
    if (color.length !== x.length) throw new RangeError(`mapping '${m.layer}': ${colorBy} has ${color.length} values but there are ${x.length} points`);
  }
  const max = opts.maxPoints ?? 20_000;
  const keep = x.length > max ? subsampleIndices(x.length, max) : undefined;
  const pick = <T>(a: T[]): T[] => (keep ? keep.map((i) => a[i] as T) : a);
  const webgl = opts.webgl ?? x.length > 5000;
  const trace = compact({
    type: webgl ? 'scattergl' : 'scatter', mode: 'markers', name: 'points', x: pick(x), y: pick(y), showlegend: false,
    marker: compact({
      size: 3, opacity: 0.6,
      color: color ? pick(color) : '#1f77b4',
      colorscale: color ? (colorBy === 'channel' ? 'Turbo' : 'Viridis') : undefined,
      showscale: color && showScale ? true : undefined,
      colorbar: color && showScale ? { title: { text: colorBy }, thickness: 12 } : undefined,
    }),
    hovertemplate: color ? `x %{x:.3f}<br>y %{y:.3f}<br>${colorBy} %{marker.color}<extra></extra>` : undefined,
    xaxis: axis?.x, yaxis: axis?.y,
  });
  return { trace, x, shown: keep ? keep.length : x.length };
}

/** One layer's mapping: points coloured by token or channel, fitted curves on top. */
export function mappingScatter(m: MappingData, opts: MappingScatterOptions = {}): FigureSpec {
  const { trace, x, shown } = pointsTrace(m, opts);
  const [lo, hi] = range(x);
  const total = m.total ?? x.length;
  return {
    data: [trace, ...curveTraces(opts.fits ?? [], lo, hi, undefined, true)],
    layout: compact({
      title: { text: opts.title ?? `${m.layer}${m.label ? ` (${m.label})` : ''}` },
      xaxis: { title: { text: 'input x' } },
      yaxis: { title: { text: 'output before affine' } },
      legend: { x: 0.02, y: 0.98 },
      annotations: shown < total ? [{
        text: `showing ${shown} of ${total} points`, showarrow: false, xref: 'paper', yref: 'paper', x: 1, y: 1.02,
        xanchor: 'right', yanchor: 'bottom', font: { size: 10 },
      }] : undefined,
    }),
  };
}

/** A grid of layer mappings (depth order), one fitted curve per panel. */
export function mappingGrid(maps: (MappingData & { fit?: CurveOverlay })[], opts: MappingScatterOptions & { columns?: number } = {}): FigureSpec {
  if (!Array.isArray(maps) || maps.length === 0) throw new TypeError('mappingGrid: give one or more layer mappings');
  const cols = opts.columns ?? Math.min(4, maps.length);
  const rows = Math.ceil(maps.length / cols);
  const gap = 0.06;
  const w = (1 - gap * (cols - 1)) / cols, h = (1 - gap * 1.5 * (rows - 1)) / rows;
  const perPanel = Math.max(500, Math.floor((opts.maxPoints ?? 40_000) / maps.length));
  const data: Record<string, unknown>[] = [];
  const layout: Record<string, unknown> = { showlegend: false, height: Math.max(300, 260 * rows), annotations: [] as unknown[] };
  if (opts.title) layout.title = { text: opts.title };
  maps.forEach((m, i) => {
    const r = Math.floor(i / cols), c = i % cols;
    const k = i === 0 ? '' : String(i + 1);
    const axis = { x: `x${k}`, y: `y${k}` };
    const { trace, x } = pointsTrace(m, { ...opts, maxPoints: perPanel, webgl: opts.webgl ?? true }, axis, false);
    data.push(trace);
    const [lo, hi] = range(x);
    if (m.fit) data.push(...curveTraces([m.fit], lo, hi, axis, false));
    const x0 = c * (w + gap), y1 = 1 - r * (h + gap * 1.5);
    layout[`xaxis${k}`] = { domain: [x0, x0 + w], anchor: `y${k}`, zeroline: false };
    layout[`yaxis${k}`] = { domain: [y1 - h, y1], anchor: `x${k}`, zeroline: false };
    (layout.annotations as unknown[]).push({
      text: `${m.layer}${m.fit?.r2 !== undefined ? ` · R² ${m.fit.r2.toFixed(3)}` : ''}`, showarrow: false,
      xref: 'paper', yref: 'paper', x: x0 + w / 2, y: y1, xanchor: 'center', yanchor: 'bottom', font: { size: 11 },
    });
  });
  return { data, layout };
}
