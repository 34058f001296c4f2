//! `sparsefill search`: the offline pattern search (docs/search.md). One sample runs through a checkpoint;
//! every head gets the candidate with the best recall among patterns sized to the same kernel cost. Writes
//! the per-head config (ours or MInference's), prints a per-layer progress line on stderr and the
//! comparison with every single fixed pattern on stdout.

use super::attn::{pattern, AttnError};
use super::device::{Device, ModelDeviceError};
use super::paths::{check_output, same_file, OutputPathError};
use super::stdout;
use super::table::Table;
use super::CliError;
use clap::{Args, ValueEnum};
use rand::{Rng, SeedableRng};
use sparsefill_model::search::{self, OutputFormat, QkSource, SearchError, SearchOptions, SearchProgress, Target};
use sparsefill_model::{LoadOptions, Model, ModelError};
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = "\
Cost: the 64x64 tiles plus 64-column chunks of gathered columns that the kernels compute on the
sample. Each family (A-shape, tri-shape, vertical-slash at three vertical:slash ratios, block-sparse)
is sized per head, by bisection, to the largest pattern that costs no more than the target.
Score: recall, the share of dense softmax mass kept, over the last 64 rows plus --score-rows rows
spread evenly over the sample.
--synthetic-qk replaces each layer's captured q/k/v with the synthetic generator's mixed heads
(for random-weight checkpoints, whose heads have no long-context structure); the config it gives
describes the generator, not the model.";

/// Search each head's sparse pattern on one sample (MInference's offline search).
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct SearchArgs {
    /// Checkpoint directory in Hugging Face layout: config.json, *.safetensors, tokenizer.json.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// A text file, tokenized with the checkpoint's tokenizer.
    #[arg(long, value_name = "FILE", required_unless_present = "random_tokens", conflicts_with = "random_tokens")]
    sample: Option<PathBuf>,
    /// Search on this many random token ids instead of a text (for benchmarking).
    #[arg(long, value_name = "N")]
    random_tokens: Option<usize>,
    /// Seed of --random-tokens and of --synthetic-qk.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the per-head config.
    #[arg(long, value_name = "CONFIG.json")]
    output: PathBuf,
    /// The reference pattern whose cost every candidate is sized to: NAME[:KEY=VALUE,...] as in `attn --pattern`.
    #[arg(
        long,
        value_name = "NAME[:ARGS]",
        default_value = "a_shape:n_init=1024,n_local=4096",
        conflicts_with = "target_density"
    )]
    target: String,
    /// Size candidates to this share of dense attention's tiles instead, in (0, 1].
    #[arg(long, value_name = "F")]
    target_density: Option<f64>,
    /// Rows scored besides the last 64, spread evenly over the sample.
    #[arg(long, value_name = "N", default_value_t = 128)]
    score_rows: usize,
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    #[arg(long, value_enum, default_value_t = Format::Ours)]
    format: Format,
    /// Also write every head's candidates and the comparison as JSON here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Search the synthetic generator's structured q/k/v instead of the model's (see below).
    #[arg(long)]
    synthetic_qk: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// sparsefill-patterns/1 (docs/patterns-config.md).
    Ours,
    /// MInference's per-layer array (no tri-shape candidates).
    Minference,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchCliError {
    #[error(transparent)]
    Device(#[from] ModelDeviceError),
    #[error("--target: {0}")]
    Target(AttnError),
    #[error("cannot read sample file `{}`: {source}", path.display())]
    Sample { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Output(#[from] OutputPathError),
    #[error("--report and --output are both `{}`: the report would overwrite the config", path.display())]
    SamePath { path: PathBuf },
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("{0}")]
    Search(#[from] SearchError),
    #[error("cannot write report `{}`: {source}", path.display())]
    Report { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Stdout(#[from] super::stdout::StdoutError),
}

/// CliError has no variant for the search's errors; `Source` prints a message as it is.
pub fn run(args: SearchArgs) -> Result<(), CliError> {
    execute(&args).map_err(|e| CliError::Source { rendered: e.to_string() })
}

fn execute(args: &SearchArgs) -> Result<(), SearchCliError> {
    match args.device {
        Device::Cpu => search_on(sparsefill_model::CpuBackend, args),
        #[cfg(feature = "gpu")]
        Device::Cuda => search_on(super::device::cuda_backend()?, args),
        #[cfg(not(feature = "gpu"))]
        Device::Cuda => Err(ModelDeviceError::CudaUnsupported.into()),
    }
}

/// The search with the model's forward pass on `backend`; the scoring runs on the host either way.
fn search_on<B: sparsefill_model::Backend>(backend: B, args: &SearchArgs) -> Result<(), SearchCliError> {
    let target = match args.target_density {
        Some(density) => Target::Density(density),
        None => Target::Pattern(pattern::parse(&args.target).map_err(SearchCliError::Target)?),
    };
    // Checked before the search, which can take hours, rather than when it ends.
    let sample_file: Vec<&Path> = args.sample.as_deref().into_iter().collect();
    check_output("--output", &args.output, &sample_file)?;
    if let Some(report) = &args.report {
        check_output("--report", report, &sample_file)?;
        if same_file(report, &args.output) {
            return Err(SearchCliError::SamePath { path: report.clone() });
        }
    }
    let mut model = Model::load_on(backend, &args.model, &LoadOptions::default())?;
    let tokens = sample(args, &model)?;
    let options = SearchOptions {
        target,
        score_rows: args.score_rows,
        qk: if args.synthetic_qk { QkSource::Synthetic { seed: args.seed } } else { QkSource::Model },
        minference_only: args.format == Format::Minference,
    };
    let c = model.config();
    eprintln!(
        "search: {} tokens, {} layers x {} heads, {} rows scored per head{}",
        tokens.len(),
        c.num_layers,
        c.num_heads,
        search::score_rows(tokens.len(), args.score_rows).len(),
        if args.synthetic_qk { ", synthetic q/k/v" } else { "" }
    );
    let result = search::search(&mut model, &tokens, &options, &mut show_progress);
    // The progress line ends without a newline until the last layer; an error starts a line of its own.
    let result = result.inspect_err(|_| eprintln!())?;
    let format = match args.format {
        Format::Ours => OutputFormat::Ours,
        Format::Minference => OutputFormat::Minference,
    };
    search::write_config(&result.config().map_err(SearchError::from)?, format, &args.output)?;
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{:#}\n", result.report_json()))
            .map_err(|source| SearchCliError::Report { path: path.clone(), source })?;
    }
    stdout::print(&summary(&result))?;
    stdout::line(&format!("wrote {}", args.output.display()))?;
    Ok(())
}

/// The sample's tokens: the text file through the checkpoint's tokenizer, or seeded random ids.
fn sample<B: sparsefill_model::Backend>(args: &SearchArgs, model: &Model<B>) -> Result<Vec<u32>, SearchCliError> {
    match (&args.sample, args.random_tokens) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| SearchCliError::Sample { path: path.clone(), source })?;
            // The tokenizer would add a BOS to nothing, and the search would size every pattern on one token.
            if text.trim().is_empty() {
                return Err(SearchError::EmptySample.into());
            }
            Ok(model.tokenizer()?.encode(&text).map_err(ModelError::from)?)
        }
        (None, Some(n)) => {
            // Checked before the ids are drawn: a count past the model's positions would fail later anyway,
            // after allocating them all.
            let max = model.config().max_positions;
            if n > max {
                return Err(SearchError::SampleTooLong { tokens: n, max }.into());
            }
            let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
            let vocab = model.config().vocab_size as u32;
            Ok((0..n).map(|_| rng.random_range(0..vocab)).collect())
        }
        // clap requires one of the two.
        (None, None) => Ok(Vec::new()),
    }
}

fn show_progress(p: SearchProgress) {
    eprint!(
        "\rsearch: layer {}/{}, {:.1} s elapsed, ETA {:.1} s",
        p.layers_done,
        p.layers,
        p.elapsed.as_secs_f64(),
        p.eta().as_secs_f64()
    );
    if p.layers_done == p.layers {
        eprintln!();
    }
}

/// The searched config against the reference and every single fixed pattern, means over all heads.
fn summary(result: &search::SearchResult) -> String {
    let s = result.summary();
    let mut table = Table::new(&["patterns", "mean recall", "mean cost (tiles)"]);
    let cells = |name: String, m: Option<search::Mean>| match m {
        Some(m) => vec![name, format!("{:.4}", m.recall), format!("{:.1}", m.cost)],
        None => vec![name, "cannot meet the target".into(), "-".into()],
    };
    table.row(cells("searched (per head)".into(), Some(s.searched)));
    if let Some(reference) = s.reference {
        table.row(cells(format!("target {}", target_name(&result.options.target)), Some(reference)));
    }
    for (family, mean) in result.families.iter().zip(&s.fixed) {
        table.row(cells(format!("fixed {family}"), *mean));
    }
    let best = match s.best_fixed() {
        Some((i, m)) => format!("best fixed pattern: {}, mean recall {:.4}\n", result.families[i], m.recall),
        None => "no single fixed pattern meets the target at every head\n".into(),
    };
    format!("target cost: {:.1} tiles per head on average\n{}{best}", s.target_cost, table.render())
}

fn target_name(target: &Target) -> String {
    match target {
        Target::Pattern(kind) => search::pattern_json(kind).to_string(),
        Target::Density(d) => format!("density {d}"),
    }
}
