#!/usr/bin/env python3
"""PyTorch side of bench/peer: the LM and the ViT of dytlab, written against torch.

The models follow dytlab's (src/models/llama.ts, vit.ts, block.ts, src/nn/attention.ts,
mlp.ts, norms.ts) layer for layer, so that both sides train the same network:
  LM   token embedding (no bias), RoPE (rotate-half, base 10000: createLM's default; the
       LM has no learned position table), pre-norm blocks x + attn(norm1(x)), x + mlp(norm2(x)),
       attention qkv and proj without bias, scores * 1/sqrt(head_dim) + additive causal mask
       (-1e9 above the diagonal), softmax, value product; MLP fc -> GELU (tanh approximation)
       -> proj without bias; final norm; untied head without bias.
  ViT  patches of patch x patch pixels -> Linear (bias) + learned positions [1, patches, d],
       the same blocks (attention and MLP with biases, no mask), final norm, mean pool,
       Linear head (bias).
  norm layernorm: LayerNorm(eps 1e-5, gamma and beta); dyt: gamma * tanh(alpha * x) + beta,
       alpha one scalar (init --alpha0, dytlab's default 0.5).
  AdamW with decoupled weight decay on the parameters dytlab's AdamW decays (rank >= 2 and not
       named pos or cls), cross-entropy, no gradient clipping.

Modes:
  one job:  python3 peer.py --model lm --norm dyt [sizes] [--warmup N --steps N] [--count-only]
            prints one JSON line: parameter shapes and count, per-step times in ms.
  --serve:  reads one job per stdin line (a JSON array of the same arguments) and answers one
            JSON line each; its first line is {"ready": true, ...machine and torch info}.
Argument errors exit 2 (one job) or answer {"error": ...} (--serve).
"""
import argparse
import json
import math
import os
import platform
import sys
import time


class ArgError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # raise instead of exiting, so --serve can answer with it
        raise ArgError(message)


def positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}")
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
        return v
    return parse


def non_negative_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int")
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return v


def make_parser():
    p = Parser(prog="peer.py", description="PyTorch peer of dytlab's bench/peer (one job, or --serve)")
    p.add_argument("--serve", action="store_true", help="answer jobs (JSON arrays of arguments) from stdin")
    p.add_argument("--model", choices=["lm", "vit"], default="lm")
    p.add_argument("--norm", choices=["layernorm", "dyt"], default="layernorm")
    p.add_argument("--vocab", type=positive(int), default=96)
    p.add_argument("--context", type=positive(int), default=64)
    p.add_argument("--d-model", type=positive(int), default=128)
    p.add_argument("--layers", type=positive(int), default=4)
    p.add_argument("--heads", type=positive(int), default=4)
    p.add_argument("--mlp-ratio", type=positive(float), default=4.0)
    p.add_argument("--batch", type=positive(int), default=16)
    p.add_argument("--no-rope", action="store_true", help="LM without RoPE (dytlab's rope: false)")
    p.add_argument("--rope-base", type=positive(float), default=10000.0)
    p.add_argument("--image-size", type=positive(int), default=28)
    p.add_argument("--patch", type=positive(int), default=7)
    p.add_argument("--channels", type=positive(int), default=1)
    p.add_argument("--classes", type=positive(int), default=10)
    p.add_argument("--alpha0", type=float, default=0.5)
    p.add_argument("--ln-eps", type=positive(float), default=1e-5)
    p.add_argument("--init-std", type=positive(float), default=0.02)
    p.add_argument("--lr", type=positive(float), default=1e-3)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=positive(float), default=1e-8)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup", type=non_negative_int, default=3)
    p.add_argument("--steps", type=non_negative_int, default=10)
    p.add_argument("--threads", type=positive(int), default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count-only", action="store_true", help="build the model and report its parameters; no steps")
    return p


def parse_job(argv):
    """Parsed and checked arguments (ArgError names what is wrong)."""
    a = make_parser().parse_args(argv)
    if a.d_model % a.heads:
        raise ArgError(f"--d-model {a.d_model} is not divisible by --heads {a.heads}")
    if a.model == "lm" and not a.no_rope and (a.d_model // a.heads) % 2:
        raise ArgError(f"RoPE needs an even head dimension, got {a.d_model // a.heads}")
    if a.model == "vit" and a.image_size % a.patch:
        raise ArgError(f"--patch {a.patch} does not divide --image-size {a.image_size}")
    return a


def mlp_hidden(d, ratio):
    return int(math.ceil(ratio * d / 8) * 8)  # dytlab's mlpHidden


def build(a):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    std = a.init_std

    def trunc(t):  # dytlab's Init.normal: truncated at 2 std
        nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)
        return t

    def linear(i, o, bias):
        m = nn.Linear(i, o, bias=bias)
        trunc(m.weight)
        if bias:
            nn.init.zeros_(m.bias)
        return m

    class DyT(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.alpha = nn.Parameter(torch.full((1,), float(a.alpha0)))
            self.gamma = nn.Parameter(torch.ones(d))
            self.beta = nn.Parameter(torch.zeros(d))

        def forward(self, x):
            return self.gamma * torch.tanh(self.alpha * x) + self.beta

    def norm(d):
        return nn.LayerNorm(d, eps=a.ln_eps) if a.norm == "layernorm" else DyT(d)

    class Attention(nn.Module):
        def __init__(self, d, heads, causal, max_len, bias, rope):
            super().__init__()
            self.h, self.hd = heads, d // heads
            self.qkv = linear(d, 3 * d, bias)
            self.proj = linear(d, d, bias)
            self.causal, self.rope = causal, rope
            if causal:
                self.register_buffer("mask", torch.triu(torch.full((max_len, max_len), -1e9), diagonal=1))
            if rope:
                half = self.hd // 2
                inv = a.rope_base ** (-2 * torch.arange(half, dtype=torch.float64) / self.hd)
                ang = torch.arange(max_len, dtype=torch.float64)[:, None] * inv[None, :]
                ang = torch.cat([ang, ang], dim=1)
                self.register_buffer("cos", ang.cos().float())
                self.register_buffer("sin", ang.sin().float())

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).split(C, dim=2)
            q, k, v = (t.view(B, T, self.h, self.hd).transpose(1, 2) for t in (q, k, v))
            if self.rope:
                cos, sin = self.cos[:T], self.sin[:T]

                def rot(t):
                    t1, t2 = t.chunk(2, dim=-1)
                    return t * cos + torch.cat([-t2, t1], dim=-1) * sin
                q, k = rot(q), rot(k)
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd))
            if self.causal:
                scores = scores + self.mask[:T, :T]
            z = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
            return self.proj(z)

    class MLP(nn.Module):
        def __init__(self, d, hidden, bias):
            super().__init__()
            self.fc = linear(d, hidden, bias)
            self.proj = linear(hidden, d, bias)

        def forward(self, x):
            return self.proj(F.gelu(self.fc(x), approximate="tanh"))

    class Block(nn.Module):
        def __init__(self, d, heads, causal, max_len, bias, rope, hidden):
            super().__init__()
            self.norm1 = norm(d)
            self.attn = Attention(d, heads, causal, max_len, bias, rope)
            self.norm2 = norm(d)
            self.mlp = MLP(d, hidden, bias)

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    d, hidden = a.d_model, mlp_hidden(a.d_model, a.mlp_ratio)

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(a.vocab, d)
            trunc(self.embed.weight)
            self.blocks = nn.ModuleList([Block(d, a.heads, True, a.context, False, not a.no_rope, hidden) for _ in range(a.layers)])
            self.final_norm = norm(d)
            self.head = linear(d, a.vocab, False)

        def forward(self, ids):
            x = self.embed(ids)
            for b in self.blocks:
                x = b(x)
            return self.head(self.final_norm(x))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            g = a.image_size // a.patch
            self.g = g
            self.patch_embed = linear(a.patch * a.patch * a.channels, d, True)
            self.pos = nn.Parameter(trunc(torch.empty(1, g * g, d)))
            self.blocks = nn.ModuleList([Block(d, a.heads, False, g * g, True, False, hidden) for _ in range(a.layers)])
            self.final_norm = norm(d)
            self.head = linear(d, a.classes, True)

        def forward(self, images):  # [B, H, W, C]
            B, p, g, c = images.shape[0], a.patch, self.g, a.channels
            x = images.reshape(B, g, p, g, p, c).permute(0, 1, 3, 2, 4, 5).reshape(B, g * g, p * p * c)
            x = self.patch_embed(x) + self.pos
            for b in self.blocks:
                x = b(x)
            return self.head(self.final_norm(x).mean(dim=1))

    return LM() if a.model == "lm" else ViT()


def decays(name, p):
    """dytlab's AdamW rule (src/train/adamw.ts decays): rank >= 2, not pos or cls."""
    return p.dim() >= 2 and name.split(".")[-1] not in ("pos", "cls")


def batches(a, n=4):
    import torch
    g = torch.Generator().manual_seed(a.seed + 1)
    out = []
    for _ in range(n):
        if a.model == "lm":
            x = torch.randint(0, a.vocab, (a.batch, a.context), generator=g)
            y = torch.randint(0, a.vocab, (a.batch, a.context), generator=g)
        else:
            x = torch.rand((a.batch, a.image_size, a.image_size, a.channels), generator=g)
            y = torch.randint(0, a.classes, (a.batch,), generator=g)
        out.append((x, y))
    return out


def run_job(a):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = build(a)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    res = {
        "model": a.model, "norm": a.norm, "threads": torch.get_num_threads(),
        "params": sum(p.numel() for _, p in named),
        "shapes": [[n, list(p.shape)] for n, p in named],
        "unit": "tokens" if a.model == "lm" else "images",
        "itemsPerStep": a.batch * a.context if a.model == "lm" else a.batch,
    }
    if a.count_only:
        return res
    groups = [{"params": [p for n, p in named if decays(n, p)], "weight_decay": a.weight_decay},
              {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    data = batches(a)
    times, losses = [], []
    for i in range(a.warmup + a.steps):
        x, y = data[i % len(data)]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        dt = (time.perf_counter() - t0) * 1000
        if i >= a.warmup:
            times.append(dt)
        losses.append(loss.item())
    res.update(stepMs=times, losses=losses)
    return res


def info():
    import torch
    cfg = torch.__config__.show()
    return {
        "torch": torch.__version__, "python": platform.python_version(), "executable": sys.executable,
        "threads": torch.get_num_threads(), "platform": platform.platform(), "processor": cpu_model(),
        "blas": [l.strip() for l in cfg.splitlines() if "BLAS" in l or "LAPACK" in l][:4],
        "parallel": [l.strip() for l in torch.__config__.parallel_info().splitlines() if l.strip()][:8],
        "openblasEnv": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ},
    }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def serve():
    print(json.dumps({"ready": True, **info()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            argv = json.loads(line)
            if not isinstance(argv, list) or not all(isinstance(s, str) for s in argv):
                raise ArgError("a job is a JSON array of argument strings")
            out = run_job(parse_job(argv))
        except ArgError as e:
            out = {"error": f"peer.py: {e}"}
        except Exception as e:  # noqa: BLE001 - answered, the bench reports it
            out = {"error": f"peer.py: {type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


def main(argv):
    try:
        a = parse_job(argv)
    except ArgError as e:
        make_parser().print_usage(sys.stderr)
        print(f"peer.py: error: {e}", file=sys.stderr)
        return 2
    if a.serve:
        serve()
        return 0
    print(json.dumps({**run_job(a), "info": info()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
