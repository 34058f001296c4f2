//! Block-sparse attention on device tensors: the `.tile` estimator (q and k pooled over
//! 64-token blocks, then each query block's list selected) into device buffers, then the
//! attention kernel over them, with the kernels, consts and checks of
//! [`crate::sparse::block_sparse`].

use super::device::{self, attend, scratch, upload_tensor, DeviceAttention, DeviceOutput, IndexCheck, Problem};
use crate::attention::AttentionShape;
use crate::sparse::block_sparse::{
    check_estimate, pool_consts, select_consts, BlockIndex, BlockSparseError, BlockSparseParams, CHUNK,
    ESTIMATOR_SOURCE, KERNEL, POOL_KERNEL, SELECT_KERNEL, SOURCE,
};
use crate::sparse::local::query_blocks::{self, RunError};
use crate::sparse::AttentionInputs;
use sparsefill_compiler::ir::DType;
use sparsefill_runtime::{DeviceTensor, Gpu, KernelCache, LaunchArg};

/// An estimated index on the device: `count [B, H, NB]` and `index [B, H, NB, top_k]`, i32.
struct DeviceBlockIndex {
    count: DeviceTensor,
    index: DeviceTensor,
}

impl DeviceBlockIndex {
    /// The index on the host (waits for the estimator).
    fn download(&self) -> Result<BlockIndex, RunError> {
        Ok(BlockIndex {
            count: device::download("block_count", &self.count)?,
            index: device::download("block_index", &self.index)?,
        })
    }
}

/// What the estimator reads: views `q [T, H, D]` and `k [T, HKV, D]` of a checked shape,
/// and `cu_seqlens` on the device.
struct Estimated<'a> {
    q: &'a DeviceTensor,
    k: &'a DeviceTensor,
    cu_seqlens: &'a DeviceTensor,
    shape: &'a AttentionShape,
}

/// The estimator, scoring `chunk` candidate blocks per step; queued, nothing read back.
fn estimate(
    gpu: &Gpu,
    cache: &KernelCache,
    x: Estimated,
    params: &BlockSparseParams,
    chunk: usize,
) -> Result<DeviceBlockIndex, BlockSparseError> {
    check_estimate(params, chunk)?;
    let shape = x.shape;
    let (b, h, hkv, d) = (shape.seqlens.len(), shape.heads, shape.kv_heads, shape.head_dim);
    let (nb, top_k) = (query_blocks::max_blocks(shape), params.top_k as usize);
    let pooled = |input: &DeviceTensor, heads: usize, what: &str| -> Result<DeviceTensor, RunError> {
        let out = scratch(gpu, what, DType::F32, &[b, heads, nb, d])?;
        let args = [LaunchArg::Tensor(input), LaunchArg::Tensor(x.cu_seqlens), LaunchArg::Tensor(&out)];
        device::launch(gpu, cache, POOL_KERNEL, ESTIMATOR_SOURCE, &pool_consts(d), &args)?;
        Ok(out)
    };
    let (pooled_q, pooled_k) = (pooled(x.q, h, "the pooled q")?, pooled(x.k, hkv, "the pooled k")?);
    // Poisoned: the kernel writes every count and every entry.
    let count = scratch(gpu, "block_count", DType::I32, &[b, h, nb]).map_err(RunError::from)?;
    let index = scratch(gpu, "block_index", DType::I32, &[b, h, nb, top_k]).map_err(RunError::from)?;
    let args = [&pooled_q, &pooled_k, x.cu_seqlens, &count, &index].map(LaunchArg::Tensor);
    let consts = select_consts(d, top_k, chunk);
    device::launch(gpu, cache, SELECT_KERNEL, ESTIMATOR_SOURCE, &consts, &args)?;
    Ok(DeviceBlockIndex { count, index })
}

/// The whole pattern on `io`: the estimator, the index checked as `check` says, then the
/// attention into `io.o`.
pub fn run(
    gpu: &Gpu,
    cache: &KernelCache,
    io: DeviceAttention,
    params: &BlockSparseParams,
    check: IndexCheck,
) -> Result<DeviceOutput, BlockSparseError> {
    params.validate()?;
    let p = Problem::new(gpu, io)?;
    let x = Estimated { q: p.io.q, k: p.io.k, cu_seqlens: &p.cu_seqlens, shape: &p.shape };
    let estimated = estimate(gpu, cache, x, params, CHUNK)?;
    let index = match check {
        IndexCheck::OnHost => {
            let host = estimated.download()?;
            host.validate(&p.shape)?;
            host.named()
        }
        IndexCheck::Trusted => Vec::new(),
    };
    let own = [LaunchArg::Tensor(&estimated.count), LaunchArg::Tensor(&estimated.index)];
    let lse = attend(gpu, cache, KERNEL, SOURCE, &p, &own)?;
    Ok(DeviceOutput { lse, index })
}

/// The host runner of the estimator on a GPU (`block_sparse::estimate`): uploads q, k and
/// `cu_seqlens` of checked inputs, estimates, downloads the index.
pub(crate) fn estimate_uploaded(
    gpu: &Gpu,
    cache: &KernelCache,
    inputs: &AttentionInputs,
    shape: &AttentionShape,
    params: &BlockSparseParams,
    chunk: usize,
) -> Result<BlockIndex, BlockSparseError> {
    let upload = |what, t| upload_tensor(gpu, what, t).map_err(RunError::from);
    let (q, k) = (upload("q", &inputs.q)?, upload("k", &inputs.k)?);
    let cu_seqlens = upload("cu_seqlens", &query_blocks::cu_seqlens(shape))?;
    let x = Estimated { q: &q, k: &k, cu_seqlens: &cu_seqlens, shape };
    Ok(estimate(gpu, cache, x, params, chunk)?.download()?)
}
