// fitCurve: recovery of known parameters for every shape, robustness to gross outliers,
// the closed form for identity/linear, speed on a million points, every error message,
// and determinism. All inputs come from seeded PRNGs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { erf, evalCurve, fitCurve, SHAPES, type CurveParams, type CurveShape } from '../src/analysis/curvefit.js';
import { normals, rng } from './support/numeric.js';
import { SQUASH } from '../src/engine/squash-shapes.js';
import { erf64 as erfSeries } from '../src/util/erf.js';

const TRUE: CurveParams = { a: 2, b: 0.7, c: 0.3, d: -0.5 };

// float64 references written independently of the module (support/numeric.ts)
const F64: Record<CurveShape, (u: number) => number> = {
  tanh: SQUASH.tanh.f64, erf: SQUASH.erf.f64, softsign: SQUASH.softsign.f64, isru: SQUASH.isru.f64,
  hardtanh: SQUASH.hardtanh.f64, identity: SQUASH.identity.f64, linear: SQUASH.identity.f64,
};

/** x uniform on [lo, hi], y = a f(b x + c) + d + N(0, noise^2), computed in float64. */
function synth(shape: CurveShape, n: number, seed: number, noise: number, p: CurveParams = TRUE, lo = -4, hi = 4) {
  const r = rng(seed);
  const e = normals(n, seed + 1000, noise);
  const x = new Float32Array(n), y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = lo + (hi - lo) * r();
    y[i] = p.a * F64[shape](p.b * x[i]! + p.c) + p.d + e[i]!;
  }
  return { x, y };
}

function maxParamRelErr(got: CurveParams, want: CurveParams): number {
  let m = 0;
  for (const k of ['a', 'b', 'c', 'd'] as const) m = Math.max(m, Math.abs(got[k] - want[k]) / Math.abs(want[k]));
  return m;
}

describe('fitCurve: parameter recovery', () => {
  for (const shape of ['tanh', 'erf', 'softsign', 'isru', 'hardtanh'] as const) {
    test(`${shape}: a=2 b=0.7 c=0.3 d=-0.5, noise 0.02 → params within 2%, r2 > 0.99`, () => {
      const { x, y } = synth(shape, 2000, 11, 0.02);
      const fit = fitCurve(x, y, { shape });
      const err = maxParamRelErr(fit.params, TRUE);
      assert.ok(err < 0.02, `${shape}: max relative parameter error ${err} (${JSON.stringify(fit.params)})`);
      assert.ok(fit.r2 > 0.99, `r2 ${fit.r2}`);
      assert.equal(fit.converged, true);
      assert.equal(fit.shape, shape);
      assert.equal(fit.n, 2000);
      assert.ok(fit.iterations > 0);
      // residuals are the noise: rmse and std near 0.02, mean near 0
      assert.ok(Math.abs(fit.rmse - 0.02) < 0.002, `rmse ${fit.rmse}`);
      assert.ok(Math.abs(fit.residuals.std - 0.02) < 0.002, `std ${fit.residuals.std}`);
      assert.ok(Math.abs(fit.residuals.mean) < 0.002, `mean ${fit.residuals.mean}`);
    });
  }

  test('the sign is canonical: a negative amplitude is reported as a > 0 with b, c negated', () => {
    const want = { a: 1.5, b: -0.9, c: 0.4, d: 0.2 };
    const { x, y } = synth('tanh', 3000, 5, 0.01, { a: -want.a, b: -want.b, c: -want.c, d: want.d });
    const fit = fitCurve(x, y, { shape: 'tanh' });
    assert.ok(maxParamRelErr(fit.params, want) < 0.02, JSON.stringify(fit.params));
  });

  test('restarts rescue a poor first fit: hardtanh centred far from x = 0 (c = 0 saturates every point)', () => {
    const want = { a: 1, b: 2, c: -16, d: 3 };
    const { x, y } = synth('hardtanh', 3000, 21, 0.01, want, 5, 11);
    const fit = fitCurve(x, y, { shape: 'hardtanh' });
    assert.ok(maxParamRelErr(fit.params, want) < 0.02, JSON.stringify(fit.params));
    assert.ok(fit.r2 > 0.99, `r2 ${fit.r2}`);
  });

  test('an explicit init is used and reaches the same optimum', () => {
    const { x, y } = synth('softsign', 2000, 31, 0.02);
    const a = fitCurve(x, y, { shape: 'softsign' });
    const b = fitCurve(x, y, { shape: 'softsign', init: { a: 1, b: 1, c: 0, d: 0 } });
    assert.ok(maxParamRelErr(b.params, a.params) < 1e-4, `${JSON.stringify(a.params)} vs ${JSON.stringify(b.params)}`);
  });

  test('maxIter bounds the work: maxIter 1 cannot converge from a poor init', () => {
    const { x, y } = synth('tanh', 2000, 41, 0.02);
    const fit = fitCurve(x, y, { shape: 'tanh', init: { a: 0.1, b: 5, c: 2, d: 3 }, maxIter: 1 });
    assert.equal(fit.converged, false);
  });

  test('residual statistics match an independent float64 computation', () => {
    const { x, y } = synth('isru', 1001, 51, 0.05);
    const fit = fitCurve(x, y, { shape: 'isru' });
    const { a, b, c, d } = fit.params;
    const r = Array.from(x, (xi, i) => y[i]! - (a * F64.isru(b * xi + c) + d));
    const n = r.length;
    const mean = r.reduce((s, v) => s + v, 0) / n;
    const std = Math.sqrt(r.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    const abs = r.map(Math.abs).sort((p, q) => p - q);
    const pct = (q: number) => { const pos = q * (n - 1), k = Math.floor(pos); return abs[k]! + (pos - k) * ((abs[k + 1] ?? abs[k]!) - abs[k]!); };
    const my = Array.from(y).reduce((s, v) => s + v, 0) / n;
    const sst = Array.from(y).reduce((s, v) => s + (v - my) ** 2, 0);
    const ssr = r.reduce((s, v) => s + v * v, 0);
    const close = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);
    close(fit.residuals.mean, mean, 'mean');
    close(fit.residuals.std, std, 'std');
    close(fit.residuals.maxAbs, abs[n - 1]!, 'maxAbs');
    close(fit.residuals.p50Abs, pct(0.5), 'p50Abs');
    close(fit.residuals.p99Abs, pct(0.99), 'p99Abs');
    close(fit.rmse, Math.sqrt(ssr / n), 'rmse');
    close(fit.r2, 1 - ssr / sst, 'r2');
  });
});

describe('shapes', () => {
  test('SHAPES lists every shape', () => {
    assert.deepEqual([...SHAPES].sort(), ['erf', 'hardtanh', 'identity', 'isru', 'linear', 'softsign', 'tanh']);
  });

  test('erf is accurate to 2e-7 on [-8, 8], odd, and erf(0) = 0', () => {
    let worst = 0;
    for (let u = -8; u <= 8; u += 0.0005) worst = Math.max(worst, Math.abs(erf(u) - erfSeries(u)));
    assert.ok(worst < 2e-7, `max |erf error| ${worst}`);
    assert.equal(erf(0), 0);
    for (const u of [0.1, 0.49, 0.5, 1.3, 4]) assert.equal(erf(-u), -erf(u));
    // the series reference itself agrees with known values
    assert.ok(Math.abs(erfSeries(1) - 0.8427007929497149) < 1e-13 && Math.abs(erfSeries(3.5) - 0.9999992569016276) < 1e-13);
  });

  test('evalCurve matches a float64 reference for every shape (float32 rounding)', () => {
    const x = Float32Array.from({ length: 201 }, (_, i) => -10 + i * 0.1);
    for (const shape of SHAPES) {
      const got = evalCurve(shape, TRUE, x);
      assert.ok(got instanceof Float32Array && got.length === x.length);
      for (let i = 0; i < x.length; i++) {
        const want = TRUE.a * F64[shape](TRUE.b * x[i]! + TRUE.c) + TRUE.d;
        assert.ok(Math.abs(got[i]! - want) < 1e-6 * Math.max(1, Math.abs(want)), `${shape} at x=${x[i]}: ${got[i]} vs ${want}`);
      }
    }
  });
});

describe('fitCurve: robust (Huber IRLS)', () => {
  function withOutliers(seed: number) {
    const { x, y } = synth('tanh', 4000, seed, 0.02);
    const r = rng(seed + 7);
    let count = 0;
    for (let i = 0; i < y.length; i++) {
      if (r() < 0.05) { y[i] = y[i]! + 3 + 3 * r(); count++; } // one-sided gross outliers, +3..+6
    }
    assert.ok(count > 150 && count < 250, `outliers ${count}`);
    return { x, y };
  }

  test('with 5% gross outliers the robust fit has lower parameter error than least squares', () => {
    const { x, y } = withOutliers(61);
    const plain = fitCurve(x, y, { shape: 'tanh' });
    const robust = fitCurve(x, y, { shape: 'tanh', robust: true });
    const ePlain = maxParamRelErr(plain.params, TRUE), eRobust = maxParamRelErr(robust.params, TRUE);
    assert.ok(eRobust < ePlain, `robust ${eRobust} vs plain ${ePlain}`);
    assert.ok(eRobust < 0.03, `robust error ${eRobust} (${JSON.stringify(robust.params)})`);
    assert.ok(ePlain > 0.1, `least squares should be visibly biased, error ${ePlain}`);
    assert.equal(robust.converged, true);
    // the inliers are fitted: the median absolute residual is at the noise level
    assert.ok(robust.residuals.p50Abs < 0.03, `p50Abs ${robust.residuals.p50Abs}`);
  });

  test('an explicit huberDelta works too', () => {
    const { x, y } = withOutliers(62);
    const fit = fitCurve(x, y, { shape: 'tanh', robust: { huberDelta: 0.05 } });
    assert.ok(maxParamRelErr(fit.params, TRUE) < 0.03, JSON.stringify(fit.params));
  });

  test('robust linear beats plain linear with outliers', () => {
    const { x, y } = synth('linear', 2000, 63, 0.05, { a: 1.5, b: 1, c: 0, d: -0.25 });
    const r = rng(64);
    for (let i = 0; i < y.length; i++) if (r() < 0.05) y[i] = y[i]! + 10;
    const plain = fitCurve(x, y, { shape: 'linear' });
    const robust = fitCurve(x, y, { shape: 'linear', robust: true });
    assert.ok(Math.abs(robust.params.d + 0.25) < Math.abs(plain.params.d + 0.25) / 5, `${robust.params.d} vs ${plain.params.d}`);
    assert.ok(Math.abs(robust.params.a - 1.5) < 0.01);
  });
});

describe('fitCurve: identity / linear closed form', () => {
  for (const shape of ['identity', 'linear'] as const) {
    test(`${shape}: y = a'x + d' by least squares, reported with b = 1, c = 0`, () => {
      const { x, y } = synth(shape, 500, 71, 0.1, { a: -1.25, b: 1, c: 0, d: 0.75 });
      // independent float64 normal equations
      let sx = 0, sy = 0, sxx = 0, sxy = 0;
      const n = x.length;
      for (let i = 0; i < n; i++) { sx += x[i]!; sy += y[i]!; sxx += x[i]! * x[i]!; sxy += x[i]! * y[i]!; }
      const slope = (n * sxy - sx * sy) / (n * sxx - sx * sx), icpt = (sy - slope * sx) / n;
      const fit = fitCurve(x, y, { shape });
      assert.ok(Math.abs(fit.params.a - slope) < 1e-9, `${fit.params.a} vs ${slope}`);
      assert.ok(Math.abs(fit.params.d - icpt) < 1e-9, `${fit.params.d} vs ${icpt}`);
      assert.equal(fit.params.b, 1);
      assert.equal(fit.params.c, 0);
      assert.equal(fit.iterations, 0);
      assert.equal(fit.converged, true);
      assert.ok(Math.abs(fit.params.a + 1.25) < 0.02 && Math.abs(fit.params.d - 0.75) < 0.02);
    });
  }
});

describe('fitCurve: speed', () => {
  test('one million points (tanh) fit in under 3 s', () => {
    const n = 1_000_000;
    const { x, y } = synth('tanh', n, 81, 0.02);
    fitCurve(x.subarray(0, 1000), y.subarray(0, 1000), { shape: 'tanh' }); // warm the JIT
    const t0 = performance.now();
    const fit = fitCurve(x, y, { shape: 'tanh' });
    const ms = performance.now() - t0;
    console.log(`# fitCurve tanh, 1e6 points: ${ms.toFixed(0)} ms (${fit.iterations} LM iterations, r2 ${fit.r2.toFixed(5)})`);
    assert.ok(ms < 3000, `took ${ms} ms`);
    assert.ok(maxParamRelErr(fit.params, TRUE) < 0.002, JSON.stringify(fit.params));
    assert.equal(fit.n, n);
    assert.equal(fit.converged, true);
  });
});

describe('fitCurve: errors', () => {
  const x = Float32Array.of(0, 1, 2, 3, 4, 5);
  const y = Float32Array.of(0, 1, 2, 3, 4, 5);

  test('x and y of different lengths', () => {
    assert.throws(() => fitCurve(x, y.subarray(0, 5), { shape: 'tanh' }), /x and y have different lengths \(x: 6, y: 5\)/);
  });

  test('fewer points than parameters', () => {
    assert.throws(() => fitCurve(x.subarray(0, 3), y.subarray(0, 3), { shape: 'erf' }), /need at least 4 points to fit 4 parameters, got 3/);
    assert.throws(() => fitCurve(new Float32Array(0), new Float32Array(0), { shape: 'linear' }), /got 0/);
  });

  test('NaN / Inf: how many and the first index', () => {
    const xb = Float32Array.from(x); xb[2] = NaN; xb[4] = Infinity;
    assert.throws(() => fitCurve(xb, y, { shape: 'tanh' }), /x contains 2 non-finite values \(NaN or Inf\), first at index 2/);
    const yb = Float32Array.from(y); yb[5] = -Infinity;
    assert.throws(() => fitCurve(x, yb, { shape: 'tanh' }), /y contains 1 non-finite value \(NaN or Inf\), first at index 5/);
  });

  test('constant x', () => {
    assert.throws(() => fitCurve(new Float32Array(6).fill(2.5), y, { shape: 'isru' }),
      /x is constant \(value 2\.5\): the curve is not identifiable/);
  });

  test('unknown shape', () => {
    assert.throws(() => fitCurve(x, y, { shape: 'sigmoid' as CurveShape }), /unknown shape 'sigmoid'; expected one of tanh, erf, softsign, isru, hardtanh, identity, linear/);
    assert.throws(() => evalCurve('toString' as CurveShape, TRUE, x), /unknown shape 'toString'/);
  });

  test('bad options', () => {
    assert.throws(() => fitCurve(x, y, { shape: 'tanh', maxIter: 0 }), /maxIter must be a positive integer/);
    assert.throws(() => fitCurve(x, y, { shape: 'tanh', robust: { huberDelta: -1 } }), /huberDelta must be a positive finite number/);
    assert.throws(() => fitCurve(x, y, { shape: 'tanh', init: { a: 1, b: NaN, c: 0, d: 0 } }), /init\.b must be a finite number/);
  });
});

describe('fitCurve: determinism', () => {
  test('the same input gives identical output (plain and robust, every shape)', () => {
    for (const shape of SHAPES) {
      const { x, y } = synth(shape, 3000, 91, 0.05);
      for (const robust of [false, true]) {
        const a = fitCurve(x, y, { shape, robust });
        const b = fitCurve(Float32Array.from(x), Float32Array.from(y), { shape, robust });
        assert.deepStrictEqual(a, b, `${shape} robust=${robust}`);
      }
    }
  });

  test('the subsample + polish path (n > 32768) is deterministic too', () => {
    const { x, y } = synth('erf', 50_000, 92, 0.05);
    assert.deepStrictEqual(fitCurve(x, y, { shape: 'erf' }), fitCurve(x, y, { shape: 'erf' }));
  });
});
