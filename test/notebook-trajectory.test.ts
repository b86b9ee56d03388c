// The trajectory helpers of notebooks 02 and 10 (src/notebook/trajectory.ts) on
// hand-made series whose answers are worked out by hand in the comments.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adamTravel, curveByStep, detectFallRise, earlyTrajectory, layerSeries, meanSeries, median, pointsFromStore, pointsFromStudy,
  presenceByLayer, saturationSummary, seriesPoints,
} from '../src/notebook/trajectory.js';
import type { TrajectoryPoint } from '../src/notebook/trajectory.js';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

describe('detectFallRise', () => {
  test('falls to 0.6 at step 20, then rises to 0.9: drop 0.4, rise 0.3', () => {
    const r = detectFallRise([0, 10, 20, 30, 40], [1, 0.8, 0.6, 0.7, 0.9]);
    assert.equal(r.shape, 'falls then rises');
    assert.equal(r.present, true);
    assert.equal(r.minStep, 20);
    assert.equal(r.riseStep, 40);
    close(r.drop, 0.4, 'drop');
    close(r.rise, 0.3, 'rise');
    close(r.relDrop, 0.4, 'relDrop');
    close(r.threshold, 0.05, 'threshold = 0.05 x |1|');
    assert.equal(r.points, 5);
  });

  test('monotone fall is "falls", monotone climb "rises", a wiggle within the tolerance "flat"', () => {
    const f = detectFallRise([0, 1, 2], [1, 0.9, 0.8]);
    assert.equal(f.shape, 'falls');
    assert.equal(f.rise, 0);
    assert.equal(f.minStep, 2);
    assert.equal(detectFallRise([0, 1, 2], [1, 1.1, 1.3]).shape, 'rises');
    // drop 0.01 and rise 0.02 of a start of 1: under 5%, over 0.5%.
    const wiggle = [1, 0.99, 1.01, 0.995];
    assert.equal(detectFallRise([0, 1, 2, 3], wiggle).shape, 'flat');
    const fine = detectFallRise([0, 1, 2, 3], wiggle, { tolerance: 0.005 });
    assert.equal(fine.shape, 'falls then rises');
    close(fine.rise, 0.02, 'rise from 0.99 to 1.01');
  });

  test('a fall that only just misses the threshold is not a fall: the comparison is strict', () => {
    // start 2, tolerance 0.25: threshold 0.5; drop exactly 0.5 (no fall), then a climb of 1 above the start.
    const r = detectFallRise([0, 1, 2], [2, 1.5, 3], { tolerance: 0.25 });
    assert.equal(r.shape, 'rises');
    assert.equal(r.present, false);
    // climb exactly 0.5 above the start: flat too.
    assert.equal(detectFallRise([0, 1, 2], [2, 1.5, 2.5], { tolerance: 0.25 }).shape, 'flat');
  });

  test('upTo keeps the early part: the late minimum is left out', () => {
    const steps = [0, 1, 2, 3], v = [1, 0.5, 1, 0.2];
    const all = detectFallRise(steps, v);
    assert.equal(all.shape, 'falls');
    assert.equal(all.minStep, 3);
    const early = detectFallRise(steps, v, { upTo: 2 });
    assert.equal(early.shape, 'falls then rises');
    assert.equal(early.minStep, 1);
    assert.equal(early.points, 3);
  });

  test('a negative start: the threshold uses |start|', () => {
    // -1 -> -1.5 -> -0.5: drop 0.5, rise 1.0, threshold 0.05.
    const r = detectFallRise([0, 1, 2], [-1, -1.5, -0.5]);
    assert.equal(r.shape, 'falls then rises');
    close(r.relRise, 1, 'relRise');
  });

  test('bad input is refused with the problem named', () => {
    assert.throws(() => detectFallRise([0, 1], [1]), /2 steps but 1 values/);
    assert.throws(() => detectFallRise([0, 2, 1], [1, 1, 1]), /steps must increase \(step 1 after 2 at index 2\)/);
    assert.throws(() => detectFallRise([0], [1]), /at least 2 points, got 1/);
    assert.throws(() => detectFallRise([0, 5, 9], [1, 2, 3], { upTo: 4 }), /at steps <= 4, got 1/);
    assert.throws(() => detectFallRise([0, 1], [1, NaN]), /value at step 1 is not finite/);
    assert.throws(() => detectFallRise([0, 1], [1, 2], { tolerance: -1 }), /tolerance -1 is invalid/);
  });
});

const pts = (layer: string, steps: number[], alpha: number[], std: number[], sat?: number[]): TrajectoryPoint[] =>
  steps.map((s, i) => ({ step: s, layer, alpha: alpha[i]!, inputStd: std[i]!, saturation: sat ? sat[i]! : null }));

describe('layer series, early trajectory and presence', () => {
  test('layerSeries sorts by step, inverts the std, and refuses two traces at one step', () => {
    const s = layerSeries([...pts('a', [20, 0, 10], [3, 1, 2], [4, 1, 2]), ...pts('b', [0], [1], [0.5])]);
    assert.deepEqual(s.map((t) => t.layer), ['a', 'b']);
    assert.deepEqual(s[0]!.step, [0, 10, 20]);
    assert.deepEqual(s[0]!.alpha, [1, 2, 3]);
    assert.deepEqual(s[0]!.invStd, [1, 0.5, 0.25]);
    assert.deepEqual(s[1]!.invStd, [2]);
    assert.ok(Number.isNaN(s[1]!.saturation[0]!), 'no saturation: NaN');
    assert.throws(() => layerSeries([...pts('a', [0, 10], [1, 1], [1, 1]), ...pts('a', [10], [1], [1])]), /layer 'a' has two traces at step 10/);
  });

  test('earlyTrajectory: alpha and 1/std both dip at step 10 (together); a layer without alpha is left out', () => {
    const series = layerSeries([
      // 1/std: 1/1, 1/2, 1/1.25, 1/1 = 1, 0.5, 0.8, 1: min at step 10.
      ...pts('n1', [0, 10, 20, 30], [0.5, 0.4, 0.45, 0.6], [1, 2, 1.25, 1]),
      // alpha dips at 10, 1/std only falls (std grows): not together.
      ...pts('n2', [0, 10, 20, 30], [0.5, 0.4, 0.45, 0.6], [1, 2, 4, 8]),
      { step: 0, layer: 'ln', alpha: null, inputStd: 1, saturation: null }, { step: 10, layer: 'ln', alpha: null, inputStd: 1, saturation: null },
    ]);
    const rows = earlyTrajectory(series);
    assert.deepEqual(rows.map((r) => r.layer), ['n1', 'n2']);
    assert.equal(rows[0]!.alpha.shape, 'falls then rises');
    assert.equal(rows[0]!.invStd.shape, 'falls then rises');
    assert.equal(rows[0]!.together, true);
    assert.equal(rows[1]!.invStd.shape, 'falls');
    assert.equal(rows[1]!.together, false);
    // upTo 10: only two points, both falling.
    assert.equal(earlyTrajectory(series, { upTo: 10 })[0]!.alpha.shape, 'falls');
  });

  test('presenceByLayer counts the runs with the shape and the median minimum step', () => {
    const run = (a: number[]) => earlyTrajectory(layerSeries(pts('n1', [0, 10, 20, 30], a, [1, 1, 1, 1])));
    const rows = presenceByLayer([run([1, 0.5, 0.8, 1]), run([1, 0.9, 0.5, 1]), run([1, 1, 1, 1])]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.runs, 3);
    assert.equal(rows[0]!.alphaPresent, 2);
    assert.equal(rows[0]!.invStdPresent, 0);
    assert.equal(rows[0]!.medianAlphaMinStep, 15); // minima at 10 and 20
    assert.equal(rows[0]!.alphaShapes, 'falls then rises 2, flat 1');
  });
});

describe('saturation and curves', () => {
  test('saturationSummary: start, peak and its step, end; layers without saturation left out', () => {
    const s = layerSeries([...pts('d', [0, 10, 20], [1, 1, 1], [1, 1, 1], [0, 0.7, 0.4]), ...pts('ln', [0, 10], [1, 1], [1, 1])]);
    assert.deepEqual(saturationSummary(s), [{ layer: 'd', start: 0, peak: 0.7, peakStep: 10, end: 0.4 }]);
  });

  test('curveByStep pools layers (and runs) by step: mean and max', () => {
    const s = layerSeries([...pts('a', [0, 10], [1, 1], [1, 1], [0.2, 0.4]), ...pts('b', [0, 10, 20], [1, 1, 1], [1, 1, 1], [0.4, 1, 0.3])]);
    const c = curveByStep(s, (t, i) => t.saturation[i]!);
    assert.deepEqual(c.step, [0, 10, 20]);
    close(c.mean[0]!, 0.3, 'mean at 0');
    close(c.mean[1]!, 0.7, 'mean at 10');
    assert.deepEqual(c.max, [0.4, 1, 0.3]);
    assert.deepEqual(c.n, [2, 2, 1]);
  });

  test('meanSeries averages a layer over runs at the steps all of them traced', () => {
    const a = layerSeries(pts('n', [0, 10, 20], [1, 2, 3], [1, 1, 1]))[0]!;
    const b = layerSeries(pts('n', [0, 10], [3, 4], [0.5, 0.5]))[0]!;
    const m = meanSeries([a, b]);
    assert.deepEqual(m.step, [0, 10]);
    assert.deepEqual(m.alpha, [2, 3]);
    assert.deepEqual(m.invStd, [1.5, 1.5]);
    assert.throws(() => meanSeries([a, layerSeries(pts('m', [0], [1], [1]))[0]!]), /different layers \(n, m\)/);
    assert.throws(() => meanSeries([]), /no series/);
  });

  test('median', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    assert.throws(() => median([]), /no values/);
  });
});

describe('trace sources and Adam travel', () => {
  test('store records keep saturation in extra; study rows in a column', () => {
    assert.deepEqual(pointsFromStore([{ step: 5, layer: 'x', alpha: 0.5, inputStd: 2, extra: { saturation: 0.25 } }, { step: 5, layer: 'y', alpha: null, inputStd: 1, extra: null }]), [
      { step: 5, layer: 'x', alpha: 0.5, inputStd: 2, saturation: 0.25 }, { step: 5, layer: 'y', alpha: null, inputStd: 1, saturation: null },
    ]);
    assert.deepEqual(pointsFromStudy([{ step: 1, layer: 'x', alpha: 0.4, input_std: 3, saturation: null }]), [{ step: 1, layer: 'x', alpha: 0.4, inputStd: 3, saturation: null }]);
    assert.ok(Number.isNaN(pointsFromStudy([{ step: 1, layer: 'x', alpha: 0.4, input_std: null, saturation: 0.1 }])[0]!.inputStd), 'a missing std is NaN');
  });

  test('seriesPoints undoes layerSeries (std from 1/std), NaN alpha and saturation back to null', () => {
    const p: TrajectoryPoint[] = [{ step: 0, layer: 'a', alpha: 0.5, inputStd: 4, saturation: 0.1 }, { step: 0, layer: 'b', alpha: null, inputStd: 0.5, saturation: null }];
    assert.deepEqual(seriesPoints(layerSeries(p)), p);
  });

  test('adamTravel sums the schedule: constant lr, warm-up ramp, one cosine step', () => {
    close(adamTravel({ lr: 0.01, minLr: 0.01, warmupSteps: 0, steps: 300 }), 3, 'constant 0.01 x 300');
    // warm-up of 4: lr x (1 + 2 + 3 + 4) / 4 = 2.5 lr over its 4 steps
    close(adamTravel({ lr: 1, minLr: 0, warmupSteps: 4, steps: 100 }, 4), 2.5, 'warm-up');
    // 2 steps of cosine from 1 to 0: 1 at progress 0, 0.5 at progress 1/2
    close(adamTravel({ lr: 1, minLr: 0, warmupSteps: 0, steps: 2 }), 1.5, 'cosine');
    assert.throws(() => adamTravel({ lr: 1, minLr: 0, warmupSteps: 0, steps: 2 }, -1), /steps = -1 is invalid/);
  });
});
