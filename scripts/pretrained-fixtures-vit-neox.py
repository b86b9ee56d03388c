#!/usr/bin/env python3
"""PyTorch references for the ViT and GPT-NeoX (Pythia) loaders (src/pretrained/vit.ts, gpt-neox.ts).

No `transformers` package is needed: the modules below restate Hugging Face
transformers 4.46's ViTModel / ViTForImageClassification and GPTNeoXForCausalLM
(modeling_vit.py, modeling_gpt_neox.py, eager attention, eval mode: dropout off)
with the same parameter names, so their state_dict() is a checkpoint of that
layout. Each fixture is a tiny random-weight snapshot under
test/fixtures/pretrained/<name>/:
  config.json          what transformers' config would save (model_type, sizes, eps, ...)
  model.safetensors    the weights (F32, or BF16 where the fixture says so)
  expected.safetensors input, reference logits, the input and output of norm layers
                       (metadata: which lab slot and which HF module each is) and
                       blocks.0.mlp.hidden (the activation's output, by hook name)
References are computed in float64 from the stored (float32 or bf16-rounded) weights.

Run: /usr/bin/python3 scripts/pretrained-fixtures-vit-neox.py   (needs python3-torch)
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'pretrained')

# transformers' ACT2FN for the names the loaders accept
ACT = {
    'gelu': lambda x: F.gelu(x),                                   # exact, erf
    'gelu_new': lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    'gelu_pytorch_tanh': lambda x: F.gelu(x, approximate='tanh'),
    'relu': F.relu,
    'silu': F.silu,
    'quick_gelu': lambda x: x * torch.sigmoid(1.702 * x),
}


# ---------------------------------------------------------------- safetensors

DT = {torch.float32: 'F32', torch.bfloat16: 'BF16', torch.float16: 'F16', torch.int32: 'I32'}


def write_safetensors(path, tensors, metadata=None):
    """8-byte little-endian header length, JSON header, raw little-endian bytes."""
    header = {'__metadata__': metadata or {}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {'dtype': DT[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    js = json.dumps(header, separators=(',', ':'))
    js += ' ' * ((8 - len(js) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)))
        f.write(js.encode())
        for b in blobs:
            f.write(b)


def save_fixture(name, config, model, expected, meta, weight_dtype=torch.float32):
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write('\n')
    write_safetensors(os.path.join(out, 'model.safetensors'), {k: v.to(weight_dtype) for k, v in model.state_dict().items()})
    write_safetensors(os.path.join(out, 'expected.safetensors'),
                      {k: (v.to(torch.int32) if not v.is_floating_point() else v.to(torch.float32)) for k, v in expected.items()},
                      {k: str(v) for k, v in meta.items()})
    print(f'{name}: {sum(p.numel() for p in model.parameters())} parameters, logits {list(expected["logits"].shape)}')


def randomize(model, seed, std=0.2):
    """Random weights of a usable scale; LayerNorm gains near 1, biases nonzero (so every parameter matters)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'norm' in name and name.endswith('weight'):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith('bias'):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[-1] if p.dim() == 2 else (p[0].numel() if p.dim() == 4 else 1)
                scale = std if p.dim() != 2 and p.dim() != 4 else 1 / math.sqrt(fan_in)
                if 'intermediate.dense' in name or 'dense_h_to_4h' in name:
                    scale *= 3  # GELU inputs of a few units, where exact and tanh GELU part by more than 1e-4
                p.copy_(scale * torch.randn(p.shape, generator=g))


def capture(modules):
    """Forward hooks recording each module's (input, output)."""
    seen = {}
    for key, m in modules.items():
        m.register_forward_hook(lambda mod, inp, out, key=key: seen.__setitem__(key, (inp[0].detach(), out.detach())))
    return seen


# ---------------------------------------------------------------- ViT (modeling_vit.py, transformers 4.46)

class ViTPatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.projection = nn.Conv2d(c['num_channels'], c['hidden_size'], kernel_size=c['patch_size'], stride=c['patch_size'])

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)  # [B, N, d]


class ViTEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = (c['image_size'] // c['patch_size']) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, c['hidden_size']))
        self.patch_embeddings = ViTPatchEmbeddings(c)
        self.position_embeddings = nn.Parameter(torch.randn(1, n + 1, c['hidden_size']))

    def forward(self, pixel_values):
        x = self.patch_embeddings(pixel_values)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.position_embeddings


class ViTSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.h = c['hidden_size'], c['num_attention_heads']
        self.dh = d // self.h
        self.query = nn.Linear(d, d, bias=c['qkv_bias'])
        self.key = nn.Linear(d, d, bias=c['qkv_bias'])
        self.value = nn.Linear(d, d, bias=c['qkv_bias'])

    def heads(self, x):
        return x.view(x.shape[0], x.shape[1], self.h, self.dh).permute(0, 2, 1, 3)  # [B, H, T, Dh]

    def forward(self, x):
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh), dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape[0], x.shape[1], -1)


class ViTSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['hidden_size'])

    def forward(self, x):
        return self.dense(x)


class ViTAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = ViTSelfAttention(c)
        self.output = ViTSelfOutput(c)

    def forward(self, x):
        return self.output(self.attention(x))


class ViTIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['intermediate_size'])
        self.act = ACT[c['hidden_act']]

    def forward(self, x):
        return self.act(self.dense(x))


class ViTOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['intermediate_size'], c['hidden_size'])

    def forward(self, x, residual):
        return self.dense(x) + residual


class ViTLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = ViTAttention(c)
        self.intermediate = ViTIntermediate(c)
        self.output = ViTOutput(c)
        self.layernorm_before = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])
        self.layernorm_after = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, x):
        x = self.attention(self.layernorm_before(x)) + x
        return self.output(self.intermediate(self.layernorm_after(x)), x)


class ViTEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([ViTLayer(c) for _ in range(c['num_hidden_layers'])])

    def forward(self, x):
        for layer in self.layer:
            x = layer(x)
        return x


class ViTPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['hidden_size'])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class ViTModel(nn.Module):
    def __init__(self, c, add_pooling_layer=True):
        super().__init__()
        self.embeddings = ViTEmbeddings(c)
        self.encoder = ViTEncoder(c)
        self.layernorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])
        self.pooler = ViTPooler(c) if add_pooling_layer else None

    def forward(self, pixel_values):
        seq = self.layernorm(self.encoder(self.embeddings(pixel_values)))
        return seq, (self.pooler(seq) if self.pooler is not None else None)


class ViTForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vit = ViTModel(c, add_pooling_layer=False)
        self.classifier = nn.Linear(c['hidden_size'], c['num_labels'])

    def forward(self, pixel_values):
        seq, _ = self.vit(pixel_values)
        return self.classifier(seq[:, 0, :])


def vit_config(**kw):
    c = dict(model_type='vit', architectures=['ViTForImageClassification'], hidden_size=32, num_hidden_layers=2,
             num_attention_heads=4, intermediate_size=64, hidden_act='gelu', layer_norm_eps=1e-12, image_size=16,
             patch_size=4, num_channels=3, qkv_bias=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
             initializer_range=0.02, encoder_stride=16, transformers_version='4.46.0', torch_dtype='float32')
    c.update(kw)
    return c


def vit_fixture(name, config, classifier, seed, batch=2):
    torch.manual_seed(seed)
    model = ViTForImageClassification(config) if classifier else ViTModel(config, add_pooling_layer=True)
    randomize(model, seed)
    model.eval()
    ref = model.double()
    base = ref.vit if classifier else ref
    norms = {'blocks.1.norm2': base.encoder.layer[1].layernorm_after, 'final_norm': base.layernorm}
    seen = capture(norms)
    hidden = capture({'blocks.0.mlp.hidden': base.encoder.layer[0].output.dense})  # its input: act(intermediate.dense(.))
    g = torch.Generator().manual_seed(seed + 1)
    pixels = torch.randn(batch, config['num_channels'], config['image_size'], config['image_size'], generator=g, dtype=torch.float64)
    with torch.no_grad():
        out = ref(pixels)
        logits = out if classifier else out[1]
    expected = {'input': pixels, 'logits': logits}
    meta = {'input': 'pixel_values [B, C, H, W]',
            'logits': 'logits [B, classes]' if classifier else 'pooler_output [B, d] (tanh(dense(CLS)))'}
    for slot, (i, o) in seen.items():
        expected[f'{slot}.in'], expected[f'{slot}.out'] = i, o
    expected['blocks.0.mlp.hidden'] = hidden['blocks.0.mlp.hidden'][0]
    prefix = 'vit.' if classifier else ''
    meta['blocks.1.norm2'] = f'{prefix}encoder.layer.1.layernorm_after'
    meta['final_norm'] = f'{prefix}layernorm'
    save_fixture(name, config, model.float(), expected, meta)


# ---------------------------------------------------------------- GPT-NeoX (modeling_gpt_neox.py, transformers 4.46)

def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class GPTNeoXRotaryEmbedding(nn.Module):
    def __init__(self, dim, base):
        super().__init__()
        self.register_buffer('inv_freq', 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), persistent=False)

    def forward(self, x, position_ids):
        # float32 angles and cos/sin (autocast off), then cast to the activations' dtype, as transformers does
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :].float()  # [B, T, dim/2]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


class GPTNeoXAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.h = c['hidden_size'], c['num_attention_heads']
        self.hs = d // self.h
        self.rotary_ndims = int(self.hs * c['rotary_pct'])
        self.rotary_emb = GPTNeoXRotaryEmbedding(self.rotary_ndims, c['rotary_emb_base'])
        self.query_key_value = nn.Linear(d, 3 * d, bias=c.get('attention_bias', True))
        self.dense = nn.Linear(d, d, bias=c.get('attention_bias', True))

    def forward(self, x):
        B, T, _ = x.shape
        qkv = self.query_key_value(x).view(B, T, self.h, 3 * self.hs)  # per head: [q | k | v]
        q = qkv[..., : self.hs].permute(0, 2, 1, 3)
        k = qkv[..., self.hs: 2 * self.hs].permute(0, 2, 1, 3)
        v = qkv[..., 2 * self.hs:].permute(0, 2, 1, 3)
        r = self.rotary_ndims
        cos, sin = self.rotary_emb(v, torch.arange(T)[None].expand(B, -1))
        cos, sin = cos[:, None], sin[:, None]  # [B, 1, T, r]
        q = torch.cat((q[..., :r] * cos + rotate_half(q[..., :r]) * sin, q[..., r:]), dim=-1)
        k = torch.cat((k[..., :r] * cos + rotate_half(k[..., :r]) * sin, k[..., r:]), dim=-1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.hs)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
        probs = torch.softmax(scores, dim=-1)
        z = (probs @ v).permute(0, 2, 1, 3).reshape(B, T, -1)
        return self.dense(z)


class GPTNeoXMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(c['hidden_size'], c['intermediate_size'])
        self.dense_4h_to_h = nn.Linear(c['intermediate_size'], c['hidden_size'])
        self.act = ACT[c['hidden_act']]

    def forward(self, x):
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


class GPTNeoXLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.use_parallel_residual = c['use_parallel_residual']
        self.input_layernorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])
        self.post_attention_layernorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])
        self.attention = GPTNeoXAttention(c)
        self.mlp = GPTNeoXMLP(c)

    def forward(self, x):
        attn = self.attention(self.input_layernorm(x))
        if self.use_parallel_residual:  # x + attn(ln1(x)) + mlp(ln2(x))
            return self.mlp(self.post_attention_layernorm(x)) + attn + x
        attn = attn + x
        return self.mlp(self.post_attention_layernorm(attn)) + attn


class GPTNeoXModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_in = nn.Embedding(c['vocab_size'], c['hidden_size'])
        self.layers = nn.ModuleList([GPTNeoXLayer(c) for _ in range(c['num_hidden_layers'])])
        self.final_layer_norm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, ids):
        x = self.embed_in(ids)
        for layer in self.layers:
            x = layer(x)
        return self.final_layer_norm(x)


class GPTNeoXForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gpt_neox = GPTNeoXModel(c)
        self.embed_out = nn.Linear(c['hidden_size'], c['vocab_size'], bias=False)

    def forward(self, ids):
        return self.embed_out(self.gpt_neox(ids))


def neox_config(**kw):
    c = dict(model_type='gpt_neox', architectures=['GPTNeoXForCausalLM'], vocab_size=61, hidden_size=32,
             num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, hidden_act='gelu', rotary_pct=0.25,
             rotary_emb_base=10000, max_position_embeddings=64, layer_norm_eps=1e-5, use_parallel_residual=True,
             attention_bias=True, tie_word_embeddings=False, use_cache=True, bos_token_id=0, eos_token_id=0,
             attention_dropout=0.0, hidden_dropout=0.0, initializer_range=0.02, transformers_version='4.46.0',
             torch_dtype='float32')
    c.update(kw)
    return c


def neox_fixture(name, config, seed, batch=2, T=9, weight_dtype=torch.float32):
    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM(config)
    randomize(model, seed, std=1.0)
    with torch.no_grad():  # round to the stored dtype first: the reference sees the weights the loader reads
        for p in model.parameters():
            p.copy_(p.to(weight_dtype).to(torch.float32))
    model.eval()
    ref = model.double()
    norms = {'blocks.1.norm1': ref.gpt_neox.layers[1].input_layernorm,
             'blocks.1.norm2': ref.gpt_neox.layers[1].post_attention_layernorm,
             'final_norm': ref.gpt_neox.final_layer_norm}
    seen = capture(norms)
    hidden = capture({'blocks.0.mlp.hidden': ref.gpt_neox.layers[0].mlp.dense_4h_to_h})  # its input: act(dense_h_to_4h(.))
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, config['vocab_size'], (batch, T), generator=g)
    with torch.no_grad():
        logits = ref(ids)
    expected = {'input': ids, 'logits': logits}
    meta = {'input': 'input_ids int32 [B, T]', 'logits': 'logits [B, T, vocab]',
            'blocks.1.norm1': 'gpt_neox.layers.1.input_layernorm',
            'blocks.1.norm2': 'gpt_neox.layers.1.post_attention_layernorm',
            'final_norm': 'gpt_neox.final_layer_norm'}
    for slot, (i, o) in seen.items():
        expected[f'{slot}.in'], expected[f'{slot}.out'] = i, o
    expected['blocks.0.mlp.hidden'] = hidden['blocks.0.mlp.hidden'][0]
    save_fixture(name, config, model.float(), expected, meta, weight_dtype)


def main():
    torch.set_grad_enabled(False)
    vit_fixture('vit-classifier', vit_config(num_labels=5, id2label={str(i): f'class_{i}' for i in range(5)},
                                             label2id={f'class_{i}': i for i in range(5)}), classifier=True, seed=11)
    vit_fixture('vit-model-pooler', vit_config(architectures=['ViTModel'], hidden_size=24, num_attention_heads=3,
                                               intermediate_size=40, image_size=8, num_channels=1, qkv_bias=False,
                                               layer_norm_eps=1e-6, encoder_stride=8), classifier=False, seed=12)
    neox_fixture('pythia-parallel', neox_config(num_attention_heads=2), seed=21)  # head_size 16, 4 rotary dims
    neox_fixture('pythia-sequential-bf16', neox_config(hidden_size=48, num_attention_heads=6, intermediate_size=96,
                                                       rotary_pct=1.0, rotary_emb_base=500, use_parallel_residual=False,
                                                       layer_norm_eps=1e-6, vocab_size=40), seed=22, weight_dtype=torch.bfloat16)


if __name__ == '__main__':
    sys.exit(main())
