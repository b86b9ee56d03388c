// Layers built from or loaded with snapshot tensors, shared by the loaders:
// a Linear from HF's [out, in] weight, the lab's LayerNorm with a checkpoint's eps.
import { Linear } from '../nn/linear.js';
import { createNorm, type LayerNorm, type NormLayer } from '../nn/norms.js';
import { assignFrom, NoInit } from './load.js';
import type { Snapshot } from './snapshot.js';

/** A Linear from HF's `{name}.weight` [out, in] (transposed into the lab's [in, out]) and `{name}.bias` when the snapshot has it. */
export function loadLinear(s: Snapshot, name: string, inFeatures: number, outFeatures: number): Linear {
  return assignLinear(s, new Linear(inFeatures, outFeatures, new NoInit(), { bias: s.has(`${name}.bias`) }), name);
}

/** Load HF's `{name}.weight` [out, in] (transposed) and, if the layer has a bias, `{name}.bias` into a built Linear. */
export function assignLinear(s: Snapshot, lin: Linear, name: string): Linear {
  assignFrom(s, lin.weight, `${name}.weight`, { transpose: true });
  if (lin.bias) assignFrom(s, lin.bias, `${name}.bias`);
  return lin;
}

/** The lab's LayerNorm (createNorm, so convertNorms and the fused kernels apply) with HF's `{name}.weight`/`.bias` and eps. */
export function loadLayerNorm(s: Snapshot, name: string, dim: number, eps: number): NormLayer {
  return assignLayerNorm(s, createNorm({ kind: 'layernorm', eps }, dim), name);
}

/** Load HF's `{name}.weight` / `{name}.bias` into a built LayerNorm. */
export function assignLayerNorm(s: Snapshot, norm: NormLayer, name: string): NormLayer {
  assignFrom(s, (norm as LayerNorm).gamma, `${name}.weight`);
  assignFrom(s, (norm as LayerNorm).beta, `${name}.bias`);
  return norm;
}
