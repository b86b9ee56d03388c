// The convergence checks on the reference configs: lm-tiny (RMSNorm, DyT) must
// reach a Moby-Dick validation loss at least 20% below the unigram baseline, and
// vit-tiny (LayerNorm, DyT) at least 95% MNIST test accuracy. Runs the configs
// two at a time (one per core) with `dytlab train`, then reads the results from
// the run store and prints them with wall times. Exit 1 if a check fails.
// Usage: node --import tsx bench/convergence.ts [--store runs/convergence.sqlite] [--only lm|vit|lm-tiny-dyt.json,...]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { openStore } from '../src/experiments/store/index.js';

const root = join(__dirname, '..');
const argv = process.argv.slice(2);
const storePath = argv.includes('--store') ? argv[argv.indexOf('--store') + 1]! : join(root, 'runs', 'convergence.sqlite');
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;

interface Check { config: string; metric: string; pass: (v: number, info: Record<string, number>) => boolean; goal: string }
const checks: Check[] = ([
  { config: 'lm-tiny.json', metric: 'val/loss', pass: (v, i) => v <= 0.8 * i.unigramValLoss!, goal: '<= 0.8 x unigram' },
  { config: 'lm-tiny-dyt.json', metric: 'val/loss', pass: (v, i) => v <= 0.8 * i.unigramValLoss!, goal: '<= 0.8 x unigram' },
  { config: 'vit-tiny.json', metric: 'val/accuracy', pass: (v) => v >= 0.95, goal: '>= 0.95' },
  { config: 'vit-tiny-dyt.json', metric: 'val/accuracy', pass: (v) => v >= 0.95, goal: '>= 0.95' },
] as Check[]).filter((c) => !only || only.split(',').some((o) => c.config === o || c.config.startsWith(`${o}-`) || c.config === `${o}.json` || (o === 'lm' || o === 'vit') && c.config.startsWith(o)));

function train(config: string): Promise<{ config: string; code: number; seconds: number; line: string }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(root, 'bin', 'dytlab.js'), 'train', '--config', join(root, 'configs', config), '--store', storePath, '--quiet'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d; });
    p.on('close', (code) => {
      const line = out.trim().split('\n')[0] ?? '';
      console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${line}`);
      resolve({ config, code: code ?? 1, seconds: (Date.now() - t0) / 1000, line });
    });
  });
}

async function main(): Promise<void> {
  console.log(`training ${checks.length} reference configs, two at a time, into ${storePath}`);
  const queue = [...checks.map((c) => c.config)];
  const done: Awaited<ReturnType<typeof train>>[] = [];
  await Promise.all([0, 1].map(async () => {
    for (let c = queue.shift(); c; c = queue.shift()) done.push(await train(c));
  }));
  const store = openStore(storePath);
  let ok = true;
  console.log(`\n${'config'.padEnd(20)} ${'run'.padEnd(28)} ${'metric'.padEnd(13)} ${'value'.padStart(8)} ${'goal'.padEnd(18)} ${'wall'.padStart(6)} result`);
  for (const c of checks) {
    const d = done.find((x) => x.config === c.config)!;
    const id = /^run (\S+) /.exec(d.line)?.[1];
    const run = id && store.hasRun(id) ? store.getRun(id) : undefined;
    if (!run) { ok = false; console.log(`${c.config.padEnd(20)} no run recorded (exit ${d.code})`); continue; }
    const series = store.metricSeries(run.id, c.metric);
    const value = series.value.at(-1) ?? NaN;
    const info = Object.fromEntries(store.metrics(run.id, { toStep: 0 }).map((m) => [m.name, m.value]));
    const pass = run.status === 'finished' && c.pass(value, info);
    ok &&= pass;
    const goal = c.metric === 'val/loss' ? `${c.goal} (${(0.8 * info.unigramValLoss!).toFixed(3)})` : c.goal;
    console.log(`${c.config.padEnd(20)} ${run.id.padEnd(28)} ${c.metric.padEnd(13)} ${value.toFixed(4).padStart(8)} ${goal.padEnd(18)} ${d.seconds.toFixed(0).padStart(5)}s ${pass ? 'PASS' : `FAIL (${run.status})`}`);
  }
  store.close();
  process.exitCode = ok ? 0 : 1;
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
