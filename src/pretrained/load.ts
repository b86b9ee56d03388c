// Moving snapshot tensors into a built model: modules are built with zero
// weights (no random draws for 124M parameters), then each variable takes its
// tensor, read, converted and (for Hugging Face's [out, in] Linear weights)
// transposed to the lab's [in, out], one tensor at a time.
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { Init } from '../nn/init.js';
import type { Snapshot } from './snapshot.js';

/** An Init that draws nothing: every weight starts at zero until loaded. */
export class NoInit extends Init {
  constructor() {
    super(0);
  }
  override normal(shape: number[]): Tensor {
    return tf.zeros(shape);
  }
}

/** [rows, cols] row-major -> [cols, rows] (Hugging Face Linear [out, in] -> the lab's [in, out]). */
export function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c]!;
    }
  }
  return out;
}

/**
 * Set `v` to the snapshot tensor `name`, whose shape must be v's shape (or its
 * transpose with `transpose: true`, for [out, in] weights).
 */
export function assignFrom(s: Snapshot, v: Variable | undefined, name: string, opts: { transpose?: boolean } = {}): void {
  if (!v) throw new Error(`pretrained snapshot ${s.dir}: tensor '${name}' has no parameter to load into`);
  const shape = v.shape as number[];
  if (opts.transpose && shape.length !== 2) throw new Error(`assignFrom: transpose needs a 2-D parameter for '${name}'`);
  const want = opts.transpose ? [shape[1]!, shape[0]!] : shape;
  const data = s.read(name, want);
  assignData(v, opts.transpose ? transpose2d(data, want[0]!, want[1]!) : data);
}

/** Set `v` from a float32 array already in hand (e.g. one third of GPT-2's fused qkv). */
export function assignData(v: Variable, data: Float32Array): void {
  const t = tf.tensor(data, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}

/** `load(m)` fills a model built with zero weights; if it throws (a missing or misshapen tensor), m is disposed first. */
export function loadInto<M extends { dispose(): void }>(m: M, load: (m: M) => void): M {
  try {
    load(m);
  } catch (e) {
    m.dispose();
    throw e;
  }
  return m;
}

/** The prefix ('' or e.g. 'transformer.') under which the snapshot holds `probe` (first match wins). */
export function findPrefix(s: Snapshot, probe: string, prefixes: string[]): string {
  const p = prefixes.find((x) => s.has(x + probe));
  if (p === undefined) {
    throw new Error(`pretrained snapshot ${s.dir}: missing tensor '${prefixes[0]}${probe}' (looked for ${prefixes.map((x) => `'${x}${probe}'`).join(', ')}; ` +
      `it has ${s.names().slice(0, 5).map((n) => `'${n}'`).join(', ')}${s.names().length > 5 ? ', ...' : ''})`);
  }
  return p;
}
