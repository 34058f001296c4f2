#!/usr/bin/env bash
# Session 20 round 1 (COMMIT, the session's start): the query tile as wgmma A fragments
# in registers rather than a shared-memory descriptor, for the scores' products. Written
# in the kernels as q' = cast(dot(q, I)) (exact), so the compiler places q' in the
# accumulator layout, which the products read as A registers. Candidates timed in turns
# with the shipped launch: vs_qa.tile (the vertical-slash walk's products only),
# vs_qa_all.tile (its masked and column loops too) at 32K / 128K / 512K (32 / 32 / 4
# heads), and at_qa.tile (our dense kernel's loop) at 32K / 128K (32 heads).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 560 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_COMMIT=$(cat COMMIT) SPARSEFILL_CACHE_DIR=$PWD/cache
cand() { # name kernel patterns lengths heads
  [ $(left) -gt 60 ] || { el "skip $1"; return; }
  timeout $(( $(left) - 5 )) bin/sparsefill bench --patterns "$3" --lengths "$4" --heads "$5" --candidate "$2=$1.tile" --out "$T/$1" >"$T/$1.log" 2>&1
  el "$1 rc=$?"; grep -E "^\| [0-9]+ .*\.tile|check|FAIL" "$T/$1.log" | tail -n 12 | tee -a "$S"
}
cand vs_qa sparse_vertical_slash vertical_slash 32768,131072,524288 32,32,4
cand at_qa attention dense 32768,131072 32,32
cand vs_qa_all sparse_vertical_slash vertical_slash 32768,131072,524288 32,32,4
tar czf "$OUT/r1-logs.tgz" -C "$T" . 2>/dev/null
el done
