#!/usr/bin/env python3
"""Tiny random-weight Hugging Face snapshots and their PyTorch reference outputs.

    /usr/bin/python3 scripts/pretrained-fixtures.py               # test/fixtures/pretrained/<name>/
    /usr/bin/python3 scripts/pretrained-fixtures.py --gpt2-small /tmp/gpt2-small   # 124M params, F32, no reference

There is no `transformers` here: the reference forward passes below are written
from transformers 4.46's modeling_gpt2.py and modeling_llama.py (eager attention,
eval mode: no dropout) in PyTorch, computed in float64 from the stored weights
(F16/BF16 weights are rounded first, so the reference sees exactly the stored
values). RoPE's inv_freq and cos/sin are made in float32 as LlamaRotaryEmbedding
makes them. Each snapshot folder holds config.json, model.safetensors (or shards
with model.safetensors.index.json) and expected.safetensors: `ids` (I32 [B, T]),
`logits` and activations named by the lab's hook grammar
(blocks.1.norm1.in = HF h.1.ln_1's input, ...).
"""
import json
import math
import os
import sys

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'pretrained')
DT = torch.float64


# --- a tiny safetensors writer: 8-byte length, JSON header, raw little-endian bytes ---
def tensor_bytes(t, dtype):
    t = t.detach().contiguous()
    if dtype == 'F32':
        return t.to(torch.float32).numpy().tobytes()
    if dtype == 'F16':
        return t.to(torch.float16).numpy().tobytes()
    if dtype == 'BF16':
        return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
    if dtype == 'I32':
        return t.to(torch.int32).numpy().tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtypes=None, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
    for name in sorted(tensors):
        dtype = (dtypes or {}).get(name, 'F32')
        b = tensor_bytes(tensors[name], dtype)
        header[name] = {'dtype': dtype, 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    js = json.dumps(header).encode()
    js += b' ' * ((8 - len(js) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(len(js).to_bytes(8, 'little'))
        f.write(js)
        for b in blobs:
            f.write(b)


def stored(t, dtype):
    """The value a reader gets back after `dtype` storage, in float64."""
    if dtype == 'F16':
        return t.to(torch.float16).to(DT)
    if dtype == 'BF16':
        return t.to(torch.bfloat16).to(DT)
    return t.to(torch.float32).to(DT)


def write_snapshot(name, config, weights, dtype, expected_fn, shards=1, ids=None, extra=None):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    w = {k: stored(v, dtype) for k, v in weights.items()}
    all_tensors = dict(weights, **(extra or {}))
    dtypes = {k: dtype for k in weights}
    if shards == 1:
        write_safetensors(os.path.join(d, 'model.safetensors'), all_tensors, dtypes, {'format': 'pt'})
    else:
        names = sorted(all_tensors)
        per = math.ceil(len(names) / shards)
        weight_map, total = {}, 0
        for s in range(shards):
            file = f'model-{s + 1:05d}-of-{shards:05d}.safetensors'
            part = {n: all_tensors[n] for n in names[s * per:(s + 1) * per]}
            write_safetensors(os.path.join(d, file), part, dtypes, {'format': 'pt'})
            for n in part:
                weight_map[n] = file
                total += len(tensor_bytes(part[n], dtypes.get(n, 'F32')))
        with open(os.path.join(d, 'model.safetensors.index.json'), 'w') as f:
            json.dump({'metadata': {'total_size': total}, 'weight_map': weight_map}, f, indent=2)
    logits, acts = expected_fn(config, w, ids)
    out = {'ids': ids, 'logits': logits.to(torch.float32)}
    out.update({k: v.to(torch.float32) for k, v in acts.items()})
    write_safetensors(os.path.join(d, 'expected.safetensors'), out, {'ids': 'I32'})
    print(f'{name}: {sum(v.numel() for v in weights.values())} params ({dtype}), logits {list(logits.shape)}')


def rnd(g, *shape, std=0.2, mean=0.0):
    return torch.randn(*shape, generator=g, dtype=torch.float32) * std + mean


def causal_softmax(scores):
    T = scores.shape[-1]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    return torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1)


# --- GPT-2 (modeling_gpt2.py) ---
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_weights(c, g, prefix):
    d, inner, V, P = c['n_embd'], c.get('n_inner') or 4 * c['n_embd'], c['vocab_size'], c['n_positions']
    w = {f'{prefix}wte.weight': rnd(g, V, d, std=0.5), f'{prefix}wpe.weight': rnd(g, P, d, std=0.3)}
    for i in range(c['n_layer']):
        h = f'{prefix}h.{i}.'
        for ln in ('ln_1', 'ln_2'):
            w[h + ln + '.weight'] = rnd(g, d, std=0.1, mean=1.0)
            w[h + ln + '.bias'] = rnd(g, d, std=0.1)
        for name, (a, b) in {'attn.c_attn': (d, 3 * d), 'attn.c_proj': (d, d), 'mlp.c_fc': (d, inner), 'mlp.c_proj': (inner, d)}.items():
            w[h + name + '.weight'] = rnd(g, a, b, std=1.0 / math.sqrt(a))  # Conv1D: [in, out]
            w[h + name + '.bias'] = rnd(g, b, std=0.1)
    w[f'{prefix}ln_f.weight'] = rnd(g, d, std=0.1, mean=1.0)
    w[f'{prefix}ln_f.bias'] = rnd(g, d, std=0.1)
    return w


def gpt2_forward(c, w, ids):
    p = 'transformer.' if 'transformer.wte.weight' in w else ''
    d, H, eps = c['n_embd'], c['n_head'], c.get('layer_norm_epsilon', 1e-5)
    D = d // H
    B, T = ids.shape
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (d,), w[n + '.weight'], w[n + '.bias'], eps)
    conv1d = lambda x, n: x @ w[n + '.weight'] + w[n + '.bias']
    heads = lambda t: t.view(B, T, H, D).permute(0, 2, 1, 3)
    acts = {}
    x = w[p + 'wte.weight'][ids.long()] + w[p + 'wpe.weight'][torch.arange(T)]
    acts['embed.out'] = x
    for i in range(c['n_layer']):
        h = f'{p}h.{i}.'
        acts[f'blocks.{i}.norm1.in'] = x
        a = ln(x, h + 'ln_1')
        acts[f'blocks.{i}.norm1.out'] = a
        q, k, v = conv1d(a, h + 'attn.c_attn').split(d, dim=2)
        q, k, v = heads(q), heads(k), heads(v)
        pattern = causal_softmax(q @ k.transpose(-1, -2) / math.sqrt(D))
        z = (pattern @ v).permute(0, 2, 1, 3).reshape(B, T, d)
        x = x + conv1d(z, h + 'attn.c_proj')
        acts[f'blocks.{i}.resid.mid'] = x
        m = ln(x, h + 'ln_2')
        acts[f'blocks.{i}.norm2.out'] = m
        x = x + conv1d(gelu_new(conv1d(m, h + 'mlp.c_fc')), h + 'mlp.c_proj')
    acts['final_norm.in'] = x
    x = ln(x, p + 'ln_f')
    acts['final_norm.out'] = x
    head = w['lm_head.weight'] if not c.get('tie_word_embeddings', True) else w[p + 'wte.weight']
    return x @ head.T, acts


# --- LLaMA (modeling_llama.py) ---
def llama_inv_freq(c):
    """_compute_default_rope_parameters / _compute_llama3_parameters / linear, in float32."""
    hd = c.get('head_dim') or c['hidden_size'] // c['num_attention_heads']
    base = c.get('rope_theta', 10000.0)
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    rs = c.get('rope_scaling') or {}
    kind = rs.get('rope_type', rs.get('type', 'default'))
    if kind == 'linear':
        inv_freq = inv_freq / rs['factor']
    elif kind == 'llama3':
        factor, lo, hi, old = rs['factor'], rs['low_freq_factor'], rs['high_freq_factor'], rs['original_max_position_embeddings']
        low_freq_wavelen, high_freq_wavelen = old / lo, old / hi
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_freq = torch.where(is_medium, smoothed, inv_freq_llama)
    return inv_freq


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def llama_weights(c, g):
    d, H, KV, V, I = c['hidden_size'], c['num_attention_heads'], c['num_key_value_heads'], c['vocab_size'], c['intermediate_size']
    hd = c.get('head_dim') or d // H
    w = {'model.embed_tokens.weight': rnd(g, V, d, std=0.5)}
    lin = lambda o, i: rnd(g, o, i, std=1.0 / math.sqrt(i))  # nn.Linear: [out, in]
    for i in range(c['num_hidden_layers']):
        L = f'model.layers.{i}.'
        w[L + 'input_layernorm.weight'] = rnd(g, d, std=0.1, mean=1.0)
        w[L + 'post_attention_layernorm.weight'] = rnd(g, d, std=0.1, mean=1.0)
        for n, (o, i_) in {'q_proj': (H * hd, d), 'k_proj': (KV * hd, d), 'v_proj': (KV * hd, d), 'o_proj': (d, H * hd)}.items():
            w[L + 'self_attn.' + n + '.weight'] = lin(o, i_)
            if c.get('attention_bias', False):
                w[L + 'self_attn.' + n + '.bias'] = rnd(g, o, std=0.1)
        w[L + 'mlp.gate_proj.weight'] = lin(I, d)
        w[L + 'mlp.up_proj.weight'] = lin(I, d)
        w[L + 'mlp.down_proj.weight'] = lin(d, I)
    w['model.norm.weight'] = rnd(g, d, std=0.1, mean=1.0)
    if not c.get('tie_word_embeddings', False):
        w['lm_head.weight'] = lin(V, d)
    return w


def llama_forward(c, w, ids):
    d, H, KV, eps = c['hidden_size'], c['num_attention_heads'], c['num_key_value_heads'], c['rms_norm_eps']
    hd = c.get('head_dim') or d // H
    B, T = ids.shape
    rms = lambda x, n: w[n] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))
    linear = lambda x, n: x @ w[n + '.weight'].T + (w[n + '.bias'] if n + '.bias' in w else 0)
    # LlamaRotaryEmbedding.forward: float32 freqs = inv_freq @ positions, emb = cat(freqs, freqs)
    freqs = (llama_inv_freq(c)[None, :, None] @ torch.arange(T).float()[None, None, :]).transpose(1, 2)[0]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(DT), emb.sin().to(DT)
    acts = {}
    x = w['model.embed_tokens.weight'][ids.long()]
    acts['embed.out'] = x
    for i in range(c['num_hidden_layers']):
        L = f'model.layers.{i}.'
        acts[f'blocks.{i}.norm1.in'] = x
        a = rms(x, L + 'input_layernorm.weight')
        acts[f'blocks.{i}.norm1.out'] = a
        q = linear(a, L + 'self_attn.q_proj').view(B, T, H, hd).transpose(1, 2)
        k = linear(a, L + 'self_attn.k_proj').view(B, T, KV, hd).transpose(1, 2)
        v = linear(a, L + 'self_attn.v_proj').view(B, T, KV, hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = lambda t: t[:, :, None].expand(B, KV, H // KV, T, hd).reshape(B, H, T, hd)  # repeat_kv
        pattern = causal_softmax(q @ rep(k).transpose(2, 3) / math.sqrt(hd))
        z = (pattern @ rep(v)).transpose(1, 2).reshape(B, T, H * hd)
        x = x + linear(z, L + 'self_attn.o_proj')
        acts[f'blocks.{i}.resid.mid'] = x
        m = rms(x, L + 'post_attention_layernorm.weight')
        acts[f'blocks.{i}.norm2.out'] = m
        gate = linear(m, L + 'mlp.gate_proj')
        x = x + linear(torch.nn.functional.silu(gate) * linear(m, L + 'mlp.up_proj'), L + 'mlp.down_proj')
    acts['final_norm.in'] = x
    x = rms(x, 'model.norm.weight')
    acts['final_norm.out'] = x
    head = w['model.embed_tokens.weight'] if c.get('tie_word_embeddings', False) else w['lm_head.weight']
    return x @ head.T, acts


def ids_for(g, V, B, T):
    return torch.randint(0, V, (B, T), generator=g, dtype=torch.int64).to(torch.int32)


def fixtures():
    g = torch.Generator().manual_seed(1234)
    # GPT-2 as openai-community/gpt2 stores it: no prefix, with the attn.bias mask buffers.
    c = {'model_type': 'gpt2', 'architectures': ['GPT2LMHeadModel'], 'vocab_size': 64, 'n_positions': 16, 'n_embd': 32,
         'n_layer': 2, 'n_head': 4, 'n_inner': None, 'activation_function': 'gelu_new', 'layer_norm_epsilon': 1e-5,
         'tie_word_embeddings': True}
    masks = {f'h.{i}.attn.bias': torch.ones(16, 16).tril().view(1, 1, 16, 16) for i in range(2)}
    write_snapshot('gpt2-tiny', c, gpt2_weights(c, g, ''), 'F32', gpt2_forward, ids=ids_for(g, 64, 2, 10), extra=masks)
    # GPT-2 as save_pretrained writes it: 'transformer.' prefix, F16, two shards, n_inner and eps of its own.
    c = {'model_type': 'gpt2', 'vocab_size': 72, 'n_positions': 24, 'n_embd': 48, 'n_layer': 2, 'n_head': 6,
         'n_inner': 80, 'activation_function': 'gelu_new', 'layer_norm_epsilon': 1e-3}
    write_snapshot('gpt2-f16-sharded', c, gpt2_weights(c, g, 'transformer.'), 'F16', gpt2_forward, shards=2, ids=ids_for(g, 72, 2, 12))
    # LLaMA with grouped-query heads (4 query, 2 key/value), head_dim != hidden/heads, attention bias, untied head.
    c = {'model_type': 'llama', 'architectures': ['LlamaForCausalLM'], 'vocab_size': 80, 'hidden_size': 32,
         'intermediate_size': 56, 'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 2,
         'head_dim': 12, 'max_position_embeddings': 64, 'rms_norm_eps': 1e-6, 'rope_theta': 10000.0,
         'rope_scaling': None, 'attention_bias': True, 'tie_word_embeddings': False, 'hidden_act': 'silu'}
    write_snapshot('llama-gqa', c, llama_weights(c, g), 'F32', llama_forward, ids=ids_for(g, 80, 2, 12))
    # LLaMA 3 style: BF16, 6 query heads on 2 key/value heads, rope_theta 500000 with llama3 rope_scaling, tied head.
    c = {'model_type': 'llama', 'vocab_size': 64, 'hidden_size': 48, 'intermediate_size': 64, 'num_hidden_layers': 2,
         'num_attention_heads': 6, 'num_key_value_heads': 2, 'max_position_embeddings': 128, 'rms_norm_eps': 1e-5,
         'rope_theta': 500000.0, 'tie_word_embeddings': True, 'hidden_act': 'silu',
         'rope_scaling': {'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0, 'high_freq_factor': 4.0,
                          'original_max_position_embeddings': 16}}
    write_snapshot('llama3-bf16-tied', c, llama_weights(c, g), 'BF16', llama_forward, ids=ids_for(g, 64, 2, 14))


def gpt2_small(path):
    """openai-community/gpt2's shapes (124M params) with random F32 weights: for load time and memory."""
    os.makedirs(path, exist_ok=True)
    c = {'model_type': 'gpt2', 'vocab_size': 50257, 'n_positions': 1024, 'n_embd': 768, 'n_layer': 12, 'n_head': 12,
         'n_inner': None, 'activation_function': 'gelu_new', 'layer_norm_epsilon': 1e-5}
    with open(os.path.join(path, 'config.json'), 'w') as f:
        json.dump(c, f, indent=2)
    g = torch.Generator().manual_seed(7)
    w = gpt2_weights(c, g, '')
    for k in w:
        if k.endswith('.weight') and w[k].dim() == 2:
            w[k] *= 0.1
    w.update({f'h.{i}.attn.bias': torch.ones(1024, 1024).tril().view(1, 1, 1024, 1024) for i in range(12)})
    write_safetensors(os.path.join(path, 'model.safetensors'), w, metadata={'format': 'pt'})
    print(f'{path}: {sum(v.numel() for k, v in w.items() if not k.endswith(".attn.bias"))} params')


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--gpt2-small':
        gpt2_small(sys.argv[2])
    else:
        fixtures()
