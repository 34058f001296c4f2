//! Command-line definitions and dispatch; each subcommand lives in its own module.

mod attn;
mod bench;
mod compile;
mod demo;
mod device;
mod error;
mod generate;
mod gpu;
mod paths;
mod search;
mod stdout;
mod table;

pub use error::CliError;

use clap::{Parser, Subcommand, ValueEnum};
use sparsefill_compiler::codegen::CodegenOptions;
use std::path::PathBuf;

/// The command line's definition: [`Cli`]'s, with every argument that takes a value reading a negative
/// number as one, so that `--seed -1` is refused as an invalid seed (naming the flag) rather than as an
/// unknown option `-1`. (Flags take no value, and clap refuses the setting on them.)
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_subcommands(|sub| {
        sub.mut_args(|arg| if arg.get_action().takes_values() { arg.allow_negative_numbers(true) } else { arg })
    })
}

#[derive(Parser, Debug)]
#[command(name = "sparsefill", version, about = "Sparse-attention kernels generated from the .tile language")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile a .tile file and print one stage of the pipeline.
    Compile {
        /// The .tile source file.
        file: PathBuf,
        /// Kernel to compile when the file holds several.
        #[arg(long)]
        kernel: Option<String>,
        /// Set a const parameter, e.g. `--const BLOCK=1024`, `--const CAUSAL=false` or `--const DT=f16`.
        #[arg(long = "const", value_name = "NAME=VALUE")]
        consts: Vec<String>,
        /// Target architecture for `--emit llvm|ptx|sass`.
        #[arg(long, default_value = "sm_90a")]
        arch: String,
        /// The stage to print.
        #[arg(long, value_enum, default_value_t = Emit::Ptx)]
        emit: Emit,
        /// How `dot` runs on the tensor cores (`wgmma` applies on sm_90a only; sm_80 always runs `mma.sync`).
        #[arg(long, value_enum, default_value_t = Mma::Wgmma)]
        mma: Mma,
        /// Compile as the runtime does for a tensor argument that is 16-byte aligned with a
        /// contiguous last dimension (the `aligned` contract); repeat for several tensors.
        #[arg(long, value_name = "TENSOR")]
        aligned: Vec<String>,
        /// Release TMA stages per warp on mbarriers instead of a CTA barrier per iteration,
        /// as `SPARSEFILL_DECOUPLED=1` does in the runtime (docs/hopper.md).
        #[arg(long)]
        decoupled: bool,
        /// Which loops let warpgroups take turns at issuing their products (`wide`: those
        /// whose products are all at least 128 columns wide), as `SPARSEFILL_PINGPONG` picks
        /// in the runtime (docs/hopper.md).
        #[arg(long, value_enum, default_value_t = PingPongChoice::Off)]
        pingpong: PingPongChoice,
        /// Whether the program gets a producer warpgroup that issues the TMA copies (sm_90a),
        /// as `SPARSEFILL_SPECIALIZE` picks in the runtime (docs/hopper.md).
        #[arg(long, value_enum, default_value_t = SpecializeChoice::Producer)]
        specialize: SpecializeChoice,
        /// Assemble the PTX with `ptxas -v` and note its report on stderr: registers,
        /// spills, stack, and any hold-up of the wgmma pipeline (`--emit ptx`, `llvm` or `sass`).
        #[arg(long)]
        ptxas: bool,
    },
    /// Compile the foundation kernels and check them against their f64 references, then
    /// run every attention pattern on structured synthetic heads and check each against
    /// f64 attention over the keys it kept (on the GPU when one is present, else on the
    /// CPU interpreter); print the tables.
    Demo,
    /// Run one attention layer (q, k, v from a safetensors file) through a sparse pattern.
    Attn(attn::AttnArgs),
    /// Pre-fill a prompt through a LLaMA/Qwen2/Mistral checkpoint and generate from it.
    Generate(generate::GenerateArgs),
    /// Time sparse patterns against our dense kernel over context lengths (GPU).
    Bench(bench::BenchArgs),
    /// Search each head's sparse pattern on one sample, at a fixed kernel cost (docs/search.md).
    Search(search::SearchArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The parsed syntax tree.
    Ast,
    /// The specialized, optimized Tile IR (text form that parses back).
    Ir,
    /// LLVM IR before the NVPTX back end.
    Llvm,
    /// PTX assembly.
    Ptx,
    /// The SASS of the cubin ptxas assembles from the PTX (needs ptxas and cuobjdump).
    Sass,
}

/// The tensor-core lowering of `compile --mma`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mma {
    /// `mma.sync` per warp (every target).
    MmaSync,
    /// `wgmma.mma_async` per warpgroup on sm_90a.
    Wgmma,
}

/// `--pingpong`: [`sparsefill_compiler::codegen::PingPong`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PingPongChoice {
    /// No loop takes turns (the default).
    Off,
    /// Loops whose products are all at least 128 columns wide.
    Wide,
    /// Every loop that issues its products and then uses them.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SpecializeChoice {
    /// No producer warpgroup.
    Off,
    /// A producer warpgroup issues the copies of loops whose tiles all go through TMA (the default).
    Producer,
    /// As `producer`, and a loop on untouched shared memory starts its copies at kernel start.
    Early,
}

impl From<SpecializeChoice> for sparsefill_compiler::codegen::Specialize {
    fn from(s: SpecializeChoice) -> Self {
        use sparsefill_compiler::codegen::Specialize;
        match s {
            SpecializeChoice::Off => Specialize::Off,
            SpecializeChoice::Producer => Specialize::Producer,
            SpecializeChoice::Early => Specialize::Early,
        }
    }
}

impl From<PingPongChoice> for sparsefill_compiler::codegen::PingPong {
    fn from(p: PingPongChoice) -> Self {
        use sparsefill_compiler::codegen::PingPong;
        match p {
            PingPongChoice::Off => PingPong::Off,
            PingPongChoice::Wide => PingPong::Wide,
            PingPongChoice::All => PingPong::All,
        }
    }
}

impl From<Mma> for sparsefill_compiler::codegen::MmaLowering {
    fn from(m: Mma) -> Self {
        match m {
            Mma::MmaSync => sparsefill_compiler::codegen::MmaLowering::MmaSync,
            Mma::Wgmma => sparsefill_compiler::codegen::MmaLowering::Wgmma,
        }
    }
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Compile { file, kernel, consts, arch, emit, mma, aligned, decoupled, pingpong, specialize, ptxas } => {
            let options = CodegenOptions {
                mma: mma.into(),
                decoupled,
                pingpong: pingpong.into(),
                specialize: specialize.into(),
                ..CodegenOptions::default()
            };
            let target = compile::Target { arch: &arch, emit, options, ptxas };
            let out = compile::run(&file, kernel.as_deref(), &consts, &aligned, target)?;
            Ok(stdout::print(&out)?)
        }
        Command::Demo => demo::run(),
        Command::Generate(args) => generate::run(args),
        Command::Attn(args) => attn::run(args),
        Command::Search(args) => search::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

#[cfg(test)]
mod tests {
    /// Exactly the arguments that take a value read negative numbers. clap refuses the setting on a flag,
    /// but only in its debug checks, which a release build (every test here) compiles out: so this test
    /// checks the rule itself, and a flag given the setting would pass every other test and panic in a
    /// debug `cargo run`.
    #[test]
    fn negative_numbers_are_read_by_exactly_the_arguments_that_take_values() {
        for sub in super::command().get_subcommands() {
            for arg in sub.get_arguments() {
                let takes = arg.get_action().takes_values();
                assert_eq!(arg.is_allow_negative_numbers_set(), takes, "{} --{}", sub.get_name(), arg.get_id());
            }
        }
    }
}
