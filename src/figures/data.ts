// A figure's data as CSV: one row per point, the trace's name in a column, so
// the numbers behind a published figure can be read without plotly. Columns:
// trace (its name, else "trace N"), type, then x, y and, where some trace has
// them, z and the error bars (error_x, error_y; *_minus when asymmetric).
// A heatmap/contour (z a matrix) gives one row per cell with its x and y.
import { isPlotlyFigure, plotlyJson, type PlotlyFigure } from '../display/plotly.js';

type Row = Record<string, unknown>;

const OPTIONAL = ['z', 'error_x', 'error_x_minus', 'error_y', 'error_y_minus', 'text'] as const;
export const FIGURE_CSV_COLUMNS = ['trace', 'type', 'x', 'y', ...OPTIONAL] as const;

function arr(v: unknown): unknown[] | undefined {
  return Array.isArray(v) ? v : undefined;
}

/** An error bar's values per point: its array (or a constant 'value'); undefined without one. */
function errorValues(e: unknown, n: number, minus: boolean): unknown[] | undefined {
  if (!e || typeof e !== 'object') return undefined;
  const o = e as Record<string, unknown>;
  if (o.visible === false) return undefined;
  const a = arr(minus ? o.arrayminus : o.array);
  if (a) return a;
  if (minus) return undefined; // symmetric: *_minus stays empty
  if (typeof o.value === 'number' && (o.type === undefined || o.type === 'constant')) return new Array(n).fill(o.value);
  return undefined;
}

/** Plotly's implied coordinates when a trace gives none: x0 + i*dx (default 0, 1). */
function implied(t: Record<string, unknown>, axis: 'x' | 'y', n: number): unknown[] {
  const start = typeof t[`${axis}0`] === 'number' ? (t[`${axis}0`] as number) : 0;
  const step = typeof t[`d${axis}`] === 'number' ? (t[`d${axis}`] as number) : 1;
  return Array.from({ length: n }, (_, i) => start + i * step);
}

function traceRows(t: Record<string, unknown>, index: number): Row[] {
  const trace = typeof t.name === 'string' && t.name !== '' ? t.name : `trace ${index}`;
  const type = typeof t.type === 'string' ? t.type : 'scatter';
  const z = arr(t.z);
  if (z && z.some(Array.isArray)) {
    // A matrix: z[i][j] at (x[j], y[i]).
    const rows: Row[] = [];
    const ny = z.length, nx = Math.max(...z.map((r) => (Array.isArray(r) ? r.length : 0)));
    const xs = arr(t.x) ?? implied(t, 'x', nx), ys = arr(t.y) ?? implied(t, 'y', ny);
    for (let i = 0; i < ny; i++) {
      const r = arr(z[i]) ?? [];
      for (let j = 0; j < nx; j++) rows.push({ trace, type, x: xs[j], y: ys[i], z: r[j] });
    }
    return rows;
  }
  const x = arr(t.x), y = arr(t.y);
  const n = Math.max(x?.length ?? 0, y?.length ?? 0, z?.length ?? 0);
  // Only y: plotly places the points at x0 + i*dx. Only x (a histogram): y stays empty.
  const xs = x ?? implied(t, 'x', n), ys = y;
  const cols: [string, unknown[] | undefined][] = [
    ['z', z],
    ['error_x', errorValues(t.error_x, n, false)], ['error_x_minus', errorValues(t.error_x, n, true)],
    ['error_y', errorValues(t.error_y, n, false)], ['error_y_minus', errorValues(t.error_y, n, true)],
    ['text', arr(t.text)],
  ];
  return Array.from({ length: n }, (_, i) => {
    const row: Row = { trace, type, x: xs[i], y: ys?.[i] };
    for (const [k, a] of cols) if (a) row[k] = a[i];
    return row;
  });
}

/** One row per point of every trace (plain JSON values: typed arrays as arrays, NaN as null). */
export function figureRows(fig: PlotlyFigure): Row[] {
  if (!isPlotlyFigure(fig)) throw new TypeError('figureRows: expected a plotly figure {data: [traces], layout?}');
  const { data } = plotlyJson(fig);
  return data.flatMap((t, i) => traceRows(t as Record<string, unknown>, i));
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV text (RFC 4180, '\n' line ends): trace, type, x, y, then the optional columns some trace has. */
export function figureCsv(fig: PlotlyFigure): string {
  const rows = figureRows(fig);
  const cols: string[] = ['trace', 'type', 'x', 'y', ...OPTIONAL.filter((c) => rows.some((r) => r[c] !== undefined))];
  return [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
}
