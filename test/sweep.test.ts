// Sweeps (src/experiments/sweep*.ts, src/cli/sweep.ts, src/cli/store.ts):
// expansion, shards, plans, parallel workers, merging shard stores, and
// resuming after SIGKILL.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type RunStore } from '../src/experiments/store/index.js';
import { loadSweep } from '../src/experiments/sweep-config.js';
import { expandSweep, parseShard, planSweep, shardFromEnv, shardPoints } from '../src/experiments/sweep.js';
import { runSweep } from '../src/experiments/sweep-runner.js';
import { makespan } from '../src/experiments/sweep-estimate.js';
import { main } from '../src/cli.js';
import { ConfigError } from '../src/util/schema.js';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-sweep-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(TMP, `${name}-${counter++}`);

const BASE = {
  model: { kind: 'lm', context: 16, dModel: 16, nLayers: 1, nHeads: 2, mlp: 'gelu' },
  data: { dataset: 'markov', vocabSize: 16, branching: 3, length: 4000 },
  train: { steps: 20, batchSize: 8, lr: 0.01, warmupSteps: 2, evalEvery: 10, evalBatches: 2, traceEvery: 10 },
};

function writeJson(name: string, value: unknown): string {
  const path = `${fresh(name)}.json`;
  writeFileSync(path, JSON.stringify(value, null, 2));
  return path;
}

function capture(): { io: { stdout: { write(s: string): boolean }; stderr: { write(s: string): boolean } }; out: () => string; err: () => string } {
  let out = '', err = '';
  return {
    io: { stdout: { write: (s: string) => { out += s; return true; } }, stderr: { write: (s: string) => { err += s; return true; } } },
    out: () => out, err: () => err,
  };
}

function throwsNaming(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: Error) => {
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

/** Finished runs by config hash -> final val/loss. */
function finals(store: RunStore): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of store.listRuns({ status: 'finished' })) {
    assert.ok(!out.has(r.configHash), `config ${r.configHash.slice(0, 8)} finished more than once`);
    out.set(r.configHash, store.metricSeries(r.id, 'val/loss').value.at(-1)!);
  }
  return out;
}

describe('sweep expansion', () => {
  const sweep = {
    name: 'grid', base: BASE,
    axes: { 'model.norm': [{ kind: 'rmsnorm' }, { kind: 'dyt', alpha0: 1 }], 'train.lr': [0.01, 0.003, 0.001] },
    seeds: [0, 1],
  };

  test('a small grid lists every combination once, the last axis fastest, each validated and hashed', () => {
    const grid = expandSweep(sweep);
    assert.equal(grid.points.length, 2 * 3 * 2);
    assert.deepEqual(grid.points.map((p) => p.index), [...Array(12).keys()]);
    // The product, built independently, in row-major order.
    const expected: string[] = [];
    for (const n of ['rmsnorm', 'dyt(alpha0=1)']) for (const lr of ['0.01', '0.003', '0.001']) for (const s of ['0', '1']) expected.push(`${n}|${lr}|${s}`);
    assert.deepEqual(grid.points.map((p) => `${p.labels['model.norm']}|${p.labels['train.lr']}|${p.labels.seed}`), expected);
    assert.equal(new Set(grid.points.map((p) => p.hash)).size, 12);
    const p7 = grid.points[7]!; // dyt, lr 0.01, seed 1
    assert.deepEqual(p7.config.model, { ...BASE.model, norm: { kind: 'dyt', alpha0: 1 } });
    assert.equal((p7.config.train as { lr: number }).lr, 0.01);
    assert.equal(p7.config.seed, 1);
    assert.equal(p7.seed, 1);
    assert.equal(p7.config.name, 'grid');
    assert.equal(p7.resolved.model.kind === 'lm' && p7.resolved.model.vocabSize, 16);
    assert.equal(p7.group, 'model.norm=dyt(alpha0=1), train.lr=0.01');
    assert.equal(p7.values['train.lr'], 0.01);
  });

  test('variants, zip groups, exclude rules and profiles', () => {
    const s = {
      name: 'mixed', base: BASE, runName: 'shared',
      variants: { norm: { ln: { 'model.norm': { kind: 'layernorm' } }, tanh: { 'model.norm': { kind: 'dyt' }, 'train.minLr': null } } },
      zip: [{ 'model.dModel': [16, 32], 'model.nHeads': [2, 4] }],
      seeds: [3, 4, 5],
      exclude: [{ norm: 'ln', 'model.dModel+model.nHeads': { 'model.dModel': 32, 'model.nHeads': 4 } }],
      profiles: { quick: { seeds: [3], set: { 'train.steps': 10 } } },
    };
    const full = expandSweep(s);
    assert.equal(full.excluded, 3);
    assert.equal(full.points.length, 2 * 2 * 3 - 3);
    assert.deepEqual(full.spec.axes.map((a) => a.name), ['norm', 'model.dModel+model.nHeads', 'seed']);
    assert.ok(!full.points.some((p) => p.labels.norm === 'ln' && p.labels['model.dModel+model.nHeads'] === '32 / 4'));
    const wide = full.points.find((p) => p.labels.norm === 'tanh' && p.labels['model.dModel+model.nHeads'] === '32 / 4')!;
    assert.equal((wide.config.model as { dModel: number }).dModel, 32);
    assert.equal((wide.config.model as { nHeads: number }).nHeads, 4);
    assert.equal(wide.config.name, 'shared');
    const quick = expandSweep(s, { profile: 'quick' });
    assert.equal(quick.spec.profile, 'quick');
    assert.deepEqual(quick.points.map((p) => p.seed), [3, 3, 3]);
    assert.ok(quick.points.every((p) => p.resolved.train.steps === 10));
    // A different budget is a different run: no hash is shared with the full profile.
    assert.ok(quick.points.every((q) => !full.points.some((p) => p.hash === q.hash)));
  });

  test('an axis may set a field inside the object a variant set', () => {
    const grid = expandSweep({
      name: 'nested', base: BASE,
      variants: { shape: { tanh: { 'model.norm': { kind: 'dyt', squash: 'tanh' } }, hard: { 'model.norm': { kind: 'dyt', squash: 'hardtanh' } } } },
      axes: { 'model.norm.alpha0': [0.5, 2] },
    });
    assert.deepEqual(grid.points.map((p) => (p.config.model as { norm: unknown }).norm), [
      { kind: 'dyt', squash: 'tanh', alpha0: 0.5 }, { kind: 'dyt', squash: 'tanh', alpha0: 2 },
      { kind: 'dyt', squash: 'hardtanh', alpha0: 0.5 }, { kind: 'dyt', squash: 'hardtanh', alpha0: 2 },
    ]);
  });

  test('bad sweep files give errors naming the file and the field', () => {
    const missingName = writeJson('bad', { base: BASE });
    throwsNaming(() => loadSweep(missingName), new RegExp(missingName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), /name is required/);
    throwsNaming(() => loadSweep(writeJson('bad', { name: 'x', base: BASE, axis: {} })), /sweep .*bad-\d+\.json/, /unknown field 'axis'/);
    throwsNaming(() => loadSweep(writeJson('bad', { name: 'x', base: BASE, axes: { 'train lr': [1] } })), /axes\.train lr/, /dotted path/);
    throwsNaming(() => loadSweep(writeJson('bad', { name: 'x', base: BASE, axes: { 'train.lr': [] } })), /axes\.train\.lr/, /at least one value/);
    throwsNaming(() => loadSweep(writeJson('bad', { name: 'x', base: BASE, seeds: [1, 1] })), /seeds/, /must not repeat/);
    throwsNaming(() => loadSweep(writeJson('bad', { name: 'x', base: 'nowhere.json' })), /base/, /nowhere\.json: cannot read/);
    throwsNaming(() => loadSweep(writeJson('bad', { name: 'x', base: BASE }), { profile: 'quick' }), /no profile "quick"/);
    throwsNaming(() => loadSweep(writeJson('bad', { name: 'x', base: BASE, axes: { 'train.lr': [1] }, exclude: [{ lr: 1 }] })),
      /exclude\[0\] names the axis "lr"/);
    throwsNaming(() => loadSweep(writeJson('bad', { name: 'x', base: BASE, zip: [{ 'train.lr': [1, 2], 'train.steps': [3] }] })),
      /zip\.0/, /equally many values \(got 2, 1\)/);
    // Invalid combinations name the combination and the field.
    const badLr = writeJson('bad', { name: 'x', base: BASE, axes: { 'train.lr': [0.01, -1] } });
    throwsNaming(() => expandSweep(badLr), /1 of 2 combinations are invalid/, /combination #1 \(train\.lr=-1\)/, /train: lr = -1 is invalid/);
    const badShape = writeJson('bad', { name: 'x', base: BASE, axes: { 'model.norm': [{ kind: 'dyt', alpha: 'sometimes' }] } });
    throwsNaming(() => expandSweep(badShape), /combination #0/, /model: norm\.alpha = "sometimes" is not one of/);
    const twins = writeJson('bad', { name: 'x', base: BASE, axes: { 'train.lr': [0.01, 0.010] , 'train.steps': [20] } });
    assert.doesNotThrow(() => loadSweep(twins)); // JSON reads 0.010 as 0.01: the file is valid ...
    throwsNaming(() => expandSweep(twins), /combination #1 .*same run config as combination #0/); // ... but gives one config twice
    const clash = writeJson('bad', { name: 'x', base: BASE, axes: { 'train.lr': [0.01] }, variants: { v: { a: { 'train.lr': 0.1 } } } });
    throwsNaming(() => loadSweep(clash), /axes "v" and "train\.lr" both set train\.lr/);
    assert.throws(() => loadSweep(writeJson('bad', { name: 'x', base: BASE, variants: { v: { 1: {} } } })), ConfigError);
  });

  test('every sweep in configs/sweeps expands, in every profile', () => {
    const dir = join(ROOT, 'configs', 'sweeps');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json') || f.endsWith('.yaml'));
    assert.ok(files.length >= 5, `expected the example sweeps, found ${files.join(', ')}`);
    for (const f of files) {
      const spec = loadSweep(join(dir, f));
      for (const profile of [undefined, ...spec.profiles]) {
        const grid = expandSweep(join(dir, f), profile ? { profile } : {});
        assert.ok(grid.points.length > 0, `${f} ${profile ?? ''}: no combinations`);
      }
    }
  });
});

describe('shards', () => {
  const grid = expandSweep({ name: 'shards', base: BASE, axes: { 'train.lr': [0.01, 0.003, 0.001, 0.0003, 0.0001] }, seeds: [0, 1, 2] });

  test('the shards of i/N partition the grid exactly, for several N', () => {
    for (const n of [1, 2, 3, 4, 7, 15, 16]) {
      const parts = Array.from({ length: n }, (_, i) => shardPoints(grid.points, parseShard(`${i}/${n}`)).map((p) => p.index));
      const all = parts.flat().sort((a, b) => a - b);
      assert.deepEqual(all, grid.points.map((p) => p.index), `N = ${n}: union is not the grid once`);
      const sizes = parts.map((p) => p.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `N = ${n}: unbalanced ${sizes.join(',')}`);
      parts.forEach((p, i) => assert.ok(p.every((k) => k % n === i)));
    }
  });

  test('--shard and Slurm array variables', () => {
    assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
    throwsNaming(() => parseShard('5/5'), /i = 5 must be below N = 5/);
    throwsNaming(() => parseShard('1-4'), /expected i\/N/);
    throwsNaming(() => parseShard('0/0'), /N = 0 must be >= 1/);
    assert.equal(shardFromEnv({}), undefined);
    assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 3, count: 4 });
    assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' }), { index: 3, count: 4 });
    assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '6', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '2', SLURM_ARRAY_TASK_STEP: '2' }),
      { index: 2, count: 3 });
    throwsNaming(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '3' }), /SLURM_ARRAY_TASK_COUNT is not set/);
    throwsNaming(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '9', SLURM_ARRAY_TASK_COUNT: '4' }), /does not fit/);
  });

  test('makespan schedules runs in order on the free workers', () => {
    assert.equal(makespan([4, 1, 1, 1], 2), 4);
    assert.equal(makespan([1, 1, 1, 1, 1], 2), 3);
    assert.equal(makespan([3, 3], 1), 6);
  });
});

describe('running sweeps (worker processes)', () => {
  const tiny = join(ROOT, 'configs', 'sweeps', 'tiny.json');

  test('unsharded vs two shards merged: the same runs with the same final metrics; merging twice adds nothing', async () => {
    const whole = `${fresh('whole')}.sqlite`;
    const grid = expandSweep(tiny);
    assert.equal(grid.points.length, 4);
    const empty = openStore(':memory:');
    let plan = planSweep(grid, empty);
    empty.close();
    const events: string[] = [];
    const r = await runSweep(plan, { store: whole, jobs: 2, onEvent: (e) => events.push(e.type) });
    assert.deepEqual([r.finished, r.failed, r.alreadyDone], [4, 0, 0], JSON.stringify(r.outcomes.map((o) => o.outcome)));
    assert.equal(events.filter((e) => e === 'start').length, 4);
    assert.ok(events.includes('progress'));

    // Each shard into its own store, through the CLI.
    const shards = [0, 1].map((i) => `${fresh(`shard${i}`)}.sqlite`);
    for (const [i, path] of shards.entries()) {
      const c = capture();
      assert.equal(await main(['sweep', tiny, '--store', path, '--shard', `${i}/2`, '--jobs', '2', '--quiet'], c.io), 0);
      assert.match(c.out(), /2 combinations: 0 already done, 2 finished, 0 diverged, 0 stalled, 0 failed/);
    }
    const merged = `${fresh('merged')}.sqlite`;
    const m1 = capture();
    assert.equal(await main(['store', 'merge', merged, ...shards], m1.io), 0);
    assert.match(m1.out(), /2 runs added[^]*2 runs added/);
    const m2 = capture();
    assert.equal(await main(['store', 'merge', merged, ...shards], m2.io), 0);
    assert.match(m2.out(), /0 runs added .* 2 already in/);

    const a = openStore(whole, { readonly: true }), b = openStore(merged, { readonly: true });
    try {
      assert.equal(b.listRuns().length, 4, 'no duplicates after merging twice');
      const fa = finals(a), fb = finals(b);
      assert.deepEqual([...fb.keys()].sort(), [...fa.keys()].sort());
      assert.deepEqual([...fa.keys()].sort(), grid.points.map((p) => p.hash).sort());
      for (const [hash, v] of fa) assert.equal(fb.get(hash), v, `config ${hash.slice(0, 8)}: same seed and backend, same final loss`);
    } finally {
      a.close();
      b.close();
    }

    // Nothing left to do: the plan says done, and a second sweep runs nothing.
    const store = openStore(whole);
    plan = planSweep(grid, store);
    store.close();
    assert.deepEqual(plan.runs.map((p) => p.state), ['done', 'done', 'done', 'done']);
    const again = await runSweep(plan, { store: whole, jobs: 2 });
    assert.deepEqual([again.alreadyDone, again.finished], [4, 0]);

    // store ls lists them with their final metric.
    const ls = capture();
    await main(['store', 'ls', '--store', merged], ls.io);
    assert.match(ls.out(), /val\/loss/);
    assert.equal(ls.out().split('\n').filter((l) => / finished /.test(l)).length, 4);
    assert.match(ls.out(), /4 runs in /);

    // Dry run: the plan, and an estimate taken from the store's similar runs.
    const dry = capture();
    assert.equal(await main(['sweep', tiny, '--store', whole, '--dry-run'], dry.io), 0);
    assert.match(dry.out(), /4 combinations \(model\.norm x2, seed x2\)/);
    assert.equal(dry.out().split('\n').filter((l) => /^\d+\s+[0-9a-f]{8}\s+done\s/.test(l)).length, 4);
    assert.match(dry.out(), /done 4, running elsewhere 0, to run 0\nnothing to run/);
    const longer = writeJson('longer', { name: 'tiny', base: BASE, set: { 'train.steps': 40 }, axes: { 'model.norm': [{ kind: 'rmsnorm' }] } });
    const dry2 = capture();
    await main(['sweep', longer, '--store', whole, '--dry-run', '--jobs', '1'], dry2.io);
    assert.match(dry2.out(), /to run 1/);
    assert.match(dry2.out(), /estimated time: .* with 1 worker .*1 from the wall time per step of similar finished runs in the store \(4 runs\)/);
  });

  test('dry run on an empty store: every combination to run, estimated from the model size, nothing written', async () => {
    const path = `${fresh('empty')}.sqlite`;
    const c = capture();
    assert.equal(await main(['sweep', tiny, '--store', path, '--dry-run', '--shard', '1/2', '--jobs', '2'], c.io), 0);
    const out = c.out();
    assert.match(out, /shard 1\/2: 2 of them/);
    const rows = out.split('\n').filter((l) => /^\d+\s+[0-9a-f]{8}\s+todo\s/.test(l));
    assert.deepEqual(rows.map((l) => Number(l.split(/\s+/)[0])), [1, 3]);
    assert.match(out, /estimated time: \d+ s with 2 workers .*2 from the model's size/);
    assert.throws(() => openStore(path, { readonly: true }), /does not exist/);
  });

  test('killed with SIGKILL mid-sweep (the sweep; then the sweep and its worker), run again: every run finished once, none left running', async () => {
    const file = writeJson('kill', {
      name: 'kill', base: { ...BASE, train: { ...BASE.train, steps: 150, evalEvery: 50 } },
      axes: { 'train.lr': [0.01, 0.003, 0.001, 0.0003] }, seeds: [0],
    });
    const path = `${fresh('kill')}.sqlite`;
    const runsNow = () => {
      try {
        const s = openStore(path, { readonly: true });
        try {
          return s.listRuns().map((r) => ({ ...r, lastStep: s.metricSeries(r.id, 'train/loss').step.at(-1) ?? 0 }));
        } finally {
          s.close();
        }
      } catch {
        return []; // not created yet
      }
    };
    /** Starts the CLI, waits until a run finished (beyond `finishedBefore`) and one is in flight, SIGKILLs it. */
    const startAndKill = async (finishedBefore: number, killWorker: boolean) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli-main.ts'), 'sweep', file, '--store', path, '--jobs', '1', '--quiet'],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      const deadline = Date.now() + 120_000;
      for (;;) {
        await new Promise((r) => setTimeout(r, 100));
        assert.ok(Date.now() < deadline, `the sweep never had a new run finished and one in flight: ${output}`);
        assert.equal(child.exitCode, null, `the sweep ended before it could be killed: ${output}`);
        const runs = runsNow();
        // Early in its run, so that the worker cannot finish before it notices (it checks at every step).
        const running = runs.find((r) => r.status === 'running' && r.lastStep < 75);
        if (runs.filter((r) => r.status === 'finished').length > finishedBefore && running) {
          child.kill('SIGKILL');
          if (killWorker) process.kill(running.pid!, 'SIGKILL');
          await exited;
          return running;
        }
      }
    };

    // 1. Only the sweep dies: its worker notices at its next step and records its run failed.
    const orphan = await startAndKill(0, false);
    for (let i = 0; i < 100 && runsNow().find((r) => r.id === orphan.id)!.status === 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    const o = runsNow().find((r) => r.id === orphan.id)!;
    assert.equal(o.status, 'failed');
    assert.match(o.statusReason!, /sweep process \d+ died/);
    // 2. The sweep and its worker die together: the worker's run stays 'running' under a dead pid ...
    const finishedSoFar = runsNow().filter((r) => r.status === 'finished').length;
    const victim = await startAndKill(finishedSoFar, true);
    assert.equal(runsNow().find((r) => r.id === victim.id)!.status, 'running');

    // 3. ... until the next sweep, which marks it failed and runs what is missing.
    const c = capture();
    const code = await main(['sweep', file, '--store', path, '--jobs', '2', '--quiet'], c.io);
    assert.equal(code, 0, c.out());
    assert.match(c.out(), /4 combinations: [23] already done/);
    const runs = runsNow();
    assert.equal(runs.filter((r) => r.status === 'running').length, 0, 'a run is still marked running');
    for (const p of expandSweep(file).points) {
      const finished = runs.filter((r) => r.configHash === p.hash && r.status === 'finished');
      assert.equal(finished.length, 1, `combination #${p.index} has ${finished.length} finished runs`);
    }
    const killed = runs.find((r) => r.id === victim.id)!;
    assert.equal(killed.status, 'failed');
    assert.match(killed.statusReason!, /process died .*no longer exists/);
  });
});

describe('stalled runs in sweeps', () => {
  test('a stalled combination is a result: counted as stalled, not run again by the next sweep', async () => {
    const file = fresh('stall.json'), path = fresh('stall.sqlite');
    // The tiny sweep's grid at a learning rate that cannot learn, with the stall check on: every run stalls at step 10.
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(join(ROOT, 'configs', 'sweeps', 'tiny.json'), 'utf8')), name: 'stall',
      set: { 'train.lr': 1e-8, 'train.stall': { atFraction: 0.5, margin: 0.05 } }, seeds: [0] }));
    const c1 = capture();
    assert.equal(await main(['sweep', file, '--store', path, '--jobs', '2', '--quiet'], c1.io), 0, c1.out() + c1.err());
    assert.match(c1.out(), /2 combinations: 0 already done, 0 finished, 0 diverged, 2 stalled, 0 failed/);
    const store = openStore(path, { readonly: true });
    assert.deepEqual(store.listRuns().map((r) => r.status).sort(), ['stalled', 'stalled']);
    store.close();
    const c2 = capture();
    assert.equal(await main(['sweep', file, '--store', path, '--jobs', '2', '--quiet'], c2.io), 0);
    assert.match(c2.out(), /2 combinations: 2 already done, 0 finished/);
  });
});
