// Hardening of the run store and the run lifecycle: atomic claims (two sweeps
// on one store), interrupted and dead runs, read-only stores, corrupt files and
// configs, failed merges, the progress bar of a diverged run, resume checks.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { initBackend } from '../src/engine/backend.js';
import { mergeStores, openStore, STORE_SCHEMA_VERSION, StoreError } from '../src/experiments/store/index.js';
import { readConfigFile } from '../src/experiments/run-config.js';
import { runTraining } from '../src/experiments/run.js';
import { expandSweep, planSweep } from '../src/experiments/sweep.js';
import { runSweep } from '../src/experiments/sweep-runner.js';
import { storeLs, storeMerge } from '../src/cli/store.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { progressBar } from '../src/train/progress.js';
import { readSafetensors, writeSafetensors } from '../src/train/safetensors.js';
import { ConfigError } from '../src/util/schema.js';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-hardening-'));
chmodSync(TMP, 0o755); // the read-only test reads it as another user
after(() => {
  spawnSync('chmod', ['-R', 'u+w', TMP]);
  rmSync(TMP, { recursive: true, force: true });
});
let counter = 0;
const fresh = (name: string) => join(TMP, `${name}-${counter++}`);
const BACKEND = { backend: 'cpu' };
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function capture(): { io: { stdout: { write(s: string): boolean } }; out: () => string } {
  let out = '';
  return { io: { stdout: { write: (s: string) => { out += s; return true; } } }, out: () => out };
}

/** A store file with `n` finished runs (a few metric rows each), closed. */
function storeWithRuns(path: string, n: number, label = 'r'): string[] {
  const s = openStore(path);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = s.createRun({ config: { label, i, pad: 'x'.repeat(200) }, kind: 'lm', seed: i, backend: BACKEND });
    s.startRun(r.id);
    s.logMetricsBatch(r.id, Array.from({ length: 50 }, (_, k) => ({ step: k, name: 'val/loss', value: 1 / (k + 1) })));
    s.finishRun(r.id, { status: 'finished', step: 49 });
    ids.push(r.id);
  }
  s.close();
  return ids;
}

/** Overwrites the pages of a table's b-tree root with garbage (after the file header). */
function corruptTable(path: string, table: string): void {
  const db = new Database(path, { readonly: true });
  const root = db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').pluck().get(table) as number;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const buf = readFileSync(path);
  buf.fill(0x5a, (root - 1) * pageSize + (root === 1 ? 100 : 0), root * pageSize);
  writeFileSync(path, buf);
}

describe('claiming runs: two sweeps on one store', () => {
  test('claimRun: one claim per config; done and live runs refuse it; a dead claimant\'s run is marked failed', () => {
    const path = `${fresh('claim')}.sqlite`;
    const s = openStore(path);
    try {
      const init = { config: { a: 1 }, kind: 'lm', seed: 0, backend: BACKEND };
      const first = s.claimRun(init);
      assert.equal(first.claimed, true);
      assert.equal(first.run.status, 'running');
      assert.equal(first.run.pid, process.pid);
      const second = s.claimRun(init);
      assert.deepEqual([second.claimed, !second.claimed && second.state, second.run.id], [false, 'running', first.run.id]);
      s.finishRun(first.run.id, { status: 'finished', step: 3 });
      const third = s.claimRun(init);
      assert.deepEqual([third.claimed, !third.claimed && third.state], [false, 'done']);
      // A run 'running' under a pid that no longer exists is not in flight.
      const other = { ...init, config: { a: 2 } };
      const dead = s.claimRun(other).run;
      const db = new Database(path);
      db.prepare('UPDATE runs SET pid = ? WHERE id = ?').run(2 ** 22 + 12345, dead.id);
      db.close();
      const retry = s.claimRun(other);
      assert.equal(retry.claimed, true);
      assert.notEqual(retry.run.id, dead.id);
      assert.equal(s.getRun(dead.id).status, 'failed');
      // An interrupted run is not done: claiming it again is allowed.
      s.finishRun(retry.run.id, { status: 'interrupted', step: 2 });
      assert.equal(s.claimRun(other).claimed, true);
    } finally {
      s.close();
    }
  });

  test('two sweeps of the same grid at once on one store: every combination finished exactly once', async () => {
    const path = `${fresh('twosweeps')}.sqlite`;
    const grid = expandSweep(join(ROOT, 'configs', 'sweeps', 'tiny.json'));
    assert.equal(grid.points.length, 4);
    openStore(path).close();
    // Both plan on the empty store: each believes all four are to do.
    const plan = () => { const s = openStore(path, { readonly: true }); try { return planSweep(grid, s); } finally { s.close(); } };
    const events: string[] = [];
    const [a, b] = await Promise.all([plan(), plan()].map((p, k) => runSweep(p, {
      store: path, jobs: 2, pollSeconds: 0.3, onEvent: (e) => events.push(`${k}:${e.type}`),
    })));
    const s = openStore(path, { readonly: true });
    try {
      const runs = s.listRuns();
      for (const p of grid.points) {
        const mine = runs.filter((r) => r.configHash === p.hash);
        assert.deepEqual(mine.map((r) => r.status), ['finished'],
          `combination #${p.index} was trained ${mine.length} times: ${mine.map((r) => r.status).join(', ')}`);
      }
      assert.equal(runs.length, 4);
    } finally {
      s.close();
    }
    assert.equal(a.finished + b.finished, 4, JSON.stringify([a, b].map((r) => r.outcomes.map((o) => o.outcome))));
    assert.equal(a.failed + b.failed, 0);
    assert.equal(a.finished + a.alreadyDone, 4);
    assert.equal(b.finished + b.alreadyDone, 4);
  });
});

describe('interrupted and dead runs', () => {
  const fixture = join(__dirname, 'fixtures', 'train-signal.ts');
  /** Starts the fixture, waits for `step`, sends `sig`, returns the exit and the output. */
  const killAt = async (storePath: string, sig: NodeJS.Signals, step = 5) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, storePath], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', sent = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /@@step (\d+)\n(?![^]*@@step)/.exec(out);
      if (!sent && m && Number(m[1]) >= step) { sent = true; child.kill(sig); }
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const exit = await exited;
    clearTimeout(timer);
    assert.ok(sent, `the run never reached step ${step}: ${out.slice(-300)} ${err}`);
    return { ...exit, out, err };
  };
  const only = (storePath: string) => {
    const s = openStore(storePath, { readonly: true });
    try {
      const runs = s.listRuns();
      assert.equal(runs.length, 1);
      return { run: runs[0]!, checkpoints: s.artifacts(runs[0]!.id, 'checkpoint') };
    } finally {
      s.close();
    }
  };

  test('SIGTERM and SIGINT: exit 143 / 130, the run recorded interrupted at its step with a checkpoint, one line saying how to resume', async () => {
    for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      const storePath = `${fresh(sig)}.sqlite`;
      const r = await killAt(storePath, sig);
      assert.deepEqual([r.code, r.signal], [code, null], `${sig}: ${r.err}`);
      const { run, checkpoints } = only(storePath);
      assert.equal(run.status, 'interrupted', `${sig}: ${run.status} ${run.statusReason}`);
      assert.ok(run.statusStep !== null && run.statusStep >= 5, `statusStep ${run.statusStep}`);
      assert.match(run.statusReason!, new RegExp(`interrupted by ${sig} at step ${run.statusStep}`));
      assert.equal(checkpoints.length, 1);
      assert.equal(checkpoints[0]!.step, run.statusStep);
      assert.equal(readCheckpoint(checkpoints[0]!.path).step, run.statusStep);
      const line = r.err.split('\n').filter((l) => /resume with/.test(l));
      assert.equal(line.length, 1, r.err);
      assert.ok(line[0]!.includes(`dytlab train --resume ${checkpoints[0]!.path}`), line[0]);
      assert.doesNotMatch(r.out, /@@returned/);
    }
  });

  test('after SIGKILL, store ls (read-only) shows the run dead, and the file is not written', async () => {
    const storePath = `${fresh('sigkill')}.sqlite`;
    const r = await killAt(storePath, 'SIGKILL');
    assert.equal(r.signal, 'SIGKILL');
    const before = sha(storePath);
    const c = capture();
    assert.equal(storeLs({ store: storePath, metric: 'train/loss', json: false }, c.io), 0);
    const row = c.out().split('\n').find((l) => l.includes('signal-lm'));
    assert.match(row ?? '', / dead /, c.out());
    const j = capture();
    storeLs({ store: storePath, metric: 'train/loss', json: true }, j.io);
    const listed = JSON.parse(j.out()) as { status: string; reason?: string }[];
    assert.equal(listed[0]!.status, 'dead');
    assert.match(listed[0]!.reason!, /pid \d+ .* no longer exists/);
    assert.equal(sha(storePath), before, 'store ls wrote to the store');
    assert.equal(only(storePath).run.status, 'running', 'a read-only listing must not mark it');
    // The next writer marks it failed; a sweep would run it again.
    openStore(storePath).close();
    assert.equal(only(storePath).run.status, 'failed');
  });
});

describe('read-only stores', () => {
  test('a store file 0444 in a read-only directory lists (as another user too), and nothing is modified', () => {
    const dir = fresh('rodir');
    mkdirSync(dir);
    const path = join(dir, 'runs.sqlite');
    storeWithRuns(path, 3);
    const before = { hash: sha(path), mtime: statSync(path).mtimeMs };
    chmodSync(path, 0o444);
    chmodSync(dir, 0o555);
    try {
      // Root ignores permissions; another user does not (SQLite cannot create the -shm file there). First, before
      // a root process creates the -shm file for it.
      const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
      const cli = (...args: string[]) => spawnSync(asUser[0] ?? process.execPath,
        [...asUser.slice(1), ...(asUser.length ? [process.execPath] : []), '--import', 'tsx', join(ROOT, 'src', 'cli-main.ts'), ...args],
        { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, HOME: TMP } });
      const ls = cli('store', 'ls', '--store', path);
      assert.equal(ls.status, 0, ls.stdout + ls.stderr);
      assert.match(ls.stdout, /3 runs in /);
      assert.equal(ls.stdout.split('\n').filter((l) => / finished /.test(l)).length, 3);
      const sweep = join(TMP, 'ro-sweep.json');
      writeFileSync(sweep, readFileSync(join(ROOT, 'configs', 'sweeps', 'tiny.json')));
      chmodSync(sweep, 0o644);
      const dry = cli('sweep', sweep, '--store', path, '--dry-run');
      assert.equal(dry.status, 0, dry.stdout + dry.stderr);
      assert.match(dry.stdout, /to run 4/);
      const s = openStore(path, { readonly: true });
      assert.equal(s.listRuns().length, 3);
      assert.throws(() => s.markStaleRuns({ olderThanSeconds: 0 }), /opened read-only/);
      s.close();
    } finally {
      chmodSync(dir, 0o755);
    }
    assert.deepEqual({ hash: sha(path), mtime: statSync(path).mtimeMs }, before, 'the store file was modified');
  });

  test('a store of schema version 1 is read without migrating; opening it for writing migrates it, keeping every row', () => {
    const path = `${fresh('v1')}.sqlite`;
    const [id] = storeWithRuns(path, 2);
    // Rebuild it as version 1 wrote it: the runs table without 'interrupted'.
    const db = new Database(path);
    db.pragma('foreign_keys = OFF');
    const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'runs'").pluck().get() as string)
      .replace("'failed', 'interrupted'", "'failed'").replace('CREATE TABLE runs', 'CREATE TABLE runs_old');
    assert.doesNotMatch(sql, /interrupted/);
    db.exec(`${sql}; INSERT INTO runs_old SELECT * FROM runs; DROP TABLE runs; ALTER TABLE runs_old RENAME TO runs;
      UPDATE meta SET value = '1' WHERE key = 'schema_version';`);
    db.close();
    const before = sha(path);
    const ro = openStore(path, { readonly: true });
    assert.equal(ro.listRuns().length, 2);
    assert.equal(ro.metricSeries(id!, 'val/loss').step.length, 50);
    ro.close();
    assert.equal(sha(path), before, 'a read-only open migrated (or otherwise wrote) the store');
    const rw = openStore(path);
    try {
      assert.equal(rw.metricSeries(id!, 'val/loss').step.length, 50, 'metrics lost in the migration');
      const r = rw.createRun({ config: { x: 1 }, kind: 'lm', seed: 0, backend: BACKEND });
      rw.startRun(r.id);
      assert.equal(rw.finishRun(r.id, { status: 'interrupted', step: 1 }).status, 'interrupted');
    } finally {
      rw.close();
    }
    const check = new Database(path, { readonly: true });
    assert.equal(check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get(), String(STORE_SCHEMA_VERSION));
    assert.equal(check.prepare('SELECT COUNT(*) FROM metrics').pluck().get(), 100);
    check.close();
  });
});

describe('corrupt stores and configs', () => {
  test('a corrupt store, a file that is not a database, and a null config are StoreErrors naming the file', () => {
    const corrupt = `${fresh('corrupt')}.sqlite`;
    storeWithRuns(corrupt, 20);
    corruptTable(corrupt, 'runs');
    assert.throws(() => {
      const s = openStore(corrupt, { readonly: true });
      try { s.listRuns(); } finally { s.close(); }
    }, (e: Error) => e instanceof StoreError && e.message.includes(corrupt) && /corrupt.*SQLite: database disk image is malformed/.test(e.message));
    const notDb = `${fresh('notdb')}.sqlite`;
    writeFileSync(notDb, 'x'.repeat(5000));
    for (const readonly of [true, false]) {
      assert.throws(() => openStore(notDb, { readonly }), (e: Error) =>
        e instanceof StoreError && e.message.includes(`run store ${notDb}`) && /not a database/.test(e.message));
    }

    const nullConfig = `${fresh('nullcfg')}.sqlite`;
    const [id] = storeWithRuns(nullConfig, 2);
    for (const [text, what] of [['null', 'null'], ['42', 'a number'], ['[1]', 'an array'], ['{oops', 'not valid JSON']]) {
      const db = new Database(nullConfig);
      db.prepare('UPDATE runs SET config = ? WHERE id = ?').run(text, id);
      db.close();
      const s = openStore(nullConfig, { readonly: true });
      try {
        for (const read of [() => s.listRuns(), () => s.getRun(id!), () => s.runsFrame()]) {
          assert.throws(read, (e: Error) => e instanceof StoreError && e.message.includes(nullConfig) &&
            e.message.includes(`run ${id}: config`) && e.message.includes(what), `config ${text}`);
        }
      } finally {
        s.close();
      }
    }
  });

  test('readConfigFile: null, a number, an array, empty, invalid JSON or YAML name the file and the problem', () => {
    const cases: [string, string, RegExp][] = [
      ['null.json', 'null', /holds null, not an object/],
      ['num.json', '42', /holds a number \(42\), not an object/],
      ['arr.json', '[1, 2]', /holds an array, not an object/],
      ['empty.yaml', '', /holds nothing, not an object/],
      ['null.yaml', '~\n', /holds null, not an object/],
      ['str.yaml', 'just words\n', /holds a string/],
      ['bad.json', '{"model": ', /not valid JSON/],
      ['bad.yaml', 'model: [1, 2\n', /not valid YAML/],
    ];
    for (const [name, text, pattern] of cases) {
      const path = join(TMP, name);
      writeFileSync(path, text);
      assert.throws(() => readConfigFile(path), (e: Error) => e instanceof ConfigError && e.message.includes(`config ${path}`) && pattern.test(e.message),
        `${name}: ${(() => { try { return JSON.stringify(readConfigFile(path)); } catch (e) { return (e as Error).message; } })()}`);
    }
  });
});

describe('store merge', () => {
  test('a corrupt source: a new target is not left behind, an existing one is unchanged', () => {
    const good = `${fresh('good')}.sqlite`;
    storeWithRuns(good, 3, 'good');
    const bad = `${fresh('bad')}.sqlite`;
    storeWithRuns(bad, 30, 'bad');
    corruptTable(bad, 'metrics');
    const target = `${fresh('target')}.sqlite`;
    assert.throws(() => storeMerge(target, [good, bad], capture().io), (e: Error) => e.message.includes(bad) && /corrupt/.test(e.message));
    assert.equal(existsSync(target), false, 'a failed merge left the new target behind');
    for (const ext of ['-wal', '-shm']) assert.equal(existsSync(target + ext), false);

    const existing = `${fresh('existing')}.sqlite`;
    storeWithRuns(existing, 2, 'existing');
    const before = sha(existing);
    assert.throws(() => storeMerge(existing, [good, bad], capture().io), /corrupt/);
    assert.equal(sha(existing), before, 'the existing target changed');
    assert.throws(() => storeMerge(existing, [good, join(TMP, 'nope.sqlite')], capture().io), /nope\.sqlite does not exist/);
    assert.equal(sha(existing), before);
  });

  test('a failure in the middle of a merge rolls back every source (one transaction)', () => {
    const good = `${fresh('good')}.sqlite`;
    storeWithRuns(good, 3, 'good');
    // A dytlab store whose runs table lacks a column: valid SQLite, fails only while copying.
    const odd = `${fresh('odd')}.sqlite`;
    storeWithRuns(odd, 2, 'odd');
    const db = new Database(odd);
    db.pragma('foreign_keys = OFF');
    db.exec('ALTER TABLE runs DROP COLUMN dytlab_version');
    db.close();
    const existing = `${fresh('existing')}.sqlite`;
    storeWithRuns(existing, 2, 'existing');
    assert.throws(() => mergeStores(existing, [good, odd]), (e: Error) => e instanceof StoreError && e.message.includes(odd) && /dytlab_version/.test(e.message));
    const s = openStore(existing, { readonly: true });
    assert.equal(s.listRuns().length, 2, 'the runs of the first source stayed after the second failed');
    s.close();
    const fresh2 = `${fresh('new')}.sqlite`;
    assert.throws(() => mergeStores(fresh2, [good, odd]));
    assert.equal(existsSync(fresh2), false);
    // And a merge that works: every run and row once.
    const ok = mergeStores(existing, [good, good]);
    assert.deepEqual(ok.map((m) => [m.result.runs, m.result.skipped, m.result.metrics]), [[3, 0, 150], [0, 3, 0]]);
  });
});

describe('training: diverged progress, resume checks', () => {
  const lm = (train: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
    name: 'resume-lm', seed: 3,
    model: { kind: 'lm', context: 8, dModel: 8, nLayers: 1, nHeads: 2 },
    data: { dataset: 'markov', vocabSize: 8, branching: 2, length: 2000, ...data },
    train: { steps: 12, batchSize: 4, lr: 0.01, warmupSteps: 1, evalEvery: 6, evalBatches: 1, traceEvery: 6, ...train },
  });
  before(async () => { await initBackend('cpu'); });

  test('the progress bar of a run that diverged shows the step it stopped at', async () => {
    let text = '';
    const bar = progressBar(20, 'train', { isTTY: false, write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WriteStream);
    bar.update(8, 'loss 9');
    bar.finish('diverged', 8);
    assert.match(text.split('\n').at(-2)!, / 8\/20 diverged/);

    const write = process.stderr.write;
    let err = '';
    process.stderr.write = ((s: string) => { err += s; return true; }) as typeof process.stderr.write;
    let r;
    try {
      r = await runTraining(lm({ steps: 200, lr: 50, warmupSteps: 0, clipNorm: 0 }), { store: false, progress: true });
    } finally {
      process.stderr.write = write;
    }
    assert.equal(r.status, 'diverged');
    assert.ok(r.step < 200);
    const last = err.trimEnd().split(/[\r\n]/).at(-1)!;
    assert.match(last, new RegExp(` ${r.step}/200 diverged`), last);
  });

  test('--resume refuses another data or optimizer config, a bad step in the checkpoint, and train.steps below it', async () => {
    const storePath = `${fresh('resume')}.sqlite`;
    const half = await runTraining(lm(), { store: storePath, stopAfter: 4 });
    const ckpt = half.checkpoints.at(-1)!;
    assert.match(ckpt, /step-000004\.safetensors$/);
    const refuse = async (config: unknown, file: string, pattern: RegExp) => {
      await assert.rejects(runTraining(config, { store: storePath, resumeFrom: file }), (e: Error) =>
        e.message.includes(`checkpoint ${file}`) && pattern.test(e.message));
    };
    await refuse(lm({}, { length: 3000 }), ckpt, /data config differs .*data\.length = 2000 in the checkpoint, 3000 in the run config/);
    await refuse(lm({ lr: 0.02 }), ckpt, /optimizer config differs .*train\.lr = 0\.01 in the checkpoint, 0\.02 in the run config/);
    await refuse(lm({ beta2: 0.99 }), ckpt, /train\.beta2 = 0\.95 in the checkpoint, 0\.99 in the run config/);
    await refuse(lm({ steps: 3, warmupSteps: 1 }), ckpt, /step = 4 is beyond the run config's train\.steps = 3/);
    const f = readSafetensors(ckpt);
    for (const step of ['-5', '1.5', 'NaN', '']) {
      const bad = join(TMP, `bad-step-${counter++}.safetensors`);
      writeSafetensors(bad, f.tensors, { ...f.metadata, step });
      await refuse(undefined, bad, new RegExp(`metadata 'step' = ${JSON.stringify(JSON.stringify(step)).slice(1, -1).replace('.', '\\.')} is not a step count`));
    }
    // Nothing was recorded for the refused resumes; the checkpoint's own config (and more steps) is accepted.
    const s = openStore(storePath, { readonly: true });
    assert.equal(s.listRuns().length, 1);
    s.close();
    const rest = await runTraining(lm({ steps: 12 }), { store: storePath, resumeFrom: ckpt });
    assert.equal(rest.status, 'finished');
    assert.equal(rest.step, 12);
  });
});
