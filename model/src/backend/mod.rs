//! What the executor asks of a device: the handful of operations a LLaMA-family forward pass is made of.
//!
//! Tensors are opaque to the executor: a backend keeps them where it computes (host memory for
//! [`CpuBackend`], device memory for CUDA) and only [`Backend::to_host`] brings values back. Activations are
//! row-major matrices, one row per token; a `[rows, heads * head_dim]` matrix holds each token's heads side
//! by side, so no operation needs a layout other than rows.

mod cpu;
#[cfg(feature = "gpu")]
mod cuda;

pub use cpu::{CpuBackend, CpuKvCache, CpuTensor};
#[cfg(feature = "gpu")]
pub use cuda::{CudaBackend, CudaKvCache, CudaTensor};

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
    #[error(
        "out of GPU memory allocating {what}: asked for {requested} bytes ({}), but only {free} of the GPU's \
         {total} bytes are free",
        gib(*requested)
    )]
    OutOfMemory { what: String, requested: usize, free: usize, total: usize },
    #[error("{op}: {what} is not supported on the {backend} backend; supported: {supported}")]
    Unsupported { op: &'static str, backend: &'static str, what: String, supported: &'static str },
    #[error(
        "the cuBLAS library could not be loaded (looked for {searched}); install the CUDA toolkit's libcublas \
         or add the directory holding it to LD_LIBRARY_PATH"
    )]
    NoCublas { searched: String },
    #[error("{call} failed: {status}")]
    Cublas { call: &'static str, status: String },
    /// Boxed: the runtime's errors carry shapes and paths, and would make every `Result` of the executor large.
    #[cfg(feature = "gpu")]
    #[error(transparent)]
    Runtime(Box<sparsefill_runtime::RuntimeError>),
    /// A sparse pattern's runner failed (the CUDA backend runs pattern heads through the patterns crate); boxed
    /// like `Runtime`.
    #[cfg(feature = "gpu")]
    #[error("attention layer {layer}: {source}")]
    Pattern { layer: usize, source: Box<sparsefill_patterns::sparse::dispatch::DispatchError> },
}

#[cfg(feature = "gpu")]
impl From<sparsefill_runtime::RuntimeError> for BackendError {
    fn from(error: sparsefill_runtime::RuntimeError) -> BackendError {
        BackendError::Runtime(Box::new(error))
    }
}

/// A byte count in GiB, for messages.
fn gib(bytes: usize) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// A [`BackendError::Shape`] for `what` of `op`.
pub(crate) fn shape(op: &'static str, what: &'static str, expected: impl ToString, got: impl ToString) -> BackendError {
    BackendError::Shape { op, what, expected: expected.to_string(), got: got.to_string() }
}

/// [`Backend::add_rmsnorm_rows`]'s shapes: `x` and `y` are `[rows, cols]` alike, `range` lies within them and
/// `weight` holds `cols` values.
pub(crate) fn check_add_rmsnorm_rows(
    (rows, cols): (usize, usize),
    range: &Range<usize>,
    (y_rows, y_cols): (usize, usize),
    weight_len: usize,
) -> Result<(), BackendError> {
    let op = "add_rmsnorm_rows";
    if (y_rows, y_cols) != (rows, cols) {
        return Err(shape(op, "the addend's shape", format!("[{rows}, {cols}]"), format!("[{y_rows}, {y_cols}]")));
    }
    if range.start > range.end || range.end > rows {
        return Err(shape(op, "the row range", format!("within 0..{rows}"), format!("{range:?}")));
    }
    if weight_len != cols {
        return Err(shape(op, "the weight's length", cols, weight_len));
    }
    Ok(())
}

/// A checkpoint tensor as the `[rows, cols]` matrix backends hold: a vector is one row.
pub(crate) fn weight_dims(weight: &WeightView<'_>) -> Result<(usize, usize), BackendError> {
    match *weight.shape {
        [cols] => Ok((1, cols)),
        [rows, cols] => Ok((rows, cols)),
        _ => Err(shape("upload", "a weight's rank", "1 or 2", weight.shape.len())),
    }
}

/// Errors unless `op`'s second operand has the first one's `(rows, cols)`.
pub(crate) fn same_dims(op: &'static str, a: (usize, usize), b: (usize, usize)) -> Result<(), BackendError> {
    if a != b {
        return Err(shape(op, "the second operand's shape", format!("{}x{}", a.0, a.1), format!("{}x{}", b.0, b.1)));
    }
    Ok(())
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
    /// Per-head sparse patterns for this layer, or `None` for dense attention. The CPU backend computes these
    /// heads densely, which is the result the patterns approximate; the CUDA backend runs them in a pre-fill
    /// from position 0.
    pub patterns: Option<&'a [HeadConfig]>,
}

impl AttentionCall<'_> {
    /// Errors unless the heads group evenly over the kv heads and `q` has `q_cols` = heads x head_dim
    /// columns: what every backend's attention needs before it reads the cache.
    pub(crate) fn check_heads(&self, q_cols: usize) -> Result<(), BackendError> {
        if self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return Err(shape("attention", "heads", format!("a multiple of kv_heads ({})", self.kv_heads), self.heads));
        }
        if q_cols != self.heads * self.head_dim {
            return Err(shape("attention", "the query width", self.heads * self.head_dim, q_cols));
        }
        Ok(())
    }
}

/// The operations of a forward pass. `matmul` takes weights in the Hugging Face `Linear` layout
/// `[out_features, in_features]`, so checkpoints upload without a transpose.
pub trait Backend {
    type Tensor;
    type KvCache;

    /// Names the backend in messages and reports.
    fn name(&self) -> &'static str;

    /// What the backend spent on its kernels besides running them (compiles, cache loads)
    /// so far, as one line for a run's report; `None` where it compiles nothing.
    fn kernel_report(&self) -> Option<String> {
        None
    }

    /// Waits until every operation queued so far has finished (a device backend queues them; the host
    /// backend runs each one before it returns, so it has nothing to wait for).
    fn synchronize(&self) -> Result<(), BackendError> {
        Ok(())
    }

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

    /// Adds rows `rows` of `y` (shaped like `x`) to the same rows of `x` in place, and returns the RMSNorm
    /// of those rows of `x` after the add (`[rows.len(), cols]`, scaled by `weight`): a residual add and
    /// the norm after it in one pass over the rows.
    fn add_rmsnorm_rows(
        &self,
        x: &mut Self::Tensor,
        rows: Range<usize>,
        y: &Self::Tensor,
        weight: &Self::Tensor,
        eps: f64,
    ) -> Result<Self::Tensor, BackendError>;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_names_the_request_and_what_is_free() {
        let err = BackendError::OutOfMemory {
            what: "layer 3 keys [8, 131072, 128] bf16".into(),
            requested: 268_435_456,
            free: 1_073_741_824,
            total: 150_000_000_000,
        };
        assert_eq!(
            err.to_string(),
            "out of GPU memory allocating layer 3 keys [8, 131072, 128] bf16: asked for 268435456 bytes (0.25 GiB), \
             but only 1073741824 of the GPU's 150000000000 bytes are free"
        );
    }

    #[test]
    fn missing_cublas_names_the_library() {
        let err = BackendError::NoCublas { searched: "libcublas.so, libcublas.so.13".into() };
        assert!(err.to_string().starts_with("the cuBLAS library could not be loaded (looked for libcublas.so, "));
    }

    #[test]
    fn unsupported_names_the_backend_and_what_is_supported() {
        let err = BackendError::Unsupported {
            op: "attention",
            backend: "cuda",
            what: "head_dim 96".into(),
            supported: "head_dim 16, 32, 64 or 128",
        };
        assert_eq!(
            err.to_string(),
            "attention: head_dim 96 is not supported on the cuda backend; supported: head_dim 16, 32, 64 or 128"
        );
    }

    #[test]
    fn cublas_failure_names_the_call() {
        let err = BackendError::Cublas { call: "cublasGemmEx", status: "CUBLAS_STATUS_NOT_SUPPORTED".into() };
        assert_eq!(err.to_string(), "cublasGemmEx failed: CUBLAS_STATUS_NOT_SUPPORTED");
    }
}
