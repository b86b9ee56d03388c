// Figures for "alpha tracks 1/std": each DyT layer's alpha and the inverse std of
// its input over training steps (two panels, one colour per layer), and alpha
// against 1/std across layers at one step.
import type { AlphaVsStd, LayerTrace } from '../analysis/alpha.js';
import type { FigureSpec } from './common.js';
import { toJsonNumbers } from './common.js';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** alpha (top panel) and 1/std of the input (bottom panel) against step, per layer. */
export function alphaTraceChart(traces: LayerTrace[], opts: { title?: string } = {}): FigureSpec {
  if (!Array.isArray(traces) || traces.length === 0) throw new TypeError('alphaTraceChart: no layer traces (is this a DyT run with traceEvery set?)');
  const data = traces.flatMap((t, i) => {
    const color = PALETTE[i % PALETTE.length];
    const step = toJsonNumbers(t.step, `alphaTraceChart: ${t.layer}.step`);
    return [
      { type: 'scatter', mode: 'lines', name: t.layer, legendgroup: t.layer, x: step, y: toJsonNumbers(t.alpha, `${t.layer}.alpha`), line: { color }, xaxis: 'x', yaxis: 'y' },
      { type: 'scatter', mode: 'lines', name: t.layer, legendgroup: t.layer, showlegend: false, x: step, y: toJsonNumbers(t.invStd, `${t.layer}.invStd`), line: { color, dash: 'dot' }, xaxis: 'x', yaxis: 'y2' },
    ];
  });
  return {
    data,
    layout: {
      ...(opts.title ? { title: { text: opts.title } } : {}),
      height: 560,
      xaxis: { title: { text: 'step' }, anchor: 'y2' },
      yaxis: { title: { text: 'alpha' }, domain: [0.55, 1] },
      yaxis2: { title: { text: '1 / std of input' }, domain: [0, 0.45], type: 'log' },
    },
  };
}

/** alpha against 1/std across layers at one step, with both correlations in the title. */
export function alphaVsStdChart(r: AlphaVsStd, opts: { title?: string } = {}): FigureSpec {
  const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
  return {
    data: [{
      type: 'scatter', mode: 'markers+text', x: toJsonNumbers(r.invStd, 'alphaVsStdChart: invStd'), y: toJsonNumbers(r.alpha, 'alphaVsStdChart: alpha'),
      text: r.layers, textposition: 'top center', textfont: { size: 9 }, marker: { size: 8 },
    }],
    layout: {
      title: { text: opts.title ?? `alpha vs 1/std at step ${r.step}: Pearson ${fmt(r.pearson)}, Spearman ${fmt(r.spearman)}` },
      xaxis: { title: { text: '1 / std of the layer input' } },
      yaxis: { title: { text: 'alpha' } },
    },
  };
}
