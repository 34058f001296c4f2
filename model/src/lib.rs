//! sparsefill-model: runs LLaMA, Qwen2 and Mistral checkpoints in Hugging Face layout.
//!
//! [`Model::load`] reads `config.json`, the memory-mapped safetensors weights (single file or sharded) and
//! `tokenizer.json`; [`Model::prefill`] runs a prompt into the key/value cache with per-head attention
//! [`Patterns`]; [`Model::decode`] and [`Model::generate`] continue from there. The device is a
//! [`Backend`]: [`CpuBackend`] (host f32, the test backend) or, with the `gpu` feature, `CudaBackend` (bf16 on
//! the GPU: cuBLAS GEMMs and the `.tile` kernels of [`kernels`]). docs/runtime-api.md walks through the API.

pub mod backend;
pub mod checkpoint;
pub mod config;
mod error;
mod executor;
pub mod kernels;
pub mod patterns;
pub mod profile;
pub mod rope;
pub mod sampling;
pub mod search;
pub mod synthetic;
pub mod tokenizer;
pub mod weights;

pub use backend::{Backend, BackendError, CpuBackend};
#[cfg(feature = "gpu")]
pub use backend::{CudaBackend, CudaKvCache, CudaTensor};
pub use config::{Architecture, ConfigError, ModelConfig, WeightDType};
pub use error::ModelError;
pub use executor::{
    Event, FinishReason, GenerateOptions, Generation, LayerQkv, LoadOptions, Model, Observer, PrefillProgress,
};
pub use patterns::{Patterns, PatternsError};
pub use sampling::{Sampler, Sampling, SamplingError};
pub use tokenizer::Tokenizer;

/// docs/runtime-api.md, compiled and run as a doctest so that its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/runtime-api.md")]
pub struct RuntimeApiGuide;
