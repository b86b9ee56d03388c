// The report pipeline: an executed notebook's cell runs -> nbformat outputs and manifest ->
// the executed .ipynb and a self-contained offline HTML report; the nbformat 4 reader.
export { renderNotebookHtml, MIME_PRIORITY } from './notebook-html.js';
export type { RenderNotebookOptions } from './notebook-html.js';
export { renderIndexHtml } from './index-html.js';
export type { IndexEntry } from './index-html.js';
export { readNotebook, validateNotebookShape, joinSource, NotebookError } from './nbformat.js';
export type {
  NotebookJson, NotebookMetadata, Cell, CodeCell, MarkdownCell, RawCell, Output, StreamOutput, DisplayDataOutput,
  ExecuteResultOutput, ErrorOutput, UpdateDisplayDataOutput, MultilineString, MimeData,
} from './nbformat.js';
export { REPORT_CSP } from './page.js';
export { createMarkdownRenderer, slugify } from './markdown.js';
export type { MarkdownRenderer, Heading } from './markdown.js';
export { fillExecutedNotebook, outputsFrom, writeReports, defaultSeed } from './executed.js';
export type { CellEvent, CellRecord, CellRun, FinishInfo } from './executed.js';
