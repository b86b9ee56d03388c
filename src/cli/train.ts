// `dytlab train --config FILE`: one run, progress on the terminal, records in the store.
import { readConfigFile } from '../experiments/run-config.js';
import { runTraining } from '../experiments/run.js';
import { readCheckpoint } from '../train/checkpoint.js';
import { ConfigError } from '../util/schema.js';

/** Apply `a.b.c=value` overrides (value parsed as JSON when it parses, else kept as a string). */
export function applyOverrides(config: unknown, sets: string[]): unknown {
  const root = structuredClone(config) as Record<string, unknown>;
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${s}: expected key.path=value`);
    const path = s.slice(0, eq).split('.'), raw = s.slice(eq + 1);
    let value: unknown;
    try { value = JSON.parse(raw); } catch { value = raw; }
    let node = root;
    for (const k of path.slice(0, -1)) {
      if (node[k] === undefined) node[k] = {};
      if (typeof node[k] !== 'object' || node[k] === null) throw new ConfigError(`--set ${s}: '${k}' is not an object in the config`);
      node = node[k] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return root;
}

export async function trainCommand(args: string[]): Promise<number> {
  const sets: string[] = [];
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`option ${a} needs a value`);
      return v;
    };
    if (a === '--set') sets.push(value());
    else if (a === '--config' || a === '--store' || a === '--resume') flags[a] = value();
    else if (a === '--quiet') flags[a] = true;
    else throw new Error(`train: unknown option '${a}' (known: --config, --set, --store, --resume, --quiet)`);
  }
  const configPath = flags['--config'] as string | undefined, resume = flags['--resume'] as string | undefined;
  if (!configPath && !resume) throw new Error('train: give --config FILE (or --resume CHECKPOINT)');
  const base = configPath ? readConfigFile(configPath) : readCheckpoint(resume!).config;
  const config = applyOverrides(base, sets);
  const quiet = Boolean(flags['--quiet']);
  const r = await runTraining(config, {
    ...(flags['--store'] ? { store: flags['--store'] as string } : {}),
    ...(resume ? { resumeFrom: resume } : {}),
    progress: !quiet,
  });
  const evalText = r.lastEval ? Object.entries(r.lastEval).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ') : 'no evaluation';
  const baseline = typeof r.taskInfo.unigramValLoss === 'number' ? ` (unigram baseline ${r.taskInfo.unigramValLoss.toFixed(4)})` : '';
  console.log(`run ${r.runId ?? '(not stored)'} ${r.config.name}: ${r.status}${r.reason ? ` (${r.reason})` : ''} after ${r.step} steps; ${evalText}${baseline}`);
  if (r.checkpoints.length) console.log(`checkpoint: ${r.checkpoints[r.checkpoints.length - 1]}`);
  return r.status === 'finished' ? 0 : r.status === 'diverged' ? 3 : 1;
}
