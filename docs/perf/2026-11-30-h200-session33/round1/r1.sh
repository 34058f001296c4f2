#!/usr/bin/env bash
# Session 33 round 1: dense attention BN 128 with and without ping-pong turns (producer on), in turns.
set -u
cd "$(dirname "$0")"
ONLY=ab AB="pingpong=wide/pingpong=off" OUT="$OUT" BENCH_TIMEOUT=400 bash run.sh
cp "$OUT/ab.log" "$OUT/ab-pingpong.log" 2>/dev/null
