//! Tile IR → LLVM IR (through inkwell) → PTX, with LLVM's NVPTX back end.
//!
//! One program is one CTA: `program_id(a)` is `ctaid.{x,y,z}`, and the kernel runs
//! `32 * num_warps` threads along x. Scalars (rank-0 values) are uniform: every thread
//! computes them in registers. Tiles are spread over the threads by the one canonical
//! layout in `layout`; elementwise ops work register by register, and everything that
//! moves elements between threads (broadcasts, layout changes, reductions) goes through
//! shuffles or one statically sized shared-memory buffer that is reused op after op.
//!
//! The kernel assumes the IR passed [`crate::ir::verify::verify`]; IR that breaks an
//! invariant the lowering relies on gives [`CodegenError::InvalidIr`], never a panic.
//! Integer division by zero is undefined on the GPU (the interpreter reports it).

mod bin_sum;
mod build;
mod context;
mod convert;
pub mod cuobjdump;
mod divisibility;
mod dot;
mod layout;
mod lower;
mod memory;
mod operand_tile;
mod ops;
mod pingpong;
mod plan;
mod prefetch;
pub mod ptxas;
mod reduce;
mod rescale;
mod scan;
mod shared;
mod specialize;
mod target;
mod toolkit;

pub use specialize::Split;

/// The register file of one SM (sm_80 and sm_90), in 32-bit registers.
pub const REGISTERS_PER_SM: u32 = 65536;
/// A warp's registers are allocated 256 at a time, 8 a thread; `setmaxnreg` takes
/// multiples of 8 too.
pub const REGISTER_STEP: u32 = 8;
#[cfg(test)]
mod tests;
mod tma;
mod wgmma;

use inkwell::context::Context;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::FileType;

use crate::ir::Kernel;
use crate::target::Arch;

/// One kernel's generated code and what a launch needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtxModule {
    pub ptx: String,
    /// The module after the middle-end pipeline (`MIDDLE_END_PIPELINE`), as the PTX was generated from it.
    pub llvm_ir: String,
    /// The `.entry` name in `ptx`.
    pub entry: String,
    /// Threads per block (blockDim.x); blockDim.y = blockDim.z = 1.
    pub threads: u32,
    /// Static shared memory the kernel declares, in bytes.
    pub shared_bytes: u32,
    /// The TMA tensor maps the kernel takes after its parameters
    /// ([`crate::abi::kernel_abi`]); empty unless it copies tiles with TMA.
    pub tensor_maps: Vec<crate::abi::TensorMap>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    #[error("code generation does not support {what}; supported: {supported}")]
    Unsupported { what: String, supported: String },
    #[error("tile {ty} needs {per_thread} elements per thread over {threads} threads; at most {limit} are supported")]
    TileTooLarge { ty: String, threads: u32, per_thread: u64, limit: u64 },
    #[error(
        "`{op}` needs {bytes} bytes of shared memory (with the buffers before it{}); at most {limit} bytes per block are supported",
        held_list(.held)
    )]
    SharedMemory {
        op: String,
        bytes: u64,
        limit: u64,
        /// The buffers already held when `op` asked, each `what: N bytes`.
        held: Vec<String>,
    },
    #[error("invalid Tile IR reached code generation (run ir::verify first): {0}")]
    InvalidIr(String),
    #[error("LLVM failed: {0}")]
    Llvm(String),
}

/// `: a; b` after "with the buffers before it", or nothing when there are none.
fn held_list(held: &[String]) -> String {
    if held.is_empty() {
        String::new()
    } else {
        format!(": {}", held.join("; "))
    }
}

impl From<inkwell::builder::BuilderError> for CodegenError {
    fn from(e: inkwell::builder::BuilderError) -> CodegenError {
        CodegenError::Llvm(e.to_string())
    }
}

/// LLVM's middle-end passes run on the lowered kernel. The lowering already emits
/// straight-line code with constant register indices, and ptxas optimizes again, so
/// `default<O3>` bought nothing measurable (same instruction count within 5%, same
/// ptxas register counts for the shipped kernels) while taking 30-50 ms of a
/// 60-75 ms cold compile; these three passes clean up what the lowering leaves
/// (allocas, repeated address math, empty blocks) in about 2 ms.
const MIDDLE_END_PIPELINE: &str = "function(sroa,early-cse,simplifycfg)";

/// How `dot` runs on the tensor cores of targets that have a choice (sm_90a).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MmaLowering {
    /// `mma.sync` per warp, operands through `ldmatrix` — every target.
    MmaSync,
    /// `wgmma.mma_async` per warpgroup where the target has it (sm_90a) and the dot's
    /// warps allow it; `mma.sync` elsewhere. The default: with 128-byte swizzled operands
    /// and loop accumulators that complete a loop later it runs GEMM and attention about
    /// 1.6x faster than `MmaSync` on an H200 (docs/perf/2026-11-28-h200-swizzle.md).
    #[default]
    Wgmma,
}

impl MmaLowering {
    pub const ALL: [MmaLowering; 2] = [MmaLowering::MmaSync, MmaLowering::Wgmma];

    pub fn name(self) -> &'static str {
        match self {
            MmaLowering::MmaSync => "mma.sync",
            MmaLowering::Wgmma => "wgmma",
        }
    }
}

impl std::str::FromStr for MmaLowering {
    type Err = String;

    fn from_str(s: &str) -> Result<MmaLowering, String> {
        parse_named(&MmaLowering::ALL, MmaLowering::name, "mma lowering", s)
    }
}

/// The choice among `choices` whose `name` is `given`, or an error naming `what` was
/// asked for and every supported name.
fn parse_named<T: Copy>(choices: &[T], name: fn(T) -> &'static str, what: &str, given: &str) -> Result<T, String> {
    choices.iter().copied().find(|&c| name(c) == given).ok_or_else(|| {
        let names: Vec<_> = choices.iter().map(|&c| name(c)).collect();
        format!("unknown {what} `{given}`; supported: {}", names.join(", "))
    })
}

/// Which loops take ping-pong turns between warpgroups (`codegen::pingpong`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PingPong {
    /// No loop does. The default: with a producer warpgroup (`codegen::specialize`, the
    /// default since session 13) dense attention with 128-key tiles, the one shipped loop
    /// that took turns, ran 0.978–0.993x the time with turns causal and 0.989–1.003x
    /// non-causal, in two calls on an H200 (docs/perf/2026-11-30-h200-session33.md, rounds
    /// 1 and 5).
    #[default]
    Off,
    /// Loops whose products are all at least [`PingPong::WIDE`] columns wide. Before the
    /// producer warpgroup, attention with 128-key tiles ran 2–8% faster with turns at every
    /// shape, and with 64-key tiles 5–13% slower, its score products being too short to
    /// hide a softmax behind (docs/perf/2026-11-28-h200-session10.md, round 1).
    Wide,
    /// Every loop that issues its products and then uses them.
    All,
}

impl PingPong {
    pub const ALL: [PingPong; 3] = [PingPong::Off, PingPong::Wide, PingPong::All];
    /// The narrowest product (columns of its result) of a loop that takes turns under `Wide`.
    pub const WIDE: u32 = 128;

    pub fn name(self) -> &'static str {
        match self {
            PingPong::Off => "off",
            PingPong::Wide => "wide",
            PingPong::All => "all",
        }
    }
}

impl std::str::FromStr for PingPong {
    type Err = String;

    fn from_str(s: &str) -> Result<PingPong, String> {
        parse_named(&PingPong::ALL, PingPong::name, "ping-pong choice", s)
    }
}

/// Whether a kernel gets a producer warpgroup (`codegen::specialize`): on sm_90a with `wgmma` and
/// TMA, for kernels of whole warpgroups with a loop whose tiles all go through TMA; others
/// are lowered as with `Off`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Specialize {
    /// No producer: the kernel's own warps issue the copies.
    Off,
    /// A producer warpgroup, with registers moved from it to the kernel's warps by
    /// `setmaxnreg`; it starts a loop's copies when the kernel's warps reach the loop. On an
    /// H200 it ran dense attention 5–12% faster than `Off` in the same call and the GEMM the
    /// same; the sparse kernels' computed tiles ran 10–17% faster than session 12 measured
    /// them without it (docs/perf/2026-11-29-h200-session13.md).
    #[default]
    Producer,
    /// As `Producer`, and a loop on shared memory no earlier code touched starts its copies
    /// at kernel start, while the kernel's warps run what comes before it.
    Early,
}

impl Specialize {
    pub const ALL: [Specialize; 3] = [Specialize::Off, Specialize::Producer, Specialize::Early];

    pub fn name(self) -> &'static str {
        match self {
            Specialize::Off => "off",
            Specialize::Producer => "producer",
            Specialize::Early => "early",
        }
    }
}

impl std::str::FromStr for Specialize {
    type Err = String;

    fn from_str(s: &str) -> Result<Specialize, String> {
        parse_named(&Specialize::ALL, Specialize::name, "warp specialization", s)
    }
}

/// Code generation choices that change the PTX of one kernel for one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodegenOptions {
    pub mma: MmaLowering,
    /// Copy prefetched tiles of `aligned` tensors with TMA where the target has it
    /// (sm_90a with `wgmma`, `codegen::tma`); otherwise every copy is `cp.async`.
    pub tma: bool,
    /// In a loop whose prefetched tiles all go through TMA, each warp releases the stage
    /// it is done with on a per-stage mbarrier and the issuing thread waits for that
    /// stage alone, instead of every thread meeting at a CTA barrier each iteration, so
    /// warpgroups need not run in lockstep (`codegen::tma`). Off by default: correct on the
    /// GPU and not faster (docs/perf/2026-11-28-h200-session7.md).
    pub decoupled: bool,
    /// Which loops let warpgroups take turns at issuing their `wgmma` products (a loop
    /// that issues its products and then uses them), with the loop's stages released as
    /// with `decoupled` (`codegen::pingpong`).
    pub pingpong: PingPong,
    /// Whether the program gets a producer warpgroup that issues the TMA copies of its
    /// loops while the kernel's own warps compute (`codegen::specialize`), and when its copies start.
    pub specialize: Specialize,
}

impl Default for CodegenOptions {
    fn default() -> CodegenOptions {
        CodegenOptions {
            mma: MmaLowering::default(),
            tma: true,
            decoupled: false,
            pingpong: PingPong::default(),
            specialize: Specialize::default(),
        }
    }
}

/// How `kernel` shares the registers with a producer warpgroup when compiled for `arch`
/// with `options` (`codegen::specialize`), or why it gets none.
pub fn producer_split(kernel: &Kernel, arch: Arch, options: &CodegenOptions) -> Result<Split, String> {
    let plan = plan::assign(kernel).map_err(|e| e.to_string())?;
    lower::specialization(kernel, arch, options, &plan.placements).map(|(split, _)| split)
}

impl std::str::FromStr for CodegenOptions {
    type Err = String;

    /// The default options with the fields named in `s` changed: comma-separated
    /// `field=value` pairs, fields `mma`, `tma` (0 or 1), `decoupled` (0 or 1), `pingpong`
    /// and `specialize` with their choices' names (`specialize=early,pingpong=all`); empty
    /// is the default.
    fn from_str(s: &str) -> Result<CodegenOptions, String> {
        let mut options = CodegenOptions::default();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value) = pair.split_once('=').ok_or_else(|| format!("`{pair}` is not `field=value`"))?;
            let flag = |value: &str| match value {
                "0" => Ok(false),
                "1" => Ok(true),
                other => Err(format!("`{field}` takes 0 or 1; got `{other}`")),
            };
            match field.trim() {
                "mma" => options.mma = value.parse()?,
                "tma" => options.tma = flag(value)?,
                "decoupled" => options.decoupled = flag(value)?,
                "pingpong" => options.pingpong = value.parse()?,
                "specialize" => options.specialize = value.parse()?,
                other => {
                    return Err(format!(
                        "unknown code generation option `{other}`; the options are mma, tma, decoupled, pingpong, specialize"
                    ))
                }
            }
        }
        Ok(options)
    }
}

/// Compiles one specialized kernel to PTX for `arch` with the default options.
pub fn emit(kernel: &Kernel, arch: Arch) -> Result<PtxModule, CodegenError> {
    emit_with(kernel, arch, &CodegenOptions::default())
}

/// Compiles one specialized kernel to PTX for `arch`. Safe to call from many threads.
pub fn emit_with(kernel: &Kernel, arch: Arch, options: &CodegenOptions) -> Result<PtxModule, CodegenError> {
    let machine = target::machine(arch)?;
    let context = Context::create();
    let module = context.create_module(&kernel.name);
    module.set_triple(&machine.get_triple());
    module.set_data_layout(&machine.get_target_data().get_data_layout());

    let lowered = lower::lower_kernel(&context, &module, kernel, arch, options)?;
    module.verify().map_err(|e| CodegenError::Llvm(format!("generated module does not verify: {e}")))?;
    module
        .run_passes(MIDDLE_END_PIPELINE, &machine, PassBuilderOptions::create())
        .map_err(|e| CodegenError::Llvm(format!("optimization pipeline: {e}")))?;
    let ptx = machine
        .write_to_memory_buffer(&module, FileType::Assembly)
        .map_err(|e| CodegenError::Llvm(format!("PTX emission: {e}")))?;
    Ok(PtxModule {
        ptx: String::from_utf8_lossy(ptx.as_slice()).into_owned(),
        llvm_ir: module.print_to_string().to_string(),
        entry: kernel.name.clone(),
        threads: lowered.threads,
        shared_bytes: lowered.shared_bytes,
        tensor_maps: lowered.tensor_maps,
    })
}
