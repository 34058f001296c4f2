import csv,sys
f=sys.argv[1]; n=int(sys.argv[2]) if len(sys.argv)>2 else 40
rows=list(csv.reader(open(f)))
hdr=rows[1]; data=rows[2:]
ia=hdr.index("Address"); isrc=hdr.index("Source"); iall=hdr.index("Warp Stall Sampling (All Samples)"); inot=hdr.index("Warp Stall Sampling (Not-issued Samples)")
iex=hdr.index("Instructions Executed")
stalls=[h for h in hdr if h.startswith("stall_") and "Not Issued" not in h]
base=int(data[0][ia],16)
tot=sum(int(r[iall] or 0) for r in data)
print("total samples",tot)
def num(x):
    try: return int(x.replace(',',''))
    except: return 0
rs=sorted(data,key=lambda r:-num(r[iall]))[:n]
for r in rs:
    s=num(r[iall]); top=sorted(((num(r[hdr.index(h)]),h[6:]) for h in stalls),reverse=True)[:3]
    print("%6x %5.2f%% ex=%-9s %-55s %s"%(int(r[ia],16)-base, 100*s/tot, r[iex], r[isrc].strip()[:55], " ".join("%s:%d"%(h,v) for v,h in top if v)))
