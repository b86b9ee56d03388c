// The squash-shape table (engine/squash-shapes.ts): its float64 values against
// hand values, its derivatives against finite differences, and every consumer
// (norm spec, SIMD module codes, WGSL, CUDA names, curve fitting) reading it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SQUASH, SQUASH_SHAPES, SHAPE_CODES, assertSquashShape } from '../src/engine/squash-shapes.js';
import { resolveNormSpec } from '../src/nn/norm-spec.js';
import { squashFunctions } from '../src/engine/webgpu/wgsl.js';
import { cudaKernelNames } from '../src/engine/cuda/ops.js';
import { SHAPES as CURVE_SHAPES } from '../src/analysis/curvefit.js';

const ROOT = join(__dirname, '..');

describe('the squash-shape table', () => {
  test('float64 values match hand values', () => {
    // erf values: Abramowitz & Stegun table 7.1 / any CAS to 16 digits; the others by hand.
    const cases: [keyof typeof SQUASH, number, number][] = [
      ['tanh', 0.5, 0.46211715726000974], ['tanh', -2, -0.9640275800758169],
      ['sigmoid', 1, 0.46211715726000974], // 2/(1+e^-1) - 1 = tanh(1/2)
      ['softsign', 3, 0.75], ['softsign', -1, -0.5],
      ['isru', 3, 3 / Math.sqrt(10)], ['isru', -0.75, -0.6],
      ['erf', 0.5, 0.5204998778130465], ['erf', 1, 0.8427007929497149], ['erf', 2, 0.9953222650189527], ['erf', -3.5, -0.9999992569016276],
      ['hardtanh', 2, 1], ['hardtanh', -0.3, -0.3], ['hardtanh', -7, -1],
      ['identity', 12.5, 12.5],
    ];
    for (const [shape, u, want] of cases) {
      const got = SQUASH[shape].f64(u);
      assert.ok(Math.abs(got - want) <= 1e-14 * Math.max(1, Math.abs(want)), `${shape}(${u}) = ${got}, expected ${want}`);
    }
  });

  test('derivatives match central differences; shapes are odd, zero at zero, within their bound', () => {
    const slopeAt0: Record<string, number> = { tanh: 1, hardtanh: 1, sigmoid: 0.5, softsign: 1, erf: 2 / Math.sqrt(Math.PI), isru: 1, identity: 1 };
    for (const shape of SQUASH_SHAPES) {
      const { f64, df64, bound } = SQUASH[shape];
      assert.equal(f64(0), 0, `${shape}(0)`);
      assert.ok(Math.abs(df64(0) - slopeAt0[shape]!) < 1e-15, `${shape}'(0) = ${df64(0)}`);
      for (let u = -6; u <= 6; u += 0.37) {
        if (shape === 'hardtanh' && Math.abs(Math.abs(u) - 1) < 1e-3) continue; // the kinks
        const h = 1e-6, fd = (f64(u + h) - f64(u - h)) / (2 * h);
        assert.ok(Math.abs(df64(u) - fd) < 1e-8, `${shape}'(${u}) = ${df64(u)}, differences ${fd}`);
        assert.ok(Math.abs(f64(-u) + f64(u)) < 1e-15, `${shape} is odd at ${u}`);
        assert.ok(Math.abs(f64(u)) <= bound, `${shape}(${u}) within ${bound}`);
      }
    }
  });

  test('codes are the order of the names; unknown names are refused with the list', () => {
    SQUASH_SHAPES.forEach((name, i) => {
      assert.equal(SQUASH[name].code, i);
      assert.equal(SHAPE_CODES[name], i);
      assert.equal(SQUASH[name].name, name);
    });
    assert.throws(() => assertSquashShape('relu'), /unknown squash shape 'relu'; expected one of tanh, hardtanh, sigmoid/);
  });
});

describe('every consumer reads the table', () => {
  test("the SIMD module's K_* constants are the table's codes", () => {
    const src = readFileSync(join(ROOT, 'src', 'engine', 'ops', 'assembly', 'simd-math.ts'), 'utf8');
    const consts = Object.fromEntries([...src.matchAll(/^export const K_([A-Z]+): i32 = (\d+);/gm)].map((m) => [m[1]!.toLowerCase(), Number(m[2])]));
    assert.deepEqual(consts, { ...SHAPE_CODES });
  });

  test('the norm spec accepts exactly the table\'s shapes', () => {
    for (const squash of SQUASH_SHAPES) assert.equal((resolveNormSpec({ kind: 'dyt', squash }) as { squash: string }).squash, squash);
    assert.throws(() => resolveNormSpec({ kind: 'dyt', squash: 'relu' as never }), /squash = "relu" is not one of "tanh", "hardtanh"/);
  });

  test('WGSL has a function for every shape; CUDA has forward and backward kernels for every shape', () => {
    for (const shape of SQUASH_SHAPES) assert.match(squashFunctions(shape), /fn sq_f\(/, shape);
    const cuda = cudaKernelNames().squash;
    for (const shape of SQUASH_SHAPES) {
      for (const dir of ['fwd', 'bwd']) assert.ok(cuda.includes(`dytlab_squash_${dir}_${shape}_v1`), `${dir} ${shape}`);
    }
    assert.equal(cuda.length, SQUASH_SHAPES.length * 4);
  });

  test("curve fitting's shapes are the table's (sigmoid, a rescaled tanh, left out) and 'linear'", () => {
    assert.deepEqual([...CURVE_SHAPES].filter((s) => s !== 'linear').sort(), SQUASH_SHAPES.filter((s) => s !== 'sigmoid').sort());
  });
});
