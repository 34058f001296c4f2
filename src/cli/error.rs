//! Errors the CLI reports, with the context (file, flag) a user needs to fix them.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Stdout(#[from] super::stdout::StdoutError),
    #[error("invalid --const `{given}`: {why}")]
    Const { given: String, why: String },
    #[error("--aligned `{given}`: kernel `{kernel}` has no tensor parameter of that name (its tensors: {tensors})")]
    Aligned { given: String, kernel: String, tensors: String },
    #[error(transparent)]
    Arch(#[from] sparsefill_compiler::target::UnknownArch),
    /// Source diagnostics, already rendered against the file.
    #[error("{rendered}")]
    Source { rendered: String },
    #[error("{0}")]
    Compile(#[from] sparsefill_compiler::CompileError),
    #[error("--ptxas assembles the PTX, so it takes --emit ptx, llvm or sass; got --emit {emit}")]
    PtxasStage { emit: String },
    #[error(transparent)]
    Ptxas(#[from] sparsefill_compiler::codegen::ptxas::PtxasError),
    #[error("--emit sass: {0}")]
    Sass(#[from] sparsefill_compiler::codegen::cuobjdump::CuobjdumpError),
    #[error("{0}")]
    Runtime(#[from] sparsefill_runtime::RuntimeError),
    #[error("{0}")]
    Interp(#[from] sparsefill_compiler::interp::InterpError),
    #[error("{failed} of {total} demo checks failed (see the table above)")]
    DemoFailed { failed: usize, total: usize },
    #[error("demo: {what}: {why}")]
    Demo { what: String, why: String },
    #[error(transparent)]
    Attn(#[from] super::attn::AttnError),
    #[error(transparent)]
    Generate(#[from] super::generate::GenerateError),
    #[error(transparent)]
    Bench(#[from] super::bench::BenchError),
}
