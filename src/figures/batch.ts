// The figures of several executed notebooks through one Chromium: what
// `dytlab figures NOTEBOOK...` does, and what a script that collects a chosen
// few figures into one folder (docs/figures/) calls.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { withFigureExporter, type FigureFormat } from './export.js';
import { exportNotebookFigures, savedFigures, type ExportedFigure, type NotebookLike } from './notebook.js';

export interface NotebooksFiguresOptions {
  /**
   * Where the files go: OUT/figures/<notebook>/<name>.* (default: each
   * notebook's own folder, so reports/00-tour.ipynb -> reports/figures/00-tour/),
   * or with `flat`, OUT/<name>.*.
   */
  out?: string;
  flat?: boolean;
  /** Only these figure names (each must be saved by one of the notebooks). */
  only?: readonly string[];
  formats?: readonly FigureFormat[];
}

export interface NotebookFigures { notebook: string; dir: string; figures: ExportedFigure[] }

function readNb(path: string): NotebookLike {
  if (!existsSync(path)) throw new Error(`${path}: no such notebook`);
  try {
    const nb = JSON.parse(readFileSync(path, 'utf8')) as NotebookLike;
    if (!nb || !Array.isArray(nb.cells)) throw new Error('not an nbformat 4 notebook (no cells array)');
    return nb;
  } catch (err) {
    throw new Error(`${path}: cannot read the notebook: ${(err as Error).message}`);
  }
}

/**
 * Exports the figures saved in executed notebooks (saveFigure outputs), all
 * checked before a browser starts: names unique per notebook (and across
 * notebooks with `flat`), every `only` name found somewhere, at least one figure.
 */
export async function exportFiguresOfNotebooks(paths: readonly string[], o: NotebooksFiguresOptions = {}): Promise<NotebookFigures[]> {
  if (!paths.length) throw new Error('figures: give one or more executed notebooks (.ipynb)');
  if (o.flat && !o.out) throw new Error('figures: --flat needs --out DIR (the folder the figures go in)');
  const plans = paths.map((p) => {
    const path = resolve(p);
    const nb = readNb(path);
    const stem = basename(path).replace(/\.ipynb$/i, '');
    const names = savedFigures(nb).map((f) => f.name);
    const dir = o.flat ? resolve(o.out!) : join(o.out ? resolve(o.out) : dirname(path), 'figures', stem);
    const only = o.only ? names.filter((n) => o.only!.includes(n)) : names;
    return { label: p, path, nb, stem, names, dir, only };
  });
  const all = plans.flatMap((p) => p.names.map((n) => ({ n, label: p.label })));
  if (o.only) {
    const missing = o.only.filter((n) => !all.some((a) => a.n === n));
    if (missing.length) throw new Error(`figures: no notebook saves ${missing.map((n) => `'${n}'`).join(', ')} (saved: ${all.length ? all.map((a) => `${a.n} in ${a.label}`).join(', ') : 'none'})`);
  }
  if (o.flat) {
    const first = new Map<string, string>();
    for (const p of plans) {
      for (const n of p.only) {
        const prev = first.get(n);
        if (prev) throw new Error(`figures --flat: figure '${n}' is saved by ${prev} and by ${p.label}; they would write the same files (use --only, or drop --flat)`);
        first.set(n, p.label);
      }
    }
  }
  if (!plans.some((p) => p.only.length)) {
    throw new Error(`figures: ${paths.length === 1 ? `${paths[0]} saves no figure` : 'these notebooks save no figure'} (figures are saved with saveFigure(spec, name) in an executed notebook)`);
  }
  return withFigureExporter(async (exporter) => {
    const out: NotebookFigures[] = [];
    for (const p of plans) {
      if (!p.only.length) { out.push({ notebook: p.label, dir: p.dir, figures: [] }); continue; }
      const figures = await exportNotebookFigures(p.nb, { outDir: p.dir, notebook: p.stem, only: p.only, exporter, ...(o.formats ? { formats: o.formats } : {}) });
      out.push({ notebook: p.label, dir: p.dir, figures });
    }
    return out;
  });
}
