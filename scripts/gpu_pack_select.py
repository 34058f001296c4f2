#!/usr/bin/env python3
"""Copies the binaries scripts/gpu-pack ships into DEST, from the JSON messages cargo
wrote under TARGET (gpu-pack-tests.json, gpu-pack-bench.json):

- each crate's GPU test binary, its `tests/gpu.rs` target (named exactly `gpu`), as
  test-<crate>-gpu: pack/run.sh runs every bin/test-* on the GPU machine, so a CPU test
  whose name merely starts with `gpu` (tests/gpu_run_script.rs) must stay out;
- the benches, as bench-<name>.

    python3 scripts/gpu_pack_select.py DEST TARGET
"""
import json
import shutil
import sys

GPU_TEST_TARGET = "gpu"
BENCHES = ("kernels",)


def read_lines(path):
    try:
        with open(path) as f:
            return f.readlines()
    except OSError as e:
        sys.exit(f"gpu-pack: cannot read cargo's output {path}: {e.strerror}")


def executables(path, keep):
    for line in read_lines(path):
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and keep(msg["target"]):
            # package_id ends in "…/name#version" or "name@version"; the name tells apart
            # tests/gpu.rs of each crate.
            pkg = msg["package_id"].split("#")[-1].split("@")[0].rsplit("/", 1)[-1]
            yield f"{pkg}-{msg['target']['name']}", msg["executable"]


def main(dest, target):
    found = [(f"test-{name}", exe) for name, exe in
             executables(f"{target}/gpu-pack-tests.json", lambda t: t["name"] == GPU_TEST_TARGET)]
    if not found:
        sys.exit(f"gpu-pack: cargo built no test target named `{GPU_TEST_TARGET}` (tests/gpu.rs of a crate)")
    for bench in BENCHES:
        built = [exe for _, exe in executables(f"{target}/gpu-pack-bench.json", lambda t: t["name"] == bench)]
        if not built:
            sys.exit(f"gpu-pack: the {bench} bench binary was not built")
        found.append((f"bench-{bench}", built[-1]))
    for name, exe in found:
        out = f"{dest}/{name}"
        shutil.copy(exe, out)
        print(f"gpu-pack: {out}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gpu_pack_select.py DEST TARGET")
    main(sys.argv[1], sys.argv[2])
