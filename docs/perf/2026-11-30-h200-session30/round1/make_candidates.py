#!/usr/bin/env python3
"""Writes round 1's vs_column_scores candidates (colscores_t{TILES}_o{N}.tile) into the
current folder: the estimation source of commit 4c10168 (attention.tile followed by
estimate_vertical_slash.tile, as --candidate takes it) with vs_column_scores replaced by
session 20's loop over TILES key tiles (commit ba7c207), given occupancy(N).
Run from inside the repository: python3 docs/perf/2026-11-30-h200-session30/round1/make_candidates.py"""
import subprocess

def show(rev, path):
    return subprocess.run(["git", "show", f"{rev}:{path}"], check=True, capture_output=True, text=True).stdout

src = show("4c10168", "patterns/kernels/attention.tile") + show("4c10168", "patterns/kernels/estimate_vertical_slash.tile")
old = show("ba7c207", "patterns/kernels/estimate_vertical_slash.tile")
loop = old[old.index("kernel vs_column_scores"):]
loop = loop[: loop.index("\n}\n") + 3]
start = src.index("kernel vs_column_scores")
end = src.index("\n}\n", start) + 3
for tiles, occupancy in [(4, 4), (8, 4), (16, 4), (4, 3)]:
    kernel = loop.replace("TILES: i32 = 4", f"TILES: i32 = {tiles}").replace(
        "grid(cdiv(S, BN * TILES), H, B) warps(4) {",
        f"grid(cdiv(S, BN * TILES), H, B) warps(4) occupancy({occupancy}) {{",
    )
    with open(f"colscores_t{tiles}_o{occupancy}.tile", "w") as f:
        f.write(src[:start] + kernel + src[end:])
