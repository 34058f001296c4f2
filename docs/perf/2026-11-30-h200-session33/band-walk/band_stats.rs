//! How much of vertical-slash's tile work the band walk folds as 128-key chunks, on the
//! synthetic heads (host reference estimator, no GPU): the counts behind the table of
//! docs/perf/2026-11-30-h200-session33.md. Session 17's `pair_stats.rs` with the band's
//! split (`sparse::vertical_slash::band::split`, from this folder's patches) added.
//!
//! Not built with the project: apply the patches, copy it into patterns/examples/ and run
//!
//! ```text
//! cargo run --release -p sparsefill-patterns --example band_stats -- 32768 4
//! ```
//!
//! Arguments: the length S, the heads (kv heads H/4, at least 1), and `mixed` for
//! `HeadKnobs::mixed` instead of the vertical-slash preset. Printed, summed over heads and
//! pairs of blocks (2p, 2p + 1): pair_stats' counts; the band's tile work (64×64 tiles,
//! each block of a pair counted); the rest's, by kind (one block's own tiles, shared tiles
//! masked for block 2p, other shared tiles: a run's odd one), and the rest's union entries.

use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::sparse::vertical_slash::reference::{head_sums, index_of, select};
use sparsefill_patterns::sparse::vertical_slash::VerticalSlashParams;
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};
use sparsefill_patterns::sparse::vertical_slash::band::split;
use sparsefill_patterns::sparse::vertical_slash::pairs::{union_of, Owner};
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
    let (mut band_tiles, mut rest_tiles, mut rest_entries) = (0usize, [0usize; 3], [0usize; 3]);
    let (mut cols_separate, mut cols_union) = (0, 0);
    for h in 0..heads {
        for p in 0..len / 64 / 2 {
            let (a, b) = (index.lists(0, h, 2 * p), index.lists(0, h, 2 * p + 1));
            let (ta, tb): (BTreeSet<_>, BTreeSet<_>) = (a.tiles.iter().collect(), b.tiles.iter().collect());
            separate += ta.len() + tb.len();
            union += ta.union(&tb).count();
            shared += ta.intersection(&tb).count();
            ranges += a.tiles.windows(2).filter(|w| w[1] != w[0] + 64).count() + usize::from(!a.tiles.is_empty());
            let un = union_of(&a.tiles, &b.tiles);
            let (band, rest) = split(&un, p);
            band_tiles += 2 * 2 * band.len();
            let m0 = 128 * p;
            for &(t, o) in &rest {
                let w = if o == Owner::Both { 2 } else { 1 };
                let cat = if o != Owner::Both { 0 } else if t + 127 > m0 { 1 } else { 2 };
                rest_tiles[cat] += w;
                rest_entries[cat] += 1;
            }
            let (ca, cb): (BTreeSet<_>, BTreeSet<_>) = (a.columns.iter().collect(), b.columns.iter().collect());
            cols_separate += ca.len() + cb.len();
            cols_union += ca.union(&cb).count();
        }
    }
    println!("tiles: separate {separate}, union {union}, shared {shared}; ranges of the even blocks {ranges}");
    println!("band tile-blocks {band_tiles}; rest tile-blocks own/shared-near-diagonal/shared-other {rest_tiles:?}, union entries {rest_entries:?}");
    println!("columns: separate {cols_separate}, union {cols_union}");
    Ok(())
}
