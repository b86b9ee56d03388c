// What a sweep measured, read from the store: one row per combination
// (sweepRuns), one row per group of seeds with mean, spread and interval
// (summarizeSweep), paired differences against a baseline (compareToBaseline),
// a matrix for heatmaps (sweepMatrix) and mean curves (sweepCurves). Plain
// records, so a notebook shows them as tables.
//
// Runs are found by config hash (expansion computes exactly what runTraining
// records), so renaming nothing and guessing nothing: a combination is
// 'finished', 'diverged' or 'stalled' when the store has such a run with its
// hash (the latest, if it has several), else 'running', 'interrupted', 'failed'
// or 'missing'. Diverged and stalled runs are failures of the config: counted
// apart, never in a mean.
import { valueAtPath } from './store/frames.js';
import type { RunRecord, RunStore } from './store/index.js';
import { pairedComparison, summarize, type PairedComparison, type Summary } from './stats.js';
import type { LoadSweepOptions, SweepAxis } from './sweep-config.js';
import { expandSweep, type SweepGrid, type SweepPoint } from './sweep.js';

export type SweepSource = SweepGrid | string | object;
export type Reduce = 'last' | 'min' | 'max';

export interface SummaryOptions extends LoadSweepOptions {
  /** How a run's metric series becomes one number: its last value (default), minimum or maximum. */
  reduce?: Reduce;
  /** Confidence level of the intervals (default 0.95). */
  level?: number;
  /** The axes that define a group (default: every axis but the seed); the others are pooled. */
  by?: string[];
  /** Extra columns: values of the run config at these dotted paths (e.g. "model.norm.alpha0"). */
  columns?: string[];
}

function gridOf(sweep: SweepSource, opts: LoadSweepOptions): SweepGrid {
  const g = sweep as SweepGrid;
  if (g && typeof g === 'object' && Array.isArray(g.points) && g.spec) return g;
  return expandSweep(sweep as string | object, opts);
}

/** A table cell for an axis value: the raw value when it is a number, string or boolean, else its label. */
function axisCell(p: SweepPoint, axis: SweepAxis): string | number | boolean {
  const v = p.values[axis.name];
  return typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : p.labels[axis.name]!;
}

/** interrupted: stopped by a signal (a sweep runs it again; `dytlab train --resume` continues it). */
/** stalled: stopped by train.stall, no better than the task's baseline (counted like diverged). */
export type RunState = 'finished' | 'diverged' | 'stalled' | 'failed' | 'interrupted' | 'running' | 'missing';

export interface SweepRunRow {
  index: number;
  group: string;
  seed: number;
  hash: string;
  state: RunState;
  runId: string | null;
  /** Step the run ended at (diverged: the step it diverged at; stalled: the step of the stall check). */
  step: number | null;
  reason: string | null;
  /** The metric reduced to one number (finished, diverged and stalled runs that logged it; else null). */
  value: number | null;
  wallSeconds: number | null;
  /** Axis name -> cell. */
  axes: Record<string, string | number | boolean>;
}

function pickRun(runs: RunRecord[]): { state: RunState; run?: RunRecord } {
  const latest = (s: RunRecord['status']) => runs.filter((r) => r.status === s).at(-1);
  for (const s of ['finished', 'diverged', 'stalled', 'running', 'interrupted', 'failed'] as const) {
    const r = latest(s);
    if (r) return { state: s, run: r };
  }
  return { state: 'missing' };
}

function reduceSeries(values: number[], how: Reduce): number | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return null;
  if (how === 'last') return Number.isFinite(values.at(-1)!) ? values.at(-1)! : null;
  return how === 'min' ? Math.min(...finite) : Math.max(...finite);
}

/** One row per combination: its run's state, step, reason and the reduced metric. */
export function sweepRuns(store: RunStore, sweep: SweepSource, metric?: string, opts: SummaryOptions = {}): SweepRunRow[] {
  const grid = gridOf(sweep, opts);
  const byHash = new Map<string, RunRecord[]>();
  for (const r of store.listRuns()) byHash.set(r.configHash, [...(byHash.get(r.configHash) ?? []), r]);
  return grid.points.map((p) => {
    const { state, run } = pickRun(byHash.get(p.hash) ?? []);
    let value: number | null = null;
    if (metric && run && (state === 'finished' || state === 'diverged' || state === 'stalled')) {
      value = reduceSeries(store.metricSeries(run.id, metric).value, opts.reduce ?? 'last');
    }
    return {
      index: p.index, group: p.group, seed: p.seed, hash: p.hash, state, runId: run?.id ?? null,
      step: run?.statusStep ?? null, reason: run?.statusReason ?? null, value, wallSeconds: run?.wallSeconds ?? null,
      axes: Object.fromEntries(grid.spec.axes.map((a) => [a.name, axisCell(p, a)])),
    };
  });
}

export interface SweepSummaryRow extends Omit<Summary, 'level'> {
  /** "axis=value, ..." over the grouping axes. */
  group: string;
  /** Seeds whose run diverged (not in the mean), and the steps they diverged at. */
  diverged: number;
  divergedAt: number[];
  /** Seeds whose run stalled (train.stall; not in the mean), and the steps they stalled at. */
  stalled: number;
  stalledAt: number[];
  /** Combinations with no finished, diverged or stalled run (failed, running, never run). */
  missing: number;
  /** The values that went into the mean, by seed. */
  values: { seed: number; value: number }[];
  level: number;
  /** The grouping axes' cells and the extra columns. */
  [column: string]: unknown;
}

const RESERVED = new Set(['group', 'n', 'mean', 'std', 'sem', 'ciLow', 'ciHigh', 'halfWidth', 'level', 'note', 'diverged', 'divergedAt', 'stalled', 'stalledAt', 'missing', 'values']);

/**
 * The final metric per group of seeds: mean, std, t interval, n, how many
 * diverged or stalled (and when) and how many are missing. `metric` is a name the runs
 * logged, e.g. 'val/loss' or 'val/accuracy'.
 */
export function summarizeSweep(store: RunStore, sweep: SweepSource, metric: string, opts: SummaryOptions = {}): SweepSummaryRow[] {
  const grid = gridOf(sweep, opts);
  const by = opts.by ?? grid.spec.axes.filter((a) => a.kind !== 'seed').map((a) => a.name);
  for (const name of [...by, ...(opts.columns ?? [])]) {
    if (RESERVED.has(name)) throw new RangeError(`summarizeSweep: column "${name}" clashes with a summary field; rename the axis`);
  }
  for (const name of by) {
    if (!grid.spec.axes.some((a) => a.name === name)) {
      throw new RangeError(`summarizeSweep: by: "${name}" is not an axis of ${grid.spec.label} (axes: ${grid.spec.axes.map((a) => `"${a.name}"`).join(', ')})`);
    }
  }
  const runs = sweepRuns(store, grid, metric, opts);
  const groups = new Map<string, { rows: SweepRunRow[]; point: SweepPoint }>();
  for (const r of runs) {
    const key = by.map((a) => `${a}=${grid.points[r.index]!.labels[a]}`).join(', ');
    const g = groups.get(key) ?? { rows: [], point: grid.points[r.index]! };
    g.rows.push(r);
    groups.set(key, g);
  }
  const level = opts.level ?? 0.95;
  return [...groups].map(([key, { rows, point }]) => {
    const ok = rows.filter((r) => r.state === 'finished' && r.value !== null);
    const div = rows.filter((r) => r.state === 'diverged');
    const stall = rows.filter((r) => r.state === 'stalled');
    const values = ok.map((r) => ({ seed: r.seed, value: r.value! }));
    const s = summarize(values.map((v) => v.value), level);
    const cells: Record<string, unknown> = {};
    for (const a of by) cells[a] = axisCell(point, grid.spec.axes.find((x) => x.name === a)!);
    for (const c of opts.columns ?? []) cells[c] = valueAtPath(point.resolved, c) ?? null;
    const notes = [s.note, div.length ? `${div.length} diverged` : undefined, stall.length ? `${stall.length} stalled` : undefined].filter(Boolean);
    return {
      ...cells, group: key, ...s, level,
      diverged: div.length, divergedAt: div.map((r) => r.step ?? -1),
      stalled: stall.length, stalledAt: stall.map((r) => r.step ?? -1),
      missing: rows.length - ok.length - div.length - stall.length, values,
      ...(notes.length ? { note: notes.join('; ') } : {}),
    } as SweepSummaryRow;
  });
}

export interface ComparisonRow extends Omit<PairedComparison, 'pairs'> {
  group: string;
  baseline: string;
  [column: string]: unknown;
}

/**
 * Each group against its baseline group, paired by seed: treatment - baseline.
 * `baseline` fixes some axes (e.g. {norm: 'layernorm'}); a group's baseline
 * is the group with the same values on every other axis.
 */
export function compareToBaseline(store: RunStore, sweep: SweepSource, metric: string, baseline: Record<string, unknown>,
  opts: SummaryOptions = {}): ComparisonRow[] {
  const grid = gridOf(sweep, opts);
  const rows = summarizeSweep(store, grid, metric, opts);
  const by = opts.by ?? grid.spec.axes.filter((a) => a.kind !== 'seed').map((a) => a.name);
  for (const k of Object.keys(baseline)) {
    if (!by.includes(k)) throw new RangeError(`compareToBaseline: "${k}" is not a grouping axis (${by.map((a) => `"${a}"`).join(', ')})`);
  }
  const same = (x: unknown, y: unknown) => x === y || String(x) === String(y);
  const key = (r: Record<string, unknown>) => by.map((a) => String(r[a])).join('\u0000');
  const index = new Map(rows.map((r) => [key(r), r]));
  const out: ComparisonRow[] = [];
  for (const r of rows) {
    if (Object.entries(baseline).every(([k, v]) => same(r[k], v))) continue; // the baseline itself
    const target = key({ ...r, ...baseline });
    const b = index.get(target);
    const cells = Object.fromEntries(by.map((a) => [a, r[a]]));
    if (!b) {
      out.push({
        ...cells, group: r.group, baseline: '(none)', n: 0, meanDiff: null, stdDiff: null, ciLow: null, ciHigh: null,
        level: r.level, t: null, df: null, p: null, treatmentOnly: r.values.map((v) => String(v.seed)), baselineOnly: [],
        note: `no baseline group with ${Object.entries(baseline).map(([k, v]) => `${k}=${String(v)}`).join(', ')} in this sweep`,
      });
      continue;
    }
    const c = pairedComparison(r.values.map((v) => [v.seed, v.value] as const), b.values.map((v) => [v.seed, v.value] as const), r.level);
    const { pairs: _pairs, ...rest } = c;
    out.push({ ...cells, group: r.group, baseline: b.group, ...rest });
  }
  return out;
}

export interface SweepMatrix {
  /** Column values (the x axis) and row values (the y axis), in grid order. */
  x: (string | number | boolean)[];
  y: (string | number | boolean)[];
  /** z[row][column]: the field's value, null where a cell has none. */
  z: (number | null)[][];
  /** Cells where every seed diverged. */
  diverged: boolean[][];
  /** Cells where every seed stalled, or failed with some diverged and the rest stalled (none in the mean). */
  stalled: boolean[][];
  /** "2/3 diverged" (or "1/3 diverged, 1/3 stalled") where some (not all) seeds diverged or stalled, else "". */
  partial: string[][];
}

/** Summary rows laid out on two axes (e.g. alpha0 x learning rate) for a heatmap. */
export function sweepMatrix(rows: readonly SweepSummaryRow[], xAxis: string, yAxis: string, field: string = 'mean'): SweepMatrix {
  const x: SweepMatrix['x'] = [], y: SweepMatrix['y'] = [];
  for (const r of rows) {
    if (!(xAxis in r)) throw new RangeError(`sweepMatrix: the rows have no column "${xAxis}"`);
    if (!(yAxis in r)) throw new RangeError(`sweepMatrix: the rows have no column "${yAxis}"`);
    if (!x.includes(r[xAxis] as never)) x.push(r[xAxis] as string);
    if (!y.includes(r[yAxis] as never)) y.push(r[yAxis] as string);
  }
  const z = y.map(() => x.map((): number | null => null));
  const diverged = y.map(() => x.map(() => false));
  const stalled = y.map(() => x.map(() => false));
  const partial = y.map(() => x.map(() => ''));
  const seen = new Set<string>();
  for (const r of rows) {
    const i = y.indexOf(r[yAxis] as string), j = x.indexOf(r[xAxis] as string);
    const cell = `${i},${j}`;
    if (seen.has(cell)) {
      throw new RangeError(`sweepMatrix: two groups fall on ${xAxis}=${String(r[xAxis])}, ${yAxis}=${String(r[yAxis])}: ` +
        'another axis varies too; filter the rows (or summarise with `by`) first');
    }
    seen.add(cell);
    const v = r[field];
    z[i]![j] = typeof v === 'number' && Number.isFinite(v) ? v : null;
    // Rows made by hand (or before 'stalled' existed) may lack the stall count.
    const st = typeof r.stalled === 'number' ? r.stalled : 0;
    const total = r.n + r.diverged + st;
    diverged[i]![j] = r.diverged > 0 && r.n === 0 && st === 0;
    stalled[i]![j] = st > 0 && r.n === 0;
    if ((r.diverged > 0 || st > 0) && r.n > 0) {
      partial[i]![j] = [r.diverged > 0 && `${r.diverged}/${total} diverged`, st > 0 && `${st}/${total} stalled`].filter(Boolean).join(', ');
    }
  }
  return { x, y, z, diverged, stalled, partial };
}

export interface MeanCurve {
  name: string;
  /** Steps every run of the group logged the metric at. */
  x: number[];
  /** Mean over the group's finished runs at each step. */
  y: number[];
  /** Runs averaged. */
  n: number;
}

/** Mean training or validation curve of each group (finished runs; steps common to all of them). */
export function sweepCurves(store: RunStore, sweep: SweepSource, metric: string, opts: SummaryOptions = {}): MeanCurve[] {
  const grid = gridOf(sweep, opts);
  const by = opts.by ?? grid.spec.axes.filter((a) => a.kind !== 'seed').map((a) => a.name);
  const runs = sweepRuns(store, grid, undefined, opts).filter((r) => r.state === 'finished');
  const groups = new Map<string, SweepRunRow[]>();
  for (const r of runs) {
    const key = by.map((a) => `${a}=${grid.points[r.index]!.labels[a]}`).join(', ');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups].map(([name, rs]) => {
    const series = rs.map((r) => {
      const s = store.metricSeries(r.runId!, metric);
      return new Map(s.step.map((st, i) => [st, s.value[i]!]));
    });
    const common = [...(series[0]?.keys() ?? [])].filter((st) => series.every((m) => m.has(st)));
    const y = common.map((st) => series.reduce((sum, m) => sum + m.get(st)!, 0) / series.length);
    return { name: name || grid.spec.name, x: common, y, n: series.length };
  });
}
