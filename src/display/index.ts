// Rich display for notebooks: display(value) turns a value into a Jupyter MIME
// bundle through display plugins (plotly figures, tables, tensors, images,
// markdown/LaTeX/HTML, errors; user plugins first) and sends it to the sink
// the kernel or the headless runner installed for the cell.
export type { MimeBundle, DisplayPlugin, DisplaySink } from './types.js';
export {
  registerDisplayPlugin, unregisterDisplayPlugin, displayPlugins, resetDisplayPlugins, toMimeBundle, inspectText,
} from './registry.js';
export { display, clearOutput, setDisplaySink, currentDisplaySink, resetPlotlyEmbed } from './display.js';
export type { DisplayHandle } from './display.js';
export { progress, PROGRESS_MIN_INTERVAL_MS } from './progress.js';
export type { ProgressDisplay } from './progress.js';
export { markdown, latex, html, png, Markdown, Latex, Html, Png, isPngBytes } from './wrappers.js';
export { isPlotlyFigure, PLOTLY_MIME, plotlyEmbedded } from './plotly.js';
export type { PlotlyFigure } from './plotly.js';
export { plotlyBundleScriptTag, plotlyVersion, PLOTLY_BUNDLE_MARKER } from './plotly-bundle.js';
export { TABLE_MAX_ROWS } from './table.js';
export { escapeHtml } from './html.js';
