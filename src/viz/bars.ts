// Bars with error bars: mean +- confidence interval per variant (e.g. the
// final loss of every norm over seeds), one colour per series when several
// series share the categories (grouped bars).
import { compact, type FigureSpec, title } from './common.js';

export interface BarSeries {
  name: string;
  /** Categories (variants). */
  x: readonly (string | number)[];
  /** Heights; null for a category without a value. */
  mean: readonly (number | null)[];
  /** Interval ends (e.g. a 95% t interval); null where there is none (n = 1). */
  low?: readonly (number | null)[];
  high?: readonly (number | null)[];
  /** Text over each bar (e.g. "n=3", "2 diverged"). */
  text?: readonly string[];
}

export interface BarChartOptions {
  series: BarSeries[];
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Bars along y (long variant names read better). */
  horizontal?: boolean;
  logY?: boolean;
}

function nums(a: readonly (number | null)[] | undefined, n: number, what: string): (number | null)[] | undefined {
  if (a === undefined) return undefined;
  if (!Array.isArray(a) || a.length !== n) throw new RangeError(`${what} has ${Array.isArray(a) ? a.length : 'no'} values, expected ${n} (one per category)`);
  return a.map((v, i) => {
    if (v !== null && typeof v !== 'number') throw new TypeError(`${what}[${i}] = ${String(v)} is not a number or null`);
    return v !== null && Number.isFinite(v) ? v : null;
  });
}

/** A plotly bar chart of means with asymmetric error bars (low/high as given, so intervals need not be symmetric). */
export function errorBars(opts: BarChartOptions): FigureSpec {
  if (!opts || !Array.isArray(opts.series)) throw new TypeError('errorBars: opts.series must be an array of {name, x, mean, low?, high?}');
  const data = opts.series.map((s, k) => {
    const where = `errorBars: series[${k}]${s && typeof s.name === 'string' ? ` ('${s.name}')` : ''}`;
    if (!s || !Array.isArray(s.x)) throw new TypeError(`${where}.x must be an array of categories`);
    const n = s.x.length;
    const mean = nums(s.mean, n, `${where}.mean`)!;
    const low = nums(s.low, n, `${where}.low`), high = nums(s.high, n, `${where}.high`);
    if ((low === undefined) !== (high === undefined)) throw new TypeError(`${where}: give both low and high, or neither`);
    if (s.text !== undefined && (!Array.isArray(s.text) || s.text.length !== n)) throw new RangeError(`${where}.text must have ${n} entries`);
    const cats = s.x.map((c) => String(c));
    const err = low && high ? compact({
      type: 'data', symmetric: false, visible: true,
      array: mean.map((m, i) => (m === null || high[i] === null ? 0 : Math.max(0, high[i]! - m))),
      arrayminus: mean.map((m, i) => (m === null || low[i] === null ? 0 : Math.max(0, m - low[i]!))),
    }) : undefined;
    return compact({
      type: 'bar', name: String(s.name),
      x: opts.horizontal ? mean : cats, y: opts.horizontal ? cats : mean,
      orientation: opts.horizontal ? 'h' : undefined,
      error_x: opts.horizontal ? err : undefined, error_y: opts.horizontal ? undefined : err,
      text: s.text ? [...s.text] : undefined, textposition: s.text ? 'outside' : undefined,
    });
  });
  const valueAxis = compact({ title: title(opts.yTitle), type: opts.logY ? 'log' : undefined });
  const catAxis = compact({ title: title(opts.xTitle), type: 'category' });
  const layout = compact({
    title: title(opts.title),
    barmode: data.length > 1 ? 'group' : undefined,
    xaxis: opts.horizontal ? valueAxis : catAxis,
    yaxis: opts.horizontal ? catAxis : valueAxis,
    showlegend: data.length > 1,
  });
  return { data, layout };
}
