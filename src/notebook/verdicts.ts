// The pieces the experiment notebooks build their tables, figures and verdicts
// from, over the study's choices (chooseLearningRates: each variant's learning
// rate chosen on validation, its numbers on test) and comparisons
// (compareChoices: paired by seed, t intervals with their degrees of freedom).
// The same for rows trained now (quick) and rows read from runs.csv (study).
import type { StudyComparison } from '../study/compare.js';
import { compareChoices, describeComparison, formatInterval } from '../study/compare.js';
import type { StudyRow } from '../study/rows.js';
import type { LrChoice } from '../study/select.js';
import { errorBars } from '../viz/bars.js';
import type { FigureSpec } from '../viz/common.js';
import { lineChart } from '../viz/line.js';
import { better, cell, diffUnitOf, learnedLittle, littleTextFor, show, showMeanCI, unique, type Metric } from './metrics.js';
import { shortNumber } from './trained.js';

const lrText = (lr: number | null) => (lr === null ? 'none' : shortNumber(lr));

/**
 * How a choice reads: 'bracketed' (a worse value on both sides), 'bracketed
 * (the next lr failed)', 'at the upper edge: a lower bound' (the optimum may
 * lie beyond what was tried, so the variant's number only bounds what it can
 * do), 'one lr: not searched', 'every lr failed'.
 */
export function choiceStateText(c: LrChoice): string {
  if (c.state === 'all failed') return 'every lr failed';
  if (c.tried.length === 1) return 'one lr: not searched';
  if (c.state === 'bracketed') return 'bracketed';
  if (c.state === 'edge failed') return 'bracketed (a neighbour failed)';
  const lrs = c.tried.map((t) => t.lr);
  const side = c.bestLr === Math.max(...lrs) ? 'upper' : 'lower';
  return `at the ${side} edge: a lower bound`;
}

/** "0.001, 0.003 (1 failed), 0.009 (3 failed)": every lr tried (the grid and its bracket extensions) with its failures. */
export function triedText(c: LrChoice): string {
  return c.tried.map((t) => `${shortNumber(t.lr)}${t.failed ? ` (${t.failed} failed)` : ''}`).join(', ');
}

/** One row per variant: the lr chosen, from which values, how the choice reads, validation and test at that lr, statuses. */
export function choiceTable(choices: readonly LrChoice[], m: Metric): Record<string, string | number | null>[] {
  return choices.map((c) => ({
    variant: c.variant, 'chosen lr': c.bestLr, 'lrs tried': triedText(c), choice: choiceStateText(c), seeds: c.atBest.length,
    [`val ${m.label}`]: cell(c.val.mean, m), [`test ${m.label}`]: cell(c.test.mean, m), 'test ci low': cell(c.test.ciLow, m),
    'test ci high': cell(c.test.ciHigh, m), df: c.test.df, 'runs (every lr)': `${c.statuses.ok} ok, ${c.statuses.diverged} diverged, ${c.statuses.stalled} stalled`,
  }));
}

/** Every variant but `baseline` against it (variant minus baseline), each at its own chosen lr, paired by seed. */
export function compareTo(choices: readonly LrChoice[], baseline: string, split: 'val' | 'test' = 'test'): StudyComparison[] {
  const b = choices.find((c) => c.variant === baseline);
  if (!b) return [];
  return choices.filter((c) => c !== b && c.bestLr !== null && b.bestLr !== null).map((c) => compareChoices(c, b, split));
}

/** Comparisons as a table in the metric's unit. */
export function comparisonTable(cs: readonly StudyComparison[], m: Metric): Record<string, string | number | null>[] {
  return cs.map((c) => ({
    a: c.a, b: c.b, split: c.split, pairs: c.n, [`a minus b (${m.diffUnit})`]: cell(c.meanDiff, m), 'ci low': cell(c.ciLow, m),
    'ci high': cell(c.ciHigh, m), df: c.df, p: c.p === null ? null : Number(c.p.toFixed(4)), reading: c.reading === 'a better' ? `${c.a} better`
      : c.reading === 'b better' ? `${c.b} better` : c.reading,
  }));
}

/** "dyt-tanh minus layernorm (test): -0.021 nats (95% t CI [-0.050, +0.010], df 2), 3 pairs: unresolved". */
export function comparisonText(c: StudyComparison, m: Metric): string {
  return describeComparison(c, diffUnitOf(m));
}

/** The sentence a verdict starts with: runs and how they ended, budget, seeds, how numbers were chosen and reported. */
export function rowsHeader(title: string, rows: readonly StudyRow[], m: Metric): string {
  if (!rows.length) return `**${title}.** No runs to report.`;
  const n = (s: StudyRow['status']) => rows.filter((r) => r.status === s).length;
  const steps = unique(rows.map((r) => r.steps)).sort((a, b) => a - b).join('/');
  const seeds = unique(rows.map((r) => r.seed)).sort((a, b) => a - b);
  const noTest = rows.filter((r) => r.status === 'ok' && r.test_metric === null).length;
  return `**${title}.** ${rows.length} runs (${steps} steps, seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')}): ${n('ok')} ok, ` +
    `${n('diverged')} diverged, ${n('stalled')} stalled. Each variant's learning rate is chosen on validation ${m.label.replace(/ \(.*\)$/, '')}; ` +
    `the numbers are on the test split${noTest ? ` (${noTest} ok runs have no test number)` : ''}, mean over seeds with 95% t intervals.`;
}

/** Variants ranked by test mean at their chosen lr, each with its lr and how the choice reads. */
export function rankingText(choices: readonly LrChoice[], m: Metric): string {
  const ranked = choices.filter((c) => c.test.mean !== null).sort((a, b) => (better(a.test.mean!, b.test.mean!, m) ? -1 : 1));
  if (!ranked.length) return 'No variant has a test number.';
  // The state of each choice, unless no variant's lr was searched (then edgeText says so once).
  const states = ranked.some((c) => c.tried.length > 1);
  return `By test mean at its chosen lr: ${ranked.map((c) => `${c.variant} ${showMeanCI(c.test, m)} at lr ${lrText(c.bestLr)}${states ? ` (${choiceStateText(c)})` : ''}`).join('; ')}.`;
}

/** Which choices are lower bounds (best at the edge of what was tried), which failed everywhere. */
export function edgeText(choices: readonly LrChoice[]): string {
  const edge = choices.filter((c) => c.state === 'at edge' && c.tried.length > 1);
  const all = choices.filter((c) => c.state === 'all failed');
  const one = choices.filter((c) => c.tried.length === 1 && c.state !== 'all failed');
  return [
    edge.length ? `Best at the edge of the lrs tried, so a lower bound on what the variant can do: ${edge.map((c) => `${c.variant} (lr ${lrText(c.bestLr)} of ${triedText(c)})`).join(', ')}.`
      : choices.some((c) => c.tried.length > 1) ? 'Every searched choice is bracketed (or next to a failed lr).' : '',
    one.length ? `One lr only, not searched: ${one.map((c) => c.variant).join(', ')}.` : '',
    all.length ? `Every lr failed (diverged or stalled): ${all.map((c) => c.variant).join(', ')}.` : '',
  ].filter((s) => s !== '').join(' ');
}

/** Variants whose chosen runs learned little (within the margin of chance or the unigram model on test). */
export function littleText(choices: readonly LrChoice[], m: Metric): string {
  const little = choices.filter((c) => learnedLittle(c.test.mean, m, 'test')).map((c) => c.variant);
  return `Learned little at its chosen lr (${littleTextFor(m, 'test')}${m.higher ? ' on test' : ''}): ${little.join(', ') || 'none'}.`;
}

/** Variants with diverged or stalled runs, over every lr they tried. */
export function failuresText(choices: readonly LrChoice[]): string {
  const f = choices.filter((c) => c.statuses.diverged + c.statuses.stalled > 0);
  if (!f.length) return 'No run diverged or stalled.';
  const runs = (c: LrChoice) => c.statuses.ok + c.statuses.diverged + c.statuses.stalled;
  return `Failed runs (diverged or stalled, over every lr tried): ${f.map((c) => `${c.variant} ${c.statuses.diverged} diverged, ${c.statuses.stalled} stalled of ${runs(c)}`).join('; ')}.`;
}

/** "a minus b (test): ...: unresolved" for each comparison, joined; the count of resolved ones first. */
export function comparisonsText(lead: string, cs: readonly StudyComparison[], m: Metric): string {
  if (!cs.length) return `${lead}: nothing to compare.`;
  const resolved = cs.filter((c) => c.reading === 'a better' || c.reading === 'b better').length;
  return `${lead} (${resolved} of ${cs.length} resolved; unresolved: no interval, or one that contains 0): ${cs.map((c) => comparisonText(c, m)).join('; ')}.`;
}

/** Test mean and 95% t interval of each variant at its chosen lr; the value axis zoomed to the data. */
export function choiceChart(choices: readonly LrChoice[], m: Metric, title: string): FigureSpec {
  const cs = choices.filter((c) => c.bestLr !== null);
  const spec = errorBars({
    title, xTitle: 'variant (at its chosen lr)', yTitle: `test ${m.label}`,
    series: [{
      name: `test ${m.label}`, x: cs.map((c) => c.variant), mean: cs.map((c) => cell(c.test.mean, m)),
      low: cs.map((c) => cell(c.test.ciLow, m)), high: cs.map((c) => cell(c.test.ciHigh, m)),
      text: cs.map((c) => `lr ${lrText(c.bestLr)}, n=${c.test.n}`),
    }],
  });
  const ends = cs.flatMap((c) => [c.test.mean, c.test.ciLow, c.test.ciHigh]).filter((v): v is number => v !== null).map((v) => v * m.scale);
  if (ends.length) {
    const lo = Math.min(...ends), hi = Math.max(...ends), pad = Math.max((hi - lo) * 0.15, Math.abs(hi) * 0.002, 1e-6);
    // An accuracy stays within [0, 100] even where an interval of few seeds does not.
    spec.layout.yaxis = { ...(spec.layout.yaxis as object), range: m.unit === '%' ? [Math.max(0, lo - pad), Math.min(100, hi + pad)] : [lo - pad, hi + pad] };
  }
  return spec;
}

/** The mean validation metric against the lr, one line per variant (a gap where a run failed), failed lrs as crosses. */
export function lrChart(choices: readonly LrChoice[], m: Metric, title: string): FigureSpec {
  const spec = lineChart({
    title, xTitle: 'learning rate (log)', yTitle: `val ${m.label}`,
    series: choices.map((c) => ({ name: c.variant, x: c.tried.map((t) => t.lr), y: c.tried.map((t) => cell(t.mean, m) ?? NaN) })),
  });
  spec.data.forEach((d) => { d.mode = 'lines+markers'; });
  const failed = choices.flatMap((c) => c.tried.filter((t) => t.failed > 0).map((t) => ({ c, t })));
  if (failed.length) {
    // A failed lr has no mean: its cross sits on the variant's worst finished value, so it stays on the chart's scale.
    const worst = (c: LrChoice) => {
      const v = c.tried.map((t) => t.mean).filter((x): x is number => x !== null);
      return v.length ? cell(m.higher ? Math.min(...v) : Math.max(...v), m) : null;
    };
    spec.data.push({
      type: 'scatter', mode: 'markers', name: 'a run failed (diverged or stalled)', x: failed.map((f) => f.t.lr), y: failed.map((f) => worst(f.c)),
      text: failed.map((f) => `${f.c.variant}: ${f.t.failed} of ${f.t.failed + f.t.n} failed`), marker: { symbol: 'x', size: 12, color: '#c0392b' },
    });
  }
  spec.layout.xaxis = { ...(spec.layout.xaxis as object), type: 'log' };
  spec.layout.showlegend = true;
  return spec;
}

/** One line per comparison for a verdict: a minus b with its interval, or why there is none. */
export function pairText(a: LrChoice | undefined, b: LrChoice | undefined, m: Metric, name: string): string {
  if (!a || !b) return `${name}: a variant is missing`;
  if (a.bestLr === null || b.bestLr === null) return `${name}: ${a.bestLr === null ? a.variant : b.variant} failed at every lr`;
  const c = compareChoices(a, b);
  return `${name}: ${show(a.test.mean, m)} vs ${show(b.test.mean, m)}, difference ${comparisonText(c, m).replace(/^.*?\(test\): /, '')}`;
}

/**
 * A claimed order "a >= b >= c ..." (each variant at its chosen lr) against the
 * data, step by step: holds or is reversed by mean, resolved or not by the
 * paired interval; a variant that failed at every lr ranks below any that did not.
 */
export function orderingText(chain: readonly (LrChoice | undefined)[], m: Metric): string {
  const present = chain.filter((c): c is LrChoice => c !== undefined);
  if (present.length < 2) return 'fewer than two of its variants were run';
  return present.slice(1).map((b, i) => {
    const a = present[i]!;
    const name = `${a.variant} >= ${b.variant}`;
    if (a.bestLr === null && b.bestLr === null) return `${name}: both failed at every lr`;
    if (b.bestLr === null) return `${name} holds (${b.variant} failed at every lr)`;
    if (a.bestLr === null) return `${name} is reversed (${a.variant} failed at every lr)`;
    const c = compareChoices(a, b);
    if (c.meanDiff === null) return `${name}: no seeds in common with a test number`;
    const holds = c.meanDiff === 0 || better(c.meanDiff, 0, m);
    const res = c.reading === 'unresolved' || c.reading === 'no pairs' ? 'unresolved' : 'resolved';
    return `${name} ${holds ? 'holds' : 'is reversed'} by mean, ${res}: ${formatInterval(c, diffUnitOf(m))}, ${c.n} pair${c.n === 1 ? '' : 's'}`;
  }).join('; ');
}
