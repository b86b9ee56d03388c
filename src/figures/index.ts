// Paper-ready figures: plotly specs -> SVG / PNG / PDF through plotly.js in
// headless Chromium, with their data (CSV) and provenance (JSON) beside them;
// the publication style; saveFigure() for notebooks and the export of the
// figures an executed notebook saved.
export { exportFigure, exportFigures, withFigureExporter, FigureExporter, FIGURE_FORMATS } from './export.js';
export type { ExportOptions, ExportedPaths, FigureFormat, FigureStyle } from './export.js';
export { paperStyle, columnWidthPx, OKABE_ITO, PAPER, PAPER_SCALE } from './style.js';
export type { PaperColumn, PaperStyleOptions } from './style.js';
export { figureCsv, figureRows } from './data.js';
export { runsFrom, gitCommitOf } from './provenance.js';
export type { FigureProvenance, FigureCellRef, ProvenanceInput } from './provenance.js';
export { findChromium, ChromiumNotFoundError, CHROMIUM_NAMES } from './chromium.js';
export { saveFigure, savedFigureRecord, validateFigureName, SAVED_FIGURE_MIME, FIGURE_NAME_RE } from './save.js';
export type { SaveFigureMeta, SavedFigureRecord } from './save.js';
export { savedFigures, exportNotebookFigures, notebookProvenance, figureLinks, removeStaleFigures, FigureNameClashError } from './notebook.js';
export type { SavedFigureEntry, ExportedFigure, NotebookFiguresOptions, NotebookLike } from './notebook.js';
export { exportFiguresOfNotebooks } from './batch.js';
export type { NotebooksFiguresOptions, NotebookFigures } from './batch.js';
