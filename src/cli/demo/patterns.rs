//! The demo's attention half: every pattern through the dispatch `sparsefill attn` uses, on the synthetic
//! generator's structured heads, each run's output checked against f64 dense attention restricted to the
//! keys it kept (its outputs start poisoned with NaN), with the share of causal keys kept and what that
//! costs against unrestricted dense attention.

use crate::cli::table::Table;
use crate::cli::CliError;
use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::config::PatternKind;
use sparsefill_patterns::recall::{self, DenseReference};
use sparsefill_patterns::sparse::dispatch::run_pattern;
use sparsefill_patterns::sparse::local::query_blocks::{self, Backend};
use sparsefill_patterns::sparse::mask::PatternMask;
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};

/// Long enough for every pattern to skip keys, short enough for the interpreter to take seconds.
pub const LEN: usize = 1024;
pub const HEADS: usize = 8;
pub const KV_HEADS: usize = 2;
pub const HEAD_DIM: usize = 64;

/// The patterns shown, each sized to keep a part of the keys at `LEN`.
const PATTERNS: [&str; 6] = [
    "dense",
    "a_shape:n_init=64,n_local=256",
    "tri_shape:n_init=64,n_local=256,n_last=64",
    "vertical_slash:vertical=32,slash=128",
    "block_sparse:top_k=4",
    "strided:stride=4,n_local=128",
];

/// The table and how many of its runs failed their check.
pub struct PatternRuns {
    pub table: Table,
    pub failed: usize,
    pub total: usize,
}

pub fn run(backend: &Backend, backend_name: &str, seed: u64) -> Result<PatternRuns, CliError> {
    let shape =
        AttentionShape { seqlens: vec![LEN], heads: HEADS, kv_heads: KV_HEADS, head_dim: HEAD_DIM, causal: true };
    let knobs = HeadKnobs::mixed(HEADS).into_iter().map(|k| k.for_length(LEN)).collect();
    let inputs = Synthetic::new(&shape, knobs, seed).map_err(failed("the synthetic inputs"))?.inputs();
    let case = recall::dense_case(&inputs).map_err(failed("the dense reference"))?;
    let dense = DenseReference::all_rows(&inputs).map_err(failed("the dense reference"))?;
    let mut table = Table::new(&[
        "pattern",
        "backend",
        "keys kept",
        "recall mean",
        "o rel err vs dense",
        "vs its mask (f64)",
        "result",
    ]);
    let (mut failed_runs, mut total) = (0, 0);
    for spec in PATTERNS {
        let kind = crate::cli::attn::pattern::parse(spec)?;
        let output = run_pattern(backend, &inputs, &kind).map_err(failed(spec))?;
        let mask = PatternMask::of(&kind, &output).map_err(failed(spec))?;
        let check = query_blocks::check_rows(&case, &output, |at| mask.keeps(at));
        let recall = dense.lse_recall(&output.lse).map_err(failed(spec))?.overall();
        let error = dense.output_error(&output.o).map_err(failed(spec))?.total;
        total += 1;
        failed_runs += usize::from(check.is_err());
        table.row(vec![
            describe(spec, &kind),
            backend_name.into(),
            format!("{:.3}", mask.density(&shape.seqlens, shape.heads)),
            format!("{:.4}", recall.mean),
            format!("{:.2e}", error.rel_l2),
            match &check {
                Ok(()) => "matches".into(),
                Err(why) => why.lines().next().unwrap_or_default().to_string(),
            },
            if check.is_ok() { "ok".into() } else { "FAIL".into() },
        ]);
    }
    Ok(PatternRuns { table, failed: failed_runs, total })
}

fn describe(spec: &str, kind: &PatternKind) -> String {
    match kind {
        PatternKind::Dense => "dense (the kernel the others skip keys of)".into(),
        _ => spec.into(),
    }
}

/// A step's error as the demo reports it: what it was doing, then why.
fn failed<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> CliError + '_ {
    move |e| CliError::Demo { what: what.to_string(), why: e.to_string() }
}
