//! `sparsefill attn`: one attention layer read from a safetensors file, run through a
//! pattern (on the CPU interpreter or a GPU), written to a safetensors file with the
//! index the pattern used; optionally with its recall against dense attention.

mod io;
// `bench --patterns` parses with the same parser.
pub(super) mod pattern;
mod report;

use super::device::Device;
use super::paths::{check_output, OutputPathError};
use super::stdout;
use super::CliError;
use std::path::PathBuf;

use sparsefill_patterns::sparse::local::query_blocks::Backend;
use sparsefill_patterns::{recall, sparse};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

const AFTER_HELP: &str = "\
Patterns (--pattern NAME[:KEY=VALUE,...]; counts are tokens unless noted):
  dense                                  every causal key (the dense kernel)
  a_shape:n_init=N,n_local=N             N sink tokens plus a window of the N nearest keys
  tri_shape:n_init=N,n_local=N,n_last=N  a_shape plus every key for the last N queries
  vertical_slash:vertical=N,slash=N      the top N columns and top N diagonals, estimated
                                         from the last 64 queries
  block_sparse:top_k=N                   the top N 64-key blocks of each 64-row query block
  strided:stride=N,n_local=N             every N-th 64-key block plus the N nearest keys
e.g. --pattern a_shape:n_init=64,n_local=256

Input: q [B, H, S, D], k and v [B, HKV, S, D]; bf16, f16 or f32 (rounded to bf16, what
the kernels read); HKV divides H; D is a power of two from 16 to 128. Attention is causal.
Output: o [B, H, S, D] bf16, lse [B, H, S] f32 (natural log), and the index tensors the
pattern used (block_count, block_offset, column_count, column_index or block_index).
With --config, heads are grouped by pattern: each group runs on its own heads, its
index tensors are named group<i>.<name>, and group<i>.heads lists its heads.";

/// Run one attention layer through a sparse pattern.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct AttnArgs {
    /// safetensors file holding q, k and v.
    #[arg(long)]
    input: PathBuf,
    /// safetensors file to write o, lse and the index tensors to.
    #[arg(long)]
    output: PathBuf,
    /// The pattern every head runs: NAME[:KEY=VALUE,...] (see below).
    #[arg(long, value_name = "NAME[:ARGS]", required_unless_present = "config", conflicts_with = "config")]
    pattern: Option<String>,
    /// Per-head patterns: our JSON format or MInference's (docs/patterns-config.md).
    #[arg(long, value_name = "CONFIG.json")]
    config: Option<PathBuf>,
    /// The config's layer to take the per-head patterns from [default: 0].
    // An Option, not a default, and a conflict with --pattern: clap checks neither a default nor `requires`
    // where the required argument conflicts with one given, so `--pattern P --layer 5` would be taken and
    // the layer ignored.
    #[arg(long, requires = "config", conflicts_with = "pattern")]
    layer: Option<usize>,
    /// Where to run: the CPU interpreter, or a GPU (a build with the `gpu` feature).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// Print each head's recall (share of the softmax mass kept) and o's error against
    /// dense attention computed in f64.
    #[arg(long)]
    recall: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AttnError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not a safetensors file: {why}", path.display())]
    NotSafetensors { path: PathBuf, why: String },
    #[error("`{}` has no tensor `{name}` (it holds: {}); attn reads q [B, H, S, D], k and v [B, HKV, S, D]", path.display(), present.join(", "))]
    MissingTensor { path: PathBuf, name: &'static str, present: Vec<String> },
    #[error("tensor `{name}` is {dtype}; supported: bf16, f16, f32")]
    Dtype { name: &'static str, dtype: String },
    #[error("tensor `{name}` must have rank 4 ({layout}); got shape {got:?}")]
    Rank { name: &'static str, layout: &'static str, got: Vec<usize> },
    #[error("tensor `{name}` has {what} {got} but q has {expected}")]
    Mismatch { name: &'static str, what: &'static str, got: usize, expected: usize },
    #[error("tensor `q` has no heads (shape [B, 0, S, D]); attention needs at least one")]
    NoHeads,
    #[error("tensor `v` must have the shape of `k`, {k:?}; got {v:?}")]
    ValueShape { k: Vec<usize>, v: Vec<usize> },
    #[error("{0}")]
    Shape(#[from] sparsefill_patterns::attention::ShapeError),
    #[error("unknown pattern `{name}`; known: {}", sparsefill_patterns::config::PATTERNS.join(", "))]
    UnknownPattern { name: String },
    #[error("invalid --pattern `{given}`: {why} (see `sparsefill attn --help`)")]
    PatternArgs { given: String, why: String },
    #[error("{0}")]
    Config(#[from] sparsefill_patterns::config::ConfigError),
    #[error("--layer {layer} is out of range: `{}` has {layers} layer{}", path.display(), if *layers == 1 { "" } else { "s" })]
    Layer { path: PathBuf, layer: usize, layers: usize },
    #[error("`{}` configures {config} heads per layer but q has {heads}", path.display())]
    ConfigHeads { path: PathBuf, config: usize, heads: usize },
    #[error("pattern `{pattern}`: {source}")]
    Pattern { pattern: &'static str, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("--device cuda needs a build with the `gpu` feature (cargo build --release --features gpu); this build runs patterns on the CPU interpreter only (--device cpu)")]
    NoGpuBuild,
    #[error("--device cuda: cannot use the GPU: {0}")]
    Gpu(#[from] sparsefill_runtime::RuntimeError),
    #[error("{0}")]
    Recall(#[from] recall::RecallError),
    #[error("cannot encode the output: {0}")]
    Encode(String),
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Output(#[from] OutputPathError),
    #[error(transparent)]
    Stdout(#[from] super::stdout::StdoutError),
}

/// The CLI's entry point for `attn`. CliError has no variant for attn's errors yet, so
/// they reach the user through `Source`, which prints a message as it is.
pub fn run(args: AttnArgs) -> Result<(), CliError> {
    Ok(execute(&args)?)
}

fn execute(args: &AttnArgs) -> Result<(), AttnError> {
    let device = open_device(args.device)?;
    let backend = match &device {
        Some((gpu, cache)) => Backend::Gpu { gpu, cache },
        None => Backend::Interp,
    };
    let plan = match (&args.pattern, &args.config) {
        (Some(spec), _) => pattern::Plan::single(spec)?,
        (None, Some(path)) => pattern::Plan::from_config(path, args.layer.unwrap_or(0))?,
        (None, None) => return Err(AttnError::PatternArgs { given: String::new(), why: "no pattern given".into() }),
    };
    let mut inputs = vec![args.input.as_path()];
    inputs.extend(args.config.as_deref());
    check_output("--output", &args.output, &inputs)?;
    let batch = io::read(&args.input)?;
    plan.check_heads(batch.inputs.q.shape[1])?;
    let output = plan.run(&batch.inputs, &backend)?;
    if let Some(warning) = nan_warning(&output) {
        eprintln!("{warning}");
    }
    if args.recall {
        stdout::print(&report::recall_table(&batch.inputs, &output)?)?;
    }
    io::write(&args.output, &batch, &output, &plan.describe())?;
    let names: Vec<&str> = ["o", "lse"].into_iter().chain(output.index.iter().map(|(n, _)| n.as_str())).collect();
    stdout::line(&format!("wrote {} to {}", names.join(", "), args.output.display()))?;
    Ok(())
}

/// A warning when o or lse holds NaN, which no pattern produces from finite scores (a row with no key
/// gets o = 0 and lse = -inf): non-finite inputs, or scores past f32's range.
fn nan_warning(output: &sparse::SparseOutput) -> Option<String> {
    let nan = |data: &[f64]| data.iter().filter(|x| x.is_nan()).count();
    let (o, lse) = (nan(&output.o.data), nan(&output.lse.data));
    (o + lse > 0).then(|| {
        format!(
            "warning: the output holds NaN ({o} of o's {} elements, {lse} of lse's {}): check q, k and v for \
             non-finite values or scores past f32's range",
            output.o.data.len(),
            output.lse.data.len()
        )
    })
}

/// The GPU and its kernel cache for `--device cuda`; nothing for the interpreter.
fn open_device(device: Device) -> Result<Option<(Gpu, KernelCache)>, AttnError> {
    match device {
        Device::Cpu => Ok(None),
        Device::Cuda if cfg!(feature = "gpu") => {
            let gpu = Gpu::new(0)?;
            let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
            Ok(Some((gpu, cache)))
        }
        Device::Cuda => Err(AttnError::NoGpuBuild),
    }
}
