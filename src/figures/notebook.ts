// The figures a notebook saved (saveFigure), read back from its executed
// .ipynb, and their export: figures/<notebook>/<name>.{svg,png,pdf,csv,json}.
// Used by `dytlab run` / `dytlab reproduce` after each notebook and by
// `dytlab figures NOTEBOOK...` on a notebook executed anywhere (JupyterLab, nbclient).
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { PLOTLY_MIME, type PlotlyFigure } from '../display/plotly.js';
import { withFigureExporter, type ExportedPaths, type ExportOptions, type FigureExporter, type FigureFormat } from './export.js';
import { gitCommitOf, type FigureCellRef, type ProvenanceInput } from './provenance.js';
import { SAVED_FIGURE_MIME, validateFigureName, type SavedFigureRecord } from './save.js';

/** The parts of an nbformat 4 notebook read here. */
export interface NotebookLike {
  cells: { cell_type: string; id?: string; source?: unknown; execution_count?: number | null; outputs?: unknown[]; metadata?: Record<string, unknown> }[];
  metadata?: Record<string, unknown>;
}

export interface SavedFigureEntry {
  name: string;
  cell: FigureCellRef;
  spec: PlotlyFigure;
  record: SavedFigureRecord;
}

export class FigureNameClashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FigureNameClashError';
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const where = (c: FigureCellRef) => `cells[${c.index}] (code cell ${c.code_cell}${c.id ? `, id ${c.id}` : ''})`;

function parseJson(v: unknown): unknown {
  if (typeof v === 'string' || Array.isArray(v)) {
    try { return JSON.parse([v].flat().join('')); } catch { return undefined; }
  }
  return v;
}

/**
 * Every figure the notebook saved, in order. Throws a FigureNameClashError
 * naming both cells when two outputs save the same name, and a TypeError
 * naming the cell for a malformed record.
 */
export function savedFigures(nb: NotebookLike): SavedFigureEntry[] {
  if (!nb || !Array.isArray(nb.cells)) throw new TypeError('savedFigures: expected an nbformat 4 notebook with a cells array');
  const out: SavedFigureEntry[] = [];
  const seen = new Map<string, FigureCellRef>();
  let code = 0;
  for (const [index, cell] of nb.cells.entries()) {
    if (!cell || cell.cell_type !== 'code') continue;
    code++;
    const ref: FigureCellRef = { index, code_cell: code, id: typeof cell.id === 'string' ? cell.id : null, execution_count: typeof cell.execution_count === 'number' ? cell.execution_count : null };
    for (const o of Array.isArray(cell.outputs) ? cell.outputs : []) {
      const data = isObj(o) && isObj(o.data) ? o.data : undefined;
      if (!data || !(SAVED_FIGURE_MIME in data)) continue;
      const rec = parseJson(data[SAVED_FIGURE_MIME]) as SavedFigureRecord | undefined;
      const spec = parseJson(data[PLOTLY_MIME]) as PlotlyFigure | undefined;
      if (!isObj(rec) || typeof rec.name !== 'string') throw new TypeError(`${where(ref)}: a saved figure output without a name`);
      validateFigureName(rec.name, `${where(ref)}`);
      if (!isObj(spec) || !Array.isArray(spec.data)) throw new TypeError(`${where(ref)}: saved figure '${rec.name}' has no plotly figure beside it`);
      const prev = seen.get(rec.name);
      if (prev) {
        throw new FigureNameClashError(prev.index === index
          ? `figure name '${rec.name}' is saved twice by ${where(ref)}: give each saveFigure call its own name`
          : `figure name '${rec.name}' is saved by ${where(prev)} and by ${where(ref)}: give each saveFigure call its own name`);
      }
      seen.set(rec.name, ref);
      out.push({ name: rec.name, cell: ref, spec, record: { ...rec, export: isObj(rec.export) ? rec.export : {}, provenance: isObj(rec.provenance) ? rec.provenance : ({} as SavedFigureRecord['provenance']) } });
    }
  }
  return out;
}

/** A string default of `name` in the notebook's parameters cell (`const profile = 'quick'`). */
function parameterDefault(nb: NotebookLike, name: string): string | undefined {
  const cell = nb.cells.find((c) => Array.isArray(c.metadata?.tags) && (c.metadata!.tags as unknown[]).includes('parameters'));
  const src = cell ? [cell.source ?? ''].flat().join('') : '';
  const m = new RegExp(`^\\s*(?:const|let|var)\\s+${name}\\s*(?::[^=]+)?=\\s*(['"])([^'"]*)\\1`, 'm').exec(src);
  return m?.[2];
}

function seedDefault(nb: NotebookLike): number | undefined {
  const cell = nb.cells.find((c) => Array.isArray(c.metadata?.tags) && (c.metadata!.tags as unknown[]).includes('parameters'));
  const m = cell && /^\s*(?:const|let|var)\s+seed\s*(?::[^=]+)?=\s*(-?\d+)\s*;?\s*$/m.exec([cell.source ?? ''].flat().join(''));
  return m ? Number(m[1]) : undefined;
}

/**
 * A figure's provenance from its record and the notebook: the run's manifest
 * (metadata.dytlab, written by `dytlab run`) when there is one, else what the
 * kernel recorded when the figure was saved.
 */
export function notebookProvenance(nb: NotebookLike, entry: SavedFigureEntry, o: { notebook: string; path?: string }): ProvenanceInput {
  const man = isObj(nb.metadata?.dytlab) ? (nb.metadata!.dytlab as Record<string, unknown>) : {};
  const params = isObj(man.parameters) ? man.parameters : {};
  const p = entry.record.provenance;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const s = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    figure: entry.name,
    notebook: o.notebook,
    cell: entry.cell,
    dytlab: s(man.dytlab) ?? s(p.dytlab),
    git_commit: 'git_commit' in man ? (s(man.git_commit) ?? null) : o.path ? gitCommitOf(dirname(o.path)) : null,
    backend: s(man.backend) ?? s(p.backend) ?? null,
    run_ids: Array.isArray(p.run_ids) ? p.run_ids.filter((x) => typeof x === 'string') : [],
    config_hashes: Array.isArray(p.config_hashes) ? p.config_hashes.filter((x) => typeof x === 'string') : [],
    seed: num(p.seed) ?? num(params.seed) ?? num(man.seed) ?? seedDefault(nb) ?? null,
    profile: s(p.profile) ?? s(params.profile) ?? parameterDefault(nb, 'profile') ?? null,
    saved: s(p.saved) ?? null,
  };
}

export interface NotebookFiguresOptions {
  /** The folder the files go in (e.g. reports/figures/00-tour). */
  outDir: string;
  /** The notebook's name in the provenance (default: the file name without .ipynb). */
  notebook?: string;
  /** Only these figures (an unknown name is an error listing those saved). */
  only?: readonly string[];
  /** Override the formats each figure asked for. */
  formats?: readonly FigureFormat[];
  /** Export through this browser (default: one started and closed here, only if there is a figure). */
  exporter?: FigureExporter;
  /** First delete the files of figures exported earlier into outDir that this notebook no longer saves (default false). */
  clean?: boolean;
}

const KINDS = ['svg', 'png', 'pdf', 'csv', 'json'] as const;

/** Deletes, in `dir`, the files of exported figures (a sidecar NAME.json with figure and files) not in `keep`. */
export function removeStaleFigures(dir: string, keep: ReadonlySet<string>): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const f of readdirSync(dir)) {
    const m = /^(.+)\.json$/.exec(f);
    if (!m || keep.has(m[1]!)) continue;
    let side: unknown;
    try { side = JSON.parse(readFileSync(join(dir, f), 'utf8')); } catch { continue; }
    if (!isObj(side) || side.figure !== m[1] || !isObj(side.files)) continue; // not one of ours
    for (const k of KINDS) {
      const p = join(dir, `${m[1]}.${k}`);
      if (existsSync(p)) { rmSync(p); removed.push(p); }
    }
  }
  return removed;
}

export interface ExportedFigure { name: string; cell: FigureCellRef; paths: ExportedPaths }

/** Exports every figure `nb` saved (a notebook object, or the path of an .ipynb) into o.outDir. */
export async function exportNotebookFigures(nbOrPath: NotebookLike | string, o: NotebookFiguresOptions): Promise<ExportedFigure[]> {
  const path = typeof nbOrPath === 'string' ? resolve(nbOrPath) : undefined;
  let nb: NotebookLike;
  if (path) {
    try { nb = JSON.parse(readFileSync(path, 'utf8')) as NotebookLike; } catch (err) { throw new Error(`${nbOrPath}: cannot read the notebook: ${(err as Error).message}`); }
  } else {
    nb = nbOrPath as NotebookLike;
  }
  const notebook = o.notebook ?? (path ? basename(path).replace(/\.ipynb$/i, '') : 'notebook');
  const all = savedFigures(nb);
  let list = all;
  if (o.only?.length) {
    const names = new Set(list.map((f) => f.name));
    const missing = o.only.filter((n) => !names.has(n));
    if (missing.length) throw new Error(`${path ?? notebook}: no saved figure named ${missing.map((n) => `'${n}'`).join(', ')}; it saves ${list.length ? list.map((f) => `'${f.name}'`).join(', ') : 'none'}`);
    list = list.filter((f) => o.only!.includes(f.name));
  }
  if (o.clean) removeStaleFigures(o.outDir, new Set(all.map((f) => f.name)));
  if (list.length === 0) return [];
  const run = async (ex: FigureExporter) => {
    const out: ExportedFigure[] = [];
    for (const f of list) {
      const opts: ExportOptions = { ...f.record.export, ...(o.formats ? { formats: o.formats } : {}), provenance: notebookProvenance(nb, f, { notebook, ...(path ? { path } : {}) }) };
      out.push({ name: f.name, cell: f.cell, paths: await ex.export(f.spec, join(o.outDir, f.name), opts) });
    }
    return out;
  };
  return o.exporter ? run(o.exporter) : withFigureExporter(run);
}

/** Each figure's files as links relative to `fromDir` (the report's folder): name -> kind -> href. */
export function figureLinks(figs: readonly ExportedFigure[], fromDir: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const f of figs) {
    const kinds: Record<string, string> = {};
    for (const k of KINDS) {
      const p = f.paths[k];
      if (p) kinds[k] = relative(fromDir, p).split('\\').join('/');
    }
    out[f.name] = kinds;
  }
  return out;
}
