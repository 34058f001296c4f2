#!/usr/bin/env python3
"""Runs `sparsefill attn` on the same random inputs with --device cpu (the interpreter)
and --device cuda, for every pattern with a GPU path, and checks that the outputs
agree (o within 1e-2 relative L2, lse within 1e-3 of its largest magnitude, index
tensors equal). vertical_slash must refuse --device cuda with a clear error.

    python3 attn_cli_gpu.py --bin bin/sparsefill --dir WORKDIR
"""
import argparse
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file

PATTERNS = ["dense", "a_shape:n_init=16,n_local=64", "tri_shape:n_init=16,n_local=64,n_last=32",
            "strided:stride=2,n_local=32", "block_sparse:top_k=2"]


def run(binary, args):
    return subprocess.run([binary, "attn", *args], capture_output=True, text=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--dir", required=True)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    shape_q, shape_kv = (1, 4, 300, 64), (1, 2, 300, 64)
    tensors = {n: (torch.rand(s, generator=g) * 4 - 2).to(torch.bfloat16)
               for n, s in (("q", shape_q), ("k", shape_kv), ("v", shape_kv))}
    inp = os.path.join(a.dir, "qkv.safetensors")
    save_file(tensors, inp)
    failed = 0
    for pattern in PATTERNS:
        outs = {}
        for device in ("cpu", "cuda"):
            out = os.path.join(a.dir, f"{pattern.split(':')[0]}-{device}.safetensors")
            r = run(a.bin, ["--input", inp, "--output", out, "--pattern", pattern, "--device", device])
            if r.returncode != 0:
                print(f"FAIL {pattern} --device {device}: {r.stderr.strip()}")
                failed += 1
                break
            outs[device] = load_file(out)
        if len(outs) < 2:
            continue
        cpu, gpu = outs["cpu"], outs["cuda"]
        o_err = ((gpu["o"].float() - cpu["o"].float()).norm() / cpu["o"].float().norm()).item()
        lse_err = (gpu["lse"].float() - cpu["lse"].float()).abs().max().item() / cpu["lse"].float().abs().max().item()
        same_index = all(torch.equal(cpu[n], gpu[n]) for n in cpu if n not in ("o", "lse"))
        ok = o_err <= 1e-2 and lse_err <= 1e-3 and same_index and set(cpu) == set(gpu)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {pattern}: o rel L2 {o_err:.2e}, lse rel {lse_err:.2e}, "
              f"index tensors {'equal' if same_index else 'DIFFER'} ({', '.join(sorted(cpu))})")
    out = os.path.join(a.dir, "vs-cuda.safetensors")
    r = run(a.bin, ["--input", inp, "--output", out, "--pattern", "vertical_slash:vertical=64,slash=64",
                    "--device", "cuda"])
    refused = r.returncode != 0 and "does not run vertical_slash" in r.stderr
    failed += not refused
    print(f"{'ok  ' if refused else 'FAIL'} vertical_slash on cuda refused clearly: {r.stderr.strip()}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
