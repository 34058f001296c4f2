//! Session 24's profile of `vs_convert`'s walk on the CPU: on the bench's synthetic inputs
//! (seed 1, kv heads H/4, D 128), the reference estimator's selection, and for each query
//! block the steps the kernel's walk takes: the first range's entries (walked a chunk of
//! C = 32 a step), the ranges after it (followed along the chain), the longest range's
//! tiles (the tile scatter loop's trips), the columns.
//!
//! Then the attention launch's schedule: each (block, head) program costs its tiles, its
//! column steps at 3.7 tiles each (their loop's instructions against the walk's, session
//! 16) and OVERHEAD tiles; programs start in launch order (`launch_slot`: a kv group's
//! heads side by side, heaviest block first, group after group) on 264 slots (two an SM),
//! each as soon as one is free. Prints the makespan against the even share.
//!
//! Usage: `cargo run --release -- LEN HEADS`.

use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::sparse::vertical_slash::{reference, VerticalSlashParams};
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};

fn stats(name: &str, mut v: Vec<usize>) {
    v.sort_unstable();
    let n = v.len();
    let mean = v.iter().sum::<usize>() as f64 / n as f64;
    println!("{name:>28}: mean {mean:8.2}  median {:6}  p90 {:6}  max {:6}", v[n / 2], v[n * 9 / 10], v[n - 1]);
}

fn main() {
    let arg = |i: usize| std::env::args().nth(i).and_then(|a| a.parse::<usize>().ok());
    let (Some(len), Some(heads)) = (arg(1), arg(2)) else {
        eprintln!("usage: convstat LEN HEADS (e.g. 32768 32)");
        std::process::exit(2);
    };
    let shape = AttentionShape { seqlens: vec![len], heads, kv_heads: heads / 4, head_dim: 128, causal: true };
    let knobs = vec![HeadKnobs::VERTICAL_SLASH.for_length(len); heads];
    let inputs = match Synthetic::new(&shape, knobs, 1) {
        Ok(s) => s.inputs(),
        Err(e) => {
            eprintln!("convstat: {e}");
            std::process::exit(2);
        }
    };
    let params = VerticalSlashParams::default();
    let nb = len.div_ceil(64);
    let (mut nsb_v, mut first_entries, mut first_steps, mut ranges_v, mut longest, mut cols, mut clamped) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut gaps64 = vec![];
    // cost[h][i]: tiles and column steps of block i of head h.
    let mut work: Vec<Vec<(usize, usize)>> = vec![];
    for h in 0..heads {
        let sel = reference::select(&reference::head_sums(&inputs, &shape, 64, 0, h).forced(), &params);
        let mut asc = sel.slashes.clone();
        asc.sort_unstable();
        gaps64.push(asc.windows(2).filter(|w| w[1] - w[0] > 64).count());
        let mut per_block = vec![];
        for i in 0..nb {
            let m0 = i * 64;
            // Walk order: far to near, tile starts ascending.
            let walk: Vec<usize> = asc.iter().rev().filter(|&&d| d < m0 + 64).map(|&d| m0.saturating_sub(d)).collect();
            nsb_v.push(walk.len());
            clamped.push(walk.iter().filter(|&&t| t == 0).count());
            let mut ranges: Vec<(usize, usize, usize)> = Vec::new(); // start, end, entries
            for &t in &walk {
                let e = t + 64;
                match ranges.last_mut() {
                    Some((_, end, n)) if e <= *end + 64 => {
                        if e > *end {
                            *end += 64;
                        }
                        *n += 1;
                    }
                    _ => ranges.push((t, e, 1)),
                }
            }
            let fe = ranges.first().map_or(0, |r| r.2);
            first_entries.push(fe);
            first_steps.push(fe.div_ceil(32));
            ranges_v.push(ranges.len().saturating_sub(1));
            longest.push(ranges.iter().skip(1).map(|r| (r.1 - r.0) / 64).max().unwrap_or(0));
            let lists = reference::convert_block(len, i, &sel);
            cols.push(lists.columns.len());
            per_block.push((lists.tiles.len(), lists.columns.len().div_ceil(64)));
        }
        work.push(per_block);
    }
    println!("len {len} heads {heads}, {nb} blocks a head");
    stats("diagonals reaching the block", nsb_v);
    stats("of them clamped at key 0", clamped);
    stats("first range's entries", first_entries);
    stats("first range's chunk steps", first_steps);
    stats("chained ranges after it", ranges_v);
    stats("longest chained range, tiles", longest);
    stats("columns", cols);
    stats("gaps > 64 in a head's list", gaps64);
    schedule(&work, heads / 4.max(1));
}

/// The attention launch's makespan on 264 slots against the even share, for a few
/// per-program overheads (in tiles).
fn schedule(work: &[Vec<(usize, usize)>], kv_heads: usize) {
    let (heads, blocks) = (work.len(), work[0].len());
    let group = heads / kv_heads;
    for overhead in [0.0, 2.0, 4.0, 8.0] {
        let mut order = Vec::with_capacity(heads * blocks);
        for g in 0..kv_heads {
            for rank in 0..blocks {
                for k in 0..group {
                    let (t, c) = work[g * group + k][blocks - 1 - rank];
                    order.push(t as f64 + 3.7 * c as f64 + overhead);
                }
            }
        }
        let slots = 264;
        let mut free = vec![0.0f64; slots];
        for cost in &order {
            let (at, _) = free.iter().enumerate().fold((0, f64::MAX), |b, (i, &f)| if f < b.1 { (i, f) } else { b });
            free[at] += cost;
        }
        let total: f64 = order.iter().sum();
        let makespan = free.iter().cloned().fold(0.0, f64::max);
        let even = total / slots as f64;
        println!(
            "overhead {overhead:>3} tiles: makespan {makespan:.0} against the even share {even:.0}: {:.2}% idle at the end",
            100.0 * (makespan - even) / makespan
        );
    }
}
