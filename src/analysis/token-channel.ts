// Two ways of looking at one norm layer's mapping (x, y) over a [tokens, channels]
// input, after the paper's Figure 4:
//   - per token: a least-squares line y = slope * x + intercept through that
//     token's channels. For LayerNorm the line is exact with slope 1/sqrt(var+eps);
//     the global S-shape comes from tokens with different slopes.
//   - per channel: which channels hold the largest |x| (the points that get
//     squashed), and how much of the S-shape is left when they are removed.
// Pure functions over Float32Arrays in row-major [tokens, channels] order.
import { fitCurve, type CurveShape, type FitResult } from './curvefit.js';
import { pearson, spearman } from './alpha.js';

function checkMatrix(x: Float32Array, y: Float32Array | undefined, rows: number, cols: number, what: string): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new RangeError(`${what}: rows and cols must be positive integers, got ${rows} x ${cols}`);
  }
  if (x.length !== rows * cols) throw new RangeError(`${what}: x has ${x.length} values, expected ${rows} x ${cols} = ${rows * cols}`);
  if (y && y.length !== x.length) throw new RangeError(`${what}: y has ${y.length} values but x has ${x.length}`);
}

export interface TokenLines {
  slope: Float64Array;
  intercept: Float64Array;
  /** R^2 of each token's line (NaN when the token's x is constant). */
  r2: Float64Array;
  /** 1 / std of each token's input over its channels (population std). */
  invStd: Float64Array;
  summary: {
    tokens: number;
    /** Correlation across tokens of the fitted slope with 1/std. */
    pearson: number;
    spearman: number;
    /** Median of slope / (1/std) = slope * std: 1 for LayerNorm (up to eps). */
    medianSlopeTimesStd: number;
    medianR2: number;
    /** Spread of the slopes: max / min over tokens (how different the tokens' lines are). */
    slopeRange: number;
  };
}

function median(a: ArrayLike<number>): number {
  const s = Array.from(a).filter(Number.isFinite).sort((p, q) => p - q);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A least-squares line per token (row) through its (x, y) points. */
export function tokenLines(x: Float32Array, y: Float32Array, rows: number, cols: number): TokenLines {
  checkMatrix(x, y, rows, cols, 'tokenLines');
  const slope = new Float64Array(rows), intercept = new Float64Array(rows), r2 = new Float64Array(rows), invStd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let mx = 0, my = 0;
    for (let c = 0; c < cols; c++) { mx += x[r * cols + c]!; my += y[r * cols + c]!; }
    mx /= cols; my /= cols;
    let sxx = 0, sxy = 0, syy = 0;
    for (let c = 0; c < cols; c++) {
      const dx = x[r * cols + c]! - mx, dy = y[r * cols + c]! - my;
      sxx += dx * dx; sxy += dx * dy; syy += dy * dy;
    }
    slope[r] = sxx > 0 ? sxy / sxx : NaN;
    intercept[r] = my - slope[r]! * mx;
    r2[r] = sxx > 0 && syy > 0 ? (sxy * sxy) / (sxx * syy) : NaN;
    invStd[r] = sxx > 0 ? 1 / Math.sqrt(sxx / cols) : NaN;
  }
  const ok = Array.from({ length: rows }, (_, i) => i).filter((i) => Number.isFinite(slope[i]!) && Number.isFinite(invStd[i]!));
  const s = ok.map((i) => slope[i]!), v = ok.map((i) => invStd[i]!);
  const finiteSlopes = s.filter((q) => q > 0);
  return {
    slope, intercept, r2, invStd,
    summary: {
      tokens: rows,
      pearson: pearson(s, v),
      spearman: spearman(s, v),
      medianSlopeTimesStd: median(ok.map((i) => slope[i]! / invStd[i]!)),
      medianR2: median(r2),
      slopeRange: finiteSlopes.length ? Math.max(...finiteSlopes) / Math.min(...finiteSlopes) : NaN,
    },
  };
}

export interface ChannelExtreme {
  channel: number;
  maxAbs: number;
  meanAbs: number;
  /** Fraction of the layer's tail points (top `tailFraction` of |x|) that lie in this channel. */
  tailShare: number;
}

/** The `k` channels with the largest max |x|, with how much of the |x| tail each holds. */
export function channelExtremes(x: Float32Array, rows: number, cols: number, k = 5, tailFraction = 0.01): ChannelExtreme[] {
  checkMatrix(x, undefined, rows, cols, 'channelExtremes');
  const maxAbs = new Float64Array(cols), sumAbs = new Float64Array(cols);
  for (let i = 0; i < x.length; i++) {
    const c = i % cols, m = Math.abs(x[i]!);
    if (m > maxAbs[c]!) maxAbs[c] = m;
    sumAbs[c]! += m;
  }
  const tailN = Math.max(1, Math.round(x.length * tailFraction));
  const sorted = Float32Array.from(x, Math.abs).sort();
  const cut = sorted[x.length - tailN]!;
  const tail = new Float64Array(cols);
  let tailTotal = 0;
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]!) >= cut) { tail[i % cols]! += 1; tailTotal++; }
  return Array.from({ length: cols }, (_, c) => c)
    .sort((a, b) => maxAbs[b]! - maxAbs[a]! || a - b)
    .slice(0, Math.min(k, cols))
    .map((c) => ({ channel: c, maxAbs: maxAbs[c]!, meanAbs: sumAbs[c]! / rows, tailShare: tail[c]! / tailTotal }));
}

export interface ShapeQuality {
  points: number;
  tanh: Pick<FitResult, 'params' | 'r2' | 'rmse'>;
  linear: Pick<FitResult, 'params' | 'r2' | 'rmse'>;
  /**
   * How S-shaped the mapping is: the fraction of the straight line's squared error
   * that the tanh removes, 1 - (rmse_tanh / rmse_linear)^2. 0: a line fits as well.
   */
  sShape: number;
}

/** Every `step`-th point (deterministic thinning for fits on large layers). */
function thin(x: Float32Array, y: Float32Array, keep: (i: number) => boolean, max: number): [Float32Array, Float32Array] {
  const idx: number[] = [];
  for (let i = 0; i < x.length; i++) if (keep(i)) idx.push(i);
  const step = Math.max(1, Math.ceil(idx.length / max));
  const pick = idx.filter((_, j) => j % step === 0);
  return [Float32Array.from(pick, (i) => x[i]!), Float32Array.from(pick, (i) => y[i]!)];
}

/** tanh vs straight-line fit quality of (x, y): how much S-shape there is. */
export function shapeQuality(x: Float32Array, y: Float32Array, opts: { maxPoints?: number; shape?: CurveShape } = {}): ShapeQuality {
  const [xs, ys] = thin(x, y, () => true, opts.maxPoints ?? 200_000);
  const t = fitCurve(xs, ys, { shape: opts.shape ?? 'tanh' });
  const l = fitCurve(xs, ys, { shape: 'linear' });
  const pick = (f: FitResult) => ({ params: f.params, r2: f.r2, rmse: f.rmse });
  return { points: xs.length, tanh: pick(t), linear: pick(l), sShape: l.rmse > 0 ? 1 - (t.rmse / l.rmse) ** 2 : 0 };
}

export interface ExtremeChannelEffect {
  channels: number[];
  all: ShapeQuality;
  without: ShapeQuality;
  /** Share of the S-shape that goes away without those channels: 1 - without.sShape / all.sShape. */
  explained: number;
}

/** Fit quality with and without the given channels: how much of the S-shape they carry. */
export function extremeChannelEffect(x: Float32Array, y: Float32Array, rows: number, cols: number, channels: number[],
  opts: { maxPoints?: number } = {}): ExtremeChannelEffect {
  checkMatrix(x, y, rows, cols, 'extremeChannelEffect');
  const bad = channels.filter((c) => !Number.isInteger(c) || c < 0 || c >= cols);
  if (bad.length) throw new RangeError(`extremeChannelEffect: channels ${bad.join(', ')} are outside 0..${cols - 1}`);
  if (channels.length >= cols) throw new RangeError('extremeChannelEffect: removing every channel leaves nothing to fit');
  const drop = new Uint8Array(cols);
  for (const c of channels) drop[c] = 1;
  const max = opts.maxPoints ?? 200_000;
  const all = shapeQuality(x, y, { maxPoints: max });
  const [xw, yw] = thin(x, y, (i) => !drop[i % cols], max);
  const without = shapeQuality(xw, yw, { maxPoints: max });
  return { channels: [...channels], all, without, explained: all.sShape > 0 ? 1 - without.sShape / all.sShape : NaN };
}
