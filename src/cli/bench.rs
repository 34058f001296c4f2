//! `sparsefill bench`: sparse patterns against our dense kernel over context lengths,
//! on the synthetic generator's inputs, on one GPU. Estimation, index build and
//! attention are timed separately (CUDA-event medians after warm-up); the run writes
//! bench.json, bench.md and SVG plots, and the covers of each pattern's mask that
//! benches/peers/sparse_peers.py times FlexAttention over. `--merge-peers DIR`
//! re-renders bench.md and the plots with the peers' peers.json merged in.

mod json;
mod markdown;
mod peers;
mod pipeline;
mod plots;
mod results;
mod spec;
mod svg;
mod sweep;
mod work;

use super::stdout;
use super::CliError;
use results::Report;
use std::path::{Path, PathBuf};
use sweep::Knobs;

const AFTER_HELP: &str = "\
Patterns (--patterns NAME[:KEY=VALUE,...],...; the syntax of `attn --pattern`; a bare
NAME takes the defaults in brackets):
  vertical_slash [vertical=1000,slash=6096]   a_shape [n_init=128,n_local=4096]
  tri_shape [n_init=128,n_local=4096,n_last=128]   block_sparse [top_k=100]
  strided [stride=16,n_local=1024]   dense (always measured: the baseline)
e.g. --patterns vertical_slash:vertical=500,slash=2048,a_shape,block_sparse:top_k=64

Each length runs one sequence with H heads (default: 32 up to 128K, then fewer so the
dense baseline stays affordable: 8 at 256K, 4 at 512K), H/4 kv heads, D 128, bf16,
causal, on synthetic inputs. Writes DIR/bench.json, DIR/bench.md, DIR/latency.svg,
DIR/speedup.svg, DIR/tflops.svg and DIR/cover-*.bin. Then, in the same GPU run:
  python3 benches/peers/sparse_peers.py --bench DIR/bench.json --out DIR/peers.json
  sparsefill bench --merge-peers DIR";

/// Time sparse patterns against our dense kernel over context lengths (GPU).
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct BenchArgs {
    /// Folder for bench.json, bench.md, the plots and the covers (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "merge_peers")]
    out: Option<PathBuf>,
    /// Context lengths in tokens, comma-separated.
    #[arg(long, value_name = "LEN,...", default_value = spec::DEFAULT_LENGTHS)]
    lengths: String,
    /// Query heads: one count for every length, or one per length (multiples of 4).
    #[arg(long, value_name = "H[,...]")]
    heads: Option<String>,
    /// Patterns to time against dense, comma-separated (see below).
    #[arg(long, value_name = "NAME[:ARGS],...", default_value = spec::DEFAULT_PATTERNS)]
    patterns: String,
    /// Timed runs per stage; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    iters: u32,
    /// Untimed runs before the timed ones.
    #[arg(long, default_value_t = 1)]
    warmup: u32,
    /// Before timing a measurement, run its launches untimed for this many milliseconds,
    /// so that the GPU is at the clocks it sustains under load (0: none). An H200 runs
    /// its first few hundred milliseconds of load 11–15% faster; the peers
    /// (sparse_peers.py --settle-ms, the same default) are timed after the same settling.
    #[arg(long, value_name = "MS", default_value_t = sparsefill_runtime::timing::SETTLE_MS)]
    settle_ms: u64,
    /// Rows checked against the masked f64 reference per measurement (the first, the
    /// last and random ones); o and lse are checked finite in every row regardless.
    #[arg(long, default_value_t = 4)]
    check_rows: u32,
    /// The synthetic generator's heads.
    #[arg(long, value_enum, default_value_t = Knobs::VerticalSlash)]
    knobs: Knobs,
    /// How vertical-slash's attention walks its index.
    #[arg(long, value_enum, default_value_t = sweep::VsWalk::Blocks)]
    vs_walk: sweep::VsWalk,
    /// Run vertical-slash in this many chunks of heads, each chunk's estimation beside the
    /// attention of the chunk before it: its total is then the chunks' launches timed
    /// together, checked (the same index, o and lse bit for bit as the launches in one
    /// piece) and timed in turns with the launches in one piece (bench.md lists that with
    /// the candidates). 1: in one piece. It must divide the heads, and divide the kv heads
    /// or be a multiple of them. Default: one chunk a head from 512K tokens, as the runners
    /// do (patterns::sparse::vertical_slash::overlap::default_chunks), else 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    vs_chunks: Option<u32>,
    /// Seed of the synthetic inputs and of the checked rows.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also time KERNEL compiled from FILE (an edit of the shipped kernel of that name,
    /// taking its arguments: the whole shipped source edited, or only the kernel and any
    /// fns it changes, which replace the shipped ones of those names) wherever a
    /// measurement launches KERNEL: checked (an attention
    /// kernel on poisoned outputs like the shipped one; an estimation kernel in its launch's
    /// place, by the index it leads to, which must list what the shipped launches list),
    /// then both timed in turns in one process; bench.md gets a table of the two. It stands
    /// in for the kernel's first launch (top-k's: the vertical selection's, its first level
    /// where fewer than 16 rows select in two). KERNEL:
    /// attention, sparse_local, sparse_block, sparse_strided, sparse_vertical_slash,
    /// sparse_vertical_slash_pairs (with --vs-walk pairs), vs_row_stats, vs_combine_stats,
    /// vs_column_scores, vs_diagonal_scores, topk_threshold, topk_write, vs_chain_stops,
    /// vs_chain, vs_hops, vs_convert or select_blocks.
    #[arg(long, value_name = "KERNEL=FILE")]
    candidate: Option<String>,
    /// Re-render DIR/bench.md and the plots with DIR/peers.json (from
    /// benches/peers/sparse_peers.py) merged in; measures nothing.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "lengths", "heads", "patterns", "iters", "warmup", "settle_ms", "check_rows", "knobs", "vs_walk", "vs_chunks", "seed", "candidate"])]
    merge_peers: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--lengths `{given}`: {why}; e.g. --lengths 32768,131072,524288")]
    Lengths { given: String, why: String },
    #[error("--heads `{given}`: {why}; e.g. --heads 32, or --heads 32,32,4 for three lengths")]
    Heads { given: String, why: String },
    #[error("--patterns `{given}`: {why}; e.g. --patterns vertical_slash,a_shape:n_init=128,n_local=4096")]
    PatternList { given: String, why: String },
    #[error("unknown pattern `{name}` in --patterns; known: {}", sparsefill_patterns::config::PATTERNS.join(", "))]
    UnknownPattern { name: String },
    #[error("invalid pattern `{given}` in --patterns: {why}")]
    PatternArgs { given: String, why: String },
    #[error(
        "--lengths {len} is below `{pattern}`'s minimum of {min} tokens: {why}, so it would compute what dense does"
    )]
    TooShort { len: usize, pattern: String, min: usize, why: &'static str },
    #[error("cannot write the output folder `{}`: {source}", path.display())]
    OutDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not JSON: {why}", path.display())]
    NotJson { path: PathBuf, why: String },
    #[error("`{}`: field `{field}` {why}", path.display())]
    Field { path: PathBuf, field: String, why: String },
    #[error("sparsefill bench runs on a GPU and needs a build with the `gpu` feature (cargo build --release --features gpu); this build has no GPU support")]
    NoGpuBuild,
    // Runtime errors are boxed: they are large and every variant would carry their size.
    #[error("sparsefill bench: cannot use the GPU: {0}")]
    Gpu(Box<sparsefill_runtime::RuntimeError>),
    #[error("`{kernel}` on the GPU: {source}")]
    Kernel { kernel: &'static str, source: Box<sparsefill_runtime::RuntimeError> },
    #[error("{step} on the GPU: {source}")]
    Device { step: &'static str, source: Box<sparsefill_runtime::RuntimeError> },
    #[error("--vs-chunks at S={len}: {why}; e.g. --vs-chunks 4")]
    Chunks { len: usize, why: String },
    #[error("--candidate `{given}`: {why}; e.g. --candidate sparse_vertical_slash=next.tile")]
    Candidate { given: String, why: String },
    #[error("{0}")]
    Inputs(String),
    #[error(transparent)]
    Walk(#[from] sparsefill_patterns::sparse::vertical_slash::VerticalSlashError),
    #[error(transparent)]
    Stdout(#[from] super::stdout::StdoutError),
    #[error("{failed} of {total} measurements did not run or failed their check (see `{}`)", path.display())]
    Failed { failed: usize, total: usize, path: PathBuf },
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    Ok(execute(&args)?)
}

fn execute(args: &BenchArgs) -> Result<(), BenchError> {
    if let Some(dir) = &args.merge_peers {
        let report = Report::from_json(&dir.join("bench.json"), &json::read(&dir.join("bench.json"))?)?;
        let peers = peers::Peers::load(dir, &report)?;
        write_rendered(dir, &report, Some(&peers))?;
        stdout::line(&format!("merged {} into {}", dir.join(peers::FILE).display(), dir.join("bench.md").display()))?;
        return Ok(());
    }
    // clap requires --out without --merge-peers.
    let out = args.out.as_deref().unwrap_or(Path::new("."));
    let lengths = spec::lengths(&args.lengths)?;
    let workloads = spec::workloads(&lengths, args.heads.as_deref())?;
    let patterns = spec::patterns(&args.patterns)?;
    spec::check_lengths(&workloads, &patterns)?;
    spec::check_chunks(&workloads, args.vs_chunks.map(|n| n as usize))?;
    let candidate = args.candidate.as_deref().map(spec::candidate).transpose()?;
    // --out is checked before the GPU opens, and created only after, so that a failure leaves nothing.
    check_out_dir(out)?;
    let (gpu, cache) = open_gpu()?;
    prepare(out)?;
    let info = gpu.info();
    stdout::line(&format!(
        "card: {} ({}, driver {}, cubins by {}); {} lengths x (dense + {} patterns); {} timed runs after {} warm-up, medians",
        info.name,
        info.arch,
        driver(info.driver_version),
        gpu.assembler().describe(),
        workloads.len(),
        patterns.len(),
        args.iters,
        args.warmup
    ))?;
    let settings = sweep::Settings {
        walk: args.vs_walk,
        chunks: args.vs_chunks.map(|n| n as usize),
        warmup: args.warmup as usize,
        settle_ms: args.settle_ms,
        iters: args.iters as usize,
        check_rows: args.check_rows as usize,
        knobs: args.knobs,
        seed: args.seed,
        candidate,
    };
    let lengths = sweep::run(&gpu, &cache, &workloads, &patterns, &settings, out);
    let report = Report {
        card: info.name.clone(),
        driver: driver(info.driver_version),
        arch: info.arch.name().to_string(),
        date: utc_now(),
        command: command_line(),
        commit: commit(),
        knobs: args.knobs.name().to_string(),
        head_dim: sweep::HEAD_DIM,
        warmup: settings.warmup,
        settle_ms: settings.settle_ms,
        iters: settings.iters,
        lengths,
    };
    let path = out.join("bench.json");
    let text = serde_json::to_string_pretty(&report.to_json()).map_err(|e| BenchError::Inputs(e.to_string()))?;
    std::fs::write(&path, text).map_err(|source| BenchError::Write { path: path.clone(), source })?;
    write_rendered(out, &report, None)?;
    stdout::line(&format!("\n{}", markdown::render(&report, None)))?;
    match report.failures() {
        0 => Ok(()),
        failed => Err(BenchError::Failed { failed, total: report.measurements(), path: out.join("bench.md") }),
    }
}

/// bench.md and the plots, all rendered first, each written beside its place under a
/// temporary name and then renamed over it, so that a failure while writing (a full disk,
/// a path that cannot be a file) leaves the old set whole and no temporary file behind.
fn write_rendered(dir: &Path, report: &Report, peers: Option<&peers::Peers>) -> Result<(), BenchError> {
    let mut files = vec![("bench.md".to_string(), markdown::render(report, peers))];
    files.extend(plots::charts(report, peers).into_iter().map(|(name, chart)| (name.to_string(), chart.render())));
    // A rename cannot replace a folder, and one failing after others succeeded would mix the sets.
    if let Some((name, _)) = files.iter().find(|(name, _)| dir.join(name).is_dir()) {
        let source = std::io::Error::other("a directory is in its place");
        return Err(BenchError::Write { path: dir.join(name), source });
    }
    let partial = |name: &str| dir.join(format!(".{name}.partial"));
    for (i, (name, text)) in files.iter().enumerate() {
        if let Err(source) = std::fs::write(partial(name), text) {
            for (written, _) in &files[..=i] {
                // Best effort: the error below is what the user needs, not this one.
                let _ = std::fs::remove_file(partial(written));
            }
            return Err(BenchError::Write { path: dir.join(name), source });
        }
    }
    for (name, _) in &files {
        std::fs::rename(partial(name), dir.join(name))
            .map_err(|source| BenchError::Write { path: dir.join(name), source })?;
    }
    Ok(())
}

/// `dir` exists as a folder, or could: the nearest part of it that exists is a folder.
fn check_out_dir(dir: &Path) -> Result<(), BenchError> {
    let nearest = dir.ancestors().find(|p| p.as_os_str().is_empty() || p.exists()).unwrap_or(Path::new("."));
    let nearest = if nearest.as_os_str().is_empty() { Path::new(".") } else { nearest };
    if nearest.is_dir() {
        return Ok(());
    }
    let source =
        std::io::Error::new(std::io::ErrorKind::NotADirectory, format!("`{}` is not a folder", nearest.display()));
    Err(BenchError::OutDir { path: dir.to_path_buf(), source })
}

/// Creates `dir` and proves it writable before any GPU time is spent.
fn prepare(dir: &Path) -> Result<(), BenchError> {
    let failed = |source| BenchError::OutDir { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let probe = dir.join(".sparsefill-bench-probe");
    std::fs::write(&probe, b"").map_err(failed)?;
    std::fs::remove_file(&probe).map_err(failed)
}

fn open_gpu() -> Result<(sparsefill_runtime::Gpu, sparsefill_runtime::KernelCache), BenchError> {
    if !cfg!(feature = "gpu") {
        return Err(BenchError::NoGpuBuild);
    }
    let gpu = sparsefill_runtime::Gpu::new(0).map_err(|e| BenchError::Gpu(Box::new(e)))?;
    let cache = sparsefill_runtime::KernelCache::new(sparsefill_runtime::CacheConfig::from_env(gpu.arch()));
    Ok((gpu, cache))
}

/// The kernel driver's release (from /proc, when readable) and the CUDA version it
/// supports (`cuDriverGetVersion`: 1000 · major + 10 · minor).
fn driver(version: i32) -> String {
    let cuda = format!("CUDA {}.{}", version / 1000, version % 1000 / 10);
    let release = std::fs::read_to_string("/proc/driver/nvidia/version").ok().and_then(|t| driver_release(&t));
    match release {
        Some(r) => format!("{r} ({cuda})"),
        None => cuda,
    }
}

/// The release in /proc/driver/nvidia/version's first line ("NVRM version: NVIDIA UNIX
/// Open Kernel Module for x86_64  580.159.04  Release Build ..."): its first word of
/// digits and dots.
fn driver_release(text: &str) -> Option<String> {
    let line = text.lines().next()?;
    let is_release = |w: &&str| w.contains('.') && w.chars().all(|c| c.is_ascii_digit() || c == '.');
    line.split_whitespace().find(is_release).map(str::to_string)
}

/// `$SPARSEFILL_COMMIT` (set where the binary runs without its repository, as on the
/// GPU machine), else `git rev-parse`; none when neither answers.
fn commit() -> Option<String> {
    if let Ok(c) = std::env::var("SPARSEFILL_COMMIT") {
        return Some(c).filter(|c| !c.trim().is_empty()).map(|c| c.trim().to_string());
    }
    let out = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string()).filter(|c| out.status.success() && !c.is_empty())
}

/// The command line as typed, arguments with spaces quoted.
fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .enumerate()
        .map(|(i, a)| if i == 0 { "sparsefill".to_string() } else { a })
        .map(|a| if a.contains(char::is_whitespace) { format!("'{a}'") } else { a })
        .collect();
    args.join(" ")
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc(secs)
}

/// `YYYY-MM-DD HH:MM UTC` for seconds since 1970 (Howard Hinnant's civil_from_days).
fn utc(secs: u64) -> String {
    let (days, rest) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_cross_leap_days_and_centuries() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
        assert_eq!(utc(4_107_542_400), "2100-03-01 00:00 UTC");
    }

    /// `actual` must equal tests/golden/bench/NAME; `SPARSEFILL_BLESS=1` rewrites it
    /// (the convention of compiler/tests/passes.rs).
    fn golden(name: &str, actual: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/bench").join(name);
        if std::env::var_os("SPARSEFILL_BLESS").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            expected == actual,
            "{} differs from the output (SPARSEFILL_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }

    fn render_all(report: &Report, peers: Option<&peers::Peers>, prefix: &str) {
        let md = markdown::render(report, peers);
        assert!(md.starts_with(&format!("# sparsefill bench on {}\n", report.card)));
        golden(&format!("{prefix}bench.md"), &md);
        for (name, chart) in plots::charts(report, peers) {
            let svg = chart.render();
            svg::tests::assert_well_formed(&svg);
            assert!(svg.contains(&svg::escape(&report.card)), "{name} lacks the card");
            golden(&format!("{prefix}{name}"), &svg);
        }
    }

    #[test]
    fn our_numbers_render_as_the_goldens() {
        render_all(&results::fixture::report(), None, "");
    }

    #[test]
    fn merged_peers_render_as_the_goldens() {
        let report = results::fixture::report();
        let value = peers::fixture::json(&report);
        let peers = peers::Peers::from_json(Path::new("peers.json"), &value).unwrap_or_else(|e| panic!("{e}"));
        render_all(&report, Some(&peers), "merged-");
        let md = markdown::render(&report, Some(&peers));
        assert!(md.contains("SDPA flash (torch): failed: RuntimeError: no kernel"), "{md}");
        assert!(md.contains("SDPA flash (torch): no native GQA"), "{md}");
    }

    #[test]
    fn the_driver_release_is_read_from_procs_first_line() {
        let text = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  \
                    (dvs-builder@U16)  Thu Jul 31 00:00:00 UTC 2025\nGCC version:  gcc version 13.3.0\n";
        assert_eq!(driver_release(text).as_deref(), Some("580.159.04"));
        assert_eq!(driver_release("NVRM version: unknown\n"), None);
    }

    #[test]
    fn driver_versions_read_as_cuda_releases() {
        assert!(driver(13000).ends_with("CUDA 13.0"));
        assert!(driver(12040).ends_with("CUDA 12.4"));
    }
}
