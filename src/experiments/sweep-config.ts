// A sweep file: a base run config and the axes to vary, validated at the edge.
//
//   {
//     "name": "squash-vit",                      // names the sweep and (by default) its runs
//     "description": "...",                      // free text (not part of any run's config)
//     "runName": "vit-study",                    // optional: the runs' `name` (default: the sweep's name)
//     "base": "../vit-tiny-dyt.json",            // a run config, inline or a file relative to this one
//     "set": {"train.steps": 1000},              // fixed overrides of the base (null removes a field)
//     "variants": {                              // named axes whose values are labelled patches
//       "norm": {
//         "layernorm": {"model.norm": {"kind": "layernorm"}},
//         "tanh": {"model.norm": {"kind": "dyt"}, "train.lr": 0.003}
//       }
//     },
//     "axes": {"train.lr": [0.001, 0.003]},      // dotted path -> values (a value may be a whole object)
//     "zip": [{"model.dModel": [64, 128], "model.nHeads": [4, 8]}],   // paths that vary together
//     "seeds": [0, 1, 2],                        // the `seed` axis, always last
//     "exclude": [{"norm": "layernorm", "train.lr": [0.01]}],          // combinations to leave out
//     "profiles": {"quick": {"set": {...}, "axes": {...}, "seeds": [0]}},
//     "defaultProfile": "quick",
//     "bracket": {"axis": "train.lr", "factor": 2, "maxExtra": 3, "metric": "val/loss", "mode": "min"}
//   }
//
// Axis order (which also orders the expansion, the last axis varying fastest):
// variants (in the order written), axes, zip groups, seeds. Patches apply in
// that order, so an axis may set a field inside an object a variant set
// (variant `model.norm` = {kind: dyt, squash: hardtanh}, axis
// `model.norm.alpha0`). A profile replaces the top-level fields it gives:
// `set`, `axes` and `variants` key by key (new keys go last), `zip`, `seeds`,
// `exclude` and `bracket` whole (`"bracket": null` turns it off).
//
// `bracket` (opt-in; sweep-bracket.ts): after the grid, extend a numeric axis
// per comparison cell one step (times or over `factor`) beyond the edge where
// the mean validation metric is best, until the best is bracketed. It changes
// nothing about the grid's combinations or their hashes.
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, dottedPath as pathKeys, parseWith, showValue } from '../util/schema.js';
import { readConfigFile } from './run-config.js';

const PATH_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const INTEGER_KEY_RE = /^(0|[1-9][0-9]*)$/;

const dottedPath = z.string().regex(PATH_RE, { message: 'must be a dotted path into the run config, like "train.lr"' });
const plainObject = z.custom<Record<string, unknown>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'must be an object',
);
// JavaScript orders integer-like keys first, whatever order the file wrote them in:
// labels and names of that form would silently reorder the grid.
const orderedKey = (what: string) => z.string().min(1, { message: `${what} must be non-empty` }).refine(
  (k) => !INTEGER_KEY_RE.test(k), { message: `${what} must not be a plain integer (JavaScript reorders such keys); write e.g. "a0=1"` },
);
const nonEmptyValues = z.array(z.unknown()).min(1, { message: 'must list at least one value' });
const patchSchema = z.record(dottedPath, z.unknown());
const axesSchema = z.record(dottedPath, nonEmptyValues);
const zipGroupSchema = z.record(dottedPath, nonEmptyValues).superRefine((g, ctx) => {
  const lengths = Object.values(g).map((v) => v.length);
  if (lengths.length === 0) ctx.addIssue({ code: 'custom', message: 'a zip group needs at least one path' });
  else if (new Set(lengths).size > 1) {
    ctx.addIssue({ code: 'custom', message: `the paths of a zip group must list equally many values (got ${lengths.join(', ')})` });
  }
});
const variantsSchema = z.record(orderedKey('a variant axis name'), z.record(orderedKey('a variant label'), patchSchema)
  .refine((v) => Object.keys(v).length > 0, { message: 'must define at least one variant' }));
const seedsSchema = z.array(z.number().int({ message: 'must be an integer' }).nonnegative({ message: 'must be >= 0' }))
  .min(1, { message: 'must list at least one seed' })
  .refine((s) => new Set(s).size === s.length, { message: 'must not repeat a seed' });
const excludeSchema = z.array(z.record(z.string().min(1), z.unknown())
  .refine((r) => Object.keys(r).length > 0, { message: 'an exclude rule needs at least one axis' }));

/** What a grid is made of: the same fields at the top of a sweep file and in each of its profiles. */
const gridFields = {
  set: patchSchema.optional(),
  axes: axesSchema.optional(),
  zip: z.array(zipGroupSchema).optional(),
  variants: variantsSchema.optional(),
  seeds: seedsSchema.optional(),
  exclude: excludeSchema.optional(),
};

const bracketSchema = z.object({
  axis: dottedPath,
  factor: z.number().gt(1, { message: 'must be > 1 (the next value is the edge times or over the factor)' }).finite().optional(),
  maxExtra: z.number().int({ message: 'must be an integer' }).nonnegative({ message: 'must be >= 0' }).optional(),
  metric: z.string().min(1).optional(),
  mode: z.enum(['min', 'max']).optional(),
  reduce: z.enum(['last', 'min', 'max']).optional(),
  groupBy: z.array(z.string().min(1)).optional(),
}).strict();

const profileSchema = z.object({ description: z.string().optional(), ...gridFields, bracket: bracketSchema.nullable().optional() }).strict();

export const sweepFileSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: 'must be letters, digits, ".", "_" or "-"' }),
  description: z.string().optional(),
  runName: z.string().min(1).optional(),
  base: z.union([z.string().min(1), plainObject], { errorMap: () => ({ message: 'must be a run config object or the path of a run config file' }) }),
  ...gridFields,
  bracket: bracketSchema.optional(),
  profiles: z.record(orderedKey('a profile name'), profileSchema).optional(),
  defaultProfile: z.string().optional(),
}).strict();

export type SweepFile = z.input<typeof sweepFileSchema>;

/** One value of an axis: what it is called, what it is, and what it sets. */
export interface AxisEntry {
  /** Short text for tables and plots ("0.003", "layernorm", "64 / 4"). */
  label: string;
  /** The value as summaries report it: the raw value (values axis), the label (variants), {path: value} (zip), the seed. */
  value: unknown;
  /** [dotted path, value] pairs applied to the run config; a null value removes the field. */
  patch: [string, unknown][];
}

export type AxisKind = 'variants' | 'values' | 'zip' | 'seed';
export interface SweepAxis {
  /** The variant axis's name, the dotted path, the zip group's paths joined with '+', or 'seed'. */
  name: string;
  kind: AxisKind;
  entries: AxisEntry[];
}

/** A sweep's `bracket` with its defaults filled in and checked against its axes. */
export interface BracketSpec {
  /** The numeric values axis to extend (e.g. "train.lr"). */
  axis: string;
  /** Grid step: the next value beyond an edge is edge * factor (or / factor). Default: the axis's own constant ratio. */
  factor: number;
  /** At most this many values beyond the grid's per comparison cell (default 3). */
  maxExtra: number;
  /** The selection metric (default "val/loss"), reduced per run by `reduce` (default "last"). */
  metric: string;
  mode: 'min' | 'max';
  reduce: 'last' | 'min' | 'max';
  /** The axes that define a comparison cell (default: every axis but the bracket axis and the seed). */
  groupBy: string[];
  /** The axis's values in the grid (the extensions are the others). */
  gridValues: number[];
}

/** A sweep with its profile applied and its base loaded: what expandSweep works from. */
export interface SweepSpec {
  name: string;
  /** How errors name this sweep: "sweep <file as given> (profile p)". */
  label: string;
  description?: string;
  runName: string;
  /** The sweep file, when read from one (absolute). */
  file?: string;
  /** The profile applied, if any. */
  profile?: string;
  /** Profiles the file defines. */
  profiles: string[];
  base: Record<string, unknown>;
  set: [string, unknown][];
  axes: SweepAxis[];
  /** Rules: a combination is left out when every axis a rule names has one of the rule's values (or labels). */
  exclude: Record<string, unknown[]>[];
  /** Learning-rate (or other axis) bracketing after the grid, when the file asks for it. */
  bracket?: BracketSpec;
}

export interface LoadSweepOptions {
  /** Apply this profile (else the file's defaultProfile, else none). */
  profile?: string;
  /** Where a relative `base` path is found when the sweep is given as an object (default: the cwd). */
  baseDir?: string;
}

// ---------------------------------------------------------------------------
// Dotted paths

/** Copy of `obj` with `path` set to `value` (null removes it); intermediate objects are created. */
export function applyPatch(obj: Record<string, unknown>, path: string, value: unknown, where: string): void {
  const keys = pathKeys(path, where);
  let node: Record<string, unknown> = obj;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]!;
    const next = node[k];
    if (next === undefined) {
      if (value === null) return; // removing a field under a missing object: nothing to do
      node[k] = {};
    } else if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      throw new ConfigError(`${where}: cannot set ${path}: ${keys.slice(0, i + 1).join('.')} = ${showValue(next)} is not an object`);
    }
    node = node[k] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (value === null) delete node[last];
  else node[last] = structuredClone(value);
}

/** A short label for an axis value: numbers and strings as written, objects as "kind k=v ...". */
export function valueLabel(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return `[${v.map(valueLabel).join(', ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const rest = Object.keys(o).filter((k) => k !== 'kind').map((k) => `${k}=${valueLabel(o[k])}`);
    const head = typeof o.kind === 'string' ? o.kind : '';
    if (!head) return `{${rest.join(', ')}}`;
    return rest.length ? `${head}(${rest.join(', ')})` : head;
  }
  return String(v);
}

// ---------------------------------------------------------------------------
// Loading

function buildAxes(file: z.output<typeof sweepFileSchema>, where: string): SweepAxis[] {
  const axes: SweepAxis[] = [];
  for (const [name, variants] of Object.entries(file.variants ?? {})) {
    axes.push({
      name, kind: 'variants',
      entries: Object.entries(variants).map(([label, patch]) => ({ label, value: label, patch: Object.entries(patch) })),
    });
  }
  for (const [path, values] of Object.entries(file.axes ?? {})) {
    if (path === 'seed' && file.seeds) throw new ConfigError(`${where}: give the seeds either as "seeds" or as the axis "seed", not both`);
    axes.push({
      name: path, kind: path === 'seed' ? 'seed' : 'values',
      entries: values.map((v) => ({ label: valueLabel(v), value: v, patch: [[path, v]] })),
    });
  }
  for (const group of file.zip ?? []) {
    const paths = Object.keys(group);
    const n = group[paths[0]!]!.length;
    axes.push({
      name: paths.join('+'), kind: 'zip',
      entries: Array.from({ length: n }, (_, i) => ({
        label: paths.map((p) => valueLabel(group[p]![i])).join(' / '),
        value: Object.fromEntries(paths.map((p) => [p, group[p]![i]])),
        patch: paths.map((p) => [p, group[p]![i]] as [string, unknown]),
      })),
    });
  }
  if (file.seeds) {
    axes.push({ name: 'seed', kind: 'seed', entries: file.seeds.map((s) => ({ label: String(s), value: s, patch: [['seed', s]] })) });
  }
  // The seed axis goes last, wherever it was written: consecutive runs differ by seed.
  const seedAxis = axes.findIndex((a) => a.kind === 'seed');
  if (seedAxis >= 0 && seedAxis !== axes.length - 1) axes.push(...axes.splice(seedAxis, 1));

  const names = new Set<string>();
  const setBy = new Map<string, string>();
  for (const a of axes) {
    if (names.has(a.name)) throw new ConfigError(`${where}: two axes are named "${a.name}"`);
    names.add(a.name);
    for (const e of a.entries) {
      for (const [p] of e.patch) {
        const other = setBy.get(p);
        if (other !== undefined && other !== a.name) {
          throw new ConfigError(`${where}: axes "${other}" and "${a.name}" both set ${p}; one path, one axis`);
        }
        setBy.set(p, a.name);
      }
    }
  }
  return axes;
}

function checkExclude(rules: Record<string, unknown>[], axes: SweepAxis[], where: string): Record<string, unknown[]>[] {
  return rules.map((rule, i) => Object.fromEntries(Object.entries(rule).map(([axis, v]) => {
    if (!axes.some((a) => a.name === axis)) {
      throw new ConfigError(`${where}: exclude[${i}] names the axis "${axis}", which this sweep does not have ` +
        `(axes: ${axes.map((a) => `"${a.name}"`).join(', ') || 'none'})`);
    }
    return [axis, Array.isArray(v) ? v : [v]];
  })));
}

/**
 * Validate a sweep (a file path or an object) and apply its profile.
 * Errors name the file (or "sweep <name>") and the field.
 */
export function loadSweep(source: string | object, opts: LoadSweepOptions = {}): SweepSpec {
  const file = typeof source === 'string' ? resolve(source) : undefined;
  const raw = typeof source === 'string' ? readConfigFile(source) : source;
  const named = raw !== null && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string'
    ? (raw as { name: string }).name : undefined;
  const label = file ? `sweep ${source as string}` : `sweep ${named ?? '(unnamed)'}`;
  const s = parseWith(sweepFileSchema, raw, label);
  const profiles = Object.keys(s.profiles ?? {});
  if (s.defaultProfile !== undefined && !profiles.includes(s.defaultProfile)) {
    throw new ConfigError(`${label}: defaultProfile = ${showValue(s.defaultProfile)} is not one of its profiles (${profiles.map((p) => `"${p}"`).join(', ') || 'none'})`);
  }
  const profileName = opts.profile ?? s.defaultProfile;
  let merged = s;
  if (profileName !== undefined) {
    const p = s.profiles?.[profileName];
    if (!p) {
      throw new ConfigError(`${label}: no profile "${profileName}" (its profiles: ${profiles.map((q) => `"${q}"`).join(', ') || 'none'})`);
    }
    merged = {
      ...s,
      set: { ...s.set, ...p.set },
      axes: { ...s.axes, ...p.axes },
      variants: { ...s.variants, ...p.variants },
      ...(p.zip ? { zip: p.zip } : {}),
      ...(p.seeds ? { seeds: p.seeds } : {}),
      ...(p.exclude ? { exclude: p.exclude } : {}),
      ...(p.bracket !== undefined ? { bracket: p.bracket ?? undefined } : {}),
    };
  }
  const where = profileName ? `${label} (profile ${profileName})` : label;
  let base: unknown;
  if (typeof s.base === 'string') {
    const dir = file ? dirname(file) : resolve(opts.baseDir ?? '.');
    const basePath = isAbsolute(s.base) ? s.base : resolve(dir, s.base);
    try {
      base = readConfigFile(basePath);
    } catch (e) {
      throw new ConfigError(`${where}: base: ${(e as Error).message}`);
    }
    if (base === null || typeof base !== 'object' || Array.isArray(base)) {
      throw new ConfigError(`${where}: base: ${basePath} does not hold a run config object`);
    }
  } else {
    base = s.base;
  }
  const axes = buildAxes(merged, where);
  return {
    name: s.name,
    label: where,
    ...(s.description !== undefined ? { description: s.description } : {}),
    runName: s.runName ?? s.name,
    ...(file ? { file } : {}),
    ...(profileName !== undefined ? { profile: profileName } : {}),
    profiles,
    base: structuredClone(base) as Record<string, unknown>,
    set: Object.entries(merged.set ?? {}),
    axes,
    exclude: checkExclude(merged.exclude ?? [], axes, where),
    ...(merged.bracket ? { bracket: checkBracket(merged.bracket, axes, where) } : {}),
  };
}

function checkBracket(b: z.output<typeof bracketSchema>, axes: SweepAxis[], where: string): BracketSpec {
  const at = `${where}: bracket`;
  const axis = axes.find((a) => a.name === b.axis);
  if (!axis || axis.kind !== 'values') {
    throw new ConfigError(`${at}.axis = "${b.axis}" is not a values axis of this sweep ` +
      `(its "axes": ${axes.filter((a) => a.kind === 'values').map((a) => `"${a.name}"`).join(', ') || 'none'})`);
  }
  const values = axis.entries.map((e) => e.value);
  if (!values.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0)) {
    throw new ConfigError(`${at}: the values of "${b.axis}" must be positive numbers (got ${values.map(showValue).join(', ')})`);
  }
  const sorted = (values as number[]).slice().sort((x, y) => x - y);
  let factor = b.factor;
  if (factor === undefined) {
    const ratios = sorted.slice(1).map((v, i) => v / sorted[i]!);
    if (!ratios.length || ratios.some((r) => Math.abs(r / ratios[0]! - 1) > 1e-6)) {
      throw new ConfigError(`${at}: give "factor" (the values of "${b.axis}", ${sorted.join(', ')}, are not a geometric grid to take it from)`);
    }
    factor = Number(ratios[0]!.toPrecision(12));
  }
  const others = axes.filter((a) => a.kind !== 'seed' && a.name !== b.axis).map((a) => a.name);
  for (const g of b.groupBy ?? []) {
    if (!others.includes(g)) {
      throw new ConfigError(`${at}.groupBy: "${g}" is not an axis other than "${b.axis}" and the seed (axes: ${others.map((a) => `"${a}"`).join(', ') || 'none'})`);
    }
  }
  return {
    axis: b.axis, factor, maxExtra: b.maxExtra ?? 3, metric: b.metric ?? 'val/loss', mode: b.mode ?? 'min',
    reduce: b.reduce ?? 'last', groupBy: b.groupBy ?? others, gridValues: sorted,
  };
}
