#!/usr/bin/env python3
"""Times torch's own ops on the shapes our kernels are benchmarked on, in the same
GPU run, and writes the results as JSON for `benches/kernels.rs` to merge.

Also measures the card's copy ceiling (device-to-device, bytes read + written).
Inputs are fresh random bf16 values (never zeros); several input sets rotate so
that repeated runs do not hit in L2. Times are medians of CUDA-event timings.
"""
import argparse
import json
import sys
import time

import torch


def median_ms(fn, iters=50, warmup=10, settle_ms=2000):
    """Median CUDA-event time of `iters` calls of `fn`, after `settle_ms` milliseconds of
    untimed calls and `warmup` more. A card that sat idle runs its first few hundred
    milliseconds of load 11–15% faster than it sustains; settled, the baselines are
    timed at the clocks our kernels are (bench-kernels and `sparsefill bench` settle 2 s,
    runtime::timing::SETTLE_MS; criterion warms up for 3 s)."""
    until = time.perf_counter() + settle_ms / 1000
    while settle_ms > 0:
        fn()
        torch.cuda.synchronize()
        if time.perf_counter() >= until:
            break
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def rotating(make, count):
    """Cycles through `count` input sets so each call reads memory not in L2."""
    sets = [make() for _ in range(count)]
    state = {"i": 0}

    def next_set():
        state["i"] = (state["i"] + 1) % count
        return sets[state["i"]]

    return next_set


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=32768)
    parser.add_argument("--cols", type=int, default=4096)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("torch sees no CUDA device", file=sys.stderr)
        sys.exit(1)
    dev = torch.device("cuda")
    rows, cols = args.rows, args.cols
    results = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__, "ops": {}}

    n_copy = 1 << 30
    src = torch.randn(n_copy // 2, device=dev, dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    copy_ms = median_ms(lambda: dst.copy_(src))
    results["copy_bytes"] = 2 * src.numel() * 2
    results["copy_ms"] = copy_ms
    results["copy_gbps"] = results["copy_bytes"] / copy_ms / 1e6
    del src, dst

    make_x = lambda: torch.randn(rows, cols, device=dev, dtype=torch.bfloat16) * 3
    xs = rotating(make_x, 3)
    w = torch.randn(cols, device=dev, dtype=torch.bfloat16)
    out = torch.empty(rows, cols, device=dev, dtype=torch.bfloat16)
    n = rows * cols
    ops = {
        "softmax": (lambda: torch.softmax(xs(), dim=-1, out=None), 2 * n * 2),
        "rmsnorm": (lambda: torch.nn.functional.rms_norm(xs(), (cols,), w, 1e-5), (2 * n + cols) * 2),
    }
    for name, (fn, nbytes) in ops.items():
        ms = median_ms(fn)
        results["ops"][name] = {"shape": [rows, cols], "ms": ms, "bytes": nbytes, "gbps": nbytes / ms / 1e6}
    del out

    # cuBLAS through torch.matmul, the GEMM baseline.
    n = 8192
    a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    ms = median_ms(lambda: torch.matmul(a, b), iters=20, warmup=5)
    results["matmul"] = {"shape": [n, n, n], "ms": ms, "tflops": 2 * n**3 / ms / 1e9}
    del a, b

    # Dense attention through SDPA's flash (FlashAttention-2) and cuDNN backends, on the
    # shapes of benches/kernels.rs ATTENTION_SHAPES: batch 1, head dim 128, bf16.
    from torch.nn.attention import SDPBackend, sdpa_kernel

    results["attention"] = {}
    for seq, heads in [(8192, 32), (32768, 32), (131072, 8)]:
        q, k, v = (torch.randn(1, heads, seq, 128, device=dev, dtype=torch.bfloat16) for _ in range(3))
        for causal in (True, False):
            entry = {}
            for name, backend in (("flash_ms", SDPBackend.FLASH_ATTENTION), ("cudnn_ms", SDPBackend.CUDNN_ATTENTION)):
                try:
                    with sdpa_kernel(backend):
                        fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        entry[name] = median_ms(fn, iters=5, warmup=2)
                except RuntimeError as e:
                    print(f"SDPA {name} S={seq} H={heads} causal={causal}: {e}", file=sys.stderr)
            key = f"{seq}x{heads}{'_causal' if causal else ''}"
            results["attention"][key] = entry
            print(key, entry, file=sys.stderr)
        del q, k, v
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
