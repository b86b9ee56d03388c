// notebooks/09-efficiency.ipynb runs headless (profile 'smoke': tiny sizes,
// numbers meaningless, every cell exercised): no errors, its layer chart in
// the report, verdicts built from numbers, the WebGPU correctness note, and
// the GPU section saying what it found in data/gpu/ (a "no GPU measurement
// yet" note with the exact device command when nothing is committed).
// Needs `npm run build` (the CLI runs from dist/).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-nb09-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

type Out = { output_type: string; data?: Record<string, unknown>; ename?: string; evalue?: string };

test('09-efficiency runs headless: no errors, its figure, verdicts from numbers, the GPU section', { timeout: 300_000 }, () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), 'run', join(ROOT, 'notebooks', '09-efficiency.ipynb'),
    '-p', 'profile="smoke"', '--out', TMP], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const nb = JSON.parse(readFileSync(join(TMP, '09-efficiency.ipynb'), 'utf8')) as { cells: Array<{ outputs?: Out[] }>; metadata: Record<string, any> };
  const outs = nb.cells.flatMap((c) => c.outputs ?? []);
  assert.deepEqual(outs.filter((o) => o.output_type === 'error').map((e) => `${e.ename}: ${e.evalue}`), []);
  const gpuDir = join(ROOT, 'data', 'gpu');
  const committed = existsSync(gpuDir) && readdirSync(gpuDir).some((f) => f.endsWith('.json'));
  const figures = outs.filter((o) => o.data?.['application/vnd.plotly.v1+json']).length;
  assert.equal(figures, committed ? 2 : 1, 'the layer chart (and the GPU chart when a result is committed)');
  const md = outs.map((o) => String(o.data?.['text/markdown'] ?? '')).join('\n');
  assert.match(md, /\*\*wasm fused, \[64, 32\]\*\*: DyT forward [\d.]+x copy vs LayerNorm [\d.]+x/);
  assert.match(md, /\*\*cpu, fused norms\*\*/);
  assert.match(md, /fused DyT faster than fused LayerNorm: forward in \d of 2/);
  assert.match(md, /Adapter \*\*.+\*\*|The webgpu backend could not start here/);
  if (committed) assert.match(md, /### What the GPU run measured\n\n.+, \d{4}-\d{2}-\d{2}/);
  else assert.match(md, /No GPU measurement yet.*command `bash bench\/gpu\/run\.sh`, carry `\[".gpu-carry"\]`/);
  assert.doesNotMatch(md, /NaN|undefined/, 'the verdicts are built from numbers');
  assert.equal(nb.metadata['dytlab']?.['backend']?.split(' ')[0], 'wasm', 'the run ends on the default backend');
  const html = readFileSync(join(TMP, '09-efficiency.html'), 'utf8');
  assert.equal(html.match(/class="plotly-figure"/g)?.length, figures);
});
