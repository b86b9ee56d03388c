// A heatmap of how runs ended, over two axes (variant x learning rate): each
// cell coloured by a discrete class (every run ok, some failed, every run
// stalled, every run diverged, failed both ways) and labelled with its counts,
// so that "stalled" and "diverged" read as the two failures they are.
import type { FigureSpec } from './common.js';
import { heatmap, type AxisValue } from './heatmap.js';

export interface StatusCount { ok: number; stalled: number; diverged: number }

/** The classes, in the order of their codes (0..4), and their colours. */
export const STATUS_CLASSES = ['every run ok', 'some runs failed', 'every run stalled', 'every run diverged', 'stalled and diverged'] as const;
const COLOURS = ['#2e8b57', '#f1c40f', '#e67e22', '#c0392b', '#7d3c98'];

/** A cell's class code (an index of STATUS_CLASSES), null for a cell without runs. */
export function statusClass(c: StatusCount | null | undefined): number | null {
  if (!c) return null;
  for (const k of ['ok', 'stalled', 'diverged'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 0) throw new RangeError(`statusClass: ${k} = ${String(c[k])} is not a whole number >= 0`);
  }
  if (c.ok + c.stalled + c.diverged === 0) return null;
  if (c.stalled + c.diverged === 0) return 0;
  if (c.ok > 0) return 1;
  if (c.diverged === 0) return 2;
  if (c.stalled === 0) return 3;
  return 4;
}

/** "3 ok", "2 ok, 1 diverged": the counts of a cell, ok first. */
export function statusCellText(c: StatusCount | null | undefined): string {
  if (!c) return '';
  return (['ok', 'stalled', 'diverged'] as const).filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`).join(', ');
}

export interface StatusMapOptions {
  x: readonly AxisValue[];
  y: readonly AxisValue[];
  /** counts[row][column]; null for a cell without runs. */
  counts: readonly (readonly (StatusCount | null)[])[];
  title?: string;
  xTitle?: string;
  yTitle?: string;
}

/** The heatmap: a discrete colour per class (colour bar labelled with the class names), counts in the cells. */
export function statusMap(opts: StatusMapOptions): FigureSpec {
  if (!opts || !Array.isArray(opts.counts)) throw new TypeError('statusMap: opts.counts must be an array of rows');
  const z = opts.counts.map((row) => (Array.isArray(row) ? row.map(statusClass) : row));
  const spec = heatmap({
    x: opts.x, y: opts.y, z: z as (number | null)[][], text: opts.counts.map((row) => row.map(statusCellText)),
    ...(opts.title ? { title: opts.title } : {}), ...(opts.xTitle ? { xTitle: opts.xTitle } : {}), ...(opts.yTitle ? { yTitle: opts.yTitle } : {}),
  });
  const n = COLOURS.length;
  // A step colour scale: code k fills [k/n, (k+1)/n] with one colour, and zmin/zmax centre each code in its band.
  const colorscale = COLOURS.flatMap((c, k) => [[k / n, c], [(k + 1) / n, c]]);
  const trace = spec.data[0]!;
  Object.assign(trace, {
    colorscale, zmin: -0.5, zmax: n - 0.5, showscale: true,
    colorbar: { tickvals: COLOURS.map((_, k) => k), ticktext: [...STATUS_CLASSES], title: { text: 'runs' } },
    hovertemplate: `${opts.xTitle ?? 'x'} %{x}<br>${opts.yTitle ?? 'y'} %{y}<br>%{text}<extra></extra>`,
  });
  spec.layout.yaxis = { ...(spec.layout.yaxis as object), automargin: true };
  return spec;
}
