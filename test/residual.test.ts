// Norm-free baselines: ReZero / SkipInit gates and Fixup initialisation.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createResidualGate, fixupInit, fixupScale, initBackend, tf } from '../src/index.js';

describe('residual gates and Fixup', () => {
  before(async () => {
    await initBackend('cpu');
  });

  test('ReZero starts as the identity (gate 0) and its gate gets the gradient sum(branch * dy)', () => {
    const g = createResidualGate({ kind: 'rezero' });
    assert.deepEqual(g.namedParameters().map((p) => [p.name, p.trainable]), [['gate', true]]);
    const x = tf.tensor2d([[1, 2], [3, 4]]), f = tf.tensor2d([[10, 20], [30, 40]]);
    assert.deepEqual(Array.from(g.apply(x, f).dataSync()), [1, 2, 3, 4]);
    const { grads } = tf.variableGrads(() => tf.sum(g.apply(x, f)) as tf.Scalar, g.trainableVariables());
    assert.equal(Object.values(grads)[0]!.dataSync()[0], 100);
    g.dispose();
  });

  test('SkipInit uses the caller\'s init, and requires one', () => {
    const g = createResidualGate({ kind: 'skipinit', init: 0.25 });
    const out = g.apply(tf.tensor1d([1, 1]), tf.tensor1d([4, 8])).dataSync();
    assert.deepEqual(Array.from(out), [2, 3]);
    assert.throws(() => createResidualGate({ kind: 'skipinit' } as never), /init is required/);
    assert.throws(() => createResidualGate({ kind: 'skipinit', init: NaN }), /init = NaN/);
    assert.throws(() => createResidualGate({ kind: 'gated' } as never), /kind = "gated" is not one of/);
    g.dispose();
  });

  test('a plain residual has no parameters', () => {
    const g = createResidualGate({ kind: 'none' });
    assert.equal(g.namedParameters().length, 0);
    assert.deepEqual(Array.from(g.apply(tf.tensor1d([1]), tf.tensor1d([2])).dataSync()), [3]);
  });

  test('Fixup scales inner weights by L^(-1/(2m-2)) and zeroes each branch\'s last layer', () => {
    assert.equal(fixupScale(16, 2), 0.25); // 16^(-1/2)
    assert.ok(Math.abs(fixupScale(8, 3) - Math.pow(8, -0.25)) < 1e-15);
    assert.throws(() => fixupScale(4, 1), /layersPerBranch = 1/);
    const inner = [tf.variable(tf.fill([2, 2], 2)), tf.variable(tf.fill([3], 4))];
    const last = [tf.variable(tf.ones([2, 2]))];
    const scale = fixupInit([{ inner, last }, { inner: [], last: [] }, { inner: [], last: [] }, { inner: [], last: [] }], 2);
    assert.equal(scale, 0.5); // 4 branches of 2 layers
    assert.deepEqual(Array.from(inner[0]!.dataSync()), [1, 1, 1, 1]);
    assert.deepEqual(Array.from(inner[1]!.dataSync()), [2, 2, 2]);
    assert.deepEqual(Array.from(last[0]!.dataSync()), [0, 0, 0, 0]);
    tf.dispose([...inner, ...last]);
  });
});
