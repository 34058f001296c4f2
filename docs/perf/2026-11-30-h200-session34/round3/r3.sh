#!/usr/bin/env bash
# Session 34 round 3 (COMMIT 8adeeff): 32K with 50 timed runs a side
# (round 2's 20 runs a side still drifted: our total down by up to 5% over its samples,
# cuDNN's by 2-4% in round 1's series), three times, each with its peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
run() { # name lengths heads
  D="$T/$1"; mkdir -p "$D"
  timeout 300 bin/sparsefill bench --lengths "$2" --heads "$3" --patterns vertical_slash --iters 50 --out "$D" >"$D/bench.log" 2>&1
  el "$1 bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 240 python3 sparse_peers.py --iters 50 --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "$1 peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| [0-9]+ .*(dense|vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
}
run rep1 32768 32
run rep2 32768 32
run rep3 32768 32
cp "$T/rep1/bench.md" "$OUT/rep1-bench.md"
tar -C "$T" -cJf "$OUT/raw.tar.xz" rep1/bench.json rep1/peers.json rep2/bench.json rep2/peers.json rep3/bench.json rep3/peers.json
el done
