#!/usr/bin/env bash
# Runs on the GPU machine from the packed folder (see scripts/gpu-pack, docs/gpu.md):
# every GPU test, the demo, the torch baselines and our benchmarks in one go, all in
# the same run so that ratios compare like with like. Logs and JSON go to $OUT.
# ONLY=sparse (or a comma list of tests, demo, attn, kernels, sparse) runs just those parts.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$here/out}"
mkdir -p "$OUT"
cd "$here"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR="$here/cache"
status=0
log() { echo "== $*" | tee -a "$OUT/summary.log"; }
want() { case ",${ONLY:-all}," in *,all,* | *,"$1",*) return 0 ;; *) return 1 ;; esac; }

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv >"$OUT/card.txt" 2>&1
log "card: $(tail -n1 "$OUT/card.txt")"

if want tests; then
    for t in bin/test-*; do
        [ -x "$t" ] || continue
        case "$t" in *.xz) continue ;; esac
        log "test $(basename "$t")"
        # A hang (say, a barrier some threads never reach) must not eat the whole run.
        if ! timeout "${TEST_TIMEOUT:-300}" "$t" --test-threads=1 >>"$OUT/gpu-tests.log" 2>&1; then
            status=1
            log "FAILED: $(basename "$t") (see gpu-tests.log)"
        fi
        grep -E "^test result" "$OUT/gpu-tests.log" | tail -n1 | tee -a "$OUT/summary.log"
    done
fi

if want demo; then
    log "demo"
    timeout 120 bin/sparsefill demo >"$OUT/demo.log" 2>&1 || { status=1; log "FAILED: demo"; }
fi

if want attn; then
    log "attn CLI: --device cuda against --device cpu"
    timeout 300 python3 attn_cli_gpu.py --bin bin/sparsefill --dir "$here/attn-cli" >"$OUT/attn-cli.log" 2>&1 || { status=1; log "FAILED: attn CLI on the GPU (see attn-cli.log)"; }
    cat "$OUT/attn-cli.log" | tee -a "$OUT/summary.log"
fi

if want kernels; then
    log "torch baselines"
    PYTHONUNBUFFERED=1 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1 || { status=1; log "FAILED: torch_ops.py"; }

    log "benchmark"
    timeout "${BENCH_TIMEOUT:-300}" bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1 || { status=1; log "FAILED: bench"; }
fi

# Vertical-slash end to end, then SDPA (cuDNN, flash) and FlexAttention with our mask's
# cover, in the same run; SPARSE_ARGS passes options to bench-sparse (e.g. --lengths).
if want sparse; then
    mkdir -p "$OUT/sparse"
    log "sparse bench: vertical-slash (bench-sparse)"
    # shellcheck disable=SC2086
    timeout "${SPARSE_TIMEOUT:-300}" bin/bench-sparse --out "$OUT/sparse" ${SPARSE_ARGS:-} >"$OUT/sparse-bench.log" 2>&1 || { status=1; log "FAILED: bench-sparse (see sparse-bench.log)"; }
    if [ -f "$OUT/sparse/sparse.json" ]; then
        log "sparse peers: SDPA cuDNN / flash, FlexAttention (sparse_peers.py)"
        PYTHONUNBUFFERED=1 timeout "${PEERS_TIMEOUT:-240}" python3 sparse_peers.py --bench "$OUT/sparse/sparse.json" --out "$OUT/sparse" >"$OUT/sparse-peers.log" 2>&1 || { status=1; log "FAILED: sparse_peers.py (see sparse-peers.log)"; }
    fi
fi

for f in demo.log bench.log sparse-bench.log sparse/sparse.md; do
    [ -f "$OUT/$f" ] && cat "$OUT/$f"
done
echo
cat "$OUT/summary.log"
exit $status
