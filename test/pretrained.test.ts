// Hugging Face snapshots: GPT-2 and LLaMA loaded from tiny random-weight
// snapshots (test/fixtures/pretrained/, written with their PyTorch reference
// outputs by scripts/pretrained-fixtures.py) match PyTorch's logits and norm
// activations; the loaded models are models of the lab (hooks, norm slots,
// convertNorms); broken snapshots fail with errors that name what is wrong.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  convertNorms, describePretrained, initBackend, loadPretrained, openSnapshot, readSafetensors, tf, traceHookNames,
} from '../src/index.js';
import { checkParity } from './support/parity.js';
import { editSafetensorsHeader, splitSafetensors, writeRawSafetensors } from './support/safetensors-file.js';

const FIXTURES = join(__dirname, 'fixtures', 'pretrained');
const CASES = [
  { name: 'gpt2-tiny', modelType: 'gpt2', nHeads: 4 },
  { name: 'gpt2-f16-sharded', modelType: 'gpt2', nHeads: 6 },
  { name: 'llama-gqa', modelType: 'llama', nHeads: 4 },
  { name: 'llama3-bf16-tied', modelType: 'llama', nHeads: 6 },
];

function expected(name: string) {
  const f = readSafetensors(join(FIXTURES, name, 'expected.safetensors')).tensors;
  const ids = f.ids!;
  const acts = Object.keys(f).filter((k) => k !== 'ids' && k !== 'logits');
  return { ids: tf.tensor2d(ids.data as Int32Array, ids.shape as [number, number], 'int32'), logits: f.logits!, acts, f };
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`pretrained snapshots on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    for (const c of CASES) {
      test(`${c.name}: logits and activations match PyTorch to 1e-4`, () => {
        const before = tf.memory().numTensors;
        const m = loadPretrained(join(FIXTURES, c.name));
        assert.equal(m.modelType, c.modelType);
        assert.equal(m.kind, 'lm');
        assert.equal(m.config.nHeads, c.nHeads);
        const e = expected(c.name);
        const errs = checkParity(c.name, m, e.ids, e);
        assert.ok('blocks.1.norm1.out' in errs && 'blocks.1.norm1.in' in errs);
        e.ids.dispose();
        m.dispose();
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
      });
    }

    test('a loaded model is a model of the lab: hook names, norm slots, parameters, convertNorms', () => {
      for (const c of CASES) {
        const m = loadPretrained(join(FIXTURES, c.name));
        const e = expected(c.name);
        assert.deepEqual(traceHookNames(m, e.ids), m.hookNames());
        for (const h of ['embed.out', 'blocks.0.norm1.in', 'blocks.0.attn.pattern', 'blocks.0.attn.z', 'blocks.1.resid.mid', 'blocks.1.mlp.hidden', 'blocks.1.resid.post', 'final_norm.out', 'logits']) {
          assert.ok(m.hookNames().includes(h), `${c.name}: no hook point ${h}`);
        }
        const slots = m.normLayers().map((n) => n.name);
        assert.deepEqual(slots, ['blocks.0.norm1', 'blocks.0.norm2', 'blocks.1.norm1', 'blocks.1.norm2', 'final_norm']);
        assert.equal(m.normLayers()[0]!.layer.spec.kind, c.modelType === 'gpt2' ? 'layernorm' : 'rmsnorm');
        assert.ok(m.namedParameters().some((p) => p.name === 'blocks.0.norm1.gamma'));
        assert.deepEqual(convertNorms(m, { kind: 'dyt' }), slots);
        const y = m.apply(e.ids);
        assert.deepEqual(y.shape, e.logits.shape);
        assert.ok(y.dataSync().every(Number.isFinite));
        tf.dispose([y, e.ids]);
        m.dispose();
      }
    });
  });
}

describe('pretrained: configs and snapshots', () => {
  test('eps, GQA heads, head_dim and rope scaling come from config.json', () => {
    const g = loadPretrained(join(FIXTURES, 'gpt2-f16-sharded'));
    assert.equal(g.normLayers()[0]!.layer.spec.kind === 'layernorm' && (g.normLayers()[0]!.layer.spec as { eps: number }).eps, 1e-3);
    assert.equal(g.config.dInner, 80);
    g.dispose();
    const l = loadPretrained(join(FIXTURES, 'llama-gqa'));
    assert.equal(l.config.kvHeads, 2);
    assert.equal(l.config.headDim, 12);
    assert.equal((l.normLayers()[0]!.layer.spec as { eps: number }).eps, 1e-6);
    l.dispose();
    const d = describePretrained(join(FIXTURES, 'llama3-bf16-tied'));
    assert.equal(d.modelType, 'llama');
    assert.deepEqual((d.ropeScaling as { type: string }).type, 'llama3');
    const s = openSnapshot(join(FIXTURES, 'gpt2-f16-sharded'));
    assert.equal(s.info('transformer.wte.weight').dtype, 'F16');
    assert.match(s.info('transformer.ln_f.weight').file, /^model-0000[12]-of-00002\.safetensors$/);
    assert.equal(s.read('transformer.wte.weight', [72, 48]).length, 72 * 48);
    assert.deepEqual([...s.used()], ['transformer.wte.weight']);
  });
});

describe('pretrained: broken snapshots fail naming the folder, the tensor, expected and found', () => {
  let tmp: string;
  before(async () => {
    await initBackend('cpu');
    tmp = mkdtempSync(join(tmpdir(), 'dytlab-pretrained-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  let n = 0;
  const copy = (name: string) => {
    const d = join(tmp, `${name}-${n++}`);
    cpSync(join(FIXTURES, name), d, { recursive: true });
    return d;
  };
  /** Rewrite model.safetensors with `edit` applied to its tensors (header entries and data). */
  const rewrite = (dir: string, edit: (t: Map<string, { dtype: string; shape: number[]; bytes: Buffer }>) => void) => {
    const file = join(dir, 'model.safetensors');
    const { header, data } = splitSafetensors(file);
    const tensors = new Map<string, { dtype: string; shape: number[]; bytes: Buffer }>();
    for (const [k, v] of Object.entries(header)) {
      if (k !== '__metadata__') tensors.set(k, { dtype: v.dtype, shape: v.shape, bytes: data.subarray(v.data_offsets[0], v.data_offsets[1]) });
    }
    edit(tensors);
    const out: Record<string, unknown> = {};
    let off = 0;
    for (const [k, t] of tensors) {
      out[k] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
      off += t.bytes.length;
    }
    writeRawSafetensors(file, out, Buffer.concat([...tensors.values()].map((t) => t.bytes)));
  };
  const fails = (dir: string, re: RegExp) => {
    assert.throws(() => loadPretrained(dir), (e: Error) => {
      assert.ok(e.message.includes(dir), `error does not name the folder: ${e.message}`);
      assert.match(e.message, re);
      return true;
    });
  };

  test('missing tensor', () => {
    const d = copy('gpt2-tiny');
    rewrite(d, (t) => t.delete('h.1.ln_1.weight'));
    fails(d, /missing tensor 'h\.1\.ln_1\.weight'/);
    const l = copy('llama-gqa');
    rewrite(l, (t) => t.delete('lm_head.weight'));
    fails(l, /missing tensor 'lm_head\.weight'/);
  });

  test('wrong shape', () => {
    const d = copy('llama-gqa');
    editSafetensorsHeader(join(d, 'model.safetensors'), (h) => { h['model.layers.0.self_attn.k_proj.weight'].shape = [32, 24]; });
    fails(d, /tensor 'model\.layers\.0\.self_attn\.k_proj\.weight' has shape \[32, 24\]; expected \[24, 32\]/);
  });

  test('unknown model_type', () => {
    const d = copy('gpt2-tiny');
    const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, model_type: 'mamba' }));
    fails(d, /model_type "mamba" is not supported; supported model types: .*gpt2.*llama/);
  });

  test('unsupported dtype', () => {
    const d = copy('gpt2-tiny');
    editSafetensorsHeader(join(d, 'model.safetensors'), (h) => { h['h.0.mlp.c_fc.weight'].dtype = 'I32'; });
    fails(d, /tensor 'h\.0\.mlp\.c_fc\.weight' has dtype I32; supported dtypes are F32, F16, BF16/);
  });

  test('truncated file', () => {
    const d = copy('gpt2-tiny');
    const f = join(d, 'model.safetensors');
    truncateSync(f, statSync(f).size - 100);
    fails(d, /truncated: tensor '.*' ends at byte \d+ of the data section, which has \d+ bytes/);
  });

  test('extra (unused) tensor; ignorable buffers are not', () => {
    const d = copy('gpt2-tiny');
    rewrite(d, (t) => t.set('h.0.attn.extra_proj.weight', { dtype: 'F32', shape: [2, 2], bytes: Buffer.alloc(16) }));
    fails(d, /1 unused tensor\(s\).*'h\.0\.attn\.extra_proj\.weight' \[2, 2\]/);
    loadPretrained(d, { allowUnused: true }).dispose();
    // gpt2-tiny itself holds h.{i}.attn.bias mask buffers: ignorable, so it loads.
    assert.ok(openSnapshot(join(FIXTURES, 'gpt2-tiny')).has('h.0.attn.bias'));
  });

  test('config and shard problems', () => {
    const d = copy('gpt2-f16-sharded');
    const shard = readdirSync(d).find((f) => f.startsWith('model-00002'))!;
    rmSync(join(d, shard));
    fails(d, new RegExp(`missing shard '${shard}'`));
    const c = copy('llama-gqa');
    const cfg = JSON.parse(readFileSync(join(c, 'config.json'), 'utf8'));
    writeFileSync(join(c, 'config.json'), JSON.stringify({ ...cfg, num_key_value_heads: 3 }));
    fails(c, /num_key_value_heads = 3; expected a divisor of num_attention_heads = 4/);
    const e = copy('llama-gqa');
    rmSync(join(e, 'model.safetensors'));
    copyFileSync(join(FIXTURES, 'llama-gqa', 'config.json'), join(e, 'pytorch_model.bin'));
    fails(e, /no weights: expected model\.safetensors or model\.safetensors\.index\.json.*PyTorch pickles are not read/);
  });
});
