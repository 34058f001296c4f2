//! Any sparse [`PatternKind`] on device tensors: the device counterpart of
//! [`crate::sparse::dispatch::run_pattern`], with the same parameters, kernels and checks,
//! for a caller whose q, k, v and o are already on the GPU (the model's CUDA backend).
//! Dense heads are the caller's: it runs its own dense kernel over them.

use super::device::{attend_with, DeviceAttention, DeviceOutput, IndexCheck, Problem};
use super::{block_sparse, vertical_slash};
use crate::config::PatternKind;
use crate::sparse::block_sparse::BlockSparseParams;
use crate::sparse::dispatch::{check_params, failed, vertical_slash_params, DispatchError};
use crate::sparse::local::query_blocks::RunError;
use crate::sparse::local::strided::{self, StridedError, StridedParams};
use crate::sparse::local::{self, LocalError, LocalParams};
use sparsefill_compiler::interp::ArgValue;
use sparsefill_runtime::{Gpu, KernelCache};

/// Runs pattern `kind` over every head of `io` on `gpu`, writing `io.o`; an estimated
/// index is checked as `check` says.
pub fn run_pattern(
    gpu: &Gpu,
    cache: &KernelCache,
    io: DeviceAttention,
    kind: &PatternKind,
    check: IndexCheck,
) -> Result<DeviceOutput, DispatchError> {
    // The host dispatch's check, so that a pattern's bad values read the same on either side.
    check_params(kind)?;
    match *kind {
        PatternKind::Dense => Err(DispatchError::DenseOnDevice),
        PatternKind::AShape { n_init, n_local } => {
            run_local(gpu, cache, io, &LocalParams::a_shape(n_init, n_local)).map_err(failed("a_shape"))
        }
        PatternKind::TriShape { n_init, n_local, n_last } => {
            run_local(gpu, cache, io, &LocalParams::tri_shape(n_init, n_local, n_last)).map_err(failed("tri_shape"))
        }
        PatternKind::Strided { stride, n_local } => {
            run_strided(gpu, cache, io, &StridedParams { stride, n_local }).map_err(failed("strided"))
        }
        PatternKind::VerticalSlash { vertical, slash } => {
            let params = vertical_slash_params(vertical, slash);
            vertical_slash::run_on_device(gpu, cache, io, &params, check).map_err(failed("vertical_slash"))
        }
        PatternKind::BlockSparse { top_k } => {
            block_sparse::run(gpu, cache, io, &BlockSparseParams { top_k }, check).map_err(failed("block_sparse"))
        }
    }
}

/// A-shape or tri-shape (`kernels/sparse_local.tile`) over `io`.
pub fn run_local(
    gpu: &Gpu,
    cache: &KernelCache,
    io: DeviceAttention,
    params: &LocalParams,
) -> Result<DeviceOutput, LocalError> {
    params.validate()?;
    Ok(attend_without_index(gpu, cache, io, (local::KERNEL, local::SOURCE), &params.args())?)
}

/// Strided attention (`kernels/sparse_strided.tile`) over `io`.
pub fn run_strided(
    gpu: &Gpu,
    cache: &KernelCache,
    io: DeviceAttention,
    params: &StridedParams,
) -> Result<DeviceOutput, StridedError> {
    params.validate()?;
    Ok(attend_without_index(gpu, cache, io, (strided::KERNEL, strided::SOURCE), &params.args())?)
}

/// A pattern whose kernel needs no index, only its scalars `args`: `io` checked and
/// `cu_seqlens` uploaded ([`Problem::new`]), then the kernel queued ([`attend_with`]).
fn attend_without_index(
    gpu: &Gpu,
    cache: &KernelCache,
    io: DeviceAttention,
    (kernel, source): (&'static str, &str),
    args: &[ArgValue],
) -> Result<DeviceOutput, RunError> {
    let p = Problem::new(gpu, io)?;
    let lse = attend_with(gpu, cache, kernel, source, &p, args)?;
    Ok(DeviceOutput { lse, index: Vec::new() })
}
