//! sparsefill: dynamic sparse attention for long-context pre-fill, with kernels
//! generated from the `.tile` language through LLVM's NVPTX back end.
//!
//! This facade re-exports the workspace crates; the `sparsefill` binary is the CLI.

pub use sparsefill_compiler as compiler;
pub use sparsefill_model as model;
pub use sparsefill_patterns as patterns;
pub use sparsefill_runtime as runtime;
