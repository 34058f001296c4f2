//! Strided (dilated) attention (`kernels/sparse_strided.tile`), the pattern that
//! docs/patterns.md adds as its worked example: every `stride`-th 64-token key block of
//! the history (blocks 0, stride, 2·stride, ...; block 0 holds the attention sinks) plus
//! a window of the `n_local` nearest keys, causal. It needs no estimator: its tiles
//! follow from the two sizes, which are runtime scalars.

use super::query_blocks::{self, Backend, RunError, BLOCK};
use super::{check_i32, ParamsError};
use crate::attention::KeyMask;
use crate::sparse::{AttentionInputs, SparseOutput};
use sparsefill_compiler::interp::ArgValue;
use thiserror::Error;

pub const SOURCE: &str = concat!(
    include_str!("../../../kernels/attention.tile"),
    include_str!("../../../kernels/query_block.tile"),
    include_str!("../../../kernels/sparse_strided.tile"),
);
pub const KERNEL: &str = "sparse_strided";

/// `stride` counts 64-token blocks, `n_local` tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StridedParams {
    pub stride: u32,
    pub n_local: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StridedParamsError {
    #[error("stride must be at least 1 block (1 is dense causal attention); got 0")]
    ZeroStride,
    #[error(transparent)]
    Size(#[from] ParamsError),
}

#[derive(Debug, Error)]
pub enum StridedError {
    #[error("strided pattern parameters: {0}")]
    Params(#[from] StridedParamsError),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl StridedParams {
    pub fn validate(&self) -> Result<(), StridedParamsError> {
        if self.stride == 0 {
            return Err(StridedParamsError::ZeroStride);
        }
        if self.n_local == 0 {
            return Err(ParamsError::EmptyWindow.into());
        }
        check_i32("stride", self.stride)?;
        Ok(check_i32("n_local", self.n_local)?)
    }

    /// Whether the pattern keeps key `at.key` for query `at.query`: the kernel's mask.
    pub fn keeps(&self, at: KeyMask) -> bool {
        let (i, j) = (at.query, at.key);
        j <= i && ((j / BLOCK).is_multiple_of(self.stride as usize) || i - j < self.n_local as usize)
    }

    /// The 64-key tiles `sparse_strided.tile` computes for query block `block` of a sequence of `len`
    /// tokens: its loop bound, mirrored so that a search can size patterns by what the kernel costs.
    pub fn tiles(&self, len: usize, block: usize) -> usize {
        let m0 = block * BLOCK;
        if m0 >= len || self.stride == 0 {
            return 0;
        }
        let window = (m0 + 1).saturating_sub(self.n_local as usize) / BLOCK;
        let strided = if window == 0 { 0 } else { (window - 1) / self.stride as usize + 1 };
        strided + len.min(m0 + BLOCK).div_ceil(BLOCK) - window
    }

    /// The kernel's scalars after max_seqlen, in order (on the host and on the device).
    pub(crate) fn args(&self) -> Vec<ArgValue> {
        // validate() keeps both below i32::MAX.
        vec![ArgValue::I32(self.stride as i32), ArgValue::I32(self.n_local as i32)]
    }
}

/// Runs the pattern on `backend`: o `[T, H, D]` bf16 and lse `[H, T]`.
pub fn run(backend: &Backend, inputs: &AttentionInputs, params: &StridedParams) -> Result<SparseOutput, StridedError> {
    params.validate()?;
    let shape = query_blocks::validate(inputs).map_err(RunError::from)?;
    Ok(query_blocks::run_attention(backend, KERNEL, SOURCE, inputs, &shape, params.args(), Vec::new())?)
}

/// [`run`] on the interpreter.
pub fn run_interp(inputs: &AttentionInputs, params: &StridedParams) -> Result<SparseOutput, StridedError> {
    run(&Backend::Interp, inputs, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(query: usize, key: usize) -> KeyMask {
        KeyMask { seq: 0, head: 0, query, key, len: 1000 }
    }

    #[test]
    fn keeps_every_stride_th_block_and_the_window() {
        let p = StridedParams { stride: 2, n_local: 3 };
        let kept: Vec<usize> = (0..=350).filter(|&j| p.keeps(at(350, j))).collect();
        let expected: Vec<usize> = (0..64).chain(128..192).chain(256..320).chain(348..=350).collect();
        assert_eq!(kept, expected);
    }

    #[test]
    fn stride_one_is_dense_causal() {
        let p = StridedParams { stride: 1, n_local: 1 };
        assert!((0..=300).all(|j| p.keeps(at(300, j))) && !p.keeps(at(300, 301)));
    }

    #[test]
    fn tile_count_is_the_tiles_the_mask_touches() {
        for (stride, n_local) in [(1, 1), (2, 3), (3, 64), (4, 130), (7, 1000)] {
            let p = StridedParams { stride, n_local };
            for (len, block) in [(600, 0), (600, 1), (600, 6), (600, 9), (577, 9)] {
                let touched = super::super::tests::touched_tiles(|m| p.keeps(m), len, block);
                assert_eq!(p.tiles(len, block), touched, "{p:?} {len} {block}");
            }
        }
    }

    #[test]
    fn zero_stride_is_rejected() {
        assert_eq!(StridedParams { stride: 0, n_local: 4 }.validate(), Err(StridedParamsError::ZeroStride));
    }

    #[test]
    fn empty_window_is_rejected() {
        let err = StridedParams { stride: 2, n_local: 0 }.validate();
        assert_eq!(err, Err(StridedParamsError::Size(ParamsError::EmptyWindow)));
    }

    #[test]
    fn stride_past_i32_is_rejected_by_name() {
        let err = StridedParams { stride: u32::MAX, n_local: 1 }.validate();
        assert_eq!(err, Err(ParamsError::TooLarge { name: "stride", value: u32::MAX, max: i32::MAX }.into()));
    }
}
