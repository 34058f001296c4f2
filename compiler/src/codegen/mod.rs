//! STUB (codegen helper replaces the body, keeps these names): Tile IR → LLVM IR → PTX.
use crate::ir::Kernel;
use crate::target::Arch;

/// One kernel's generated code and what a launch needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtxModule {
    pub ptx: String,
    pub llvm_ir: String,
    /// The `.entry` name in `ptx`.
    pub entry: String,
    /// Threads per block (blockDim.x); blockDim.y = blockDim.z = 1.
    pub threads: u32,
    /// Static shared memory the kernel declares, in bytes.
    pub shared_bytes: u32,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CodegenError {
    #[error("code generation does not support {what}; supported: {supported}")]
    Unsupported { what: String, supported: String },
    #[error("LLVM failed: {0}")]
    Llvm(String),
}

pub fn emit(_kernel: &Kernel, _arch: Arch) -> Result<PtxModule, CodegenError> {
    Err(CodegenError::Unsupported { what: "anything yet".into(), supported: "nothing (stub)".into() })
}
