#!/usr/bin/env bash
# Session 34 round 2 (COMMIT 8adeeff): the issue's benchmark with 20 timed runs a side
# instead of 5 (round 1: cuDNN's first five samples after the 2 s settle read 2-4% above
# its median of 30): vertical-slash at 32K / 128K / 512K (32, 32, 4 heads) with its peers,
# then 32K twice more, each with its peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
run() { # name lengths heads
  D="$T/$1"; mkdir -p "$D"
  timeout 300 bin/sparsefill bench --lengths "$2" --heads "$3" --patterns vertical_slash --iters 20 --out "$D" >"$D/bench.log" 2>&1
  el "$1 bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 240 python3 sparse_peers.py --iters 20 --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "$1 peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| [0-9]+ .*(dense|vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
}
run all 32768,131072,524288 32,32,4
run rep2 32768 32
run rep3 32768 32
cp "$T/all/bench.md" "$OUT/all-bench.md"
tar -C "$T" -cJf "$OUT/raw.tar.xz" all/bench.json all/peers.json all/bench.log all/peers.log rep2/bench.json rep2/peers.json rep3/bench.json rep3/peers.json
el done
