// Jupyter notebooks, nbformat 4: types, reading with errors that name the
// file, and the structural checks of the nbformat 4 JSON schema that matter
// (required keys per cell and output type, execution counts, sources, mime
// bundles, metadata objects, cell ids).
import { readFileSync } from 'node:fs';

/** A string, or lines to be joined (each keeps its own '\n'). */
export type MultilineString = string | string[];

/** mime type -> data (multiline strings, or JSON values for JSON mime types). */
export type MimeData = Record<string, unknown>;

export interface NotebookMetadata {
  kernelspec?: { name: string; display_name: string; language?: string; [k: string]: unknown };
  language_info?: { name: string; version?: string; pygments_lexer?: string; [k: string]: unknown };
  title?: string;
  [k: string]: unknown;
}

export interface StreamOutput { output_type: 'stream'; name: 'stdout' | 'stderr' | string; text: MultilineString }
export interface DisplayDataOutput {
  output_type: 'display_data'; data: MimeData; metadata: Record<string, unknown>;
  /** Not part of the saved format (a message field); tolerated when reading. */
  transient?: { display_id?: string };
}
export interface ExecuteResultOutput { output_type: 'execute_result'; execution_count: number | null; data: MimeData; metadata: Record<string, unknown> }
export interface ErrorOutput { output_type: 'error'; ename: string; evalue: string; traceback: string[] }
/** A Jupyter message, not a saved output type; the report applies it to the display it updates. */
export interface UpdateDisplayDataOutput { output_type: 'update_display_data'; data: MimeData; metadata: Record<string, unknown>; transient?: { display_id?: string } }
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput | UpdateDisplayDataOutput;

interface CellBase { id?: string; metadata: Record<string, unknown> & { tags?: string[] }; source: MultilineString }
export interface MarkdownCell extends CellBase { cell_type: 'markdown'; attachments?: Record<string, MimeData> }
export interface RawCell extends CellBase { cell_type: 'raw'; attachments?: Record<string, MimeData> }
export interface CodeCell extends CellBase { cell_type: 'code'; execution_count: number | null; outputs: Output[] }
export type Cell = MarkdownCell | RawCell | CodeCell;

export interface NotebookJson {
  nbformat: 4;
  nbformat_minor: number;
  metadata: NotebookMetadata;
  cells: Cell[];
}

/** A notebook file that cannot be used; the message names the file. */
export class NotebookError extends Error {
  constructor(message: string, readonly path: string, readonly problems: string[] = []) {
    super(message);
    this.name = 'NotebookError';
  }
}

/** Joins a multiline string. */
export function joinSource(s: unknown): string {
  if (Array.isArray(s)) return s.map((x) => String(x)).join('');
  return typeof s === 'string' ? s : s == null ? '' : String(s);
}

/**
 * Reads a .ipynb file. Throws a NotebookError naming the file when it cannot
 * be read, is not JSON, is not a JSON object, has no `nbformat` field or one
 * other than 4, has no `cells` array, or has a cell that is not an object,
 * lacks a `cell_type` of code/markdown/raw, has a `source` that is not a string
 * or strings, `metadata` (or its `tags`) of the wrong type, or (code) `outputs`
 * that is not an array; the message names the cell index and the field. With
 * `validate`, every problem validateNotebookShape() finds is an error too.
 */
export function readNotebook(path: string, opts: { validate?: boolean } = {}): NotebookJson {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new NotebookError(`${path}: cannot read the notebook: ${(err as Error).message}`, path);
  }
  let nb: unknown;
  try {
    nb = JSON.parse(text);
  } catch (err) {
    throw new NotebookError(`${path}: not valid JSON: ${(err as Error).message}`, path);
  }
  if (nb === null || typeof nb !== 'object' || Array.isArray(nb)) {
    throw new NotebookError(`${path}: not a notebook: the JSON is ${Array.isArray(nb) ? 'an array' : nb === null ? 'null' : `a ${typeof nb}`}, not an object`, path);
  }
  const o = nb as Record<string, unknown>;
  if (!('nbformat' in o)) throw new NotebookError(`${path}: not an nbformat 4 notebook: the 'nbformat' field is missing`, path);
  if (o.nbformat !== 4) throw new NotebookError(`${path}: nbformat ${JSON.stringify(o.nbformat)} is not supported: only nbformat 4 notebooks can be read`, path);
  if (!Array.isArray(o.cells)) throw new NotebookError(`${path}: not an nbformat 4 notebook: 'cells' is ${o.cells === undefined ? 'missing' : `not an array (${describe(o.cells)})`}`, path);
  // What every reader relies on, cell by cell (the rest only with `validate`).
  const bad = cellProblem(o.cells);
  if (bad) throw new NotebookError(`${path}: ${bad}`, path, [bad]);
  if (opts.validate) {
    const problems = validateNotebookShape(nb);
    if (problems.length) {
      throw new NotebookError(`${path}: not a valid nbformat 4 notebook (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … ${problems.length - 20} more` : ''}`, path, problems);
    }
  }
  return nb as NotebookJson;
}

/** The first cell whose type, source, metadata or outputs a reader cannot use, named by index and field. */
function cellProblem(cells: unknown[]): string | undefined {
  for (const [i, cell] of cells.entries()) {
    const where = `cells[${i}]`;
    if (!isObject(cell)) return `${where} is not a cell: expected an object, got ${describe(cell)}`;
    const type = cell.cell_type;
    if (type === undefined) return `${where}: 'cell_type' is missing (expected code, markdown or raw)`;
    if (type !== 'code' && type !== 'markdown' && type !== 'raw') return `${where}: 'cell_type' is ${describe(type)}, not one of code, markdown, raw`;
    if (!('source' in cell)) return `${where} (${type}): 'source' is missing`;
    if (!isMultiline(cell.source)) return `${where} (${type}): 'source' must be a string or an array of strings, got ${describe(cell.source)}`;
    if (cell.metadata !== undefined && !isObject(cell.metadata)) return `${where} (${type}): 'metadata' must be an object, got ${describe(cell.metadata)}`;
    const tags = isObject(cell.metadata) ? cell.metadata.tags : undefined;
    if (tags !== undefined && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string'))) return `${where} (${type}): 'metadata.tags' must be an array of strings, got ${describe(tags)}`;
    if (type === 'code' && cell.outputs !== undefined && !Array.isArray(cell.outputs)) return `${where} (code): 'outputs' must be an array, got ${describe(cell.outputs)}`;
  }
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isMultiline = (v: unknown): boolean => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
const isCount = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}` : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`);

/** JSON mime types (application/json, application/*+json) may hold any JSON; all others hold multiline strings. */
function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || /^application\/.+\+json$/.test(mime);
}

const MIME_RE = /^[a-zA-Z0-9!#$&+\-.^_]+\/[a-zA-Z0-9!#$&+\-.^_]+$/;
const CELL_KEYS: Record<string, { required: string[]; allowed: string[] }> = {
  code: { required: ['cell_type', 'metadata', 'source', 'outputs', 'execution_count'], allowed: ['id'] },
  markdown: { required: ['cell_type', 'metadata', 'source'], allowed: ['id', 'attachments'] },
  raw: { required: ['cell_type', 'metadata', 'source'], allowed: ['id', 'attachments'] },
};
const OUTPUT_KEYS: Record<string, string[]> = {
  execute_result: ['output_type', 'data', 'metadata', 'execution_count'],
  display_data: ['output_type', 'data', 'metadata'],
  stream: ['output_type', 'name', 'text'],
  error: ['output_type', 'ename', 'evalue', 'traceback'],
};

function checkKeys(o: Record<string, unknown>, required: string[], allowed: string[], where: string, problems: string[]): void {
  for (const k of required) if (!(k in o)) problems.push(`${where}: '${k}' is required`);
  const known = new Set([...required, ...allowed]);
  for (const k of Object.keys(o)) if (!known.has(k)) problems.push(`${where}: unknown key '${k}'`);
}

function checkMimeBundle(data: unknown, where: string, problems: string[]): void {
  if (!isObject(data)) {
    problems.push(`${where} must be an object of mime type -> data, got ${describe(data)}`);
    return;
  }
  for (const [mime, value] of Object.entries(data)) {
    if (!MIME_RE.test(mime)) problems.push(`${where}: '${mime}' is not a mime type`);
    else if (!isJsonMime(mime) && !isMultiline(value)) problems.push(`${where}['${mime}'] must be a string or an array of strings, got ${describe(value)}`);
  }
}

function checkOutput(out: unknown, where: string, problems: string[]): void {
  if (!isObject(out)) {
    problems.push(`${where} must be an object, got ${describe(out)}`);
    return;
  }
  const type = out.output_type;
  const keys = typeof type === 'string' ? OUTPUT_KEYS[type] : undefined;
  if (!keys) {
    const hint = type === 'update_display_data' ? ' (a Jupyter message, not a saved output: apply it to the display_data it updates)' : '';
    problems.push(`${where}: output_type ${describe(type)} is not one of execute_result, display_data, stream, error${hint}`);
    return;
  }
  checkKeys(out, keys, [], where, problems);
  if ('metadata' in out && !isObject(out.metadata)) problems.push(`${where}.metadata must be an object, got ${describe(out.metadata)}`);
  if ('data' in out) checkMimeBundle(out.data, `${where}.data`, problems);
  if (type === 'execute_result' && 'execution_count' in out && !isCount(out.execution_count)) {
    problems.push(`${where}.execution_count must be an integer >= 0 or null, got ${describe(out.execution_count)}`);
  }
  if (type === 'stream') {
    if ('name' in out && typeof out.name !== 'string') problems.push(`${where}.name must be a string, got ${describe(out.name)}`);
    if ('text' in out && !isMultiline(out.text)) problems.push(`${where}.text must be a string or an array of strings, got ${describe(out.text)}`);
  }
  if (type === 'error') {
    if ('ename' in out && typeof out.ename !== 'string') problems.push(`${where}.ename must be a string, got ${describe(out.ename)}`);
    if ('evalue' in out && typeof out.evalue !== 'string') problems.push(`${where}.evalue must be a string, got ${describe(out.evalue)}`);
    if ('traceback' in out && !(Array.isArray(out.traceback) && out.traceback.every((l) => typeof l === 'string'))) {
      problems.push(`${where}.traceback must be an array of strings, got ${describe(out.traceback)}`);
    }
  }
}

/**
 * Structural problems against the nbformat 4 schema, each naming where it is
 * (`cells[3].outputs[0].data`): top-level keys, nbformat/nbformat_minor,
 * metadata objects (and kernelspec/language_info required fields), cell types
 * and their required/allowed keys, cell ids (required, unique and well-formed
 * from nbformat_minor 5), source as string|string[], execution_count as
 * integer >= 0 | null, output types and their keys, mime bundles. An empty
 * list means the notebook has the shape nbformat 4 asks for.
 */
export function validateNotebookShape(nb: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(nb)) return [`the notebook must be a JSON object, got ${describe(nb)}`];
  checkKeys(nb, ['nbformat', 'nbformat_minor', 'metadata', 'cells'], [], 'notebook', problems);
  if ('nbformat' in nb && nb.nbformat !== 4) problems.push(`nbformat must be 4, got ${describe(nb.nbformat)}`);
  const minor = nb.nbformat_minor;
  if ('nbformat_minor' in nb && !(typeof minor === 'number' && Number.isInteger(minor) && minor >= 0)) {
    problems.push(`nbformat_minor must be an integer >= 0, got ${describe(minor)}`);
  }
  const needsIds = typeof minor === 'number' && minor >= 5;
  if ('metadata' in nb) {
    const md = nb.metadata;
    if (!isObject(md)) problems.push(`metadata must be an object, got ${describe(md)}`);
    else {
      if (md.kernelspec !== undefined) {
        if (!isObject(md.kernelspec)) problems.push('metadata.kernelspec must be an object');
        else for (const k of ['name', 'display_name']) if (typeof md.kernelspec[k] !== 'string') problems.push(`metadata.kernelspec.${k} must be a string`);
      }
      if (md.language_info !== undefined) {
        if (!isObject(md.language_info)) problems.push('metadata.language_info must be an object');
        else if (typeof md.language_info.name !== 'string') problems.push('metadata.language_info.name must be a string');
      }
    }
  }
  if (!('cells' in nb)) return problems;
  if (!Array.isArray(nb.cells)) {
    problems.push(`cells must be an array, got ${describe(nb.cells)}`);
    return problems;
  }
  const ids = new Map<string, number>();
  nb.cells.forEach((cell: unknown, i: number) => {
    const where = `cells[${i}]`;
    if (!isObject(cell)) {
      problems.push(`${where} must be an object, got ${describe(cell)}`);
      return;
    }
    const type = cell.cell_type;
    const spec = typeof type === 'string' ? CELL_KEYS[type] : undefined;
    if (!spec) {
      problems.push(`${where}: cell_type ${describe(type)} is not one of code, markdown, raw`);
      return;
    }
    checkKeys(cell, spec.required, spec.allowed, `${where} (${type})`, problems);
    if ('id' in cell) {
      const id = cell.id;
      if (!needsIds) problems.push(`${where}: cell ids need nbformat_minor >= 5 (this notebook says ${describe(minor)})`);
      if (typeof id !== 'string' || !/^[a-zA-Z0-9-_]{1,64}$/.test(id)) {
        problems.push(`${where}.id must be 1-64 characters of letters, digits, '-' and '_', got ${describe(id)}`);
      } else if (ids.has(id)) {
        problems.push(`${where}.id ${JSON.stringify(id)} is also the id of cells[${ids.get(id)}]; ids must be unique`);
      } else {
        ids.set(id, i);
      }
    } else if (needsIds) {
      problems.push(`${where}: 'id' is required from nbformat_minor 5`);
    }
    if ('metadata' in cell && !isObject(cell.metadata)) problems.push(`${where}.metadata must be an object, got ${describe(cell.metadata)}`);
    if ('source' in cell && !isMultiline(cell.source)) problems.push(`${where}.source must be a string or an array of strings, got ${describe(cell.source)}`);
    if ('attachments' in cell) {
      if (!isObject(cell.attachments)) problems.push(`${where}.attachments must be an object`);
      else for (const [name, bundle] of Object.entries(cell.attachments)) checkMimeBundle(bundle, `${where}.attachments['${name}']`, problems);
    }
    if (type === 'code') {
      if ('execution_count' in cell && !isCount(cell.execution_count)) {
        problems.push(`${where}.execution_count must be an integer >= 0 or null, got ${describe(cell.execution_count)}`);
      }
      if ('outputs' in cell) {
        if (!Array.isArray(cell.outputs)) problems.push(`${where}.outputs must be an array, got ${describe(cell.outputs)}`);
        else cell.outputs.forEach((o: unknown, j: number) => checkOutput(o, `${where}.outputs[${j}]`, problems));
      }
    }
  });
  return problems;
}
