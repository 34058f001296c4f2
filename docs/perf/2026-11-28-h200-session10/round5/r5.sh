#!/usr/bin/env bash
# Session 10 round 5: ncu of our dense attention (BN 128, 8K causal, H 32) and of SDPA's cuDNN
# kernel on the same shape: launch shape, occupancy, warp states. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/sparsefill.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
SEC="--print-details all --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats --section SpeedOfLight"
timeout 120 ncu $SEC -k regex:^attention -c 1 bin/sparsefill bench --lengths 8192 --heads 32 --patterns vertical_slash --iters 1 --warmup 0 --out /tmp/ncu-dense >"$OUT/ncu-ours.log" 2>&1; echo "ours rc=$?"
cat > /tmp/cudnn.py <<'PY'
import torch
from torch.nn.attention import sdpa_kernel, SDPBackend
q, k, v = (torch.randn(1, 32, 8192, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
    for _ in range(2):
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
torch.cuda.synchronize()
PY
timeout 150 ncu $SEC -k "regex:(?i)(sdpa|fmha|attn|flash|cudnn|fprop)" -c 1 python3 /tmp/cudnn.py >"$OUT/ncu-cudnn.log" 2>&1; echo "cudnn rc=$?"
grep -E "Kernel Name|^  [a-z_].*\(|Block Size|Registers Per|Shared Memory Config|Dynamic Shared|Threads  |Waves Per SM|Achieved Occupancy|Theoretical Occupancy|Stall|Selected|Issue Slots|Eligible Warps|Active Warps|Duration|Compute \(SM\)" "$OUT/ncu-ours.log" "$OUT/ncu-cudnn.log" | grep -v "^.*==PROF" | head -90
