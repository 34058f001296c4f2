//! Scoring candidates by recall: the share of a query row's dense softmax mass that a pattern keeps.
//!
//! Each sampled row's dense probabilities are computed once per head (in f64, from the bf16 values the
//! kernels read) and kept as prefix sums, so that a candidate's recall costs a few range sums per row
//! instead of another pass over the keys: every candidate of every family is scored against the same rows.

use sparsefill_patterns::sparse::AttentionInputs;
use std::ops::Range;

/// The rows the search scores on a sequence of `len` tokens: the last 64 (the rows vertical-slash
/// estimates from, and those nearest the end, where the most keys are visible) plus `spread` rows evenly
/// spaced over the whole sequence (so that a pattern fitted to the last rows does not win on those alone).
/// Sorted, without repeats. A spread of `len` rows or more is every row.
pub fn score_rows(len: usize, spread: usize) -> Vec<usize> {
    // More rows than the sample has would only repeat rows (and a huge spread would not fit in memory).
    let spread = spread.min(len);
    let tail = len.saturating_sub(64)..len;
    let even = (0..spread).map(|i| ((2 * i + 1) * len / (2 * spread)).min(len.saturating_sub(1)));
    let mut rows: Vec<usize> = tail.chain(even).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// One query row's dense causal softmax over keys `0 ..= position`, as prefix sums.
pub struct ScoredRow {
    pub position: usize,
    /// `prefix[j]` is the probability mass of keys `0 .. j`.
    prefix: Vec<f64>,
}

impl ScoredRow {
    /// Row `position` of a one-head, one-sequence `inputs` (`q [T, 1, D]`, `k [T, 1, D]`).
    pub fn new(inputs: &AttentionInputs, position: usize) -> ScoredRow {
        let d = inputs.q.shape[2];
        // The kernels' and the recall tool's scale: rounded to f32 as the kernels take it.
        let scale = f64::from(1.0 / (d as f32).sqrt());
        let q = &inputs.q.data[position * d..][..d];
        let scores: Vec<f64> = (0..=position)
            .map(|j| scale * q.iter().zip(&inputs.k.data[j * d..][..d]).map(|(a, b)| a * b).sum::<f64>())
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut prefix = Vec::with_capacity(weights.len() + 1);
        prefix.push(0.0);
        for w in weights {
            prefix.push(prefix[prefix.len() - 1] + w / total);
        }
        ScoredRow { position, prefix }
    }

    /// The mass of keys `keys` (clamped to the row's causal keys).
    pub fn range(&self, keys: Range<usize>) -> f64 {
        let end = keys.end.min(self.prefix.len() - 1);
        let start = keys.start.min(end);
        self.prefix[end] - self.prefix[start]
    }

    /// The mass of the causal keys `keeps` accepts.
    pub fn sum_where(&self, keeps: impl Fn(usize) -> bool) -> f64 {
        (0..=self.position).filter(|&j| keeps(j)).map(|j| self.range(j..j + 1)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_compiler::ir::DType;
    use sparsefill_compiler::tensor::HostTensor;

    fn inputs(q: Vec<f64>, k: Vec<f64>) -> AttentionInputs {
        let t = k.len() / 16;
        let tensor = |data: Vec<f64>| HostTensor::from_f64(DType::BF16, &[data.len() / 16, 1, 16], data);
        AttentionInputs { q: tensor(q), k: tensor(k.clone()), v: tensor(k), seqlens: vec![t] }
    }

    #[test]
    fn rows_are_the_tail_and_an_even_spread() {
        assert_eq!(score_rows(100, 4), [12, 36, 37, 38, 39].into_iter().chain(40..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_spread_past_the_length_is_every_row() {
        assert_eq!(score_rows(100, usize::MAX), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn short_sequences_score_every_row_once() {
        assert_eq!(score_rows(10, 3), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn probabilities_follow_the_scaled_scores() {
        // Three keys scoring 0, 4 and 0 after the 1/4 scale (q = 1 in dim 0, keys 0, 16, 0).
        let mut q = vec![0.0; 48];
        q[32] = 1.0;
        let mut k = vec![0.0; 48];
        k[16] = 16.0;
        let row = ScoredRow::new(&inputs(q, k), 2);
        let e4 = 4f64.exp();
        assert!((row.range(1..2) - e4 / (e4 + 2.0)).abs() < 1e-12);
        assert!((row.range(0..3) - 1.0).abs() < 1e-12 && row.sum_where(|j| j != 1) < 0.05);
    }
}
