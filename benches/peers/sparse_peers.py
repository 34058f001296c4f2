#!/usr/bin/env python3
"""The peers of `sparsefill bench`, timed in the same GPU run at the same shapes from
its bench.json, written to peers.json for `sparsefill bench --merge-peers DIR`, which
renders them beside ours in bench.md and the plots.

    python3 sparse_peers.py --bench DIR/bench.json [--out DIR/peers.json] [--iters 5] [--settle-ms 2000]

For each length the bench measured (one sequence, H heads, H/4 kv heads, D 128, bf16),
on fresh random q, k, v (never zeros):
  - torch SDPA, dense and causal, with the cuDNN backend and with the flash backend;
  - FlexAttention (torch.compile'd flex_attention) with a BlockMask built from OUR mask,
    once per pattern with a cover: the bench writes, per length and pattern, the cover
    of our mask at Flex's block size (128 query rows x 128 keys): a block is set when
    some row of the 128-row query block keeps some key of the 128-key block. The
    BlockMask (BlockMask.from_kv_blocks, causal mask_mod) therefore computes a superset
    of our mask: every causal key of each covered block, where our kernels compute only
    their 64-key tiles and listed columns.

GQA: SDPA and Flex take the H/4 kv heads with enable_gqa=True; a backend that refuses
that is timed on k, v expanded to H heads instead (the "gqa" field says which).
Times are medians of CUDA-event timings after warm-up. A peer that fails (say, a compile
error) is reported as failed with its error, and the rest still runs.
"""
import argparse
import json
import os
import sys
import traceback

import numpy as np
import torch

# torch_ops.py travels beside this script (scripts/gpu-pack copies benches/peers/*.py).
from torch_ops import median_ms

# The default milliseconds of untimed calls before each timing (--settle-ms): `sparsefill
# bench --settle-ms` settles our launches the same way, so that both sides are timed at the
# clocks the GPU sustains under load, not in its faster first few hundred milliseconds.
SETTLE_MS = 2000

def sdpa_ms(backend, q, k, v, iters, settle_ms):
    """Dense causal SDPA on one backend: GQA natively if the backend takes it, else on
    k and v expanded to q's heads."""
    from torch.nn.attention import sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    with sdpa_kernel(backend):
        try:
            ms = median_ms(lambda: sdpa(q, k, v, is_causal=True, enable_gqa=True), iters, warmup=2, settle_ms=settle_ms)
            return {"ms": ms, "gqa": "native"}
        except RuntimeError as native_error:
            group = q.shape[1] // k.shape[1]
            ke, ve = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
            ms = median_ms(lambda: sdpa(q, ke, ve, is_causal=True), iters, warmup=2, settle_ms=settle_ms)
            return {"ms": ms, "gqa": "expanded", "native_error": str(native_error).splitlines()[0]}


def flex_block_mask(cover_path, heads, length, block):
    """Our cover as a BlockMask: kv_num_blocks [1, H, QB] and kv_indices [1, H, QB, KB]
    (the set blocks first, ascending), causal mask_mod."""
    from torch.nn.attention.flex_attention import BlockMask

    blocks = -(-length // block)
    packed = np.fromfile(cover_path, dtype=np.uint8).reshape(heads, blocks, -1)
    dense = torch.from_numpy(np.unpackbits(packed, axis=-1, count=blocks)).cuda()[None]
    kv_num_blocks = dense.sum(-1, dtype=torch.int32)
    kv_indices = torch.sort(dense, dim=-1, descending=True, stable=True).indices.to(torch.int32)
    del dense

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    return BlockMask.from_kv_blocks(kv_num_blocks, kv_indices, BLOCK_SIZE=block, mask_mod=causal,
                                    seq_lengths=(length, length))


def peers(entry, head_dim, bench_dir, iters, settle_ms, flex):
    from torch.nn.attention import SDPBackend

    length, heads, kv_heads = entry["len"], entry["heads"], entry["kv_heads"]
    q = torch.randn(1, heads, length, head_dim, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, kv_heads, length, head_dim, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(1, kv_heads, length, head_dim, device="cuda", dtype=torch.bfloat16)
    out = {"len": length, "heads": heads, "kv_heads": kv_heads, "flex": []}
    for name, backend in (("sdpa_cudnn", SDPBackend.CUDNN_ATTENTION), ("sdpa_flash", SDPBackend.FLASH_ATTENTION)):
        try:
            out[name] = sdpa_ms(backend, q, k, v, iters, settle_ms)
        except Exception as e:  # noqa: BLE001 - any failure is reported, not fatal
            out[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"S={length} H={heads} {name}: {out[name]}", file=sys.stderr)
        torch.cuda.empty_cache()
    for run in entry["patterns"]:
        cover = run.get("cover")
        if cover is None:
            continue
        result = {"pattern": run["pattern"]}
        try:
            mask = flex_block_mask(f"{bench_dir}/{cover['file']}", heads, length, cover["block"])
            result["ms"] = median_ms(lambda: flex(q, k, v, block_mask=mask, enable_gqa=True), iters, warmup=2, settle_ms=settle_ms)
            result["block_density"] = cover["blocks_set"] / cover["causal_blocks"]
            del mask
        except Exception as e:  # noqa: BLE001
            result["error"] = f"{type(e).__name__}: {e}"
            result["traceback"] = traceback.format_exc()
        shown = {key: val for key, val in result.items() if key != "traceback"}
        print(f"S={length} H={heads} Flex: {shown}", file=sys.stderr)
        out["flex"].append(result)
        torch.cuda.empty_cache()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench", required=True, help="bench.json written by `sparsefill bench`")
    p.add_argument("--out", help="peers.json to write (default: beside bench.json)")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--settle-ms", type=int, default=SETTLE_MS,
                   help="untimed calls before each timing, in ms (as sparsefill bench --settle-ms)")
    a = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("torch sees no CUDA device")
    with open(a.bench) as f:
        bench = json.load(f)
    bench_dir = os.path.dirname(a.bench) or "."
    out_path = a.out or os.path.join(bench_dir, "peers.json")
    from torch.nn.attention.flex_attention import flex_attention

    flex = torch.compile(flex_attention)
    lengths = []
    for entry in bench["lengths"]:
        lengths.append(peers(entry, bench["head_dim"], bench_dir, a.iters, a.settle_ms, flex))
        # This length's tensors went with peers()' frame: hand their memory back.
        torch.cuda.empty_cache()
    merged = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__, "iters": a.iters,
              "settle_ms": a.settle_ms, "lengths": lengths}
    with open(out_path, "w") as f:
        json.dump(merged, f, indent=2)
    print(f"wrote {out_path}; render with: sparsefill bench --merge-peers {bench_dir}")


if __name__ == "__main__":
    main()
