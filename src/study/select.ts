// The learning rate of each variant chosen on validation, and its numbers
// reported on test: the rule of the sweeps' bracket (sweep-bracket.ts), over
// study rows. Per (study, model, variant): a learning rate's score is the mean
// validation metric over its runs; one diverged or stalled run makes it count
// as worst; the best is enclosed when a worse (or failed) value was tried on
// both sides.
import { bracketStatus, type BracketRow } from '../experiments/sweep-bracket.js';
import { summarize } from '../experiments/stats.js';
import type { StudyModel } from './manifest.js';
import { higherIsBetter, type StudyMetric, type StudyRow } from './rows.js';

/** A 95% Student-t interval of a mean (null fields: too few values). */
export interface Interval { n: number; mean: number | null; ciLow: number | null; ciHigh: number | null; df: number | null }

export type ChoiceState = 'bracketed' | 'edge failed' | 'at edge' | 'all failed';

export interface LrChoice {
  study: string;
  model: StudyModel;
  variant: string;
  metric: StudyMetric;
  higherIsBetter: boolean;
  /** Per learning rate tried (ascending): runs with a result, failures, mean validation metric (null: a run failed). */
  tried: { lr: number; n: number; failed: number; mean: number | null }[];
  bestLr: number | null;
  state: ChoiceState;
  /** The rule's reading, in words. */
  why: string;
  /** The runs at the chosen learning rate. */
  atBest: StudyRow[];
  /** Validation and test metric at the chosen learning rate, over its seeds. */
  val: Interval;
  test: Interval;
  /** Status counts over every run of the variant. */
  statuses: Record<'ok' | 'diverged' | 'stalled', number>;
}

export function interval(values: readonly (number | null)[]): Interval {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (!xs.length) return { n: 0, mean: null, ciLow: null, ciHigh: null, df: null };
  const s = summarize(xs);
  return { n: xs.length, mean: s.mean, ciLow: s.ciLow, ciHigh: s.ciHigh, df: xs.length > 1 ? xs.length - 1 : null };
}

const keyOf = (r: Pick<StudyRow, 'study' | 'model' | 'variant'>) => `${r.study}\u0000${r.model}\u0000${r.variant}`;

/** One choice per (study, model, variant), in the order the rows first name them. */
export function chooseLearningRates(rows: readonly StudyRow[]): LrChoice[] {
  const groups = new Map<string, StudyRow[]>();
  for (const r of rows) groups.set(keyOf(r), [...(groups.get(keyOf(r)) ?? []), r]);
  return [...groups.values()].map((rs) => {
    const first = rs[0]!;
    const metrics = new Set(rs.map((r) => r.metric));
    if (metrics.size > 1) throw new RangeError(`chooseLearningRates: ${first.study}/${first.model}/${first.variant} mixes metrics ${[...metrics].join(', ')}`);
    const hib = higherIsBetter(first.metric);
    const brows: BracketRow[] = rs.map((r) => ({
      axes: { lr: r.lr }, seed: r.seed, state: r.status === 'ok' ? 'finished' : r.status, value: r.val_metric,
    }));
    const [s] = bracketStatus(brows, { axis: 'lr', mode: hib ? 'max' : 'min', metric: first.metric });
    const st = s!;
    // The sweep's states when its bracket would still step ('extend'): enclosed by a partial failure, nothing worked, or at an edge.
    const state: ChoiceState = st.state === 'bracketed' || st.state === 'edge failed' || st.state === 'all failed' ? st.state
      : st.best === null ? 'all failed' : st.bracketed ? 'edge failed' : 'at edge';
    const atBest = st.best === null ? [] : rs.filter((r) => r.lr === st.best).sort((a, b) => a.seed - b.seed);
    const count = (x: StudyRow['status']) => rs.filter((r) => r.status === x).length;
    return {
      study: first.study, model: first.model, variant: first.variant, metric: first.metric, higherIsBetter: hib,
      tried: st.values.map((v) => ({ lr: v.value, n: v.n, failed: v.failed, mean: v.mean })),
      bestLr: st.best, state, why: st.why.replace(/^best lr/, 'best lr'), atBest,
      val: interval(atBest.map((r) => r.val_metric)), test: interval(atBest.map((r) => r.test_metric)),
      statuses: { ok: count('ok'), diverged: count('diverged'), stalled: count('stalled') },
    };
  });
}

/** The choice of one variant (an error naming the known variants when it is absent). */
export function choiceOf(choices: readonly LrChoice[], model: StudyModel, variant: string, study?: string): LrChoice {
  const c = choices.find((x) => x.model === model && x.variant === variant && (study === undefined || x.study === study));
  if (!c) {
    const known = choices.filter((x) => x.model === model && (study === undefined || x.study === study)).map((x) => `"${x.variant}"`);
    throw new RangeError(`no runs of variant "${variant}" for the ${model}${study ? ` in study "${study}"` : ''} (variants: ${known.join(', ') || 'none'})`);
  }
  return c;
}
