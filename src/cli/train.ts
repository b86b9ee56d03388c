// `dytlab train --config FILE`: one run, progress on the terminal, records in the store.
import { readConfigFile } from '../experiments/run-config.js';
import { runTraining } from '../experiments/run.js';
import { readCheckpoint } from '../train/checkpoint.js';
import { ConfigError, dottedPath } from '../util/schema.js';

export interface TrainOptions {
  config?: string;
  set: string[];
  store?: string;
  resume?: string;
  quiet: boolean;
  allowLarge: boolean;
}

/** Apply `a.b.c=value` overrides (value parsed as JSON when it parses, else kept as a string). */
export function applyOverrides(config: unknown, sets: string[]): unknown {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(`--set: the config is ${config === null ? 'null' : Array.isArray(config) ? 'an array' : `a ${typeof config}`}, not an object`);
  }
  const root = structuredClone(config) as Record<string, unknown>;
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${s}: expected key.path=value`);
    // Checked before anything is written: `__proto__.x=1` must not reach Object.prototype.
    const path = dottedPath(s.slice(0, eq), `--set ${s}`), raw = s.slice(eq + 1);
    let value: unknown;
    try { value = JSON.parse(raw); } catch { value = raw; }
    let node = root;
    for (const k of path.slice(0, -1)) {
      if (!Object.hasOwn(node, k)) node[k] = {};
      if (typeof node[k] !== 'object' || node[k] === null) throw new ConfigError(`--set ${s}: '${k}' is not an object in the config`);
      node = node[k] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return root;
}

export async function trainCommand(o: TrainOptions): Promise<number> {
  if (!o.config && !o.resume) throw new ConfigError('train: give --config FILE (or --resume CHECKPOINT)');
  const base = o.config ? readConfigFile(o.config) : readCheckpoint(o.resume!).config;
  const config = applyOverrides(base, o.set);
  const r = await runTraining(config, {
    ...(o.store !== undefined ? { store: o.store } : {}),
    ...(o.resume ? { resumeFrom: o.resume } : {}),
    progress: !o.quiet,
    // Ctrl-C / SIGTERM: the run is recorded as interrupted at its step, with how to resume.
    handleSignals: true,
    allowLarge: o.allowLarge,
  });
  const evalText = r.lastEval ? Object.entries(r.lastEval).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ') : 'no evaluation';
  const baseline = typeof r.taskInfo.unigramValLoss === 'number' ? ` (unigram baseline ${r.taskInfo.unigramValLoss.toFixed(4)})` : '';
  console.log(`run ${r.runId ?? '(not stored)'} ${r.config.name}: ${r.status}${r.reason ? ` (${r.reason})` : ''} after ${r.step} steps; ${evalText}${baseline}`);
  if (r.checkpoints.length) console.log(`checkpoint: ${r.checkpoints[r.checkpoints.length - 1]}`);
  return r.status === 'finished' ? 0 : r.status === 'diverged' ? 3 : r.status === 'stalled' ? 4 : 1;
}
