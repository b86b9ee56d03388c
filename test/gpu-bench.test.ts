// The GPU benchmark's own logic, on a CPU machine: its float64 ground truth
// (forward and backward of the squash shapes, LayerNorm, RMSNorm) against
// finite differences and against the cpu fused kernels; its CUDA section run
// end to end on a mock driver whose kernels do nothing (every correctness
// check must then fail: outputs are poisoned with NaN and never written, and
// speed targets are not judged); the scripts parse; the PyTorch peer reports
// a missing torch instead of failing. The GPU run itself is bench/gpu/run.sh.
//
// Run: node --import tsx --test test/gpu-bench.test.ts
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import { tf } from '../src/engine/tf.js';
import type { Tensor } from '../src/engine/tf.js';
import { layerNormOp, registerFusedKernels, rmsNormOp, squashOp } from '../src/engine/ops/index.js';
import { centralDiff, maxRelErr } from './support/numeric.js';
import {
  normBackward64, normForward64, squashBackward64, squashForward64,
} from '../src/engine/ops/reference.js';
import { SQUASH, SQUASH_SHAPES } from '../src/engine/squash-shapes.js';
import { runCudaSection } from '../bench/gpu/cuda-section.js';
import { correctnessRow, randn, rng, squashCaseData, timingRow } from '../bench/gpu/common.js';

const root = path.join(__dirname, '..');
const SHAPES = SQUASH_SHAPES;
const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

describe('float64 references of the GPU checks', () => {
  test('derivatives of every squash shape match central differences', () => {
    for (const shape of SHAPES) {
      for (const u of [-3.1, -0.7, -0.2, 0, 0.3, 0.9, 2.4]) {
        if (shape === 'softsign' && u === 0) continue; // |u| makes f'' jump at 0: differences are off by h there
        const { f64, df64 } = SQUASH[shape];
        const fd = (f64(u + 1e-6) - f64(u - 1e-6)) / 2e-6;
        assert.ok(Math.abs(df64(u) - fd) < 1e-7, `${shape}'(${u}) = ${df64(u)}, differences ${fd}`);
      }
    }
  });

  test('squash backward = finite differences of the forward loss, scalar and per-channel alpha / s', () => {
    const rows = 3, C = 5;
    const r = rng(5);
    for (const shape of SHAPES) {
      for (const pc of [false, true]) {
        const d = squashCaseData(rows, C, pc, r);
        const p = { x: Float64Array.from(d.x), alpha: Float64Array.from(d.alpha), s: Float64Array.from(d.s), gamma: Float64Array.from(d.gamma), beta: Float64Array.from(d.beta) };
        if (shape === 'hardtanh') {
          // Away from the kinks at |u| = 1.
          for (let i = 0; i < p.x.length; i++) {
            const a = p.alpha.length === 1 ? p.alpha[0]! : p.alpha[i % C]!, s = p.s.length === 1 ? p.s[0]! : p.s[i % C]!;
            if (Math.abs(Math.abs(a * p.x[i]! + s) - 1) < 0.05) p.x[i] = (1.3 - s) / a;
          }
        }
        const loss = (): number => dot(squashForward64(shape, p.x, rows, C, p), d.dy);
        const g = squashBackward64(shape, p.x, d.dy, rows, C, p);
        for (const [name, param] of [['dx', p.x], ['dalpha', p.alpha], ['ds', p.s], ['dgamma', p.gamma], ['dbeta', p.beta]] as const) {
          const fd = centralDiff(() => loss(), param, 1e-6);
          const e = maxRelErr(g[name], fd);
          assert.ok(e < 1e-6, `${shape} ${pc ? 'per-channel' : 'scalar'} ${name}: ${e}`);
        }
      }
    }
  });

  test('LayerNorm and RMSNorm backward = finite differences of the forward loss', () => {
    const rows = 3, C = 6, eps = 1e-5;
    const r = rng(9);
    const x = Float64Array.from(randn(rows * C, r, 0.4, 1.3)), dy = randn(rows * C, r);
    const gamma = Float64Array.from(randn(C, r, 1, 0.2)), beta = Float64Array.from(randn(C, r, 0, 0.2));
    for (const centred of [true, false]) {
      const loss = (): number => dot(normForward64(centred, x, rows, C, gamma, beta, eps).y, dy);
      const g = normBackward64(centred, x, dy, rows, C, gamma, eps);
      assert.ok(maxRelErr(g.dx, centralDiff(loss, x)) < 1e-6, `${centred ? 'LN' : 'RMS'} dx`);
      assert.ok(maxRelErr(g.dgamma, centralDiff(loss, gamma)) < 1e-6, `${centred ? 'LN' : 'RMS'} dgamma`);
      if (centred) assert.ok(maxRelErr(g.dbeta, centralDiff(loss, beta)) < 1e-6, 'LN dbeta');
    }
  });

  test('the references agree with the cpu fused kernels (independent code) within 1e-5', async () => {
    await tf.setBackend('cpu');
    registerFusedKernels('cpu');
    const r = rng(11);
    const read = (t: Tensor): Float32Array => t.dataSync() as Float32Array;
    for (const shape of SHAPES) {
      const d = squashCaseData(40, 24, true, r);
      const x = tf.tensor2d(d.x, [40, 24]), dy = tf.tensor2d(d.dy, [40, 24]);
      const ps = [d.alpha, d.s, d.gamma, d.beta].map((v) => tf.tensor1d(v));
      const f = (...a: Tensor[]): Tensor => squashOp(a[0]!, { alpha: a[1]!, s: a[2]!, gamma: a[3]!, beta: a[4]! }, shape, 'fused');
      const y = f(x, ...ps);
      const g = tf.grads(f)([x, ...ps], dy);
      const ref = squashBackward64(shape, d.x, d.dy, 40, 24, d);
      assert.ok(maxRelErr(read(y), squashForward64(shape, d.x, 40, 24, d)) < 1e-5, `${shape} y`);
      [ref.dx, ref.dalpha, ref.ds, ref.dgamma, ref.dbeta].forEach((v, i) => assert.ok(maxRelErr(read(g[i]!), v) < 1e-5, `${shape} grad ${i}`));
      tf.dispose([x, dy, y, ...ps, ...g]);
    }
    const d = squashCaseData(30, 50, false, r);
    const x = tf.tensor2d(d.x, [30, 50]), dy = tf.tensor2d(d.dy, [30, 50]), gm = tf.tensor1d(d.gamma), bt = tf.tensor1d(d.beta);
    const ln = tf.grads((a: Tensor, g: Tensor, b: Tensor) => layerNormOp(a, g, b, 1e-5, 'fused'))([x, gm, bt], dy);
    const lnRef = normBackward64(true, d.x, d.dy, 30, 50, d.gamma, 1e-5);
    [lnRef.dx, lnRef.dgamma, lnRef.dbeta].forEach((v, i) => assert.ok(maxRelErr(read(ln[i]!), v) < 1e-5, `LN grad ${i}`));
    const rms = tf.grads((a: Tensor, g: Tensor) => rmsNormOp(a, g, 1e-5, 'fused'))([x, gm], dy);
    const rmsRef = normBackward64(false, d.x, d.dy, 30, 50, d.gamma, 1e-5);
    [rmsRef.dx, rmsRef.dgamma].forEach((v, i) => assert.ok(maxRelErr(read(rms[i]!), v) < 1e-5, `RMS grad ${i}`));
    assert.ok(maxRelErr(read(layerNormOp(x, gm, bt, 1e-5, 'fused')), normForward64(true, d.x, 30, 50, d.gamma, d.beta, 1e-5).y) < 1e-5);
    tf.dispose([x, dy, gm, bt, ...ln, ...rms]);
  });
});

describe('result bookkeeping', () => {
  test('a NaN output fails its case; ratios are to the copy', () => {
    assert.equal(correctnessRow('cuda', 'k', 2, 3, 'v', { y: 1e-7, dx: NaN }).ok, false);
    assert.equal(correctnessRow('cuda', 'k', 2, 3, 'v', { y: 1e-7, dx: 9e-6 }).ok, true);
    assert.equal(correctnessRow('cuda', 'k', 2, 3, 'v', { y: 1.1e-5 }).ok, false);
    const copy = timingRow('cuda', '[1, 1]', 'copy', 'c', 'fwd', 2, 8e9);
    assert.equal(copy.gbps, 4000);
    const op = timingRow('cuda', '[1, 1]', 'dyt', 'f', 'fwd', 2.5, 8e9, copy);
    assert.equal(op.xCopy, 1.25);
    assert.equal(op.ofCopyBandwidth, 0.8);
  });
});

describe('the CUDA section on a mock driver whose kernels do nothing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-mockcuda-'));
  const lib = path.join(dir, 'libcuda.so.1');
  const cc = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean).find((c) =>
    spawnSync(c!, ['-shared', '-fPIC', '-O1', '-o', lib, path.join(__dirname, 'support', 'mock-libcuda.c')]).status === 0);

  test('runs end to end; every correctness case fails (poisoned outputs), speed is not judged', { skip: cc ? false : 'no C compiler for the mock driver' }, () => {
    const saved = { lib: process.env.DYTLAB_LIBCUDA, any: process.env.MOCK_CUDA_ANY_MODULE };
    process.env.DYTLAB_LIBCUDA = lib;
    process.env.MOCK_CUDA_ANY_MODULE = '1';
    try {
      const logs: string[] = [];
      const s = runCudaSection({ sizes: [[64, 768]], reps: 2, seed: 1, log: (m) => logs.push(m) });
      assert.equal(s.status, 'ok', s.reason);
      assert.equal(s.device?.['name'], 'Mock GPU (dytlab test driver)');
      assert.ok(s.correctness.length >= 7 * 6 + 2 * 10, `${s.correctness.length} cases`);
      assert.ok(s.correctness.every((c) => !c.ok && c.maxRelErr === Infinity), 'NaN-poisoned outputs fail every case');
      const ops = new Set(s.timings.map((t) => `${t.op} ${t.pass}`));
      for (const o of ['copy fwd', 'dyt fwd', 'dyt fwd+bwd', 'layernorm fwd', 'layernorm fwd+bwd', 'rmsnorm fwd', 'rmsnorm fwd+bwd']) assert.ok(ops.has(o), o);
      assert.ok(s.timings.filter((t) => t.op !== 'copy' || t.impl !== 'cuMemcpyDtoDAsync').every((t) => t.xCopy! > 0));
      assert.ok(s.tuning.length > 0);
      const correctness = s.targets.find((t) => /correct/.test(t.target))!;
      assert.equal(correctness.met, false);
      for (const t of s.targets.filter((x) => x !== correctness)) assert.equal(t.met, null, `${t.target}: ${t.detail}`);
      assert.match(logs.join('\n'), /correctness 0\//);
    } finally {
      if (saved.lib === undefined) delete process.env.DYTLAB_LIBCUDA; else process.env.DYTLAB_LIBCUDA = saved.lib;
      if (saved.any === undefined) delete process.env.MOCK_CUDA_ANY_MODULE; else process.env.MOCK_CUDA_ANY_MODULE = saved.any;
    }
  });

  test('without a driver the section says "no CUDA driver" and is unavailable, not failed', () => {
    const s = runCudaSection({ sizes: [[4, 8]], reps: 1, seed: 1, log: () => undefined });
    if (s.status === 'ok') return; // a machine with an NVIDIA driver
    assert.equal(s.status, 'unavailable');
    assert.match(s.reason!, /^no CUDA driver: libcuda\.so\.1 not found/);
  });
});

describe('scripts', () => {
  test('run.sh and prepare.sh parse; run.sh explains a missing carry', () => {
    for (const f of ['run.sh', 'prepare.sh']) {
      const r = spawnSync('bash', ['-n', path.join(root, 'bench', 'gpu', f)], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    }
    const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-runsh-'));
    fs.mkdirSync(path.join(sandbox, 'bench', 'gpu'), { recursive: true });
    fs.copyFileSync(path.join(root, 'bench', 'gpu', 'run.sh'), path.join(sandbox, 'bench', 'gpu', 'run.sh'));
    const r = spawnSync('bash', [path.join(sandbox, 'bench', 'gpu', 'run.sh'), '--smoke'], { encoding: 'utf8', env: { ...process.env, OUT: path.join(sandbox, 'out') } });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /payload\.tar\.xz is missing: run bash bench\/gpu\/prepare\.sh/);
    fs.rmSync(sandbox, { recursive: true, force: true });
  });

  test('torch_bench.py writes a result saying why when torch or CUDA is missing', (t) => {
    const py = spawnSync('python3', ['--version']);
    if (py.status !== 0) return t.skip('no python3');
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dytlab-torch-')), 'r.json');
    const r = spawnSync('python3', [path.join(root, 'bench', 'gpu', 'torch_bench.py'), '--out', out, '--smoke'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(fs.readFileSync(out, 'utf8')) as { status: string; reason?: string; rows: unknown[] };
    if (j.status === 'ok') {
      assert.ok(j.rows.length > 0);
    } else {
      assert.equal(j.status, 'unavailable');
      assert.match(j.reason!, /torch/);
    }
  });
});
