#!/usr/bin/env bash
# Session 34 round 1 (COMMIT 8adeeff): 32K vertical-slash with its peers three times, each
# `sparsefill bench` bracketed by a cuDNN series (cudnn_series.py: 30 samples kept) before
# and after, with the card's clocks, power and temperature logged every 200 ms, to see
# whether cuDNN's spread between runs follows the order the call times the two sides in.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
nvidia-smi --query-gpu=timestamp,temperature.gpu,power.draw,clocks.sm,clocks_event_reasons.active --format=csv -lms 200 > "$T/smi.csv" 2>&1 &
SMI=$!
series() { PYTHONUNBUFFERED=1 timeout 60 python3 cudnn_series.py --out "$T/cudnn-$1.json" 2>&1 | tail -1 | sed "s/^/$1: /" | tee -a "$S"; el "series $1 done"; }
series 0
for rep in 1 2 3; do
  D="$T/rep$rep"; mkdir -p "$D"
  timeout 60 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 80 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(dense|vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  series "$rep"
done
kill $SMI
for rep in 1 2 3; do cp "$T/rep$rep/bench.json" "$T/rep$rep-bench.json"; cp "$T/rep$rep/peers.json" "$T/rep$rep-peers.json"; done
cp "$T/rep1/bench.md" "$OUT/rep1-bench.md"
tar -C "$T" -cJf "$OUT/raw.tar.xz" smi.csv cudnn-0.json cudnn-1.json cudnn-2.json cudnn-3.json rep1-bench.json rep1-peers.json rep2-bench.json rep2-peers.json rep3-bench.json rep3-peers.json
el done
