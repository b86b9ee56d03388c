// bench/peer without timing anything long: the parameter-parity check, dytlab's
// side of each case counted against a count written out here, the python
// script's argument parsing, and (where Debian's python3-torch is installed)
// the two sides' parameters on tiny sizes and the whole bench in its smoke mode.
// CI has no torch: those parts skip, saying why; the JS-side checks always run.
//
// Run: node --import tsx --test test/bench-peer.test.ts
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { initBackend } from '../src/index.js';
import {
  assertParamParity, dytlabCase, findTorchPython, PEER_SCRIPT, paramParity, peerCase, TorchPeer, torchArgs, torchEnv, torchShapes,
  type PeerCase, type ParamShape,
} from '../bench/peer/setup.js';

const root = join(__dirname, '..');
const TINY: Partial<PeerCase> = { dModel: 16, layers: 2, heads: 2, batch: 2, context: 8, vocab: 11, imageSize: 8, patch: 4, mlpRatio: 2 };

const torchFound = findTorchPython();
const torchPython = 'torch' in torchFound ? torchFound.python : undefined;
const torchSkip = torchPython ? false : `PyTorch not available here (${'reason' in torchFound ? torchFound.reason : ''}); the torch side is not checked`;
if (torchSkip) console.log(`# bench-peer: SKIPPING the PyTorch checks: ${torchSkip}`);
// Any python for the argument parsing (peer.py imports torch only to run a job).
const anyPython = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import argparse'], { encoding: 'utf8' }).status === 0);
if (!anyPython) console.log('# bench-peer: SKIPPING the argument-parsing checks: no python3 here');

/** The trainable parameter count of dytlab's LM / ViT with pre-norm blocks, from the architecture (written out, not read from the model). */
function expectedCount(c: PeerCase): number {
  const d = c.dModel, h = Math.ceil((c.mlpRatio * d) / 8) * 8;
  const norm = c.norm === 'layernorm' ? 2 * d : 2 * d + 1;
  if (c.model === 'lm') {
    const block = 2 * norm + d * 3 * d + d * d + d * h + h * d; // no biases in the LM
    return c.vocab * d + c.layers * block + norm + d * c.vocab;
  }
  const patches = (c.imageSize / c.patch) ** 2, pix = c.patch * c.patch * c.channels;
  const block = 2 * norm + (d * 3 * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d);
  return pix * d + d + patches * d + c.layers * block + norm + d * c.classes + c.classes;
}

describe('bench/peer: parameter parity', () => {
  const s = (name: string, ...shape: number[]): ParamShape => ({ name, shape });

  test('the same tensors in other layouts and names match', () => {
    const p = paramParity([s('fc.weight', 4, 8), s('fc.bias', 8), s('alpha', 1)], [s('alpha', 1), s('fc.weight', 8, 4), s('fc.b', 8)]);
    assert.deepEqual(p, { ok: true, dytlab: 41, torch: 41, differences: [] });
  });

  test('a different total is reported with both counts', () => {
    const p = paramParity([s('w', 4, 8), s('alpha', 1)], [s('w', 8, 4)]);
    assert.equal(p.ok, false);
    assert.equal(p.dytlab, 33);
    assert.equal(p.torch, 32);
    assert.match(p.differences.join('\n'), /total: dytlab 33, torch 32/);
    assert.match(p.differences.join('\n'), /tensors of 1 values: dytlab 1 \(alpha\), torch 0/);
  });

  test('the same total in other tensor sizes is a difference too', () => {
    const p = paramParity([s('a', 4), s('b', 2)], [s('a', 3), s('b', 3)]);
    assert.equal(p.ok, false);
    assert.equal(p.dytlab, p.torch);
    assert.equal(p.differences.length, 3);
  });

  test('assertParamParity throws naming the case', () => {
    assert.throws(() => assertParamParity('lm dyt', [s('alpha', 1)], []), /bench\/peer lm dyt: the two models differ[\s\S]*total: dytlab 1, torch 0/);
    assert.equal(assertParamParity('x', [s('a', 2, 3)], [s('b', 3, 2)]).dytlab, 6);
  });

  test("dytlab's side of every case has the parameters of its architecture", async () => {
    await initBackend('cpu');
    for (const model of ['lm', 'vit'] as const) {
      for (const norm of ['layernorm', 'dyt'] as const) {
        for (const sizes of [{}, TINY]) {
          const c = peerCase(model, norm, sizes);
          const d = dytlabCase(c);
          const n = d.shapes.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
          d.dispose();
          assert.equal(n, expectedCount(c), `${model} ${norm} ${JSON.stringify(sizes)}`);
        }
      }
    }
    // The LM: 813,312 parameters with LayerNorm; DyT adds one alpha per norm (9 norms).
    assert.equal(expectedCount(peerCase('lm', 'layernorm')), 813_312);
    assert.equal(expectedCount(peerCase('lm', 'dyt')), 813_321);
  });

  test("dytlab's step trains (a finite loss, no tensors left behind)", async () => {
    await initBackend('cpu');
    const { tf } = await import('../src/index.js');
    for (const model of ['lm', 'vit'] as const) {
      const d = dytlabCase(peerCase(model, 'dyt', TINY));
      await d.step(0);
      const before = tf.memory().numTensors;
      const loss = await d.step(1);
      assert.ok(Number.isFinite(loss));
      assert.equal(tf.memory().numTensors, before);
      d.dispose();
    }
  });

  test('the python environment loses OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE only', () => {
    const env = torchEnv({ OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_L2_SIZE: '1048576', OPENBLAS_NUM_THREADS: '2', PATH: '/bin' });
    assert.deepEqual(env, { OPENBLAS_NUM_THREADS: '2', PATH: '/bin' });
  });
});

describe('bench/peer: peer.py arguments', { skip: anyPython ? false : 'no python3' }, () => {
  const py = (args: string[]) => spawnSync(anyPython!, [PEER_SCRIPT, ...args], { encoding: 'utf8', env: torchEnv() });

  test('bad arguments exit 2 naming the argument', () => {
    for (const [args, what] of [
      [['--norm', 'rmsnorm'], /--norm: invalid choice/],
      [['--d-model', '0'], /--d-model: '0' must be > 0/],
      [['--d-model', '10', '--heads', '4'], /--d-model 10 is not divisible by --heads 4/],
      [['--model', 'vit', '--image-size', '28', '--patch', '5'], /--patch 5 does not divide --image-size 28/],
      [['--steps', '-1'], /--steps: '-1' must be >= 0/],
      [['--frobnicate'], /unrecognized arguments: --frobnicate/],
    ] as [string[], RegExp][]) {
      const r = py(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, what);
    }
  });

  test('every argument the bench passes is one peer.py parses', () => {
    // The bench's arguments with an error appended: argparse reads them all first, so only the appended one is named.
    for (const model of ['lm', 'vit'] as const) {
      const r = py([...torchArgs(peerCase(model, 'dyt'), { warmup: 1, steps: 2, threads: 2, countOnly: true }), '--norm', 'x']);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /argument --norm: invalid choice: 'x'/);
      assert.doesNotMatch(r.stderr, /unrecognized/);
    }
  });
});

describe('bench/peer: the PyTorch side', { skip: torchSkip }, () => {
  test('peer.py builds the same parameters as dytlab for every case (tiny and full size)', async () => {
    await initBackend('cpu');
    const peer = await TorchPeer.start(torchPython!);
    try {
      for (const model of ['lm', 'vit'] as const) {
        for (const norm of ['layernorm', 'dyt'] as const) {
          for (const sizes of [TINY, {}]) {
            const c = peerCase(model, norm, sizes);
            const d = dytlabCase(c);
            const t = await peer.job(torchArgs(c, { warmup: 0, steps: 0, threads: 1, countOnly: true }));
            const p = assertParamParity(`${model} ${norm}`, d.shapes, torchShapes(t));
            d.dispose();
            assert.equal(p.torch, expectedCount(c));
          }
        }
      }
      // A timed job: one step after one warm-up, the loss finite; a bad job is answered, not fatal.
      const r = await peer.job(torchArgs(peerCase('lm', 'dyt', TINY), { warmup: 1, steps: 1, threads: 1 }));
      assert.equal(r.stepMs?.length, 1);
      assert.ok(r.losses!.every(Number.isFinite));
      await assert.rejects(peer.job(['--heads', '3']), /peer.py: --d-model 128 is not divisible by --heads 3/);
      assert.equal((await peer.job(torchArgs(peerCase('vit', 'layernorm', TINY), { warmup: 0, steps: 1, threads: 1 }))).unit, 'images');
    } finally {
      peer.close();
    }
  });

  test('the whole bench in its smoke mode (tiny models, one step) on the cpu backend', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/peer/peer.ts'), '--smoke', '--backend', 'cpu'], { encoding: 'utf8', cwd: root, timeout: 300_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    for (const re of [/parameters lm layernorm: dytlab \d+, PyTorch \d+ \(match\)/, /parameters vit dyt: dytlab \d+, PyTorch \d+ \(match\)/,
      /^lm  dyt .* ratio \d+\.\d+ \[/m, /^vit layernorm .* images\/s .* ratio/m, /dytlab: cpu/]) assert.match(r.stdout, re);
  });
});

describe('bench/peer: without PyTorch', () => {
  test('--no-torch times dytlab alone and says PyTorch was skipped', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/peer/peer.ts'), '--smoke', '--no-torch', '--backend', 'cpu', '--models', 'lm'], { encoding: 'utf8', cwd: root, timeout: 300_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /pytorch: skipped \(--no-torch\)/);
    assert.match(r.stdout, /^lm  layernorm dytlab +\d+ tokens\/s$/m);
  });

  test('without a python that imports torch it fails loudly, naming what was tried', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/peer/peer.ts'), '--smoke', '--backend', 'cpu'], {
      encoding: 'utf8', cwd: root, timeout: 300_000, env: { ...process.env, DYTLAB_PYTHON: '/nonexistent/python3' },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /PyTorch is not available: no python with torch \(\/nonexistent\/python3: .*\).*--no-torch/s);
  });
});
