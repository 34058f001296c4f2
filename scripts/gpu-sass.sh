#!/usr/bin/env bash
# SASS of the shipped attention and GEMM specializations on the GPU machine (ptxas and
# cuobjdump are there, not on the dev machine): instruction counts per kernel, with the
# tensor-core (HGMMA/HMMA), ldmatrix (LDSM), cp.async (LDGSTS), TMA (UTMALDG), shared-memory atomic
# (ATOMS: bin_sum's adds, a CAS loop where f32 adds are not native) and spill (LDL/STL) lines.
# Run from the pack: bash pack/sass.sh
cd "$(dirname "$0")/.."
S=pack/bin/sparsefill
AL="--aligned q --aligned k --aligned v --aligned cu_seqlens --aligned o"
one() { # name arch args...
  local name=$1 arch=$2; shift 2
  $S compile "$@" --arch "$arch" > /tmp/k.ptx 2>/tmp/k.err || { echo "$name $arch: compile failed: $(head -c 300 /tmp/k.err)"; return; }
  ptxas -arch="$arch" -v /tmp/k.ptx -o /tmp/k.cubin 2>/tmp/k.ptxas || { echo "$name $arch: ptxas failed"; return; }
  cuobjdump -sass /tmp/k.cubin > /tmp/k.sass
  c() { grep -c "$1" /tmp/k.sass; }
  echo "$name $arch: HGMMA $(c HGMMA) HMMA $(c HMMA) LDSM $(c LDSM) LDGSTS $(c LDGSTS) UTMALDG $(c UTMALDG) ATOMS $(c ATOMS) LDL $(c 'LDL') STL $(c 'STL') | $(grep -oE 'Used [0-9]+ registers' /tmp/k.ptxas)"
}
one "attention BN128 aligned" sm_90a patterns/kernels/attention.tile --kernel attention --const BN=128 $AL
one "attention BN128 aligned+lse" sm_90a patterns/kernels/attention.tile --kernel attention --const BN=128 $AL --aligned lse
one "attention BN64 generic" sm_90a patterns/kernels/attention.tile --kernel attention
one "attention BN64 aligned" sm_90a patterns/kernels/attention.tile --kernel attention $AL
one "attention BN64 generic" sm_80 patterns/kernels/attention.tile --kernel attention
one "attention BN64 aligned" sm_80 patterns/kernels/attention.tile --kernel attention $AL
one "gemm aligned" sm_90a patterns/kernels/gemm.tile --kernel gemm --aligned a --aligned b --aligned c
one "gemm aligned" sm_80 patterns/kernels/gemm.tile --kernel gemm --aligned a --aligned b --aligned c
# The sparse kernel's source starts with attention.tile and query_block.tile (their helpers).
cat patterns/kernels/attention.tile patterns/kernels/query_block.tile patterns/kernels/sparse_vertical_slash.tile >/tmp/vs.tile
one "sparse vertical_slash aligned KS=64" sm_90a /tmp/vs.tile --kernel sparse_vertical_slash --const KS=64 --aligned q --aligned k --aligned v --aligned o
# vs_column_scores sums its probability tile along the diagonals with bin_sum (the slash partials).
cat patterns/kernels/attention.tile patterns/kernels/estimate_vertical_slash.tile >/tmp/est.tile
one "vs_column_scores D=128" sm_90a /tmp/est.tile --kernel vs_column_scores
one "vs_column_scores D=128" sm_80 /tmp/est.tile --kernel vs_column_scores
