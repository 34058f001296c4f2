//! MInference's sparse attention patterns: per-head index estimation, index conversion,
//! and the sparse kernels (`patterns/kernels/sparse_*.tile`), each checked against dense
//! attention with the same mask (`attention::AttentionCase::reference_masked`).
//!
//! Every pattern takes the dense kernel's packed variable-length layout — `q [T, H, D]`,
//! `k`, `v [T, HKV, D]`, sequences concatenated along T and delimited by `cu_seqlens` —
//! and is causal. Index tensors are per (sequence, head, 64-row query block), with
//! positions local to the sequence.

pub mod block_sparse;
pub mod dispatch;
pub mod index;
pub mod key_step;
pub mod local;
pub mod mask;
pub mod vertical_slash;

use sparsefill_compiler::tensor::HostTensor;

/// One pattern's inputs: bf16 `q [T, H, D]`, `k`, `v [T, HKV, D]` and the sequence
/// lengths (summing to T).
#[derive(Clone, Debug)]
pub struct AttentionInputs {
    pub q: HostTensor,
    pub k: HostTensor,
    pub v: HostTensor,
    pub seqlens: Vec<usize>,
}

/// What a pattern computed: `o [T, H, D]` (bf16), `lse [H, T]` (f32, natural log), and
/// the named index tensors it used (e.g. `block_count`, `block_offset`, `column_count`,
/// `column_index`), so that callers can save and inspect them.
#[derive(Clone, Debug)]
pub struct SparseOutput {
    pub o: HostTensor,
    pub lse: HostTensor,
    pub index: Vec<(String, HostTensor)>,
}
