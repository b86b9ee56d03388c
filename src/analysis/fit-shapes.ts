// Which squash shape fits a mapping best: every shape fitted to the same points,
// ranked by R^2. Feeds the "best shape per layer" tables.
import { fitCurve, type CurveShape, type FitResult } from './curvefit.js';

export const DEFAULT_SHAPES: CurveShape[] = ['tanh', 'erf', 'softsign', 'isru', 'hardtanh', 'linear'];

export interface ShapeFit extends FitResult { rank: number }

/**
 * Fit each shape to (x, y) (on at most `maxPoints` evenly strided points) and rank them
 * by R^2, best first. A shape whose fit throws is reported with r2 = NaN and its error.
 */
export function fitShapes(x: Float32Array, y: Float32Array, opts: { shapes?: CurveShape[]; robust?: boolean; maxPoints?: number } = {}): (ShapeFit | { shape: CurveShape; r2: number; error: string; rank: number })[] {
  if (x.length !== y.length) throw new RangeError(`fitShapes: x has ${x.length} values but y has ${y.length}`);
  const max = opts.maxPoints ?? 200_000;
  const step = Math.max(1, Math.ceil(x.length / max));
  const xs = step === 1 ? x : Float32Array.from({ length: Math.ceil(x.length / step) }, (_, i) => x[i * step]!);
  const ys = step === 1 ? y : Float32Array.from({ length: Math.ceil(y.length / step) }, (_, i) => y[i * step]!);
  const fits = (opts.shapes ?? DEFAULT_SHAPES).map((shape) => {
    try {
      return fitCurve(xs, ys, { shape, ...(opts.robust ? { robust: true } : {}) });
    } catch (e) {
      return { shape, r2: NaN, error: (e as Error).message };
    }
  });
  const order = fits.map((f, i) => i).sort((a, b) => (Number.isNaN(fits[b]!.r2) ? -1 : fits[b]!.r2) - (Number.isNaN(fits[a]!.r2) ? -1 : fits[a]!.r2));
  return order.map((i, rank) => ({ ...fits[i]!, rank: rank + 1 }));
}
