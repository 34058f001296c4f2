//! The host reference of vertical-slash estimation, step by step as the module docs
//! define it, in f64: scores, top-k selection, and the conversion to index lists. Each
//! step is a function of its own so that a kernel can be checked on its own inputs.

use super::{input_shape, VerticalSlashError, VerticalSlashParams, FORCED_SLASHES, FORCED_VERTICALS, MAX_LAST_Q};
use crate::attention::AttentionShape;
use crate::sparse::index::{causal_limit, query_blocks, BlockLists, SparseIndex, BLOCK};
use crate::sparse::AttentionInputs;

/// One head's scores: `vertical[c]` per key column, `slash[d]` per diagonal distance,
/// both of the sequence's length, with the forced entries `+inf`.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadScores {
    pub vertical: Vec<f64>,
    pub slash: Vec<f64>,
}

/// One head's choice: ascending column positions and ascending diagonal distances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub verticals: Vec<usize>,
    pub slashes: Vec<usize>,
}

impl HeadScores {
    /// Step 3: the first columns and the nearest diagonals forced to `+inf`.
    pub fn forced(mut self) -> HeadScores {
        for (list, forced) in [(&mut self.vertical, FORCED_VERTICALS), (&mut self.slash, FORCED_SLASHES)] {
            list.iter_mut().take(forced).for_each(|x| *x = f64::INFINITY);
        }
        self
    }
}

/// Steps 1 and 2 for sequence `seq`, query head `head`: the column and diagonal sums of
/// the estimation rows' probabilities. [`HeadScores::forced`] makes them the scores.
pub fn head_sums(
    inputs: &AttentionInputs,
    shape: &AttentionShape,
    last_q: usize,
    seq: usize,
    head: usize,
) -> HeadScores {
    let (d, heads, kv_heads) = (shape.head_dim, shape.heads, shape.kv_heads);
    let hk = head / (heads / kv_heads);
    let start: usize = shape.seqlens[..seq].iter().sum();
    let n = shape.seqlens[seq];
    let scale = shape.scale() as f64;
    let q_row = |r: usize| &inputs.q.data[((start + r) * heads + head) * d..][..d];
    let k_row = |c: usize| &inputs.k.data[((start + c) * kv_heads + hk) * d..][..d];
    let mut scores = HeadScores { vertical: vec![0.0; n], slash: vec![0.0; n] };
    for r in n - last_q.min(n)..n {
        let s: Vec<f64> =
            (0..=r).map(|c| scale * q_row(r).iter().zip(k_row(c)).map(|(a, b)| a * b).sum::<f64>()).collect();
        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = s.iter().map(|x| (x - m).exp()).sum();
        for (c, x) in s.iter().enumerate() {
            let p = (x - m).exp() / total;
            scores.vertical[c] += p;
            scores.slash[r - c] += p;
        }
    }
    scores
}

/// Step 1's softmax statistics for sequence `seq`, query head `head`, as the device keeps
/// them: per estimation slot `0 .. 64` (rows `n - 64 ..`), the row's largest scaled score
/// in log2 units and its sum of `2^(x - max)`; `-inf` and 0 for slots that are not live.
pub fn row_stats(
    inputs: &AttentionInputs,
    shape: &AttentionShape,
    last_q: usize,
    seq: usize,
    head: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (d, heads, kv_heads) = (shape.head_dim, shape.heads, shape.kv_heads);
    let hk = head / (heads / kv_heads);
    let start: usize = shape.seqlens[..seq].iter().sum();
    let n = shape.seqlens[seq];
    let log2_scale = shape.scale() as f64 * std::f64::consts::LOG2_E;
    let q_row = |r: usize| &inputs.q.data[((start + r) * heads + head) * d..][..d];
    let k_row = |c: usize| &inputs.k.data[((start + c) * kv_heads + hk) * d..][..d];
    let (mut max, mut sum) = (vec![f64::NEG_INFINITY; MAX_LAST_Q], vec![0.0; MAX_LAST_Q]);
    for r in n - last_q.min(n)..n {
        let s: Vec<f64> =
            (0..=r).map(|c| log2_scale * q_row(r).iter().zip(k_row(c)).map(|(a, b)| a * b).sum::<f64>()).collect();
        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Slot of row r: rows n - 64 .. n fill slots 0 .. 64.
        let slot = r + MAX_LAST_Q - n;
        max[slot] = m;
        sum[slot] = s.iter().map(|x| (x - m).exp2()).sum();
    }
    (max, sum)
}

/// The `k` best of `scores` by the tie rule (larger score, then lower index), ascending.
/// Entries that are NaN or `-inf` are not candidates; with fewer than `k` candidates,
/// all of them.
pub fn top_k(scores: &[f64], k: usize) -> Vec<usize> {
    let mut candidates: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > f64::NEG_INFINITY).collect();
    // No NaN is left, so the comparison is total.
    candidates.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    candidates.truncate(k);
    candidates.sort_unstable();
    candidates
}

/// Both top-k choices of one head.
pub fn select(scores: &HeadScores, params: &VerticalSlashParams) -> Selection {
    Selection {
        verticals: top_k(&scores.vertical, params.vertical_size),
        slashes: top_k(&scores.slash, params.slash_size),
    }
}

/// Query block `block`'s lists for a sequence of `len` tokens (module docs, "Index conversion").
pub fn convert_block(len: usize, block: usize, selection: &Selection) -> BlockLists {
    let limit = causal_limit(len, block);
    if limit == 0 {
        return BlockLists::default();
    }
    let m0 = block * BLOCK;
    let mut starts: Vec<usize> =
        selection.slashes.iter().filter(|&&d| d < m0 + BLOCK).map(|&d| m0.saturating_sub(d)).collect();
    starts.sort_unstable();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for t in starts {
        let e = t + BLOCK;
        match ranges.last_mut() {
            Some((_, end)) if e <= *end + BLOCK => {
                if e > *end {
                    *end += BLOCK;
                }
            }
            _ => ranges.push((t, e)),
        }
    }
    let covered = |v: usize| ranges.iter().any(|&(s, e)| (s..e).contains(&v));
    BlockLists {
        tiles: ranges.iter().flat_map(|&(s, e)| (s..e).step_by(BLOCK)).filter(|&t| t < limit).collect(),
        columns: selection.verticals.iter().copied().filter(|&v| v < limit && !covered(v)).collect(),
    }
}

/// The index tensors of per-head choices `selection(seq, head)`, with the capacities of
/// [`VerticalSlashParams::tile_capacity`] and [`VerticalSlashParams::column_capacity`].
pub fn index_of(
    seqlens: &[usize],
    heads: usize,
    params: &VerticalSlashParams,
    selection: impl Fn(usize, usize) -> Selection,
) -> Result<SparseIndex, VerticalSlashError> {
    let (nnz_s, nnz_v) = (params.tile_capacity(seqlens), params.column_capacity(seqlens));
    let blocks = query_blocks(seqlens);
    let mut per_head: Vec<Vec<BlockLists>> = Vec::with_capacity(seqlens.len() * heads);
    for (seq, &len) in seqlens.iter().enumerate() {
        for head in 0..heads {
            let chosen = selection(seq, head);
            per_head.push((0..blocks).map(|i| convert_block(len, i, &chosen)).collect());
        }
    }
    Ok(SparseIndex::from_lists(seqlens, heads, nnz_s, nnz_v, |b, h, i| per_head[b * heads + h][i].clone())?)
}

/// The reference estimate of every head: scores, selection and index, from `inputs`.
pub fn estimate(inputs: &AttentionInputs, params: &VerticalSlashParams) -> Result<SparseIndex, VerticalSlashError> {
    params.validate()?;
    let shape = input_shape(inputs)?;
    let chosen = |seq, head| select(&head_sums(inputs, &shape, params.last_q, seq, head).forced(), params);
    index_of(&shape.seqlens, shape.heads, params, chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::KeyMask;
    use rand::{Rng, SeedableRng};
    use sparsefill_compiler::ir::DType;
    use sparsefill_compiler::tensor::HostTensor;

    const INF: f64 = f64::INFINITY;

    fn selection(verticals: &[usize], slashes: &[usize]) -> Selection {
        Selection { verticals: verticals.to_vec(), slashes: slashes.to_vec() }
    }

    fn lists(tiles: &[usize], columns: &[usize]) -> BlockLists {
        BlockLists { tiles: tiles.to_vec(), columns: columns.to_vec() }
    }

    fn random_inputs(seqlens: &[usize], heads: usize, kv_heads: usize, d: usize, seed: u64) -> AttentionInputs {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let t: usize = seqlens.iter().sum();
        let mut random = |h: usize| {
            HostTensor::from_f64(DType::BF16, &[t, h, d], (0..t * h * d).map(|_| rng.random_range(-2.0..2.0)).collect())
        };
        AttentionInputs { q: random(heads), k: random(kv_heads), v: random(kv_heads), seqlens: seqlens.to_vec() }
    }

    #[test]
    fn top_k_prefers_larger_scores_then_lower_indices() {
        let scores = [1.0, 3.0, 3.0, INF, f64::NEG_INFINITY, f64::NAN, INF, 2.0];
        assert_eq!(top_k(&scores, 3), vec![1, 3, 6]);
    }

    #[test]
    fn top_k_breaks_ties_among_forced_entries_by_index() {
        assert_eq!(top_k(&[INF, INF, INF, 5.0], 2), vec![0, 1]);
    }

    #[test]
    fn top_k_past_the_candidates_takes_them_all() {
        assert_eq!(top_k(&[0.5, f64::NEG_INFINITY, 0.0, f64::NAN], 10), vec![0, 2]);
    }

    /// Block 2 (rows 128..191) of a 300-token sequence: diagonal 200 misses it; 70, 5 and 0
    /// give tiles at 58, 123 and 128. The tile at 123 ends at 187, past 58's range end 122
    /// plus 64, so it opens a range; 128's ends at 192 and extends that range to 251, whose
    /// tiles are 123 and 187. Column 60 is in a range, 122 just before one, 250 is past the
    /// block's causal limit 192.
    #[test]
    fn conversion_merges_tiles_like_minference() {
        let chosen = selection(&[3, 60, 122, 130, 190, 250], &[0, 5, 70, 200]);
        assert_eq!(convert_block(300, 2, &chosen), lists(&[58, 123, 187], &[3, 122]));
    }

    /// Block 1 (rows 64..69) of a 70-token sequence: the range from diagonals 58 and 57 is
    /// 6..134, whose second tile starts at 70, past the last key, and is dropped.
    #[test]
    fn conversion_drops_tiles_past_the_causal_limit() {
        assert_eq!(convert_block(70, 1, &selection(&[], &[0, 57, 58])), lists(&[6], &[]));
    }

    /// Diagonals farther than the block's first row clamp to a tile at key 0.
    #[test]
    fn conversion_clamps_far_diagonals_to_key_0() {
        assert_eq!(convert_block(64, 0, &selection(&[40], &[0, 10, 63])), lists(&[0], &[]));
    }

    #[test]
    fn conversion_of_a_block_past_the_end_is_empty() {
        assert_eq!(convert_block(64, 1, &selection(&[3], &[0])), BlockLists::default());
    }

    /// With all keys zero every row's softmax is uniform over its keys: column c gets
    /// 1/(r + 1) from each estimation row r >= c, and diagonal d from rows r >= d.
    #[test]
    fn uniform_attention_gives_closed_form_scores() {
        let mut inputs = random_inputs(&[150], 1, 1, 16, 1);
        inputs.k.data.fill(0.0);
        let shape = input_shape(&inputs).unwrap();
        let s = head_sums(&inputs, &shape, 8, 0, 0);
        let expected = |from: usize| (from.max(142)..150).map(|r| 1.0 / (r + 1) as f64).sum::<f64>();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(s.vertical[145], expected(145)) && close(s.slash[120], expected(120)), "{s:?}");
    }

    #[test]
    fn the_first_columns_and_nearest_diagonals_are_forced() {
        let inputs = random_inputs(&[150], 1, 1, 16, 2);
        let s = head_sums(&inputs, &input_shape(&inputs).unwrap(), 64, 0, 0).forced();
        let forced = |list: &[f64], n: usize| list[..n].iter().all(|&x| x == INF) && list[n].is_finite();
        assert!(forced(&s.vertical, FORCED_VERTICALS) && forced(&s.slash, FORCED_SLASHES));
    }

    /// Each estimation row's probabilities sum to 1, so each list of sums adds up to the
    /// number of rows used: all 20 of a sequence shorter than last_q.
    #[test]
    fn a_sequence_shorter_than_last_q_uses_every_row() {
        let inputs = random_inputs(&[20], 2, 1, 32, 3);
        let s = head_sums(&inputs, &input_shape(&inputs).unwrap(), 64, 0, 1);
        let (v, d) = (s.vertical.iter().sum::<f64>(), s.slash.iter().sum::<f64>());
        assert!((v - 20.0).abs() < 1e-9 && (d - 20.0).abs() < 1e-9, "{v} {d}");
    }

    #[test]
    fn only_the_last_q_rows_are_used() {
        let inputs = random_inputs(&[150], 1, 1, 32, 3);
        let s = head_sums(&inputs, &input_shape(&inputs).unwrap(), 8, 0, 0);
        let v = s.vertical.iter().sum::<f64>();
        assert!((v - 8.0).abs() < 1e-9, "{v}");
    }

    /// Every chosen column and diagonal is in the mask the index implies, for every row
    /// that can see it, and the index is valid, on random choices.
    #[test]
    fn the_index_covers_every_choice_and_validates() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let seqlens = [300, 77, 1];
        let params = VerticalSlashParams { vertical_size: 40, slash_size: 12, last_q: 64 };
        let choices: Vec<Selection> = seqlens
            .iter()
            .map(|&n| {
                let pick = |k: usize, rng: &mut rand::rngs::StdRng| {
                    let mut v: Vec<usize> = (0..n).filter(|_| rng.random_bool(0.2)).collect();
                    v.truncate(k);
                    v
                };
                let mut slashes = pick(params.slash_size - 1, &mut rng);
                if slashes.first() != Some(&0) {
                    slashes.insert(0, 0);
                }
                selection(&pick(params.vertical_size, &mut rng), &slashes)
            })
            .collect();
        let index = index_of(&seqlens, 1, &params, |b, _| choices[b].clone()).unwrap();
        index.validate(&seqlens, 1).unwrap();
        for (seq, &len) in seqlens.iter().enumerate() {
            let keeps = |query, key| index.keeps(KeyMask { seq, head: 0, query, key, len });
            for r in 0..len {
                let c = &choices[seq];
                assert!(c.verticals.iter().filter(|&&v| v <= r).all(|&v| keeps(r, v)), "seq {seq} row {r}");
                assert!(c.slashes.iter().filter(|&&d| d <= r).all(|&d| keeps(r, r - d)), "seq {seq} row {r}");
            }
        }
    }

    #[test]
    fn estimate_of_random_inputs_is_a_valid_index() {
        let inputs = random_inputs(&[200, 70], 4, 2, 64, 5);
        let params = VerticalSlashParams { vertical_size: 40, slash_size: 110, last_q: 64 };
        let index = estimate(&inputs, &params).unwrap();
        assert_eq!(index.validate(&inputs.seqlens, 4), Ok(()));
    }

    #[test]
    fn estimate_rejects_bad_params() {
        let inputs = random_inputs(&[20], 1, 1, 16, 6);
        let params = VerticalSlashParams { vertical_size: 4, slash_size: 4, last_q: 0 };
        assert!(matches!(estimate(&inputs, &params), Err(VerticalSlashError::LastQ(0))));
    }
}
