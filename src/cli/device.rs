//! `--device`: where `attn`, `generate` and `search` run, and why a model command cannot
//! have the CUDA backend.

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// The host: the CPU interpreter for kernels, the f32 CPU backend for models.
    Cpu,
    /// The GPU: the generated kernels, and for models bf16 with cuBLAS (a build with `--features gpu`).
    Cuda,
}

/// Why a model command has no CUDA backend.
#[derive(Debug, thiserror::Error)]
pub enum ModelDeviceError {
    #[cfg(not(feature = "gpu"))]
    #[error(
        "--device cuda needs a build with the `gpu` feature (cargo build --release --features gpu); use --device cpu"
    )]
    CudaUnsupported,
    #[cfg(feature = "gpu")]
    #[error("--device cuda: {0}")]
    Cuda(sparsefill_model::BackendError),
}

/// The model backend on the first GPU.
#[cfg(feature = "gpu")]
pub fn cuda_backend() -> Result<sparsefill_model::CudaBackend, ModelDeviceError> {
    sparsefill_model::CudaBackend::new(0).map_err(ModelDeviceError::Cuda)
}
