// Shared pieces of the figure builders: numbers in, plain JSON out.

/** Numeric data accepted by the builders: arrays or typed arrays. */
export type NumericArray = ArrayLike<number>;

/** Plain number array with NaN/±Inf replaced by null (a gap in plotly; JSON-safe). */
export function toJsonNumbers(a: NumericArray, what: string): (number | null)[] {
  if (a == null || typeof a !== 'object' || typeof a.length !== 'number') {
    throw new TypeError(`${what} must be an array of numbers, got ${a === null ? 'null' : typeof a}`);
  }
  const out = new Array<number | null>(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number') throw new TypeError(`${what}[${i}] is ${v === null ? 'null' : typeof v}, not a number`);
    out[i] = Number.isFinite(v) ? v : null;
  }
  return out;
}

/** A plotly axis/figure title object, or undefined. */
export function title(text: string | undefined): { text: string } | undefined {
  return text === undefined || text === '' ? undefined : { text };
}

/** Drops keys whose value is undefined, so the spec is plain JSON. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export interface FigureSpec {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
}
