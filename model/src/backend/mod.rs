//! What the executor asks of a device: the handful of operations a LLaMA-family forward pass is made of.
//!
//! Tensors are opaque to the executor: a backend keeps them where it computes (host memory for
//! [`CpuBackend`], device memory for CUDA) and only [`Backend::to_host`] brings values back. Activations are
//! row-major matrices, one row per token; a `[rows, heads * head_dim]` matrix holds each token's heads side
//! by side, so no operation needs a layout other than rows.

mod cpu;

pub use cpu::{CpuBackend, CpuKvCache, CpuTensor};

use crate::checkpoint::WeightView;
use crate::rope::Rope;
use crate::sampling::{Sampler, SamplingError};
use sparsefill_patterns::config::HeadConfig;
use std::ops::Range;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BackendError {
    /// Operands that do not fit together: an executor bug or a backend fed inconsistent weights.
    #[error("{op}: {what} must be {expected}; got {got}")]
    Shape { op: &'static str, what: &'static str, expected: String, got: String },
    #[error("embedding: token {token} is outside the table's {rows} rows")]
    TokenOutOfRange { token: u32, rows: usize },
    #[error("{op}: layer {layer} is outside the cache's {layers} layers")]
    Layer { op: &'static str, layer: usize, layers: usize },
    #[error(transparent)]
    Sampling(#[from] SamplingError),
}

/// The size of a key/value cache; `capacity` is a hint (tokens the caller expects to store), not a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvShape {
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub capacity: usize,
}

/// One layer's attention over the cache: query row `r` sits at position `start + r` and attends causally to
/// cached keys `0 ..= start + r` (the last `window` of them when there is a window), its head `h` reading
/// key/value head `h / (heads / kv_heads)`.
#[derive(Clone, Copy, Debug)]
pub struct AttentionCall<'a> {
    pub layer: usize,
    pub start: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Multiplies `q · k` before the softmax (`1 / sqrt(head_dim)` for these models).
    pub scale: f32,
    /// Mistral's sliding window: the most keys one query sees, itself included.
    pub window: Option<usize>,
    /// Per-head sparse patterns for this layer, or `None` for dense attention. A backend without sparse
    /// kernels computes these heads densely, which is the result the patterns approximate.
    pub patterns: Option<&'a [HeadConfig]>,
}

/// The operations of a forward pass. `matmul` takes weights in the Hugging Face `Linear` layout
/// `[out_features, in_features]`, so checkpoints upload without a transpose.
pub trait Backend {
    type Tensor;
    type KvCache;

    /// Names the backend in messages and reports.
    fn name(&self) -> &'static str;

    /// Copies one checkpoint tensor to the backend, converting it to the backend's compute type.
    fn upload(&self, weight: &WeightView<'_>) -> Result<Self::Tensor, BackendError>;

    /// Rows of `table` (`[vocab, hidden]`) for each token: `[tokens.len(), hidden]`.
    fn embed(&self, table: &Self::Tensor, tokens: &[u32]) -> Result<Self::Tensor, BackendError>;

    /// Each row divided by its root mean square (plus `eps`), times `weight` (`[1, width]` or `[width]`).
    fn rmsnorm(&self, x: &Self::Tensor, weight: &Self::Tensor, eps: f64) -> Result<Self::Tensor, BackendError>;

    /// `x · weightᵀ + bias`: `[rows, in] × [out, in] → [rows, out]`.
    fn matmul(
        &self,
        x: &Self::Tensor,
        weight: &Self::Tensor,
        bias: Option<&Self::Tensor>,
    ) -> Result<Self::Tensor, BackendError>;

    /// Rotates every `rope.head_dim`-wide head of row `r` to position `start + r`, in place.
    fn rope(&self, x: &mut Self::Tensor, rope: &Rope, start: usize) -> Result<(), BackendError>;

    fn new_kv_cache(&self, shape: KvShape) -> Result<Self::KvCache, BackendError>;

    /// Appends the rows of `k` and `v` (`[rows, kv_heads * head_dim]`) to layer `layer` of the cache.
    fn append_kv(
        &self,
        cache: &mut Self::KvCache,
        layer: usize,
        k: &Self::Tensor,
        v: &Self::Tensor,
    ) -> Result<(), BackendError>;

    /// Causal attention of `q` (`[rows, heads * head_dim]`) over the cached keys and values of one layer;
    /// the rows' own keys must already be appended.
    fn attention(
        &self,
        q: &Self::Tensor,
        cache: &Self::KvCache,
        call: &AttentionCall<'_>,
    ) -> Result<Self::Tensor, BackendError>;

    /// `silu(gate) * up`, elementwise.
    fn swiglu(&self, gate: &Self::Tensor, up: &Self::Tensor) -> Result<Self::Tensor, BackendError>;

    /// Adds `y` to rows `start .. start + y.rows` of `x` (the residual stream), in place.
    fn add_rows(&self, x: &mut Self::Tensor, start: usize, y: &Self::Tensor) -> Result<(), BackendError>;

    /// A copy of rows `rows` of `x`.
    fn slice_rows(&self, x: &Self::Tensor, rows: Range<usize>) -> Result<Self::Tensor, BackendError>;

    /// The number of rows of `x`.
    fn rows(&self, x: &Self::Tensor) -> usize;

    /// The values of `x`, row-major, as f32.
    fn to_host(&self, x: &Self::Tensor) -> Result<Vec<f32>, BackendError>;

    /// Draws the next token from one row of logits. The default copies the logits to the host; a device
    /// backend can override it to sample where the logits are.
    fn sample(&self, logits: &Self::Tensor, sampler: &mut Sampler) -> Result<u32, BackendError> {
        Ok(sampler.sample(&self.to_host(logits)?)?)
    }
}
