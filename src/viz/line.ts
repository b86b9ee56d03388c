// Line charts: one trace per series (training curves, alpha traces, sweeps).
import { compact, type FigureSpec, type NumericArray, title, toJsonNumbers } from './common.js';

export interface LineSeries { name: string; x: NumericArray; y: NumericArray }

export interface LineChartOptions {
  series: LineSeries[];
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Logarithmic y axis (non-positive values are not drawn). */
  logY?: boolean;
}

/** A plotly line chart spec. Non-finite y values become gaps (null). */
export function lineChart(opts: LineChartOptions): FigureSpec {
  if (!opts || !Array.isArray(opts.series)) throw new TypeError('lineChart: opts.series must be an array of {name, x, y}');
  const data = opts.series.map((s, i) => {
    const label = `lineChart: series[${i}]${s && typeof s.name === 'string' ? ` ('${s.name}')` : ''}`;
    if (!s || typeof s !== 'object') throw new TypeError(`${label} must be an object {name, x, y}`);
    const x = toJsonNumbers(s.x, `${label}.x`);
    const y = toJsonNumbers(s.y, `${label}.y`);
    if (x.length !== y.length) throw new RangeError(`${label}: x has ${x.length} values but y has ${y.length}`);
    return { type: 'scatter', mode: 'lines', name: String(s.name ?? `series ${i}`), x, y };
  });
  const layout = compact({
    title: title(opts.title),
    xaxis: compact({ title: title(opts.xTitle) }),
    yaxis: compact({ title: title(opts.yTitle), type: opts.logY ? 'log' : undefined }),
    showlegend: data.length > 1,
  });
  return { data, layout };
}
