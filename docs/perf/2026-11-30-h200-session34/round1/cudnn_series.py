#!/usr/bin/env python3
"""torch SDPA's cuDNN backend, dense causal, timed as sparse_peers.py times it (2 s of
untimed calls, 2 warm-up calls, CUDA events), but with every sample kept:

    python3 cudnn_series.py --len 32768 --heads 32 --iters 30 --out FILE.json

Session 34 brackets each `sparsefill bench` run with one of these, to see whether the
baseline's spread between runs (14.5-16.9 ms at 32K since session 30) follows the order
in which a call times the two sides."""
import argparse
import json
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.functional import scaled_dot_product_attention as sdpa


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--len", type=int, default=32768)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--settle-ms", type=int, default=2000)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    q = torch.randn(1, a.heads, a.len, 128, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, a.heads // 4, a.len, 128, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(1, a.heads // 4, a.len, 128, device="cuda", dtype=torch.bfloat16)
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        def call():
            return sdpa(q, k, v, is_causal=True, enable_gqa=True)
        until = time.perf_counter() + a.settle_ms / 1000
        while time.perf_counter() < until:
            call()
            torch.cuda.synchronize()
        for _ in range(2):
            call()
        torch.cuda.synchronize()
        samples = []
        for _ in range(a.iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end))
    first5 = sorted(samples[:5])[2]
    median = sorted(samples)[len(samples) // 2]
    flops = 4 * a.heads * 128 * a.len * a.len / 2
    out = {"len": a.len, "heads": a.heads, "samples_ms": samples, "median_first5_ms": first5,
           "median_ms": median, "tflops_at_median": flops / median / 1e9, "wall": time.time()}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"cuDNN S={a.len} H={a.heads}: median of the first 5 {first5:.3f} ms, of {a.iters} {median:.3f} ms, "
          f"min {min(samples):.3f}, max {max(samples):.3f}")


if __name__ == "__main__":
    main()
