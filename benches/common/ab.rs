//! `bench-kernels --ab A/B`: the two ways to compile dense attention to time against each
//! other. Each side is a comma list of `field=value` pairs: the tile constants `BM`, `BN`
//! and `STAGES` (the attention kernel's, default BM 128, BN 128 and the kernel's stages),
//! `source`, a `.tile` file whose `attention` kernel replaces the shipped one (an edit of
//! it, to time against it), and any `CodegenOptions` field
//! (`BM=64,BN=64/specialize=early`, `/source=attention-next.tile`).

use sparsefill_compiler::codegen::CodegenOptions;

/// The tile constants a side may set.
const TILE_CONSTANTS: [&str; 3] = ["BM", "BN", "STAGES"];

/// One side of `--ab`: its text, its code generation options and its tile constants.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub label: String,
    pub options: CodegenOptions,
    /// `BM` and `BN` always (128 unless set), then `STAGES` if set.
    pub tiles: Vec<(String, i64)>,
    /// The `.tile` file to compile instead of the shipped kernel.
    pub source: Option<String>,
}

impl Side {
    fn parse(text: &str) -> Result<Side, String> {
        let text = text.trim();
        let mut tiles = vec![("BM".to_string(), 128), ("BN".to_string(), 128)];
        let mut codegen = Vec::new();
        let mut source = None;
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((name, path)) if name.trim() == "source" => {
                    if path.trim().is_empty() {
                        return Err(format!("--ab `{text}`: `source` takes a .tile file's path"));
                    }
                    source = Some(path.trim().to_string());
                }
                Some((name, value)) if TILE_CONSTANTS.contains(&name.trim()) => {
                    let value: i64 = value.trim().parse().ok().filter(|v| *v > 0).ok_or_else(|| {
                        format!("--ab `{text}`: `{}` takes a positive integer; got `{}`", name.trim(), value.trim())
                    })?;
                    match tiles.iter_mut().find(|(n, _)| n == name.trim()) {
                        Some(slot) => slot.1 = value,
                        None => tiles.push((name.trim().to_string(), value)),
                    }
                }
                _ => codegen.push(pair),
            }
        }
        let options = codegen.join(",").parse::<CodegenOptions>().map_err(|e| format!("--ab `{text}`: {e}"))?;
        Ok(Side { label: text.to_string(), options, tiles, source })
    }
}

/// The two sides of `given`, or an error naming what is wrong. The sides split at the first
/// `/`, so only B's `source` path may hold one.
pub fn parse_ab(given: &str) -> Result<[Side; 2], String> {
    let (a, b) = given.split_once('/').ok_or_else(|| format!("--ab `{given}`: expected two sides as A/B"))?;
    Ok([Side::parse(a)?, Side::parse(b)?])
}

/// The attention source each side compiles: `shipped`, or the text of its `source` file
/// (read before the GPU opens, so a missing file is named at once).
pub fn sources(sides: &[Side; 2], shipped: &str) -> Result<[String; 2], String> {
    let read = |side: &Side| match &side.source {
        None => Ok(shipped.to_string()),
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("--ab `{}`: cannot read `{path}`: {e}", side.label))
        }
    };
    Ok([read(&sides[0])?, read(&sides[1])?])
}

/// How `--ab` times its two sides: in turns after one settling (the default), or with
/// `--sustained MS` each alone after MS milliseconds of its own launches, so that each runs
/// at the clock its own power allows; `--len N` keeps the shapes of that length, one of
/// `lengths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbRuns {
    pub sustained_ms: Option<u64>,
    pub len: Option<usize>,
}

impl AbRuns {
    pub fn parse(sustained: Option<&str>, len: Option<&str>, lengths: &[usize]) -> Result<AbRuns, String> {
        let sustained_ms = sustained
            .map(|ms| {
                ms.trim().parse::<u64>().ok().filter(|&v| v > 0).ok_or_else(|| {
                    format!("--sustained takes the milliseconds each side runs alone before it is timed; got `{ms}`")
                })
            })
            .transpose()?;
        let len = len
            .map(|n| {
                n.trim().parse::<usize>().ok().filter(|v| lengths.contains(v)).ok_or_else(|| {
                    let known: Vec<String> = lengths.iter().map(usize::to_string).collect();
                    format!("--len takes one of the attention lengths, {}; got `{n}`", known.join(", "))
                })
            })
            .transpose()?;
        Ok(AbRuns { sustained_ms, len })
    }
}
