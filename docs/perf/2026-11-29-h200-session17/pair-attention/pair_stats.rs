//! How much of vertical-slash's index two adjacent query blocks share, on the synthetic
//! heads (host reference estimator, no GPU): the counts behind "70% of the tiles at 128K,
//! 83% at 32K" and "77 ranges a block" in docs/perf/2026-11-29-h200-session17.md.
//!
//! Not built with the project: copy it into patterns/examples/ and run
//!
//! ```text
//! cargo run --release -p sparsefill-patterns --example pair_stats -- 131072 4
//! ```
//!
//! Arguments: the length S, the heads (kv heads H/4, at least 1, as the benchmarks build
//! them), and `mixed` for `HeadKnobs::mixed` instead of the vertical-slash preset.
//! Printed per pair of blocks (2p, 2p + 1), summed over heads: the tiles the two list
//! (`separate`), their union and the tiles both list (`shared`, so the share of the tile
//! work two blocks have in common is 2 · shared / separate); the ranges of block 2p (runs
//! of tiles 64 apart); and the same counts for the gathered columns.

use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::sparse::vertical_slash::reference::{head_sums, index_of, select};
use sparsefill_patterns::sparse::vertical_slash::VerticalSlashParams;
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};
use std::collections::BTreeSet;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let number = |at: usize, what: &str| -> Result<usize, String> {
        let given = args.get(at).ok_or(format!("usage: pair_stats LEN HEADS [mixed]; {what} is missing"))?;
        given.parse().map_err(|e| format!("{what} `{given}`: {e}"))
    };
    let (len, heads) = (number(1, "LEN")?, number(2, "HEADS")?);
    let mixed = args.get(3).is_some_and(|s| s == "mixed");
    let kv_heads = (heads / 4).max(1);
    let shape = AttentionShape { seqlens: vec![len], heads, kv_heads, head_dim: 128, causal: true };
    let knobs = if mixed { HeadKnobs::mixed(heads) } else { vec![HeadKnobs::VERTICAL_SLASH; heads] };
    let knobs = knobs.into_iter().map(|k| k.for_length(len)).collect();
    let inputs = Synthetic::new(&shape, knobs, 1).map_err(|e| e.to_string())?.inputs();
    let params = VerticalSlashParams::default();
    let picks: Vec<_> =
        (0..heads).map(|h| select(&head_sums(&inputs, &shape, params.last_q, 0, h).forced(), &params)).collect();
    let index = index_of(&shape.seqlens, heads, &params, |_, h| picks[h].clone()).map_err(|e| e.to_string())?;
    println!("density {:.4}", index.density(&shape.seqlens, heads));
    let (mut separate, mut union, mut shared, mut ranges) = (0, 0, 0, 0);
    let (mut cols_separate, mut cols_union) = (0, 0);
    for h in 0..heads {
        for p in 0..len / 64 / 2 {
            let (a, b) = (index.lists(0, h, 2 * p), index.lists(0, h, 2 * p + 1));
            let (ta, tb): (BTreeSet<_>, BTreeSet<_>) = (a.tiles.iter().collect(), b.tiles.iter().collect());
            separate += ta.len() + tb.len();
            union += ta.union(&tb).count();
            shared += ta.intersection(&tb).count();
            ranges += a.tiles.windows(2).filter(|w| w[1] != w[0] + 64).count() + usize::from(!a.tiles.is_empty());
            let (ca, cb): (BTreeSet<_>, BTreeSet<_>) = (a.columns.iter().collect(), b.columns.iter().collect());
            cols_separate += ca.len() + cb.len();
            cols_union += ca.union(&cb).count();
        }
    }
    println!("tiles: separate {separate}, union {union}, shared {shared}; ranges of the even blocks {ranges}");
    println!("columns: separate {cols_separate}, union {cols_union}");
    Ok(())
}
