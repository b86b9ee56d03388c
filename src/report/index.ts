// Notebook -> self-contained offline HTML reports, and the nbformat 4 reader.
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
