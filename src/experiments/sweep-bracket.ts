// Bracketing a numeric axis (a learning rate) on validation: is the best value
// of each comparison cell enclosed by worse values, and if not, which value to
// try next. Pure functions over rows of runs (bracketStatus) and over a grid
// (bracketGrid, which asks a callback for the rows: sweep-summary.ts reads them
// from the store, tests make them by hand).
//
// The rule, per cell (the groupBy axes' values; pooled axes and seeds averaged):
//  - a value's score is the mean of the metric over its runs; a value with a
//    diverged or stalled run (or a finished one that logged no finite metric)
//    counts as worst ("failed"); a value with a run not done yet (missing,
//    running, crashed, interrupted) leaves the cell 'pending';
//  - the best is the value with the best mean (ties: the lowest value, and the
//    tied values next to it count as one plateau);
//  - every tried value beside the best (plateau) is worse or failed, by
//    construction, so the best is enclosed when it has a neighbour on both sides:
//    'bracketed' (both measured worse) or 'edge failed' (one of them failed);
//    a failed neighbour at the edge of the tried values whose runs failed only in
//    part is stepped past (within the cap), so that every value that some runs
//    favour is enclosed too; a cell where every value failed steps below its
//    lowest value (within the cap) before it ends 'all failed';
//  - else it is at an edge: the next value is one grid step beyond it (edge times
//    or over `factor`, the upper side first when both are open), unless the cell
//    already has `maxExtra` values beyond the grid: 'cap reached'.
// bracketGrid repeats this, adding the next values' combinations (every seed and
// pooled value of the edge), until no cell has a next value it can look up: the
// same store always gives the same extensions, so a rerun finds them again.
import { configHash } from './store/index.js';
import { resolveRun } from './run-config.js';
import { applyPatch, type BracketSpec } from './sweep-config.js';
import { describeLabels, type SweepGrid, type SweepPoint } from './sweep.js';

/** One run, as sweepRuns (sweep-summary.ts) gives it: a SweepRunRow is one. */
export interface BracketRow {
  /** Axis name -> cell: the bracket axis's number, the groupBy axes' values (compared as text). */
  axes: Record<string, string | number | boolean>;
  seed: number;
  /** finished | diverged | stalled (results); failed | interrupted | running | missing (not done). */
  state: string;
  /** The run's metric, reduced to one number (null: not logged or not finite). */
  value: number | null;
}

export interface BracketOptions {
  /** The axis to bracket (its cells must be numbers). */
  axis: string;
  /** The axes that define a comparison cell (default: none, all rows one cell). */
  groupBy?: readonly string[];
  /** 'min' (default: a loss) or 'max' (an accuracy). */
  mode?: 'min' | 'max';
  /** Grid step. Without it a cell at an edge is 'at edge' with no next value. */
  factor?: number;
  /** Values beyond gridValues allowed per cell (default 3). */
  maxExtra?: number;
  /** The axis values of the grid itself (default: none, so every tried value counts as the grid's). */
  gridValues?: readonly number[];
  /** Named in the texts (default "the metric"). */
  metric?: string;
}

export interface BracketValue {
  value: number;
  /** Mean of the metric over the runs (null: failed or pending). */
  mean: number | null;
  /** Runs with a result in the mean. */
  n: number;
  /** Runs that diverged, stalled or logged no finite metric. */
  failed: number;
  /** Runs not done yet. */
  pending: number;
  /** Beyond the grid's values. */
  extra: boolean;
}

/** The end states, and the two states that are not ends: 'extend' (next is set) and 'pending'. */
export type BracketState = 'bracketed' | 'edge failed' | 'cap reached' | 'all failed' | 'at edge' | 'extend' | 'pending';

export interface BracketGroupStatus {
  /** "axis=value, ..." over the groupBy axes ('' for one cell). */
  group: string;
  /** The groupBy axes' cells. */
  cells: Record<string, string | number | boolean>;
  /** The values tried, ascending. */
  tried: number[];
  values: BracketValue[];
  /** The best value (null when every value failed, or pending). */
  best: number | null;
  bestMean: number | null;
  /** The best has a worse or failed neighbour on both sides. */
  bracketed: boolean;
  state: BracketState;
  /** The value to try next, and the edge it steps from. */
  next: number | null;
  from: number | null;
  /** Values beyond the grid's. */
  extra: number;
  /** Why it ended, or what comes next, in words. */
  why: string;
}

const RESULT = new Set(['finished', 'diverged', 'stalled']);

/** Round a product to 12 significant digits: 0.001 * 3 is 0.003, as a person would write it. */
export function stepValue(edge: number, factor: number, up: boolean): number {
  return Number((up ? edge * factor : edge / factor).toPrecision(12));
}

const fmt = (v: number) => String(Number(v.toPrecision(6)));

/** Per cell: the values tried, their means, the best, whether it is bracketed and what to try next. */
export function bracketStatus(rows: readonly BracketRow[], opts: BracketOptions): BracketGroupStatus[] {
  const { axis } = opts;
  const groupBy = opts.groupBy ?? [];
  const mode = opts.mode ?? 'min';
  const maxExtra = opts.maxExtra ?? 3;
  const metric = opts.metric ?? 'the metric';
  const grid = opts.gridValues ? new Set(opts.gridValues) : undefined;
  const better = (a: number, b: number) => (mode === 'min' ? a < b : a > b);
  const cells = new Map<string, { cells: Record<string, string | number | boolean>; rows: BracketRow[] }>();
  for (const r of rows) {
    const x = r.axes[axis];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new RangeError(`bracketStatus: a run (seed ${r.seed}) has ${axis} = ${String(x)}, not a number`);
    }
    const c = Object.fromEntries(groupBy.map((a) => {
      if (!(a in r.axes)) throw new RangeError(`bracketStatus: groupBy: the rows have no axis "${a}"`);
      return [a, r.axes[a]!];
    }));
    const key = describeLabels(Object.fromEntries(groupBy.map((a) => [a, String(c[a])])), groupBy);
    const g = cells.get(key) ?? { cells: c, rows: [] };
    g.rows.push(r);
    cells.set(key, g);
  }
  return [...cells].map(([group, { cells: c, rows: rs }]) => {
    const tried = [...new Set(rs.map((r) => r.axes[axis] as number))].sort((a, b) => a - b);
    const values: BracketValue[] = tried.map((v) => {
      const at = rs.filter((r) => r.axes[axis] === v);
      const pending = at.filter((r) => !RESULT.has(r.state)).length;
      const ok = at.filter((r) => r.state === 'finished' && r.value !== null && Number.isFinite(r.value));
      const failed = at.length - pending - ok.length;
      const mean = pending || failed ? null : ok.reduce((s, r) => s + r.value!, 0) / ok.length;
      return { value: v, mean, n: ok.length, failed, pending, extra: grid ? !grid.has(v) : false };
    });
    const extra = values.filter((v) => v.extra).length;
    const base = { group, cells: c, tried, values, extra };
    const end = (state: BracketState, why: string, best: number | null = null, bestMean: number | null = null, bracketed = false) =>
      ({ ...base, best, bestMean, bracketed, state, next: null, from: null, why });
    const waiting = values.filter((v) => v.pending);
    if (waiting.length) {
      const n = waiting.reduce((s, v) => s + v.pending, 0);
      return end('pending', `${n} run${n > 1 ? 's' : ''} at ${axis} = ${waiting.map((v) => fmt(v.value)).join(', ')} not done yet ` +
        '(missing, running, failed or interrupted): run the sweep again');
    }
    let b = -1;
    values.forEach((v, i) => { if (v.mean !== null && (b < 0 || better(v.mean, values[b]!.mean!))) b = i; });
    if (b < 0) {
      // Nothing worked: look below the lowest value (a smaller step fails less often), within the cap.
      const msg = `every value of ${axis} (${tried.map(fmt).join(', ')}) diverged, stalled or logged no ${metric}`;
      if (opts.factor === undefined || extra >= maxExtra) return end('all failed', msg);
      const next = stepValue(tried[0]!, opts.factor, false);
      return { ...base, best: null, bestMean: null, bracketed: false, state: 'extend', next, from: tried[0]!, why: `${msg}: try ${fmt(next)}` };
    }
    const best = values[b]!.value, bestMean = values[b]!.mean!;
    // The plateau of values tied with the best, around it.
    let lo = b, hi = b;
    while (lo > 0 && values[lo - 1]!.mean === bestMean) lo--;
    while (hi < values.length - 1 && values[hi + 1]!.mean === bestMean) hi++;
    const below = values[lo - 1], above = values[hi + 1];
    const tie = hi > lo ? ` (tied with ${values.slice(lo, hi + 1).filter((v) => v.value !== best).map((v) => fmt(v.value)).join(', ')})` : '';
    const at = `best ${axis} = ${fmt(best)}${tie}`;
    if (below && above) {
      // A neighbour that failed for some of its runs but not all, at the edge of what was tried: step past it, so
      // the failure is confirmed where every run fails (and the value the surviving runs favour is enclosed too).
      const partial = [above === values.at(-1) && above.mean === null && above.n > 0 && { v: above, up: true },
        below === values[0] && below.mean === null && below.n > 0 && { v: below, up: false }].find(Boolean);
      if (partial && opts.factor !== undefined && extra < maxExtra) {
        const next = stepValue(partial.v.value, opts.factor, partial.up);
        return { ...base, best, bestMean, bracketed: true, state: 'extend', next, from: partial.v.value,
          why: `${at}: its neighbour ${fmt(partial.v.value)} failed for ${partial.v.failed} of ${partial.v.failed + partial.v.n} runs: try ${fmt(next)}` };
      }
      const failedSide = [below.mean === null && `${fmt(below.value)} below`, above.mean === null && `${fmt(above.value)} above`].filter(Boolean);
      return failedSide.length
        ? end('edge failed', `${at}: its neighbour ${failedSide.join(' and ')} failed (diverged or stalled)`, best, bestMean, true)
        : end('bracketed', `${at}: worse at ${fmt(below.value)} and ${fmt(above.value)}`, best, bestMean, true);
    }
    const up = !above; // the upper side first when both are open
    const edge = up ? values[hi]!.value : values[lo]!.value;
    const side = up ? 'upper' : 'lower';
    if (opts.factor === undefined) return end('at edge', `${at} is at the ${side} edge (no factor to step by)`, best, bestMean);
    if (extra >= maxExtra) {
      return end('cap reached', `${at} is at the ${side} edge, and ${extra} value${extra === 1 ? '' : 's'} beyond the grid ` +
        `(maxExtra ${maxExtra}) have been tried`, best, bestMean);
    }
    const next = stepValue(edge, opts.factor, up);
    return { ...base, best, bestMean, bracketed: false, state: 'extend', next, from: edge, why: `${at} is at the ${side} edge: try ${fmt(next)}` };
  });
}

/** The bracket's options for bracketStatus, from a sweep's BracketSpec. */
export function bracketOptions(b: BracketSpec): BracketOptions {
  return { axis: b.axis, groupBy: b.groupBy, mode: b.mode, factor: b.factor, maxExtra: b.maxExtra, gridValues: b.gridValues, metric: b.metric };
}

/** The combination `template` with the bracket axis at `value`: a new point, resolved and hashed as expandSweep would. */
export function extendPoint(grid: SweepGrid, template: SweepPoint, axis: string, value: number, index: number): SweepPoint {
  const config = structuredClone(template.config);
  const labels = { ...template.labels, [axis]: String(value) };
  const where = `${grid.spec.label}: bracket combination #${index} (${describeLabels(labels)})`;
  applyPatch(config, axis, value, where);
  const resolved = resolveRun(config, where);
  const groupAxes = grid.spec.axes.filter((x) => x.kind !== 'seed').map((x) => x.name);
  return {
    index, values: { ...template.values, [axis]: value }, labels, seed: resolved.seed,
    group: describeLabels(labels, groupAxes), config, resolved, hash: configHash(resolved),
  };
}

export interface BracketWalk {
  /** The grid with the extensions found so far after its own points (`extensions` of them). */
  grid: SweepGrid;
  status: BracketGroupStatus[];
}

/**
 * Walks a bracketed sweep: the status of every cell from the rows `rowsOf`
 * gives for the points so far; each cell that should extend gets the
 * combinations of its next value; again, until no cell extends (its new
 * values' runs are missing, so it is 'pending', or it ended). A grid without
 * a bracket comes back as it is.
 */
export function bracketGrid(grid: SweepGrid, rowsOf: (g: SweepGrid) => BracketRow[]): BracketWalk {
  const b = grid.spec.bracket;
  const own = grid.points.length - (grid.extensions ?? 0);
  const points = [...grid.points];
  const at = (ps: SweepPoint[]): SweepGrid => ({ ...grid, points: ps, extensions: ps.length - own });
  if (!b) return { grid: at(points), status: [] };
  const opts = bracketOptions(b);
  const hashes = new Set(points.map((p) => p.hash));
  const keyOf = (p: SweepPoint) => describeLabels(Object.fromEntries(b.groupBy.map((a) => [a, p.labels[a]!])), b.groupBy);
  for (;;) {
    const g = at([...points]);
    const status = bracketStatus(rowsOf(g), opts);
    let added = 0;
    for (const s of status) {
      if (s.next === null) continue;
      for (const t of points.filter((p) => keyOf(p) === s.group && p.values[b.axis] === s.from)) {
        const p = extendPoint(grid, t, b.axis, s.next, points.length);
        if (hashes.has(p.hash)) continue;
        hashes.add(p.hash);
        points.push(p);
        added++;
      }
    }
    if (!added) return { grid: g, status };
  }
}
