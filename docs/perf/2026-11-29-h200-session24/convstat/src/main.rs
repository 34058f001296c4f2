//! Session 24's profile of `vs_convert`'s walk on the CPU: on the bench's synthetic inputs
//! (seed 1, kv heads H/4, D 128), the reference estimator's selection, and for each query
//! block the steps the kernel's walk takes: the first range's entries (walked a chunk of
//! C = 32 a step), the ranges after it (followed along the chain), the longest range's
//! tiles (the tile scatter loop's trips), the columns.
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
    for h in 0..heads {
        let sel = reference::select(&reference::head_sums(&inputs, &shape, 64, 0, h).forced(), &params);
        let mut asc = sel.slashes.clone();
        asc.sort_unstable();
        gaps64.push(asc.windows(2).filter(|w| w[1] - w[0] > 64).count());
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
            cols.push(reference::convert_block(len, i, &sel).columns.len());
        }
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
}
