//! A-shape and tri-shape attention (`kernels/sparse_local.tile`): every query sees the
//! first `n_init` tokens of its sequence (the attention sinks) and a window of its
//! `n_local` nearest keys, itself included; tri-shape adds dense causal attention for
//! the last `n_last` queries of each sequence. One kernel serves both: the sizes are
//! runtime scalars.

pub mod query_blocks;
pub mod strided;

use super::{AttentionInputs, SparseOutput};
use crate::attention::KeyMask;
use crate::config::PatternKind;
use query_blocks::{Backend, RunError, BLOCK};
use sparsefill_compiler::codegen::MmaLowering;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::target::Arch;
use thiserror::Error;

/// The kernel's source: the shared fns, then the kernel.
pub const SOURCE: &str = concat!(
    include_str!("../../kernels/attention.tile"),
    include_str!("../../kernels/query_block.tile"),
    include_str!("../../kernels/sparse_local.tile"),
);
pub const KERNEL: &str = "sparse_local";

/// Sizes in tokens. A-shape is `n_last = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalParams {
    pub n_init: u32,
    pub n_local: u32,
    pub n_last: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamsError {
    #[error("n_local must be at least 1 (the window holds the query itself); got 0")]
    EmptyWindow,
    #[error("{name} must fit the kernel's i32 scalars (at most {max}); got {value}")]
    TooLarge { name: &'static str, value: u32, max: i32 },
}

#[derive(Debug, Error)]
pub enum LocalError {
    #[error("local pattern parameters: {0}")]
    Params(#[from] ParamsError),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl LocalParams {
    pub fn a_shape(n_init: u32, n_local: u32) -> LocalParams {
        LocalParams { n_init, n_local, n_last: 0 }
    }

    pub fn tri_shape(n_init: u32, n_local: u32, n_last: u32) -> LocalParams {
        LocalParams { n_init, n_local, n_last }
    }

    /// The parameters of a configured head (`config::PatternKind`), if it is A-shape
    /// or tri-shape.
    pub fn from_pattern(kind: &PatternKind) -> Option<LocalParams> {
        match *kind {
            PatternKind::AShape { n_init, n_local } => Some(LocalParams::a_shape(n_init, n_local)),
            PatternKind::TriShape { n_init, n_local, n_last } => Some(LocalParams::tri_shape(n_init, n_local, n_last)),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), ParamsError> {
        if self.n_local == 0 {
            return Err(ParamsError::EmptyWindow);
        }
        for (name, value) in [("n_init", self.n_init), ("n_local", self.n_local), ("n_last", self.n_last)] {
            check_i32(name, value)?;
        }
        Ok(())
    }

    /// Whether the pattern keeps key `at.key` for query `at.query` (positions local to
    /// the sequence): the mask the kernel applies, for the reference.
    pub fn keeps(&self, at: KeyMask) -> bool {
        let (i, j) = (at.query, at.key);
        j <= i && (j < self.n_init as usize || i - j < self.n_local as usize || i + self.n_last as usize >= at.len)
    }

    /// The 64-key tiles `sparse_local.tile` computes for query block `block` of a sequence of `len` tokens:
    /// its loop bound, mirrored here so that a search can size patterns by what the kernel costs.
    pub fn tiles(&self, len: usize, block: usize) -> usize {
        let m0 = block * BLOCK;
        if m0 >= len {
            return 0;
        }
        let n_end = len.min(m0 + BLOCK);
        let dense = n_end + self.n_last as usize > len;
        let sink_tiles = if dense { n_end.div_ceil(BLOCK) } else { (self.n_init as usize).min(n_end).div_ceil(BLOCK) };
        let first_window = sink_tiles.max((m0 + 1).saturating_sub(self.n_local as usize) / BLOCK);
        sink_tiles + n_end.div_ceil(BLOCK).saturating_sub(first_window)
    }

    /// The kernel's scalars after max_seqlen, in order (on the host and on the device).
    pub(crate) fn args(&self) -> Vec<ArgValue> {
        // validate() keeps each below i32::MAX.
        [self.n_init, self.n_local, self.n_last].iter().map(|&v| ArgValue::I32(v as i32)).collect()
    }
}

/// A size that a kernel receives as an i32 scalar.
pub(crate) fn check_i32(name: &'static str, value: u32) -> Result<(), ParamsError> {
    if i32::try_from(value).is_err() {
        return Err(ParamsError::TooLarge { name, value, max: i32::MAX });
    }
    Ok(())
}

/// Runs the pattern on `backend`: o `[T, H, D]` bf16 and lse `[H, T]`; it uses no index
/// tensors.
pub fn run(backend: &Backend, inputs: &AttentionInputs, params: &LocalParams) -> Result<SparseOutput, LocalError> {
    params.validate()?;
    let shape = query_blocks::validate(inputs).map_err(RunError::from)?;
    Ok(query_blocks::run_attention(backend, KERNEL, SOURCE, inputs, &shape, params.args(), Vec::new())?)
}

/// [`run`] on the interpreter.
pub fn run_interp(inputs: &AttentionInputs, params: &LocalParams) -> Result<SparseOutput, LocalError> {
    run(&Backend::Interp, inputs, params)
}

/// [`run_interp`] of the kernel specialized as the GPU runners launch it on `arch` with
/// `mma` on packed (aligned) tensors ([`query_blocks::target_consts`]), so the interpreter
/// checks each target's walk.
pub fn run_interp_as(
    inputs: &AttentionInputs,
    params: &LocalParams,
    arch: Arch,
    mma: MmaLowering,
) -> Result<SparseOutput, LocalError> {
    params.validate()?;
    let shape = query_blocks::validate(inputs).map_err(RunError::from)?;
    let consts = query_blocks::target_consts(KERNEL, shape.head_dim, arch, mma, true);
    Ok(query_blocks::run_interp_as(KERNEL, SOURCE, inputs, &shape, params.args(), Vec::new(), &consts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(query: usize, key: usize, len: usize) -> KeyMask {
        KeyMask { seq: 0, head: 0, query, key, len }
    }

    #[test]
    fn a_shape_keeps_sinks_and_window_only() {
        let p = LocalParams::a_shape(2, 3);
        let kept: Vec<usize> = (0..10).filter(|&j| p.keeps(at(9, j, 20))).collect();
        assert_eq!(kept, vec![0, 1, 7, 8, 9]);
    }

    #[test]
    fn tri_shape_last_queries_see_every_earlier_key() {
        let p = LocalParams::tri_shape(1, 1, 2);
        let kept: Vec<usize> = (0..20).filter(|&j| p.keeps(at(18, j, 20))).collect();
        assert_eq!(kept, (0..=18).collect::<Vec<_>>());
    }

    #[test]
    fn tri_shape_earlier_queries_stay_a_shaped() {
        let p = LocalParams::tri_shape(1, 1, 2);
        let kept: Vec<usize> = (0..20).filter(|&j| p.keeps(at(17, j, 20))).collect();
        assert_eq!(kept, vec![0, 17]);
    }

    #[test]
    fn future_keys_are_never_kept() {
        assert!(!LocalParams::tri_shape(10, 10, 10).keeps(at(3, 4, 5)));
    }

    /// The 64-key tiles holding at least one (query, key) pair of `block` that `keeps` keeps: what a kernel
    /// that skips nothing it needs and computes nothing it does not must visit.
    pub(crate) fn touched_tiles(keeps: impl Fn(KeyMask) -> bool, len: usize, block: usize) -> usize {
        let rows = block * BLOCK..len.min(block * BLOCK + BLOCK);
        (0..len.div_ceil(BLOCK))
            .filter(|t| rows.clone().any(|i| (t * BLOCK..len.min(t * BLOCK + BLOCK)).any(|j| keeps(at(i, j, len)))))
            .count()
    }

    #[test]
    fn tile_count_is_the_tiles_the_mask_touches() {
        let sizes = [(0, 1, 0), (4, 1, 0), (64, 64, 0), (100, 130, 0), (1, 200, 10), (70, 65, 100), (0, 500, 0)];
        for (n_init, n_local, n_last) in sizes {
            let p = LocalParams::tri_shape(n_init, n_local, n_last);
            for (len, block) in [(300, 0), (300, 1), (300, 4), (300, 5), (257, 4), (64, 0)] {
                assert_eq!(p.tiles(len, block), touched_tiles(|m| p.keeps(m), len, block), "{p:?} {len} {block}");
            }
        }
    }

    #[test]
    fn a_configured_tri_shape_head_gives_its_sizes() {
        let kind = PatternKind::TriShape { n_init: 4, n_local: 64, n_last: 32 };
        assert_eq!(LocalParams::from_pattern(&kind), Some(LocalParams::tri_shape(4, 64, 32)));
    }

    #[test]
    fn a_configured_block_sparse_head_is_not_local() {
        assert_eq!(LocalParams::from_pattern(&PatternKind::BlockSparse { top_k: 3 }), None);
    }

    #[test]
    fn empty_window_is_rejected() {
        assert_eq!(LocalParams::a_shape(4, 0).validate(), Err(ParamsError::EmptyWindow));
    }

    #[test]
    fn sizes_past_i32_are_rejected_by_name() {
        let err = LocalParams::tri_shape(0, 1, u32::MAX).validate().err();
        assert_eq!(err, Some(ParamsError::TooLarge { name: "n_last", value: u32::MAX, max: i32::MAX }));
    }

    #[test]
    fn errors_name_the_constraint_and_value() {
        let err = ParamsError::TooLarge { name: "n_init", value: 3_000_000_000, max: i32::MAX };
        assert_eq!(err.to_string(), "n_init must fit the kernel's i32 scalars (at most 2147483647); got 3000000000");
    }
}
