// What notebooks 02 and 10 read from per-layer traces: alpha, 1/std of the layer
// input and the squash saturation over training, per layer and run; a detector of
// the paper's "alpha first falls, then rises" (applied to alpha and to 1/std);
// saturation summaries; and how far Adam can move a scalar alpha at all (about lr
// per step, so the sum of the schedule's learning rates bounds its travel).
// Pure functions over trace rows, from the run store or from data/study/traces.csv.
import { lrAt, type ScheduleConfig } from '../train/schedule.js';

/** One layer's trace at one step of one run. saturation: null where the norm has no squash. */
export interface TrajectoryPoint { step: number; layer: string; alpha: number | null; inputStd: number; saturation: number | null }

/** A store trace record (store.traces(runId)): saturation lives in extra.saturation. */
export interface StoreTraceLike { step: number; layer: string; alpha: number | null; inputStd: number; extra?: Record<string, unknown> | null }
/** A row of data/study/traces.csv (readStudyTraces). */
export interface StudyTraceLike { step: number; layer: string; alpha: number | null; input_std: number | null; saturation: number | null }

const finiteOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function pointsFromStore(rows: readonly StoreTraceLike[]): TrajectoryPoint[] {
  return rows.map((r) => ({ step: r.step, layer: r.layer, alpha: finiteOrNull(r.alpha), inputStd: r.inputStd, saturation: finiteOrNull(r.extra?.saturation) }));
}

export function pointsFromStudy(rows: readonly StudyTraceLike[]): TrajectoryPoint[] {
  // A missing std (a layer the export could not measure) becomes NaN: 1/std is then left out of every curve.
  return rows.map((r) => ({ step: r.step, layer: r.layer, alpha: finiteOrNull(r.alpha), inputStd: r.input_std ?? NaN, saturation: finiteOrNull(r.saturation) }));
}

/** One layer of one run, in step order. alpha / saturation entries are NaN where the trace has none. */
export interface LayerSeries { layer: string; step: number[]; alpha: number[]; invStd: number[]; saturation: number[] }

/** Per layer (in first-seen order), the run's points sorted by step; a repeated (layer, step) is an error. */
export function layerSeries(points: readonly TrajectoryPoint[]): LayerSeries[] {
  const by = new Map<string, TrajectoryPoint[]>();
  for (const p of points) {
    if (!Number.isFinite(p.step)) throw new Error(`layerSeries: layer '${p.layer}' has a non-finite step (${p.step})`);
    let list = by.get(p.layer);
    if (!list) by.set(p.layer, (list = []));
    list.push(p);
  }
  return [...by].map(([layer, list]) => {
    list.sort((a, b) => a.step - b.step);
    for (let i = 1; i < list.length; i++) {
      if (list[i]!.step === list[i - 1]!.step) throw new Error(`layerSeries: layer '${layer}' has two traces at step ${list[i]!.step} (points of two runs mixed?)`);
    }
    return {
      layer, step: list.map((p) => p.step), alpha: list.map((p) => p.alpha ?? NaN),
      invStd: list.map((p) => 1 / p.inputStd), saturation: list.map((p) => p.saturation ?? NaN),
    };
  });
}

/** Back to points (1/std inverted again), e.g. the mean over seeds of meanSeries for analyses that take points. */
export function seriesPoints(series: readonly LayerSeries[]): TrajectoryPoint[] {
  return series.flatMap((t) => t.step.map((step, i) => ({
    step, layer: t.layer, alpha: finiteOrNull(t.alpha[i]), inputStd: 1 / t.invStd[i]!, saturation: finiteOrNull(t.saturation[i]),
  })));
}

export type TrajectoryShape = 'falls then rises' | 'falls' | 'rises' | 'flat';

export interface FallRise {
  shape: TrajectoryShape;
  /** shape === 'falls then rises'. */
  present: boolean;
  points: number;
  start: number;
  /** The (first) minimum: its step and value. */
  minStep: number;
  min: number;
  /** start - min, and the largest value after the minimum minus the minimum (both >= 0, in the series' units). */
  drop: number;
  rise: number;
  /** The step of that largest value after the minimum. */
  riseStep: number;
  /** drop and rise over |start|. */
  relDrop: number;
  relRise: number;
  /** The threshold both had to pass: tolerance x |start|. */
  threshold: number;
}

export interface FallRiseOptions {
  /** A fall or rise counts when it exceeds this fraction of |start| (default 0.05): noise and rounding stay "flat". */
  tolerance?: number;
  /** Only the points at steps <= upTo (the early part of training). */
  upTo?: number;
}

/**
 * "Falls, then rises": from the first point the series falls to its (first) minimum
 * by more than tolerance x |start|, and after the minimum climbs back by more than
 * that. Otherwise 'falls' (a drop only), 'rises' (no drop, a climb above the start)
 * or 'flat'. Steps must increase; values must be finite.
 */
export function detectFallRise(steps: readonly number[], values: readonly number[], opts: FallRiseOptions = {}): FallRise {
  const tol = opts.tolerance ?? 0.05;
  if (!(tol >= 0) || !Number.isFinite(tol)) throw new Error(`detectFallRise: tolerance ${String(opts.tolerance)} is invalid: must be a finite number >= 0`);
  if (steps.length !== values.length) throw new Error(`detectFallRise: ${steps.length} steps but ${values.length} values`);
  const idx: number[] = [];
  for (let i = 0; i < steps.length; i++) {
    if (i > 0 && !(steps[i]! > steps[i - 1]!)) throw new Error(`detectFallRise: steps must increase (step ${steps[i]} after ${steps[i - 1]} at index ${i})`);
    if (opts.upTo === undefined || steps[i]! <= opts.upTo) idx.push(i);
  }
  if (idx.length < 2) throw new Error(`detectFallRise: needs at least 2 points${opts.upTo !== undefined ? ` at steps <= ${opts.upTo}` : ''}, got ${idx.length}`);
  const v = idx.map((i) => values[i]!), s = idx.map((i) => steps[i]!);
  v.forEach((x, i) => { if (!Number.isFinite(x)) throw new Error(`detectFallRise: value at step ${s[i]} is not finite (${x})`); });
  const start = v[0]!;
  let iMin = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! < v[iMin]!) iMin = i;
  let iMax = iMin;
  for (let i = iMin + 1; i < v.length; i++) if (v[i]! > v[iMax]!) iMax = i;
  const scale = Math.abs(start) > 0 ? Math.abs(start) : Math.max(...v.map(Math.abs));
  const threshold = tol * scale;
  const drop = start - v[iMin]!, rise = v[iMax]! - v[iMin]!;
  const climb = Math.max(...v) - start;
  const falls = drop > threshold, rises = rise > threshold;
  const shape: TrajectoryShape = falls && rises ? 'falls then rises' : falls ? 'falls' : climb > threshold ? 'rises' : 'flat';
  const rel = (x: number) => (scale > 0 ? x / scale : 0);
  return {
    shape, present: shape === 'falls then rises', points: v.length, start, minStep: s[iMin]!, min: v[iMin]!, drop, rise, riseStep: s[iMax]!,
    relDrop: rel(drop), relRise: rel(rise), threshold,
  };
}

/** Per layer: the detector on alpha and on 1/std over the early part (steps <= upTo), and whether their minima coincide. */
export interface EarlyRow {
  layer: string;
  alpha: FallRise;
  invStd: FallRise;
  /** Both fall then rise and their minima are at most `near` steps apart. */
  together: boolean;
}

export function earlyTrajectory(series: readonly LayerSeries[], opts: FallRiseOptions & { near?: number } = {}): EarlyRow[] {
  return series.filter((t) => t.alpha.some(Number.isFinite)).map((t) => {
    const keep = t.alpha.map((a, i) => Number.isFinite(a) && Number.isFinite(t.invStd[i]!));
    const steps = t.step.filter((_, i) => keep[i]);
    const alpha = detectFallRise(steps, t.alpha.filter((_, i) => keep[i]), opts);
    const invStd = detectFallRise(steps, t.invStd.filter((_, i) => keep[i]), opts);
    const near = opts.near ?? (steps.length > 1 ? 2 * (steps[1]! - steps[0]!) : 0);
    return { layer: t.layer, alpha, invStd, together: alpha.present && invStd.present && Math.abs(alpha.minStep - invStd.minStep) <= near };
  });
}

/** Per layer across runs (seeds): in how many the shape is present, for alpha and for 1/std. */
export interface PresenceRow { layer: string; runs: number; alphaPresent: number; invStdPresent: number; together: number; alphaShapes: string; medianAlphaMinStep: number | null }

export function presenceByLayer(perRun: readonly EarlyRow[][]): PresenceRow[] {
  const layers = [...new Set(perRun.flatMap((rows) => rows.map((r) => r.layer)))];
  return layers.map((layer) => {
    const rs = perRun.flatMap((rows) => rows.filter((r) => r.layer === layer));
    const shapes = new Map<string, number>();
    for (const r of rs) shapes.set(r.alpha.shape, (shapes.get(r.alpha.shape) ?? 0) + 1);
    const mins = rs.filter((r) => r.alpha.present).map((r) => r.alpha.minStep);
    return {
      layer, runs: rs.length, alphaPresent: rs.filter((r) => r.alpha.present).length, invStdPresent: rs.filter((r) => r.invStd.present).length,
      together: rs.filter((r) => r.together).length, alphaShapes: [...shapes].map(([k, n]) => `${k} ${n}`).join(', '),
      medianAlphaMinStep: mins.length ? median(mins) : null,
    };
  });
}

export function median(xs: readonly number[]): number {
  if (!xs.length) throw new Error('median: no values');
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One layer's saturation over a run: at the first trace, its peak (and step), at the last trace. */
export interface SaturationRow { layer: string; start: number; peak: number; peakStep: number; end: number }

/** Per squash layer (layers whose saturation is NaN throughout are left out). */
export function saturationSummary(series: readonly LayerSeries[]): SaturationRow[] {
  const out: SaturationRow[] = [];
  for (const t of series) {
    const idx = t.saturation.map((v, i) => (Number.isFinite(v) ? i : -1)).filter((i) => i >= 0);
    if (!idx.length) continue;
    let peak = idx[0]!;
    for (const i of idx) if (t.saturation[i]! > t.saturation[peak]!) peak = i;
    out.push({ layer: t.layer, start: t.saturation[idx[0]!]!, peak: t.saturation[peak]!, peakStep: t.step[peak]!, end: t.saturation[idx[idx.length - 1]!]! });
  }
  return out;
}

/** A value over steps: the mean and the max over the layers (and runs) traced at each step. */
export interface StepCurve { step: number[]; mean: number[]; max: number[]; n: number[] }

/** Pools the finite values of `pick` by step over every series given (layers of one run, or of several seeds). */
export function curveByStep(series: readonly LayerSeries[], pick: (t: LayerSeries, i: number) => number): StepCurve {
  const by = new Map<number, number[]>();
  for (const t of series) {
    t.step.forEach((s, i) => {
      const v = pick(t, i);
      if (!Number.isFinite(v)) return;
      let list = by.get(s);
      if (!list) by.set(s, (list = []));
      list.push(v);
    });
  }
  const steps = [...by.keys()].sort((a, b) => a - b);
  return {
    step: steps, mean: steps.map((s) => by.get(s)!.reduce((a, b) => a + b, 0) / by.get(s)!.length),
    max: steps.map((s) => Math.max(...by.get(s)!)), n: steps.map((s) => by.get(s)!.length),
  };
}

/** Mean over runs (seeds) of one layer's series at the steps every run traced: for plotting. */
export function meanSeries(runs: readonly LayerSeries[]): LayerSeries {
  if (!runs.length) throw new Error('meanSeries: no series');
  const layer = runs[0]!.layer;
  if (runs.some((r) => r.layer !== layer)) throw new Error(`meanSeries: series of different layers (${[...new Set(runs.map((r) => r.layer))].join(', ')})`);
  const steps = runs[0]!.step.filter((s) => runs.every((r) => r.step.includes(s)));
  const avg = (f: (r: LayerSeries) => number[], s: number) => {
    const v = runs.map((r) => f(r)[r.step.indexOf(s)]!).filter(Number.isFinite);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
  };
  return { layer, step: steps, alpha: steps.map((s) => avg((r) => r.alpha, s)), invStd: steps.map((s) => avg((r) => r.invStd, s)), saturation: steps.map((s) => avg((r) => r.saturation, s)) };
}

/**
 * How far Adam can move one scalar in `steps` updates: its update is lr_t times
 * m / sqrt(v), about 1 in size for a scalar, so the travel is at most about the
 * sum of the schedule's learning rates over the steps (weight decay aside).
 */
export function adamTravel(s: ScheduleConfig, steps: number = s.steps): number {
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`adamTravel: steps = ${steps} is invalid: must be an integer >= 0`);
  let sum = 0;
  for (let t = 0; t < steps; t++) sum += lrAt(t, s);
  return sum;
}
