// A bracketed sweep read from the store (sweepBrackets: the grid with the
// extensions its runs led to, and each cell's bracket status), and selection
// on one metric with reporting on another (selectOnValidation: the best value
// of an axis per cell on validation, its runs' test metric as the result).
//
// The trainer logs held-out metrics as `val/*` (train/tasks.ts), and `test/*`
// at the final step only for a data spec with testSplit: true (data/README.md,
// "Test split"). When the runs logged no `reportMetric`, the report falls
// back to the selection metric and says so in `note`: a number chosen and
// reported on the same split is optimistic.
import type { RunStore } from './store/index.js';
import { summarize, type Summary } from './stats.js';
import { bracketGrid, bracketStatus, type BracketGroupStatus, type BracketState } from './sweep-bracket.js';
import type { LoadSweepOptions } from './sweep-config.js';
import { expandSweep, type SweepGrid } from './sweep.js';
import { sweepRuns, type Reduce, type SweepSource } from './sweep-summary.js';

function gridOf(sweep: SweepSource, opts: LoadSweepOptions): SweepGrid {
  const g = sweep as SweepGrid;
  if (g && typeof g === 'object' && Array.isArray(g.points) && g.spec) return g;
  return expandSweep(sweep as string | object, opts);
}

/**
 * A sweep's grid with the bracket extensions its stored runs led to (pass it to
 * summarizeSweep, sweepRuns, ... to see those runs too), and each cell's
 * bracket status. A sweep without a bracket comes back as its grid, status [].
 */
export function sweepBrackets(store: RunStore, sweep: SweepSource, opts: LoadSweepOptions = {}): { grid: SweepGrid; status: BracketGroupStatus[] } {
  const grid = gridOf(sweep, opts);
  const b = grid.spec.bracket;
  if (!b) return { grid: { ...grid, extensions: grid.extensions ?? 0 }, status: [] };
  return bracketGrid(grid, (g) => sweepRuns(store, g, b.metric, { reduce: b.reduce }));
}

export interface SelectOptions extends LoadSweepOptions {
  /** The axis to choose a value of (default: the sweep's bracket axis). */
  axis?: string;
  /** Chosen on (default: the bracket's metric, else 'val/loss'). */
  selectMetric?: string;
  /** Reported at the chosen value (default 'test/loss'); when no run logged it, the selection metric is reported, with a note. */
  reportMetric?: string;
  /** 'min' or 'max' for the selection metric (default: the bracket's, else 'min'). */
  mode?: 'min' | 'max';
  /** The axes of a cell (default: the bracket's groupBy, else every axis but `axis` and the seed). */
  by?: string[];
  /** How a run's series becomes one number (default: the bracket's, else 'last'). */
  reduce?: Reduce;
  /** Confidence level of the reported interval (default 0.95). */
  level?: number;
}

export interface SelectionRow extends Omit<Summary, 'level'> {
  group: string;
  /** The chosen value of the axis (null: none could be chosen). */
  chosen: number | null;
  selectMetric: string;
  /** Mean of the selection metric at the chosen value, and its runs. */
  selectMean: number | null;
  selectN: number;
  /** The bracket state of the cell: 'bracketed', 'edge failed', 'cap reached', 'at edge', 'all failed', 'pending' (or 'extend'). */
  bracket: BracketState;
  /** The metric asked for, and the one the numbers are of (the selection metric when the runs lacked it). */
  reportMetric: string;
  reported: string;
  level: number;
  /** The cell's axes. */
  [column: string]: unknown;
}

/**
 * Per cell (by): the value of `axis` with the best mean `selectMetric` over its
 * runs (diverged and stalled values count as worst), and the mean, spread and
 * interval of `reportMetric` over the runs at that value. With a bracket the
 * extensions are included (sweepBrackets).
 */
export function selectOnValidation(store: RunStore, sweep: SweepSource, opts: SelectOptions = {}): SelectionRow[] {
  const { grid } = sweepBrackets(store, sweep, opts);
  const b = grid.spec.bracket;
  const axis = opts.axis ?? b?.axis;
  if (!axis) throw new RangeError(`selectOnValidation: ${grid.spec.label} has no bracket: give the axis to choose (e.g. axis: 'train.lr')`);
  const spec = grid.spec.axes.find((a) => a.name === axis);
  if (!spec) throw new RangeError(`selectOnValidation: "${axis}" is not an axis of ${grid.spec.label}`);
  const sameAxis = b && b.axis === axis;
  const by = opts.by ?? (sameAxis ? b.groupBy : grid.spec.axes.filter((a) => a.kind !== 'seed' && a.name !== axis).map((a) => a.name));
  const selectMetric = opts.selectMetric ?? (sameAxis ? b.metric : 'val/loss');
  const reportMetric = opts.reportMetric ?? 'test/loss';
  const reduce = opts.reduce ?? (sameAxis ? b.reduce : 'last');
  const level = opts.level ?? 0.95;
  const sel = sweepRuns(store, grid, selectMetric, { reduce });
  const rep = sweepRuns(store, grid, reportMetric, { reduce });
  const status = bracketStatus(sel, {
    axis, groupBy: by, mode: opts.mode ?? (sameAxis ? b.mode : 'min'), metric: selectMetric,
    ...(sameAxis ? { factor: b.factor, maxExtra: b.maxExtra, gridValues: b.gridValues } : {}),
  });
  return status.map((s) => {
    const inCell = (i: number) => by.every((a) => String(sel[i]!.axes[a]) === String(s.cells[a]));
    const at = sel.map((r, i) => i).filter((i) => inCell(i) && sel[i]!.axes[axis] === s.best);
    const chosen = s.best;
    const picked = at.map((i) => rep[i]!).filter((r) => r.state === 'finished');
    const withReport = picked.filter((r) => r.value !== null);
    const notes: string[] = [];
    let reported = reportMetric, values = withReport.map((r) => r.value!);
    if (chosen === null) {
      notes.push(`nothing chosen: ${s.why}`);
      values = [];
    } else if (!withReport.length) {
      reported = selectMetric;
      values = at.map((i) => sel[i]!.value).filter((v): v is number => v !== null);
      notes.push(`no run at ${axis} = ${chosen} logged ${reportMetric}: reporting ${selectMetric}, the metric it was chosen on (optimistic)`);
    } else if (withReport.length < picked.length) {
      notes.push(`${picked.length - withReport.length} of ${picked.length} runs at the chosen value logged no ${reportMetric}`);
    }
    const { level: _l, ...sum } = summarize(values, level);
    if (sum.note) notes.unshift(sum.note);
    return {
      ...s.cells, group: s.group, chosen, selectMetric, selectMean: s.bestMean,
      selectN: s.values.find((v) => v.value === chosen)?.n ?? 0, bracket: s.state, reportMetric, reported,
      ...sum, level, ...(notes.length ? { note: notes.join('; ') } : {}),
    } as SelectionRow;
  });
}
