// Matched recipes (src/notebook/recipes.ts): the study file's base plus one
// variant's patch, checked against the study file read here with JSON.parse
// (not through the sweep loader the code uses), so LN and DyT differ only in
// what the variant sets; every profile resolves; bad names are errors that name
// the file and the labels. obtainRun (src/notebook/runs.ts) trains once, then
// reuses, and reports a stalled run as a result.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RECIPE_PROFILES, configDifferences, describeRecipes, matchedRecipe, obtainRun, recipe, recipeVariants, trainedEntry,
} from '../src/notebook/index.js';
import { resolveRun } from '../src/experiments/run-config.js';
import { openStore } from '../src/experiments/store/index.js';
import { initBackend } from '../src/engine/backend.js';
import { chooseLearningRates, hasStudyRuns, readStudyRuns } from '../src/study/index.js';

const ROOT = join(__dirname, '..');
const studyFile = (m: string) => join(ROOT, 'configs', 'study', `variants-${m}.json`);
const study = (m: string) => JSON.parse(readFileSync(studyFile(m), 'utf8')) as {
  base: any; variants: { norm: Record<string, Record<string, unknown>> }; profiles: { smoke: { set: Record<string, unknown> } };
};
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('matchedRecipe', () => {
  for (const m of ['lm', 'vit'] as const) {
    test(`${m}: layernorm and dyt-tanh differ only in model.norm, which is the study file's patch`, () => {
      const file = study(m);
      for (const profile of ['smoke', 'quick'] as const) {
        const ln = matchedRecipe(m, 'layernorm', profile), dyt = matchedRecipe(m, 'dyt-tanh', profile);
        assert.deepEqual(dyt.model.norm, file.variants.norm['dyt-tanh']!['model.norm']);
        assert.deepEqual(ln.model.norm, { kind: 'layernorm' });
        // Everything else equal, the name aside (it names the variant).
        const rest = (c: any) => { const x = clone(c); delete x.model.norm; delete x.name; return x; };
        assert.deepEqual(rest(dyt), rest(ln), `${profile}: only model.norm differs`);
        assert.notEqual(ln.name, dyt.name);
      }
    });

    test(`${m}: quick is the study base with its steps, the base lr, a final checkpoint and the test split`, () => {
      const base = study(m).base;
      const c = matchedRecipe(m, 'layernorm', 'quick');
      const want = clone(base);
      delete want.description;
      want.name = `recipe-${m}-layernorm`;
      want.train.checkpointEvery = base.train.steps;
      assert.deepEqual(c, want);
      assert.equal(c.data.testSplit, true);
    });

    test(`${m}: smoke applies the study file's own smoke set (stall removed, width 16, 8 steps)`, () => {
      const set = study(m).profiles.smoke.set;
      const c = matchedRecipe(m, 'dyt-tanh', 'smoke') as any;
      assert.equal(c.model.dModel, set['model.dModel']);
      assert.equal(c.model.nLayers, set['model.nLayers']);
      assert.equal(c.train.steps, set['train.steps']);
      assert.equal(c.train.checkpointEvery, set['train.steps']);
      assert.equal('stall' in c.train, false, 'train.stall: null removes the stall check');
      // The smoke profile narrows the file's variants to two; the recipe still knows every variant of the file.
      assert.equal(c.model.norm.kind, 'dyt');
    });

    test(`${m}: every profile and every variant of the file resolves`, () => {
      const labels = recipeVariants(m);
      assert.deepEqual(labels, Object.keys(study(m).variants.norm));
      for (const profile of RECIPE_PROFILES) {
        for (const v of labels) {
          const r = recipe(m, v, profile, { choices: [] });
          assert.equal(resolveRun(r.config).train.steps, r.resolved.train.steps);
          assert.equal(r.resolved.data.testSplit, true);
        }
      }
    });
  }

  test('the non-norm variants carry their whole patch (post-ln: placement; fixup: identity norm + fixup)', () => {
    const post = matchedRecipe('lm', 'post-ln', 'quick') as any, fix = matchedRecipe('vit', 'fixup', 'quick') as any;
    assert.equal(post.model.normPlacement, 'post');
    assert.deepEqual(fix.model.norm, { kind: 'identity' });
    assert.equal(fix.model.fixup, true);
    assert.deepEqual(configDifferences(matchedRecipe('lm', 'layernorm', 'quick'), post).sort(), ['model.normPlacement', 'name']);
  });

  test("study: each variant's lr from the study's choice; without one, the quick lr and a note saying why", () => {
    const choices = [
      { study: 'variants', model: 'lm', variant: 'layernorm', bestLr: 0.009, state: 'bracketed' },
      { study: 'variants', model: 'lm', variant: 'dyt-tanh', bestLr: 0.001, state: 'bracketed' },
      { study: 'variants', model: 'lm', variant: 'rmsnorm', bestLr: null, state: 'all failed' },
      { study: 'stability', model: 'lm', variant: 'dyt-erf', bestLr: 0.027, state: 'bracketed' },
    ];
    const base = study('lm').base;
    const ln = recipe('lm', 'layernorm', 'study', { choices }), dyt = recipe('lm', 'dyt-tanh', 'study', { choices });
    assert.equal(ln.config.train.lr, 0.009);
    assert.equal(dyt.config.train.lr, 0.001);
    assert.match(ln.lrNote, /chosen on validation .*bracketed/);
    assert.equal(ln.config.train.steps, base.train.steps, "the study's steps");
    assert.deepEqual(configDifferences(ln.config, dyt.config).sort(), ['model.norm', 'name', 'train.lr']);
    const failed = recipe('lm', 'rmsnorm', 'study', { choices });
    assert.equal(failed.lr, base.train.lr);
    assert.match(failed.lrNote, /every learning rate .* failed/);
    const other = recipe('lm', 'dyt-erf', 'study', { choices });
    assert.equal(other.lr, base.train.lr, "another study's choice is not taken");
    assert.match(other.lrNote, /no "variants" runs of lm dyt-erf/);
    assert.equal(recipe('lm', 'dyt-erf', 'study', { choices, study: 'stability' }).lr, 0.027);
    assert.match(recipe('vit', 'layernorm', 'study', { choices }).lrNote, /no "variants" runs of vit layernorm/);
  });

  test('study without choices: the choice from data/study/runs.csv when it exists, else the quick lr and a note', () => {
    const r = recipe('vit', 'dyt-tanh', 'study');
    if (!hasStudyRuns()) {
      assert.equal(r.lr, study('vit').base.train.lr);
      assert.match(r.lrNote, /no study table \(data\/study\/runs\.csv\)/);
      return;
    }
    // The rows of the variants study for this variant, read apart from the recipe, and the lr with the best mean validation accuracy.
    const rows = readStudyRuns().filter((x) => x.study === 'variants' && x.model === 'vit' && x.variant === 'dyt-tanh');
    const c = chooseLearningRates(rows)[0];
    assert.equal(r.lr, c?.bestLr ?? study('vit').base.train.lr);
  });

  test('checkpoints: evenly spaced, the last at the final step; a seed sets config.seed', () => {
    const c = matchedRecipe('vit', 'layernorm', 'quick', { checkpoints: 4, seed: 2 }) as any;
    assert.equal(c.train.checkpointEvery, c.train.steps / 4);
    assert.equal(c.seed, 2);
    assert.throws(() => matchedRecipe('vit', 'layernorm', 'quick', { checkpoints: 0 }), /checkpoints = 0 must be an integer >= 1/);
  });

  test('bad names: the variant error names the file and its labels; profile and model errors list the choices', () => {
    assert.throws(() => matchedRecipe('lm', 'dyt-tahn', 'quick'), (e: Error) => {
      assert.match(e.message, /no variant "dyt-tahn" in configs\/study\/variants-lm\.json/);
      assert.match(e.message, /variants\.norm: layernorm, rmsnorm, dyt-tanh, /);
      return true;
    });
    assert.throws(() => matchedRecipe('lm', 'layernorm', 'long'), /profile = "long" is not one of 'smoke', 'quick', 'study'/);
    assert.deepEqual(matchedRecipe('lm', 'layernorm', 'full', { choices: [] }), matchedRecipe('lm', 'layernorm', 'study', { choices: [] }), "'full' is 'study'");
    assert.throws(() => matchedRecipe('gpt' as any, 'layernorm', 'quick'), /model = "gpt" is not 'vit' or 'lm'/);
  });

  test('describeRecipes says where the recipes come from, what differs and how the lr was chosen', () => {
    const text = describeRecipes([recipe('lm', 'layernorm', 'quick'), recipe('lm', 'dyt-tanh', 'quick'), recipe('vit', 'layernorm', 'quick')]);
    assert.match(text, /\*\*LM\*\* \(layernorm, dyt-tanh\): the base of `configs\/study\/variants-lm\.json`, profile quick: 320 steps/);
    assert.match(text, /They differ only in `model\.norm`\./);
    assert.match(text, /lr 0\.003, the study base's, shared by every variant/);
    assert.match(text, /\*\*ViT\*\* \(layernorm\)/);
  });
});

describe('obtainRun', () => {
  test('trains once, then reuses; a stalled run is returned as stalled (and reused), not thrown', { timeout: 120_000 }, async () => {
    await initBackend('cpu');
    const dir = mkdtempSync(join(tmpdir(), 'dytlab-recipes-'));
    const store = openStore(join(dir, 'store.sqlite'));
    try {
      const cfg = matchedRecipe('lm', 'layernorm', 'smoke');
      (cfg.train as any).steps = 4;
      (cfg.train as any).checkpointEvery = 4;
      (cfg.train as any).evalEvery = 2;
      // What is tested is reuse and the stalled path: evaluate on 2 validation batches, without the test split's full pass.
      (cfg.data as any).testSplit = false;
      (cfg.train as any).evalBatches = 2;
      const a = await obtainRun(store, cfg, 'LN');
      assert.equal(a.status, 'ok');
      assert.equal(a.reused, false);
      assert.ok(store.latestCheckpoint(a.runId), 'a checkpoint at the end');
      const b = await obtainRun(store, cfg, 'LN');
      assert.deepEqual([b.reused, b.runId], [true, a.runId]);
      // A stall margin no 4-step run can meet: the run ends 'stalled' at step 2.
      const stalling = { ...cfg, name: 'stalls', train: { ...cfg.train, stall: { atFraction: 0.5, margin: 100 } } };
      const s = await obtainRun(store, stalling, 'stalls');
      assert.equal(s.status, 'stalled');
      assert.equal(s.step, 2);
      assert.match(String(s.reason), /unigram/);
      const s2 = await obtainRun(store, stalling, 'stalls');
      assert.deepEqual([s2.reused, s2.runId, s2.status], [true, s.runId, 'stalled']);
      const e = trainedEntry('LN', [a, b]);
      assert.deepEqual(e.statuses, { ok: 2 });
      assert.deepEqual(trainedEntry('x', [s]).statuses, { stalled: 1 });
      await assert.rejects(obtainRun(undefined as any, cfg, 'LN'), /obtainRun\(LN\): store must be an open RunStore/);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
