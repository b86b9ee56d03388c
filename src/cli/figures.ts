// `dytlab figures NOTEBOOK...`: the figures executed notebooks saved
// (saveFigure), written as SVG / PNG / PDF with their CSV and provenance,
// without running anything again.
import { exportFiguresOfNotebooks } from '../figures/batch.js';
import { FIGURE_FORMATS, type FigureFormat } from '../figures/export.js';

export interface FiguresCommandOptions { notebooks: string[]; out?: string; flat: boolean; only?: string[]; formats?: string }

export interface FiguresIO { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } }

/** `--formats svg,png`: each one of FIGURE_FORMATS. */
export function parseFormats(list: string): FigureFormat[] {
  const fs = list.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = fs.filter((f) => !(FIGURE_FORMATS as readonly string[]).includes(f));
  if (!fs.length || bad.length) throw new Error(`--formats ${list}: expected a comma-separated list of ${FIGURE_FORMATS.join(', ')}${bad.length ? ` (not: ${bad.join(', ')})` : ''}`);
  return fs as FigureFormat[];
}

export async function figuresCommand(o: FiguresCommandOptions, io: FiguresIO): Promise<number> {
  let formats: FigureFormat[] | undefined;
  try {
    formats = o.formats !== undefined ? parseFormats(o.formats) : undefined;
  } catch (err) {
    io.stderr.write(`dytlab figures: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const done = await exportFiguresOfNotebooks(o.notebooks, {
      flat: o.flat, ...(o.out ? { out: o.out } : {}), ...(o.only?.length ? { only: o.only } : {}), ...(formats ? { formats } : {}),
    });
    for (const nb of done) {
      for (const f of nb.figures) io.stdout.write(`${nb.notebook}: ${f.name} (cells[${f.cell.index}]) -> ${f.paths.join(', ')}\n`);
    }
    return 0;
  } catch (err) {
    io.stderr.write(`dytlab figures: ${(err as Error).message}\n`);
    return 1;
  }
}
