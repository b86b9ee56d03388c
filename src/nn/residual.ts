// Norm-free baselines that live beside the norms.
//   ReZero (Bachlechner et al. 2020):   x + g * F(x), scalar g learnable, init 0.
//   SkipInit (De & Smith 2020):         x + g * F(x), scalar g learnable, init chosen by the caller.
//   Fixup (Zhang et al. 2019):          no gate; rescale each residual branch's inner weights by
//                                       L^(-1/(2m-2)) and zero its last layer (see fixupInit).
import { z } from 'zod';
import { tf } from '../engine/tf.js';
import type { Tensor, Variable } from '../engine/tf.js';
import { parseWith } from '../util/schema.js';
import { Module } from './module.js';

const finite = z.number().finite({ message: 'must be a finite number' });
export const residualSpecSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z.object({ kind: z.literal('rezero') }).strict(),
  z.object({ kind: z.literal('skipinit'), init: finite }).strict(),
]);
export type ResidualSpec = z.input<typeof residualSpecSchema>;

export interface ResidualGate extends Module {
  readonly spec: ResidualSpec;
  /** residual + gate * branch (plain sum for kind 'none'). */
  apply(residual: Tensor, branch: Tensor): Tensor;
}

class PlainResidual extends Module implements ResidualGate {
  readonly spec = { kind: 'none' } as const;
  apply(residual: Tensor, branch: Tensor): Tensor {
    return tf.add(residual, branch);
  }
}

class ScalarGate extends Module implements ResidualGate {
  readonly gate: Variable;
  constructor(readonly spec: ResidualSpec, init: number) {
    super();
    this.gate = this.param('gate', tf.scalar(init));
  }
  apply(residual: Tensor, branch: Tensor): Tensor {
    return tf.add(residual, tf.mul(this.gate, branch));
  }
}

export function createResidualGate(spec: ResidualSpec): ResidualGate {
  const s = parseWith(residualSpecSchema, spec, 'residual spec');
  switch (s.kind) {
    case 'none': return new PlainResidual();
    case 'rezero': return new ScalarGate(s, 0);
    case 'skipinit': return new ScalarGate(s, s.init);
  }
}

/** Fixup's branch scale: L^(-1/(2m-2)) for L residual branches of m layers each (m >= 2). */
export function fixupScale(numBranches: number, layersPerBranch: number): number {
  if (!Number.isInteger(numBranches) || numBranches < 1) throw new Error(`fixupScale: numBranches = ${numBranches} must be an integer >= 1`);
  if (!Number.isInteger(layersPerBranch) || layersPerBranch < 2) {
    throw new Error(`fixupScale: layersPerBranch = ${layersPerBranch} must be an integer >= 2`);
  }
  return Math.pow(numBranches, -1 / (2 * layersPerBranch - 2));
}

export interface FixupBranch {
  /** Weights of the branch's layers before the last (scaled by fixupScale). */
  inner: Variable[];
  /** Weights of the branch's last layer (set to zero so each branch starts as identity). */
  last: Variable[];
}

/**
 * Fixup initialisation, in place: every branch's inner weights are multiplied by
 * L^(-1/(2m-2)) and its last layer is zeroed. Fixup's scalar biases and
 * multiplier are ordinary parameters the model adds itself.
 * Returns the scale used.
 */
export function fixupInit(branches: FixupBranch[], layersPerBranch: number): number {
  const scale = fixupScale(branches.length, layersPerBranch);
  for (const b of branches) {
    // assign() does not take ownership of its argument: dispose it, or the old and new values both stay allocated.
    const set = (w: Variable, v: Tensor) => { w.assign(v); v.dispose(); };
    for (const w of b.inner) set(w, tf.tidy(() => tf.mul(w, scale)));
    for (const w of b.last) set(w, tf.zerosLike(w));
  }
  return scale;
}
