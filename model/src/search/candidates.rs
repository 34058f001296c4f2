//! Candidate patterns of one head and what their kernels cost.
//!
//! A [`Family`] is a pattern with one free size (a window, a top-k, a scale of vertical and slash counts).
//! [`HeadData::plan`] turns a concrete [`PatternKind`] into the keys its kernel reads on this head, through
//! the index builders of `sparsefill_patterns::sparse` (the same ones the kernels' host references use), and
//! [`Plan::cost`] counts what the kernel computes: 64×64 tiles plus gathered columns in 64-column chunks.
//! [`HeadData::fit`] bisects a family's size for the largest pattern whose cost stays within a target.

use super::score::ScoredRow;
use super::SearchError;
use sparsefill_patterns::attention::KeyMask;
use sparsefill_patterns::config::PatternKind;
use sparsefill_patterns::sparse::block_sparse::{BlockScores, BlockSparseParams, MAX_TOP_K};
use sparsefill_patterns::sparse::index::{BlockLists, BLOCK};
use sparsefill_patterns::sparse::local::strided::StridedParams;
use sparsefill_patterns::sparse::local::LocalParams;
use sparsefill_patterns::sparse::vertical_slash::reference::{self, HeadScores};
use sparsefill_patterns::sparse::vertical_slash::VerticalSlashParams;
use sparsefill_patterns::sparse::AttentionInputs;
use std::fmt;

/// A pattern with one free size, searched per head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `n_init` sinks plus a window of `size` keys.
    AShape { n_init: u32 },
    /// A-shape with a window of `size` keys plus dense attention for the last `n_last` queries.
    TriShape { n_init: u32, n_last: u32 },
    /// `size · vertical` columns and `size · slash` diagonals: the ratio is fixed, the scale searched.
    VerticalSlash { vertical: u32, slash: u32 },
    /// The `size` best 64-key blocks of each query block.
    BlockSparse,
}

impl Family {
    /// Sink tokens of the local families: one tile, the sinks MInference's A-shape heads keep.
    pub const SINKS: u32 = 64;
    /// Dense query rows of the tri-shape family: its last query block.
    pub const TRI_ROWS: u32 = 64;

    /// The families a search tries: A-shape with [`Family::SINKS`] sinks (and with `reference_sinks`, the
    /// target pattern's own, when it has other ones), tri-shape unless `minference_only` (MInference's
    /// format has no tri-shape), vertical-slash leaning to slashes (MInference's common 1000 : 6096, about
    /// 1 : 6), balanced and leaning to verticals, and block-sparse.
    pub fn defaults(reference_sinks: Option<u32>, minference_only: bool) -> Vec<Family> {
        let mut families = vec![Family::AShape { n_init: Family::SINKS }];
        if let Some(n_init) = reference_sinks.filter(|&n| n != Family::SINKS) {
            families.push(Family::AShape { n_init });
        }
        if !minference_only {
            families.push(Family::TriShape { n_init: Family::SINKS, n_last: Family::TRI_ROWS });
        }
        for (vertical, slash) in [(1, 6), (1, 1), (6, 1)] {
            families.push(Family::VerticalSlash { vertical, slash });
        }
        families.push(Family::BlockSparse);
        families
    }

    /// The family's pattern at `size` (at least 1).
    pub fn pattern(&self, size: u32) -> PatternKind {
        match *self {
            Family::AShape { n_init } => PatternKind::AShape { n_init, n_local: size },
            Family::TriShape { n_init, n_last } => PatternKind::TriShape { n_init, n_local: size, n_last },
            Family::VerticalSlash { vertical, slash } => PatternKind::VerticalSlash {
                vertical: size.saturating_mul(vertical),
                slash: size.saturating_mul(slash),
            },
            Family::BlockSparse => PatternKind::BlockSparse { top_k: size },
        }
    }

    /// The largest size worth trying on a sequence of `len` tokens: past it the pattern no longer changes.
    fn max_size(&self, len: usize) -> u32 {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        match self {
            Family::BlockSparse => len.div_ceil(BLOCK as u32).min(MAX_TOP_K),
            _ => len,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Family::AShape { n_init } => write!(f, "a_shape n_init={n_init}"),
            Family::TriShape { n_init, n_last } => write!(f, "tri_shape n_init={n_init},n_last={n_last}"),
            Family::VerticalSlash { vertical, slash } => write!(f, "vertical_slash {vertical}:{slash}"),
            Family::BlockSparse => write!(f, "block_sparse"),
        }
    }
}

/// The keys a pattern's kernel reads on one head.
pub enum Plan {
    Dense,
    Local(LocalParams),
    Strided(StridedParams),
    /// Per 64-row query block, the tiles and gathered columns of an index (vertical-slash, block-sparse).
    Lists(Vec<BlockLists>),
}

impl Plan {
    /// Tiles plus 64-column chunks the kernel computes over a sequence of `len` tokens.
    pub fn cost(&self, len: usize) -> usize {
        let blocks = 0..len.div_ceil(BLOCK);
        match self {
            Plan::Dense => blocks.map(|b| b + 1).sum(),
            Plan::Local(p) => blocks.map(|b| p.tiles(len, b)).sum(),
            Plan::Strided(p) => blocks.map(|b| p.tiles(len, b)).sum(),
            Plan::Lists(lists) => lists.iter().map(|l| l.tiles.len() + l.columns.len().div_ceil(BLOCK)).sum(),
        }
    }

    /// The share of `row`'s softmax mass on the keys this plan keeps for it.
    pub fn recall(&self, row: &ScoredRow, len: usize) -> f64 {
        let masked = |keeps: &dyn Fn(KeyMask) -> bool| {
            row.sum_where(|key| keeps(KeyMask { seq: 0, head: 0, query: row.position, key, len }))
        };
        match self {
            Plan::Dense => row.range(0..row.position + 1),
            Plan::Local(p) => masked(&|at| p.keeps(at)),
            Plan::Strided(p) => masked(&|at| p.keeps(at)),
            Plan::Lists(lists) => {
                let Some(l) = lists.get(row.position / BLOCK) else { return 0.0 };
                let end = row.position + 1;
                let tiles: f64 = l.tiles.iter().map(|&t| row.range(t.min(end)..(t + BLOCK).min(end))).sum();
                tiles + l.columns.iter().filter(|&&c| c < end).map(|&c| row.range(c..c + 1)).sum::<f64>()
            }
        }
    }
}

/// One head's inputs and the estimates every size of a family shares, computed once.
pub struct HeadData {
    pub inputs: AttentionInputs,
    len: usize,
    /// Vertical-slash's column and diagonal scores from the last 64 queries, forced entries included.
    slash_scores: HeadScores,
    block_scores: BlockScores,
}

/// A family's pattern at the size [`HeadData::fit`] chose, and its cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fitted {
    pub pattern: PatternKind,
    pub cost: usize,
}

impl HeadData {
    /// `inputs` holds one query head and its key/value head, one sequence.
    pub fn new(inputs: AttentionInputs) -> Result<HeadData, SearchError> {
        let shape = sparsefill_patterns::sparse::vertical_slash::input_shape(&inputs).map_err(SearchError::pattern)?;
        let last_q = VerticalSlashParams::default().last_q;
        let slash_scores = reference::head_sums(&inputs, &shape, last_q, 0, 0).forced();
        let block_scores = BlockScores::new(&inputs).map_err(SearchError::pattern)?;
        Ok(HeadData { len: shape.tokens(), inputs, slash_scores, block_scores })
    }

    pub fn tokens(&self) -> usize {
        self.len
    }

    /// The keys `kind`'s kernel reads on this head, estimated as the kernel's host reference does.
    pub fn plan(&self, kind: &PatternKind) -> Result<Plan, SearchError> {
        let blocks = 0..self.len.div_ceil(BLOCK);
        let local = |params: LocalParams| -> Result<Plan, SearchError> {
            params.validate().map_err(SearchError::pattern)?;
            Ok(Plan::Local(params))
        };
        Ok(match *kind {
            PatternKind::Dense => Plan::Dense,
            PatternKind::AShape { n_init, n_local } => local(LocalParams::a_shape(n_init, n_local))?,
            PatternKind::TriShape { n_init, n_local, n_last } => {
                local(LocalParams::tri_shape(n_init, n_local, n_last))?
            }
            PatternKind::Strided { stride, n_local } => {
                let params = StridedParams { stride, n_local };
                params.validate().map_err(SearchError::pattern)?;
                Plan::Strided(params)
            }
            PatternKind::VerticalSlash { vertical, slash } => {
                let params = VerticalSlashParams {
                    vertical_size: vertical as usize,
                    slash_size: slash as usize,
                    ..VerticalSlashParams::default()
                };
                params.validate().map_err(SearchError::pattern)?;
                let selection = reference::select(&self.slash_scores, &params);
                Plan::Lists(blocks.map(|b| reference::convert_block(self.len, b, &selection)).collect())
            }
            PatternKind::BlockSparse { top_k } => {
                BlockSparseParams { top_k }.validate().map_err(SearchError::pattern)?;
                let index = self.block_scores.select(top_k as usize);
                let tiles = |b: usize| index.blocks(0, 0, b).iter().map(|&kb| kb as usize * BLOCK).collect();
                Plan::Lists(blocks.map(|b| BlockLists { tiles: tiles(b), columns: Vec::new() }).collect())
            }
        })
    }

    fn cost_at(&self, family: &Family, size: u32) -> Result<Fitted, SearchError> {
        let pattern = family.pattern(size);
        Ok(Fitted { pattern, cost: self.plan(&pattern)?.cost(self.len) })
    }

    /// The family's largest size whose cost is at most `target`, by bisection (cost grows with the size);
    /// `None` when even size 1 costs more.
    pub fn fit(&self, family: &Family, target: f64) -> Result<Option<Fitted>, SearchError> {
        let fits = |f: &Fitted| f.cost as f64 <= target;
        let smallest = self.cost_at(family, 1)?;
        if !fits(&smallest) {
            return Ok(None);
        }
        let top = family.max_size(self.len);
        let largest = self.cost_at(family, top)?;
        if fits(&largest) {
            return Ok(Some(largest));
        }
        // Invariant: `good` fits, `bad` does not.
        let (mut good, mut bad) = ((1, smallest), top);
        while bad - good.0 > 1 {
            let mid = good.0 + (bad - good.0) / 2;
            let fitted = self.cost_at(family, mid)?;
            if fits(&fitted) {
                good = (mid, fitted);
            } else {
                bad = mid;
            }
        }
        Ok(Some(good.1))
    }

    /// The cheapest pattern of `family` on this head (its size 1), for messages about targets that are too low.
    pub fn smallest(&self, family: &Family) -> Result<Fitted, SearchError> {
        self.cost_at(family, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_compiler::ir::DType;
    use sparsefill_compiler::tensor::HostTensor;

    /// One head of `len` tokens, values from a fixed pseudo-random sequence.
    fn head(len: usize) -> HeadData {
        let d = 16;
        let values = |salt: usize| {
            let data = (0..len * d).map(|i| (((i * 7919 + salt * 104729) % 1009) as f64 / 504.5) - 1.0).collect();
            HostTensor::from_f64(DType::BF16, &[len, 1, d], data)
        };
        let inputs = AttentionInputs { q: values(1), k: values(2), v: values(3), seqlens: vec![len] };
        HeadData::new(inputs).unwrap()
    }

    #[test]
    fn dense_costs_the_causal_tiles() {
        // 5 query blocks: 1 + 2 + 3 + 4 + 5.
        assert_eq!(Plan::Dense.cost(300), 15);
    }

    #[test]
    fn block_sparse_costs_its_listed_blocks() {
        // top_k 2 over 5 blocks: block 0 lists 1, the others 2.
        let plan = head(300).plan(&PatternKind::BlockSparse { top_k: 2 }).unwrap();
        assert_eq!(plan.cost(300), 9);
    }

    #[test]
    fn columns_cost_a_chunk_per_64() {
        let lists = vec![BlockLists { tiles: vec![0], columns: (0..65).collect() }];
        assert_eq!(Plan::Lists(lists).cost(64), 3);
    }

    #[test]
    fn fit_takes_the_largest_size_within_the_target() {
        let data = head(640);
        let family = Family::AShape { n_init: 64 };
        let fitted = data.fit(&family, 30.0).unwrap().unwrap();
        let PatternKind::AShape { n_local, .. } = fitted.pattern else { panic!("{fitted:?}") };
        let next = data.plan(&family.pattern(n_local + 1)).unwrap().cost(640);
        assert!(fitted.cost <= 30 && next > 30, "{fitted:?}, next costs {next}");
    }

    #[test]
    fn fit_reports_a_target_below_the_smallest_size() {
        assert_eq!(head(640).fit(&Family::BlockSparse, 9.0).unwrap(), None);
    }

    #[test]
    fn an_invalid_pattern_is_refused() {
        let err = head(128).plan(&PatternKind::BlockSparse { top_k: 0 }).err().unwrap();
        assert!(err.to_string().contains("top_k must be from 1"), "{err}");
    }
}
