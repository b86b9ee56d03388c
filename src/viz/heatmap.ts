// Heatmaps over two sweep axes (alpha0 x learning rate, width x depth):
// one cell per combination, its value written in the cell, missing cells
// blank, and cells that diverged crossed out by a marker trace (so they read
// as "diverged", not as a colour).
import { compact, type FigureSpec, title } from './common.js';

export type AxisValue = string | number | boolean;

export interface HeatmapOptions {
  /** Column values (left to right) and row values (bottom to top), shown as categories. */
  x: readonly AxisValue[];
  y: readonly AxisValue[];
  /** z[row][column]; null (or a non-finite number) for a cell with no value. */
  z: readonly (readonly (number | null)[])[];
  /** Cells to cross out (e.g. every seed diverged): same shape as z. */
  marked?: readonly (readonly boolean[])[];
  /** Legend name of the crosses (default "diverged"). */
  markLabel?: string;
  /** Text written in each cell instead of the value (same shape as z; "" for none). */
  text?: readonly (readonly string[])[];
  /** Significant digits of the values written in the cells (default 3); false: write none. */
  digits?: number | false;
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Colour bar title (e.g. "val loss"). */
  zTitle?: string;
  /** A plotly colour scale name (default Viridis). */
  colorscale?: string;
  /** Reverse the scale, e.g. so that a lower loss is the brighter colour. */
  reverseScale?: boolean;
}

function label(v: AxisValue): string {
  return typeof v === 'string' ? v : String(v);
}

function checkShape<T>(m: readonly (readonly T[])[] | undefined, rows: number, cols: number, what: string): void {
  if (m === undefined) return;
  if (!Array.isArray(m) || m.length !== rows) throw new RangeError(`heatmap: ${what} has ${Array.isArray(m) ? m.length : 'no'} rows, expected ${rows} (one per y value)`);
  m.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== cols) {
      throw new RangeError(`heatmap: ${what}[${i}] has ${Array.isArray(row) ? row.length : 'no'} cells, expected ${cols} (one per x value)`);
    }
  });
}

/** A plotly heatmap spec: categories on both axes, values in the cells, marked cells crossed out. */
export function heatmap(opts: HeatmapOptions): FigureSpec {
  if (!opts || !Array.isArray(opts.x) || !Array.isArray(opts.y)) throw new TypeError('heatmap: opts.x and opts.y must be arrays');
  const xs = opts.x.map(label), ys = opts.y.map(label);
  checkShape(opts.z, ys.length, xs.length, 'z');
  checkShape(opts.marked, ys.length, xs.length, 'marked');
  checkShape(opts.text, ys.length, xs.length, 'text');
  const z = opts.z.map((row, i) => row.map((v, j) => {
    if (v !== null && typeof v !== 'number') throw new TypeError(`heatmap: z[${i}][${j}] = ${String(v)} is not a number or null`);
    return v !== null && Number.isFinite(v) ? v : null;
  }));
  const digits = opts.digits ?? 3;
  const text = z.map((row, i) => row.map((v, j) => {
    const given = opts.text?.[i]?.[j];
    if (given !== undefined && given !== '') return given;
    return v === null || digits === false ? '' : Number(v.toPrecision(digits)).toString();
  }));
  const data: Record<string, unknown>[] = [compact({
    type: 'heatmap', x: xs, y: ys, z, text, texttemplate: '%{text}', hoverongaps: false,
    colorscale: opts.colorscale ?? 'Viridis', reversescale: opts.reverseScale ? true : undefined,
    colorbar: opts.zTitle ? { title: { text: opts.zTitle } } : undefined,
    hovertemplate: `${opts.xTitle ?? 'x'} %{x}<br>${opts.yTitle ?? 'y'} %{y}<br>%{z}<extra></extra>`,
  })];
  if (opts.marked) {
    const mx: string[] = [], my: string[] = [];
    opts.marked.forEach((row, i) => row.forEach((m, j) => { if (m) { mx.push(xs[j]!); my.push(ys[i]!); } }));
    if (mx.length) {
      data.push({
        type: 'scatter', mode: 'markers', name: opts.markLabel ?? 'diverged', x: mx, y: my,
        marker: { symbol: 'x-thin', size: 18, line: { width: 2, color: '#c0392b' }, color: '#c0392b' },
        hovertemplate: `%{x}, %{y}: ${opts.markLabel ?? 'diverged'}<extra></extra>`,
      });
    }
  }
  const layout = compact({
    title: title(opts.title),
    xaxis: compact({ title: title(opts.xTitle), type: 'category' }),
    yaxis: compact({ title: title(opts.yTitle), type: 'category' }),
    showlegend: data.length > 1,
    legend: data.length > 1 ? { orientation: 'h', y: -0.2 } : undefined,
  });
  return { data, layout };
}
