// Plotly figure builders: pure functions, data in, plain-JSON {data, layout} out.
// display() shows the result in a notebook; the HTML report draws it offline.
export { lineChart } from './line.js';
export type { LineChartOptions, LineSeries } from './line.js';
export { scatter, subsampleIndices } from './scatter.js';
export type { ScatterOptions } from './scatter.js';
export { mappingScatter, mappingGrid } from './mapping.js';
export type { MappingData, CurveOverlay, MappingScatterOptions } from './mapping.js';
export { alphaTraceChart, alphaVsStdChart } from './alpha.js';
export { heatmap } from './heatmap.js';
export type { HeatmapOptions, AxisValue } from './heatmap.js';
export { errorBars } from './bars.js';
export type { BarChartOptions, BarSeries } from './bars.js';
export type { FigureSpec, NumericArray } from './common.js';
