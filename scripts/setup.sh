#!/usr/bin/env bash
# Installs what building and testing sparsefill needs on Debian 12, and nothing when
# it is already there: static LLVM 22 (inkwell's NVPTX back end), ptxas 13.0 (the pip
# package nvidia-cuda-nvcc, used by the tests to assemble every kernel) and cuobjdump
# with nvdisasm (pip, for the SASS of `compile --emit sass`).
set -euo pipefail

apt_packages=(llvm-22-dev libpolly-22-dev libzstd-dev zlib1g-dev)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import importlib.metadata as m; assert m.version("nvidia-cuda-nvcc") == "13.0.88"' 2>/dev/null; then
    echo "setup: installing nvidia-cuda-nvcc==13.0.88 (ptxas)" >&2
    python3 -m pip install -q nvidia-cuda-nvcc==13.0.88
fi

# cuobjdump and the nvdisasm it runs, for `sparsefill compile --emit sass` (the 13.0
# releases are not on PyPI; 13.2 reads ptxas 13.0's cubins).
if ! python3 -c 'import importlib.metadata as m; assert m.version("nvidia-cuda-cuobjdump") == m.version("nvidia-cuda-nvdisasm") == "13.2.51"' 2>/dev/null; then
    echo "setup: installing nvidia-cuda-cuobjdump==13.2.51 nvidia-cuda-nvdisasm==13.2.51 (SASS)" >&2
    python3 -m pip install -q nvidia-cuda-cuobjdump==13.2.51 nvidia-cuda-nvdisasm==13.2.51
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install a Rust toolchain (rustup) first" >&2; exit 1; }
