// The "what was trained" table every experiment notebook opens with: one row
// per configuration (a sweep cell or a study variant) with the recipe a reader
// needs to judge the comparison (model, norm, steps, batch, lr, MLP, alpha0,
// clipping), the seeds and how the runs ended.
import type { RunConfig } from '../experiments/run-config.js';
import { resolveNormSpec, type ResolvedNormSpec } from '../nn/norm-spec.js';
import type { StudyRow } from '../study/rows.js';

export const TRAINED_STATUSES = ['ok', 'diverged', 'stalled', 'failed', 'missing'] as const;
export type TrainedStatus = (typeof TRAINED_STATUSES)[number];

export interface TrainedEntry {
  /** What the notebook calls this configuration (a sweep group or a study variant). */
  label: string;
  config: RunConfig;
  seeds: number[];
  /** Runs per end state; states left out count 0. */
  statuses: Partial<Record<TrainedStatus, number>>;
  /** The learning rates tried for this entry, when it stands for several (a learning-rate search). */
  lrs?: number[];
}

/** Numbers as a reader writes them: 0.001, 3, 2.67 (no float noise such as 0.30000000000000004). */
export function shortNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(3)));
}

/** "LM d64 x2, GELU" or "ViT d64 x4": family, width, depth (and the LM's MLP, which decides DyT's collapse). */
export function modelLabel(config: RunConfig): string {
  const m = config.model;
  if (m.kind === 'lm') return `LM d${m.dModel} x${m.nLayers}, ${m.mlp === 'swiglu' ? 'SwiGLU' : 'GELU'}`;
  return `ViT d${m.dModel} x${m.nLayers}`;
}

/** "GELU 4x" / "SwiGLU 2.67x": activation and hidden width as a multiple of d_model (the ViT's MLP is GELU). */
export function mlpLabel(config: RunConfig): string {
  const m = config.model;
  const act = m.kind === 'lm' && m.mlp === 'swiglu' ? 'SwiGLU' : 'GELU';
  return `${act} ${shortNumber(m.mlpRatio)}x`;
}

/** A norm spec in a few characters: "layernorm", "dyt-tanh", "dyt-sigmoid (fixed alpha)", "dyisru". */
export function normShortLabel(spec: ResolvedNormSpec): string {
  switch (spec.kind) {
    case 'dyt': {
      const flags = [
        spec.alpha === 'fixed' ? 'fixed alpha' : spec.alpha === 'none' ? 'no alpha' : '',
        spec.perChannelAlpha ? 'per-channel alpha' : '',
        spec.shift && spec.squash !== 'erf' ? 'shift' : '',
        spec.affine ? '' : 'no affine',
      ].filter((f) => f !== '');
      return `dyt-${spec.squash}${flags.length ? ` (${flags.join(', ')})` : ''}`;
    }
    case 'dyisru': return `dyisru${spec.beta0 === 'dim' ? '' : ` (beta0 ${shortNumber(spec.beta0)})`}${spec.affine ? '' : ' (no affine)'}`;
    case 'identity': return 'none';
    default: return `${spec.kind}${spec.affine ? '' : ' (no affine)'}`;
  }
}

type ModelConfig = RunConfig['model'];
const slots = (m: ModelConfig) => ({
  attn: resolveNormSpec(m.attnNorm, 'model.attnNorm'), mlp: resolveNormSpec(m.mlpNorm, 'model.mlpNorm'),
  final: resolveNormSpec(m.finalNorm, 'model.finalNorm'),
});

/**
 * The model's normalization in one short label: the norm of its slots (each
 * slot named when they differ), then what else stands in for a norm: residual
 * gates, Fixup, σReparam, a placement other than pre-norm.
 */
export function normSummary(config: RunConfig): string {
  const m = config.model;
  const s = slots(m);
  const names = { attn: normShortLabel(s.attn), mlp: normShortLabel(s.mlp), final: normShortLabel(s.final) };
  const same = names.attn === names.mlp && names.mlp === names.final;
  const parts = [same ? names.attn : `attn ${names.attn} / mlp ${names.mlp} / final ${names.final}`];
  if (m.residual.kind === 'rezero') parts.push('ReZero');
  if (m.residual.kind === 'skipinit') parts.push(`SkipInit ${shortNumber(m.residual.init)}`);
  if (m.fixup) parts.push('Fixup');
  if (m.linearReparam === 'sigma') parts.push('σReparam');
  if (m.normPlacement === 'post') parts.push('post-norm');
  if (m.normPlacement === 'res-post') parts.push('res-post-norm');
  return parts.join(' + ');
}

/** DyT's alpha0 ("1", "0.5 (fixed)", "attn 1 / mlp 0.2 / final 0.2" when slots differ); '-' without DyT. */
export function alpha0Label(config: RunConfig): string {
  const s = slots(config.model);
  const one = (spec: ResolvedNormSpec): string | null => {
    if (spec.kind !== 'dyt') return null;
    if (spec.alpha === 'none') return 'no alpha';
    return `${shortNumber(spec.alpha0)}${spec.alpha === 'fixed' ? ' (fixed)' : ''}`;
  };
  const v = { attn: one(s.attn), mlp: one(s.mlp), final: one(s.final) };
  if (v.attn === null && v.mlp === null && v.final === null) return '-';
  if (v.attn === v.mlp && v.mlp === v.final) return v.attn!;
  return `attn ${v.attn ?? '-'} / mlp ${v.mlp ?? '-'} / final ${v.final ?? '-'}`;
}

/** "3 ok, 1 diverged" in the order ok, diverged, stalled, failed, missing; "no runs" when every count is 0. */
export function statusText(statuses: Partial<Record<TrainedStatus, number>>): string {
  for (const [k, n] of Object.entries(statuses)) {
    if (!(TRAINED_STATUSES as readonly string[]).includes(k)) throw new Error(`trainedTable: unknown status "${k}" (expected ${TRAINED_STATUSES.join(', ')})`);
    if (!Number.isInteger(n) || (n as number) < 0) throw new Error(`trainedTable: status count ${k} = ${String(n)} is not a whole number >= 0`);
  }
  const parts = TRAINED_STATUSES.filter((k) => (statuses[k] ?? 0) > 0).map((k) => `${statuses[k]} ${k}`);
  return parts.length ? parts.join(', ') : 'no runs';
}

/** One row per entry: config, model, norm, steps, batch, lr, MLP, alpha0, clip, seeds, status. */
export function trainedTable(entries: TrainedEntry[]): Record<string, string | number>[] {
  return entries.map((e, i) => {
    if (!e || typeof e.label !== 'string' || !e.config?.model || !e.config.train) {
      throw new Error(`trainedTable: entry ${i} needs a label and a resolved run config (model, train)`);
    }
    const t = e.config.train;
    const lrs = e.lrs ? [...new Set(e.lrs)].sort((a, b) => a - b) : undefined;
    if (lrs && (!lrs.length || lrs.some((x) => !Number.isFinite(x) || x <= 0))) {
      throw new Error(`trainedTable: entry "${e.label}": lrs must be finite numbers > 0, got [${e.lrs!.join(', ')}]`);
    }
    return {
      config: e.label,
      model: modelLabel(e.config),
      norm: normSummary(e.config),
      steps: t.steps,
      batch: t.batchSize,
      lr: lrs ? lrs.map(shortNumber).join(', ') : t.lr,
      MLP: mlpLabel(e.config),
      alpha0: alpha0Label(e.config),
      clip: t.clipNorm === 0 ? 'off' : t.clipNorm,
      seeds: [...e.seeds].sort((a, b) => a - b).join(', '),
      status: statusText(e.statuses),
    };
  });
}

/**
 * The table from study rows (runs.csv has no configs): one row per (study,
 * model, variant) with its lrs, seeds and statuses. `configOf` gives the run
 * config of a variant (e.g. from its study sweep) for the columns a row does not
 * hold (width, depth, norm, batch, MLP ratio); without it those come from the
 * row where it has them, '-' otherwise.
 */
export function trainedTableFromRows(rows: readonly StudyRow[], opts: { configOf?: (row: StudyRow) => RunConfig | undefined } = {}): Record<string, string | number>[] {
  const groups = new Map<string, StudyRow[]>();
  for (const r of rows) {
    const key = `${r.study}\u0000${r.model}\u0000${r.variant}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs): Record<string, string | number> => {
    const first = rs[0]!;
    const statuses: Partial<Record<TrainedStatus, number>> = {};
    for (const r of rs) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    const seeds = [...new Set(rs.map((r) => r.seed))];
    const lrs = [...new Set(rs.map((r) => r.lr))];
    const config = opts.configOf?.(first);
    if (config) {
      const row = trainedTable([{ label: first.variant, config, seeds, statuses, lrs }])[0]!;
      return { ...row, steps: first.steps, clip: first.clip_norm === 0 ? 'off' : first.clip_norm };
    }
    const mlp = first.mlp === 'swiglu' ? 'SwiGLU' : first.mlp === 'gelu' || first.model === 'vit' ? 'GELU' : '-';
    return {
      config: first.variant, model: first.model === 'lm' ? `LM, ${mlp}` : 'ViT', norm: first.variant, steps: first.steps, batch: '-',
      lr: [...lrs].sort((a, b) => a - b).map(shortNumber).join(', '), MLP: mlp,
      alpha0: first.alpha0 === null ? '-' : shortNumber(first.alpha0), clip: first.clip_norm === 0 ? 'off' : first.clip_norm,
      seeds: [...seeds].sort((a, b) => a - b).join(', '), status: statusText(statuses),
    };
  });
}
