import csv,sys
f=sys.argv[1]; cuts=[int(x,16) for x in sys.argv[2].split(',')]; names=sys.argv[3].split(',')
rows=list(csv.reader(open(f)))
hdr=rows[1]; data=rows[2:]
ia=hdr.index("Address"); iall=hdr.index("Warp Stall Sampling (All Samples)"); iex=hdr.index("Instructions Executed")
stalls=[h for h in hdr if h.startswith("stall_") and "Not Issued" not in h]
base=int(data[0][ia],16)
def num(x):
    try: return int(x.replace(',',''))
    except: return 0
tot=sum(num(r[iall]) for r in data)
agg={}
for r in data:
    off=int(r[ia],16)-base
    k=sum(1 for c in cuts if off>=c)
    a=agg.setdefault(k,{'s':0,'ex':0})
    a['s']+=num(r[iall]); a['ex']+=num(r[iex])
    for h in stalls: a[h]=a.get(h,0)+num(r[hdr.index(h)])
for k in sorted(agg):
    a=agg[k]; top=sorted(((a[h],h[6:]) for h in stalls),reverse=True)[:6]
    print("%-10s %5.1f%%  warp-instr %-11d %s"%(names[k], 100*a['s']/tot, a['ex'], " ".join("%s:%.1f%%"%(h,100*v/tot) for v,h in top if v)))
