//! Sparse pre-fill: the heads a layer's config gives a pattern other than dense run through the patterns
//! crate's dispatch ([`sparsefill_patterns::sparse::dispatch`], the runners `sparsefill attn` uses) on this
//! backend's GPU and kernel cache; the dense heads run attention.tile as a dense layer does.
//!
//! The runners take host tensors, so a layer with sparse heads makes a round trip over PCIe: q and the
//! cache's first `rows` keys and values come down once per layer; each pattern group's selected heads go back
//! up inside its runner (which also brings its index, o and lse down), and the group's o goes up once and is
//! copied into its head columns of the layer's output. The host copies hold an f64 per element (the patterns
//! crate's `HostTensor`): at 128K tokens of 32 heads of 128, q alone is 4 GiB of host memory. That traffic is
//! the price of reusing the checked runners until they take device tensors; it is paid per layer, never per
//! head.
//!
//! Grouped-query heads: a group that cuts a GQA group gets one copy of its kv head per query head
//! ([`select_heads`] documents the choice), which is right for any grouping of heads.

use super::kv::LayerCache;
use super::{CudaBackend, CudaTensor};
use crate::backend::{AttentionCall, BackendError};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::config::{HeadConfig, PatternKind};
use sparsefill_patterns::sparse::dispatch::{group_heads, run_pattern, select_heads, HeadGroup};
use sparsefill_patterns::sparse::local::query_blocks::Backend as PatternBackend;
use sparsefill_patterns::sparse::AttentionInputs;
use sparsefill_runtime::DeviceTensor;

/// A layer's heads that run a sparse pattern, grouped by pattern.
pub(super) struct SparseHeads {
    groups: Vec<HeadGroup>,
    /// Whether some head runs dense: if none does, the dense kernel is not launched at all.
    any_dense: bool,
}

impl SparseHeads {
    /// The sparse heads of `patterns` (one entry per query head), or `None` when every head is dense.
    pub(super) fn new(patterns: &[HeadConfig], call: &AttentionCall<'_>) -> Result<Option<SparseHeads>, BackendError> {
        if patterns.len() != call.heads {
            return Err(super::shape("attention", "the per-head patterns", call.heads, patterns.len()));
        }
        let (dense, groups): (Vec<HeadGroup>, Vec<HeadGroup>) =
            group_heads(patterns.iter().map(|p| p.pattern)).into_iter().partition(|g| g.kind == PatternKind::Dense);
        if groups.is_empty() {
            return Ok(None);
        }
        // The pattern kernels scale q · k by 1 / sqrt(head_dim) (AttentionShape::scale); another scale would
        // make the sparse heads compute something else than the dense ones.
        let expected = 1.0 / (call.head_dim as f32).sqrt();
        if (call.scale - expected).abs() > expected * 1e-6 {
            return Err(BackendError::Unsupported {
                op: "attention",
                backend: "cuda",
                what: format!("scale {} with sparse patterns", call.scale),
                supported: "1 / sqrt(head_dim), the scale of the pattern kernels",
            });
        }
        Ok(Some(SparseHeads { groups, any_dense: !dense.is_empty() }))
    }

    pub(super) fn any_dense(&self) -> bool {
        self.any_dense
    }

    /// Writes every sparse head's columns of `out` (`[rows, heads * head_dim]`): the pre-fill of `q` from
    /// position 0 over the layer's first `q.rows` cached keys and values.
    pub(super) fn run(
        &self,
        b: &CudaBackend,
        q: &CudaTensor,
        layer: &LayerCache,
        call: &AttentionCall<'_>,
        out: &CudaTensor,
    ) -> Result<(), BackendError> {
        let (t, h, d) = (q.rows, call.heads, call.head_dim);
        let inputs = download(b, q, layer, call)?;
        let backend = PatternBackend::Gpu { gpu: &b.gpu, cache: &b.cache };
        for group in &self.groups {
            let part = select_heads(&inputs, &group.heads)
                .and_then(|selected| run_pattern(&backend, &selected, &group.kind))
                .map_err(|source| BackendError::Pattern { layer: call.layer, source: Box::new(source) })?;
            let n = group.heads.len();
            let o = DeviceTensor::upload(&b.gpu, &part.o).map_err(|e| {
                b.allocation_error(
                    || format!("the {} output [{t}, {n}, {d}] bf16", group.kind.name()),
                    t * n * d * 2,
                    e,
                )
            })?;
            for run in group.runs() {
                let src = o.as_strided(&[t, run.len, d], &[n * d, d, 1], run.first * d);
                let dst = out.data.as_strided(&[t, run.len, d], &[h * d, d, 1], run.head * d);
                b.copy(&src, &dst)?;
            }
        }
        Ok(())
    }
}

/// q and the layer's keys and values `0 .. q.rows` on the host, as the patterns take them: packed
/// `[T, H, D]` and `[T, HKV, D]` bf16, one sequence.
fn download(
    b: &CudaBackend,
    q: &CudaTensor,
    layer: &LayerCache,
    call: &AttentionCall<'_>,
) -> Result<AttentionInputs, BackendError> {
    let (t, h, hkv, d) = (q.rows, call.heads, call.kv_heads, call.head_dim);
    // q's [rows, heads * head_dim] rows are already [T, H, D].
    let q = HostTensor { shape: vec![t, h, d], ..q.data.download()? };
    // The cache is [kv_heads, capacity, head_dim]: packed on the device first, so that only the first T
    // positions cross the bus (a strided download would copy the whole span of the view).
    let packed = |cache: &DeviceTensor, name: &str| -> Result<HostTensor, BackendError> {
        let dims = [t, hkv, d];
        let what = || format!("layer {} {name} packed for the patterns {dims:?} bf16", call.layer);
        let dst = b.alloc(what, DType::BF16, &dims)?;
        b.copy(&cache.as_strided(&dims, &[d, layer.capacity * d, 1], 0), &dst)?;
        Ok(dst.download()?)
    };
    Ok(AttentionInputs { q, k: packed(&layer.keys, "keys")?, v: packed(&layer.values, "values")?, seqlens: vec![t] })
}
