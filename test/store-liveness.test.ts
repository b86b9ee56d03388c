// The run store written by several processes at once, and runs whose process
// died (killed mid-run, stale heartbeats): read back, then marked failed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { openStore } from '../src/experiments/store/index.js';
import { BACKEND, CONFIG, tempStores } from './fixtures/store-env.js';

const ROOT = join(__dirname, '..');
const WRITER = join(__dirname, 'fixtures', 'store-writer.ts');
const { freshPath, withStore } = tempStores();

interface Child {
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  waitFor(prefix: string): Promise<string>;
  send(line: string): void;
  kill(signal: NodeJS.Signals): void;
}

function spawnWriter(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (l: string) => void }[] = [];
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => line.startsWith(x.prefix))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line.slice(w.prefix.length));
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(timer));
  return {
    lines,
    exited,
    waitFor: (prefix) => new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => l.startsWith(prefix));
      if (seen !== undefined) return resolve(seen.slice(prefix.length));
      waiters.push({ prefix, resolve });
      void exited.then((r) => reject(new Error(`child exited (${r.code ?? r.signal}) before printing ${prefix}: ` +
        `${lines.join(' | ')} ${r.stderr.slice(-2000)}`)));
    }),
    send: (line) => child.stdin.write(`${line}\n`),
    kill: (signal) => child.kill(signal),
  };
}

describe('run store: several processes', () => {
  test('three processes write 500 rows each into one new store at the same time', async () => {
    const path = freshPath('concurrent');
    const children = ['a', 'b', 'c'].map((label) => spawnWriter(['writer', path, label, '500']));
    const ids = await Promise.all(children.map((c) => c.waitFor('@@ready ')));
    for (const c of children) c.send('go');
    const results = await Promise.all(children.map((c) => c.exited));
    results.forEach((r, i) => {
      const errors = children[i].lines.filter((l) => l.startsWith('@@error'));
      assert.deepEqual(errors, [], `writer ${i} reported errors`);
      assert.equal(r.code, 0, `writer ${i} exited with ${r.code ?? r.signal}: ${r.stderr.slice(-2000)}`);
    });
    const done = children.map((c) => JSON.parse(c.lines.find((l) => l.startsWith('@@done '))!.slice(7)) as { ms: number });
    console.log(`# concurrent writers: ${done.map((d) => `${d.ms} ms`).join(', ')} for 500 transactions each`);

    const store = openStore(path, { readonly: true });
    try {
      assert.equal(new Set(ids).size, 3);
      const runs = store.listRuns();
      assert.deepEqual(runs.map((r) => r.id).sort(), [...ids].sort());
      for (const id of ids) {
        const run = store.getRun(id);
        assert.equal(run.status, 'finished');
        assert.equal(run.statusStep, 499);
        const series = store.metricSeries(id, 'loss');
        assert.equal(series.step.length, 500);
        assert.deepEqual(series.step, Array.from({ length: 500 }, (_, i) => i));
        assert.deepEqual(series.value, series.step.map((s) => 1 / (s + 1)));
      }
      const db = new Database(path, { readonly: true });
      try {
        assert.equal(db.prepare('SELECT COUNT(*) FROM metrics').pluck().get(), 1500);
        // The writers did write at the same time: their first and last rows interleave.
        const spans = db.prepare('SELECT run_id, MIN(wall_time) AS t0, MAX(wall_time) AS t1 FROM metrics GROUP BY run_id')
          .all() as { t0: number; t1: number }[];
        const overlap = Math.min(...spans.map((s) => s.t1)) - Math.max(...spans.map((s) => s.t0));
        console.log(`# writers' spans overlap by ${(overlap * 1000).toFixed(0)} ms`);
        assert.ok(overlap > 0, `the writers ran one after another (spans ${JSON.stringify(spans)}); the test proves nothing`);
      } finally {
        db.close();
      }
    } finally {
      store.close();
    }
  });

  test('a process killed mid-run leaves a readable store; its run is then marked failed', async () => {
    const path = freshPath('killed');
    const victim = spawnWriter(['victim', path]);
    const id = await victim.waitFor('@@running ');
    await new Promise((r) => setTimeout(r, 150));
    victim.kill('SIGKILL');
    const r = await victim.exited;
    assert.equal(r.signal, 'SIGKILL');

    const ro = openStore(path, { readonly: true });
    let steps: number;
    try {
      const run = ro.getRun(id);
      assert.equal(run.status, 'running', 'a read-only open marks nothing');
      steps = ro.metricSeries(id, 'loss').step.length;
      assert.ok(steps > 50, `only ${steps} steps readable`);
      assert.ok(ro.metricSeries(id, 'lr').step.length >= steps - 1);
      assert.ok(ro.traces(id).length >= steps - 1);
    } finally {
      ro.close();
    }

    const store = openStore(path, { staleAfterSeconds: false });
    try {
      assert.equal(store.getRun(id).status, 'running');
      assert.equal(store.markStaleRuns({ olderThanSeconds: 3600 }), 1);
      const run = store.getRun(id);
      assert.equal(run.status, 'failed');
      assert.match(run.statusReason ?? '', /^process died \(last heartbeat \d{4}-\d\d-\d\dT[^;]+; pid \d+ on .+ no longer exists\)$/);
      assert.equal(run.statusStep, steps - 1);
      assert.ok(run.finishedAt);
      assert.equal(store.markStaleRuns({ olderThanSeconds: 3600 }), 0);
      // The store still takes writes.
      const next = store.createRun({ config: { victim: true }, kind: 'lm', seed: 1, backend: BACKEND, resumeOf: id });
      store.logMetrics(next.id, 0, { loss: 1 });
    } finally {
      store.close();
    }
  });

  test('opening a store for writing marks runs of dead processes failed', async () => {
    const path = freshPath('killed-open');
    const victim = spawnWriter(['victim', path]);
    const id = await victim.waitFor('@@running ');
    victim.kill('SIGKILL');
    await victim.exited;
    withStore((store) => {
      assert.equal(store.getRun(id).status, 'failed');
      assert.match(store.getRun(id).statusReason ?? '', /^process died/);
    }, path);
  });

  test('a run whose heartbeat is too old is marked failed; a heartbeat from its process revives it', async () => {
    const store = openStore(freshPath());
    try {
      const { id } = store.createRun({ config: CONFIG, kind: 'lm', seed: 1, backend: BACKEND });
      store.startRun(id);
      assert.equal(store.markStaleRuns({ olderThanSeconds: 60 }), 0, 'this process is alive and its heartbeat is fresh');
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(store.markStaleRuns({ olderThanSeconds: 0.01 }), 1);
      assert.match(store.getRun(id).statusReason ?? '', /^process died \(last heartbeat .*older than the 0.01 s limit\)$/);
      assert.equal(store.getRun(id).status, 'failed');
      store.heartbeat(id);
      assert.equal(store.getRun(id).status, 'running');
      assert.equal(store.getRun(id).statusReason, null);
      store.finishRun(id, { status: 'finished' });
      store.heartbeat(id);
      assert.equal(store.getRun(id).status, 'finished', 'a heartbeat does not revive a finished run');
    } finally {
      store.close();
    }
  });
});
