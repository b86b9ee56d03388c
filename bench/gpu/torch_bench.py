#!/usr/bin/env python3
"""PyTorch peers of the GPU benchmark, on the same card in the same run.

DyT (gamma * tanh(alpha * x) + beta), LayerNorm (F.layer_norm) and RMSNorm
(F.rms_norm when present, else the usual eager formula), float32, eager and
torch.compile, forward and forward+backward, with the copy bandwidth of a
same-size y.copy_(x). CUDA events around `reps` iterations, median of rounds;
buffer sets rotate past the L2 cache like the TypeScript side.

Usage: python3 torch_bench.py --out result.json [--smoke] [--sizes 4096x768,4096x4096] [--deadline EPOCH_S]
Writes JSON (again after every measurement, so a run cut short keeps what it
measured); prints one line per measurement. Past --deadline it stops starting
measurements and says so. Exit 0 even when torch or CUDA is missing: the JSON
then says why.
"""
import argparse
import json
import statistics
import sys
import time
import traceback


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--sizes", default="4096x768,4096x4096")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--deadline", type=float, default=float("inf"))
    args = ap.parse_args()
    result = {"status": "ok", "rows": [], "compile_errors": {}, "skipped": []}
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        result.update(status="unavailable", reason=f"import torch failed: {e}")
        return write(args.out, result)
    result["torch"] = torch.__version__
    result["cuda_runtime"] = getattr(torch.version, "cuda", None)
    if not torch.cuda.is_available():
        result.update(status="unavailable", reason="torch.cuda.is_available() is False")
        return write(args.out, result)
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    result["device"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                        "multiprocessors": props.multi_processor_count, "memory_bytes": props.total_memory,
                        "l2_bytes": getattr(props, "L2_cache_size", None)}
    l2 = getattr(props, "L2_cache_size", 50 * 2**20) or 50 * 2**20
    sizes = [(256, 768)] if args.smoke else [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    reps = 5 if args.smoke else args.reps
    eps = 1e-5

    def dyt(x, alpha, gamma, beta):
        return gamma * torch.tanh(alpha * x) + beta

    def ln(x, alpha, gamma, beta):
        return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)

    if hasattr(F, "rms_norm"):
        def rms(x, alpha, gamma, beta):
            return F.rms_norm(x, (x.shape[-1],), gamma, eps)
        rms_impl = "F.rms_norm"
    else:
        def rms(x, alpha, gamma, beta):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * gamma
        rms_impl = "eager formula"
    result["rmsnorm_impl"] = rms_impl

    def timeit(fn, n_sets):
        for i in range(3):
            fn(i)
        torch.cuda.synchronize()
        out = []
        for _ in range(5):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            for i in range(reps):
                fn(i)
            b.record()
            b.synchronize()
            out.append(a.elapsed_time(b) / reps)
        return statistics.median(out)

    for rows, C in sizes:
        n = rows * C
        nbytes = 4 * n
        sets = max(1, min(8, -(-3 * l2 // (4 * nbytes))))
        xs = [torch.randn(rows, C, device=dev, requires_grad=True) for _ in range(sets)]
        ys = [torch.empty(rows, C, device=dev) for _ in range(sets)]
        dy = torch.randn(rows, C, device=dev)
        alpha = torch.full((1,), 0.5, device=dev, requires_grad=True)
        gamma = torch.ones(C, device=dev, requires_grad=True)
        beta = torch.zeros(C, device=dev, requires_grad=True)
        size = f"[{rows}, {C}]"
        with torch.no_grad():
            copy_ms = timeit(lambda i: ys[i % sets].copy_(xs[i % sets]), sets)
        row(result, size, "copy", "torch copy_", "fwd", copy_ms, 2 * nbytes, copy_ms)
        fns = {"dyt": dyt, "layernorm": ln, "rmsnorm": rms}
        for op, f in fns.items():
            variants = [("eager", f)]
            if not args.no_compile:
                try:
                    variants.append(("torch.compile", torch.compile(f)))
                except Exception as e:  # noqa: BLE001
                    result["compile_errors"][op] = f"{type(e).__name__}: {e}"
            for label, g in variants:
                impl = f"{label} ({rms_impl})" if op == "rmsnorm" else label
                if time.time() > args.deadline:
                    result["skipped"].append(f"{op} {impl} {size}: time budget spent")
                    continue
                try:
                    with torch.no_grad():
                        ms = timeit(lambda i: g(xs[i % sets], alpha, gamma, beta), sets)
                    row(result, size, op, impl, "fwd", ms, 2 * nbytes, copy_ms)

                    def fb(i):
                        x = xs[i % sets]
                        y = g(x, alpha, gamma, beta)
                        torch.autograd.grad(y, (x, alpha, gamma, beta) if op == "dyt" else (x, gamma, beta) if op == "layernorm" else (x, gamma), dy)
                    ms = timeit(fb, sets)
                    row(result, size, op, impl, "fwd+bwd", ms, 5 * nbytes, copy_ms)
                    write(args.out, result)
                except Exception as e:  # noqa: BLE001
                    result["compile_errors"][f"{op} {label} {size}"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    print(f"torch: {op} {label} {size} failed: {e}", file=sys.stderr)
        del xs, ys, dy
        torch.cuda.empty_cache()
    return write(args.out, result)


def row(result, size, op, impl, pass_, ms, nbytes, copy_ms):
    gbps = nbytes / (ms * 1e-3) / 1e9
    copy_gbps = 2 * (nbytes / (5 if pass_ == "fwd+bwd" else 2)) / (copy_ms * 1e-3) / 1e9
    r = {"path": "pytorch", "size": size, "op": op, "impl": impl, "pass": pass_, "ms": ms, "bytes": nbytes, "gbps": gbps,
         "xCopy": ms / copy_ms, "ofCopyBandwidth": gbps / copy_gbps}
    result["rows"].append(r)
    print(f"torch {size} {op:10s} {impl:28s} {pass_:8s} {ms:9.4f} ms {gbps:7.0f} GB/s {ms / copy_ms:6.2f}x copy", flush=True)


def write(path, result):
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "torch-result.json"
        write(out, {"status": "failed", "reason": traceback.format_exc(), "rows": []})
        code = 0
    sys.exit(code)
