import csv,sys
f=sys.argv[1]; a=int(sys.argv[2],16); b=int(sys.argv[3],16)
rows=list(csv.reader(open(f)))
hdr=rows[1]; data=rows[2:]
ia=hdr.index("Address"); isrc=hdr.index("Source"); iall=hdr.index("Warp Stall Sampling (All Samples)")
stalls=[h for h in hdr if h.startswith("stall_") and "Not Issued" not in h]
base=int(data[0][ia],16)
def num(x):
    try: return int(x.replace(',',''))
    except: return 0
for r in data:
    off=int(r[ia],16)-base
    if a<=off<=b:
        top=sorted(((num(r[hdr.index(h)]),h[6:]) for h in stalls),reverse=True)[:2]
        print("%5x %6d %-60s %s"%(off,num(r[iall]),r[isrc].strip()[:60]," ".join("%s:%d"%(h,v) for v,h in top if v)))
