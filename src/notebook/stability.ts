// Stability over variant x learning rate, read from study rows: how runs ended
// per cell (ok, stalled, diverged: the last two both failures), per variant
// the largest lr below which every run was ok, and where each DyT layer's alpha
// ended at the chosen lr (from the store's traces or the study's traces.csv).
import type { RunStore } from '../experiments/store/index.js';
import type { StudyRow } from '../study/rows.js';
import type { LrChoice } from '../study/select.js';
import { hasStudyRuns, readStudyTraces, studyTracesPath, type StudyTrace } from '../study/table-io.js';
import { lineChart } from '../viz/line.js';
import { statusMap, type StatusCount } from '../viz/status-map.js';
import type { FigureSpec } from '../viz/common.js';
import { choiceStateText } from './verdicts.js';
import { shortNumber } from './trained.js';
import { unique } from './metrics.js';

export { statusMap, statusClass, statusCellText, STATUS_CLASSES } from '../viz/status-map.js';
export type { StatusCount, StatusMapOptions } from '../viz/status-map.js';

/** Counts per (variant, lr): rows are variants in the order the rows name them, columns the lrs ascending. */
export function statusGrid(rows: readonly StudyRow[]): { x: number[]; y: string[]; counts: (StatusCount | null)[][] } {
  const x = unique(rows.map((r) => r.lr)).sort((a, b) => a - b);
  const y = unique(rows.map((r) => r.variant));
  const counts = y.map((v) => x.map((lr) => {
    const at = rows.filter((r) => r.variant === v && r.lr === lr);
    if (!at.length) return null;
    return { ok: at.filter((r) => r.status === 'ok').length, stalled: at.filter((r) => r.status === 'stalled').length, diverged: at.filter((r) => r.status === 'diverged').length };
  }));
  return { x, y, counts };
}

/** The status heatmap of one model's rows. */
export function statusFigure(rows: readonly StudyRow[], title: string): FigureSpec {
  const g = statusGrid(rows);
  return statusMap({ x: g.x.map(shortNumber), y: g.y, counts: g.counts, title, xTitle: 'learning rate', yTitle: 'variant' });
}

export interface StabilityRow {
  variant: string;
  runs: number; ok: number; stalled: number; diverged: number;
  /** The largest lr at which, and at every smaller lr tried, every run ended ok (null: failures from the smallest on). */
  okUpTo: number | null;
  /** The smallest lr with a failed run (null: none failed). */
  firstFailure: number | null;
}

/** Per variant: counts over every lr, the edge of stability (largest all-ok lr from below) and the first failure. */
export function stabilityRows(rows: readonly StudyRow[]): StabilityRow[] {
  const g = statusGrid(rows);
  return g.y.map((v, i) => {
    const cells = g.counts[i]!;
    let okUpTo: number | null = null, firstFailure: number | null = null;
    for (let j = 0; j < g.x.length; j++) {
      const c = cells[j];
      if (!c) continue;
      if (c.stalled + c.diverged > 0) { firstFailure ??= g.x[j]!; continue; }
      if (firstFailure === null) okUpTo = g.x[j]!;
    }
    const at = rows.filter((r) => r.variant === v);
    const n = (s: StudyRow['status']) => at.filter((r) => r.status === s).length;
    return { variant: v, runs: at.length, ok: n('ok'), stalled: n('stalled'), diverged: n('diverged'), okUpTo, firstFailure };
  });
}

/** The stability table beside the chosen lr of each variant. */
export function stabilityTable(rows: readonly StudyRow[], choices: readonly LrChoice[]): Record<string, string | number | null>[] {
  return stabilityRows(rows).map((s) => {
    const c = choices.find((x) => x.variant === s.variant);
    return {
      variant: s.variant, runs: s.runs, ok: s.ok, stalled: s.stalled, diverged: s.diverged, 'failed (stalled + diverged)': s.stalled + s.diverged,
      'every run ok up to lr': s.okUpTo, 'first failure at lr': s.firstFailure, 'chosen lr': c?.bestLr ?? null, choice: c ? choiceStateText(c) : '',
    };
  });
}

/** Sentences: failures per variant, the edge of stability per variant, and alpha0's order (the paper: higher alpha0, less stable). */
export function stabilityText(rows: readonly StudyRow[]): string {
  const st = stabilityRows(rows);
  if (!st.length) return 'No runs.';
  const lrs = unique(rows.map((r) => r.lr)).sort((a, b) => a - b).map(shortNumber).join(', ');
  const fails = st.map((s) => `${s.variant} ${s.stalled + s.diverged} of ${s.runs} (${s.stalled} stalled, ${s.diverged} diverged)`).join('; ');
  const edge = st.map((s) => `${s.variant} ${s.okUpTo === null ? 'not even at the smallest' : `up to ${shortNumber(s.okUpTo)}`}` +
    `${s.firstFailure === null ? ' (no failure at any lr tried: a lower bound on its edge)' : `, first failure at ${shortNumber(s.firstFailure)}`}`).join('; ');
  const dyt = st.map((s) => ({ s, a0: rows.find((r) => r.variant === s.variant)?.alpha0 ?? null })).filter((x) => x.a0 !== null).sort((a, b) => a.a0! - b.a0!);
  let order = '';
  if (dyt.length > 1) {
    const lo = dyt[0]!, hi = dyt[dyt.length - 1]!;
    const key = (x: typeof lo) => x.s.okUpTo ?? 0;
    const upTo = (x: typeof lo) => (x.s.okUpTo === null ? 'at no lr tried' : `up to lr ${shortNumber(x.s.okUpTo)}`);
    order = hi.s.okUpTo === null && lo.s.okUpTo === null
      ? ` Neither the largest alpha0 (${hi.a0}) nor the smallest (${lo.a0}) had every run ok at any lr tried: the grid cannot order them.`
      : ` The largest alpha0 (${hi.a0}) was ok ${upTo(hi)}, the smallest (${lo.a0}) ${upTo(lo)}: ` +
        `${key(hi) < key(lo) ? 'less stable, as the paper reports' : key(hi) > key(lo) ? 'more stable, against the paper' : 'no difference at this grid\'s resolution'}` +
        ' (one grid step is the resolution; a learning rate with any failed run counts as failed).';
  }
  return `Learning rates ${lrs}. Failed runs (stalled + diverged, both failures) per variant: ${fails}. Every run ok, from the smallest lr: ${edge}.${order}`;
}

/** A trace of a run at its chosen lr, as the study's traces.csv holds it. */
export type AlphaTrace = Pick<StudyTrace, 'variant' | 'seed' | 'lr' | 'run_id' | 'step' | 'layer' | 'alpha'>;

/** The store's traces of the runs at each choice's lr, in traces.csv's shape (the study profile reads traces.csv instead). */
export function chosenTraces(store: RunStore, choices: readonly LrChoice[]): AlphaTrace[] {
  return choices.flatMap((c) => c.atBest.filter((r) => r.status === 'ok').flatMap((r) => store.traces(r.run_id).map((t) => ({
    variant: r.variant, seed: r.seed, lr: r.lr, run_id: r.run_id, step: t.step, layer: t.layer, alpha: t.alpha,
  }))));
}

export interface FinalAlphaRow { variant: string; alpha0: number; lr: number; 'layers x seeds': number; 'final alpha, mean': number; min: number; max: number; 'mean / alpha0': number }

/** Per DyT variant (alpha0 from its rows): each layer's alpha at its last trace, over layers and seeds, at the chosen lr. */
export function finalAlphaRows(traces: readonly AlphaTrace[], choices: readonly LrChoice[]): FinalAlphaRow[] {
  const out: FinalAlphaRow[] = [];
  for (const c of choices) {
    const a0 = c.atBest.find((r) => r.alpha0 !== null)?.alpha0;
    if (a0 === undefined || a0 === null || c.bestLr === null) continue;
    const ids = new Set(c.atBest.map((r) => r.run_id));
    const ts = traces.filter((t) => ids.has(t.run_id) && t.alpha !== null && Number.isFinite(t.alpha));
    const finals = unique(ts.map((t) => t.run_id)).flatMap((id) => {
      const mine = ts.filter((t) => t.run_id === id);
      const last = Math.max(...mine.map((t) => t.step));
      return mine.filter((t) => t.step === last).map((t) => t.alpha!);
    });
    if (!finals.length) continue;
    const mean = finals.reduce((s, v) => s + v, 0) / finals.length;
    const r3 = (v: number) => Number(v.toFixed(3));
    out.push({ variant: c.variant, alpha0: a0, lr: c.bestLr, 'layers x seeds': finals.length, 'final alpha, mean': r3(mean), min: r3(Math.min(...finals)),
      max: r3(Math.max(...finals)), 'mean / alpha0': Number((mean / a0).toFixed(2)) });
  }
  return out.sort((a, b) => a.alpha0 - b.alpha0);
}

/** Where alpha ended against where it started: did training pull different alpha0 together? */
export function finalAlphaText(fa: readonly FinalAlphaRow[]): string {
  if (!fa.length) return 'No DyT run at a chosen lr has alpha traces, so there is no final alpha to report.';
  const each = fa.map((f) => `alpha0 ${f.alpha0} -> ${f['final alpha, mean']} (${f.min} to ${f.max}, lr ${shortNumber(f.lr)})`).join('; ');
  if (fa.length < 2) return `Final alpha (mean over layers and seeds, range): ${each}.`;
  const spreadIn = fa[fa.length - 1]!.alpha0 / fa[0]!.alpha0;
  const ends = fa.map((f) => f['final alpha, mean']);
  const spreadOut = Math.min(...ends) > 0 ? Math.max(...ends) / Math.min(...ends) : NaN;
  return `Final alpha at each variant's chosen lr (mean over layers and seeds, range): ${each}. alpha0 spanned a factor ${spreadIn.toFixed(1)}, ` +
    (Number.isFinite(spreadOut) ? `the final alphas a factor ${spreadOut.toFixed(1)}: ${spreadOut < Math.sqrt(spreadIn) ? 'training pulled them most of the way together' : 'alpha stayed closer to where it started than to a common value'}.`
      : 'and some final alpha is at or below 0 (the squash flipped sign, which gamma can absorb).');
}

/**
 * The alpha traces of the chosen runs: from the store for runs trained now,
 * from the study's traces.csv (DYTLAB_STUDY_TRACES) for the study profile;
 * none when that file is missing (the verdict says so).
 */
export function chosenAlphaTraces(source: 'study' | 'sweeps', store: RunStore, choices: readonly LrChoice[], study?: string): AlphaTrace[] {
  if (source === 'sweeps') return chosenTraces(store, choices);
  const path = studyTracesPath();
  if (!hasStudyRuns(path)) return [];
  const ids = new Set(choices.flatMap((c) => c.atBest.map((r) => r.run_id)));
  return readStudyTraces(path).filter((t) => ids.has(t.run_id) && (study === undefined || t.study === study));
}

/** Final alpha (mean over layers and seeds, with its range as error bars) against alpha0; the dotted line is alpha = alpha0. */
export function finalAlphaChart(fa: readonly FinalAlphaRow[], title: string): FigureSpec {
  const x = fa.map((f) => f.alpha0);
  const logY = fa.every((f) => f.min > 0);
  const spec = lineChart({
    title, xTitle: 'alpha0 (log)', yTitle: logY ? 'final alpha (log)' : 'final alpha', logY,
    series: [{ name: 'final alpha, mean over layers and seeds', x, y: fa.map((f) => f['final alpha, mean']) }, { name: 'alpha = alpha0', x, y: x }],
  });
  spec.data[0]!.mode = 'lines+markers';
  spec.data[0]!.error_y = { type: 'data', symmetric: false, array: fa.map((f) => f.max - f['final alpha, mean']), arrayminus: fa.map((f) => f['final alpha, mean'] - f.min) };
  spec.data[0]!.text = fa.map((f) => `${f.variant}, lr ${shortNumber(f.lr)}`);
  spec.data[1]!.line = { dash: 'dot', color: 'gray' };
  spec.layout.xaxis = { ...(spec.layout.xaxis as object), type: 'log' };
  return spec;
}
