//! What a sweep measured (bench.json): per length, our dense baseline and each
//! pattern's stage timings, work and check, with the figures derived from them.

use super::json::Field;
use super::BenchError;
use serde_json::{json, Map, Value};
use sparsefill_patterns::sparse::index::BLOCK;
use std::path::Path;

/// The pattern name of the baseline row: our dense kernel (attention.tile).
pub const DENSE: &str = "dense";
/// FlexAttention's block, both axes: the granularity of the covers peers read.
pub const FLEX_BLOCK: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub card: String,
    pub driver: String,
    pub arch: String,
    pub date: String,
    pub command: String,
    pub commit: Option<String>,
    /// The synthetic generator's head knobs (`vertical_slash` or `mixed`).
    pub knobs: String,
    pub head_dim: usize,
    pub warmup: usize,
    /// Milliseconds of untimed runs before each measurement (0 in bench.json files that
    /// predate it).
    pub settle_ms: u64,
    pub iters: usize,
    pub lengths: Vec<LengthRun>,
}

/// One sequence of `len` tokens, `heads` query heads and `kv_heads` kv heads.
#[derive(Clone, Debug, PartialEq)]
pub struct LengthRun {
    pub len: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// The dense baseline first, then the patterns in `--patterns` order.
    pub runs: Vec<PatternRun>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PatternRun {
    pub pattern: String,
    pub result: Result<Timing, String>,
}

/// CUDA-event times of one stage: the median and every sample, in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub ms: f64,
    pub samples: Vec<f64>,
}

/// One launch of the estimation or the index build, timed alone.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchTime {
    pub kernel: String,
    pub ms: f64,
}

/// Where the pattern's cover at [`FLEX_BLOCK`] granularity was written, for the peers.
#[derive(Clone, Debug, PartialEq)]
pub struct Cover {
    pub file: String,
    pub blocks_set: usize,
    pub causal_blocks: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// Scores (and selection) the index is built from; none for static patterns.
    pub estimation: Option<Stage>,
    /// Turning the scores into the index the kernel reads; none for static patterns.
    pub index: Option<Stage>,
    pub attention: Stage,
    /// Every stage's launches timed as one range, back to back as a pre-fill runs them
    /// (none where the attention is the only stage).
    pub together: Option<Stage>,
    /// The chunks of heads `together` ran the launches in (1: in one piece).
    pub chunks: usize,
    pub launches: Vec<LaunchTime>,
    /// 64×64 tiles the attention kernel computes, over every head (a gathered column
    /// step of 32 keys counts half a tile).
    pub computed_tiles: f64,
    /// 64×64 tiles on or below the diagonal, over every head.
    pub causal_tiles: f64,
    /// Rows that matched the masked f64 reference, or why the check failed.
    pub check: Result<usize, String>,
    pub cover: Option<Cover>,
    /// `--candidate`'s kernel against the shipped attention kernel, where it replaced one.
    pub candidate: Option<CandidateRun>,
    /// `--vs-chunks`: the launches in chunks of heads, overlapped, against the launches in
    /// one piece (estimation, index and attention timed as one range).
    pub overlap: Option<CandidateRun>,
}

/// A `--candidate` kernel and the shipped one it replaces, each the median of its turns
/// (timed alternately in one process), and the candidate's own check.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateRun {
    pub file: String,
    pub shipped_ms: f64,
    pub candidate_ms: f64,
    pub check: Result<usize, String>,
}

/// 64×64 tiles on or below the diagonal of one sequence of `len` tokens, over `heads` heads.
pub fn causal_tiles(len: usize, heads: usize) -> f64 {
    let blocks = len.div_ceil(BLOCK) as f64;
    heads as f64 * blocks * (blocks + 1.0) / 2.0
}

/// Flops of `tiles` 64×64 tiles: two 64×D products each, 4 · 64 · 64 · D.
pub fn tile_flops(tiles: f64, head_dim: usize) -> f64 {
    tiles * 4.0 * (BLOCK * BLOCK * head_dim) as f64
}

impl Timing {
    /// Estimation, index build and attention together: their launches timed as one range
    /// where there are several stages, else the attention's time.
    pub fn total_ms(&self) -> f64 {
        self.together.as_ref().map_or_else(|| self.stages_ms(), |t| t.ms)
    }

    /// The stages' times, each timed apart, summed.
    pub fn stages_ms(&self) -> f64 {
        [&self.estimation, &self.index].into_iter().flatten().map(|s| s.ms).sum::<f64>() + self.attention.ms
    }

    /// Computed tiles over causal tiles: 1 for dense.
    pub fn density(&self) -> f64 {
        self.computed_tiles / self.causal_tiles
    }

    pub fn attention_flops(&self, head_dim: usize) -> f64 {
        tile_flops(self.computed_tiles, head_dim)
    }

    /// TFLOP/s of the attention stage on the tiles it computes.
    pub fn attention_tflops(&self, head_dim: usize) -> f64 {
        self.attention_flops(head_dim) / (self.attention.ms * 1e9)
    }
}

impl LengthRun {
    /// Our dense baseline's timing, if it ran.
    pub fn dense(&self) -> Option<&Timing> {
        self.runs.iter().find(|r| r.pattern == DENSE).and_then(|r| r.result.as_ref().ok())
    }

    /// Our dense total over `total_ms`: how many times faster than our dense kernel.
    pub fn speedup(&self, total_ms: f64) -> Option<f64> {
        self.dense().map(|d| d.total_ms() / total_ms)
    }
}

impl Report {
    /// Measurements that failed to run or failed their check, or whose candidate failed its.
    pub fn failures(&self) -> usize {
        self.lengths
            .iter()
            .flat_map(|l| &l.runs)
            .filter(|r| {
                r.result.as_ref().map_or(true, |t| {
                    t.check.is_err() || [&t.candidate, &t.overlap].into_iter().flatten().any(|c| c.check.is_err())
                })
            })
            .count()
    }

    pub fn measurements(&self) -> usize {
        self.lengths.iter().map(|l| l.runs.len()).sum()
    }

    pub fn to_json(&self) -> Value {
        let lengths: Vec<Value> = self
            .lengths
            .iter()
            .map(|l| {
                let runs: Vec<Value> = l.runs.iter().map(|r| run_json(r, l, self.head_dim)).collect();
                json!({ "len": l.len, "heads": l.heads, "kv_heads": l.kv_heads, "patterns": runs })
            })
            .collect();
        json!({
            "card": self.card, "driver": self.driver, "arch": self.arch, "date": self.date,
            "command": self.command, "commit": self.commit, "knobs": self.knobs,
            "head_dim": self.head_dim, "dtype": "bf16", "warmup": self.warmup, "settle_ms": self.settle_ms, "iters": self.iters,
            "tile": BLOCK, "flex_block": FLEX_BLOCK, "lengths": lengths,
        })
    }

    /// A bench.json as [`Report::to_json`] wrote it (the derived figures are recomputed).
    pub fn from_json(path: &Path, value: &Value) -> Result<Report, BenchError> {
        let root = Field::root(path, value);
        let text = |key: &str| root.get(key).and_then(|f| f.str().map(str::to_string));
        let lengths = root
            .get("lengths")?
            .items()?
            .iter()
            .map(|l| {
                let runs = l.get("patterns")?.items()?.iter().map(run_from_json).collect::<Result<_, _>>()?;
                Ok(LengthRun {
                    len: l.get("len")?.usize()?,
                    heads: l.get("heads")?.usize()?,
                    kv_heads: l.get("kv_heads")?.usize()?,
                    runs,
                })
            })
            .collect::<Result<_, BenchError>>()?;
        Ok(Report {
            card: text("card")?,
            driver: text("driver")?,
            arch: text("arch")?,
            date: text("date")?,
            command: text("command")?,
            commit: root.opt("commit").map(|f| f.str().map(str::to_string)).transpose()?,
            knobs: text("knobs")?,
            head_dim: root.get("head_dim")?.usize()?,
            warmup: root.get("warmup")?.usize()?,
            settle_ms: root.usize_or("settle_ms", 0)? as u64,
            iters: root.get("iters")?.usize()?,
            lengths,
        })
    }
}

fn stage_json(stage: &Option<Stage>) -> (Value, Value) {
    match stage {
        Some(s) => (json!(s.ms), json!(s.samples)),
        None => (Value::Null, Value::Null),
    }
}

fn run_json(run: &PatternRun, length: &LengthRun, head_dim: usize) -> Value {
    let t = match &run.result {
        Ok(t) => t,
        Err(e) => return json!({ "pattern": run.pattern, "error": e }),
    };
    let (est, est_samples) = stage_json(&t.estimation);
    let (index, index_samples) = stage_json(&t.index);
    let (together, together_samples) = stage_json(&t.together);
    let mut out = Map::new();
    out.insert("pattern".into(), json!(run.pattern));
    out.insert(
        "ms".into(),
        json!({
            "estimation": est, "index": index, "attention": t.attention.ms, "together": together,
            "stages": t.stages_ms(), "total": t.total_ms(),
        }),
    );
    out.insert(
        "samples".into(),
        json!({
            "estimation": est_samples, "index": index_samples, "attention": t.attention.samples,
            "together": together_samples,
        }),
    );
    let launches: Vec<Value> = t.launches.iter().map(|l| json!({ "kernel": l.kernel, "ms": l.ms })).collect();
    out.insert("launches".into(), json!(launches));
    out.insert("chunks".into(), json!(t.chunks));
    out.insert("computed_tiles".into(), json!(t.computed_tiles));
    out.insert("causal_tiles".into(), json!(t.causal_tiles));
    out.insert("density".into(), json!(t.density()));
    out.insert("attention_flops".into(), json!(t.attention_flops(head_dim)));
    out.insert("attention_tflops".into(), json!(t.attention_tflops(head_dim)));
    out.insert("speedup_vs_dense".into(), json!(length.speedup(t.total_ms())));
    insert_check(&mut out, &t.check);
    for (key, run) in [("candidate", &t.candidate), ("overlap", &t.overlap)] {
        if let Some(c) = run {
            let mut candidate = Map::new();
            candidate.insert("file".into(), json!(c.file));
            candidate.insert("shipped_ms".into(), json!(c.shipped_ms));
            candidate.insert("candidate_ms".into(), json!(c.candidate_ms));
            insert_check(&mut candidate, &c.check);
            out.insert(key.into(), Value::Object(candidate));
        }
    }
    if let Some(c) = &t.cover {
        out.insert(
            "cover".into(),
            json!({
                "file": c.file, "block": FLEX_BLOCK, "blocks_set": c.blocks_set, "causal_blocks": c.causal_blocks,
                "shape": [length.heads, length.len.div_ceil(FLEX_BLOCK), length.len.div_ceil(FLEX_BLOCK)],
                "packing": "u8, bits along the last axis, first block in the most significant bit (numpy.packbits)",
            }),
        );
    }
    Value::Object(out)
}

fn stage_at(run: &Field, key: &str, ms: &Field) -> Result<Stage, BenchError> {
    Ok(Stage { ms: ms.f64()?, samples: run.get("samples")?.get(key)?.numbers()? })
}

fn optional_stage(run: &Field, key: &str) -> Result<Option<Stage>, BenchError> {
    run.get("ms")?.opt(key).map(|ms| stage_at(run, key, &ms)).transpose()
}

fn run_from_json(run: &Field) -> Result<PatternRun, BenchError> {
    let pattern = run.get("pattern")?.str()?.to_string();
    if let Some(error) = run.opt("error") {
        return Ok(PatternRun { pattern, result: Err(error.str()?.to_string()) });
    }
    let launches = run
        .get("launches")?
        .items()?
        .iter()
        .map(|l| Ok(LaunchTime { kernel: l.get("kernel")?.str()?.to_string(), ms: l.get("ms")?.f64()? }))
        .collect::<Result<_, BenchError>>()?;
    let check = check_at(run)?;
    let turns = |key: &str| -> Result<Option<CandidateRun>, BenchError> {
        match run.opt(key) {
            Some(c) => Ok(Some(CandidateRun {
                file: c.get("file")?.str()?.to_string(),
                shipped_ms: c.get("shipped_ms")?.f64()?,
                candidate_ms: c.get("candidate_ms")?.f64()?,
                check: check_at(&c)?,
            })),
            None => Ok(None),
        }
    };
    let (candidate, overlap) = (turns("candidate")?, turns("overlap")?);
    let cover = match run.opt("cover") {
        Some(c) => Some(Cover {
            file: c.get("file")?.str()?.to_string(),
            blocks_set: c.get("blocks_set")?.usize()?,
            causal_blocks: c.get("causal_blocks")?.usize()?,
        }),
        None => None,
    };
    let timing = Timing {
        estimation: optional_stage(run, "estimation")?,
        index: optional_stage(run, "index")?,
        attention: stage_at(run, "attention", &run.get("ms")?.get("attention")?)?,
        together: optional_stage(run, "together")?,
        chunks: run.usize_or("chunks", 1)?,
        launches,
        computed_tiles: run.get("computed_tiles")?.f64()?,
        causal_tiles: run.get("causal_tiles")?.f64()?,
        check,
        cover,
        candidate,
        overlap,
    };
    Ok(PatternRun { pattern, result: Ok(timing) })
}

/// A check into `out`: `check_ok`, and `check_rows` (the rows that matched) or
/// `check_error` (why it failed); [`check_at`] reads it back.
fn insert_check(out: &mut Map<String, Value>, check: &Result<usize, String>) {
    out.insert("check_ok".into(), json!(check.is_ok()));
    match check {
        Ok(rows) => out.insert("check_rows".into(), json!(rows)),
        Err(e) => out.insert("check_error".into(), json!(e)),
    };
}

/// A check as written by [`insert_check`]: the rows that matched, or why it failed.
fn check_at(at: &Field) -> Result<Result<usize, String>, BenchError> {
    Ok(match at.opt("check_error") {
        Some(e) => Err(e.str()?.to_string()),
        None => Ok(at.get("check_rows")?.usize()?),
    })
}

#[cfg(test)]
pub mod fixture {
    //! A report built in code for the rendering tests: numbers follow from the
    //! shapes by simple rules, so a change to a formula shows in the goldens.
    use super::*;

    fn stage(ms: f64) -> Stage {
        Stage { ms, samples: vec![ms * 1.01, ms, ms * 0.99] }
    }

    /// Two lengths: dense, a vertical-slash run whose time grows slower than dense,
    /// and an A-shape run that fails at the second length.
    pub fn report() -> Report {
        let lengths = [(32768, 32), (131072, 8)]
            .into_iter()
            .enumerate()
            .map(|(i, (len, heads))| {
                let causal = causal_tiles(len, heads);
                let dense_ms = tile_flops(causal, 128) / 250e9;
                let dense = Timing {
                    estimation: None,
                    index: None,
                    attention: stage(dense_ms),
                    together: None,
                    chunks: 1,
                    launches: vec![],
                    computed_tiles: causal,
                    causal_tiles: causal,
                    check: Ok(4),
                    cover: None,
                    candidate: None,
                    overlap: None,
                };
                let share = 0.5 / (i + 1) as f64;
                let vs = Timing {
                    estimation: Some(stage(dense_ms * 0.02)),
                    index: Some(stage(dense_ms * 0.01)),
                    attention: stage(dense_ms * share * 2.0),
                    together: Some(stage(dense_ms * (0.02 + 0.01 + share * 2.0) * 0.99)),
                    chunks: if i == 0 { 1 } else { 8 },
                    launches: vec![LaunchTime { kernel: "vs_convert".into(), ms: dense_ms * 0.01 }],
                    computed_tiles: causal * share,
                    causal_tiles: causal,
                    check: if i == 0 { Ok(4) } else { Err("row 7: o differs by 0.5".into()) },
                    cover: Some(Cover {
                        file: format!("cover-{len}-1-vertical_slash.bin"),
                        blocks_set: (causal * share / 4.0) as usize,
                        causal_blocks: (causal / 4.0) as usize,
                    }),
                    candidate: Some(CandidateRun {
                        file: "next.tile".into(),
                        shipped_ms: dense_ms * share * 2.0,
                        candidate_ms: dense_ms * share * 1.8,
                        check: if i == 0 { Ok(4) } else { Err("row 3: lse differs by 1".into()) },
                    }),
                    overlap: Some(CandidateRun {
                        file: "4 chunks of heads, overlapped".into(),
                        shipped_ms: dense_ms * share * 2.03,
                        candidate_ms: dense_ms * share * 2.0,
                        check: Ok(len),
                    }),
                };
                let a_shape = if i == 0 {
                    Ok(Timing {
                        estimation: None,
                        index: None,
                        attention: stage(dense_ms * 0.1),
                        together: None,
                        computed_tiles: causal * 0.1,
                        cover: None,
                        candidate: None,
                        overlap: None,
                        ..vs.clone()
                    })
                } else {
                    Err("out of memory".to_string())
                };
                LengthRun {
                    len,
                    heads,
                    kv_heads: heads / 4,
                    runs: vec![
                        PatternRun { pattern: DENSE.into(), result: Ok(dense) },
                        PatternRun { pattern: "vertical_slash:vertical=1000,slash=6096".into(), result: Ok(vs) },
                        PatternRun { pattern: "a_shape:n_init=128,n_local=4096".into(), result: a_shape },
                    ],
                }
            })
            .collect();
        Report {
            card: "NVIDIA Test & <Card>".into(),
            driver: "580.00 (CUDA 13.0)".into(),
            arch: "sm_90a".into(),
            date: "2026-11-28 12:00 UTC".into(),
            command: "sparsefill bench --out out".into(),
            commit: Some("0123456789ab".into()),
            knobs: "vertical_slash".into(),
            head_dim: 128,
            warmup: 1,
            settle_ms: 2000,
            iters: 3,
            lengths,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_as_written() {
        let report = fixture::report();
        let back = Report::from_json(Path::new("bench.json"), &report.to_json()).map_err(|e| e.to_string());
        assert_eq!(back, Ok(report));
    }

    #[test]
    fn derived_figures_follow_from_the_timings() {
        let report = fixture::report();
        let length = &report.lengths[0];
        let vs = length.runs[1].result.as_ref().map_err(String::clone);
        let vs = vs.unwrap_or_else(|e| panic!("{e}"));
        assert!((vs.density() - 0.5).abs() < 1e-12);
        let dense = length.dense().map(Timing::total_ms).unwrap_or(f64::NAN);
        // The total is the stages timed together (the fixture's 0.99 of their sum).
        assert!((vs.stages_ms() - dense * 1.03).abs() < 1e-9);
        assert!((length.speedup(vs.total_ms()).unwrap_or(f64::NAN) - dense / (dense * 1.03 * 0.99)).abs() < 1e-12);
        assert_eq!((report.failures(), report.measurements()), (2, 6));
    }

    #[test]
    fn a_candidate_that_fails_its_check_fails_its_measurement() {
        let mut report = fixture::report();
        let vs = report.lengths[0].runs[1].result.as_mut().map(|t| t.candidate.as_mut());
        if let Ok(Some(candidate)) = vs {
            candidate.check = Err("row 0: o differs by 1".into());
        }
        assert_eq!(report.failures(), 3);
    }

    #[test]
    fn a_report_from_before_settling_reads_as_none() {
        let mut value = fixture::report().to_json();
        value.as_object_mut().map(|m| m.remove("settle_ms"));
        let back = Report::from_json(Path::new("bench.json"), &value).map(|r| r.settle_ms).map_err(|e| e.to_string());
        assert_eq!(back, Ok(0));
    }

    #[test]
    fn a_missing_field_is_named_with_its_path() {
        let mut value = fixture::report().to_json();
        value["lengths"][1]["patterns"][0]["ms"].as_object_mut().map(|m| m.remove("attention"));
        let err = Report::from_json(Path::new("out/bench.json"), &value).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(err, Err("`out/bench.json`: field `lengths[1].patterns[0].ms.attention` is missing".into()));
    }
}
