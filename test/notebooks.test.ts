// The research notebooks run end to end: headless (`dytlab run`, profile 'smoke':
// tiny step budgets, so numbers are meaningless but every cell, figure and
// verdict is exercised) into a private run store, and one of them again under
// nbconvert with the dytlab kernel, which must reuse the finished runs.
// Needs `npm run build` (the CLI and the kernel run from dist/).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-notebooks-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const STORE = join(TMP, 'runs', 'store.sqlite');
const env = { ...process.env, DYTLAB_STORE: STORE };

type Out = { output_type: string; text?: string | string[]; data?: Record<string, unknown>; ename?: string; evalue?: string };
type Cell = { cell_type: string; outputs?: Out[] };
const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as { cells: Cell[]; metadata: Record<string, any> };
const outputs = (nb: { cells: Cell[] }) => nb.cells.flatMap((c) => c.outputs ?? []);
const text = (o: Out) => [o.text ?? ''].flat().join('');

function python(): string {
  for (const py of [process.env.DYTLAB_PYTHON, '/usr/bin/python3', 'python3']) {
    if (py && spawnSync(py, ['-c', 'import nbclient, jupyter_client, nbconvert, nbformat'], { timeout: 60_000 }).status === 0) return py;
  }
  throw new Error('no Python 3 with nbclient, jupyter_client, nbconvert, nbformat: apt-get install python3-nbclient ' +
    'jupyter-client python3-nbconvert python3-nbformat (as .ci/run does), or set DYTLAB_PYTHON');
}

const NOTEBOOKS: [string, { figures: number; verdicts: RegExp }][] = [
  // 01 and 03 train the study's matched recipe (the recipe note under the "what was trained" table), then map / swap it.
  ['01-layernorm-mappings', { figures: 8, verdicts: /\*\*ViT\*\* \(layernorm\): the base of `configs\/study\/variants-vit\.json`[^]*\*\*ViT on MNIST\.\*\*[^]*\*\*LM on Moby-Dick\.\*\*/ }],
  ['02-alpha-tracks-std', {
    figures: 8,
    verdicts: /\*\*ViT on MNIST\.\*\* 2 run\(s\) \(seeds 0, 1[^]*\*\*Early trajectory\*\*[^]*\*\*Adam's budget:\*\*[^]*\*\*Reading\.\*\*[^]*\*\*LM on Moby-Dick\.\*\* 2 run\(s\)[^]*\*\*Early trajectory\*\*[^]*\*\*Reading\.\*\*/,
  }],
  ['03-swap-test', {
    figures: 2,
    verdicts: /\*\*ViT\*\* \(layernorm\): the base of `configs\/study\/variants-vit\.json`[^]*\*\*ViT on MNIST\.\*\* Trained LayerNorm accuracy[^]*a check of the fit, not support for DyT[^]*\*\*LM on Moby-Dick\.\*\*/,
  }],
  // 04-06 train their sweeps' smoke profiles; "N of N runs have a result": every run ended ok, diverged or stalled, none failed.
  ['04-squash-functions', {
    figures: 4,
    verdicts: /The sweeps' smoke profile: (\d+) of \1 runs have a result[^]*\*\*ViT on MNIST\.\*\* \d+ runs[^]*The paper's ordering[^]*\*\*LM on Moby-Dick\.\*\* \d+ runs[^]*The paper's ordering/,
  }],
  ['05-alpha0-and-learning-rate', {
    figures: 9,
    verdicts: /The sweeps' smoke profile: (\d+) of \1 runs have a result[^]*\*\*ViT on MNIST\.\*\* \d+ runs[^]*Every run ok, from the smallest lr[^]*Final alpha[^]*\*\*LM on Moby-Dick\.\*\* \d+ runs[^]*Separate alpha0[^]*\*\*Width\.\*\* (\d+) of \2 runs have a result/,
  }],
  ['06-norm-free-baselines', {
    figures: 4,
    verdicts: /The sweeps' smoke profile: (\d+) of \1 runs have a result[^]*\*\*ViT on MNIST\.\*\* \d+ runs[^]*By test mean at its chosen lr[^]*\*\*LM on Moby-Dick\.\*\* \d+ runs[^]*By test mean at its chosen lr/,
  }],
];

describe('research notebooks (smoke profile)', () => {
  for (const [name, want] of NOTEBOOKS) {
    test(`${name} runs headless: no errors, its figures and its verdict in the report`, { timeout: 600_000 }, () => {
      const out = join(TMP, 'reports');
      const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), 'run', join(ROOT, 'notebooks', `${name}.ipynb`), '-p', 'profile="smoke"', '--out', out],
        { cwd: ROOT, env, encoding: 'utf8', timeout: 600_000 });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const nb = read(join(out, `${name}.ipynb`));
      const errors = outputs(nb).filter((o) => o.output_type === 'error');
      assert.deepEqual(errors.map((e) => `${e.ename}: ${e.evalue}`), []);
      const figures = outputs(nb).filter((o) => o.data?.['application/vnd.plotly.v1+json']).length;
      assert.equal(figures, want.figures, 'plotly figures');
      const md = outputs(nb).map((o) => String(o.data?.['text/markdown'] ?? '')).join('\n');
      assert.match(md, want.verdicts);
      assert.doesNotMatch(md, /NaN|undefined/, 'the verdicts are built from numbers');
      const html = readFileSync(join(out, `${name}.html`), 'utf8');
      assert.equal(html.match(/class="plotly-figure"/g)?.length, want.figures, 'every figure is in the HTML report');
    });
  }

  test('02 under nbconvert with the dytlab kernel reuses the finished runs from the store', { timeout: 600_000 }, () => {
    const prefix = join(TMP, 'jupyter');
    const jenv = {
      ...env, JUPYTER_PATH: join(prefix, 'share', 'jupyter'), JUPYTER_DATA_DIR: join(TMP, 'jdata'),
      JUPYTER_CONFIG_DIR: join(TMP, 'jconfig'), JUPYTER_RUNTIME_DIR: join(TMP, 'jruntime'), PYDEVD_DISABLE_FILE_VALIDATION: '1',
    };
    const inst = spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), 'kernel', 'install', '--prefix', prefix], { cwd: ROOT, env: jenv, encoding: 'utf8', timeout: 60_000 });
    assert.equal(inst.status, 0, inst.stdout + inst.stderr);
    // The parameters cell says 'quick'; nbconvert cannot inject parameters, so copy the notebook with 'smoke'.
    const src = JSON.parse(readFileSync(join(ROOT, 'notebooks', '02-alpha-tracks-std.ipynb'), 'utf8'));
    const params = src.cells.find((c: any) => c.metadata?.tags?.includes('parameters'));
    params.source = [params.source].flat().join('').replace("const profile: string = 'quick';", "const profile: string = 'smoke';");
    const copy = join(ROOT, 'notebooks', `.smoke-02-${process.pid}.ipynb`); // beside the others: tslab resolves modules from there
    writeFileSync(copy, JSON.stringify(src));
    try {
      const r = spawnSync(python(), ['-m', 'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.kernel_name=dytlab',
        '--ExecutePreprocessor.timeout=300', '--ExecutePreprocessor.startup_timeout=120', '--output-dir', TMP, '--output', 'nbconvert-02.ipynb', copy],
      { cwd: ROOT, env: jenv, encoding: 'utf8', timeout: 600_000 });
      assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
      rmSync(copy, { force: true });
    }
    const nb = read(join(TMP, 'nbconvert-02.ipynb'));
    assert.deepEqual(outputs(nb).filter((o) => o.output_type === 'error').map((e) => e.evalue), []);
    const streams = outputs(nb).map((o) => text(o) + JSON.stringify(o.data ?? {})).join('\n');
    assert.match(streams, /reused finished run/, 'the runs trained by `dytlab run` are reused, not retrained');
    assert.ok(outputs(nb).filter((o) => o.data?.['application/vnd.plotly.v1+json']).length >= 8);
  });
});
