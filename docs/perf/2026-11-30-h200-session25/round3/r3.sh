#!/usr/bin/env bash
# Session 25 round 3 (COMMIT 8965f18): the SM clock and board power while each side of
# the 32K comparison runs alone and sustained. Ours: `sparsefill bench` with 8 s of
# settling per measurement (our dense kernel, then vertical-slash's estimate + index +
# attention), its progress lines timestamped; cuDNN: torch SDPA's cuDNN backend on the
# same shape (B 1, H 32, kv heads 8, S 32768, D 128, causal, bf16) called for 8 s.
# nvidia-smi samples every 50 ms.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
stamp() { while IFS= read -r l; do echo "$(date +%s.%N) $l"; done; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader -lms 50 >"$OUT/clocks.csv" 2>/dev/null & P=$!
echo "$(date +%s.%N) ours start" >"$OUT/phases.log"
timeout 90 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --settle-ms 8000 --iters 3 --out "$OUT/ours" 2>&1 | stamp >>"$OUT/phases.log"
echo "$(date +%s.%N) ours end" >>"$OUT/phases.log"
sleep 3
timeout 60 python3 - <<'PY' 2>&1 | stamp >>"$OUT/phases.log"
import time, torch
from torch.nn.attention import sdpa_kernel, SDPBackend
from torch.nn.functional import scaled_dot_product_attention as sdpa
q = torch.randn(1, 32, 32768, 128, device="cuda", dtype=torch.bfloat16)
k = torch.randn(1, 8, 32768, 128, device="cuda", dtype=torch.bfloat16)
v = torch.randn(1, 8, 32768, 128, device="cuda", dtype=torch.bfloat16)
with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
    sdpa(q, k, v, is_causal=True, enable_gqa=True); torch.cuda.synchronize()
    print("cudnn start", flush=True)
    t0 = time.time(); n = 0
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    while time.time() - t0 < 8.0:
        s.record(); sdpa(q, k, v, is_causal=True, enable_gqa=True); e.record(); e.synchronize()
        times.append(s.elapsed_time(e)); n += 1
    print(f"cudnn end: {n} calls, first {times[0]:.2f} ms, median of the last half {sorted(times[n//2:])[n//4]:.2f} ms", flush=True)
PY
kill $P
python3 - "$OUT/clocks.csv" "$OUT/phases.log" <<'PY' | tee "$OUT/summary.log"
import sys, datetime
rows = []
for l in open(sys.argv[1]):
    r = l.strip().split(", ")
    if len(r) < 4: continue
    t = datetime.datetime.strptime(r[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
    rows.append((t, int(r[1].split()[0]), float(r[2].split()[0])))
ph = [l.split(" ", 1) for l in open(sys.argv[2])]
for t, line in ph: print(f"{float(t):.1f} {line.rstrip()}"[:160])
marks = [(float(t), line) for t, line in ph]
def window(a, b, what):
    w = [(c, p) for t, c, p in rows if a <= t <= b and p > 300]
    if w:
        c = sorted(x for x, _ in w); p = sorted(y for _, y in w)
        print(f"{what}: {len(w)} samples over 300 W, SM MHz median {c[len(c)//2]} (p10 {c[len(c)//10]}, p90 {c[9*len(c)//10]}), W median {p[len(p)//2]:.0f}")
def find(s): return next((t for t, l in marks if s in l), None)
d0, v0, c0, c1 = find("[1/2]"), find("[2/2]"), find("cudnn start"), find("cudnn end")
oe = find("ours end")
if d0 and v0: window(find("ours start"), d0, "ours dense (settle + timing)")
if v0: window(d0, v0, "ours vertical-slash (settle + timing)")
if c0 and c1: window(c0, c1, "cuDNN alone")
PY
