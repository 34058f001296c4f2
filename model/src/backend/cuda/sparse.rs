//! Sparse pre-fill: the heads a layer's config gives a pattern other than dense run it through the patterns
//! crate's device runners ([`sparsefill_patterns::gpu::pattern::run_pattern`], the kernels, parameters and
//! checks `sparsefill attn` uses) on this backend's GPU and kernel cache; the dense heads run attention.tile as
//! a dense layer does.
//!
//! Nothing crosses PCIe but a few bytes of `cu_seqlens` per run: the runners take q, the cache and the layer's
//! output as strided views where they lie, and allocate their index and scratch on the device. Each pattern
//! group's heads are taken as [`HeadPlan`] says: runs of whole GQA groups as views of q, of their kv heads in
//! the cache (`[T, n, D]` with strides `(head_dim, capacity * head_dim, 1)`) and of their columns of the
//! output, written in place; the heads of GQA groups the pattern only cuts are copied on the device into
//! packed buffers, with a copy of its kv head for each, run once, and their output copied back.
//!
//! An estimated index (block-sparse, vertical-slash) is not read back for the host's validation
//! ([`IndexCheck::Trusted`]): at 128K tokens it is hundreds of MB a layer, and the estimator kernels are
//! checked against the host reference by the GPU tests, while every kernel access is masked to its view.

use super::kv::LayerCache;
use super::{CudaBackend, CudaTensor};
use crate::backend::{AttentionCall, BackendError};
use sparsefill_compiler::ir::DType;
use sparsefill_patterns::config::{HeadConfig, PatternKind};
use sparsefill_patterns::gpu::device::{DeviceAttention, IndexCheck};
use sparsefill_patterns::gpu::pattern::run_pattern;
use sparsefill_patterns::sparse::dispatch::heads::{HeadLayout, HeadPlan, Packed};
use sparsefill_patterns::sparse::dispatch::{group_heads, DispatchError, HeadGroup};
use sparsefill_runtime::{DeviceTensor, Layout};

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
        let layer_run = LayerRun::new(b, q, layer, call, out);
        self.groups.iter().try_for_each(|group| layer_run.group(group))
    }
}

/// `at` of the buffer of `tensor`.
fn view(tensor: &DeviceTensor, at: &Layout) -> DeviceTensor {
    tensor.as_strided(&at.shape, &at.strides, at.offset)
}

/// One layer's sparse pre-fill: its tensors and where their heads lie.
struct LayerRun<'a> {
    b: &'a CudaBackend,
    q: &'a CudaTensor,
    layer: &'a LayerCache,
    call: &'a AttentionCall<'a>,
    out: &'a CudaTensor,
    /// q and the output, `[rows, heads * head_dim]`.
    q_at: HeadLayout,
    /// The cache's keys and values, `[kv_heads, capacity, head_dim]`, positions `0 .. rows`.
    kv_at: HeadLayout,
    /// The one sequence, `[rows]`.
    seqlens: [usize; 1],
}

impl<'a> LayerRun<'a> {
    fn new(
        b: &'a CudaBackend,
        q: &'a CudaTensor,
        layer: &'a LayerCache,
        call: &'a AttentionCall<'a>,
        out: &'a CudaTensor,
    ) -> Self {
        let (t, h, d) = (q.rows, call.heads, call.head_dim);
        let q_at = HeadLayout { tokens: t, head_dim: d, row: h * d, head: d };
        let kv_at = HeadLayout { tokens: t, head_dim: d, row: d, head: layer.capacity * d };
        LayerRun { b, q, layer, call, out, q_at, kv_at, seqlens: [t] }
    }

    /// Every head of `group`: its views, then its gathered heads.
    fn group(&self, group: &HeadGroup) -> Result<(), BackendError> {
        let plan = HeadPlan::new(group, self.call.heads, self.call.kv_heads).map_err(|e| self.failed(e))?;
        for v in &plan.views {
            let (q, kv) = (self.q_at.range(v.head, v.len), self.kv_at.range(v.kv, v.kv_len));
            let io = [view(&self.q.data, &q), view(&self.layer.keys, &kv), view(&self.layer.values, &kv)];
            self.run(group, &io, &view(&self.out.data, &q))?;
        }
        if plan.gathered.is_empty() {
            return Ok(());
        }
        self.gathered(group, &plan.gathered, plan.packed_heads())
    }

    fn failed(&self, source: DispatchError) -> BackendError {
        BackendError::Pattern { layer: self.call.layer, source: Box::new(source) }
    }

    /// `group`'s pattern over `[q, k, v]`, writing `o`.
    fn run(&self, group: &HeadGroup, [q, k, v]: &[DeviceTensor; 3], o: &DeviceTensor) -> Result<(), BackendError> {
        let io = DeviceAttention { q, k, v, o, seqlens: &self.seqlens };
        run_pattern(&self.b.gpu, &self.b.cache, io, &group.kind, IndexCheck::Trusted)
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// The `packed` heads of `group`, `heads` of them: copied into packed q, k and v `[rows, heads, head_dim]`,
    /// run, and their output copied back into their columns.
    fn gathered(&self, group: &HeadGroup, packed: &[Packed], heads: usize) -> Result<(), BackendError> {
        let (b, t, d) = (self.b, self.q.rows, self.call.head_dim);
        let (layer, kind) = (self.call.layer, group.kind.name());
        let buffer = |name: &str| {
            let what = || format!("layer {layer} {name} heads of `{kind}` packed [{t}, {heads}, {d}] bf16");
            b.alloc(what, DType::BF16, &[t, heads, d])
        };
        let [q, k, v, o] = [buffer("query")?, buffer("key")?, buffer("value")?, buffer("output")?];
        if b.poison {
            // A packed row the pattern leaves unwritten must show in the layer's output, not read as 0.
            o.poison()?;
        }
        let at = HeadLayout { tokens: t, head_dim: d, row: heads * d, head: d };
        for p in packed {
            let dst = at.range(p.at, p.len);
            b.copy(&view(&self.q.data, &self.q_at.range(p.head, p.len)), &view(&q, &dst))?;
            let kv = self.kv_at.repeated(p.kv, p.len);
            b.copy(&view(&self.layer.keys, &kv), &view(&k, &dst))?;
            b.copy(&view(&self.layer.values, &kv), &view(&v, &dst))?;
        }
        self.run(group, &[q, k, v], &o)?;
        for p in packed {
            b.copy(&view(&o, &at.range(p.at, p.len)), &view(&self.out.data, &self.q_at.range(p.head, p.len)))?;
        }
        Ok(())
    }
}
