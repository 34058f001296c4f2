//! Running a layer's configured patterns: any [`PatternKind`] on a [`Backend`] ([`run_pattern`]), a
//! layer's heads grouped by pattern ([`group_heads`]) and the inputs of one group's heads
//! ([`select_heads`], which copies them on the host; [`heads`] says how a group's heads are taken on
//! the device). The one dispatch that `sparsefill attn` and the model's CUDA backend share (the
//! backend through its device counterpart, `crate::gpu::pattern::run_pattern`, with the same
//! parameters), so that a pattern runs the same way wherever it is used.

pub mod heads;

use super::local::query_blocks::{self, Backend, InputError};
use super::{block_sparse, local, vertical_slash, AttentionInputs, SparseOutput};
use crate::attention;
use crate::config::PatternKind;
use crate::recall;
use sparsefill_compiler::tensor::HostTensor;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DispatchError {
    #[error("pattern `{pattern}`: {source}")]
    Pattern { pattern: &'static str, source: Box<dyn std::error::Error + Send + Sync> },
    #[error(
        "pattern `vertical_slash` runs on a GPU only in a build with the `gpu` feature (cargo build --release \
         --features gpu); this build runs it on the CPU interpreter only"
    )]
    NoGpuBuild,
    #[error("selecting query heads: {0}")]
    Inputs(#[from] InputError),
    #[error("query head {head} is not one of the input's {heads} heads")]
    Head { head: usize, heads: usize },
    #[error("a group of heads needs at least one query head; got none")]
    NoHeads,
    #[cfg(feature = "gpu")]
    #[error(
        "pattern `dense` has no device runner here: the caller runs dense heads through its dense attention \
         kernel (attention.tile)"
    )]
    DenseOnDevice,
}

/// The query heads of one layer that run the same pattern, in ascending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadGroup {
    pub kind: PatternKind,
    pub heads: Vec<usize>,
}

/// Consecutive heads of a group: its heads `first .. first + len` are the layer's heads
/// `head .. head + len`, so one strided copy moves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadRun {
    pub first: usize,
    pub head: usize,
    pub len: usize,
}

impl HeadGroup {
    /// The group's heads as runs of consecutive layer heads, in order.
    pub fn runs(&self) -> Vec<HeadRun> {
        let mut runs: Vec<HeadRun> = Vec::new();
        for (i, &head) in self.heads.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if run.head + run.len == head => run.len += 1,
                _ => runs.push(HeadRun { first: i, head, len: 1 }),
            }
        }
        runs
    }
}

/// Head `h` of `kinds` goes to the group of its pattern; groups are in the order their pattern first
/// appears, so the grouping of a config is the same on every call.
pub fn group_heads(kinds: impl IntoIterator<Item = PatternKind>) -> Vec<HeadGroup> {
    let mut groups: Vec<HeadGroup> = Vec::new();
    for (h, kind) in kinds.into_iter().enumerate() {
        match groups.iter_mut().find(|g| g.kind == kind) {
            Some(group) => group.heads.push(h),
            None => groups.push(HeadGroup { kind, heads: vec![h] }),
        }
    }
    groups
}

/// The query heads `heads` of `inputs` as inputs of their own: head `i` of the result is query head
/// `heads[i]`. A subset breaks grouped-query attention's uniform `h → h / (H / HKV)` mapping, so the kv
/// heads are chosen to restore it:
///
/// - when `heads` is whole GQA groups (each run of `H / HKV` entries is one kv head's query heads,
///   ascending; the groups in any order), the result keeps those kv heads and stays grouped: no key or
///   value is copied twice;
/// - otherwise each selected query head gets its own copy of the kv head it reads (plain multi-head
///   attention), which costs `heads.len() / HKV` times the key/value memory but is right for any subset.
pub fn select_heads(inputs: &AttentionInputs, heads: &[usize]) -> Result<AttentionInputs, DispatchError> {
    let shape = query_blocks::validate(inputs)?;
    let (t, h, d, kv_heads) = (shape.tokens(), shape.heads, shape.head_dim, shape.kv_heads);
    if heads.is_empty() {
        return Err(DispatchError::NoHeads);
    }
    if let Some(&head) = heads.iter().find(|&&x| x >= h) {
        return Err(DispatchError::Head { head, heads: h });
    }
    // validate() checked that kv_heads divides h.
    let group = h / kv_heads;
    let kv: Vec<usize> = whole_groups(heads, group).unwrap_or_else(|| heads.iter().map(|&x| x / group).collect());
    Ok(AttentionInputs {
        q: pick(&inputs.q, heads, t, d),
        k: pick(&inputs.k, &kv, t, d),
        v: pick(&inputs.v, &kv, t, d),
        seqlens: inputs.seqlens.clone(),
    })
}

/// The kv heads whose query heads `heads` are exactly, in order, or `None` when `heads` cuts a GQA group.
fn whole_groups(heads: &[usize], group: usize) -> Option<Vec<usize>> {
    if !heads.len().is_multiple_of(group) {
        return None;
    }
    heads
        .chunks(group)
        .map(|chunk| {
            let kv = chunk[0] / group;
            chunk.iter().enumerate().all(|(i, &x)| x == kv * group + i).then_some(kv)
        })
        .collect()
}

/// Heads `which` of a `[t, n, d]` tensor, in that order: `[t, which.len(), d]`.
fn pick(tensor: &HostTensor, which: &[usize], t: usize, d: usize) -> HostTensor {
    let n = tensor.shape[1];
    let data = (0..t)
        .flat_map(|row| which.iter().flat_map(move |&x| tensor.data[(row * n + x) * d..][..d].iter().copied()))
        .collect();
    HostTensor { dtype: tensor.dtype, shape: vec![t, which.len(), d], data }
}

/// Checks `kind`'s parameters with the validator its runner uses, without inputs, so that a config is
/// refused where it is loaded ([`crate::config::ModelConfig::new`]) and not only where a head first
/// runs: the CPU model path runs every head dense and would never run them. Errors name the pattern as
/// [`run_pattern`]'s do.
pub fn check_params(kind: &PatternKind) -> Result<(), DispatchError> {
    match *kind {
        PatternKind::Dense => Ok(()),
        PatternKind::AShape { n_init, n_local } => {
            local::LocalParams::a_shape(n_init, n_local).validate().map_err(failed("a_shape"))
        }
        PatternKind::TriShape { n_init, n_local, n_last } => {
            local::LocalParams::tri_shape(n_init, n_local, n_last).validate().map_err(failed("tri_shape"))
        }
        PatternKind::VerticalSlash { vertical, slash } => {
            vertical_slash_params(vertical, slash).validate().map_err(failed("vertical_slash"))
        }
        PatternKind::BlockSparse { top_k } => {
            block_sparse::BlockSparseParams { top_k }.validate().map_err(failed("block_sparse"))
        }
        PatternKind::Strided { stride, n_local } => {
            local::strided::StridedParams { stride, n_local }.validate().map_err(failed("strided"))
        }
    }
}

/// Runs pattern `kind` over every head of `inputs` on `backend`. Vertical-slash's parameters are the
/// config's sizes with MInference's 64 estimation queries (the config format has no field for them).
pub fn run_pattern(
    backend: &Backend,
    inputs: &AttentionInputs,
    kind: &PatternKind,
) -> Result<SparseOutput, DispatchError> {
    // The runners validate again; checking here first gives a refused parameter the same message
    // wherever it is caught.
    check_params(kind)?;
    match *kind {
        PatternKind::Dense => run_dense(inputs, backend),
        PatternKind::AShape { n_init, n_local } => {
            local::run(backend, inputs, &local::LocalParams::a_shape(n_init, n_local)).map_err(failed("a_shape"))
        }
        PatternKind::TriShape { n_init, n_local, n_last } => {
            local::run(backend, inputs, &local::LocalParams::tri_shape(n_init, n_local, n_last))
                .map_err(failed("tri_shape"))
        }
        PatternKind::VerticalSlash { vertical, slash } => {
            let params = vertical_slash_params(vertical, slash);
            match backend {
                Backend::Interp => vertical_slash::run_interp(inputs, &params).map_err(failed("vertical_slash")),
                #[cfg(feature = "gpu")]
                Backend::Gpu { gpu, cache } => {
                    crate::gpu::vertical_slash::run(gpu, cache, inputs, &params).map_err(failed("vertical_slash"))
                }
                // A build without the feature opens no GPU, so no caller reaches this; it stays an error.
                #[cfg(not(feature = "gpu"))]
                Backend::Gpu { .. } => Err(DispatchError::NoGpuBuild),
            }
        }
        PatternKind::BlockSparse { top_k } => {
            let params = block_sparse::BlockSparseParams { top_k };
            let index = block_sparse::estimate(backend, inputs, &params, block_sparse::CHUNK)
                .map_err(failed("block_sparse"))?;
            block_sparse::run_with_index(backend, inputs, &index).map_err(failed("block_sparse"))
        }
        PatternKind::Strided { stride, n_local } => {
            local::strided::run(backend, inputs, &local::strided::StridedParams { stride, n_local })
                .map_err(failed("strided"))
        }
    }
}

/// Vertical-slash's parameters for a configured head: its sizes, with MInference's 64
/// estimation queries (the config format has no field for them).
pub fn vertical_slash_params(vertical: u32, slash: u32) -> vertical_slash::VerticalSlashParams {
    vertical_slash::VerticalSlashParams {
        vertical_size: vertical as usize,
        slash_size: slash as usize,
        ..Default::default()
    }
}

/// A pattern's error, named.
pub(crate) fn failed<E: std::error::Error + Send + Sync + 'static>(
    pattern: &'static str,
) -> impl FnOnce(E) -> DispatchError {
    move |e| DispatchError::Pattern { pattern, source: Box::new(e) }
}

/// The dense kernel (attention.tile) on `backend`; it uses no index.
fn run_dense(inputs: &AttentionInputs, backend: &Backend) -> Result<SparseOutput, DispatchError> {
    let case = recall::dense_case(inputs).map_err(failed("dense"))?;
    attention::check_args(&case.args).map_err(failed("dense"))?;
    let wanted = [attention::O, attention::LSE];
    let outputs =
        backend.run("attention", attention::SOURCE, &case.consts, case.args, &wanted).map_err(failed("dense"))?;
    match <[HostTensor; 2]>::try_from(outputs) {
        Ok([o, lse]) => Ok(SparseOutput { o, lse, index: Vec::new() }),
        Err(got) => Err(DispatchError::Pattern {
            pattern: "dense",
            source: format!("{} outputs instead of o and lse", got.len()).into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use sparsefill_compiler::ir::DType;

    /// `[t, n, d]` bf16 whose elements at `[row, head, :]` are `16 * head + row` (exact in bf16 below 16
    /// heads and rows), so every picked element names where it came from.
    fn labelled(t: usize, n: usize, d: usize) -> HostTensor {
        let data = (0..t * n * d).map(|e| (16 * ((e / d) % n) + e / (n * d)) as f64).collect();
        HostTensor::from_f64(DType::BF16, &[t, n, d], data)
    }

    fn inputs(t: usize, h: usize, hkv: usize, d: usize) -> AttentionInputs {
        AttentionInputs { q: labelled(t, h, d), k: labelled(t, hkv, d), v: labelled(t, hkv, d), seqlens: vec![t] }
    }

    /// The head each `[t, n, d]` slot of `tensor` was taken from, read back from its label.
    fn source_heads(tensor: &HostTensor) -> Vec<usize> {
        let (n, d) = (tensor.shape[1], tensor.shape[2]);
        (0..n).map(|i| tensor.data[i * d] as usize / 16).collect()
    }

    fn a_shape(n_local: u32) -> PatternKind {
        PatternKind::AShape { n_init: 1, n_local }
    }

    #[test]
    fn heads_are_grouped_by_pattern_in_order_of_first_use() {
        let kinds = [a_shape(4), PatternKind::Dense, a_shape(4), a_shape(8), PatternKind::Dense];
        let groups = group_heads(kinds);
        let expected = [(a_shape(4), vec![0, 2]), (PatternKind::Dense, vec![1, 4]), (a_shape(8), vec![3])];
        let got: Vec<_> = groups.into_iter().map(|g| (g.kind, g.heads)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn runs_join_consecutive_heads() {
        let group = HeadGroup { kind: PatternKind::Dense, heads: vec![0, 1, 2, 5, 7, 8] };
        let run = |first, head, len| HeadRun { first, head, len };
        assert_eq!(group.runs(), vec![run(0, 0, 3), run(3, 5, 1), run(4, 7, 2)]);
    }

    #[test]
    fn whole_gqa_groups_keep_their_kv_heads() {
        // 8 query heads over 2 kv heads: heads 4..8 are kv head 1's whole group.
        let sub = select_heads(&inputs(5, 8, 2, 16), &[4, 5, 6, 7]).unwrap();
        assert_eq!(sub.q.shape, vec![5, 4, 16]);
        assert_eq!(source_heads(&sub.q), vec![4, 5, 6, 7]);
        assert_eq!(sub.k.shape, vec![5, 1, 16]);
        assert_eq!((source_heads(&sub.k), source_heads(&sub.v)), (vec![1], vec![1]));
    }

    #[test]
    fn a_subset_that_cuts_a_gqa_group_gets_one_kv_head_per_query_head() {
        let sub = select_heads(&inputs(5, 8, 2, 16), &[1, 4, 6]).unwrap();
        assert_eq!(source_heads(&sub.q), vec![1, 4, 6]);
        assert_eq!(sub.k.shape, vec![5, 3, 16]);
        assert_eq!((source_heads(&sub.k), source_heads(&sub.v)), (vec![0, 1, 1], vec![0, 1, 1]));
    }

    #[test]
    fn whole_groups_in_any_order_keep_their_kv_heads_but_a_reordered_group_does_not() {
        // Heads 2, 3 then 0, 1: whole groups, so kv heads 1 then 0 keep the mapping i → i / 2.
        let sub = select_heads(&inputs(3, 4, 2, 16), &[2, 3, 0, 1]).unwrap();
        assert_eq!((source_heads(&sub.q), source_heads(&sub.k)), (vec![2, 3, 0, 1], vec![1, 0]));
        // Heads 3, 2: kv head 1's group, but reversed, so i → i / 2 no longer holds within it.
        let cut = select_heads(&inputs(3, 4, 2, 16), &[3, 2]).unwrap();
        assert_eq!((source_heads(&cut.q), source_heads(&cut.k)), (vec![3, 2], vec![1, 1]));
    }

    #[test]
    fn every_row_of_the_selection_comes_from_the_same_row() {
        let sub = select_heads(&inputs(4, 4, 2, 16), &[3]).unwrap();
        let rows: Vec<f64> = (0..4).map(|r| sub.q.data[r * 16]).collect();
        assert_eq!(rows, vec![48.0, 49.0, 50.0, 51.0]);
        assert_eq!(sub.seqlens, vec![4]);
    }

    #[test]
    fn a_head_past_the_input_is_refused() {
        let err = select_heads(&inputs(3, 4, 2, 16), &[1, 4]).unwrap_err();
        assert!(matches!(err, DispatchError::Head { head: 4, heads: 4 }), "{err}");
        assert_eq!(err.to_string(), "query head 4 is not one of the input's 4 heads");
    }

    #[test]
    fn an_empty_selection_is_refused() {
        let err = select_heads(&inputs(3, 4, 2, 16), &[]).unwrap_err();
        assert!(matches!(err, DispatchError::NoHeads), "{err}");
    }

    #[test]
    fn malformed_inputs_are_refused_before_selecting() {
        let mut bad = inputs(3, 4, 2, 16);
        bad.seqlens = vec![2];
        let err = select_heads(&bad, &[0]).unwrap_err();
        assert!(matches!(err, DispatchError::Inputs(InputError::Tokens { sum: 2, tokens: 3 })), "{err}");
    }

    /// A group's pattern run on its selected heads gives, head for head, what the pattern gives on all
    /// heads: selection changes which heads run, never what a head computes.
    #[test]
    fn a_selected_head_computes_what_it_computes_among_all_heads() {
        let (t, h, d) = (70, 4, 16);
        let shape = attention::AttentionShape { seqlens: vec![t], heads: h, kv_heads: 2, head_dim: d, causal: true };
        let (_, all) = query_blocks::random_inputs(&shape, &mut StdRng::seed_from_u64(7)).unwrap();
        let kind = a_shape(5);
        let full = run_pattern(&Backend::Interp, &all, &kind).unwrap();
        for heads in [vec![1, 2], vec![2, 3]] {
            let part = run_pattern(&Backend::Interp, &select_heads(&all, &heads).unwrap(), &kind).unwrap();
            for (i, &head) in heads.iter().enumerate() {
                for row in 0..t {
                    let got = &part.o.data[(row * heads.len() + i) * d..][..d];
                    assert_eq!(got, &full.o.data[(row * h + head) * d..][..d], "head {head} row {row}");
                }
            }
        }
    }

    #[test]
    fn a_pattern_that_refuses_its_parameters_is_named() {
        let err = run_pattern(&Backend::Interp, &inputs(3, 2, 1, 16), &a_shape(0)).unwrap_err();
        assert!(matches!(err, DispatchError::Pattern { pattern: "a_shape", .. }), "{err}");
        assert!(err.to_string().contains("n_local must be at least 1"), "{err}");
    }

    #[test]
    fn run_pattern_refuses_parameters_as_check_params_does() {
        let ran = run_pattern(&Backend::Interp, &inputs(3, 2, 1, 16), &a_shape(0)).unwrap_err();
        assert_eq!(ran.to_string(), check_params(&a_shape(0)).unwrap_err().to_string());
    }

    #[test]
    fn check_params_accepts_dense() {
        assert!(check_params(&PatternKind::Dense).is_ok());
    }

    #[test]
    fn check_params_refuses_an_empty_a_shape_window() {
        assert_eq!(
            check_params(&a_shape(0)).unwrap_err().to_string(),
            "pattern `a_shape`: n_local must be at least 1 (the window holds the query itself); got 0"
        );
    }

    #[test]
    fn check_params_refuses_a_tri_shape_size_past_i32() {
        let kind = PatternKind::TriShape { n_init: 1, n_local: 1, n_last: u32::MAX };
        assert_eq!(
            check_params(&kind).unwrap_err().to_string(),
            "pattern `tri_shape`: n_last must fit the kernel's i32 scalars (at most 2147483647); got 4294967295"
        );
    }

    #[test]
    fn check_params_refuses_zero_vertical_slash_slashes() {
        let err = check_params(&PatternKind::VerticalSlash { vertical: 8, slash: 0 }).unwrap_err();
        assert!(
            err.to_string().starts_with("pattern `vertical_slash`: slash_size (a pattern config's `slash`)"),
            "{err}"
        );
    }

    #[test]
    fn check_params_refuses_a_block_sparse_top_k_past_the_estimator() {
        let kind = PatternKind::BlockSparse { top_k: block_sparse::MAX_TOP_K + 1 };
        assert_eq!(
            check_params(&kind).unwrap_err().to_string(),
            "pattern `block_sparse`: top_k must be from 1 (the diagonal block) to 256; got 257"
        );
    }

    #[test]
    fn check_params_refuses_a_zero_stride() {
        let err = check_params(&PatternKind::Strided { stride: 0, n_local: 4 }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pattern `strided`: stride must be at least 1 block (1 is dense causal attention); got 0"
        );
    }

    #[test]
    fn dense_on_malformed_inputs_is_named() {
        let mut bad = inputs(3, 2, 1, 16);
        bad.seqlens = vec![2];
        let err = run_pattern(&Backend::Interp, &bad, &PatternKind::Dense).unwrap_err();
        assert!(matches!(err, DispatchError::Pattern { pattern: "dense", .. }), "{err}");
    }
}
