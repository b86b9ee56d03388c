// The headless runner (`dytlab run`, `dytlab reproduce`) from the built CLI: parameters,
// errors, --allow-errors, timeouts, valid nbformat out (checked by Python's nbformat),
// HTML reports, bad notebooks named in errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const FIXTURE = join(__dirname, 'fixtures', 'runner-basic.ipynb');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-run-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), ...args],
  { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env: { ...process.env, DYTLAB_BACKEND: 'cpu' } });

function python(): string {
  for (const py of [process.env.DYTLAB_PYTHON, '/usr/bin/python3', 'python3']) {
    if (py && spawnSync(py, ['-c', 'import nbformat'], { timeout: 30_000 }).status === 0) return py;
  }
  throw new Error('no Python 3 with nbformat: apt-get install python3-nbformat (as .ci/run does), or set DYTLAB_PYTHON');
}

type Out = { output_type: string; text?: string | string[]; data?: Record<string, unknown>; ename?: string; evalue?: string };
type Cell = { cell_type: string; source: string | string[]; execution_count: number | null; outputs: Out[]; metadata: Record<string, unknown> };
const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as { cells: Cell[]; metadata: Record<string, any> };
const text = (o: Out) => [o.text ?? ''].flat().join('');

describe('dytlab run', () => {
  let out: string;
  before(() => {
    out = join(TMP, 'out');
  });

  test('parameters are injected, the failing cell is an error output, the run stops there', () => {
    const r = cli(['run', FIXTURE, '-p', 'n=5', '-p', 'undeclared=1', '--out', out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /parameter 'undeclared' is not declared in the notebook's parameters cell/);
    const nb = read(join(out, 'runner-basic.ipynb'));
    const code = nb.cells.filter((c) => c.cell_type === 'code');
    assert.deepEqual(code[1]!.metadata.tags, ['injected-parameters']);
    assert.equal((code[1] as Cell & { id?: string }).id, 'injected-parameters', 'nbformat 4.5 cells need ids, the injected one too');
    assert.match([code[1]!.source].flat().join(''), /const n: number = 5;/);
    assert.equal(text(code[2]!.outputs.find((o) => o.output_type === 'stream')!), 'n=5 label=a\n');
    const result = code[2]!.outputs.find((o) => o.output_type === 'execute_result')!;
    assert.equal(result.data!['text/plain'], '105');
    assert.ok(code[3]!.outputs.some((o) => o.data?.['application/vnd.plotly.v1+json']), 'no plotly output');
    const err = code[4]!.outputs[0]!;
    assert.equal(err.output_type, 'error');
    assert.equal(err.ename, 'Error');
    assert.equal(err.evalue, 'boom <b>not bold</b>');
    assert.equal(code[5]!.execution_count, null, 'cells after an error must not run without --allow-errors');
    assert.equal(nb.metadata.dytlab.status, 'error');
    assert.deepEqual(nb.metadata.papermill.parameters, { n: 5, undeclared: 1 });
    assert.ok(nb.metadata.dytlab.cells.every((c: { durationSec: number }) => c.durationSec >= 0));
    const html = readFileSync(join(out, 'runner-basic.html'), 'utf8');
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'table text must be escaped');
    assert.doesNotMatch(html, /<script>alert\(1\)<\/script>/);
    assert.match(html, /boom &lt;b&gt;not bold&lt;\/b&gt;/);
    assert.match(html, /<math/);
  });

  test('--allow-errors runs the cells after the error, and the output is valid nbformat 4', () => {
    const r = cli(['run', FIXTURE, '--allow-errors', '--out', out]);
    assert.equal(r.status, 1);
    const path = join(out, 'runner-basic.ipynb');
    const nb = read(path);
    const last = nb.cells.at(-1)!;
    assert.ok(last.execution_count! > 0);
    assert.equal(text(last.outputs.find((o) => o.output_type === 'stream')!), 'after the error\n');
    const v = spawnSync(python(), ['-c', 'import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print("valid")', path], { encoding: 'utf8' });
    assert.equal(v.stdout.trim(), 'valid', v.stderr);
  });

  test('a per-cell timeout stops an endless cell with a TimeoutError output', () => {
    const nbPath = join(TMP, 'loop.ipynb');
    writeFileSync(nbPath, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
      { cell_type: 'code', id: 'a', metadata: {}, execution_count: null, outputs: [], source: 'let i = 0;\nwhile (true) { i++; }' },
    ] }));
    const r = cli(['run', nbPath, '--timeout', '2', '--out', out]);
    assert.equal(r.status, 1);
    const err = read(join(out, 'loop.ipynb')).cells[0]!.outputs[0]!;
    assert.equal(err.ename, 'TimeoutError');
  });

  test('a notebook that is not JSON, or not nbformat 4, is an error naming the file', () => {
    const bad = join(TMP, 'bad.ipynb'), old = join(TMP, 'old.ipynb');
    writeFileSync(bad, '{ not json');
    writeFileSync(old, JSON.stringify({ nbformat: 3, metadata: {}, worksheets: [] }));
    const a = cli(['run', bad, '--out', out]);
    assert.equal(a.status, 1);
    assert.match(a.stderr, /bad\.ipynb/);
    assert.match(a.stderr, /JSON/i);
    const b = cli(['run', old, '--out', out]);
    assert.equal(b.status, 1);
    assert.match(b.stderr, /old\.ipynb/);
    assert.match(b.stderr, /nbformat/);
  });

  test('dytlab reproduce runs a notebooks folder into reports with an index', () => {
    const nbDir = join(TMP, 'nbs'), rep = join(TMP, 'reports');
    mkdirSync(nbDir, { recursive: true });
    copyFileSync(FIXTURE, join(nbDir, 'a.ipynb'));
    writeFileSync(join(nbDir, 'b.ipynb'), JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
      { cell_type: 'markdown', id: 'm', metadata: {}, source: '# Second notebook' },
      { cell_type: 'code', id: 'p', metadata: { tags: ['parameters'] }, execution_count: null, outputs: [], source: "const profile: string = 'full';" },
      { cell_type: 'code', id: 'c', metadata: {}, execution_count: null, outputs: [], source: 'profile' },
    ] }));
    const r = cli(['reproduce', '--notebooks', nbDir, '--out', rep, '--jobs', '2']);
    assert.equal(r.status, 1, 'a failing notebook makes reproduce fail');
    const index = readFileSync(join(rep, 'index.html'), 'utf8');
    assert.match(index, /a\.html/);
    assert.match(index, /Second notebook/);
    const b = read(join(rep, 'b.ipynb'));
    assert.equal(b.cells.at(-1)!.outputs[0]!.data!['text/plain'], "'quick'", 'reproduce passes the profile parameter');
    assert.ok(existsSync(join(rep, 'b.html')));
  });
});

test('nbconvert --to html of an executed notebook draws its plotly figures offline (text/html fallback)', async () => {
  const out = join(TMP, 'nbc');
  const r = cli(['run', FIXTURE, '--allow-errors', '--out', out]);
  assert.equal(r.status, 1);
  const conv = spawnSync(python(), ['-m', 'nbconvert', '--to', 'html', join(out, 'runner-basic.ipynb'), '--output-dir', out], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(conv.status, 0, conv.stderr);
  const { chromium } = await import('playwright-core');
  if (!existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is missing: apt-get install chromium (as .ci/run does)');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    await page.goto(`file://${join(out, 'runner-basic.html')}`);
    await page.waitForFunction(() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0, null, { timeout: 30_000 });
    assert.ok(await page.evaluate(() => document.querySelectorAll('.js-plotly-plot').length) >= 1);
  } finally {
    await browser.close();
  }
});
