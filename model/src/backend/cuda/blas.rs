//! cuBLAS, loaded at run time like the driver: bf16 GEMMs with f32 accumulation on the backend's stream.

use crate::backend::BackendError;
use cudarc::cublas::result::{gemm_ex, CublasError};
use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};
use cudarc::cublas::CudaBlas;
use sparsefill_runtime::{DeviceTensor, Gpu};
use std::ffi::{c_int, c_void};

pub(super) struct Blas {
    handle: CudaBlas,
}

fn failed(call: &'static str) -> impl FnOnce(CublasError) -> BackendError {
    move |e| BackendError::Cublas { call, status: format!("{:?}", e.0) }
}

fn dim(what: &'static str, value: usize) -> Result<c_int, BackendError> {
    c_int::try_from(value).map_err(|_| BackendError::Unsupported {
        op: "matmul",
        backend: "cuda",
        what: format!("{what} {value}"),
        supported: "matrix dimensions up to 2^31 - 1 (cuBLAS takes 32-bit sizes)",
    })
}

impl Blas {
    /// A cuBLAS handle on `gpu`'s stream. cudarc panics on the first call into a library it cannot load, so
    /// the library is looked for first and its absence is an error naming the file names tried.
    pub(super) fn new(gpu: &Gpu) -> Result<Blas, BackendError> {
        // SAFETY: only tries to dlopen the candidate library names.
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            return Err(BackendError::NoCublas { searched: cudarc::get_lib_name_candidates("cublas").join(", ") });
        }
        let handle = CudaBlas::new(gpu.stream().clone()).map_err(failed("cublasCreate"))?;
        Ok(Blas { handle })
    }

    /// `y [rows, out] = x [rows, inner] · wᵀ` for `w [out, inner]`, all row-major bf16, accumulated in f32.
    ///
    /// cuBLAS is column-major: row-major `y` is column-major `yᵀ [out, rows]`, and `yᵀ = w · xᵀ` where `w`'s
    /// row-major storage is column-major `wᵀ [inner, out]` (so transposed, `T`) and `x`'s is `xᵀ [inner, rows]`
    /// (`N`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gemm(
        &self,
        gpu: &Gpu,
        x: &DeviceTensor,
        w: &DeviceTensor,
        y: &DeviceTensor,
        rows: usize,
        inner: usize,
        out: usize,
    ) -> Result<(), BackendError> {
        // y is zero-filled at allocation: an empty product leaves it so (cuBLAS refuses zero sizes).
        if rows == 0 || inner == 0 || out == 0 {
            return Ok(());
        }
        let (m, n, k) = (dim("out_features", out)?, dim("rows", rows)?, dim("in_features", inner)?);
        let a = w.device_address(gpu, "the matmul weight")?;
        let b = x.device_address(gpu, "the matmul input")?;
        let c = y.device_address(gpu, "the matmul output")?;
        let (alpha, beta) = (1f32, 0f32);
        gpu.stream()
            .context()
            .bind_to_thread()
            .map_err(|e| BackendError::Cublas { call: "cuCtxSetCurrent", status: format!("{:?}", e.0) })?;
        // SAFETY: a, b and c are checked addresses of live bf16 buffers of out·inner, rows·inner and out·rows
        // elements (device_address checks each view against its buffer; the callers' shapes give the
        // counts); alpha and beta are host f32s, as CUBLAS_COMPUTE_32F's default pointer mode reads them;
        // the handle's stream is the GPU's, so the product is ordered with every other use of the buffers.
        unsafe {
            gemm_ex(
                *self.handle.handle(),
                cublasOperation_t::CUBLAS_OP_T,
                cublasOperation_t::CUBLAS_OP_N,
                m,
                n,
                k,
                (&alpha as *const f32).cast::<c_void>(),
                a as *const c_void,
                cudaDataType::CUDA_R_16BF,
                k,
                b as *const c_void,
                cudaDataType::CUDA_R_16BF,
                k,
                (&beta as *const f32).cast::<c_void>(),
                c as *mut c_void,
                cudaDataType::CUDA_R_16BF,
                m,
                cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(failed("cublasGemmEx"))
    }
}
