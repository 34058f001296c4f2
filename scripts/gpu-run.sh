#!/usr/bin/env bash
# Runs on the GPU machine from the packed folder (see scripts/gpu-pack, docs/gpu.md):
# every GPU test, the demo, the torch baselines and our benchmarks in one go, all in
# the same run so that ratios compare like with like. Logs and JSON go to $OUT.
# ONLY=sparse (or a comma list of tests, demo, attn, kernels, sparse, model, decoupled, pingpong,
# specialize, optouts, ab, assembler, criterion) runs just those parts; `decoupled`, `pingpong`, `specialize`,
# `optouts`, `ab`, `assembler` and `criterion` run only when named (`assembler`: ptxas against the driver's JIT;
# `optouts`: every GPU test binary under each code-generation opt-out, OPT_OUTS to narrow them):
# `decoupled`, `pingpong` and `specialize` check and time SPARSEFILL_DECOUPLED=1,
# SPARSEFILL_PINGPONG=wide (turns in the loops whose products are all 128 wide; the default
# takes none) and SPARSEFILL_SPECIALIZE=off (no producer warpgroup), BENCH_ARGS passes options to bench-kernels (`--only attention`),
# `criterion` runs `bench-kernels --criterion` and packs its reports.
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
# Parts that run only when ONLY names them.
named() { case ",${ONLY:-}," in *,"$1",*) return 0 ;; *) return 1 ;; esac; }

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
    # shellcheck disable=SC2086
    timeout "${BENCH_TIMEOUT:-300}" bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" ${BENCH_ARGS:-} >"$OUT/bench.log" 2>&1 || { status=1; log "FAILED: bench"; }
fi

# A lowering other than the default (CodegenOptions::decoupled, SPARSEFILL_DECOUPLED=1;
# CodegenOptions::pingpong, SPARSEFILL_PINGPONG=wide; CodegenOptions::specialize, SPARSEFILL_SPECIALIZE=off): the GPU tests of the kernels with it,
# the benchmark with it against the torch baselines of this run's `kernels` part (when it
# ran), and the tile sweep with the default and with it, so one run says whether it is right
# and whether it pays. Only when asked for by name: neither is the default lowering.
other_lowering() {
    local name=$1 var=$2 default=$3 other=$4
    for t in ${OPT_IN_TESTS:-bin/test-sparsefill-patterns-gpu bin/test-sparsefill-model-gpu}; do
        log "test $(basename "$t") with $var=$other"
        if ! env "$var=$other" timeout "${TEST_TIMEOUT:-300}" "$t" --test-threads=1 >>"$OUT/gpu-tests-$name.log" 2>&1; then
            status=1
            log "FAILED: $(basename "$t") with $var=$other (see gpu-tests-$name.log)"
        fi
        grep -E "^test result" "$OUT/gpu-tests-$name.log" | tail -n1 | tee -a "$OUT/summary.log"
    done
    if [ -f "$OUT/torch.json" ]; then
        log "benchmark with $var=$other"
        # shellcheck disable=SC2086
        env "$var=$other" timeout "${BENCH_TIMEOUT:-300}" bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench-$name.json" ${BENCH_ARGS:-} >"$OUT/bench-$name.log" 2>&1 || { status=1; log "FAILED: bench with $var=$other"; }
        grep -E "^\| (attention|gemm|[0-9])" "$OUT/bench-$name.log" | tee -a "$OUT/summary.log" >/dev/null
    fi
    # With the benchmark's same-run baseline above, the sweep runs with the other lowering only.
    local modes="$default $other"
    [ -f "$OUT/torch.json" ] && modes=$other
    for mode in $modes; do
        log "sweep with $var=$mode"
        env "$var=$mode" timeout "${BENCH_TIMEOUT:-300}" bin/bench-kernels --sweep >"$OUT/sweep-$name-$mode.log" 2>&1 || { status=1; log "FAILED: sweep with $var=$mode"; }
        tee -a "$OUT/summary.log" <"$OUT/sweep-$name-$mode.log"
    done
}
named decoupled && other_lowering decoupled SPARSEFILL_DECOUPLED 0 1
named pingpong && other_lowering pingpong SPARSEFILL_PINGPONG off wide
named specialize && other_lowering specialize SPARSEFILL_SPECIALIZE producer off

# Every GPU test binary under each code-generation opt-out the runtime offers (docs/gpu.md):
# what a user who turns one off runs. Session 31 found tests written for the shipped options
# and a refusal under SPARSEFILL_ALIGNED=0 this way. Only when named; OPT_OUTS narrows the
# list, and the binaries run 4 tests at a time so that the five passes fit one call.
if named optouts; then
    for optout in ${OPT_OUTS:-SPARSEFILL_TMA=0 SPARSEFILL_ALIGNED=0 SPARSEFILL_ARCH=sm_80 SPARSEFILL_SPECIALIZE=off SPARSEFILL_MMA=mma.sync}; do
        for t in bin/test-*; do
            [ -x "$t" ] || continue
            case "$t" in *.xz) continue ;; esac
            log "test $(basename "$t") with $optout"
            if ! env "$optout" timeout "${TEST_TIMEOUT:-300}" "$t" --test-threads=4 >>"$OUT/gpu-tests-optouts.log" 2>&1; then
                status=1
                log "FAILED: $(basename "$t") with $optout (see gpu-tests-optouts.log)"
            fi
            grep -E "^test result" "$OUT/gpu-tests-optouts.log" | tail -n1 | tee -a "$OUT/summary.log"
        done
    done
fi

# Dense attention compiled two ways, timed in turns in one process (`bench-kernels --ab A/B`,
# each side CodegenOptions fields and tile constants BM, BN, STAGES), so that the card's drift over the call falls on both alike. Only
# when named; AB picks them (default: the early start against the producer alone).
if named ab; then
    log "attention A/B: ${AB:-specialize=early/specialize=producer}"
    timeout "${BENCH_TIMEOUT:-300}" bin/bench-kernels --ab "${AB:-specialize=early/specialize=producer}" >"$OUT/ab.log" 2>&1 || { status=1; log "FAILED: attention A/B"; }
    grep -E "^card|^\| S=" "$OUT/ab.log" | tee -a "$OUT/summary.log"
fi

# The two assemblers against each other (SPARSEFILL_ASSEMBLER=ptxas|driver), each with a cache of
# its own: the tile sweep, vertical-slash at 128K, and per cubin the HGMMA count and how many of
# them are followed by a wait for all (`WARPGROUP.DEPBAR.LE gsb0, 0x0`). Only when named.
if named assembler; then
    caller_assembler="${SPARSEFILL_ASSEMBLER-}"
    for mode in ptxas driver; do
        log "assembler: $mode"
        export SPARSEFILL_ASSEMBLER=$mode SPARSEFILL_CACHE_DIR="$here/cache-$mode"
        timeout "${BENCH_TIMEOUT:-300}" bin/bench-kernels --sweep >"$OUT/sweep-$mode.log" 2>&1 || { status=1; log "FAILED: sweep with $mode"; }
        grep -E "^card|^\| [0-9]" "$OUT/sweep-$mode.log" | tee -a "$OUT/summary.log"
        timeout "${SPARSE_TIMEOUT:-360}" bin/sparsefill bench --lengths 131072 --heads 8 --patterns vertical_slash --iters 3 --out "$OUT/sparse-$mode" >"$OUT/sparse-$mode.log" 2>&1 || { status=1; log "FAILED: sparse bench with $mode"; }
        grep -E "^card|^\| 131072" "$OUT/sparse-$mode.log" | tee -a "$OUT/summary.log"
        python3 - "$SPARSEFILL_CACHE_DIR" <<'PY' | tee -a "$OUT/summary.log"
import os, re, subprocess, sys
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    if not f.endswith('.cubin'):
        continue
    image = open(os.path.join(d, f), 'rb').read()
    open('/tmp/sparsefill-sass.cubin', 'wb').write(image[image.find(b'\x7fELF'):])
    sass = subprocess.run(['cuobjdump', '-sass', '/tmp/sparsefill-sass.cubin'], capture_output=True, text=True).stdout
    names = [n for n in re.findall(r'Function : (\S+)', sass) if not n.startswith('__cuda')]
    if 'HGMMA' in sass:
        print(f[:10], names[:1], 'HGMMA', sass.count('HGMMA'), 'waits for all', len(re.findall(r'DEPBAR\.LE gsb0, 0x0', sass)))
PY
    done
    # The parts after this one run as the caller asked.
    if [ -n "$caller_assembler" ]; then export SPARSEFILL_ASSEMBLER="$caller_assembler"; else unset SPARSEFILL_ASSEMBLER; fi
    export SPARSEFILL_CACHE_DIR="$here/cache"
fi

# criterion's statistics per shipped kernel (device time through CUDA events); its report
# folder is packed into one archive, since only a few files come back from the GPU machine.
if named criterion; then
    log "criterion: bench-kernels --criterion"
    timeout "${CRITERION_TIMEOUT:-300}" bin/bench-kernels --criterion "$here/criterion" >"$OUT/criterion.log" 2>&1 || { status=1; log "FAILED: bench-kernels --criterion (see criterion.log)"; }
    grep -E "^(gemm|attention|[a-z_]+ \[|.*time: )" "$OUT/criterion.log" | tee -a "$OUT/summary.log"
    [ -d "$here/criterion" ] && tar -C "$here" -cJf "$OUT/criterion.tar.xz" criterion
fi

# Sparse patterns vs our dense kernel over lengths (`sparsefill bench`), then SDPA
# (cuDNN, flash) and FlexAttention over our masks' covers (sparse_peers.py) in the same
# run, then one report with both (`bench --merge-peers`). SPARSE_ARGS passes options to
# `sparsefill bench` (e.g. --lengths 32768,131072 --patterns vertical_slash) and PEERS_ARGS
# to sparse_peers.py; for a number that decides a target, give both `--settle-ms 10000
# --iters 50` (docs/gpu.md, "Measuring"). A COMMIT file beside this script (or
# $SPARSEFILL_COMMIT) names the commit in bench.json.
if want sparse; then
    mkdir -p "$OUT/sparse"
    # A peers.json left by an earlier run must not be merged into this one.
    rm -f "$OUT/sparse/peers.json"
    [ -f "$here/COMMIT" ] && export SPARSEFILL_COMMIT="${SPARSEFILL_COMMIT:-$(cat "$here/COMMIT")}"
    log "sparse bench: sparsefill bench (patterns vs our dense)"
    # shellcheck disable=SC2086
    timeout "${SPARSE_TIMEOUT:-360}" bin/sparsefill bench --out "$OUT/sparse" ${SPARSE_ARGS:-} >"$OUT/sparse-bench.log" 2>&1 || { status=1; log "FAILED: sparsefill bench (see sparse-bench.log)"; }
    if [ -f "$OUT/sparse/bench.json" ]; then
        log "sparse peers: SDPA cuDNN / flash, FlexAttention (sparse_peers.py)"
        # shellcheck disable=SC2086
        PYTHONUNBUFFERED=1 timeout "${PEERS_TIMEOUT:-220}" python3 sparse_peers.py --bench "$OUT/sparse/bench.json" --out "$OUT/sparse/peers.json" ${PEERS_ARGS:-} >"$OUT/sparse-peers.log" 2>&1 || { status=1; log "FAILED: sparse_peers.py (see sparse-peers.log)"; }
    fi
    if [ -f "$OUT/sparse/peers.json" ]; then
        bin/sparsefill bench --merge-peers "$OUT/sparse" >>"$OUT/sparse-bench.log" 2>&1 || { status=1; log "FAILED: sparsefill bench --merge-peers (see sparse-bench.log)"; }
    fi
    [ -f "$OUT/sparse/bench.md" ] && tee -a "$OUT/summary.log" <"$OUT/sparse/bench.md"
    # The bench folder (tables, JSON, SVG plots) as one archive: only a few files come back.
    tar -C "$OUT" -cJf "$OUT/sparse.tar.xz" sparse
fi

# The model executor against Hugging Face transformers on the same random checkpoints
# (LLaMA with GQA and llama3 rope scaling, Qwen2 with biases): last-token logits and 32
# greedy tokens at MODEL_LENGTHS (default 2K and 32K; empty skips them), then the time
# to first token at 128K, dense and with a per-head config, each side in its own process. The prompts are letters without t and h, so the byte-level tokenizer
# gives one token per character on both sides.
if want model; then
    models="$here/models"
    mkdir -p "$models" "$OUT/model"
    prompt() { python3 -c "import random,sys; random.seed(int(sys.argv[1])); n=int(sys.argv[1]); print(''.join(random.choice('abcdefgijklmnopqrsuvwxyz ') for _ in range(n)), end='')" "$1" >"$models/prompt-$1.txt"; }
    for len in ${MODEL_LENGTHS-2047 32767} 131000; do prompt "$len"; done
    lengths="${MODEL_LENGTHS-2047 32767}"
    for arch in llama ${lengths:+qwen2}; do
        log "model: $arch checkpoint (make_checkpoint.py --preset small)"
        # Untied heads (embedding rows, permuted): a random model with a tied head echoes its
        # last token, which makes the greedy comparison weak. Tied loading is tested on the CPU.
        python3 make_checkpoint.py --arch "$arch" --tie-embeddings no --out "$models/$arch" >>"$OUT/model/checkpoints.log" 2>&1 || { status=1; log "FAILED: make_checkpoint.py $arch"; continue; }
        for len in $lengths; do
            name="$arch-$len"
            PYTHONUNBUFFERED=1 timeout 300 python3 hf_reference.py --model "$models/$arch" --prompt-file "$models/prompt-$len.txt" --out "$OUT/model/$name-hf.json" >>"$OUT/model/hf.log" 2>&1 || { status=1; log "FAILED: hf_reference.py $name (see model/hf.log)"; continue; }
            timeout 300 bin/sparsefill generate --model "$models/$arch" --prompt-file "$models/prompt-$len.txt" --device cuda --max-new-tokens 32 --logits-out "$OUT/model/$name-ours.json" >"$OUT/model/$name-ours.txt" 2>"$OUT/model/$name-ours.log" || { status=1; log "FAILED: sparsefill generate $name (see model/$name-ours.log)"; continue; }
            log "model: $name against transformers"
            python3 compare_hf.py "$OUT/model/$name-ours.json" "$OUT/model/$name-hf.json" 2>&1 | tee -a "$OUT/summary.log" || status=1
        done
    done
    # A per-head config for the 128K pre-fill: in every layer the first half of the heads
    # (whole GQA groups) vertical-slash (1000, 6096), the rest A-shape (128 sinks, 4096 window).
    python3 -c "import json,sys; c=json.load(open(sys.argv[1])); h=c['num_attention_heads']; vs={'pattern':'vertical_slash','vertical':1000,'slash':6096}; a={'pattern':'a_shape','n_init':128,'n_local':4096}; print(json.dumps({'format':'sparsefill-patterns/1','layers':[[vs if i < h//2 else a for i in range(h)] for _ in range(c['num_hidden_layers'])]}))" "$models/llama/config.json" >"$models/llama-patterns.json"
    log "model: llama time to first token at 128K: transformers SDPA, ours dense, ours with the per-head config"
    PYTHONUNBUFFERED=1 timeout 400 python3 hf_reference.py --model "$models/llama" --prompt-file "$models/prompt-131000.txt" --new-tokens 1 --repeat-prefill 2 --out "$OUT/model/llama-128k-hf.json" 2>&1 | tail -n1 | tee -a "$OUT/summary.log" || status=1
    # Each side: a first run that compiles the kernels it meets (its time includes those compiles),
    # a timed run on the warm kernel cache, and a --profile run for the time per pre-fill stage.
    ours128k() { timeout 400 bin/sparsefill generate --model "$models/llama" --prompt-file "$models/prompt-131000.txt" --device cuda --max-new-tokens 1 "$@" >/dev/null; }
    for label in dense patterns; do
        extra=()
        [ "$label" = patterns ] && extra=(--patterns "$models/llama-patterns.json")
        for run in cold warm profile; do
            flags=("${extra[@]}")
            [ "$run" = profile ] && flags+=(--profile)
            [ "$run" = warm ] && flags+=(--repeat-prefill 2)
            ours128k "${flags[@]}" 2>"$OUT/model/llama-128k-ours-$label-$run.log" || { status=1; log "FAILED: 128K generate, $label $run (see model/llama-128k-ours-$label-$run.log)"; }
            echo "ours ($label, $run kernel cache): $(tr '\r' '\n' <"$OUT/model/llama-128k-ours-$label-$run.log" | grep -E 'time to first token' | tail -n1)" | tee -a "$OUT/summary.log"
            grep -E "^pre-fill again" "$OUT/model/llama-128k-ours-$label-$run.log" | tee -a "$OUT/summary.log"
        done
        sed -n '/pre-fill by stage/,$p' "$OUT/model/llama-128k-ours-$label-profile.log" | tee -a "$OUT/summary.log"
    done
fi

for f in demo.log bench.log sparse-bench.log sparse/bench.md; do
    [ -f "$OUT/$f" ] && cat "$OUT/$f"
done
echo
cat "$OUT/summary.log"
exit $status
