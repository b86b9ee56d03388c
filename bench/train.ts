// Training throughput of the reference models (configs/lm-tiny.json in tokens/s,
// configs/vit-tiny.json in images/s) with only the norm swapped (LayerNorm, RMSNorm,
// DyT), on every backend that loads, with the DyT/LN ratio measured in the same process.
// Usage: node --import tsx bench/train.ts [--quick] [--backends wasm,cpu]
import { join } from 'node:path';
import { initBackend, tf, type BackendName } from '../src/index.js';
import { createRunTask } from '../src/experiments/run.js';
import { readConfigFile, resolveRun } from '../src/experiments/run-config.js';
import { buildModel } from '../src/models/build.js';
import { AdamW, clipByGlobalNorm } from '../src/train/adamw.js';
import { machineInfo, median, writeResults } from './support.js';

const quick = process.argv.includes('--quick');
const arg = process.argv.indexOf('--backends');
const backends = (arg > 0 ? process.argv[arg + 1]! : 'wasm,cpu').split(',') as BackendName[];
const groups: [string, string, string[]][] = [
  ['lm-tiny', 'lm-tiny.json', ['rmsnorm', 'layernorm', 'dyt']],
  ['vit-tiny', 'vit-tiny.json', ['layernorm', 'dyt']],
];

async function stepTime(file: string, norm: string, steps: number) {
  const raw = readConfigFile(join(__dirname, '..', 'configs', file)) as { model: Record<string, unknown> };
  raw.model.norm = { kind: norm }; // the same model, only the norm differs
  const resolved = resolveRun(raw, file);
  // The task as before: seed 0 and one evaluation batch (the config's own seed and evalBatches are not what is timed).
  const cfg = { ...resolved, seed: 0, train: { ...resolved.train, evalBatches: 1 } };
  const { task } = createRunTask(cfg);
  const model = buildModel(cfg);
  const opt = new AdamW(model.namedParameters(), cfg.train);
  const vars = model.trainableVariables();
  const names = new Map(model.namedParameters().map((p) => [p.variable.name, p.name]));
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i <= steps; i++) {
    const b = task.nextBatch();
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => task.loss(model, b.x, b.y), vars);
    const byName = new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g]));
    const { clipped } = clipByGlobalNorm(byName, cfg.train.clipNorm);
    opt.apply(clipped, cfg.train.lr);
    await value.data();
    if (i > 0) times.push(performance.now() - t0); // the first step warms up
    items = b.items;
    tf.dispose([value, b.x, b.y, ...Object.values(grads), ...(clipped === byName ? [] : [...clipped.values()])]);
  }
  opt.dispose();
  model.dispose();
  task.dispose();
  const ms = median(times);
  return { config: file, norm: cfg.model.norm.kind, stepMs: ms, perSec: (items * 1000) / ms, unit: task.unit };
}

async function main(): Promise<void> {
  const rows: Record<string, unknown>[] = [];
  for (const backend of backends) {
    let info;
    try {
      info = await initBackend(backend);
    } catch (e) {
      console.log(`${backend}: not available (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    const steps = quick ? 3 : backend === 'cpu' ? 4 : 8;
    console.log(`\n== ${backend} (median of ${steps} steps after one warm-up, best of 2 rounds) ==`);
    for (const [group, file, norms] of groups) {
      const res: Awaited<ReturnType<typeof stepTime>>[] = [];
      // Two rounds in the same order, keeping each norm's faster round: whichever runs first
      // otherwise pays for JIT warm-up and heap growth.
      const rounds = [];
      for (let round = 0; round < 2; round++) for (const norm of norms) rounds.push(await stepTime(file, norm, steps));
      for (const norm of norms) {
        const r = rounds.filter((x) => x.norm === norm).sort((a, b) => a.stepMs - b.stepMs)[0]!;
        res.push(r);
        console.log(`${file.padEnd(24)} ${r.norm.padEnd(10)} ${r.stepMs.toFixed(0).padStart(6)} ms/step ${r.perSec.toFixed(0).padStart(7)} ${r.unit}/s`);
      }
      const ln = res.find((r) => r.norm === 'layernorm')!, dyt = res.find((r) => r.norm === 'dyt')!;
      console.log(`${group}: DyT/LayerNorm throughput ratio ${(dyt.perSec / ln.perSec).toFixed(3)}`);
      rows.push(...res.map((r) => ({ backend, group, ...r })), { backend, group, dytOverLayerNorm: dyt.perSec / ln.perSec });
    }
    console.log(`wrote ${writeResults('train', backend, { machine: machineInfo(), backend: info, quick, rows: rows.filter((r) => r.backend === backend) })}`);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
