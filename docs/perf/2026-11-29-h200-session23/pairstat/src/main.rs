//! Session 23's sizing of a 128-row vertical-slash program (docs/perf/2026-11-29-h200-session23.md,
//! "What this leaves"): on the bench's synthetic inputs (seed 1, kv heads H/4, D 128), the
//! reference estimator's 64-row block lists; for each pair of blocks, the 64-key tiles the
//! two need against the 128-key windows their union takes (a window of two consecutive
//! tiles, or one), the windows every row of both blocks needs whole (unmasked), the column
//! steps, and the lengths of the runs of consecutive tiles.
//!
//! Usage: `cargo run --release -- LEN HEADS` (LEN a multiple of 64, HEADS of 4).

use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::sparse::vertical_slash::{reference, VerticalSlashParams};
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};
use std::collections::BTreeSet;

fn main() {
    let arg = |i: usize| std::env::args().nth(i).and_then(|a| a.parse::<usize>().ok());
    let (Some(len), Some(heads)) = (arg(1), arg(2)) else {
        eprintln!("usage: pairstat LEN HEADS (e.g. 32768 32)");
        std::process::exit(2);
    };
    let shape = AttentionShape { seqlens: vec![len], heads, kv_heads: heads / 4, head_dim: 128, causal: true };
    let knobs = vec![HeadKnobs::VERTICAL_SLASH.for_length(len); heads];
    let inputs = match Synthetic::new(&shape, knobs, 1) {
        Ok(s) => s.inputs(),
        Err(e) => {
            eprintln!("pairstat: {e}");
            std::process::exit(2);
        }
    };
    let params = VerticalSlashParams::default();
    let nb = len.div_ceil(64);
    let (mut cur, mut pair, mut full, mut cols_cur, mut cols_pair) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut range_tiles = Vec::new();
    for h in 0..heads {
        let sel = reference::select(&reference::head_sums(&inputs, &shape, 64, 0, h).forced(), &params);
        let lists: Vec<_> = (0..nb).map(|i| reference::convert_block(len, i, &sel)).collect();
        for l in &lists {
            // ranges
            let mut run = 0;
            let mut prev: Option<usize> = None;
            for &t in &l.tiles {
                if prev.is_some_and(|p| p + 64 == t) {
                    run += 1
                } else {
                    if run > 0 {
                        range_tiles.push(run)
                    }
                    run = 1
                }
                prev = Some(t)
            }
            if run > 0 {
                range_tiles.push(run)
            }
        }
        for p in 0..nb.div_ceil(2) {
            let a: BTreeSet<usize> = lists[2 * p].tiles.iter().copied().collect();
            let b: BTreeSet<usize> =
                lists.get(2 * p + 1).map(|l| l.tiles.iter().copied().collect()).unwrap_or_default();
            cur += a.len() + b.len();
            let u: Vec<usize> = a.union(&b).copied().collect();
            let mut i = 0;
            while i < u.len() {
                let t = u[i];
                let two = i + 1 < u.len() && u[i + 1] == t + 64;
                if two && a.contains(&t) && b.contains(&t) && a.contains(&(t + 64)) && b.contains(&(t + 64)) {
                    full += 1
                }
                pair += 1;
                i += if two { 2 } else { 1 };
            }
            let ca: BTreeSet<usize> = lists[2 * p].columns.iter().copied().collect();
            let cb: BTreeSet<usize> =
                lists.get(2 * p + 1).map(|l| l.columns.iter().copied().collect()).unwrap_or_default();
            cols_cur += ca.len().div_ceil(64) + cb.len().div_ceil(64);
            cols_pair += ca.union(&cb).count().div_ceil(64);
        }
    }
    let causal_tiles = heads * nb * (nb + 1) / 2;
    println!("len {len} heads {heads}: 64x64 tiles now {cur} (density {:.3})", cur as f64 / causal_tiles as f64);
    println!(
        "128x128 windows {pair} = {} 64x64 units ({:.3}x now); full (unmasked) windows {full} ({:.1}%)",
        4 * pair,
        4.0 * pair as f64 / cur as f64,
        100.0 * full as f64 / pair as f64
    );
    println!("column steps now {cols_cur} (64-row), pair {cols_pair} (128-row)");
    range_tiles.sort();
    let n = range_tiles.len();
    println!(
        "ranges {n}, mean tiles {:.2}, median {}, p90 {}",
        range_tiles.iter().sum::<usize>() as f64 / n as f64,
        range_tiles[n / 2],
        range_tiles[n * 9 / 10]
    );
}
