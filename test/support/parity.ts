// Parity of a loaded snapshot with its PyTorch reference (test/fixtures/pretrained/*/expected.safetensors).
import assert from 'node:assert/strict';
import { runWithCache, type Hookable, type Tensor } from '../../src/index.js';
import { maxRelErr } from './numeric.js';

type Ref = { data: ArrayLike<number>; shape: number[] };

/**
 * One forward pass caching `acts`: asserts the logits' shape and that the logits and every
 * activation are within `tol` (max |a - b| / max |b|) of the reference; returns the errors by name.
 */
export function checkParity(label: string, model: Hookable, input: Tensor, ref: { logits: Ref; acts: string[]; f: Record<string, Ref | undefined> }, tol = 1e-4): Record<string, number> {
  const { output, cache, dispose } = runWithCache(model, input, ref.acts);
  try {
    assert.deepEqual(output.shape, ref.logits.shape);
    const errs: Record<string, number> = { logits: maxRelErr(output.dataSync(), ref.logits.data) };
    for (const a of ref.acts) {
      assert.ok(cache[a], `no activation at hook point ${a}`);
      errs[a] = maxRelErr(cache[a]!.dataSync(), ref.f[a]!.data);
    }
    for (const [k, v] of Object.entries(errs)) assert.ok(v < tol, `${label} ${k}: max rel err ${v.toExponential(2)}`);
    return errs;
  } finally {
    dispose();
  }
}
