#!/usr/bin/env python3
"""Writes round 2's vs_column_scores candidates (colscores_t{TILES}_o{N}.tile) into the
current folder: the estimation source of commit 0ff8b0d (attention.tile followed by
estimate_vertical_slash.tile, as --candidate takes it) with the shipped vs_column_scores'
TILES and occupancy(N) changed. Run from inside the repository."""
import subprocess

def show(path):
    return subprocess.run(["git", "show", f"0ff8b0d:{path}"], check=True, capture_output=True, text=True).stdout

src = show("patterns/kernels/attention.tile") + show("patterns/kernels/estimate_vertical_slash.tile")
for tiles, occupancy in [(4, 3), (16, 3), (32, 4)]:
    out = src.replace("LQ: i32 = 64, TILES: i32 = 16>(", f"LQ: i32 = 64, TILES: i32 = {tiles}>(").replace(
        "grid(cdiv(S, BN * TILES), H, B) warps(4) occupancy(4) {",
        f"grid(cdiv(S, BN * TILES), H, B) warps(4) occupancy({occupancy}) {{",
    )
    with open(f"colscores_t{tiles}_o{occupancy}.tile", "w") as f:
        f.write(out)
