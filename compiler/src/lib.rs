//! sparsefill-compiler: the `.tile` language from source text to PTX.
//!
//! ```text
//! source ─syntax::parse─▶ AST ─check::specialize─▶ Tile IR ─passes─▶ Tile IR
//!    Tile IR ─interp─▶ CPU results (the reference semantics)
//!    Tile IR ─codegen─▶ LLVM IR ─NVPTX─▶ PTX
//! ```
//! See docs/ARCHITECTURE.md for each layer's invariants.

pub mod abi;
pub mod args;
pub mod check;
pub mod codegen;
pub mod diag;
pub mod interp;
pub mod ir;
pub mod passes;
pub mod syntax;
pub mod target;
pub mod tensor;

use ir::{ConstValue, Kernel};

/// Version of the compiler, part of every kernel-cache key ([`build_identity`]).
pub const COMPILER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A hash of the compiler's source (compiler/build.rs), part of every kernel-cache key
/// beside [`COMPILER_VERSION`]: two builds of one version whose code generators differ
/// must not share cached kernels.
pub const COMPILER_SOURCE_HASH: &str = env!("SPARSEFILL_COMPILER_SOURCE_HASH");

/// What identifies the code generator in a kernel-cache key: the version, the source
/// hash and the LLVM that lowers to PTX.
pub fn build_identity() -> String {
    let (major, minor, patch) = inkwell::support::get_llvm_version();
    format!("{COMPILER_VERSION}+{COMPILER_SOURCE_HASH}+llvm{major}.{minor}.{patch}")
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// Parse or type errors; render them with the source via `Diagnostics::render`.
    #[error("{0}")]
    Frontend(#[from] diag::Diagnostics),
    /// The front end or a pass produced IR that breaks an invariant: a compiler bug.
    #[error("internal compiler error: {0}")]
    Verify(#[from] ir::verify::VerifyError),
    #[error("{0}")]
    Codegen(#[from] codegen::CodegenError),
}

/// Source text to one verified, optimized Tile IR specialization.
/// `kernel` picks a kernel by name when the file holds several.
pub fn lower_source(src: &str, kernel: Option<&str>, consts: &[(String, ConstValue)]) -> Result<Kernel, CompileError> {
    let file = syntax::parse(src)?;
    let mut ir = check::specialize(&file, kernel, consts)?;
    ir::verify::verify(&ir)?;
    passes::run_default(&mut ir);
    ir::verify::verify(&ir)?;
    Ok(ir)
}

/// Tile IR to PTX for `arch`.
pub fn compile_ir(kernel: &Kernel, arch: target::Arch) -> Result<codegen::PtxModule, CompileError> {
    Ok(codegen::emit(kernel, arch)?)
}

/// [`compile_ir`] with code generation options.
pub fn compile_ir_with(
    kernel: &Kernel,
    arch: target::Arch,
    options: &codegen::CodegenOptions,
) -> Result<codegen::PtxModule, CompileError> {
    Ok(codegen::emit_with(kernel, arch, options)?)
}
