// Pieces both model families share: Fixup initialisation over their blocks,
// σReparam over their Linears, finding their norm slots, and swapping every norm for another kind.
import { Linear, SigmaReparamLinear } from '../nn/linear.js';
import { MLP, SwiGLU } from '../nn/mlp.js';
import { Module, type ModuleList } from '../nn/module.js';
import { createNorm, isNormLayer, type NormLayer } from '../nn/norms.js';
import type { NormSpec } from '../nn/norm-spec.js';
import { fixupInit } from '../nn/residual.js';
import type { Block } from './block.js';

/** Fixup over 2 branches per block (attention, MLP), each of m = 2 layers. */
export function applyFixup(blocks: Block[]): number {
  const branches = blocks.flatMap((b) => {
    const mlp = b.mlp;
    const mlpBranch = mlp instanceof SwiGLU
      ? { inner: [mlp.gate.weight, mlp.up.weight], last: [mlp.down.weight] }
      : { inner: [(mlp as MLP).fc.weight], last: [(mlp as MLP).proj.weight] };
    return [{ inner: [b.attn.qkv.weight], last: [b.attn.proj.weight] }, mlpBranch];
  });
  return fixupInit(branches, 2);
}

/**
 * σReparam on every Linear of a built model (the blocks' attention and MLP layers,
 * a ViT's patch embedding, the head when it is a Linear; not the LM's token
 * embedding, a lookup, nor a head tied to it): each is rebuilt as a
 * SigmaReparamLinear with the same weights and names. Returns the layers changed.
 */
export function applySigmaReparam(model: Module, seed: number): string[] {
  const done: string[] = [];
  for (const { name, module, parent, key } of model.namedModules()) {
    if (!(module instanceof Linear) || module instanceof SigmaReparamLinear) continue;
    parent.replaceChild(key, SigmaReparamLinear.from(module, seed * 7919 + done.length + 1));
    done.push(name);
  }
  return done;
}

export function collectNorms(model: Module): { name: string; layer: NormLayer }[] {
  return model.namedModules().filter((m) => isNormLayer(m.module)).map((m) => ({ name: m.name, layer: m.module as NormLayer }));
}

/** A spec for every slot, or a function choosing per slot (return undefined to keep a slot). */
export type NormChoice = NormSpec | ((slot: string, current: NormLayer) => NormSpec | undefined);

/**
 * Replace every norm of a built model (like the reference `convert_ln_to_dyt`),
 * keeping every other weight. Returns the slots converted.
 */
export function convertNorms(model: Module, choice: NormChoice): string[] {
  const done: string[] = [];
  for (const { name, module, parent, key } of model.namedModules()) {
    if (!isNormLayer(module)) continue;
    const spec = typeof choice === 'function' ? choice(name, module) : choice;
    if (spec === undefined) continue;
    parent.replaceChild(key, createNorm(spec, module.dim));
    done.push(name);
  }
  return done;
}

/** What the ViT and the LM share beyond their forward passes: norm slots from their blocks (hook names come from Module). */
export abstract class TransformerBase extends Module {
  abstract readonly blocks: ModuleList<Block>;

  normLayers(): { name: string; layer: NormLayer }[] {
    return collectNorms(this);
  }
}
