// Cell errors as Jupyter wants them: ename, evalue, traceback (a list of lines).
// Compile errors come from tslab's converter with positions in the cell.
// Runtime errors carry V8 stacks in the compiled JavaScript; each cell runs
// under its own file name, so frames in a cell are mapped back to the cell's
// TypeScript lines (by aligning compiled lines with source lines).
import * as util from 'node:util';
import type { Diagnostic } from 'tslab/dist/converter';

export interface CellError { ename: string; evalue: string; traceback: string[] }

const CATEGORY = ['warning', 'error', 'suggestion', 'message'];

/** Compile errors (tslab's converter diagnostics) of the cell labelled `label` (e.g. 'In[3]'). */
export function compileError(diags: Diagnostic[], src: string, label: string): CellError {
  const lines = src.split('\n');
  const traceback: string[] = [];
  const heads: Diagnostic[] = [];
  let prev: Diagnostic | undefined;
  for (const d of diags) {
    // tslab flattens message chains into entries at the same position: indent those.
    const chained = prev && prev.start.offset === d.start.offset && prev.end.offset === d.end.offset && prev.fileName === d.fileName;
    if (chained) {
      traceback.push(`  ${d.messageText}`);
      prev = d;
      continue;
    }
    heads.push(d);
    prev = d;
    if (traceback.length) traceback.push('');
    const where = `${d.fileName ?? label}:${d.start.line + 1}:${d.start.character + 1}`;
    traceback.push(`${where} - ${CATEGORY[d.category] ?? 'error'} TS${d.code}: ${d.messageText}`);
    if (!d.fileName) traceback.push(...excerpt(lines, d.start.line, d.start.character, d.end.line === d.start.line ? d.end.character : undefined));
  }
  const first = heads[0] ?? diags[0]!;
  const more = heads.length > 1 ? ` (and ${heads.length - 1} more error${heads.length > 2 ? 's' : ''})` : '';
  const where = first.fileName ? `${first.fileName} line ${first.start.line + 1}` : `line ${first.start.line + 1}, column ${first.start.character + 1}`;
  return {
    ename: 'CompileError',
    evalue: `TS${first.code}: ${first.messageText} (${where})${more}`,
    traceback,
  };
}

/** The source line `line` (0-based) and a marker under [col, endCol). */
function excerpt(lines: string[], line: number, col: number, endCol?: number): string[] {
  const text = lines[line];
  if (text === undefined) return [];
  const num = String(line + 1);
  const width = Math.max(1, (endCol ?? col + 1) - col);
  return ['', `${num} | ${text}`, `${' '.repeat(num.length)} | ${' '.repeat(col)}${(width > 1 ? '~' : '^').repeat(width)}`];
}

/** How a cell's compiled JavaScript maps back to its TypeScript lines. */
export interface CellSource {
  /** The name the cell ran under (its V8 script file name). */
  filename: string;
  /** What tracebacks call it: 'In[3]' or '<cell>'. */
  label: string;
  src: string;
  /** The JavaScript as run, wrapper included. */
  js: string;
  /** Columns the wrapper adds in front of the first line. */
  firstLineShift: number;
  map?: Int32Array;
  exact?: Uint8Array;
}

const normLine = (s: string) =>
  s.trim()
    .replace(/^(?:exports\.)?tsLastExpr\d*\s*=\s*/, '')
    .replace(/\bexports\./g, '')
    .replace(/;+$/, '')
    .replace(/\s+/g, ' ');

/** Fills `c.map[jsLine] = tsLine` (0-based) by a longest-common-subsequence alignment of normalized lines. */
function buildMap(c: CellSource): void {
  if (c.map) return;
  const js = c.js.split('\n').map(normLine);
  const ts = c.src.split('\n').map(normLine);
  const n = js.length, m = ts.length;
  const map = new Int32Array(n).fill(-1);
  const exact = new Uint8Array(n);
  if (n * m <= 4_000_000) {
    // dp over suffixes; lines that normalize to '' or to braces alone are weak anchors: skip them.
    const weak = (s: string) => s === '' || /^[{}()[\];,]*$/.test(s);
    const dp = new Uint32Array((n + 1) * (m + 1));
    const at = (i: number, j: number) => i * (m + 1) + j;
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        dp[at(i, j)] = js[i] === ts[j] && !weak(js[i]!) ? dp[at(i + 1, j + 1)]! + 1 : Math.max(dp[at(i + 1, j)]!, dp[at(i, j + 1)]!);
      }
    }
    for (let i = 0, j = 0; i < n && j < m;) {
      if (js[i] === ts[j] && !weak(js[i]!)) { map[i] = j; exact[i] = 1; i++; j++; }
      else if (dp[at(i + 1, j)]! >= dp[at(i, j + 1)]!) i++;
      else j++;
    }
  }
  // Unmatched lines: step on from the previous anchor, never past the next one.
  let prevJs = -1, prevTs = -1;
  for (let i = 0; i < n; i++) {
    if (exact[i]) { prevJs = i; prevTs = map[i]!; continue; }
    let nextTs = m - 1;
    for (let k = i + 1; k < n; k++) if (exact[k]) { nextTs = map[k]!; break; }
    const guess = prevTs < 0 ? Math.min(i, nextTs) : Math.min(prevTs + (i - prevJs), nextTs);
    map[i] = Math.max(0, Math.min(m - 1, guess));
  }
  c.map = map;
  c.exact = exact;
}

/** Maps a 1-based position in the compiled cell to 'label:line[:col]' in the source, or null (the wrapper). */
function mapPosition(c: CellSource, line: number, col: number): { text: string; line: number; col?: number } | null {
  buildMap(c);
  const jsLines = c.js.split('\n');
  const i = line - 1;
  if (i < 0 || i >= jsLines.length) return null;
  // The wrapper's closing line `})(__tslab__.exports, __tslab__.require)` calls the cell.
  if (i === jsLines.length - 1 && jsLines[i]!.includes('__tslab__.exports')) return null;
  const tsLine = c.map![i]!;
  if (!c.exact![i]) return { text: `${c.label}:${tsLine + 1}`, line: tsLine };
  let jsCol = col - 1 - (i === 0 ? c.firstLineShift : 0);
  const jsText = jsLines[i]!;
  const removed = (jsText.slice(0, Math.max(0, jsCol)).match(/\bexports\./g) ?? []).length * 'exports.'.length;
  const tsText = c.src.split('\n')[tsLine] ?? '';
  const jsIndent = jsText.length - jsText.trimStart().length - (i === 0 ? c.firstLineShift : 0);
  const tsIndent = tsText.length - tsText.trimStart().length;
  jsCol = jsCol - removed - Math.max(0, jsIndent) + tsIndent;
  const tsCol = Math.max(0, Math.min(jsCol, Math.max(0, tsText.length - 1)));
  return { text: `${c.label}:${tsLine + 1}:${tsCol + 1}`, line: tsLine, col: tsCol };
}

const FRAME = /^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?$/;
const INTERNAL = [/\(node:/, /^\s*at node:/, /[\\/]tslab[\\/]dist[\\/]/, /\bnew Promise \(<anonymous>\)/];

/**
 * A runtime error thrown by a cell. `cells` maps script file names to their cells
 * (any earlier cell may appear in the stack); `ownDir` frames (the kernel) are dropped.
 */
export function runtimeError(err: unknown, cells: Map<string, CellSource>, ownDir: string): CellError {
  if (!(err instanceof Error) && !(err && typeof err === 'object' && 'stack' in err && 'message' in err)) {
    return { ename: 'Uncaught', evalue: util.inspect(err), traceback: [`Uncaught ${util.inspect(err)}`] };
  }
  const e = err as Error;
  const ename = e.name || e.constructor?.name || 'Error';
  const evalue = typeof e.message === 'string' ? e.message : String(e.message);
  const traceback = [`${ename}: ${evalue}`];
  let top: { cell: CellSource; line: number; col?: number } | null = null;
  for (const raw of String(e.stack ?? '').split('\n')) {
    const m = FRAME.exec(raw);
    if (!m || !/^\s*at /.test(raw)) continue;
    if (INTERNAL.some((r) => r.test(raw)) || raw.includes(ownDir)) continue;
    const [, fn, file, l, c] = m;
    const cell = cells.get(file!);
    if (cell) {
      const pos = mapPosition(cell, Number(l), Number(c));
      if (!pos) continue;
      if (!top) top = { cell, line: pos.line, ...(pos.col !== undefined ? { col: pos.col } : {}) };
      traceback.push(fn ? `    at ${fn} (${pos.text})` : `    at ${pos.text}`);
    } else {
      traceback.push(raw.replace(/^\s*/, '    '));
    }
    if (traceback.length > 40) break;
  }
  if (top) {
    const lines = top.cell.src.split('\n');
    const ex = excerpt(lines, top.line, top.col ?? 0);
    // Without an exact column, show the line but no marker.
    traceback.push(...(top.col === undefined ? ex.slice(0, 2) : ex));
  }
  const cause = (e as { cause?: unknown }).cause;
  if (cause !== undefined) traceback.push('', `Caused by: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : util.inspect(cause)}`);
  return { ename, evalue, traceback };
}
