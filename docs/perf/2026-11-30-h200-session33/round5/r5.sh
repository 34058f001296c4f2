#!/usr/bin/env bash
# Session 33 round 5 (COMMIT 370c192, the kernels of aa76f79): dense attention with and
# without ping-pong turns again (a second call after round 1), then the patterns and model
# GPU tests with SPARSEFILL_PINGPONG=off, 4 at a time.
set -u
cd "$(dirname "$0")"
ONLY=ab,optouts AB="pingpong=wide/pingpong=off" OPT_OUTS=SPARSEFILL_PINGPONG=off OUT="$OUT" BENCH_TIMEOUT=300 TEST_TIMEOUT=300 bash run.sh
