# Share of ncu's warp-state samples per loop of a kernel, from `ncu --page source
# --print-source sass` output (SourceCounters): loops are backward branches spanning
# 100+ instructions; an instruction is counted in the innermost loop holding it.
# python3 ncu_loop_share.py ncu-src.txt
import re, sys, lzma
opener = lzma.open if sys.argv[1].endswith('.xz') else open
rows = []
for line in opener(sys.argv[1], 'rt'):
    m = re.match(r'0x([0-9a-f]+)\s+(.*?)\s{2,}(\d+)\s+(\d+)\s', line)
    if m:
        rows.append((int(m.group(1), 16), m.group(2).strip(), int(m.group(3))))
if not rows:
    sys.exit('no SASS rows')
base = rows[0][0]
loops = []
for a, t, _ in rows:
    m = re.search(r'BRA (?:\S+, )?0x([0-9a-f]+)', t)
    if m:
        target = int(m.group(1), 16)
        target = target - base if target >= base else target
        if target < a - base and (a - base - target) // 16 >= 100:
            loops.append((target, a - base))
total = sum(s for _, _, s in rows)
share = {}
for a, t, s in rows:
    off = a - base
    inner = [l for l in loops if l[0] <= off <= l[1]]
    key = min(inner, key=lambda l: l[1] - l[0]) if inner else None
    share[key] = share.get(key, 0) + s
for key, s in sorted(share.items(), key=lambda kv: -kv[1]):
    name = 'outside loops' if key is None else f'loop {hex(key[0])}-{hex(key[1])} ({(key[1]-key[0])//16 + 1} instr)'
    print(f'{name}: {s} samples, {100*s/total:.1f}%')
