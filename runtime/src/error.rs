//! Every way the runtime can fail. Each variant names the broken constraint, the value
//! that broke it and what is supported, so a caller can print it as is.

use std::path::PathBuf;

use sparsefill_compiler::args::ArgError;
use sparsefill_compiler::interp::InterpError;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::CompileError;

use crate::assembler::ASSEMBLER_ENV;
use crate::layout::LayoutError;
use sparsefill_compiler::codegen::ptxas::PtxasError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the CUDA driver library could not be loaded (looked for {searched}); install the NVIDIA driver \
         or add the directory holding libcuda.so to LD_LIBRARY_PATH"
    )]
    NoDriver { searched: String },
    #[error("the CUDA driver is present but reports no GPU")]
    NoDevice,
    #[error("GPU {ordinal} does not exist; this machine has {count} GPU(s), numbered from 0")]
    NoSuchDevice { ordinal: usize, count: usize },
    #[error("GPU `{name}` has compute capability {major}.{minor}; supported: 8.0 and newer (sm_80, sm_90a)")]
    UnsupportedDevice { name: String, major: i32, minor: i32 },
    #[error("SPARSEFILL_ARCH={requested} cannot run on `{name}` ({device}); supported there: {supported}")]
    ArchOverride { requested: String, name: String, device: Arch, supported: String },
    #[error("{call} failed: {name} ({description})")]
    Cuda { call: &'static str, name: String, description: String },
    #[error(transparent)]
    Args(#[from] ArgError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("cannot evaluate the launch grid of `{kernel}`: {source}")]
    Grid { kernel: String, source: InterpError },
    #[error("launch grid of `{kernel}` has {value} programs along axis {axis}; CUDA allows at most {max}")]
    GridTooLarge { kernel: String, axis: usize, value: u32, max: u32 },
    #[error(
        "argument `{param}` of `{kernel}` breaks the `aligned` contract the kernel was compiled with: {why}; \
         pass a 16-byte-aligned tensor with a contiguous last dimension and other strides in multiples of 16 bytes, \
         or launch a kernel compiled without the contract"
    )]
    Misaligned { kernel: String, param: String, why: crate::layout::Misalignment },
    #[error("argument `{param}` of `{kernel}` cannot be described by the TMA tensor map the kernel copies it through: {source}")]
    TensorMap { kernel: String, param: String, source: crate::tensor_map::TensorMapError },
    #[error("internal error: launch arguments of `{kernel}` do not match PTX parameter {index} of the kernel ABI")]
    AbiMismatch { kernel: String, index: usize },
    #[error("{ASSEMBLER_ENV}={requested} is not an assembler; supported: ptxas, driver (unset: ptxas when found, else driver)")]
    AssemblerChoice { requested: String },
    #[error("choosing the assembler: {source}")]
    Assembler { source: PtxasError },
    #[error("assembling the PTX of `{entry}` with ptxas failed (set {ASSEMBLER_ENV}=driver to use the driver's JIT): {source}")]
    Assemble { entry: String, source: PtxasError },
    #[error("linking the PTX of `{entry}` into a cubin failed at {call}: {name}\n{log}")]
    Link { entry: String, call: &'static str, name: String, log: String },
    #[error(
        "kernel `{entry}` runs {threads} threads per block, but its compiled code ({regs} registers per thread) \
         allows at most {max} on this GPU"
    )]
    TooManyThreads { entry: String, threads: u32, regs: i32, max: i32 },
    #[error("{what} contains a NUL byte at position {position}; the CUDA driver takes NUL-terminated text")]
    InteriorNul { what: String, position: usize },
    #[error("{what}: got {got} {unit}, but a {dtype} tensor of shape {shape:?} needs {expected}")]
    TensorShape { what: &'static str, shape: Vec<usize>, dtype: DType, expected: usize, got: usize, unit: &'static str },
    #[error("a {dtype} tensor of shape {shape:?} needs more bytes than this machine can address")]
    TensorTooLarge { shape: Vec<usize>, dtype: DType },
    #[error("{context}: {source}")]
    Layout { context: String, source: LayoutError },
    #[error("{what} lives on another GPU context than the one it is used with; move it with download/upload")]
    WrongDevice { what: String },
    #[error("kernel cache: cannot {op} `{path}`: {source}")]
    CacheIo { op: &'static str, path: PathBuf, source: std::io::Error },
}
