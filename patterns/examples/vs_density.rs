//! How sparse the vertical-slash index is on the synthetic heads, measured with the host
//! reference estimator (no GPU): per preset, the index density, where the chosen slashes
//! lie, and the recall and output error of the index on sampled rows against dense f64
//! attention.
//!
//! ```text
//! cargo run --release -p sparsefill-patterns --example vs_density -- --len 32768 --heads 4
//! ```
//!
//! Options (defaults in brackets): `--len S` [32768], `--heads H` [4; kv heads H/4, at
//! least 1, as `benches/sparse.rs` builds them], `--rows R` sampled rows for recall [32],
//! `--seed N` [1], `--vertical V` [1000], `--slash N` [6096], `--preset NAME` [all]:
//! one of vertical-slash, a-shape, local, diffuse, mixed, or a preset name followed by
//! `-flat` (the preset with `decay: 0`, the generator without its distance decay).
//! Every preset runs with `for_length(S)`, as the benchmarks use it.

use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::sparse::index::{SparseIndex, BLOCK};
use sparsefill_patterns::sparse::vertical_slash::reference::{head_sums, index_of, select, Selection};
use sparsefill_patterns::sparse::vertical_slash::VerticalSlashParams;
use sparsefill_patterns::sparse::AttentionInputs;
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};
use std::process::ExitCode;
use std::time::Instant;

struct Options {
    len: usize,
    heads: usize,
    rows: usize,
    seed: u64,
    params: VerticalSlashParams,
    presets: Vec<String>,
}

const PRESETS: [&str; 5] = ["vertical-slash", "a-shape", "local", "diffuse", "mixed"];

fn knobs(preset: &str, heads: usize) -> Option<Vec<HeadKnobs>> {
    let (name, flat) = match preset.strip_suffix("-flat") {
        Some(name) => (name, true),
        None => (preset, false),
    };
    let one = |k: HeadKnobs| vec![k; heads];
    let knobs = match name {
        "vertical-slash" => one(HeadKnobs::VERTICAL_SLASH),
        "a-shape" => one(HeadKnobs::A_SHAPE),
        "local" => one(HeadKnobs::LOCAL),
        "diffuse" => one(HeadKnobs::DIFFUSE),
        "mixed" => HeadKnobs::mixed(heads),
        _ => return None,
    };
    Some(knobs.into_iter().map(|k| if flat { HeadKnobs { decay: 0.0, ..k } } else { k }).collect())
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        len: 32768,
        heads: 4,
        rows: 32,
        seed: 1,
        params: VerticalSlashParams::default(),
        presets: PRESETS.iter().map(|s| s.to_string()).collect(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("`{flag} {value}`: {e}"));
        match flag.as_str() {
            "--len" => o.len = number()?,
            "--heads" => o.heads = number()?,
            "--rows" => o.rows = number()?,
            "--seed" => o.seed = value.parse().map_err(|e| format!("`--seed {value}`: {e}"))?,
            "--vertical" => o.params.vertical_size = number()?,
            "--slash" => o.params.slash_size = number()?,
            "--preset" if value == "all" => {}
            "--preset" => {
                knobs(value, 1)
                    .ok_or_else(|| format!("`--preset {value}`: not one of {PRESETS:?} (+ `-flat`) or all"))?;
                o.presets = vec![value.clone()];
            }
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    if o.len == 0 || o.heads == 0 || o.rows == 0 {
        return Err(format!("--len, --heads and --rows must be at least 1; got {}, {}, {}", o.len, o.heads, o.rows));
    }
    o.params.validate().map_err(|e| e.to_string())?;
    Ok(o)
}

/// One preset's measurement.
struct Row {
    density: f64,
    /// Share of the chosen slashes within `2 · slash_size` of the main diagonal.
    near: f64,
    recall_mean: f64,
    recall_min: f64,
    o_error: f64,
    /// Standard deviation of the last query's logits over keys at distance S/4 .. S/2:
    /// the background the diagonal sums must rise above.
    far_sigma: f64,
}

fn measure(o: &Options, preset: &str) -> Result<Row, String> {
    let kv_heads = (o.heads / 4).max(1);
    if !o.heads.is_multiple_of(kv_heads) {
        return Err(format!("--heads {} is not a multiple of its kv heads {kv_heads}", o.heads));
    }
    let shape = AttentionShape { seqlens: vec![o.len], heads: o.heads, kv_heads, head_dim: 128, causal: true };
    let knobs = knobs(preset, o.heads).ok_or_else(|| format!("unknown preset {preset}"))?;
    let knobs = knobs.into_iter().map(|k| k.for_length(o.len)).collect();
    let inputs = Synthetic::new(&shape, knobs, o.seed).map_err(|e| e.to_string())?.inputs();
    let selections =
        in_parallel(o.heads, |h| select(&head_sums(&inputs, &shape, o.params.last_q, 0, h).forced(), &o.params));
    let index =
        index_of(&shape.seqlens, o.heads, &o.params, |_, h| selections[h].clone()).map_err(|e| e.to_string())?;
    let density = index.density(&shape.seqlens, o.heads);
    let chosen: Vec<usize> = selections.iter().flat_map(|s: &Selection| s.slashes.iter().copied()).collect();
    let near = chosen.iter().filter(|&&d| d < 2 * o.params.slash_size).count() as f64 / chosen.len().max(1) as f64;
    // Rows spread evenly over the sequence, so that the recall is that of an average row.
    let rows: Vec<usize> = (0..o.rows).map(|i| ((2 * i + 1) * o.len / (2 * o.rows)).min(o.len - 1)).collect();
    let per_head = in_parallel(o.heads, |h| compare_rows(&inputs, &shape, &index, &rows, h));
    let recalls: Vec<f64> = per_head.iter().flat_map(|p| p.recall.iter().copied()).collect();
    let (diff2, ref2) = per_head.iter().fold((0.0, 0.0), |(a, b), p| (a + p.diff2, b + p.ref2));
    let far_sigma = per_head.iter().map(|p| p.far_sigma).sum::<f64>() / o.heads as f64;
    Ok(Row {
        density,
        near,
        recall_mean: recalls.iter().sum::<f64>() / recalls.len() as f64,
        recall_min: recalls.iter().copied().fold(f64::INFINITY, f64::min),
        o_error: (diff2 / ref2).sqrt(),
        far_sigma,
    })
}

/// `f(h)` for every head, heads spread over threads.
fn in_parallel<T: Send>(heads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out: Vec<Option<T>> = (0..heads).map(|_| None).collect();
    std::thread::scope(|scope| {
        for (i, part) in out.chunks_mut(heads.div_ceil(threads)).enumerate() {
            let f = &f;
            scope.spawn(move || {
                for (j, slot) in part.iter_mut().enumerate() {
                    *slot = Some(f(i * heads.div_ceil(threads) + j));
                }
            });
        }
    });
    out.into_iter().flatten().collect()
}

struct HeadComparison {
    recall: Vec<f64>,
    diff2: f64,
    ref2: f64,
    far_sigma: f64,
}

/// Dense and index-masked attention of head `h` at `rows`, in f64.
fn compare_rows(
    inputs: &AttentionInputs,
    shape: &AttentionShape,
    index: &SparseIndex,
    rows: &[usize],
    h: usize,
) -> HeadComparison {
    let (d, len) = (shape.head_dim, shape.seqlens[0]);
    let hk = h / (shape.heads / shape.kv_heads);
    let scale = 1.0 / (d as f64).sqrt();
    let key = |j: usize| (j * shape.kv_heads + hk) * d;
    let scores = |r: usize| -> Vec<f64> {
        let q = &inputs.q.data[(r * shape.heads + h) * d..][..d];
        (0..=r).map(|j| scale * q.iter().zip(&inputs.k.data[key(j)..][..d]).map(|(a, b)| a * b).sum::<f64>()).collect()
    };
    let mut out = HeadComparison { recall: Vec::new(), diff2: 0.0, ref2: 0.0, far_sigma: 0.0 };
    for &r in rows {
        let s = scores(r);
        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (mut o_dense, mut o_sparse) = (vec![0.0; d], vec![0.0; d]);
        let (mut z_dense, mut z_sparse) = (0.0, 0.0);
        // The row's kept keys, from its block's lists (one lookup a row, not a key).
        let lists = index.lists(0, h, r / BLOCK);
        let mut kept = vec![false; r + 1];
        for &t in &lists.tiles {
            kept[t.min(r + 1)..(t + BLOCK).min(r + 1)].iter_mut().for_each(|k| *k = true);
        }
        lists.columns.iter().filter(|&&c| c <= r).for_each(|&c| kept[c] = true);
        for (j, x) in s.iter().enumerate() {
            let w = (x - m).exp();
            let kept = kept[j];
            let v = &inputs.v.data[key(j)..][..d];
            z_dense += w;
            o_dense.iter_mut().zip(v).for_each(|(o, v)| *o += w * v);
            if kept {
                z_sparse += w;
                o_sparse.iter_mut().zip(v).for_each(|(o, v)| *o += w * v);
            }
        }
        out.recall.push(z_sparse / z_dense);
        for (a, b) in o_sparse.iter().zip(&o_dense) {
            let (a, b) = (if z_sparse > 0.0 { a / z_sparse } else { 0.0 }, b / z_dense);
            out.diff2 += (a - b) * (a - b);
            out.ref2 += b * b;
        }
    }
    let last = scores(len - 1);
    let far = &last[len / 2..len - len / 4];
    let mean = far.iter().sum::<f64>() / far.len().max(1) as f64;
    out.far_sigma = (far.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / far.len().max(1) as f64).sqrt();
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vs_density: {e}");
            return ExitCode::FAILURE;
        }
    };
    let p = &o.params;
    println!(
        "vertical-slash ({}, {}), last_q {}, S {}, {} heads ({} kv), head dim 128, seed {}, {} sampled rows",
        p.vertical_size,
        p.slash_size,
        p.last_q,
        o.len,
        o.heads,
        (o.heads / 4).max(1),
        o.seed,
        o.rows
    );
    println!("| preset | S | density | near slashes | recall mean | recall min | o rel err | far logit std | s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for preset in &o.presets {
        let clock = Instant::now();
        match measure(&o, preset) {
            Ok(r) => println!(
                "| {preset} | {} | {:.3} | {:.3} | {:.4} | {:.4} | {:.4} | {:.2} | {:.1} |",
                o.len,
                r.density,
                r.near,
                r.recall_mean,
                r.recall_min,
                r.o_error,
                r.far_sigma,
                clock.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("vs_density: {preset}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
