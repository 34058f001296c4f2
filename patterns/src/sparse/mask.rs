//! Which keys a pattern's run kept, from its kind and the index tensors it returned: the mask that
//! restricts the f64 dense reference when a run's output is checked (`sparsefill demo`), and the share of
//! causal keys it keeps.

use super::block_sparse::BlockIndex;
use super::index::{SparseIndex, BLOCK_COUNT, BLOCK_OFFSET, COLUMN_COUNT, COLUMN_INDEX};
use super::local::strided::StridedParams;
use super::local::LocalParams;
use super::SparseOutput;
use crate::attention::KeyMask;
use crate::config::PatternKind;
use thiserror::Error;

/// The keys one run of a pattern kept.
#[derive(Clone, Debug)]
pub enum PatternMask {
    /// Every causal key (`dense`).
    Causal,
    /// Sinks, window and (tri-shape) the last rows: fixed by the parameters.
    Local(LocalParams),
    Strided(StridedParams),
    /// The estimated tiles and columns of each query block.
    VerticalSlash(SparseIndex),
    /// The selected 64-key blocks of each query block.
    BlockSparse(BlockIndex),
}

#[derive(Debug, Error)]
pub enum MaskError {
    #[error("pattern `{pattern}` returned no index tensor `{name}`; it returned: {}", returned.join(", "))]
    MissingIndex { pattern: &'static str, name: &'static str, returned: Vec<String> },
}

impl PatternMask {
    /// The mask of a run of `kind` that returned `output`: the parameters for the fixed patterns, the
    /// returned index tensors for the estimated ones.
    pub fn of(kind: &PatternKind, output: &SparseOutput) -> Result<PatternMask, MaskError> {
        let tensor = |name: &'static str| {
            let found = output.index.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone());
            found.ok_or_else(|| MaskError::MissingIndex {
                pattern: kind.name(),
                name,
                returned: output.index.iter().map(|(n, _)| n.clone()).collect(),
            })
        };
        Ok(match *kind {
            PatternKind::Dense => PatternMask::Causal,
            PatternKind::AShape { n_init, n_local } => PatternMask::Local(LocalParams::a_shape(n_init, n_local)),
            PatternKind::TriShape { n_init, n_local, n_last } => {
                PatternMask::Local(LocalParams::tri_shape(n_init, n_local, n_last))
            }
            PatternKind::Strided { stride, n_local } => PatternMask::Strided(StridedParams { stride, n_local }),
            PatternKind::VerticalSlash { .. } => PatternMask::VerticalSlash(SparseIndex {
                block_count: tensor(BLOCK_COUNT)?,
                block_offset: tensor(BLOCK_OFFSET)?,
                column_count: tensor(COLUMN_COUNT)?,
                column_index: tensor(COLUMN_INDEX)?,
            }),
            PatternKind::BlockSparse { .. } => {
                PatternMask::BlockSparse(BlockIndex { count: tensor("block_count")?, index: tensor("block_index")? })
            }
        })
    }

    /// Whether query `at.query` saw key `at.key` (positions local to the sequence).
    pub fn keeps(&self, at: KeyMask) -> bool {
        match self {
            PatternMask::Causal => at.is_causal_visible(),
            PatternMask::Local(params) => params.keeps(at),
            PatternMask::Strided(params) => params.keeps(at),
            PatternMask::VerticalSlash(index) => index.keeps(at),
            PatternMask::BlockSparse(index) => index.keeps(at),
        }
    }

    /// The share of causal (query, key) pairs kept, over every sequence and head (1 is dense).
    pub fn density(&self, seqlens: &[usize], heads: usize) -> f64 {
        // The index counts its own a block at a time; asked key by key, it would rebuild a block's lists
        // for every pair.
        if let PatternMask::VerticalSlash(index) = self {
            return index.density(seqlens, heads);
        }
        let (mut kept, mut causal) = (0usize, 0usize);
        for (seq, &len) in seqlens.iter().enumerate() {
            for head in 0..heads {
                for query in 0..len {
                    let keeps = |key| self.keeps(KeyMask { seq, head, query, key, len });
                    kept += (0..=query).filter(|&key| keeps(key)).count();
                    causal += query + 1;
                }
            }
        }
        if causal == 0 {
            0.0
        } else {
            kept as f64 / causal as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::index::BlockLists;
    use sparsefill_compiler::ir::DType;
    use sparsefill_compiler::tensor::HostTensor;

    fn output(index: Vec<(String, HostTensor)>) -> SparseOutput {
        let empty = |dtype| HostTensor::zeros(dtype, &[0]);
        SparseOutput { o: empty(DType::BF16), lse: empty(DType::F32), index }
    }

    fn at(query: usize, key: usize) -> KeyMask {
        KeyMask { seq: 0, head: 0, query, key, len: 200 }
    }

    #[test]
    fn dense_keeps_every_causal_key_and_no_other() {
        let mask = PatternMask::of(&PatternKind::Dense, &output(Vec::new())).unwrap();
        assert!(mask.keeps(at(5, 5)) && mask.keeps(at(5, 0)) && !mask.keeps(at(5, 6)));
    }

    #[test]
    fn a_shape_keeps_its_sinks_and_window() {
        let kind = PatternKind::AShape { n_init: 2, n_local: 3 };
        let mask = PatternMask::of(&kind, &output(Vec::new())).unwrap();
        let kept: Vec<usize> = (0..=100).filter(|&k| mask.keeps(at(100, k))).collect();
        assert_eq!(kept, [0, 1, 98, 99, 100]);
    }

    #[test]
    fn an_estimated_pattern_without_its_index_is_an_error_naming_what_came_back() {
        let kind = PatternKind::VerticalSlash { vertical: 8, slash: 8 };
        let err = PatternMask::of(&kind, &output(vec![("o_extra".into(), HostTensor::zeros(DType::I32, &[1]))]));
        let message = err.unwrap_err().to_string();
        assert_eq!(message, "pattern `vertical_slash` returned no index tensor `block_count`; it returned: o_extra");
    }

    /// Key by key, the mask keeps what the index's own count of kept keys counts.
    #[test]
    fn a_vertical_slash_mask_is_its_index() {
        let seqlens = [200];
        let lists = |_, _, block: usize| match block {
            0 => BlockLists { tiles: vec![0], columns: vec![] },
            1 => BlockLists { tiles: vec![64], columns: vec![3, 10] },
            2 => BlockLists { tiles: vec![64, 128], columns: vec![1] },
            _ => BlockLists { tiles: vec![192], columns: vec![0, 5, 70] },
        };
        let index = SparseIndex::from_lists(&seqlens, 1, 2, 3, lists).unwrap();
        let expected = index.density(&seqlens, 1);
        let kind = PatternKind::VerticalSlash { vertical: 3, slash: 2 };
        let mask = PatternMask::of(&kind, &output(index.named())).unwrap();
        assert!(mask.keeps(at(70, 10)) && !mask.keeps(at(70, 11)));
        let kept: usize = (0..200).map(|q| (0..=q).filter(|&k| mask.keeps(at(q, k))).count()).sum();
        let by_keys = kept as f64 / (200 * 201 / 2) as f64;
        assert!((by_keys - expected).abs() < 1e-12, "{by_keys} vs {expected}");
    }
}
