// Sweep expansion, sharding and planning: pure functions over a validated sweep
// (sweep-config.ts) and, for the plan, the run store.
//
// Expansion is the Cartesian product of the axes in their order, the last axis
// varying fastest, minus the excluded combinations; `index` numbers what is left
// from 0. Every combination is resolved as a run config by resolveRun, the
// resolve of runTraining and ensureRun (an LM's vocabSize from the data spec's
// vocabulary rule, data/spec.ts), and hashed as the store records it, so "is
// this combination done?" is one lookup of its config hash in the store.
//
// Shards: combination k belongs to shard k mod N (`--shard i/N`, i from 0).
// Round-robin spreads every axis over the shards (neighbouring combinations
// differ by seed), and the N shards partition the grid exactly.
import { hostname } from 'node:os';
import { ConfigError, showValue } from '../util/schema.js';
import { resolveRun, type RunConfig } from './run-config.js';
import { canonicalJson, configHash, pidAlive, type RunRecord, type RunStore } from './store/index.js';
import { applyPatch, loadSweep, type LoadSweepOptions, type SweepAxis, type SweepSpec } from './sweep-config.js';

export interface SweepPoint {
  /** Position in the expanded grid (after exclusions), from 0. */
  index: number;
  /** Axis name -> value: the raw value (values axes), the label (variants), {path: value} (zip), the seed. */
  values: Record<string, unknown>;
  /** Axis name -> short label. */
  labels: Record<string, string>;
  seed: number;
  /** The labels of every axis but the seed, "norm=tanh, train.lr=0.003": runs that differ only by seed share it. */
  group: string;
  /** The run config as given to runTraining. */
  config: Record<string, unknown>;
  /** The validated, defaulted config, as the store records it. */
  resolved: RunConfig;
  /** configHash(resolved): the key the store finds the run by. */
  hash: string;
}

export interface SweepGrid {
  spec: SweepSpec;
  points: SweepPoint[];
  /** Combinations the exclude rules left out. */
  excluded: number;
  /** Points past the grid's own, added by a bracket (sweep-bracket.ts), last in `points`; set once they were looked up. */
  extensions?: number;
}

/** The config runTraining records for `config`: resolveRun's (kept under this name for existing callers). */
export function resolveForStore(config: unknown, label = 'run config'): RunConfig {
  return resolveRun(config, label);
}

function matches(axis: SweepAxis, entry: number, wanted: unknown[]): boolean {
  const e = axis.entries[entry]!;
  const text = canonicalJson(e.value);
  return wanted.some((w) => w === e.label || (w !== undefined && canonicalJson(w) === text));
}

/** "a=x, b=y" over the given axes. */
export function describeLabels(labels: Record<string, string>, axes?: readonly string[]): string {
  return (axes ?? Object.keys(labels)).map((a) => `${a}=${labels[a]}`).join(', ');
}

/**
 * Expand a sweep into its combinations (a SweepSpec, a sweep file path or a
 * sweep object). Throws a ConfigError naming the sweep, each invalid
 * combination and its field; two combinations that give the same run config
 * are an error too.
 */
export function expandSweep(sweep: SweepSpec | string | object, opts: LoadSweepOptions = {}): SweepGrid {
  const spec = isSpec(sweep) ? sweep : loadSweep(sweep, opts);
  const where = spec.label;
  const base = structuredClone(spec.base);
  base.name = spec.runName;
  // The description explains a config file; it is not part of what a sweep's run is.
  delete base.description;
  for (const [path, value] of spec.set) applyPatch(base, path, value, `${where}: set`);

  const sizes = spec.axes.map((a) => a.entries.length);
  const total = sizes.reduce((a, b) => a * b, 1);
  const points: SweepPoint[] = [];
  const errors: string[] = [];
  const seen = new Map<string, number>();
  let excluded = 0;
  const choice = new Array<number>(sizes.length).fill(0);
  for (let k = 0; k < total; k++) {
    // Mixed radix, last axis fastest.
    for (let a = sizes.length - 1, r = k; a >= 0; a--) {
      choice[a] = r % sizes[a]!;
      r = Math.floor(r / sizes[a]!);
    }
    if (spec.exclude.some((rule) => Object.entries(rule).every(([name, wanted]) => {
      const a = spec.axes.findIndex((x) => x.name === name);
      return matches(spec.axes[a]!, choice[a]!, wanted);
    }))) {
      excluded++;
      continue;
    }
    const values: Record<string, unknown> = {};
    const labels: Record<string, string> = {};
    const config = structuredClone(base);
    const index = points.length;
    const text = () => describeLabels(labels);
    try {
      spec.axes.forEach((axis, a) => {
        const e = axis.entries[choice[a]!]!;
        values[axis.name] = e.value;
        labels[axis.name] = e.label;
        for (const [path, value] of e.patch) applyPatch(config, path, value, `${where}: combination #${index} (${text()})`);
      });
      const label = `${where}: combination #${index} (${text() || 'the base'})`;
      let resolved: RunConfig;
      try {
        resolved = resolveRun(config, label);
      } catch (e) {
        const msg = (e as Error).message;
        throw new ConfigError(msg.startsWith(label) ? msg : `${label}: ${msg}`);
      }
      const hash = configHash(resolved);
      const twin = seen.get(hash);
      if (twin !== undefined) {
        throw new ConfigError(`${label}: gives the same run config as combination #${twin} (${describeLabels(points[twin]!.labels)}); ` +
          'remove the duplicate axis value');
      }
      seen.set(hash, index);
      const groupAxes = spec.axes.filter((x) => x.kind !== 'seed').map((x) => x.name);
      points.push({ index, values, labels, seed: resolved.seed, group: describeLabels(labels, groupAxes), config, resolved, hash });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(e.message);
      // Keep numbering the combinations as if this one were valid, so messages match the grid.
      points.push(undefined as unknown as SweepPoint);
    }
  }
  if (errors.length) {
    const shown = errors.slice(0, 5).join('\n  ');
    throw new ConfigError(`${where}: ${errors.length} of ${points.length} combinations are invalid:\n  ${shown}` +
      (errors.length > 5 ? `\n  ... and ${errors.length - 5} more` : ''), errors);
  }
  return { spec, points, excluded };
}

function isSpec(x: unknown): x is SweepSpec {
  return x !== null && typeof x === 'object' && Array.isArray((x as SweepSpec).axes) && typeof (x as SweepSpec).label === 'string'
    && typeof (x as SweepSpec).runName === 'string';
}

// ---------------------------------------------------------------------------
// Shards

export interface Shard {
  /** From 0. */
  index: number;
  count: number;
}

/** "i/N" with 0 <= i < N. */
export function parseShard(text: string, where = '--shard'): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new ConfigError(`${where} ${showValue(text)}: expected i/N, e.g. 0/4 (i counts from 0)`);
  const index = Number(m[1]), count = Number(m[2]);
  if (count < 1) throw new ConfigError(`${where} ${text}: N = ${count} must be >= 1`);
  if (index >= count) throw new ConfigError(`${where} ${text}: i = ${index} must be below N = ${count} (i counts from 0)`);
  return { index, count };
}

/**
 * The shard of a Slurm job array task: SLURM_ARRAY_TASK_ID among
 * SLURM_ARRAY_TASK_COUNT tasks, counted from SLURM_ARRAY_TASK_MIN in steps of
 * SLURM_ARRAY_TASK_STEP (so --array=1-8 and --array=0-14:2 both work).
 * Undefined outside a job array.
 */
export function shardFromEnv(env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  const id = env.SLURM_ARRAY_TASK_ID, count = env.SLURM_ARRAY_TASK_COUNT;
  if (id === undefined || id === '') return undefined;
  const num = (name: string, v: string | undefined, dflt?: number): number => {
    if (v === undefined || v === '') {
      if (dflt !== undefined) return dflt;
      throw new ConfigError(`${name} is not set but SLURM_ARRAY_TASK_ID = ${id} is: cannot tell the number of shards (give --shard i/N)`);
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${name} = ${showValue(v)} is not a non-negative integer`);
    return n;
  };
  const n = num('SLURM_ARRAY_TASK_COUNT', count);
  const min = num('SLURM_ARRAY_TASK_MIN', env.SLURM_ARRAY_TASK_MIN, 0);
  const step = Math.max(1, num('SLURM_ARRAY_TASK_STEP', env.SLURM_ARRAY_TASK_STEP, 1));
  const offset = num('SLURM_ARRAY_TASK_ID', id) - min;
  if (offset < 0 || offset % step !== 0 || offset / step >= n) {
    throw new ConfigError(`SLURM_ARRAY_TASK_ID = ${id} does not fit an array of ${n} tasks from ${min} in steps of ${step}`);
  }
  return { index: offset / step, count: n };
}

/** The points of one shard: index mod count. */
export function shardPoints<T extends Pick<SweepPoint, 'index'>>(points: readonly T[], shard?: Shard): T[] {
  if (!shard) return [...points];
  return points.filter((p) => p.index % shard.count === shard.index);
}

// ---------------------------------------------------------------------------
// Plan: which combinations the store already has

/** done: a run with this config finished, diverged or stalled (a divergence or a stall is a result); running: one is in flight now. */
export type PlanState = 'done' | 'todo' | 'running';

export interface PlannedRun extends SweepPoint {
  state: PlanState;
  /** The run that makes it done (the latest finished, else the latest diverged, else the latest stalled), or the one in flight. */
  run?: RunRecord;
}

export interface SweepPlan {
  grid: SweepGrid;
  shard?: Shard;
  runs: PlannedRun[];
}

/** The state of one config hash in the store. */
export function runState(store: RunStore, hash: string): { state: PlanState; run?: RunRecord } {
  const runs = store.listRuns({ configHash: hash });
  const latest = (status: RunRecord['status']) => runs.filter((r) => r.status === status).at(-1);
  const done = latest('finished') ?? latest('diverged') ?? latest('stalled');
  if (done) return { state: 'done', run: done };
  // A 'running' run whose process is gone on this host is not in flight (markStaleRuns will say so when the store is opened for writing).
  const running = runs.filter((r) => r.status === 'running' && !(r.hostname === hostname() && r.pid != null && !pidAlive(r.pid))).at(-1);
  if (running) return { state: 'running', run: running };
  return { state: 'todo' };
}

/** Each combination of the grid (or of one shard) with its state in the store. */
export function planSweep(grid: SweepGrid, store: RunStore, opts: { shard?: Shard } = {}): SweepPlan {
  const runs = shardPoints(grid.points, opts.shard).map((p) => ({ ...p, ...runState(store, p.hash) }));
  return { grid, ...(opts.shard ? { shard: opts.shard } : {}), runs };
}
