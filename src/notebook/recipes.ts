// Matched recipes: the run config a notebook trains when it compares norms.
// The base is the study's recipe (the `base` of configs/study/variants-<model>.json,
// read through the sweep loader, never copied), patched with one variant of that
// file's `variants.norm`, so LayerNorm and DyT (or any two variants) differ only
// in what that variant's patch sets (model.norm, and for a few labels the
// placement or residual that stands in for a norm).
//
// Profiles:
//   smoke  the study file's own smoke profile `set` (width 16, 1 block, 8 steps): seconds, numbers meaningless;
//   quick  the study's width, depth and steps, one learning rate for every variant: the base's (stated);
//   study  the study's steps, each variant at the learning rate the study chose on validation
//          (data/study/runs.csv via chooseLearningRates), else the quick one with a note ('full' is read as 'study').
// Every profile ends with a checkpoint (train.checkpointEvery = steps / checkpoints)
// and keeps the base's test split (data.testSplit).
import { relative } from 'node:path';
import { resolveRun, type RunConfig } from '../experiments/run-config.js';
import { applyPatch, loadSweep } from '../experiments/sweep-config.js';
import { canonicalJson } from '../experiments/store/index.js';
import { chooseLearningRates, hasStudyRuns, readStudyRuns } from '../study/index.js';
import { ConfigError } from '../util/schema.js';
import { packageRoot, projectFile } from '../util/paths.js';

export type RecipeModel = 'vit' | 'lm';
export const RECIPE_PROFILES = ['smoke', 'quick', 'study'] as const;
export type RecipeProfile = (typeof RECIPE_PROFILES)[number];

/** What a recipe needs of the study's learning-rate choice (src/study's LrChoice has these fields; tests pass their own). */
export interface RecipeLrChoice {
  study: string;
  model: string;
  variant: string;
  bestLr: number | null;
  state: string;
}

export interface RecipeOptions {
  /** The run's seed (default 0). */
  seed?: number;
  /** The study file (default configs/study/variants-<model>.json in the package). */
  studyFile?: string;
  /** Profile 'study': the study's choices (default: chooseLearningRates over data/study/runs.csv when it is there). */
  choices?: readonly RecipeLrChoice[];
  /** Profile 'study': which study's choice to take (default 'variants'). */
  study?: string;
  /** Checkpoints over the run, the last at the final step (default 1: only the final one). */
  checkpoints?: number;
}

/** A plain run config, as configs/*.json hold one. */
export interface RecipeConfig {
  name: string;
  seed: number;
  model: Record<string, unknown>;
  data: Record<string, unknown>;
  train: Record<string, unknown>;
}

export interface Recipe {
  model: RecipeModel;
  variant: string;
  profile: RecipeProfile;
  config: RecipeConfig;
  /** The same config resolved (defaults filled), for tables. */
  resolved: RunConfig;
  /** The study file the recipe comes from, relative to the package. */
  source: string;
  lr: number;
  /** How the learning rate was chosen, in a sentence. */
  lrNote: string;
}

// The study's own choices: data/study/runs.csv, read (and chosen on) when a 'study' recipe is not given them.
const defaultChoices = (): readonly RecipeLrChoice[] | undefined => (hasStudyRuns() ? chooseLearningRates(readStudyRuns()) : undefined);

function studyFileFor(model: RecipeModel, opts: RecipeOptions): string {
  return opts.studyFile ?? projectFile(`configs/study/variants-${model}.json`);
}

const shown = (file: string) => {
  const root = packageRoot();
  return root && !relative(root, file).startsWith('..') ? relative(root, file) : file;
};

/** The variant labels of a study file's `variants.norm`, in its order. */
export function recipeVariants(model: RecipeModel, opts: Pick<RecipeOptions, 'studyFile'> = {}): string[] {
  checkModel(model);
  const spec = loadSweep(studyFileFor(model, opts));
  const axis = spec.axes.find((a) => a.kind === 'variants' && a.name === 'norm');
  if (!axis) throw new ConfigError(`${shown(studyFileFor(model, opts))}: has no variants.norm axis`);
  return axis.entries.map((e) => e.label);
}

function checkModel(model: unknown): asserts model is RecipeModel {
  if (model !== 'vit' && model !== 'lm') throw new ConfigError(`matchedRecipe: model = ${JSON.stringify(model)} is not 'vit' or 'lm'`);
}

/** The quick profile's learning rate, shared by every variant: the study base's. */
function baseLr(base: Record<string, unknown>, where: string): number {
  const lr = (base.train as Record<string, unknown> | undefined)?.lr;
  if (typeof lr !== 'number' || !(lr > 0)) throw new ConfigError(`${where}: base.train.lr must be a number > 0 (got ${JSON.stringify(lr)})`);
  return lr;
}

/**
 * The matched recipe of one variant under one profile, with what a table
 * needs: the config, its resolved form, the learning rate and how it was chosen.
 */
export function recipe(model: RecipeModel, variant: string, profile: string, opts: RecipeOptions = {}): Recipe {
  checkModel(model);
  // `dytlab reproduce --profile full` passes 'full': the study's recipe is the full one.
  if (profile === 'full') profile = 'study';
  if (!(RECIPE_PROFILES as readonly string[]).includes(profile)) {
    throw new ConfigError(`matchedRecipe: profile = ${JSON.stringify(profile)} is not one of ${RECIPE_PROFILES.map((p) => `'${p}'`).join(', ')}`);
  }
  const file = studyFileFor(model, opts);
  const where = shown(file);
  const spec = loadSweep(file);
  const axis = spec.axes.find((a) => a.kind === 'variants' && a.name === 'norm');
  const entry = axis?.entries.find((e) => e.label === variant);
  if (!entry) {
    throw new ConfigError(`matchedRecipe: no variant ${JSON.stringify(variant)} in ${where} (variants.norm: ` +
      `${axis ? axis.entries.map((e) => e.label).join(', ') : 'none'})`);
  }
  const checkpoints = opts.checkpoints ?? 1;
  if (!Number.isInteger(checkpoints) || checkpoints < 1) throw new ConfigError(`matchedRecipe: checkpoints = ${String(checkpoints)} must be an integer >= 1`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new ConfigError(`matchedRecipe: seed = ${String(seed)} must be an integer >= 0`);

  const config = structuredClone(spec.base);
  delete config.description;
  config.name = `recipe-${model}-${variant.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
  config.seed = seed;
  const at = `matchedRecipe(${model}, ${variant}, ${profile}) from ${where}`;
  // The order expandSweep applies them in: the file's set, then the variant's patch.
  for (const [p, v] of spec.set) applyPatch(config, p, v, `${at}: set`);
  if (profile === 'smoke') {
    for (const [p, v] of loadSweep(file, { profile: 'smoke' }).set) applyPatch(config, p, v, `${at}: smoke profile`);
  }
  for (const [p, v] of entry.patch) applyPatch(config, p, v, `${at}: variant`);

  const quickLr = baseLr(spec.base, where);
  let lr = quickLr;
  let lrNote = `lr ${quickLr}, the study base's, shared by every variant (profile ${profile}; not tuned per variant)`;
  if (profile === 'study') {
    const study = opts.study ?? 'variants';
    const choices = opts.choices ?? defaultChoices();
    const c = choices?.find((x) => x.study === study && x.model === model && x.variant === variant);
    if (!choices) lrNote = `lr ${quickLr} (the quick profile's): no study table (data/study/runs.csv) to choose it from`;
    else if (!c) lrNote = `lr ${quickLr} (the quick profile's): the study table has no "${study}" runs of ${model} ${variant}`;
    else if (c.bestLr === null) lrNote = `lr ${quickLr} (the quick profile's): every learning rate the study tried for ${model} ${variant} failed`;
    else {
      lr = c.bestLr;
      lrNote = `lr ${c.bestLr}, chosen on validation by the "${study}" study (${c.state})`;
    }
  }
  const train = config.train as Record<string, unknown>;
  train.lr = lr;
  const steps = train.steps;
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1) throw new ConfigError(`${at}: train.steps = ${JSON.stringify(steps)} is not a whole number >= 1`);
  // The analyses load the trained model: a checkpoint at the end, and evenly spaced ones before it if asked.
  train.checkpointEvery = Math.max(1, Math.floor(steps / checkpoints));
  const resolved = resolveRun(config, at);
  if (resolved.train.lr !== lr) throw new ConfigError(`${at}: the learning rate did not survive resolving (internal error)`);
  return { model, variant, profile: profile as RecipeProfile, config: config as unknown as RecipeConfig, resolved, source: where, lr, lrNote };
}

/** The run config of a matched recipe (the shape configs/*.json hold): see `recipe`. */
export function matchedRecipe(model: RecipeModel, variant: string, profile: string, opts: RecipeOptions = {}): RecipeConfig {
  return recipe(model, variant, profile, opts).config;
}

/**
 * Dotted paths at which two plain configs differ, down to `depth` keys
 * (default 2: "model.norm", "train.lr"; a norm spec counts as one value).
 */
export function configDifferences(a: unknown, b: unknown, depth = 2, prefix = ''): string[] {
  const obj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (depth > 0 && obj(a) && obj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => configDifferences(a[k], b[k], depth - 1, prefix ? `${prefix}.${k}` : k));
  }
  return canonicalJson(a ?? null) === canonicalJson(b ?? null) ? [] : [prefix || '(root)'];
}

/**
 * One paragraph on a set of recipes: where they come from, what they share,
 * where they differ (besides the name), how their learning rates were chosen.
 */
export function describeRecipes(recipes: readonly Recipe[]): string {
  if (!recipes.length) throw new Error('describeRecipes: no recipes');
  const byModel = new Map<RecipeModel, Recipe[]>();
  for (const r of recipes) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  return [...byModel].map(([model, rs]) => {
    const first = rs[0]!;
    const diffs = [...new Set(rs.slice(1).flatMap((r) => configDifferences(first.config, r.config)))].filter((p) => p !== 'name');
    const t = first.resolved.train;
    const lrs = [...new Set(rs.map((r) => r.lrNote))];
    return `**${model === 'lm' ? 'LM' : 'ViT'}** (${rs.map((r) => r.variant).join(', ')}): the base of \`${first.source}\`, profile ${first.profile}: ` +
      `${t.steps} steps, batch ${t.batchSize}, warm-up ${t.warmupSteps}, clipping ${t.clipNorm || 'off'}, seed ${first.resolved.seed}. ` +
      (rs.length > 1 ? `They differ only in ${diffs.length ? diffs.map((d) => `\`${d}\``).join(', ') : 'nothing but the name'}. ` : '') +
      `Learning rate: ${lrs.join('; ')}.`;
  }).join('\n\n');
}
