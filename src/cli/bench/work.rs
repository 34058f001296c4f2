//! What each pattern's attention kernel computes, from its parameters or its index:
//! per (head, 64-row query block), the 64×64 tiles it computes (density and flops),
//! the key spans its mask keeps (the cover at FlexAttention's 128×128 blocks that
//! the peers time), and one row's mask (the check against the f64 reference).

use super::results::FLEX_BLOCK;
use sparsefill_patterns::attention::KeyMask;
use sparsefill_patterns::sparse::block_sparse::BlockIndex;
use sparsefill_patterns::sparse::index::{SparseIndex, BLOCK};
use sparsefill_patterns::sparse::local::strided::StridedParams;
use sparsefill_patterns::sparse::local::LocalParams;
use std::ops::Range;

/// A pattern as its kernel sees it, on one sequence.
pub enum Work<'a> {
    Dense,
    Local(LocalParams),
    Strided(StridedParams),
    /// The index, and the key columns per gathered step of the kernel that runs it
    /// ([`sparsefill_patterns::sparse::vertical_slash::plan::column_step`]): a partial step
    /// is computed whole.
    VerticalSlash(&'a SparseIndex, usize),
    BlockSparse(&'a BlockIndex),
}

/// Our mask at [`FLEX_BLOCK`] granularity: bit (h, qb, kb) is set when some row of
/// query block qb keeps some key of key block kb. Bits run along the last axis, the
/// first block in the most significant bit (numpy.packbits).
pub struct Cover {
    pub bits: Vec<u8>,
    pub set: usize,
    pub causal: usize,
}

/// The 64×64 tiles computed over every head, and the cover.
pub struct Tally {
    pub computed_tiles: f64,
    pub cover: Cover,
}

impl Work<'_> {
    /// Tiles the kernel computes for query block `qb` of head `head`; `spans` receives
    /// the key ranges holding every key the mask keeps for the block's rows.
    fn block(&self, len: usize, head: usize, qb: usize, spans: &mut Vec<Range<usize>>) -> f64 {
        let m0 = qb * BLOCK;
        let n_end = len.min(m0 + BLOCK);
        let window = |n_local: u32| (m0 + 1).saturating_sub(n_local as usize)..n_end;
        let block_span = |kb: usize| kb * BLOCK..n_end.min(kb * BLOCK + BLOCK);
        match self {
            Work::Dense => {
                spans.push(0..n_end);
                (qb + 1) as f64
            }
            Work::Local(p) => {
                if n_end + p.n_last as usize > len {
                    spans.push(0..n_end);
                } else {
                    spans.push(0..n_end.min(p.n_init as usize));
                    spans.push(window(p.n_local));
                }
                p.tiles(len, qb) as f64
            }
            Work::Strided(p) => {
                let stride = p.stride.max(1) as usize;
                spans.extend((0..n_end.div_ceil(BLOCK)).step_by(stride).map(block_span));
                spans.push(window(p.n_local));
                p.tiles(len, qb) as f64
            }
            Work::VerticalSlash(index, step) => {
                let lists = index.lists(0, head, qb);
                spans.extend(lists.tiles.iter().map(|&t| t..n_end.min(t + BLOCK)));
                spans.extend(lists.columns.iter().map(|&c| c..c + 1));
                let step = (*step).max(1);
                let columns = lists.columns.len().div_ceil(step) * step;
                lists.tiles.len() as f64 + columns as f64 / BLOCK as f64
            }
            Work::BlockSparse(index) => {
                let blocks = index.blocks(0, head, qb);
                spans.extend(blocks.iter().map(|&kb| block_span(kb as usize)));
                blocks.len() as f64
            }
        }
    }

    /// The tiles computed and the cover, over `heads` heads of a sequence of `len` tokens.
    pub fn tally(&self, len: usize, heads: usize) -> Tally {
        let flex_blocks = len.div_ceil(FLEX_BLOCK);
        let row_bytes = flex_blocks.div_ceil(8);
        let mut bits = vec![0u8; heads * flex_blocks * row_bytes];
        let (mut set, mut computed_tiles) = (0, 0.0);
        let mut spans = Vec::new();
        for head in 0..heads {
            for qb in 0..len.div_ceil(BLOCK) {
                spans.clear();
                computed_tiles += self.block(len, head, qb, &mut spans);
                let row = &mut bits[(head * flex_blocks + qb * BLOCK / FLEX_BLOCK) * row_bytes..][..row_bytes];
                for span in spans.iter().filter(|s| !s.is_empty()) {
                    for kb in span.start / FLEX_BLOCK..=(span.end - 1) / FLEX_BLOCK {
                        let (byte, bit) = (kb / 8, 0x80u8 >> (kb % 8));
                        set += usize::from(row[byte] & bit == 0);
                        row[byte] |= bit;
                    }
                }
            }
        }
        let causal = heads * flex_blocks * (flex_blocks + 1) / 2;
        Tally { computed_tiles, cover: Cover { bits, set, causal } }
    }

    /// Which keys row `row` of head `head` sees: the mask the f64 reference applies.
    pub fn row_mask(&self, len: usize, head: usize, row: usize) -> Vec<bool> {
        let keeps = |at: KeyMask| match self {
            Work::Local(p) => p.keeps(at),
            Work::Strided(p) => p.keeps(at),
            _ => at.key <= at.query,
        };
        let mut mask: Vec<bool> = (0..len).map(|key| keeps(KeyMask { seq: 0, head, query: row, key, len })).collect();
        if matches!(self, Work::VerticalSlash(..) | Work::BlockSparse(_)) {
            // The index's spans are its mask exactly; the causal limit still applies.
            let mut spans = Vec::new();
            self.block(len, head, row / BLOCK, &mut spans);
            let mut listed = vec![false; len];
            for span in spans {
                listed[span].iter_mut().for_each(|m| *m = true);
            }
            mask.iter_mut().zip(listed).for_each(|(m, l)| *m &= l);
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_patterns::attention::AttentionShape;
    use sparsefill_patterns::sparse::index::BlockLists;

    const LEN: usize = 700;
    const HEADS: usize = 2;

    /// The cover from the row masks, key by key: what [`Work::tally`] must equal.
    fn brute_cover(work: &Work) -> (Vec<u8>, usize) {
        let flex_blocks = LEN.div_ceil(FLEX_BLOCK);
        let row_bytes = flex_blocks.div_ceil(8);
        let mut bits = vec![0u8; HEADS * flex_blocks * row_bytes];
        for head in 0..HEADS {
            for row in 0..LEN {
                for (key, _) in work.row_mask(LEN, head, row).iter().enumerate().filter(|(_, &k)| k) {
                    let (qb, kb) = (row / FLEX_BLOCK, key / FLEX_BLOCK);
                    bits[(head * flex_blocks + qb) * row_bytes + kb / 8] |= 0x80 >> (kb % 8);
                }
            }
        }
        let set = bits.iter().map(|b| b.count_ones() as usize).sum();
        (bits, set)
    }

    fn assert_cover_matches_masks(work: &Work) {
        let tally = work.tally(LEN, HEADS);
        let (bits, set) = brute_cover(work);
        assert!(tally.cover.bits == bits && tally.cover.set == set, "cover differs from the masks");
    }

    #[test]
    fn dense_computes_every_causal_tile() {
        let tally = Work::Dense.tally(LEN, HEADS);
        let blocks = LEN.div_ceil(BLOCK) as f64;
        assert_eq!(tally.computed_tiles, HEADS as f64 * blocks * (blocks + 1.0) / 2.0);
        assert_eq!(tally.cover.set, tally.cover.causal);
        assert_cover_matches_masks(&Work::Dense);
    }

    #[test]
    fn local_and_strided_covers_are_their_masks() {
        for p in [LocalParams::a_shape(4, 100), LocalParams::a_shape(0, 300), LocalParams::tri_shape(64, 64, 130)] {
            assert_cover_matches_masks(&Work::Local(p));
        }
        for (stride, n_local) in [(2, 1), (3, 200)] {
            assert_cover_matches_masks(&Work::Strided(StridedParams { stride, n_local }));
        }
    }

    #[test]
    fn index_covers_are_their_masks_and_columns_count_in_steps() {
        let seqlens = [LEN];
        let blocks = LEN.div_ceil(BLOCK);
        let index = SparseIndex::from_lists(&seqlens, HEADS, blocks, 40, |_, h, qb| BlockLists {
            tiles: if qb > 2 { vec![0, qb * BLOCK - 64 * h] } else { vec![] },
            columns: (0..qb * BLOCK).step_by(40 + h).take(33).collect(),
        });
        let index = index.unwrap_or_else(|e| panic!("{e}"));
        assert_cover_matches_masks(&Work::VerticalSlash(&index, 32));
        let mut spans = Vec::new();
        // Block 5 of head 0 lists 2 tiles and 8 columns: 2 tiles plus one 32-column step.
        assert_eq!(Work::VerticalSlash(&index, 32).block(LEN, 0, 5, &mut spans), 2.5);
        // The same 8 columns in one 64-column step, as sm_90a's kernel gathers them.
        assert_eq!(Work::VerticalSlash(&index, 64).block(LEN, 0, 5, &mut spans), 3.0);

        let shape = AttentionShape { seqlens: seqlens.to_vec(), heads: HEADS, kv_heads: 1, head_dim: 16, causal: true };
        let block_index = BlockIndex::from_lists(&shape, 3, |_, h, qb| {
            (0..=qb as i32).rev().step_by(2 + h).take(3).collect::<Vec<_>>().into_iter().rev().collect()
        });
        assert_cover_matches_masks(&Work::BlockSparse(&block_index));
    }
}
