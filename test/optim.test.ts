// Pieces of the trainer on their own: schedule, AdamW against a hand-computed
// step, weight-decay groups, clipping, divergence rules, safetensors files.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, clipByGlobalNorm, createLM, initBackend, lrAt, readSafetensors, tf, writeSafetensors } from '../src/index.js';
import { decays } from '../src/train/adamw.js';
import { checkDivergence, newDivergenceState } from '../src/train/divergence.js';

describe('trainer parts', () => {
  before(async () => {
    await initBackend('cpu');
  });

  test('warmup is linear from lr/warmup to lr, then cosine down to minLr', () => {
    const s = { lr: 1, minLr: 0.1, warmupSteps: 4, steps: 14 };
    assert.deepEqual([0, 1, 2, 3].map((i) => lrAt(i, s)), [0.25, 0.5, 0.75, 1]);
    assert.equal(lrAt(4, s), 1);
    assert.ok(Math.abs(lrAt(9, s) - 0.55) < 1e-12); // halfway: (1 + 0.1) / 2
    assert.ok(Math.abs(lrAt(14, s) - 0.1) < 1e-12);
  });

  test('one AdamW step equals the formula, with decoupled decay only on matrices', () => {
    const w = tf.variable(tf.tensor2d([[1, -2]])), b = tf.variable(tf.tensor1d([0.5]));
    const opt = new AdamW([{ name: 'w', variable: w, trainable: true }, { name: 'b', variable: b, trainable: true }],
      { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
    opt.apply(new Map<string, tf.Tensor>([['w', tf.tensor2d([[0.2, -0.4]])], ['b', tf.tensor1d([1])]]), 0.01);
    // Step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) = lr * sign(g).
    const wExp = [1 * (1 - 0.01 * 0.1) - 0.01, -2 * (1 - 0.01 * 0.1) + 0.01];
    Array.from(w.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - wExp[i]!) < 1e-6, `w[${i}] = ${v}, expected ${wExp[i]}`));
    assert.ok(Math.abs(b.dataSync()[0]! - (0.5 - 0.01)) < 1e-6, 'a bias must not be decayed');
    opt.dispose();
  });

  test('weight decay skips norm parameters, alpha, biases, gates, positions and scalars', () => {
    const lm = createLM({ vocabSize: 10, context: 8, dModel: 16, nLayers: 1, nHeads: 2, norm: { kind: 'dyt' }, embedScale: true, residual: { kind: 'rezero' } });
    const decayed = lm.namedParameters().filter(decays).map((p) => p.name).sort();
    assert.deepEqual(decayed, ['blocks.0.attn.proj.weight', 'blocks.0.attn.qkv.weight', 'blocks.0.mlp.down.weight',
      'blocks.0.mlp.gate.weight', 'blocks.0.mlp.up.weight', 'embed.weight', 'head.weight']);
    lm.dispose();
  });

  test('clipping scales the gradients to the global norm', () => {
    const g = new Map([['a', tf.tensor1d([3])], ['b', tf.tensor1d([4])]]);
    const { norm, clipped } = clipByGlobalNorm(g, 1);
    assert.ok(Math.abs(norm - 5) < 1e-6);
    assert.ok(Math.abs(clipped.get('a')!.dataSync()[0]! - 0.6) < 1e-5);
    assert.equal(clipByGlobalNorm(g, 10).clipped, g, 'no copy when under the limit');
  });

  test('divergence: non-finite values at once; a climbing loss against its running minimum', () => {
    assert.match(checkDivergence(newDivergenceState(), NaN, 1, 4)!, /loss is NaN/);
    assert.match(checkDivergence(newDivergenceState(), 1, Infinity, 4)!, /gradient norm is Infinity/);
    const s = newDivergenceState();
    for (let i = 0; i < 30; i++) assert.equal(checkDivergence(s, 3 - i * 0.05, 1, 4), undefined, 'a falling loss is healthy');
    let reason: string | undefined;
    for (let i = 0; i < 40 && !reason; i++) reason = checkDivergence(s, 50, 1, 4);
    assert.match(reason!, /exceeds 4 x its running minimum/);
  });

  test('safetensors round trip, and truncation or garbage named in the error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dytlab-st-'));
    const path = join(dir, 'a.safetensors');
    writeSafetensors(path, {
      w: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, NaN]) },
      ids: { dtype: 'I32', shape: [2], data: Int32Array.from([7, -1]) },
    }, { step: '10' });
    const f = readSafetensors(path);
    assert.equal(f.metadata.step, '10');
    assert.deepEqual(f.tensors.w!.shape, [2, 3]);
    assert.ok(Number.isNaN(f.tensors.w!.data[5]));
    assert.deepEqual(Array.from(f.tensors.ids!.data), [7, -1]);
    // The header is plain safetensors: length-prefixed JSON with data_offsets.
    const buf = readFileSync(path);
    const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString());
    assert.deepEqual(header.w.data_offsets, [8, 32]);
    writeFileSync(path, buf.subarray(0, buf.length - 4));
    assert.throws(() => readSafetensors(path), /truncated: tensor 'w' ends at byte 32/);
    writeFileSync(path, 'hello');
    assert.throws(() => readSafetensors(path), /truncated: 5 bytes/);
  });
});
