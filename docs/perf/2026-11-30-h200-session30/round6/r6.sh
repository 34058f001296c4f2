#!/usr/bin/env bash
# Session 30 round 6 (COMMIT in pack/COMMIT, the session's last code): `bench --candidate`
# with a file that holds only the edited kernel (vs_column_scores at 32 key tiles a
# program, 4 KB, where round 2 gave the same edit as the whole 47 KB source), at 32K.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT)"
D=/tmp/r6; mkdir -p "$D"
timeout 90 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --candidate vs_column_scores=colscores_only_t32.tile --out "$D" >"$D/bench.log" 2>&1
el "candidate rc=$?"
grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
cp "$D/bench.md" "$OUT/candidate-colscores_only_t32.md"; tail -n 5 "$D/bench.log" >"$OUT/bench-tail.log"
el done
