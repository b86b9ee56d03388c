// `dytlab inspect DIR` on small snapshot folders made here (config.json +
// safetensors written with writeSafetensors, or by hand for BF16; one sharded):
// parameter counts against hand sums of the shapes, dtypes, norms, hook names
// (against a built model's hookNames()), the memory estimate's parts, --json,
// --help, and errors that name the folder and the file.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../src/cli.js';
import { hookNamesFor, inspectSnapshot, type InspectReport } from '../src/cli/inspect.js';
import { initBackend } from '../src/engine/backend.js';
import { buildModelFrom } from '../src/models/build.js';
import { writeSafetensors, type SafeTensor } from '../src/train/safetensors.js';
import { writeRawSafetensors } from './support/safetensors-file.js';

const TMP = mkdtempSync(join(tmpdir(), 'dytlab-inspect-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const io = { stdout: { write: (s: string) => { out += s; return true; } }, stderr: { write: (s: string) => { err += s; return true; } } };
  const code = await main(args, io);
  return { code, out, err };
}

const f32 = (...shape: number[]): SafeTensor => ({ dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
function folder(name: string, config: unknown): string {
  const d = join(TMP, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return d;
}

// GPT-2, d = 8, 2 blocks, vocab 10, 16 positions, with the causal-mask buffers older checkpoints carry.
const GPT2 = (() => {
  const d = folder('gpt2', { model_type: 'gpt2', n_embd: 8, n_layer: 2, n_head: 2, vocab_size: 10, n_positions: 16, layer_norm_epsilon: 1e-5 });
  const t: Record<string, SafeTensor> = { 'wte.weight': f32(10, 8), 'wpe.weight': f32(16, 8), 'ln_f.weight': f32(8), 'ln_f.bias': f32(8) };
  for (let i = 0; i < 2; i++) {
    Object.assign(t, {
      [`h.${i}.ln_1.weight`]: f32(8), [`h.${i}.ln_1.bias`]: f32(8),
      [`h.${i}.attn.c_attn.weight`]: f32(8, 24), [`h.${i}.attn.c_attn.bias`]: f32(24),
      [`h.${i}.attn.c_proj.weight`]: f32(8, 8), [`h.${i}.attn.c_proj.bias`]: f32(8),
      [`h.${i}.ln_2.weight`]: f32(8), [`h.${i}.ln_2.bias`]: f32(8),
      [`h.${i}.mlp.c_fc.weight`]: f32(8, 32), [`h.${i}.mlp.c_fc.bias`]: f32(32),
      [`h.${i}.mlp.c_proj.weight`]: f32(32, 8), [`h.${i}.mlp.c_proj.bias`]: f32(8),
      [`h.${i}.attn.bias`]: f32(1, 1, 16, 16),
    });
  }
  writeSafetensors(join(d, 'model.safetensors'), t);
  return d;
})();
// By hand: wte 10*8 = 80, wpe 16*8 = 128, ln_f 8+8 = 16; per block ln_1 16, c_attn 8*24+24 = 216,
// c_proj 64+8 = 72, ln_2 16, c_fc 8*32+32 = 288, mlp c_proj 32*8+8 = 264: 872; two blocks 1744.
const GPT2_PARAMS = 80 + 128 + 16 + 2 * (16 + 216 + 72 + 16 + 288 + 264);

// LLaMA, d = 8, 1 block, 2 heads sharing 1 kv head (head dim 4), MLP 16, vocab 12, in two shards: F32 and BF16.
const LLAMA = (() => {
  const d = folder('llama-sharded', {
    model_type: 'llama', hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1,
    intermediate_size: 16, vocab_size: 12, rms_norm_eps: 1e-6, max_position_embeddings: 32, tie_word_embeddings: false,
  });
  const p = 'model.layers.0';
  const shard1: Record<string, SafeTensor> = {
    'model.embed_tokens.weight': f32(12, 8), [`${p}.input_layernorm.weight`]: f32(8),
    [`${p}.self_attn.q_proj.weight`]: f32(8, 8), [`${p}.self_attn.k_proj.weight`]: f32(4, 8),
    [`${p}.self_attn.v_proj.weight`]: f32(4, 8), [`${p}.self_attn.o_proj.weight`]: f32(8, 8),
  };
  writeSafetensors(join(d, 'model-00001-of-00002.safetensors'), shard1);
  const shard2: [string, number[]][] = [
    [`${p}.post_attention_layernorm.weight`, [8]], [`${p}.mlp.gate_proj.weight`, [16, 8]], [`${p}.mlp.up_proj.weight`, [16, 8]],
    [`${p}.mlp.down_proj.weight`, [8, 16]], ['model.norm.weight', [8]], ['lm_head.weight', [12, 8]],
  ];
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const [name, shape] of shard2) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'BF16', shape, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  writeRawSafetensors(join(d, 'model-00002-of-00002.safetensors'), header, new Uint8Array(at));
  const weight_map: Record<string, string> = {};
  for (const n of Object.keys(shard1)) weight_map[n] = 'model-00001-of-00002.safetensors';
  for (const [n] of shard2) weight_map[n] = 'model-00002-of-00002.safetensors';
  writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map }));
  return d;
})();
// By hand: embed 12*8 = 96; input_layernorm 8, q 64, k 32, v 32, o 64 (shard 1: 96 + 200 = 296 values);
// post_attention_layernorm 8, gate 128, up 128, down 128, norm 8, lm_head 96 (shard 2: 496 values, BF16).
const LLAMA_PARAMS = 96 + 8 + 64 + 32 + 32 + 64 + 8 + 128 + 128 + 128 + 8 + 96;

// A model_type no architecture is registered for: read generically.
const OTHER = (() => {
  const d = folder('other', { model_type: 'dytlab-test-arch', d_model: 4, n_layers: 3, n_heads: 1, vocab_size: 5, layer_norm_eps: 1e-5 });
  const t: Record<string, SafeTensor> = { 'embed.weight': f32(5, 4) };
  for (let i = 0; i < 3; i++) Object.assign(t, { [`layers.${i}.norm.weight`]: f32(4), [`layers.${i}.mixer.weight`]: f32(4, 4) });
  writeSafetensors(join(d, 'model.safetensors'), t);
  return d;
})();

describe('inspect: counts from the headers', () => {
  test('GPT-2: parameters are the hand sum; the causal-mask buffers are counted apart', () => {
    const r = inspectSnapshot(GPT2);
    assert.equal(r.modelType, 'gpt2');
    assert.equal(r.configSource, 'registered');
    assert.equal(r.loadable.ok, true);
    assert.equal(r.parameters, GPT2_PARAMS);
    assert.deepEqual(r.skipped, { tensors: 2, values: 2 * 256 });
    assert.equal(r.tensors, 4 + 2 * 13);
    assert.deepEqual(r.dtypes, { F32: { tensors: 30, values: GPT2_PARAMS + 512 } });
    assert.equal(r.config.dModel, 8);
    assert.equal(r.config.nLayers, 2);
    // 2 ln_1 + 2 ln_2 + ln_f, all with a bias.
    assert.deepEqual(r.norms.map((g) => [g.type, g.eps, g.count]), [['LayerNorm', 1e-5, 5]]);
  });

  test('sharded LLaMA: both shards read, F32 and BF16, RMSNorm with rms_norm_eps', () => {
    const r = inspectSnapshot(LLAMA);
    assert.equal(r.parameters, LLAMA_PARAMS);
    assert.deepEqual(r.files, [
      { file: 'model-00001-of-00002.safetensors', tensors: 6, bytes: 4 * 296 },
      { file: 'model-00002-of-00002.safetensors', tensors: 6, bytes: 2 * 496 },
    ]);
    assert.deepEqual(r.dtypes, { F32: { tensors: 6, values: 296 }, BF16: { tensors: 6, values: 496 } });
    assert.deepEqual(r.norms.map((g) => [g.type, g.eps, g.count]), [['RMSNorm', 1e-6, 3]]);
    assert.equal(r.config.kvHeads, 1);
  });

  test('an unregistered model_type is read generically and says so', async () => {
    const r = inspectSnapshot(OTHER);
    assert.equal(r.configSource, 'generic');
    assert.equal(r.loadable.ok, false);
    assert.match(r.loadable.why!, /"dytlab-test-arch" has no architecture/);
    assert.equal(r.parameters, 20 + 3 * (4 + 16));
    assert.deepEqual(r.config, { dModel: 4, nLayers: 3, nHeads: 1, dInner: 16, vocabSize: 5, eps: 1e-5 });
    assert.deepEqual(r.norms.map((g) => [g.type, g.count]), [['norm (weight only)', 3]]);
    const text = await cli(['inspect', OTHER]);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /read generically from the usual config\.json keys/);
  });

  test('memory: float32 weights + a forward pass that grows with batch and tokens', () => {
    const r = inspectSnapshot(GPT2);
    assert.equal(r.memory.weightsF32, 4 * GPT2_PARAMS);
    assert.equal(r.memory.tokens, 16); // n_positions (under 1024)
    assert.equal(r.memory.total, r.memory.weightsF32 + r.memory.forward);
    const big = inspectSnapshot(GPT2, { batch: 2, tokens: 8 });
    assert.equal(big.memory.batch, 2);
    assert.ok(big.memory.forward > 0 && big.memory.forward !== r.memory.forward);
  });
});

describe('inspect: hook names', () => {
  test("the lab's grammar, as a built model lists them", async () => {
    await initBackend('cpu');
    const m = buildModelFrom({ kind: 'lm', context: 8, dModel: 8, nLayers: 2, nHeads: 2, vocabSize: 8, mlp: 'gelu', norm: { kind: 'layernorm' } });
    try {
      assert.deepEqual(hookNamesFor(2), m.hookNames());
    } finally {
      m.dispose();
    }
    const r = inspectSnapshot(GPT2);
    assert.equal(r.hooks.count, 2 * 11 + 4);
    assert.deepEqual(r.hooks.sample.slice(0, 2), ['embed.out', 'blocks.0.norm1.in']);
  });
});

describe('dytlab inspect on the command line', () => {
  test('--help prints its usage', async () => {
    const r = await cli(['inspect', '--help']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Usage: dytlab inspect \[options\] <dir>/);
    assert.match(r.out, /--json/);
  });

  test('text output names the parts; --json is the report', async () => {
    const t = await cli(['inspect', GPT2]);
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /model_type +gpt2 \(an architecture of loadPretrained\)/);
    assert.match(t.out, new RegExp(`parameters +${GPT2_PARAMS.toLocaleString('en-US')} \\(\\+512 in 2 unread buffer`));
    assert.match(t.out, /norms +5 LayerNorm \(eps 0\.00001/);
    assert.match(t.out, /hooks +26: embed\.out/);
    assert.match(t.out, /memory +[\d.]+ kB: weights/);
    const j = await cli(['inspect', LLAMA, '--json']);
    assert.equal(j.code, 0, j.err);
    const r = JSON.parse(j.out) as InspectReport;
    assert.equal(r.parameters, LLAMA_PARAMS);
    assert.equal(r.modelType, 'llama');
  });

  test('a missing folder, config.json or shard: exit 1 naming the folder and the file', async () => {
    const none = join(TMP, 'no-such-folder');
    let r = await cli(['inspect', none]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(none) && /no such folder/.test(r.err), r.err);
    const empty = join(TMP, 'empty');
    mkdirSync(empty);
    r = await cli(['inspect', empty]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(empty) && /missing config\.json/.test(r.err), r.err);
    const badJson = folder('bad-json', '{"model_type": ');
    r = await cli(['inspect', badJson]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(badJson) && /config\.json is not valid JSON/.test(r.err), r.err);
    const noShard = folder('no-shard', { model_type: 'llama' });
    writeFileSync(join(noShard, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'a.weight': 'model-00001-of-00009.safetensors' } }));
    r = await cli(['inspect', noShard]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(noShard) && /missing shard 'model-00001-of-00009\.safetensors'/.test(r.err), r.err);
    r = await cli(['inspect']);
    assert.equal(r.code, 2);
  });
});
