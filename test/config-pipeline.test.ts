// One config pipeline: a run config is resolved once (resolveRun, the data's
// sizes from the vocabulary rule of data/spec.ts, no dataset built), ensureRun
// hashes that config and runTraining trains it building the dataset once;
// sweeps hash with the same resolve; buildModel is the only place a model is
// constructed from a config.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  buildModel, configHash, dataShape, ensureRun, expandSweep, initBackend, isResolvedRun, loadRunModel, openStore,
  resolveRun, resolveRunConfig, runTraining, tf,
} from '../src/index.js';
import { createRunTask } from '../src/experiments/run.js';
import { taskCounters } from '../src/train/tasks.js';

const ROOT = join(__dirname, '..');
const TRAIN = { steps: 4, batchSize: 4, lr: 0.01, warmupSteps: 0, evalEvery: 4, evalBatches: 1, traceEvery: 4 };
const vitRun = (model: Record<string, unknown> = {}, data: Record<string, unknown> = { dataset: 'synthetic-images' }) => ({
  model: { kind: 'vit', dModel: 8, nLayers: 1, nHeads: 2, ...model }, data, train: TRAIN,
});

const lmRun = (over: Record<string, unknown> = {}) => ({
  name: 'pipeline-lm', seed: 3,
  model: { kind: 'lm', context: 8, dModel: 16, nLayers: 1, nHeads: 2 },
  data: { dataset: 'markov', vocabSize: 12, branching: 2, length: 3000 },
  train: TRAIN,
  ...over,
});

describe('config pipeline', () => {
  let dir: string;
  before(async () => {
    await initBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'dytlab-pipeline-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('resolveRun fills the data\'s sizes from the vocabulary rule, without building a task', () => {
    const built = taskCounters.built;
    const lm = resolveRun(lmRun());
    assert.equal(lm.model.kind === 'lm' && lm.model.vocabSize, 12);
    const bytes = resolveRun(lmRun({ data: { dataset: 'moby-dick', level: 'byte' } }));
    assert.equal(bytes.model.kind === 'lm' && bytes.model.vocabSize, 256);
    const vit = resolveRun(vitRun());
    assert.deepEqual(vit.model.kind === 'vit' && [vit.model.classes, vit.model.imageSize, vit.model.channels], [10, 28, 1]);
    assert.equal(taskCounters.built, built, 'resolveRun built a task');
    // The same config as the shallow resolve with the rule's vocabulary (what the store hashed before).
    assert.equal(configHash(lm), configHash(resolveRunConfig(lmRun(), 'run config', 12)));
    // Mismatches and a dataset that does not fit the model are config errors, before anything is built.
    assert.throws(() => resolveRun(lmRun({ model: { ...lmRun().model, vocabSize: 13 } })), /model\.vocabSize = 13 does not match the dataset's vocabulary of 12/);
    assert.throws(() => resolveRun(vitRun({ classes: 3 }, { dataset: 'mnist' })),
      /model\.classes = 3 does not match the dataset's classes \(10\)/);
    assert.throws(() => resolveRun(lmRun({ data: { dataset: 'mnist' } })), /run config: data\.dataset = "mnist" does not fit a language model/);
  });

  test('a resolved config is resolved once: returned as is, and re-resolving a copy changes nothing', () => {
    const cfg = resolveRun(lmRun());
    assert.ok(isResolvedRun(cfg));
    assert.equal(resolveRun(cfg), cfg);
    const copy = structuredClone(cfg);
    assert.ok(!isResolvedRun(copy));
    assert.deepEqual(resolveRun(copy), cfg);
    assert.equal(configHash(resolveRun(copy)), configHash(cfg));
  });

  test('the vocabulary rule agrees with the tasks createTask builds', () => {
    for (const raw of [lmRun(), vitRun({}, { dataset: 'synthetic-images', nTrain: 20, nTest: 10 })]) {
      const cfg = resolveRun(raw);
      const setup = createRunTask(cfg);
      const shape = dataShape(cfg.data);
      try {
        if (shape.modelKind === 'lm') assert.equal(setup.vocabSize, shape.vocabSize);
        else assert.equal(setup.classes, shape.classes);
      } finally {
        setup.task.dispose();
      }
    }
  });

  test('ensureRun of a new run builds its dataset once; reusing it builds none', async () => {
    const store = join(dir, 'ensure.sqlite');
    const before = taskCounters.built;
    const a = await ensureRun(lmRun(), { store });
    assert.equal(a.reused, false);
    assert.equal(taskCounters.built - before, 1, 'a new run through ensureRun built its task more than once');
    assert.equal(configHash(a.config), a.record.configHash);
    assert.equal(a.record.configHash, configHash(resolveRun(lmRun())));
    const b = await ensureRun(lmRun(), { store });
    assert.equal(b.reused, true);
    assert.equal(b.runId, a.runId);
    assert.equal(taskCounters.built - before, 1, 'a reused run built a task');
    const loaded = await loadRunModel(a.runId, { store });
    try {
      assert.equal(taskCounters.built - before, 2);
      assert.equal(loaded.model.kind, 'lm');
    } finally {
      loaded.dispose();
    }
  });

  test('runTraining takes a resolved config and an already-built task (left to its caller), with the same losses', async () => {
    const plain = await runTraining(lmRun({ seed: 5 }), { store: false });
    const cfg = resolveRun(lmRun({ seed: 5 }));
    const { task } = createRunTask(cfg);
    const before = taskCounters.built;
    try {
      const given = await runTraining(cfg, { store: false, task });
      assert.equal(taskCounters.built, before, 'runTraining built a second task');
      assert.deepEqual(given.losses, plain.losses);
      assert.equal(given.config, cfg);
      task.probe().dispose(); // still usable: not disposed by runTraining
    } finally {
      task.dispose();
    }
    await assert.rejects(runTraining(cfg, { store: false, task: { kind: 'vit' } as never }), /task given is for a vit model/);
  });

  test('a sweep combination is hashed as runTraining resolves it', () => {
    const sweep = join(dir, 'sweep.json');
    writeFileSync(sweep, JSON.stringify({ name: 'pipe', base: lmRun(), seeds: [0, 1] }));
    const grid = expandSweep(sweep);
    assert.equal(grid.points.length, 2);
    for (const p of grid.points) assert.equal(p.hash, configHash(resolveRun(p.config)));
  });

  test('buildModel builds from a run config or a model config, and disposes cleanly', () => {
    const n = tf.memory().numTensors;
    const cfg = resolveRun(lmRun());
    for (const m of [buildModel(cfg), buildModel(cfg.model)]) {
      assert.equal(m.kind, 'lm');
      m.dispose();
    }
    assert.equal(tf.memory().numTensors, n);
  });

  test('buildModel is the only place in src/ and bench/ that constructs an LM or a ViT', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(join(ROOT, 'src'));
    walk(join(ROOT, 'bench'));
    const offenders: string[] = [];
    for (const f of files) {
      const rel = relative(ROOT, f).split('\\').join('/');
      const text = readFileSync(f, 'utf8');
      const lines = text.split('\n');
      lines.forEach((line, i) => {
        if (!/\bnew (LM|ViT)\(/.test(line)) return;
        if (/^\s*(\/\/|\*|\/\*)/.test(line)) return; // a comment
        // The classes' own factories (createLM, createViT) and buildModel itself.
        if (rel === 'src/models/build.ts' || rel === 'src/models/llama.ts' || rel === 'src/models/vit.ts') return;
        offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, [], 'construct models with buildModel (src/models/build.ts)');
  });
});
