//! Session 26's analysis of the vertical-slash index on the synthetic heads (host
//! reference, no GPU): per 64-row block, its slash tiles and columns; the share of tiles
//! that an adjacent tile follows (128-key steps); and, per pair of adjacent blocks, their
//! tile lists' union against one list. Not built with the crate: copy it into
//! patterns/examples/ and run
//! `cargo run --release -p sparsefill-patterns --example vs_shape_stats -- 32768`.
//! At 32K, 4 heads, seed 1 it printed: tiles/block 164.0, cols/block 54.8, column steps
//! of 64 a block 1.31, tiles followed by an adjacent one 0.899, union / one list 1.173,
//! shared / union 0.706, column union / one list 1.286.
use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::sparse::vertical_slash::reference::{head_sums, index_of, select};
use sparsefill_patterns::sparse::vertical_slash::VerticalSlashParams;
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};
fn main() {
    let len: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let heads = 4;
    let params = VerticalSlashParams::default();
    let shape = AttentionShape { seqlens: vec![len], heads, kv_heads: 1, head_dim: 128, causal: true };
    let knobs = vec![HeadKnobs::VERTICAL_SLASH.for_length(len); heads];
    let inputs = Synthetic::new(&shape, knobs, 1).unwrap().inputs();
    let sel: Vec<_> =
        (0..heads).map(|h| select(&head_sums(&inputs, &shape, params.last_q, 0, h).forced(), &params)).collect();
    let index = index_of(&shape.seqlens, heads, &params, |_, h| sel[h].clone()).unwrap();
    let nb = len / 64;
    let (mut tiles, mut cols, mut pairable, mut inter, mut uni, mut colunion, mut colinter) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let mut col_iters = 0usize;
    for h in 0..heads {
        for i in 0..nb {
            let l = index.lists(0, h, i);
            tiles += l.tiles.len();
            cols += l.columns.len();
            col_iters += l.columns.len().div_ceil(64);
            // greedy pairs in runs
            let mut j = 0;
            while j < l.tiles.len() {
                if j + 1 < l.tiles.len() && l.tiles[j + 1] == l.tiles[j] + 64 {
                    pairable += 2;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            if i % 2 == 0 && i + 1 < nb {
                let m = index.lists(0, h, i + 1);
                let a: std::collections::BTreeSet<_> = l.tiles.iter().collect();
                let b: std::collections::BTreeSet<_> = m.tiles.iter().collect();
                inter += a.intersection(&b).count();
                uni += a.union(&b).count();
                let ca: std::collections::BTreeSet<_> = l.columns.iter().collect();
                let cb: std::collections::BTreeSet<_> = m.columns.iter().collect();
                colinter += ca.intersection(&cb).count();
                colunion += ca.union(&cb).count();
            }
        }
    }
    let b = (heads * nb) as f64;
    println!("len {len}: tiles/block {:.1} cols/block {:.1} col_iters/block {:.2} pairable {:.3} pair-union/(sum of two) {:.3} inter/union {:.3} col union/sum {:.3} col inter/union {:.3}",
        tiles as f64 / b, cols as f64 / b, col_iters as f64 / b, pairable as f64 / tiles as f64,
        uni as f64 * 2.0 / tiles as f64, inter as f64 / uni as f64, colunion as f64 * 2.0 / cols as f64, colinter as f64 / colunion.max(1) as f64);
}
