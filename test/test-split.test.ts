// The opt-in test split (data.testSplit): each dataset's held-out data divided
// into validation and test by a fixed rule (data/README.md), disjoint and
// covering the old held-out set exactly; the training split, the losses and the
// config hashes of runs without it unchanged; test/* recorded at the final step.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { loadMnist, mnistValTestSplit } from '../src/data/mnist.js';
import { parseDataSpec } from '../src/data/spec.js';
import { markovChainTask, syntheticImageTask } from '../src/data/synthetic.js';
import { loadMobyDick, mobyDickHeldOutHalf, mobyDickValTestSplit } from '../src/data/text.js';
import { runTraining } from '../src/experiments/run.js';
import { resolveRun } from '../src/experiments/run-config.js';
import { configHash } from '../src/experiments/store/codec.js';
import { openStore } from '../src/experiments/store/index.js';
import { expandSweep } from '../src/experiments/sweep.js';

describe('test split: data rules', () => {
  test('MNIST: per-class parity splits the 2,004 held-out digits into 1,005 validation and 999 test, disjoint and complete', () => {
    const held = loadMnist().test;
    const h = mnistValTestSplit(held);
    assert.equal(h.val.n, 1005);
    assert.equal(h.test.n, 999);
    const all = [...h.valIndices, ...h.testIndices].sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: held.n }, (_, i) => i), 'the union is the held-out set, each index once');
    // The rule, checked independently: the j-th held-out sample of a class is validation iff j is even.
    const seen = new Array<number>(10).fill(0);
    const isVal = new Set(h.valIndices);
    for (let i = 0; i < held.n; i++) assert.equal(isVal.has(i), seen[held.labels[i]!]!++ % 2 === 0, `index ${i}`);
    const per = (labels: Int32Array) => Array.from({ length: 10 }, (_, c) => labels.filter((l) => l === c).length);
    assert.deepEqual(per(h.val.labels), per(held.labels).map((n) => Math.ceil(n / 2)));
    const size = 28 * 28;
    for (const k of [0, 1, 500, 998]) {
      const i = h.testIndices[k]!;
      assert.deepEqual(h.test.images.subarray(k * size, (k + 1) * size), held.images.subarray(i * size, (i + 1) * size));
      assert.equal(h.test.labels[k], held.labels[i]);
    }
  });

  test('Moby-Dick: validation chapters that are multiples of 20 stay validation, the others are test; train unchanged', () => {
    const c = loadMobyDick();
    const h = mobyDickValTestSplit();
    assert.deepEqual(h.chapters.val, ['20', '40', '60', '80', '100', '120']);
    assert.deepEqual(h.chapters.test, ['10', '30', '50', '70', '90', '110', '130']);
    assert.ok(h.chapters.val.every((ch) => !h.chapters.test.includes(ch)), 'disjoint');
    assert.deepEqual([...h.chapters.val, ...h.chapters.test].sort(), [...c.chapters.val].sort(), 'exactly the old validation chapters');
    assert.ok(h.chapters.test.every((ch) => !c.chapters.train.includes(ch)));
    assert.equal(mobyDickHeldOutHalf('40'), 'val');
    assert.equal(mobyDickHeldOutHalf('50'), 'test');
    assert.throws(() => mobyDickHeldOutHalf('41'), /not a validation chapter/);
    // Two chapters' worth of separators aside, the halves hold the old validation tokens.
    assert.equal(h.val.length + h.test.length + 1, c.val.length);
    assert.equal(h.unknownTest, 0);
    const b = mobyDickValTestSplit({ level: 'byte' });
    assert.equal(b.val.length + b.test.length + 1, loadMobyDick({ level: 'byte' }).val.length);
  });

  test('Markov: the longer walk starts with the same stream; synthetic images: the extra test draw leaves train and test alone', () => {
    const a = markovChainTask({ vocabSize: 12, branching: 3, length: 1000, seed: 5 });
    const b = markovChainTask({ vocabSize: 12, branching: 3, length: 1100, seed: 5 });
    assert.deepEqual(b.tokens.subarray(0, 1000), a.tokens);
    const s = syntheticImageTask({ nTrain: 30, nTest: 20, seed: 2 });
    const t = syntheticImageTask({ nTrain: 30, nTest: 20, seed: 2, nHeldOutTest: 20 });
    assert.deepEqual(t.train, s.train);
    assert.deepEqual(t.test, s.test);
    assert.equal(s.heldOutTest, undefined);
    assert.equal(t.heldOutTest!.n, 20);
    assert.notDeepEqual(t.heldOutTest!.images, t.test.images);
  });
});

describe('test split: configs', () => {
  test('testSplit: false is the default: dropped when parsed, same resolved config and hash', () => {
    assert.deepEqual(parseDataSpec({ dataset: 'mnist', testSplit: false }), { dataset: 'mnist' });
    assert.deepEqual(parseDataSpec({ dataset: 'mnist', testSplit: true }), { dataset: 'mnist', testSplit: true });
    assert.throws(() => parseDataSpec({ dataset: 'mnist', testSplit: 'yes' }), /testSplit/);
    const files = readdirSync('configs').filter((f) => f.endsWith('.json'));
    const sweeps = readdirSync(join('configs', 'sweeps')).filter((f) => f.endsWith('.json'));
    const configs = [
      ...files.map((f) => JSON.parse(readFileSync(join('configs', f), 'utf8')) as Record<string, unknown>),
      ...sweeps.flatMap((f) => expandSweep(join('configs', 'sweeps', f)).points.map((p) => p.config as Record<string, unknown>)),
    ];
    assert.ok(configs.length > 50);
    let checked = 0;
    for (const cfg of configs) {
      // Sweeps written for the test split (swiglu-lm.json, on the study's recipe) opt in; the rest keep their hashes.
      if ((cfg.data as { testSplit?: boolean }).testSplit === true) continue;
      checked++;
      const r = resolveRun(cfg);
      assert.equal('testSplit' in r.data, false);
      const off = resolveRun({ ...cfg, data: { ...(cfg.data as object), testSplit: false } });
      assert.equal(configHash(off), configHash(r));
      const on = resolveRun({ ...cfg, data: { ...(cfg.data as object), testSplit: true } });
      assert.notEqual(configHash(on), configHash(r));
    }
    assert.ok(checked > 50, `${checked} configs without the test split checked`);
  });
});

const lmConfig = (data: Record<string, unknown>) => ({
  name: 'split-lm', seed: 3,
  model: { kind: 'lm', context: 16, dModel: 16, nLayers: 1, nHeads: 2, norm: { kind: 'dyt' } },
  data: { dataset: 'markov', vocabSize: 12, branching: 2, length: 3000, ...data },
  train: { steps: 6, batchSize: 4, lr: 0.01, warmupSteps: 1, evalEvery: 2, evalBatches: 3 },
});
const vitConfig = (data: Record<string, unknown>) => ({
  name: 'split-vit', seed: 3,
  model: { kind: 'vit', dModel: 16, nLayers: 1, nHeads: 2, patchSize: 7, norm: { kind: 'dyt' } },
  data: { dataset: 'synthetic-images', nTrain: 100, nTest: 40, ...data },
  train: { steps: 4, batchSize: 8, lr: 0.01, warmupSteps: 1, evalEvery: 2 },
});

describe('test split: training', () => {
  before(async () => {
    await initBackend('wasm');
  });

  test('off (absent or false) trains and evaluates identically; on, the training losses are the same and test/* comes at the end', async () => {
    for (const make of [lmConfig, vitConfig]) {
      const absent = await runTraining(make({}), { store: false });
      const off = await runTraining(make({ testSplit: false }), { store: false });
      assert.deepEqual(off.losses, absent.losses);
      assert.deepEqual(off.lastEval, absent.lastEval);
      assert.ok(!Object.keys(absent.lastEval!).some((k) => k.startsWith('test/')));
      const on = await runTraining(make({ testSplit: true }), { store: false });
      assert.deepEqual(on.losses, absent.losses, 'the training split is unchanged');
      assert.ok(Number.isFinite(on.lastEval!['test/loss']));
    }
  });

  test('with testSplit the store has test/loss (and test/accuracy for a classifier) at the final step only, beside val/*', async () => {
    const store = openStore(':memory:');
    try {
      const lm = await runTraining(lmConfig({ testSplit: true }), { store });
      assert.deepEqual(store.metricSeries(lm.runId!, 'test/loss').step, [6]);
      assert.deepEqual(store.metricSeries(lm.runId!, 'val/loss').step, [2, 4, 6]);
      assert.equal(store.metricSeries(lm.runId!, 'test/loss').value[0], lm.lastEval!['test/loss']);
      assert.deepEqual(store.metricSeries(lm.runId!, 'testTokens').value, [3000 - 2700]);
      const vit = await runTraining(vitConfig({ testSplit: true }), { store });
      for (const m of ['test/loss', 'test/accuracy']) assert.deepEqual(store.metricSeries(vit.runId!, m).step, [4]);
      const acc = store.metricSeries(vit.runId!, 'test/accuracy').value[0]!;
      assert.ok(acc >= 0 && acc <= 1);
      const plain = await runTraining(vitConfig({}), { store });
      assert.deepEqual(store.metricSeries(plain.runId!, 'test/loss').step, []);
    } finally {
      store.close();
    }
  });
});
