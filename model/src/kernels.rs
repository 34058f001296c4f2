//! The `.tile` kernels of the CUDA backend (model/kernels/) and the specialization each operation launches,
//! shared by the backend and by the interpreter and ptxas tests, so that what CI checks is what runs.
//!
//! RMSNorm is patterns/kernels/rmsnorm.tile and dense pre-fill attention patterns/kernels/attention.tile;
//! the rest are this crate's: `rows.tile` (embedding gather, SwiGLU, residual and bias adds, the residual add
//! fused with RMSNorm, the strided copy behind the key/value cache, RoPE) and `decode_attention.tile` (split-KV attention over the cache).

use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_patterns::Shipped;

pub const ROWS: &str = include_str!("../kernels/rows.tile");
pub const DECODE_ATTENTION: &str = include_str!("../kernels/decode_attention.tile");

/// The widest tile a row kernel loads at once; wider rows loop.
const MAX_ROW_BLOCK: usize = 1024;

/// Elements per program of the flat elementwise kernels.
const FLAT_BLOCK: usize = 1024;

/// Keys per tile of the split-KV kernel, and the granularity of its chunks.
pub const DECODE_BN: usize = 64;

/// Chunks the combine pass merges per step.
const COMBINE_CB: usize = 16;

/// One kernel specialization: a source, the kernel in it and its const values.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelSpec {
    pub source: &'static str,
    pub kernel: Option<&'static str>,
    pub consts: Vec<(String, ConstValue)>,
}

fn int(name: &str, value: usize) -> (String, ConstValue) {
    (name.to_string(), ConstValue::Int(value as i64))
}

fn rows_kernel(kernel: &'static str, block: usize) -> KernelSpec {
    KernelSpec { source: ROWS, kernel: Some(kernel), consts: vec![int("BLOCK", block)] }
}

/// The smallest power-of-two tile holding a row of `width` (at least a warp's 32), up to [`MAX_ROW_BLOCK`].
fn row_block(width: usize) -> usize {
    width.next_power_of_two().clamp(32, MAX_ROW_BLOCK)
}

pub fn embed(width: usize) -> KernelSpec {
    rows_kernel("embed", row_block(width))
}

pub fn swiglu() -> KernelSpec {
    rows_kernel("swiglu", FLAT_BLOCK)
}

pub fn add() -> KernelSpec {
    rows_kernel("add", FLAT_BLOCK)
}

/// The residual add fused with the RMSNorm after it, over rows of `width`.
pub fn add_rmsnorm(width: usize) -> KernelSpec {
    rows_kernel("add_rmsnorm", row_block(width))
}

pub fn add_bias(width: usize) -> KernelSpec {
    rows_kernel("add_bias", row_block(width))
}

pub fn copy(width: usize) -> KernelSpec {
    rows_kernel("copy", row_block(width))
}

/// RoPE over heads of `head_dim`: one tile per half-head.
pub fn rope(head_dim: usize) -> KernelSpec {
    rows_kernel("rope", (head_dim / 2).next_power_of_two())
}

pub fn rmsnorm(width: usize) -> KernelSpec {
    let kernel = Shipped::RmsNorm;
    KernelSpec { source: kernel.source(), kernel: None, consts: kernel.consts_for(&[1, width]) }
}

/// Whether the attention kernels take heads of `head_dim`: both multiply q by k with `dot`, whose
/// operand dimensions are powers of two from 16 to 128.
pub fn attention_head_dim_supported(head_dim: usize) -> bool {
    head_dim.is_power_of_two() && (16..=128).contains(&head_dim)
}

/// The dense causal pre-fill on `arch`: attention.tile with 128 query rows and the key tile
/// [`sparsefill_patterns::attention::block_n`] picks for `arch` and whether q, k, v and o are
/// `aligned` (the tests assemble every variant that can launch without spills), bf16.
pub fn prefill_attention(head_dim: usize, arch: Arch, aligned: bool) -> KernelSpec {
    KernelSpec {
        source: sparsefill_patterns::attention::SOURCE,
        kernel: None,
        consts: vec![
            int("BN", sparsefill_patterns::attention::block_n(arch, aligned)),
            int("D", head_dim),
            ("CAUSAL".to_string(), ConstValue::Bool(true)),
            ("DT".to_string(), ConstValue::DType(DType::BF16)),
        ],
    }
}

/// Query heads per key/value head, padded to a `dot` tile (16 rows, one warp each).
pub fn decode_group_block(group: usize) -> usize {
    group.next_power_of_two().max(16)
}

pub fn decode_partial(group: usize, head_dim: usize) -> KernelSpec {
    KernelSpec {
        source: DECODE_ATTENTION,
        kernel: Some("decode_partial"),
        consts: vec![
            int("GB", decode_group_block(group)),
            int("BN", DECODE_BN),
            int("D", head_dim),
            int("W", (decode_group_block(group) / 16).max(4)),
        ],
    }
}

pub fn decode_combine(head_dim: usize) -> KernelSpec {
    KernelSpec {
        source: DECODE_ATTENTION,
        kernel: Some("decode_combine"),
        consts: vec![int("CB", COMBINE_CB), int("D", head_dim)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_tiles_cover_a_row_up_to_the_cap() {
        assert_eq!((row_block(1), row_block(64), row_block(100), row_block(4096)), (32, 64, 128, 1024));
    }

    #[test]
    fn decode_groups_pad_to_a_dot_tile() {
        assert_eq!((decode_group_block(1), decode_group_block(7), decode_group_block(32)), (16, 16, 32));
    }

    #[test]
    fn attention_head_dims_are_dot_dimensions() {
        let supported: Vec<usize> = (1..=256).filter(|&d| attention_head_dim_supported(d)).collect();
        assert_eq!(supported, vec![16, 32, 64, 128]);
    }
}
