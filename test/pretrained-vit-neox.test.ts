// Hugging Face ViT and GPT-NeoX (Pythia) snapshots: tiny random-weight
// snapshots (test/fixtures/pretrained/, written with their PyTorch reference
// outputs by scripts/pretrained-fixtures-vit-neox.py) match PyTorch's logits and
// norm activations to 1e-4; the loaded models are models of the lab (hook
// points, norm slots with the checkpoint's eps, parameters, convertNorms).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  convertNorms, describePretrained, initBackend, loadPretrained, readSafetensors, runWithCache, runWithHooks, tf, traceHookNames,
} from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { erf64 } from '../src/util/erf.js';
import { HIDDEN_ACTS } from '../src/pretrained/hidden-act.js';
import { maxRelErr } from './support/numeric.js';
import { checkParity } from './support/parity.js';

const FIXTURES = join(__dirname, 'fixtures', 'pretrained');
const CASES = [
  { name: 'vit-classifier', modelType: 'vit', kind: 'vit', nHeads: 4, dModel: 32, eps: 1e-12, outShape: [2, 5] },
  { name: 'vit-model-pooler', modelType: 'vit', kind: 'vit', nHeads: 3, dModel: 24, eps: 1e-6, outShape: [2, 24] },
  { name: 'pythia-parallel', modelType: 'gpt_neox', kind: 'lm', nHeads: 2, dModel: 32, eps: 1e-5, outShape: [2, 9, 61] },
  { name: 'pythia-sequential-bf16', modelType: 'gpt_neox', kind: 'lm', nHeads: 6, dModel: 48, eps: 1e-6, outShape: [2, 9, 40] },
] as const;

/** The fixture's input (pixel_values float32 or ids int32), reference logits and norm activations (hook name -> values). */
function expected(name: string) {
  const { tensors: f, metadata } = readSafetensors(join(FIXTURES, name, 'expected.safetensors'));
  const inp = f.input!;
  const input = inp.dtype === 'I32' ? tf.tensor(inp.data as Int32Array, inp.shape, 'int32') : tf.tensor(inp.data as Float32Array, inp.shape, 'float32');
  const acts = Object.keys(f).filter((k) => k !== 'input' && k !== 'logits');
  return { input, logits: f.logits!, acts, f, metadata };
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ViT and GPT-NeoX snapshots on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    for (const c of CASES) {
      test(`${c.name}: logits and norm activations match PyTorch to 1e-4`, () => {
        const start = tf.memory().numTensors;
        const m = loadPretrained(join(FIXTURES, c.name)); // fails on any tensor left unread
        assert.equal(m.modelType, c.modelType);
        assert.equal(m.kind, c.kind);
        assert.equal(m.config.nHeads, c.nHeads);
        assert.equal(m.config.dModel, c.dModel);
        const e = expected(c.name);
        assert.deepEqual(e.logits.shape, [...c.outShape]);
        const errs = checkParity(c.name, m, e.input, e);
        assert.ok('blocks.1.norm2.in' in errs && 'blocks.1.norm2.out' in errs && 'final_norm.out' in errs);
        // Exact and tanh GELU part by up to 4.7e-4 (at x = 2.7): too little for 1e-4 on logits, not for the MLP's own output.
        assert.ok(errs['blocks.0.mlp.hidden']! < 5e-6, `${c.name} blocks.0.mlp.hidden: max rel err ${errs['blocks.0.mlp.hidden']!.toExponential(2)}`);
        e.input.dispose();
        m.dispose();
        assert.equal(tf.memory().numTensors, start, 'tensors leaked');
      });
    }

    test('a loaded ViT or Pythia is a model of the lab: hook names, norm slots with the eps, parameters, convertNorms', () => {
      for (const c of CASES) {
        const m = loadPretrained(join(FIXTURES, c.name));
        const e = expected(c.name);
        assert.deepEqual(traceHookNames(m, e.input), m.hookNames());
        for (const h of ['embed.out', 'blocks.0.norm1.in', 'blocks.0.attn.pattern', 'blocks.0.attn.z', 'blocks.0.attn.out',
          'blocks.1.resid.mid', 'blocks.1.norm2.out', 'blocks.1.mlp.hidden', 'blocks.1.mlp.out', 'blocks.1.resid.post', 'final_norm.in', 'logits']) {
          assert.ok(m.hookNames().includes(h), `${c.name}: no hook point ${h}`);
        }
        const slots = m.normLayers().map((n) => n.name);
        assert.deepEqual(slots, ['blocks.0.norm1', 'blocks.0.norm2', 'blocks.1.norm1', 'blocks.1.norm2', 'final_norm']);
        for (const { layer } of m.normLayers()) assert.deepEqual([layer.spec.kind, (layer.spec as { eps: number }).eps, layer.dim], ['layernorm', c.eps, c.dModel]);
        const names = m.namedParameters().map((p) => p.name);
        const want = c.kind === 'vit'
          ? ['patch_embed.weight', 'patch_embed.bias', 'cls', 'pos', 'blocks.0.attn.q.weight', 'blocks.1.mlp.fc.weight', 'final_norm.gamma']
          : ['embed.weight', 'blocks.0.attn.q.weight', 'blocks.0.attn.q.bias', 'blocks.1.mlp.proj.bias', 'final_norm.beta', 'head.weight'];
        for (const n of want) assert.ok(names.includes(n), `${c.name}: no parameter ${n}`);
        assert.deepEqual(convertNorms(m, { kind: 'dyt' }), slots);
        const y = m.apply(e.input);
        assert.deepEqual(y.shape, e.logits.shape);
        assert.ok(y.dataSync().every(Number.isFinite));
        tf.dispose([y, e.input]);
        m.dispose();
      }
    });
  });
}

describe('ViT and GPT-NeoX specifics', () => {
  before(async () => {
    await initBackend('cpu');
  });

  test('parallel residual: norm2 reads the block input, resid.post = resid.mid + mlp.out; sequential: norm2 reads resid.mid', () => {
    for (const [name, parallel] of [['pythia-parallel', true], ['pythia-sequential-bf16', false]] as const) {
      const m = loadPretrained(join(FIXTURES, name));
      assert.equal(m.config.parallelResidual, parallel);
      const e = expected(name);
      const { output, cache, dispose } = runWithCache(m, e.input, 'blocks.1.*');
      const err = (a: Tensor, b: Tensor) => maxRelErr(a.dataSync(), b.dataSync());
      assert.ok(err(cache['blocks.1.norm2.in']!, cache[parallel ? 'blocks.1.norm1.in' : 'blocks.1.resid.mid']!) === 0);
      const post = tf.add(cache['blocks.1.resid.mid']!, cache['blocks.1.mlp.out']!);
      assert.ok(err(post, cache['blocks.1.resid.post']!) < 1e-6);
      tf.dispose([post, output, e.input]);
      dispose();
      m.dispose();
    }
  });

  test('hidden_act "gelu" is the exact erf GELU, not the tanh form', () => {
    const xs = Array.from({ length: 121 }, (_, i) => -6 + i / 10);
    const x = tf.tensor1d(xs);
    const [exact, tanh] = [HIDDEN_ACTS.gelu(x), HIDDEN_ACTS.gelu_new(x)].map((t) => t.dataSync());
    const ref = xs.map((v) => 0.5 * v * (1 + erf64(v / Math.SQRT2)));
    assert.ok(xs.every((_, i) => Math.abs(exact![i]! - ref[i]!) < 1e-6));
    assert.ok(Math.max(...xs.map((_, i) => Math.abs(tanh![i]! - ref[i]!))) > 4e-4);
    x.dispose();
  });

  test('Pythia rotates only the first int(head_size * rotary_pct) channels of each head', () => {
    const m = loadPretrained(join(FIXTURES, 'pythia-parallel'));
    assert.deepEqual([m.config.headDim, m.config.rotaryDim], [16, 4]);
    const full = loadPretrained(join(FIXTURES, 'pythia-sequential-bf16'));
    assert.deepEqual([full.config.headDim, full.config.rotaryDim, full.config.ropeBase], [8, 8, 500]);
    m.dispose();
    full.dispose();
  });

  test('a hook on a loaded ViT changes its logits (zeroing the last MLP output)', () => {
    const m = loadPretrained(join(FIXTURES, 'vit-classifier'));
    const e = expected('vit-classifier');
    const y0 = m.apply(e.input);
    const y1 = runWithHooks(m, e.input, { 'blocks.1.mlp.out': (x) => tf.zerosLike(x) });
    assert.ok(maxRelErr(y1.dataSync(), y0.dataSync()) > 1e-3);
    tf.dispose([y0, y1, e.input]);
    m.dispose();
  });

  test('describePretrained reads only the config; names with and without the vit. prefix load', () => {
    const d = describePretrained(join(FIXTURES, 'vit-classifier'));
    assert.deepEqual([d.modelType, d.prefix, d.output, d.classes, d.hiddenAct, d.eps], ['vit', 'vit.', 'classifier', 5, 'gelu', 1e-12]);
    const p = describePretrained(join(FIXTURES, 'vit-model-pooler'));
    assert.deepEqual([p.prefix, p.output, p.channels, p.imageSize, p.qkvBias], ['', 'pooler', 1, 8, false]);
    const n = describePretrained(join(FIXTURES, 'pythia-parallel'));
    assert.deepEqual([n.modelType, n.rotaryDim, n.parallelResidual, n.tiedHead], ['gpt_neox', 4, true, false]);
  });

  test('wrong inputs and unsupported configs fail naming what is wrong', () => {
    const vit = loadPretrained(join(FIXTURES, 'vit-classifier'));
    const nhwc = tf.zeros([1, 16, 16, 3]);
    assert.throws(() => vit.apply(nhwc), /pixel_values are float32 \[1,16,16,3\]; expected float32 \[B, 3, 16, 16\]/);
    nhwc.dispose();
    vit.dispose();
    const dir = mkdtempSync(join(tmpdir(), 'dytlab-neox-'));
    try {
      cpSync(join(FIXTURES, 'pythia-parallel'), dir, { recursive: true });
      const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: { type: 'linear', factor: 2 } }));
      assert.throws(() => loadPretrained(dir), /config\.json rope_scaling = .*expected null/);
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, hidden_act: 'mish' }));
      assert.throws(() => loadPretrained(dir), /hidden_act = "mish"; expected one of "gelu"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
