//! What a sweep measures: `--lengths`, `--heads` and `--patterns`, parsed and checked
//! before any GPU work so that a typo costs no device time.

use super::super::attn::pattern;
use super::super::attn::AttnError;
use super::sweep::Candidate;
use super::BenchError;
use sparsefill_patterns::attention;
use sparsefill_patterns::config::PatternKind;
use sparsefill_patterns::sparse::block_sparse;
use sparsefill_patterns::sparse::index::BLOCK;
use sparsefill_patterns::sparse::local;
use sparsefill_patterns::sparse::local::strided;
use sparsefill_patterns::sparse::vertical_slash::MAX_LAST_Q;
use sparsefill_patterns::sparse::vertical_slash::{overlap, plan};

pub const DEFAULT_LENGTHS: &str = "32768,131072,524288";
pub const DEFAULT_PATTERNS: &str = "vertical_slash,a_shape,block_sparse";

/// Query heads per kv head: the GQA ratio of the synthetic inputs (LLaMA-3-8B's).
pub const GQA_GROUP: usize = 4;

/// The arguments a bare pattern name stands for: MInference's vertical-slash budget,
/// and sizes of the same order for the others (a few thousand keys per row).
const BARE: [(&str, &str); 6] = [
    ("dense", ""),
    ("a_shape", "n_init=128,n_local=4096"),
    ("tri_shape", "n_init=128,n_local=4096,n_last=128"),
    ("vertical_slash", "vertical=1000,slash=6096"),
    ("block_sparse", "top_k=100"),
    ("strided", "stride=16,n_local=1024"),
];

/// One pattern of the sweep: as written (bare names expanded) and parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    pub spec: String,
    pub kind: PatternKind,
}

/// One length of the sweep and its head count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    pub len: usize,
    pub heads: usize,
}

/// `--patterns`: patterns separated by commas, each `NAME[:KEY=VALUE,...]` as `attn
/// --pattern` takes it. A comma also separates a pattern's arguments, so a piece with
/// `=` and no `:` continues the pattern before it. `dense` is always measured (the
/// baseline), so listing it adds nothing.
pub fn patterns(list: &str) -> Result<Vec<Pattern>, BenchError> {
    let bad = |why: String| BenchError::PatternList { given: list.to_string(), why };
    let mut specs: Vec<String> = Vec::new();
    for piece in list.split(',').map(str::trim) {
        if piece.is_empty() {
            return Err(bad("an empty entry (two commas in a row, or one at an end)".into()));
        }
        match specs.last_mut() {
            Some(last) if piece.contains('=') && !piece.contains(':') => {
                last.push(if last.contains(':') { ',' } else { ':' });
                last.push_str(piece);
            }
            None if piece.contains('=') && !piece.contains(':') => {
                return Err(bad(format!("`{piece}` is an argument with no pattern name before it")));
            }
            _ => specs.push(piece.to_string()),
        }
    }
    let mut out: Vec<Pattern> = Vec::new();
    for spec in specs {
        let spec = match BARE.iter().find(|(name, _)| *name == spec) {
            Some((name, args)) if !args.is_empty() => format!("{name}:{args}"),
            _ => spec,
        };
        let kind = pattern::parse(&spec).map_err(|e| match e {
            AttnError::UnknownPattern { name } => BenchError::UnknownPattern { name },
            AttnError::PatternArgs { given, why } => BenchError::PatternArgs { given, why },
            // A value out of range: the pattern is named by the spec already.
            AttnError::Pattern { source, .. } => {
                BenchError::PatternArgs { given: spec.clone(), why: source.to_string() }
            }
            other => BenchError::PatternArgs { given: spec.clone(), why: other.to_string() },
        })?;
        if out.iter().any(|p| p.kind == kind) {
            return Err(bad(format!("`{spec}` is listed twice")));
        }
        if kind != PatternKind::Dense {
            out.push(Pattern { spec, kind });
        }
    }
    Ok(out)
}

/// The shortest sequence on which `kind` skips some causal key, and why: below it the
/// pattern computes everything dense does, and a speedup would mean nothing.
pub fn min_length(kind: &PatternKind) -> (usize, &'static str) {
    let n = |v: u32| v as usize;
    match *kind {
        PatternKind::Dense => (1, "a sequence needs a token"),
        PatternKind::AShape { n_init, n_local } => {
            (n(n_init) + n(n_local) + 1, "every row sees all its keys within n_init + n_local tokens")
        }
        PatternKind::TriShape { n_init, n_local, n_last } => (
            n(n_init) + n(n_local) + n(n_last) + 1,
            "every row sees all its keys within n_init + n_local + n_last tokens",
        ),
        PatternKind::VerticalSlash { slash, .. } => (
            (n(slash) + 1).max(MAX_LAST_Q),
            "the slashes cover every diagonal up to slash tokens (and estimation reads the last 64 queries)",
        ),
        PatternKind::BlockSparse { top_k } => {
            (n(top_k) * BLOCK + 1, "top_k blocks of 64 keys cover every block up to top_k * 64 tokens")
        }
        PatternKind::Strided { stride, n_local } => {
            (n(stride) * BLOCK + n(n_local) + 1, "the window and the first strided block cover everything before")
        }
    }
}

/// `--lengths`: token counts separated by commas, each from 1 to i32::MAX (the
/// kernels' scalar type).
pub fn lengths(list: &str) -> Result<Vec<usize>, BenchError> {
    let bad = |why: String| BenchError::Lengths { given: list.to_string(), why };
    let mut out = Vec::new();
    for piece in list.split(',').map(str::trim) {
        let len: usize = piece.parse().map_err(|_| bad(format!("`{piece}` is not a whole number of tokens")))?;
        if len == 0 || len > i32::MAX as usize {
            return Err(bad(format!("{len} is outside 1 ..= {} tokens", i32::MAX)));
        }
        if out.contains(&len) {
            return Err(bad(format!("{len} is listed twice")));
        }
        out.push(len);
    }
    Ok(out)
}

/// Heads for a length when `--heads` is not given: 32 up to 128K tokens; above, they
/// fall with the square of the length (at least 4) so that the dense baseline, whose
/// cost grows with heads × length², stays within a few seconds (8 at 256K, 4 at 512K).
pub fn default_heads(len: usize) -> usize {
    const FULL: usize = 32;
    const UP_TO: usize = 131072;
    if len <= UP_TO {
        return FULL;
    }
    let ratio = (len as f64 / UP_TO as f64).powi(2);
    let heads = (FULL as f64 / ratio) as usize / GQA_GROUP * GQA_GROUP;
    heads.max(GQA_GROUP)
}

/// `--heads`: one count for every length or one per length, each a multiple of
/// [`GQA_GROUP`]; without it, [`default_heads`].
pub fn workloads(lengths: &[usize], heads: Option<&str>) -> Result<Vec<Workload>, BenchError> {
    let Some(list) = heads else {
        return Ok(lengths.iter().map(|&len| Workload { len, heads: default_heads(len) }).collect());
    };
    let bad = |why: String| BenchError::Heads { given: list.to_string(), why };
    let counts = list
        .split(',')
        .map(str::trim)
        .map(|piece| match piece.parse::<usize>() {
            Ok(h) if h > 0 && h % GQA_GROUP == 0 => Ok(h),
            _ => Err(bad(format!(
                "`{piece}` is not a positive multiple of {GQA_GROUP} (the inputs have heads / {GQA_GROUP} kv heads)"
            ))),
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let counts = match counts[..] {
        [one] => vec![one; lengths.len()],
        _ if counts.len() == lengths.len() => counts,
        _ => {
            return Err(bad(format!(
                "{} counts for {} lengths; give one, or one per length",
                counts.len(),
                lengths.len()
            )))
        }
    };
    Ok(lengths.iter().zip(counts).map(|(&len, heads)| Workload { len, heads }).collect())
}

/// Every length must reach every pattern's [`min_length`].
pub fn check_lengths(workloads: &[Workload], patterns: &[Pattern]) -> Result<(), BenchError> {
    for w in workloads {
        for p in patterns {
            let (min, why) = min_length(&p.kind);
            if w.len < min {
                return Err(BenchError::TooShort { len: w.len, pattern: p.spec.clone(), min, why });
            }
        }
    }
    Ok(())
}

/// `--vs-chunks N` against every workload's heads (kv heads H / [`GQA_GROUP`]), checked
/// before the GPU is opened.
pub fn check_chunks(workloads: &[Workload], chunks: Option<usize>) -> Result<(), BenchError> {
    let Some(chunks) = chunks else { return Ok(()) };
    for w in workloads {
        overlap::check_chunks(chunks, w.heads, w.heads / GQA_GROUP)
            .map_err(|e| BenchError::Chunks { len: w.len, why: e.to_string() })?;
    }
    Ok(())
}

/// The kernels `--candidate` may replace, each with its shipped source (the files it is
/// compiled from, concatenated): the attention kernels, then the estimation's. A candidate
/// stands in for its kernel's first launch in a measurement: for top-k, which
/// vertical-slash launches twice, the vertical selection's. (Pooling, launched twice by
/// block-sparse, is not offered.)
pub const CANDIDATE_KERNELS: [(&str, &str); 17] = [
    ("attention", attention::SOURCE),
    (local::KERNEL, local::SOURCE),
    (block_sparse::KERNEL, block_sparse::SOURCE),
    (strided::KERNEL, strided::SOURCE),
    (plan::ATTEND_KERNEL, plan::ATTEND_SOURCE),
    (plan::PAIRS_KERNEL, plan::PAIRS_SOURCE),
    ("vs_row_stats", plan::ESTIMATE_SOURCE),
    ("vs_combine_stats", plan::ESTIMATE_SOURCE),
    ("vs_column_scores", plan::ESTIMATE_SOURCE),
    ("vs_diagonal_scores", plan::ESTIMATE_SOURCE),
    ("topk_threshold", plan::TOPK_SOURCE),
    ("topk_write", plan::TOPK_SOURCE),
    (plan::CONVERSION_KERNELS[0], plan::ESTIMATE_SOURCE),
    (plan::CONVERSION_KERNELS[1], plan::ESTIMATE_SOURCE),
    (plan::CONVERSION_KERNELS[2], plan::ESTIMATE_SOURCE),
    (plan::CONVERSION_KERNELS[3], plan::ESTIMATE_SOURCE),
    (block_sparse::SELECT_KERNEL, block_sparse::ESTIMATOR_SOURCE),
];

/// `--candidate KERNEL=FILE`: the kernel's name, checked, and the source the candidate runs
/// from, which must hold KERNEL and compile to Tile IR with its default consts (so a
/// malformed file is refused before the GPU opens, not in the middle of the measurements).
/// FILE is either the whole source (the shipped files concatenated, edited) or only what it
/// changes: then its kernels and fns take the place of the shipped ones of the same names,
/// beside the shipped source's other items ([`merged_source`]).
pub fn candidate(given: &str) -> Result<Candidate, BenchError> {
    let fail = |why: String| BenchError::Candidate { given: given.to_string(), why };
    let (kernel, file) = given.split_once('=').ok_or_else(|| fail("expected KERNEL=FILE".into()))?;
    let Some(&(_, shipped)) = CANDIDATE_KERNELS.iter().find(|(k, _)| *k == kernel) else {
        let known: Vec<&str> = CANDIDATE_KERNELS.iter().map(|(k, _)| *k).collect();
        return Err(fail(format!("unknown kernel `{kernel}`; it replaces one of {}", known.join(", "))));
    };
    let text = std::fs::read_to_string(file).map_err(|e| fail(format!("cannot read `{file}`: {e}")))?;
    // As written first, so that errors point into the file itself.
    let alone = check_candidate_source(&text, kernel);
    if alone.is_ok() {
        return Ok(Candidate { kernel: kernel.to_string(), file: file.to_string(), source: text });
    }
    let Some(source) = merged_source(shipped, &text) else {
        let why = alone.err().unwrap_or_default();
        return Err(fail(format!("`{file}` does not compile: {why}")));
    };
    check_candidate_source(&source, kernel)
        .map_err(|e| fail(format!("`{file}` does not compile in the shipped source in place of its items: {e}")))?;
    Ok(Candidate { kernel: kernel.to_string(), file: file.to_string(), source })
}

/// `shipped` with the kernels and fns of `edit` in place of its own of the same names (and
/// any new ones added), printed back as source; `None` if `edit` does not parse, or holds
/// every item of `shipped` already (a whole source, whose own errors point into it).
fn merged_source(shipped: &str, edit: &str) -> Option<String> {
    use sparsefill_compiler::syntax;
    let edit = syntax::parse(edit).ok()?;
    // The shipped sources parse: every_shipped_candidate_kernel_passes_the_candidate_check.
    let mut merged = syntax::parse(shipped).ok()?;
    let fns_given = merged.fns.iter().all(|f| edit.fns.iter().any(|g| g.name.name == f.name.name));
    let kernels_given = merged.kernels.iter().all(|k| edit.kernels.iter().any(|g| g.name.name == k.name.name));
    if fns_given && kernels_given {
        return None;
    }
    for f in edit.fns {
        match merged.fns.iter_mut().find(|g| g.name.name == f.name.name) {
            Some(slot) => *slot = f,
            None => merged.fns.push(f),
        }
    }
    for k in edit.kernels {
        match merged.kernels.iter_mut().find(|g| g.name.name == k.name.name) {
            Some(slot) => *slot = k,
            None => merged.kernels.push(k),
        }
    }
    Some(syntax::print_ast(&merged))
}

/// Whether `source` holds `kernel` and it compiles to Tile IR with its default consts.
fn check_candidate_source(source: &str, kernel: &str) -> Result<(), String> {
    sparsefill_compiler::lower_source(source, Some(kernel), &[]).map(drop).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_patterns::config::PATTERNS;

    fn specs(list: &str) -> Vec<String> {
        patterns(list).unwrap_or_else(|e| panic!("{e}")).into_iter().map(|p| p.spec).collect()
    }

    fn error(result: Result<impl std::fmt::Debug, BenchError>) -> String {
        match result {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn chunks_that_cut_a_gqa_group_are_refused_with_the_length() {
        let workloads = [Workload { len: 32768, heads: 32 }, Workload { len: 524288, heads: 4 }];
        assert_eq!(
            error(check_chunks(&workloads, Some(8))),
            "--vs-chunks at S=524288: 8 chunks of heads do not fit 4 heads on 1 kv heads: the count must divide \
             the heads, and either divide the kv heads or be a multiple of them (whole GQA groups a chunk, or \
             chunks inside a group); e.g. --vs-chunks 4"
        );
    }

    #[test]
    fn chunks_every_workload_fits_are_accepted() {
        let workloads = [Workload { len: 32768, heads: 32 }, Workload { len: 524288, heads: 4 }];
        assert!(check_chunks(&workloads, Some(4)).is_ok() && check_chunks(&workloads, None).is_ok());
    }

    #[test]
    fn commas_separate_patterns_and_their_arguments() {
        assert_eq!(
            specs("vertical_slash:vertical=10,slash=20,a_shape:n_init=4,n_local=64,block_sparse"),
            ["vertical_slash:vertical=10,slash=20", "a_shape:n_init=4,n_local=64", "block_sparse:top_k=100"]
        );
    }

    #[test]
    fn bare_names_take_the_bench_defaults_and_dense_is_the_baseline() {
        assert_eq!(specs("vertical_slash,dense"), ["vertical_slash:vertical=1000,slash=6096"]);
    }

    #[test]
    fn unknown_pattern_names_the_known_ones() {
        assert_eq!(
            error(patterns("vertical_slash,diagonal")),
            format!("unknown pattern `diagonal` in --patterns; known: {}", PATTERNS.join(", "))
        );
    }

    #[test]
    fn an_argument_without_a_pattern_is_refused() {
        assert!(error(patterns("top_k=4")).contains("`top_k=4` is an argument with no pattern name before it"));
    }

    #[test]
    fn bad_arguments_name_the_pattern() {
        let message = error(patterns("block_sparse:top_k=0"));
        assert!(
            message.starts_with("invalid pattern `block_sparse:top_k=0` in --patterns: top_k must be"),
            "{message}"
        );
        assert!(error(patterns("a_shape:n_init=4")).contains("missing field `n_local`"));
    }

    #[test]
    fn lengths_must_be_positive_whole_numbers() {
        assert_eq!(lengths("32768, 1024").ok(), Some(vec![32768, 1024]));
        assert!(error(lengths("32k")).contains("`32k` is not a whole number of tokens"));
        assert!(error(lengths("0")).contains("0 is outside 1 ..= 2147483647 tokens"));
    }

    #[test]
    fn heads_default_falls_with_the_square_of_long_lengths() {
        let heads: Vec<usize> = [32768, 131072, 262144, 524288, 1 << 21].map(default_heads).to_vec();
        assert_eq!(heads, [32, 32, 8, 4, 4]);
    }

    #[test]
    fn heads_take_one_count_or_one_per_length() {
        let per = |list| workloads(&[1024, 2048], Some(list)).map(|w| w.iter().map(|w| w.heads).collect::<Vec<_>>());
        assert_eq!(per("8").ok(), Some(vec![8, 8]));
        assert_eq!(per("8,4").ok(), Some(vec![8, 4]));
        assert!(error(per("8,4,4")).contains("3 counts for 2 lengths"));
        assert!(error(per("6")).contains("`6` is not a positive multiple of 4"));
    }

    #[test]
    fn a_length_below_a_patterns_minimum_is_refused() {
        let w = [Workload { len: 4096, heads: 4 }];
        let message = error(check_lengths(&w, &patterns("vertical_slash").unwrap_or_default()));
        assert!(
            message.starts_with(
                "--lengths 4096 is below `vertical_slash:vertical=1000,slash=6096`'s minimum of 6097 tokens"
            ),
            "{message}"
        );
        assert_eq!(
            check_lengths(&[Workload { len: 6097, heads: 4 }], &patterns("vertical_slash").unwrap_or_default()).ok(),
            Some(())
        );
    }

    #[test]
    fn every_shipped_candidate_kernel_passes_the_candidate_check() {
        for (kernel, source) in CANDIDATE_KERNELS {
            assert_eq!(check_candidate_source(source, kernel), Ok(()), "{kernel}");
        }
    }

    /// The shipped `vs_column_scores` with one edit, given alone: it compiles with the
    /// shipped source's other items (attention.tile's `softmax_step` among them), which stay.
    #[test]
    fn a_file_with_only_its_kernel_replaces_the_shipped_one() {
        let shipped = plan::ESTIMATE_SOURCE;
        let start = shipped.find("kernel vs_column_scores").unwrap_or_default();
        let end = start + shipped[start..].find("\n}\n").unwrap_or_default() + 3;
        let edited = shipped[start..end].replace("TILES: i32 = 16", "TILES: i32 = 8");
        assert_ne!(edited, shipped[start..end], "the edit took");
        let source = merged_source(shipped, &edited).unwrap_or_default();
        let ir = sparsefill_compiler::lower_source(&source, Some("vs_column_scores"), &[]);
        let tiles = ir.map(|k| k.consts.iter().find(|(n, _)| n == "TILES").map(|(_, v)| v.clone()));
        assert_eq!(tiles.ok().flatten(), Some(sparsefill_compiler::ir::ConstValue::Int(8)));
        assert_eq!(check_candidate_source(&source, "vs_row_stats"), Ok(()));
    }

    #[test]
    fn a_whole_source_is_not_merged() {
        assert_eq!(merged_source(plan::ESTIMATE_SOURCE, plan::ESTIMATE_SOURCE), None);
    }

    /// A kernel-only file with a mistake: the error says it was compiled among the shipped
    /// source's items, whose lines the message shows.
    #[test]
    fn a_kernel_only_file_that_does_not_compile_is_refused_saying_where_it_was_compiled() {
        let file = std::env::temp_dir().join(format!("sparsefill-candidate-{}.tile", std::process::id()));
        let text = "kernel vs_combine_stats(x: tensor<f32>[N]) grid(1) warps(1) { x[0 .. 4] = softmax_step; }";
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
        let err = candidate(&format!("vs_combine_stats={}", file.display())).err().map(|e| e.to_string());
        let _ = std::fs::remove_file(&file);
        let err = err.unwrap_or_default();
        assert!(err.contains("does not compile in the shipped source in place of its items"), "{err}");
    }

    #[test]
    fn a_file_that_does_not_parse_is_not_merged() {
        assert_eq!(merged_source(plan::ESTIMATE_SOURCE, "kernel vs_column_scores("), None);
    }

    #[test]
    fn a_candidate_source_without_its_kernel_is_refused() {
        let message = check_candidate_source(attention::SOURCE, plan::ATTEND_KERNEL).err().unwrap_or_default();
        assert!(message.contains("sparse_vertical_slash"), "{message}");
    }
}
