// Scatter plots of many points (LayerNorm input vs output, alpha vs 1/std),
// optionally WebGL and subsampled to a maximum number of points.
import { compact, type FigureSpec, type NumericArray, toJsonNumbers } from './common.js';

export interface ScatterOptions {
  points: { x: NumericArray; y: NumericArray };
  /** One colour for all points (a CSS colour), or one number per point (drawn with a colour scale). */
  color?: string | NumericArray;
  name?: string;
  /** Draw with WebGL (scattergl): for tens of thousands of points and more. */
  webgl?: boolean;
  /** At most this many points: evenly spaced indices are kept (deterministic) and a note says so. */
  maxPoints?: number;
  title?: string;
}

/** Indices 0..n-1 thinned to at most `max`, evenly spaced (always includes the first). */
export function subsampleIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: max }, (_, i) => Math.floor((i * n) / max));
}

/** A plotly scatter spec (markers). */
export function scatter(opts: ScatterOptions): FigureSpec {
  if (!opts || !opts.points) throw new TypeError('scatter: opts.points must be {x, y}');
  const x = toJsonNumbers(opts.points.x, 'scatter: points.x');
  const y = toJsonNumbers(opts.points.y, 'scatter: points.y');
  if (x.length !== y.length) throw new RangeError(`scatter: points.x has ${x.length} values but points.y has ${y.length}`);
  let colors: (number | null)[] | undefined;
  if (opts.color !== undefined && typeof opts.color !== 'string') {
    colors = toJsonNumbers(opts.color, 'scatter: color');
    if (colors.length !== x.length) throw new RangeError(`scatter: color has ${colors.length} values but there are ${x.length} points`);
  }
  const max = opts.maxPoints;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new RangeError(`scatter: maxPoints must be a positive integer, got ${String(max)}`);
  const keep = max !== undefined && x.length > max ? subsampleIndices(x.length, max) : undefined;
  const pick = <T>(a: T[]): T[] => (keep ? keep.map((i) => a[i] as T) : a);
  const marker = compact({
    size: 4,
    color: typeof opts.color === 'string' ? opts.color : colors ? pick(colors) : undefined,
    colorscale: colors ? 'Viridis' : undefined,
    showscale: colors ? true : undefined,
  });
  const trace = compact({
    type: opts.webgl ? 'scattergl' : 'scatter',
    mode: 'markers',
    name: opts.name,
    x: pick(x),
    y: pick(y),
    marker,
  });
  const layout = compact({
    title: opts.title ? { text: opts.title } : undefined,
    annotations: keep ? [{
      text: `showing ${keep.length} of ${x.length} points`, showarrow: false,
      xref: 'paper', yref: 'paper', x: 1, y: 1.02, xanchor: 'right', yanchor: 'bottom', font: { size: 10 },
    }] : undefined,
  });
  return { data: [trace], layout };
}
