#!/usr/bin/env bash
# Session 34 round 4 (COMMIT 8adeeff): 32K with 50 timed runs a side after 10 s of untimed
# runs instead of 2 (round 3: our total moved between 10.0 and 11.1 ms within its 50 samples
# after the 2 s settle), three times, each with its peers settled the same way.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
nvidia-smi --query-gpu=timestamp,temperature.gpu,power.draw,clocks.sm,clocks_event_reasons.active --format=csv -lms 200 > "$T/smi.csv" 2>&1 &
SMI=$!
run() { # name lengths heads
  D="$T/$1"; mkdir -p "$D"
  timeout 200 bin/sparsefill bench --lengths "$2" --heads "$3" --patterns vertical_slash --iters 50 --settle-ms 10000 --out "$D" >"$D/bench.log" 2>&1
  el "$1 bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 240 python3 sparse_peers.py --iters 50 --settle-ms 10000 --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "$1 peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| [0-9]+ .*(dense|vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
}
run rep1 32768 32
run rep2 32768 32
run rep3 32768 32
kill $SMI
cp "$T/rep1/bench.md" "$OUT/rep1-bench.md"
tar -C "$T" -cJf "$OUT/raw.tar.xz" rep1/bench.json rep1/peers.json rep2/bench.json rep2/peers.json rep3/bench.json rep3/peers.json smi.csv
el done
