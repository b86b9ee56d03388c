// saveFigure() for notebooks: shows the figure as display() would and marks
// the output as a figure to export. The mark is one more MIME type in the same
// display output (SAVED_FIGURE_MIME: the name, the export options, what the
// notebook knows of its provenance); front ends that do not know it show the
// plotly figure as usual. After a run, `dytlab run` / `dytlab reproduce` scan
// the executed notebook for it and write the files (./notebook.ts), as does
// `dytlab figures NOTEBOOK` for a notebook executed elsewhere (e.g. Jupyter).
import { registerDisplayPlugin, toMimeBundle } from '../display/registry.js';
import { display } from '../display/display.js';
import { isPlotlyFigure, type PlotlyFigure } from '../display/plotly.js';
import { VERSION } from '../version.js';
import { resolveExport, type ExportOptions, type FigureFormat, type FigureStyle } from './export.js';
import { backendOfThisProcess, runsFrom } from './provenance.js';
import type { PaperColumn } from './style.js';

export const SAVED_FIGURE_MIME = 'application/vnd.dytlab.figure+json';

/** Letters, digits, '-' and '_' (a file name on every system), at most 100 characters. */
export const FIGURE_NAME_RE = /^[A-Za-z0-9_-]{1,100}$/;

/** Throws a TypeError naming the problem unless `name` is a valid figure name. */
export function validateFigureName(name: unknown, where = 'saveFigure'): string {
  if (typeof name !== 'string') throw new TypeError(`${where}: the figure name must be a string, got ${name === null ? 'null' : typeof name}`);
  if (!FIGURE_NAME_RE.test(name)) {
    throw new TypeError(`${where}: figure name ${JSON.stringify(name)} is not allowed: use 1-100 letters, digits, '-' and '_' (it becomes the file name)`);
  }
  return name;
}

export interface SaveFigureMeta {
  /** Training results, store records, study rows or run ids whose run ids and config hashes go into the provenance. */
  runs?: unknown;
  runIds?: string[];
  configHashes?: string[];
  seed?: number;
  profile?: string;
  /** Default 'paper'. */
  style?: FigureStyle;
  /** Paper column, default 'double'. */
  column?: PaperColumn;
  formats?: FigureFormat[];
  width?: number;
  height?: number;
  scale?: number;
}

/** What SAVED_FIGURE_MIME holds (the spec is the output's plotly JSON beside it). */
export interface SavedFigureRecord {
  name: string;
  export: Pick<ExportOptions, 'formats' | 'width' | 'height' | 'scale' | 'style' | 'column'>;
  provenance: { run_ids: string[]; config_hashes: string[]; seed: number | null; profile: string | null; backend: string | null; dytlab: string; saved: string };
}

class SavedFigure {
  constructor(readonly spec: PlotlyFigure, readonly record: SavedFigureRecord) {}
}

const PLUGIN = 'dytlab-saved-figure';

function ensurePlugin(): void {
  // Registered on each call: a kernel restart or resetDisplayPlugins() may have removed it.
  registerDisplayPlugin({
    name: PLUGIN,
    test: (v) => v instanceof SavedFigure,
    render: (v) => {
      const f = v as SavedFigure;
      return { ...toMimeBundle(f.spec), [SAVED_FIGURE_MIME]: f.record };
    },
  }, { first: true });
}

function strings(what: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new TypeError(`saveFigure: ${what} must be an array of strings`);
  return v;
}

/** The record saveFigure attaches (validated; exported for tests and tools). */
export function savedFigureRecord(spec: PlotlyFigure, name: string, meta: SaveFigureMeta = {}): SavedFigureRecord {
  validateFigureName(name);
  if (!isPlotlyFigure(spec)) throw new TypeError(`saveFigure('${name}'): expected a plotly figure {data: [traces], layout?} (as the viz/ builders return)`);
  if (meta === null || typeof meta !== 'object') throw new TypeError(`saveFigure('${name}'): meta must be an object`);
  if (meta.seed !== undefined && !Number.isFinite(meta.seed)) throw new TypeError(`saveFigure('${name}'): seed must be a number`);
  if (meta.profile !== undefined && typeof meta.profile !== 'string') throw new TypeError(`saveFigure('${name}'): profile must be a string`);
  const exp: SavedFigureRecord['export'] = { style: meta.style ?? 'paper' };
  for (const k of ['formats', 'width', 'height', 'scale', 'column'] as const) if (meta[k] !== undefined) (exp as Record<string, unknown>)[k] = meta[k];
  try {
    resolveExport(spec, exp); // bad options fail here, in the cell, not after the run
  } catch (err) {
    throw new TypeError(`saveFigure('${name}'): ${(err as Error).message.replace(/^exportFigure: /, '')}`);
  }
  const found = runsFrom(meta.runs);
  return {
    name,
    export: exp,
    provenance: {
      run_ids: [...new Set([...strings('runIds', meta.runIds), ...found.run_ids])],
      config_hashes: [...new Set([...strings('configHashes', meta.configHashes), ...found.config_hashes])],
      seed: meta.seed ?? null, profile: meta.profile ?? null,
      backend: backendOfThisProcess(), dytlab: VERSION, saved: new Date().toISOString(),
    },
  };
}

/**
 * Shows `spec` (as display() does) and saves it as figure `name` of this
 * notebook: `dytlab run` and `dytlab reproduce` write
 * figures/<notebook>/<name>.{svg,png,pdf,csv,json} in their output folder
 * (`dytlab figures NOTEBOOK` from a notebook executed elsewhere). `meta` adds
 * provenance (runs, seed, profile) and export options (style, default 'paper';
 * column; formats; width, height, scale).
 */
export function saveFigure(spec: PlotlyFigure, name: string, meta: SaveFigureMeta = {}): void {
  const record = savedFigureRecord(spec, name, meta);
  ensurePlugin();
  display(new SavedFigure(spec, record));
}
