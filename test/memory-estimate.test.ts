// The memory estimate made before a run allocates anything: parameter counts
// checked against built models (an independent count) and by hand, activations
// against tf.profile's peak of a real training step, and the refusal in
// runTraining, ensureRun and sweeps naming the fields that make a config large.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, setAttentionImpl, setTrainOpsImpl, tf } from '../src/index.js';
import { LM } from '../src/models/llama.js';
import { ViT } from '../src/models/vit.js';
import { resolveLMConfig, resolveViTConfig, type ResolvedLMConfig, type ResolvedViTConfig } from '../src/models/config.js';
import { crossEntropy } from '../src/train/tasks.js';
import {
  checkRunMemory, countModelParameters, estimateRunMemory, formatBytes, MEMORY_LIMIT_FRACTION,
} from '../src/experiments/memory-estimate.js';
import { ensureRun } from '../src/experiments/ensure.js';
import { readConfigFile, resolveRunConfig } from '../src/experiments/run-config.js';
import { runTraining } from '../src/experiments/run.js';
import { openStore } from '../src/experiments/store/index.js';
import { expandSweep, planSweep } from '../src/experiments/sweep.js';
import { runSweep } from '../src/experiments/sweep-runner.js';

const ROOT = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'dytlab-memory-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshStore = () => join(dir, `s${counter++}.sqlite`);

const tinyRun = (model: Record<string, unknown> = {}, data: Record<string, unknown> = {}, train: Record<string, unknown> = {}) => ({
  name: 'tiny', seed: 1,
  model: { kind: 'lm', context: 8, dModel: 8, nLayers: 1, nHeads: 2, ...model },
  data: { dataset: 'markov', vocabSize: 10, branching: 2, length: 1000, ...data },
  train: { steps: 2, batchSize: 4, lr: 0.01, warmupSteps: 0, evalEvery: 2, evalBatches: 1, traceEvery: 2, ...train },
});

/** What a built model really holds: its variables (all, trainable) and its bytes in the backend (variables + buffers). */
function built(cfg: ResolvedLMConfig | ResolvedViTConfig): { total: number; trainable: number; buffers: number } {
  const bytes0 = tf.memory().numBytes;
  const m = cfg.kind === 'lm' ? new LM(cfg) : new ViT(cfg);
  try {
    const ps = m.namedParameters();
    const total = ps.reduce((s, p) => s + p.variable.size, 0);
    const trainable = ps.filter((p) => p.trainable).reduce((s, p) => s + p.variable.size, 0);
    return { total, trainable, buffers: (tf.memory().numBytes - bytes0) / 4 - total };
  } finally {
    m.dispose();
    assert.equal(tf.memory().numBytes, bytes0, `disposing the model left bytes allocated (${JSON.stringify(cfg).slice(0, 120)})`);
  }
}

describe('memory estimate', () => {
  before(async () => { await initBackend('wasm'); });

  test('parameter and buffer counts match the built models, for every part a config can switch on', () => {
    const lms = [
      {},
      { mlp: 'gelu', tiedHead: true, embedScale: true, norm: { kind: 'layernorm' } },
      { norm: { kind: 'dyt', perChannelAlpha: true, shift: true }, fixup: true, residual: { kind: 'rezero' } },
      { norm: { kind: 'dyt', alpha: 'fixed' }, finalNorm: { kind: 'rmsnorm', affine: false }, residual: { kind: 'skipinit', init: 0.1 } },
      { norm: { kind: 'identity' }, rope: false, mlpRatio: 3, nLayers: 3 },
      { attnNorm: { kind: 'dyt', squash: 'erf', alpha: 'none' }, mlpNorm: { kind: 'layernorm', affine: false } },
      { norm: { kind: 'dyisru' }, finalNorm: { kind: 'dyisru', affine: false }, normPlacement: 'post' },
      { norm: { kind: 'identity' }, linearReparam: 'sigma' },
      { norm: { kind: 'identity' }, linearReparam: 'sigma', mlp: 'gelu', tiedHead: true },
    ];
    for (const over of lms) {
      const cfg = resolveLMConfig({ kind: 'lm', vocabSize: 11, context: 12, dModel: 16, nLayers: 2, nHeads: 2, ...over });
      assert.deepEqual(countModelParameters(cfg), built(cfg), JSON.stringify(over));
    }
    const vits = [
      {},
      { pool: 'mean', norm: { kind: 'dyt' }, channels: 3, patchSize: 4, imageSize: 16, fixup: true },
      { norm: { kind: 'rmsnorm' }, classes: 7, mlpRatio: 2, residual: { kind: 'rezero' } },
      { norm: { kind: 'identity' }, linearReparam: 'sigma', normPlacement: 'res-post', mlpRatio: 2 },
    ];
    for (const over of vits) {
      const cfg = resolveViTConfig({ kind: 'vit', dModel: 16, nLayers: 2, nHeads: 4, ...over });
      assert.deepEqual(countModelParameters(cfg), built(cfg), JSON.stringify(over));
    }
  });

  test('a tiny LM and a tiny ViT counted by hand', () => {
    // LM: V 10, T 8, d 8, 1 layer, 2 heads, SwiGLU hidden ceil(8/3 * 8 / 8) * 8 = 24, RMSNorm, RoPE, untied head.
    const lm = resolveLMConfig({ kind: 'lm', vocabSize: 10, context: 8, dModel: 8, nLayers: 1, nHeads: 2 });
    const lmParams = 10 * 8 /* embed */ + 4 * 8 * 8 /* qkv + proj */ + 3 * 8 * 24 /* gate, up, down */ + 2 * 8 /* norm1, norm2 */
      + 8 /* final norm */ + 8 * 10 /* head */;
    const lmBuffers = 8 * 8 /* causal mask */ + 2 * 8 * 4 /* RoPE cos, sin */ + 3 * 8 /* the norms' ones */;
    assert.equal(lmParams, 1016);
    assert.deepEqual(countModelParameters(lm), { total: lmParams, trainable: lmParams, buffers: lmBuffers });
    // ViT: 8x8 images, 4x4 patches (4 + cls = 5 tokens), d 8, 1 layer, MLP ratio 2 (hidden 16), 3 classes, LayerNorm.
    const vit = resolveViTConfig({ kind: 'vit', imageSize: 8, patchSize: 4, dModel: 8, nLayers: 1, nHeads: 2, mlpRatio: 2, classes: 3 });
    const vitParams = (16 * 8 + 8) /* patch embed */ + 8 /* cls */ + 5 * 8 /* pos */ + (4 * 8 * 8 + 4 * 8) /* attention, biased */
      + (2 * 8 * 16 + 16 + 8) /* MLP, biased */ + 3 * 2 * 8 /* three LayerNorms */ + (8 * 3 + 3) /* head */;
    assert.equal(vitParams, 827);
    assert.deepEqual(countModelParameters(vit), { total: vitParams, trainable: vitParams, buffers: 3 * 2 * 8 });

    // The whole estimate of a tiny run: B 4, T 8 (X = B*T*d = 256 values), hidden 24, 2 heads, vocab 10.
    const e = estimateRunMemory(resolveRunConfig(tinyRun()));
    const X = 4 * 8 * 8, Hd = 4 * 8 * 24, S = 4 * 2 * 8 * 8, logits = 4 * 8 * 10;
    const activations = 4 * (88 * X + 19 * Hd + 9 * S + 16 * logits + 24 * X);
    assert.equal(activations, 211_968);
    const dataset = 4 * 10 * (1 + 2) /* ids + successors */ + 8 * 10 /* unigram counts */ + 4 * 1000 /* tokens */;
    assert.deepEqual(e.parts, {
      parameters: 4 * 1016, adamw: 8 * 1016, gradients: 4 * 1016, activations, buffers: 4 * 152, dataset, checkpoint: 4 * 3 * 1016,
    });
    assert.equal(e.totalBytes, 4 * 1016 + 8 * 1016 + 4 * 152 + dataset + 4 * 1016 + activations);
    assert.equal(e.vocabSize, 10);
  });

  test('activations and gradients agree with tf.profile\'s peak of a real training step (configs outside the fit)', async () => {
    const cases: [ResolvedLMConfig | ResolvedViTConfig, number][] = [
      [resolveLMConfig({ kind: 'lm', vocabSize: 40, context: 24, dModel: 48, nLayers: 3, nHeads: 4, norm: { kind: 'dyt' } }), 6],
      [resolveLMConfig({ kind: 'lm', vocabSize: 300, context: 40, dModel: 32, nLayers: 1, nHeads: 2, mlp: 'gelu' }), 5],
      [resolveViTConfig({ kind: 'vit', dModel: 24, nLayers: 2, nHeads: 3, patchSize: 4 }), 100],
    ];
    for (const [model, batchSize] of cases) {
      const run = resolveRunConfig({
        model: model.kind === 'lm' ? { ...model, vocabSize: undefined } : model,
        data: model.kind === 'lm' ? { dataset: 'markov', vocabSize: (model as ResolvedLMConfig).vocabSize, branching: 2 } : { dataset: 'synthetic-images' },
        train: { steps: 1, batchSize, lr: 0.01 },
      });
      const est = estimateRunMemory(run);
      const m = model.kind === 'lm' ? new LM(model) : new ViT(model);
      const x = model.kind === 'lm' ? tf.randomUniformInt([batchSize, model.context], 0, model.vocabSize) : tf.randomUniform([batchSize, 28, 28]);
      const y = tf.randomUniformInt(model.kind === 'lm' ? [batchSize, model.context] : [batchSize], 0, model.kind === 'lm' ? model.vocabSize : 10);
      // The estimate models the composed ops' peak; the fused training ops (attention,
      // cross-entropy, GELU) keep fewer intermediates, so for them it is an upper bound.
      const peak = async (impl: 'composed' | 'auto') => {
        setAttentionImpl(impl);
        setTrainOpsImpl(impl);
        try {
          const before = tf.memory().numBytes;
          const prof = await tf.profile(() => {
            const { value, grads } = tf.variableGrads(() => crossEntropy(m.apply(x), y), m.trainableVariables());
            tf.dispose([value, ...Object.values(grads)]);
          });
          return prof.peakBytes - before;
        } finally {
          setAttentionImpl('auto');
          setTrainOpsImpl('auto');
        }
      };
      const measured = await peak('composed'), fused = await peak('auto');
      m.dispose();
      tf.dispose([x, y]);
      const estimated = est.parts.activations + est.parts.gradients;
      const ratio = estimated / measured;
      assert.ok(ratio >= 0.95 && ratio <= 1.3, `${model.kind} ${JSON.stringify(model).slice(0, 80)}: estimated ${formatBytes(estimated)}, measured ${formatBytes(measured)} (composed ops)`);
      assert.ok(fused <= measured * 1.01, `${model.kind}: the fused ops' peak ${formatBytes(fused)} exceeds the composed ops' ${formatBytes(measured)}`);
    }
  });

  test('the fields that make a config large are named, with the estimate by part and the limit', () => {
    const raw = readConfigFile(join(ROOT, 'configs', 'lm-tiny.json')) as { model: Record<string, unknown> };
    raw.model.dModel = 16384;
    const cfg = resolveRunConfig(raw);
    assert.throws(() => checkRunMemory(cfg, { memoryLimitBytes: 12e9 }), (e: Error) => {
      assert.equal(e.name, 'ConfigError');
      assert.match(e.message, /^run config: model\.dModel = 16384 needs about \d+\.\d GB \(parameters \d+\.\d GB, AdamW state \d+\.\d GB, /);
      assert.match(e.message, /; the limit is 12\.0 GB \(memoryLimitBytes\)\. Lower model\.dModel, or pass --allow-large \(allowLarge: true\) to train it anyway\.$/);
      return true;
    });
    assert.equal(checkRunMemory(cfg, { memoryLimitBytes: 12e9, allowLarge: true }).drivers[0]!.field, 'model.dModel');
    const drivers = (over: Parameters<typeof tinyRun>) => estimateRunMemory(resolveRunConfig(tinyRun(...over))).drivers.map((d) => d.field);
    assert.deepEqual(drivers([{ dModel: 16 }, { vocabSize: 60000 }]), ['data.vocabSize']);
    assert.deepEqual(drivers([{}, {}, { batchSize: 100_000 }]), ['train.batchSize']);
    assert.deepEqual(drivers([{ context: 8192 }]), ['model.context']);
    assert.deepEqual(drivers([{}, { length: 500_000_000 }]), ['data.length']);
    assert.deepEqual(drivers([{ dModel: 4096, nLayers: 48, nHeads: 32 }]), ['model.dModel', 'model.nLayers']);
  });

  test('runTraining refuses an oversized model before anything is allocated or recorded (it used to fail deep in tfjs, naming nothing)', async () => {
    const storePath = freshStore();
    const tensors = tf.memory().numTensors;
    await assert.rejects(runTraining(tinyRun({ dModel: 1_000_000, nHeads: 2 }), { store: storePath }), (e: Error) => {
      assert.match(e.message, /^run config: model\.dModel = 1000000 needs about \d+\.\d TB \(parameters /);
      assert.match(e.message, new RegExp(`the limit is [\\d.]+ [kMGT]?B \\(${MEMORY_LIMIT_FRACTION * 100}% of this machine's memory, os\\.totalmem\\(\\) = `));
      return true;
    });
    assert.equal(tf.memory().numTensors, tensors, 'tensors were allocated');
    const store = openStore(storePath);
    assert.equal(store.listRuns().length, 0, 'a run was recorded');
    store.close();
    // The limit is an option; allowLarge trains anyway.
    await assert.rejects(runTraining(tinyRun(), { store: false, memoryLimitBytes: 100_000 }),
      /run config: .* needs about \d+\.\d kB .*; the limit is 100\.0 kB \(memoryLimitBytes\)/);
    const r = await runTraining(tinyRun(), { store: false, memoryLimitBytes: 100_000, allowLarge: true });
    assert.equal(r.status, 'finished');
  });

  test('a Markov vocabulary too large to draw is refused by the schema, naming the field', () => {
    assert.throws(() => resolveRunConfig(tinyRun({}, { vocabSize: 1e9 })), /run config: data: vocabSize = 1000000000 is invalid: must be <= 65536/);
  });

  test('ensureRun (notebooks) reaches the same guard, before building the dataset', async () => {
    const storePath = freshStore();
    await assert.rejects(ensureRun(tinyRun({ dModel: 1_000_000 }), { store: storePath }), /run config: model\.dModel = 1000000 needs about/);
    await assert.rejects(ensureRun(tinyRun({}, { length: 500_000_000 }), { store: storePath, memoryLimitBytes: 1e9 }),
      /run config: data\.length = 500000000 needs about 2\.\d GB .*dataset 2\.0 GB.*the limit is 1\.0 GB/);
    const store = openStore(storePath);
    assert.equal(store.listRuns().length, 0);
    store.close();
  });

  test('a sweep\'s worker reaches the same guard: the combination fails with the named error', async () => {
    const sweep = join(dir, 'big-sweep.json');
    const base = tinyRun({ dModel: 1_000_000 });
    writeFileSync(sweep, JSON.stringify({ name: 'big', base: { model: base.model, data: base.data, train: base.train }, seeds: [0] }));
    const grid = expandSweep(sweep);
    const empty = openStore(':memory:');
    const plan = planSweep(grid, empty);
    empty.close();
    const r = await runSweep(plan, { store: freshStore(), jobs: 1 });
    assert.equal(r.failed, 1);
    const outcome = r.outcomes[0]!.outcome as { reason?: string };
    assert.match(outcome.reason ?? '', /run config: model\.dModel = 1000000 needs about/);
  });
});
