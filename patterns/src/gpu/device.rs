//! Sparse attention on tensors already on the device. The caller gives q, k, v and o as
//! views with any strides (every kernel parameter is a strided tensor, and every access is
//! masked against its view's sizes), so a model's `[rows, heads * head_dim]` activations
//! and `[kv_heads, capacity, head_dim]` cache pass as they lie; lse, `cu_seqlens` (a few
//! bytes, uploaded) and a pattern's scratch are allocated here. Launches are queued with
//! nothing read back, unless an estimated index is to be checked first ([`IndexCheck`]).
//!
//! The host runners (`Backend::Gpu`) upload their inputs and call the runners here
//! (`run_uploaded`, `Uploaded`), so that a pattern is launched one way on a GPU.

use crate::attention::AttentionShape;
use crate::gpu::{upload, DeviceArg};
use crate::sparse::local::query_blocks::{self, InputError, RunError};
use crate::sparse::{AttentionInputs, SparseOutput};
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_runtime::{DeviceTensor, Gpu, KernelCache, LaunchArg, RuntimeError};
use thiserror::Error;

/// One pattern's tensors on the device, bf16: `q` and `o` `[T, H, D]`, `k` and `v`
/// `[T, HKV, D]` (HKV dividing H: query head `h` reads kv head `h / (H / HKV)`), the
/// sequences `seqlens` packed along T. `o` is written in place.
#[derive(Clone, Copy)]
pub struct DeviceAttention<'a> {
    pub q: &'a DeviceTensor,
    pub k: &'a DeviceTensor,
    pub v: &'a DeviceTensor,
    pub o: &'a DeviceTensor,
    pub seqlens: &'a [usize],
}

impl DeviceAttention<'_> {
    /// The checks of [`query_blocks::validate`] that shapes allow (views hold no host data
    /// to count), and o of q's shape; returns the attention shape.
    pub fn validate(&self) -> Result<AttentionShape, InputError> {
        let shape = query_blocks::check_shapes([self.q, self.k, self.v].map(|t| (t.dtype(), t.shape())), self.seqlens)?;
        query_blocks::check_output(self.q.shape(), (self.o.dtype(), self.o.shape()))?;
        Ok(shape)
    }
}

/// Whether an estimated index is read back and validated before the attention reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexCheck {
    /// Download the index and validate it (`BlockIndex::validate`, `SparseIndex::validate`)
    /// before launching the attention, and return it: the host runners, which hand the
    /// index to their caller anyway.
    OnHost,
    /// Queue the attention right after the estimation. At 128K tokens a vertical-slash
    /// index is hundreds of MB, and validating it on the host would cost more than the
    /// attention; the estimator kernels are checked against the host reference by the GPU
    /// tests, and every kernel access is masked against its tensor's sizes, so a wrong
    /// entry could only give a wrong row, never a read outside the tensors.
    Trusted,
}

/// What a device run leaves besides o.
pub struct DeviceOutput {
    /// `[H, T]` f32, natural log.
    pub lse: DeviceTensor,
    /// The index as downloaded and validated under [`IndexCheck::OnHost`]; empty when
    /// trusted or when the pattern has none.
    pub index: Vec<(String, HostTensor)>,
}

/// A device buffer that could not be made, uploaded or read back; names its size, so that
/// running out of memory says what was asked.
#[derive(Debug, Error)]
#[error("{step} {what} {dims:?} {dtype:?} ({bytes} bytes) on the GPU: {source}")]
pub struct BufferError {
    pub step: &'static str,
    pub what: String,
    pub dims: Vec<usize>,
    pub dtype: DType,
    pub bytes: usize,
    // Boxed: runtime errors are large, and every pattern error carries this one.
    pub source: Box<RuntimeError>,
}

impl BufferError {
    pub(crate) fn new(step: &'static str, what: &str, dtype: DType, dims: &[usize], source: RuntimeError) -> Self {
        let bytes = dims.iter().product::<usize>().saturating_mul(dtype.size_bytes());
        BufferError { step, what: what.to_string(), dims: dims.to_vec(), dtype, bytes, source: Box::new(source) }
    }
}

/// A contiguous scratch tensor, poisoned (floats NaN, i32 -1) so that an element no kernel
/// writes shows.
pub(crate) fn scratch(gpu: &Gpu, what: &str, dtype: DType, dims: &[usize]) -> Result<DeviceTensor, BufferError> {
    let failed = |source| BufferError::new("allocating", what, dtype, dims, source);
    let tensor = DeviceTensor::alloc(gpu, dtype, dims).map_err(failed)?;
    tensor.poison().map_err(failed)?;
    Ok(tensor)
}

pub(crate) fn upload_tensor(gpu: &Gpu, what: &str, host: &HostTensor) -> Result<DeviceTensor, BufferError> {
    DeviceTensor::upload(gpu, host)
        .map_err(|source| BufferError::new("uploading", what, host.dtype, &host.shape, source))
}

/// A device tensor on the host (waits for the queued launches).
pub(crate) fn download(what: &str, tensor: &DeviceTensor) -> Result<HostTensor, BufferError> {
    tensor.download().map_err(|source| BufferError::new("downloading", what, tensor.dtype(), tensor.shape(), source))
}

/// A checked device run: the caller's tensors, their shape, and `cu_seqlens` uploaded.
pub(crate) struct Problem<'a> {
    pub(crate) io: DeviceAttention<'a>,
    pub(crate) shape: AttentionShape,
    pub(crate) cu_seqlens: DeviceTensor,
}

impl<'a> Problem<'a> {
    pub(crate) fn new(gpu: &Gpu, io: DeviceAttention<'a>) -> Result<Problem<'a>, RunError> {
        let shape = io.validate()?;
        let cu_seqlens = upload_tensor(gpu, "cu_seqlens", &query_blocks::cu_seqlens(&shape))?;
        Ok(Problem { io, shape, cu_seqlens })
    }
}

/// Compiles (through the cache), loads and queues kernel `kernel` of `source`.
pub(crate) fn launch(
    gpu: &Gpu,
    cache: &KernelCache,
    kernel: &'static str,
    source: &str,
    consts: &[(String, ConstValue)],
    args: &[LaunchArg],
) -> Result<(), RunError> {
    let runtime = |source| RunError::Runtime { kernel, source: Box::new(source) };
    let compiled = cache.get(source, Some(kernel), consts).map_err(runtime)?;
    let loaded = gpu.load(&compiled, cache).map_err(runtime)?;
    gpu.launch(&loaded, args).map_err(runtime)
}

/// Queues query-block attention kernel `kernel` of `source` over `p` with the leading
/// arguments of [`query_blocks::kernel_args`] (in its order) and then `own`, specialized for
/// the cache's target and the tensors' `aligned` contract ([`query_blocks::target_consts`]): o
/// is written in place; returns lse.
pub(crate) fn attend(
    gpu: &Gpu,
    cache: &KernelCache,
    kernel: &'static str,
    source: &str,
    p: &Problem,
    own: &[LaunchArg],
) -> Result<DeviceTensor, RunError> {
    let lse = scratch(gpu, "lse", DType::F32, &[p.shape.heads, p.shape.tokens()])?;
    let mut args = vec![
        LaunchArg::Tensor(p.io.q),
        LaunchArg::Tensor(p.io.k),
        LaunchArg::Tensor(p.io.v),
        LaunchArg::Tensor(&p.cu_seqlens),
        LaunchArg::Tensor(p.io.o),
        LaunchArg::Tensor(&lse),
        LaunchArg::F32(p.shape.scale()),
        LaunchArg::I32(query_blocks::max_seqlen(&p.shape)),
    ];
    args.extend_from_slice(own);
    let aligned = [p.io.q, p.io.k, p.io.v, p.io.o].iter().all(|t| t.is_aligned());
    let consts = query_blocks::target_consts(kernel, p.shape.head_dim, cache.arch(), cache.codegen().mma, aligned);
    launch(gpu, cache, kernel, source, &consts, &args)?;
    Ok(lse)
}

/// [`attend`] with the pattern's own arguments as host values: scalars, or the tensors of
/// a caller's index, uploaded.
pub(crate) fn attend_with(
    gpu: &Gpu,
    cache: &KernelCache,
    kernel: &'static str,
    source: &str,
    p: &Problem,
    own: &[ArgValue],
) -> Result<DeviceTensor, RunError> {
    let own = upload(gpu, own).map_err(|source| RunError::Runtime { kernel, source: Box::new(source) })?;
    let own: Vec<LaunchArg> = own.iter().map(DeviceArg::launch_arg).collect();
    attend(gpu, cache, kernel, source, p, &own)
}

/// A host runner's inputs on the device: q, k and v uploaded (contiguous) and o poisoned.
pub(crate) struct Uploaded {
    q: DeviceTensor,
    k: DeviceTensor,
    v: DeviceTensor,
    o: DeviceTensor,
    seqlens: Vec<usize>,
}

impl Uploaded {
    /// Checks `inputs` ([`query_blocks::validate`]) and uploads them.
    pub(crate) fn new(gpu: &Gpu, inputs: &AttentionInputs) -> Result<Uploaded, RunError> {
        query_blocks::validate(inputs)?;
        Ok(Uploaded {
            q: upload_tensor(gpu, "q", &inputs.q)?,
            k: upload_tensor(gpu, "k", &inputs.k)?,
            v: upload_tensor(gpu, "v", &inputs.v)?,
            o: scratch(gpu, "o", DType::BF16, &inputs.q.shape)?,
            seqlens: inputs.seqlens.clone(),
        })
    }

    pub(crate) fn io(&self) -> DeviceAttention<'_> {
        DeviceAttention { q: &self.q, k: &self.k, v: &self.v, o: &self.o, seqlens: &self.seqlens }
    }

    /// o and `out`'s lse downloaded (waiting for the queued launches), with its index.
    pub(crate) fn output(&self, out: DeviceOutput) -> Result<SparseOutput, BufferError> {
        Ok(SparseOutput { o: download("o", &self.o)?, lse: download("lse", &out.lse)?, index: out.index })
    }
}

/// The host runner of a query-block attention kernel on a GPU (`query_blocks::run_attention`):
/// uploads, runs [`attend_with`], downloads o and lse; `index` is the caller's, already
/// validated.
pub(crate) fn run_uploaded(
    gpu: &Gpu,
    cache: &KernelCache,
    kernel: &'static str,
    source: &str,
    inputs: &AttentionInputs,
    own: &[ArgValue],
    index: Vec<(String, HostTensor)>,
) -> Result<SparseOutput, RunError> {
    let uploaded = Uploaded::new(gpu, inputs)?;
    let p = Problem::new(gpu, uploaded.io())?;
    let lse = attend_with(gpu, cache, kernel, source, &p, own)?;
    Ok(uploaded.output(DeviceOutput { lse, index })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_error_names_what_and_the_bytes_asked() {
        let err = BufferError::new("allocating", "lse", DType::F32, &[32, 131072], RuntimeError::NoDevice);
        assert_eq!(
            err.to_string(),
            "allocating lse [32, 131072] F32 (16777216 bytes) on the GPU: the CUDA driver is present but reports no GPU"
        );
    }
}
