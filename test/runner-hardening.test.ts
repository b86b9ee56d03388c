// The headless runner's hardening: each notebook in its own worker process (a cell's
// process.exit or a kill cannot end the run or lose the report; no shared globalThis),
// inputs never overwritten, same-named notebooks kept apart, outputs and -p values
// checked before anything runs, failures named by cell, malformed notebooks named
// by file, cell and field.
//
// runNotebooks() (kernel/src/run-notebooks.ts) is driven in a child process, from
// source (tsx) and from dist/ (needs `npm run build`). RUNNER_VIA=cli runs the same
// checks through `bin/dytlab.js run` instead.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotebookError, readNotebook } from '../src/report/nbformat';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-harden-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

interface Opts { notebooks: string[]; params?: string[]; outDir: string; timeoutSec?: number; allowErrors?: boolean }
const DRIVER = join(TMP, 'driver.cjs');
writeFileSync(DRIVER, `
const { runNotebooks } = require(process.argv[2]);
runNotebooks(JSON.parse(process.argv[3])).then((code) => process.exit(code), (err) => {
  console.error('dytlab: ' + (err && err.message));
  process.exit(err && err.exitCode ? err.exitCode : 1);
});
`);

/** runNotebooks(o) in a child process: from source (default), from dist/, or through the CLI (RUNNER_VIA=cli). */
function run(o: Opts, from: 'src' | 'dist' = 'src') {
  const env = { ...process.env, DYTLAB_BACKEND: 'cpu' };
  const opts = { cwd: ROOT, encoding: 'utf8' as const, timeout: 180_000, env };
  if (process.env.RUNNER_VIA === 'cli') {
    const args = ['run', ...o.notebooks, ...(o.params ?? []).flatMap((p) => ['-p', p]), '--out', o.outDir,
      ...(o.timeoutSec ? ['--timeout', String(o.timeoutSec)] : []), ...(o.allowErrors ? ['--allow-errors'] : [])];
    return spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), ...args], opts);
  }
  const full = JSON.stringify({ params: [], allowErrors: false, ...o });
  return from === 'src'
    ? spawnSync(process.execPath, ['--import', 'tsx', DRIVER, join(ROOT, 'kernel', 'src', 'run-notebooks.ts'), full], opts)
    : spawnSync(process.execPath, [DRIVER, join(ROOT, 'dist', 'kernel', 'run-notebooks.js'), full], opts);
}

type Out = { output_type: string; text?: string | string[]; data?: Record<string, unknown>; ename?: string; evalue?: string; traceback?: string[] };
type Cell = { cell_type: string; source: string | string[]; execution_count: number | null; outputs: Out[]; metadata: Record<string, any> };
const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as { cells: Cell[]; metadata: Record<string, any> };
const text = (o: Out | undefined) => [o?.text ?? ''].flat().join('');

let nbSerial = 0;
/** A tiny nbformat 4.5 notebook in `dir`: strings are code cells, {md} markdown, {params} the parameters cell. */
function notebook(dir: string, name: string, cells: (string | { md: string } | { params: string })[]): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: cells.map((c) => {
    const id = `c${++nbSerial}`;
    if (typeof c === 'string') return { cell_type: 'code', id, metadata: {}, execution_count: null, outputs: [], source: c };
    if ('md' in c) return { cell_type: 'markdown', id, metadata: {}, source: c.md };
    return { cell_type: 'code', id, metadata: { tags: ['parameters'] }, execution_count: null, outputs: [], source: c.params };
  }) }, null, 1));
  return path;
}

describe('dytlab run: each notebook in its own process', () => {
  test('a cell that calls process.exit(0), exit(3) or is SIGKILLed fails its notebook, which is still written; the next notebooks run', () => {
    const dir = join(TMP, 'exit'), out = join(dir, 'out');
    const a = notebook(dir, 'exit0.ipynb', ["console.log('before')", 'process.exit(0)', "console.log('never')"]);
    const b = notebook(dir, 'exit3.ipynb', ['process.exit(3)']);
    const c = notebook(dir, 'killed.ipynb', ["console.log('dying')\nprocess.kill(process.pid, 'SIGKILL')"]);
    const d = notebook(dir, 'fine.ipynb', ['1 + 1']);
    const r = run({ notebooks: [a, b, c, d], outDir: out });
    assert.equal(r.status, 1, `a cell's process.exit(0) must not end the run as a success\n${r.stderr}`);

    const nb = read(join(out, 'exit0.ipynb'));
    assert.equal(text(nb.cells[0]!.outputs[0]), 'before\n', 'the outputs of the cells before it are kept');
    const err = nb.cells[1]!.outputs.find((o) => o.output_type === 'error');
    assert.ok(err, 'the cell that exited has an error output');
    assert.match(err.evalue!, /the kernel exited with code 0/);
    assert.equal(nb.cells[1]!.metadata.dytlab.status, 'error');
    assert.equal(nb.cells[2]!.execution_count, null);
    assert.equal(nb.cells[2]!.metadata.dytlab.status, 'skipped');
    assert.equal(nb.metadata.dytlab.status, 'error');
    assert.ok(existsSync(join(out, 'exit0.html')));
    assert.match(readFileSync(join(out, 'exit0.html'), 'utf8'), /the kernel exited with code 0/);

    assert.match(read(join(out, 'exit3.ipynb')).cells[0]!.outputs.find((o) => o.output_type === 'error')!.evalue!, /exited with code 3/);
    const killed = read(join(out, 'killed.ipynb')).cells[0]!;
    assert.equal(text(killed.outputs.find((o) => o.output_type === 'stream')), 'dying\n', 'output before the kill is kept');
    assert.match(killed.outputs.find((o) => o.output_type === 'error')!.evalue!, /killed by SIGKILL/);

    const fine = read(join(out, 'fine.ipynb'));
    assert.equal(fine.metadata.dytlab.status, 'ok', 'the notebooks after a dead one still run');
    assert.equal(fine.cells[0]!.outputs[0]!.data!['text/plain'], '2');
    assert.match(r.stderr, /exit0\.ipynb: code cell 2 \(cells\[1\]\) failed: DeadKernelError: the kernel exited with code 0/);
    assert.match(r.stdout, /fine\.ipynb: ok in/);
  });

  test('notebooks of one run do not share globalThis', () => {
    const dir = join(TMP, 'globals'), out = join(dir, 'out');
    const a = notebook(dir, 'set.ipynb', ['(globalThis as any).leaked = 42']);
    const b = notebook(dir, 'get.ipynb', ['typeof (globalThis as any).leaked']);
    const r = run({ notebooks: [a, b], outDir: out });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(read(join(out, 'get.ipynb')).cells[0]!.outputs[0]!.data!['text/plain'], "'undefined'");
  });

  test('from dist/ too: the worker is found next to the built module; a per-cell timeout still stops an endless cell', () => {
    const dir = join(TMP, 'dist'), out = join(dir, 'out');
    const a = notebook(dir, 'loop.ipynb', ["console.log('start')", 'let i = 0;\nwhile (true) { i++; }', '1']);
    const r = run({ notebooks: [a], outDir: out, timeoutSec: 2 }, 'dist');
    assert.equal(r.status, 1, r.stderr);
    const nb = read(join(out, 'loop.ipynb'));
    assert.equal(nb.cells[1]!.outputs.find((o) => o.output_type === 'error')!.ename, 'TimeoutError');
    assert.equal(nb.cells[2]!.metadata.dytlab.status, 'skipped');
  });
});

test('a cell that ignores the timeout\'s interrupt (a busy loop after an await) is killed, and the report still written', () => {
  const dir = join(TMP, 'stuck'), out = join(dir, 'out');
  const a = notebook(dir, 'stuck.ipynb', ["console.log('in')\nawait null;\nlet i = 0;\nwhile (true) { i++; }", '2']);
  const t0 = Date.now();
  const r = run({ notebooks: [a], outDir: out, timeoutSec: 1 });
  assert.equal(r.status, 1, r.stderr);
  assert.ok(Date.now() - t0 < 60_000, 'killed some seconds after its timeout');
  const nb = read(join(out, 'stuck.ipynb'));
  const err = nb.cells[0]!.outputs.find((o) => o.output_type === 'error')!;
  assert.equal(err.ename, 'TimeoutError');
  assert.match(err.evalue!, /did not stop when interrupted; the kernel was killed/);
  assert.equal(text(nb.cells[0]!.outputs.find((o) => o.output_type === 'stream')), 'in\n');
  assert.equal(nb.cells[1]!.metadata.dytlab.status, 'skipped');
});

describe('dytlab run: outputs', () => {
  test('--out set to the notebook\'s own folder writes NAME.out.ipynb, never over the input', () => {
    const dir = join(TMP, 'self');
    const src = notebook(dir, 'x.ipynb', ['6 * 7']);
    const stored = JSON.parse(readFileSync(src, 'utf8'));
    stored.cells[0].outputs = [{ output_type: 'stream', name: 'stdout', text: 'stored output\n' }];
    writeFileSync(src, JSON.stringify(stored));
    const before = readFileSync(src, 'utf8');
    const r = run({ notebooks: [src], outDir: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(src, 'utf8'), before, 'the input notebook must not be overwritten');
    assert.equal(read(join(dir, 'x.out.ipynb')).cells[0]!.outputs[0]!.data!['text/plain'], '42');
    assert.ok(existsSync(join(dir, 'x.out.html')));
    assert.match(r.stderr, /x\.out\.ipynb/);
  });

  test('two notebooks with the same file name get separate reports', () => {
    const dir = join(TMP, 'same'), out = join(dir, 'reports');
    const a = notebook(join(dir, 'a'), 'x.ipynb', ["'from a'"]);
    const b = notebook(join(dir, 'b'), 'x.ipynb', ["'from b'"]);
    const r = run({ notebooks: [a, b], outDir: out });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(read(join(out, 'x.ipynb')).cells[0]!.outputs[0]!.data!['text/plain'], "'from a'");
    assert.equal(read(join(out, 'x-2.ipynb')).cells[0]!.outputs[0]!.data!['text/plain'], "'from b'");
    assert.ok(existsSync(join(out, 'x.html')) && existsSync(join(out, 'x-2.html')));
    assert.match(r.stderr, /same name/);
    assert.match(r.stderr, /x-2\.ipynb/);
  });

  test('--out naming an existing file (or a path under one) fails before any cell runs, naming the path', () => {
    const dir = join(TMP, 'outfile');
    const marker = join(dir, 'ran');
    const nb = notebook(dir, 'n.ipynb', [`require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x')`]);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a folder');
    for (const outDir of [file, join(file, 'sub')]) {
      const r = run({ notebooks: [nb], outDir });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /a-file/, r.stderr);
      assert.match(r.stderr, /not a folder/);
      assert.ok(!existsSync(marker), 'the notebook must not run when its reports cannot be written');
    }
  });
});

describe('dytlab run: messages and parameters', () => {
  test('a failing cell is named by code-cell number and index, with the error; progress lines per cell', () => {
    const dir = join(TMP, 'fail'), out = join(dir, 'out');
    const nb = notebook(dir, 'f.ipynb', [{ md: '# F' }, "console.log('one')", "throw new RangeError('boom here')", '3']);
    const r = run({ notebooks: [nb], outDir: out });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /f\.ipynb: code cell 2 \(cells\[2\]\) failed: RangeError: boom here/);
    assert.match(r.stderr, /f\.ipynb: cell 1\/3 \(cells\[1\]\) ok in [\d.]+ s\n/, 'a progress line per cell when stderr is not a TTY');
    assert.match(r.stdout, /f\.ipynb: error in [\d.]+ s -> /);
  });

  test('-p values are checked against the declared defaults before anything runs; strings stay strings', () => {
    const dir = join(TMP, 'params'), out = join(dir, 'out');
    const marker = join(dir, 'ran');
    const nb = notebook(dir, 'p.ipynb', [
      { params: "const steps = 100;\nlet lr: number = 1e-3;\nconst flag = false; // on or off\nconst profile = 'full';\nlet tag: string = 'x';" },
      `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x');\n[steps, lr, flag, profile, tag]`,
    ]);
    const bad = run({ notebooks: [nb], params: ['steps=abc'], outDir: out });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /-p steps=abc: the notebook declares steps as a number \(default 100\); 'abc' is not a number/);
    assert.ok(!existsSync(marker), 'nothing may run with a bad -p value');
    const lr = run({ notebooks: [nb], params: ['lr=fast'], outDir: out });
    assert.match(lr.stderr, /declares lr as a number \(default 1e-3\); 'fast' is not a number/);
    const flag = run({ notebooks: [nb], params: ['flag=yes'], outDir: out });
    assert.match(flag.stderr, /declares flag as a boolean \(default false\); 'yes' is not a boolean/);
    assert.ok(!existsSync(marker));

    const ok = run({ notebooks: [nb], params: ['steps=5', 'lr=0.5', 'flag=true', 'profile=quick', 'tag=123'], outDir: out });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(read(join(out, 'p.ipynb')).cells[2]!.outputs[0]!.data!['text/plain'], "[ 5, 0.5, true, 'quick', '123' ]");
  });
});

describe('readNotebook names the file, the cell and the field of a malformed notebook', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no-type', { cells: [{ metadata: {}, source: 'x' }] }, /cells\[0\]: 'cell_type' is missing/],
    ['source-number', { cells: [{ cell_type: 'markdown', metadata: {}, source: 'ok' }, { cell_type: 'code', metadata: {}, source: 5, outputs: [], execution_count: null }] }, /cells\[1\] \(code\): 'source' must be a string or an array of strings, got number 5/],
    ['cells-object', { cells: { a: 1 } }, /'cells' is not an array/],
    ['cell-null', { cells: [null] }, /cells\[0\] is not a cell/],
    ['bad-type', { cells: [{ cell_type: 'heading', metadata: {}, source: '' }] }, /cells\[0\]: 'cell_type' is the string "heading", not one of code, markdown, raw/],
    ['outputs-string', { cells: [{ cell_type: 'code', metadata: {}, source: '', outputs: 'no', execution_count: null }] }, /cells\[0\] \(code\): 'outputs' must be an array/],
    ['tags-string', { cells: [{ cell_type: 'code', metadata: { tags: 'parameters' }, source: '', outputs: [], execution_count: null }] }, /cells\[0\] \(code\): 'metadata.tags' must be an array of strings/],
  ];
  for (const [name, body, re] of cases) {
    test(name, () => {
      const path = join(TMP, `${name}.ipynb`);
      writeFileSync(path, JSON.stringify({ nbformat: 4, nbformat_minor: 4, metadata: {}, ...(body as object) }));
      assert.throws(() => readNotebook(path), (e: Error) => {
        assert.ok(e instanceof NotebookError, `${e.name}: ${e.message}`);
        assert.ok(e.message.includes(path), e.message);
        assert.match(e.message, re);
        return true;
      });
    });
  }

  test('invalid JSON, and through dytlab run: the file is named, nothing runs', () => {
    const dir = join(TMP, 'malformed');
    const good = notebook(dir, 'good.ipynb', [`require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'ran'))}, 'x')`]);
    const bad = join(dir, 'bad.ipynb');
    writeFileSync(bad, JSON.stringify({ nbformat: 4, nbformat_minor: 4, metadata: {}, cells: [{ cell_type: 'code', metadata: {}, source: 7, outputs: [], execution_count: null }] }));
    const r = run({ notebooks: [good, bad], outDir: join(dir, 'out') });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.ipynb: cells\[0\] \(code\): 'source' must be a string/);
    assert.doesNotMatch(r.stderr, /TypeError/);
    assert.ok(!existsSync(join(dir, 'ran')), 'no notebook runs when one of them is malformed');
    const notJson = join(dir, 'nj.ipynb');
    writeFileSync(notJson, '{"cells": [');
    assert.throws(() => readNotebook(notJson), /nj\.ipynb: not valid JSON/);
  });
});
