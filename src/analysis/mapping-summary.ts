// One row per norm layer for the "does LayerNorm act like tanh" tables: the best
// squash shape and its R^2, how S-shaped the mapping is, how straight each
// token's line is, which channels hold the extremes and how much of the S-shape
// they carry. Built from a layer mapping with its full data (keepFull).
import type { CurveParams, CurveShape } from './curvefit.js';
import { fitShapes } from './fit-shapes.js';
import type { LayerMapping } from './mapping.js';
import { channelExtremes, extremeChannelEffect, tokenLines } from './token-channel.js';

export interface MappingSummary {
  layer: string;
  depth: number;
  label: string;
  points: number;
  /** Max |x| of the layer input. */
  maxAbsX: number;
  bestShape: string;
  r2: Partial<Record<CurveShape, number>>;
  tanh: CurveParams | null;
  /** 1 - (rmse_tanh / rmse_linear)^2: 0 = straight line, toward 1 = S-shaped. */
  sShape: number;
  /** Median over tokens of R^2 of the per-token line. */
  tokenLineR2: number;
  /** Median over tokens of slope x std (1 for LayerNorm). */
  slopeTimesStd: number;
  /** Pearson r across tokens of slope with 1/std. */
  slopeVsInvStd: number;
  /** Largest over smallest per-token slope: how different the tokens' lines are. */
  slopeRange: number;
  topChannels: number[];
  /** Share of the S-shape that goes away without the top channels. */
  sShapeFromTopChannels: number;
  sShapeWithoutTop: number;
}

/** Summarize one layer mapping (needs `full`: run normMappings with keepFull). */
export function summarizeMapping(m: LayerMapping, opts: { topChannels?: number; shapes?: CurveShape[]; maxFitPoints?: number } = {}): MappingSummary {
  if (!m.full) throw new Error(`summarizeMapping(${m.layer}): the mapping has no full data; call normMappings with { keepFull: true }`);
  const { x, y } = m.full;
  const maxPoints = opts.maxFitPoints ?? 200_000;
  const fits = fitShapes(x, y, { ...(opts.shapes ? { shapes: opts.shapes } : {}), maxPoints });
  const r2: Partial<Record<CurveShape, number>> = {};
  for (const f of fits) r2[f.shape] = f.r2;
  const tanh = fits.find((f) => f.shape === 'tanh');
  const lines = tokenLines(x, y, m.tokens, m.channels);
  const top = channelExtremes(x, m.tokens, m.channels, opts.topChannels ?? 3).map((c) => c.channel);
  const eff = extremeChannelEffect(x, y, m.tokens, m.channels, top, { maxPoints });
  let maxAbsX = 0;
  for (let i = 0; i < x.length; i++) maxAbsX = Math.max(maxAbsX, Math.abs(x[i]!));
  return {
    layer: m.layer, depth: m.depth, label: m.label, points: x.length, maxAbsX,
    bestShape: fits[0]!.shape, r2, tanh: tanh && 'params' in tanh ? tanh.params : null,
    sShape: eff.all.sShape, tokenLineR2: lines.summary.medianR2, slopeTimesStd: lines.summary.medianSlopeTimesStd,
    slopeVsInvStd: lines.summary.pearson, slopeRange: lines.summary.slopeRange, topChannels: top, sShapeFromTopChannels: eff.explained, sShapeWithoutTop: eff.without.sShape,
  };
}
