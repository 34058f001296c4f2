# Instruction mix of each loop (a backward branch spanning 100+ instructions) in a
# `cuobjdump -sass` listing: python3 sass_loop_mix.py kernel.sass
import re,sys,collections
ins=[]
for l in open(sys.argv[1]):
    m=re.match(r'\s+/\*([0-9a-f]+)\*/\s+(.*?);',l)
    if m: ins.append((int(m.group(1),16),m.group(2).strip()))
# loops: backward branches
loops=[]
for a,t in ins:
    m=re.search(r'BRA (?:\S+, )?0x([0-9a-f]+)',t)
    if m and int(m.group(1),16)<a: loops.append((int(m.group(1),16),a))
for lo,hi in loops:
    body=[t for a,t in ins if lo<=a<=hi]
    if len(body)<100: continue
    c=collections.Counter()
    for t in body:
        op=t.split()[0]
        if op.startswith('@'): op=t.split()[1]
        c[op.split('.')[0]]+=1
    print(hex(lo),hex(hi),len(body),dict(c.most_common(14)))
