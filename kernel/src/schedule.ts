// The order and the sharing of cores when `dytlab reproduce` runs notebooks
// side by side: pure functions over notebook names, tested on their own.
//
// A notebooks folder may hold schedule.json (optional; a notebook it does not
// name runs with no constraint, after the ones it does):
//   {
//     "after":     { "03-swap-test": ["01-layernorm-mappings"] },  // starts once those ended (they train runs it reuses)
//     "alone":     ["09-efficiency"],                              // runs with nothing beside it, on every core (it times things)
//     "estimates": { "quick": { "04-squash-functions": 900 } }    // seconds on one core, per profile: longest first
//   }
// Notebooks that do not depend on each other run `slots` at a time, longest
// (with everything that waits for it) first, so the last to finish ends close
// together; an "alone" notebook starts when nothing else runs (first, as
// nothing runs at the start) and nothing starts beside it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Schedule {
  after: Record<string, string[]>;
  alone: string[];
  /** profile -> notebook -> seconds on one core. */
  estimates: Record<string, Record<string, number>>;
}

export const EMPTY_SCHEDULE: Schedule = { after: {}, alone: [], estimates: {} };

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Validate a parsed schedule.json; errors name the file and the field. */
export function parseSchedule(raw: unknown, where = 'schedule.json'): Schedule {
  const fail = (why: string): never => { throw new Error(`${where}: ${why}`); };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('expected an object with "after", "alone" and "estimates"');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['after', 'alone', 'estimates', 'description'].includes(k)) fail(`unknown field "${k}" (expected after, alone, estimates, description)`);
  const after: Record<string, string[]> = {};
  if (o.after !== undefined) {
    if (o.after === null || typeof o.after !== 'object' || Array.isArray(o.after)) fail('"after" must be an object: notebook -> [notebooks it waits for]');
    for (const [k, v] of Object.entries(o.after as Record<string, unknown>)) {
      if (!isStringArray(v)) fail(`after["${k}"] must be an array of notebook names`);
      after[k] = v as string[];
    }
  }
  if (o.alone !== undefined && !isStringArray(o.alone)) fail('"alone" must be an array of notebook names');
  const estimates: Record<string, Record<string, number>> = {};
  if (o.estimates !== undefined) {
    if (o.estimates === null || typeof o.estimates !== 'object' || Array.isArray(o.estimates)) fail('"estimates" must be an object: profile -> notebook -> seconds');
    for (const [p, m] of Object.entries(o.estimates as Record<string, unknown>)) {
      if (m === null || typeof m !== 'object' || Array.isArray(m)) fail(`estimates["${p}"] must be an object: notebook -> seconds`);
      estimates[p] = {};
      for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
        if (typeof v !== 'number' || !(v >= 0)) fail(`estimates["${p}"]["${k}"] must be a number of seconds >= 0, got ${JSON.stringify(v)}`);
        estimates[p]![k] = v as number;
      }
    }
  }
  const sched: Schedule = { after, alone: (o.alone as string[] | undefined) ?? [], estimates };
  const cycle = findCycle(sched.after);
  if (cycle) fail(`"after" has a cycle: ${cycle.join(' -> ')}`);
  return sched;
}

/** schedule.json of a notebooks folder, or the empty schedule when there is none. */
export function readSchedule(notebooksDir: string): Schedule {
  const file = join(notebooksDir, 'schedule.json');
  if (!existsSync(file)) return EMPTY_SCHEDULE;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`);
  }
  return parseSchedule(raw, file);
}

function findCycle(after: Record<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (n: string, path: string[]): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'open');
    for (const m of after[n] ?? []) {
      const c = visit(m, [...path, n]);
      if (c) return c;
    }
    state.set(n, 'done');
    return undefined;
  };
  for (const n of Object.keys(after)) {
    const c = visit(n, []);
    if (c) return c;
  }
  return undefined;
}

/**
 * Priority of each notebook: its estimate plus the longest chain of notebooks
 * waiting for it (the critical path through it). Unknown estimates count as
 * the median of the known ones (or 1 when none is known).
 */
export function priorities(names: readonly string[], sched: Schedule, profile: string): Map<string, number> {
  const est = sched.estimates[profile] ?? {};
  const known = names.map((n) => est[n]).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  const fallback = known.length ? known[known.length >> 1]! : 1;
  const own = (n: string) => est[n] ?? fallback;
  const present = new Set(names);
  const waiting = new Map<string, string[]>(); // n -> notebooks that wait for n
  for (const n of names) for (const m of sched.after[n] ?? []) if (present.has(m)) waiting.set(m, [...(waiting.get(m) ?? []), n]);
  const memo = new Map<string, number>();
  const prio = (n: string): number => {
    if (!memo.has(n)) memo.set(n, own(n) + Math.max(0, ...(waiting.get(n) ?? []).map(prio)));
    return memo.get(n)!;
  };
  return new Map(names.map((n) => [n, prio(n)]));
}

export interface SchedulerState {
  pending: readonly string[];
  running: readonly string[];
  ended: ReadonlySet<string>;
}

/**
 * The notebook to start now, or undefined (wait for one to end): at most
 * `slots` at a time; an "alone" one only when nothing runs, and nothing beside
 * it; a notebook waits for the notebooks of this run it comes "after". Among
 * those that may start: "alone" ones first, then the highest priority, then
 * folder order.
 */
export function nextNotebook(state: SchedulerState, sched: Schedule, prio: ReadonlyMap<string, number>, slots: number): string | undefined {
  const { pending, running, ended } = state;
  if (running.length >= Math.max(1, slots)) return undefined;
  if (running.some((r) => sched.alone.includes(r))) return undefined;
  const inRun = new Set([...pending, ...running, ...ended]);
  const ready = pending.filter((n) => (sched.after[n] ?? []).every((m) => !inRun.has(m) || ended.has(m)));
  const alone = ready.filter((n) => sched.alone.includes(n));
  if (alone.length) return running.length === 0 ? alone[0] : undefined;
  let best: string | undefined;
  for (const n of ready) if (best === undefined || (prio.get(n) ?? 0) > (prio.get(best) ?? 0)) best = n;
  return best;
}

/**
 * Cores for one notebook: `cores` split between `slots` (at least one each),
 * or every core for an "alone" notebook.
 */
export function coresFor(name: string, sched: Schedule, cores: number, slots: number): number {
  return sched.alone.includes(name) ? cores : Math.max(1, Math.floor(cores / Math.max(1, slots)));
}

/**
 * A notebook worker's environment for `cores` cores: wasm threads set to the
 * cores (DYTLAB_WASM_THREADS=0, i.e. off, for one core; "1" would mean "on, one
 * per CPU") unless the caller set DYTLAB_WASM_THREADS, or the notebook runs
 * on every core (then the engine's default applies). A notebook with a `jobs`
 * parameter (sweep workers) gets `cores` workers of one thread each.
 */
export function workerEnvFor(env: NodeJS.ProcessEnv, cores: number, allCores: number, sweepJobs: boolean): NodeJS.ProcessEnv {
  if (env.DYTLAB_WASM_THREADS !== undefined) return env;
  if (!sweepJobs && cores >= allCores) return env;
  return { ...env, DYTLAB_WASM_THREADS: sweepJobs || cores <= 1 ? '0' : String(cores) };
}
