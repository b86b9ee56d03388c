// The notebook library (src/notebook/): the "what was trained" table, metric
// formatting, verdict pieces. Expected cells are written by hand from the
// configs, not computed by the code under test.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveRun } from '../src/experiments/run-config.js';
import { trainedTable, statusText, normSummary, alpha0Label } from '../src/notebook/trained.js';

const lm = (model: Record<string, unknown>, train: Record<string, unknown> = {}) => resolveRun({
  model: { kind: 'lm', context: 32, dModel: 64, nLayers: 2, nHeads: 4, mlp: 'gelu', ...model },
  data: { dataset: 'moby-dick', level: 'char' },
  train: { steps: 200, batchSize: 16, lr: 0.001, ...train },
});
const vit = (model: Record<string, unknown>, train: Record<string, unknown> = {}) => resolveRun({
  model: { kind: 'vit', dModel: 64, nLayers: 4, nHeads: 4, patchSize: 7, mlpRatio: 2, ...model },
  data: { dataset: 'mnist' },
  train: { steps: 240, batchSize: 64, lr: 0.003, ...train },
});

describe('trainedTable', () => {
  test('one row per entry with hand-written cells', () => {
    const rows = trainedTable([
      { label: 'layernorm', config: lm({ norm: { kind: 'layernorm' } }), seeds: [2, 0, 1], statuses: { ok: 3 } },
      {
        label: 'tanh', config: lm({ norm: { kind: 'dyt', alpha0: 1 }, embedScale: true }, { clipNorm: 0 }), seeds: [0, 1, 2],
        statuses: { ok: 2, diverged: 1, stalled: 1 }, lrs: [0.003, 0.001, 0.01, 0.003],
      },
      {
        label: 'skipinit', config: vit({ norm: { kind: 'identity' }, residual: { kind: 'skipinit', init: 0.1 } }), seeds: [0],
        statuses: { missing: 1, failed: 2 },
      },
      {
        label: 'split', config: lm({ norm: { kind: 'dyt', alpha0: 0.2 }, attnNorm: { kind: 'dyt', alpha0: 1 }, mlp: 'swiglu' }), seeds: [0],
        statuses: {},
      },
    ]);
    assert.deepEqual(rows, [
      { config: 'layernorm', model: 'LM d64 x2, GELU', norm: 'layernorm', steps: 200, batch: 16, lr: 0.001, MLP: 'GELU 4x', alpha0: '-', clip: 1, seeds: '0, 1, 2', status: '3 ok' },
      {
        config: 'tanh', model: 'LM d64 x2, GELU', norm: 'dyt-tanh', steps: 200, batch: 16, lr: '0.001, 0.003, 0.01', MLP: 'GELU 4x', alpha0: '1', clip: 'off',
        seeds: '0, 1, 2', status: '2 ok, 1 diverged, 1 stalled',
      },
      {
        config: 'skipinit', model: 'ViT d64 x4', norm: 'none + SkipInit 0.1', steps: 240, batch: 64, lr: 0.003, MLP: 'GELU 2x', alpha0: '-', clip: 1,
        seeds: '0', status: '2 failed, 1 missing',
      },
      {
        config: 'split', model: 'LM d64 x2, SwiGLU', norm: 'dyt-tanh', steps: 200, batch: 16, lr: 0.001, MLP: 'SwiGLU 2.67x',
        alpha0: 'attn 1 / mlp 0.2 / final 0.2', clip: 1, seeds: '0', status: 'no runs',
      },
    ]);
  });

  test('norm and alpha0 labels of the variants', () => {
    assert.equal(normSummary(vit({ norm: { kind: 'dyt', squash: 'sigmoid', alpha: 'fixed', alpha0: 1 } })), 'dyt-sigmoid (fixed alpha)');
    assert.equal(alpha0Label(vit({ norm: { kind: 'dyt', squash: 'sigmoid', alpha: 'fixed', alpha0: 1 } })), '1 (fixed)');
    assert.equal(alpha0Label(vit({ norm: { kind: 'dyt', alpha: 'none' } })), 'no alpha');
    // The default alpha0 of a DyT spec (0.5) when the config leaves it out.
    assert.equal(alpha0Label(vit({ norm: { kind: 'dyt' } })), '0.5');
    assert.equal(normSummary(vit({ norm: { kind: 'identity' }, fixup: true })), 'none + Fixup');
    assert.equal(normSummary(vit({ norm: { kind: 'identity' }, residual: { kind: 'rezero' } })), 'none + ReZero');
    assert.equal(normSummary(vit({ norm: { kind: 'layernorm' }, normPlacement: 'post' })), 'layernorm + post-norm');
    assert.equal(normSummary(vit({ norm: { kind: 'layernorm' }, linearReparam: 'sigma' })), 'layernorm + σReparam');
    assert.equal(normSummary(vit({ norm: { kind: 'dyisru' } })), 'dyisru');
    assert.equal(normSummary(vit({ norm: { kind: 'dyt', squash: 'erf' } })), 'dyt-erf');
    assert.equal(normSummary(vit({ norm: { kind: 'dyt', perChannelAlpha: true, affine: false } })), 'dyt-tanh (per-channel alpha, no affine)');
    assert.equal(normSummary(lm({ norm: { kind: 'rmsnorm' }, attnNorm: { kind: 'layernorm' } })), 'attn layernorm / mlp rmsnorm / final rmsnorm');
  });

  test('bad input is an error that names it', () => {
    assert.throws(() => statusText({ ok: 1, exploded: 2 } as never), /unknown status "exploded"/);
    assert.throws(() => statusText({ ok: 1.5 }), /ok = 1.5/);
    assert.throws(() => trainedTable([{ label: 'x', config: lm({}), seeds: [0], statuses: {}, lrs: [0.001, -1] }]), /entry "x": lrs/);
    assert.throws(() => trainedTable([{ label: 'x', config: {} as never, seeds: [0], statuses: {} }]), /entry 0 needs/);
  });
});
