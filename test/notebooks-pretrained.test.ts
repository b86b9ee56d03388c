// Notebooks 01 and 03 on imported snapshots (`-p model=...`): the committed
// random-weight fixtures (no tokenizer.json, so seeded random ids), smoke
// profile. The numbers mean nothing; the runs prove the path: no errors, the
// figures, verdicts built from numbers, and the output saying the data were synthetic.
// Needs `npm run build` (the CLI runs from dist/).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'pretrained');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-notebooks-pretrained-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const env = { ...process.env, DYTLAB_STORE: join(TMP, 'store.sqlite') };

type Out = { output_type: string; data?: Record<string, unknown>; ename?: string; evalue?: string };
const outputs = (p: string) => (JSON.parse(readFileSync(p, 'utf8')) as { cells: { outputs?: Out[] }[] }).cells.flatMap((c) => c.outputs ?? []);

function run(notebook: string, params: string[], out: string): Out[] {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), 'run', join(ROOT, 'notebooks', `${notebook}.ipynb`),
    '-p', 'profile=smoke', ...params.flatMap((p) => ['-p', p]), '--out', out], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const o = outputs(join(out, `${notebook}.ipynb`));
  assert.deepEqual(o.filter((x) => x.output_type === 'error').map((e) => `${e.ename}: ${e.evalue}`), []);
  return o;
}
const figures = (o: Out[]) => o.filter((x) => x.data?.['application/vnd.plotly.v1+json']).length;
const markdownOf = (o: Out[]) => o.map((x) => String(x.data?.['text/markdown'] ?? '')).join('\n');

describe('notebooks on imported snapshots (random-weight fixtures, smoke profile)', () => {
  for (const [fixture, type] of [['gpt2-tiny', 'gpt2'], ['llama-gqa', 'llama']] as const) {
    test(`01 with -p model=${fixture}: figures, a verdict from numbers, synthetic ids said`, { timeout: 120_000 }, () => {
      const o = run('01-layernorm-mappings', [`model=${join(FIXTURES, fixture)}`], join(TMP, `01-${fixture}`));
      // the mapping grid, the close-up by token and by channel, the two depth charts
      assert.equal(figures(o), 5);
      const md = markdownOf(o);
      assert.match(md, new RegExp(`\\*\\*${type} ${fixture}\\.\\*\\* blocks\\.0\\.norm1 [^]*Mean S-shape index: \\d\\.\\d{3}`));
      assert.match(md, /no tokenizer\.json, so the inputs are seeded uniform token ids/);
      assert.doesNotMatch(md, /NaN|undefined/, 'the verdict is built from numbers');
      assert.doesNotMatch(md, /ViT on MNIST|LM on Moby-Dick/, 'the lab\'s own models are not studied');
    });
  }

  test('01 with -p models=[two Pythia fixtures]: one S-shape line per snapshot and the across-training sentence', { timeout: 120_000 }, () => {
    const dirs = ['pythia-parallel', 'pythia-sequential-bf16'].map((f) => join(FIXTURES, f));
    const o = run('01-layernorm-mappings', [`models=${JSON.stringify(dirs)}`], join(TMP, '01-models'));
    assert.equal(figures(o), 6);
    const md = markdownOf(o);
    assert.match(md, /\*\*Across training\.\*\* Mean S-shape index of the blocks' norms: gpt_neox pythia-parallel \d\.\d{3}, gpt_neox pythia-sequential-bf16 \d\.\d{3}\./);
    assert.doesNotMatch(md, /NaN|undefined/);
  });

  test('03 with -p model=gpt2-tiny: loss before and after the fitted swap and after the fine-tune, synthetic ids said', { timeout: 120_000 }, () => {
    const o = run('03-swap-test', [`model=${join(FIXTURES, 'gpt2-tiny')}`], join(TMP, '03-gpt2'));
    assert.equal(figures(o), 1, 'alpha vs 1/std');
    const md = markdownOf(o);
    assert.match(md, /\*\*gpt2-tiny\.\*\* Trained LayerNorm validation loss: \d+\.\d{3} \(\d+\.\d{3} after the same 3-step fine-tune\)\. Swapped without retraining → after fine-tuning: fitted alpha: \d+\.\d{3} → \d+\.\d{3}\./);
    assert.match(md, /no tokenizer\.json, so the inputs are seeded uniform token ids/);
    assert.doesNotMatch(md, /NaN|undefined|n\/a/);
  });
});
