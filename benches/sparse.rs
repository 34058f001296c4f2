//! GPU benchmark of the vertical-slash pattern end to end (issue 4's acceptance
//! workload): estimation (scores, top-k, index conversion) and sparse attention, on the
//! synthetic long-context generator's inputs, one sequence, GQA with `kv_heads = H / 4`,
//! head dim 128, bf16, MInference's (1000, 6096) with 64 estimation queries.
//!
//!   bench-sparse --out DIR [--lengths 32768:32,131072:32,524288:4] [--iters 5]
//!                [--rows 6] [--knobs vertical_slash|mixed]
//!
//! Per length: the plan runs once and is checked (the index validated, o and lse finite
//! in every row, sampled rows against the f64 reference under the index's mask), then
//! timed with CUDA events (median of `--iters` after one warm-up): each estimation
//! launch alone, the estimation together, the attention, and everything together.
//! Writes `DIR/sparse.json` and, per length, `DIR/cover-<len>.bin`: our mask's cover at
//! FlexAttention's 128×128 block granularity, which `benches/peers/sparse_peers.py`
//! turns into a BlockMask (the JSON says its shape and packing).
//!
//! Attention FLOPs count what the kernel computes, not what the mask keeps: per query
//! block of 64 rows inside the sequence, every key it multiplies costs two 64×D
//! products, 4·64·D flops; the keys are its slash tiles (64 each) and its gathered
//! columns rounded up to the kernel's gather step ([`COLUMN_CHUNK`]; a partial step is
//! computed whole).

use rand::seq::IndexedRandom;
use rand::SeedableRng;
use serde_json::{json, Value};
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::{self, AttentionCase, AttentionShape, KeyMask};
use sparsefill_patterns::gpu::vertical_slash::PlanOnGpu;
use sparsefill_patterns::recall::dense_case;
use sparsefill_patterns::sparse::index::{causal_limit, query_blocks, SparseIndex, BLOCK};
use sparsefill_patterns::sparse::vertical_slash::plan::{self, Buffer};
use sparsefill_patterns::sparse::vertical_slash::{check, VerticalSlashParams};
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic};
use sparsefill_runtime::{median, CacheConfig, Gpu, KernelCache};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const HEAD_DIM: usize = 128;
/// FlexAttention's default (and the kernel's supported) block-mask block, both axes.
const FLEX_BLOCK: usize = 128;
/// Key columns per gathered step of sparse_vertical_slash.tile at head dim 128: BN / 2
/// (it halves its steps above D = 64 to stay in registers).
const COLUMN_CHUNK: usize = 32;

#[path = "common/mod.rs"]
mod common;
use common::arg;

fn main() -> ExitCode {
    common::exit_code(run())
}

/// `--lengths LEN:HEADS,...`.
fn workloads(spec: &str) -> BenchResult<Vec<(usize, usize)>> {
    spec.split(',')
        .map(|pair| {
            let bad = || format!("--lengths takes LEN:HEADS,... with HEADS a multiple of 4; got `{pair}`");
            let (len, heads) = pair.split_once(':').ok_or_else(bad)?;
            let (len, heads): (usize, usize) = (len.parse().map_err(|_| bad())?, heads.parse().map_err(|_| bad())?);
            if len == 0 || heads == 0 || heads % 4 != 0 {
                return Err(bad().into());
            }
            Ok((len, heads))
        })
        .collect()
}

fn run() -> BenchResult<bool> {
    let out = PathBuf::from(arg("--out").ok_or("--out DIR (where sparse.json and the covers go) is required")?);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create `{}`: {e}", out.display()))?;
    let lengths = workloads(&arg("--lengths").unwrap_or_else(|| "32768:32,131072:32,524288:4".into()))?;
    let iters: usize = arg("--iters").map_or(Ok(5), |s| s.parse()).map_err(|_| "--iters takes a count")?;
    let rows: usize = arg("--rows").map_or(Ok(6), |s| s.parse()).map_err(|_| "--rows takes a count")?;
    let knobs = arg("--knobs").unwrap_or_else(|| "vertical_slash".into());
    if !["vertical_slash", "mixed"].contains(&knobs.as_str()) {
        return Err(format!("--knobs takes vertical_slash or mixed; got `{knobs}`").into());
    }
    let gpu = Gpu::new(0)?;
    let card = gpu.info().name.clone();
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let params = VerticalSlashParams::default();
    println!(
        "card: {card} ({}); vertical-slash ({}, {}), last_q {}, D {HEAD_DIM}, bf16, kv_heads = H/4, synthetic {knobs} \
         knobs raised for the length; {iters} timed runs after 1 warm-up, medians",
        gpu.arch(),
        params.vertical_size,
        params.slash_size,
        params.last_q
    );
    let mut results = Vec::new();
    let mut all_ok = true;
    for (len, heads) in lengths {
        let started = Instant::now();
        let result = bench_length(&gpu, &cache, &out, len, heads, &knobs, &params, iters, rows);
        let entry = match result {
            Ok(entry) => entry,
            Err(e) => {
                println!("S={len} H={heads}: FAILED: {e}");
                json!({ "len": len, "heads": heads, "error": e.to_string() })
            }
        };
        all_ok &= entry["check_ok"].as_bool().unwrap_or(false);
        println!("S={len} H={heads}: done in {:.1} s (host included)", started.elapsed().as_secs_f64());
        results.push(entry);
    }
    print_table(&results);
    let report = json!({
        "card": card, "arch": gpu.arch().name(), "params": {
            "vertical_size": params.vertical_size, "slash_size": params.slash_size, "last_q": params.last_q,
        },
        "knobs": knobs, "iters": iters, "head_dim": HEAD_DIM, "flex_block": FLEX_BLOCK, "lengths": results,
    });
    let path = out.join("sparse.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    Ok(all_ok)
}

#[allow(clippy::too_many_arguments)]
fn bench_length(
    gpu: &Gpu,
    cache: &KernelCache,
    out: &Path,
    len: usize,
    heads: usize,
    knobs: &str,
    params: &VerticalSlashParams,
    iters: usize,
    rows: usize,
) -> BenchResult<Value> {
    let shape = AttentionShape { seqlens: vec![len], heads, kv_heads: heads / 4, head_dim: HEAD_DIM, causal: true };
    let mut host = serde_json::Map::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str| {
        host.insert(name.to_string(), json!(clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    let head_knobs = match knobs {
        "mixed" => HeadKnobs::mixed(heads),
        _ => vec![HeadKnobs::VERTICAL_SLASH; heads],
    };
    let inputs = Synthetic::new(&shape, head_knobs.into_iter().map(|k| k.for_length(len)).collect(), 1)?.inputs();
    lap("generate_s");
    let plan = plan::plan(&inputs, params)?;
    // The f64 reference reads the same rounded inputs.
    let case = dense_case(&inputs)?;
    drop(inputs);
    lap("plan_s");
    let on = PlanOnGpu::new(gpu, cache, &plan)?;
    drop(plan);
    lap("upload_s");

    on.launch_all(0..on.launches().len())?;
    let index = on.index()?;
    let (o, lse) = (on.download(Buffer::O)?, on.download(Buffer::Lse)?);
    lap("run_and_download_s");
    // An invalid index ends this length: timing it would read out of bounds.
    index.validate(&shape.seqlens, heads).map_err(|e| format!("the estimated index is invalid: {e}"))?;
    let density = index.density(&shape.seqlens, heads);
    let flops = attention_flops(&index, &shape);
    let checked = check_rows(&case, &index, &o, &lse, rows);
    drop((o, lse, case));
    lap("check_s");

    let time = |range: std::ops::Range<usize>| -> BenchResult<(f64, Vec<f32>)> {
        let samples = on.time_ms(range, 1, iters)?;
        Ok((median(&samples).unwrap_or(f32::NAN) as f64, samples))
    };
    let mut per_kernel = Vec::new();
    for at in on.estimation() {
        let (ms, samples) = time(at..at + 1)?;
        per_kernel.push(json!({ "launch": at, "kernel": on.launches()[at].kernel, "ms": ms, "samples": samples }));
    }
    let (estimation_ms, estimation_samples) = time(on.estimation())?;
    let (attention_ms, attention_samples) = time(on.attention()..on.attention() + 1)?;
    let (total_ms, total_samples) = time(0..on.launches().len())?;
    // The timed runs recomputed the index from the same inputs: it must not have moved.
    let same_index = check::same_lists(&on.index()?, &index, &shape.seqlens, heads).is_ok();
    lap("time_s");

    let cover = flex_cover(&index, &shape);
    let cover_file = format!("cover-{len}.bin");
    std::fs::write(out.join(&cover_file), &cover.bits)
        .map_err(|e| format!("cannot write `{}`: {e}", out.join(&cover_file).display()))?;
    lap("cover_s");

    let check_ok = checked.is_ok() && same_index;
    let tflops = flops / (attention_ms * 1e9);
    let entry = json!({
        "len": len, "heads": heads, "kv_heads": shape.kv_heads, "head_dim": HEAD_DIM, "dtype": "bf16",
        "check_ok": check_ok,
        "check": match (&checked, same_index) {
            (Ok(rows), true) => format!("ok: index valid, o/lse finite, {rows} rows match the masked f64 reference"),
            (Ok(_), false) => "FAIL: the timed runs left another index than the checked run".into(),
            (Err(e), _) => format!("FAIL: {e}"),
        },
        "density": density,
        "ms": {
            "estimation": estimation_ms, "attention": attention_ms, "total": total_ms, "per_kernel": per_kernel,
        },
        "samples": { "estimation": estimation_samples, "attention": attention_samples, "total": total_samples },
        "estimation_share": estimation_ms / total_ms,
        "attention_flops": flops,
        "attention_tflops": tflops,
        "cover": {
            "file": cover_file, "shape": [heads, cover.q_blocks, cover.kv_blocks], "block": FLEX_BLOCK,
            "packing": "u8, bits along the last axis, first block in the most significant bit (numpy.packbits)",
            "blocks_set": cover.set, "causal_blocks": heads * cover.q_blocks * (cover.q_blocks + 1) / 2,
        },
        "host_s": host,
    });
    println!(
        "S={len} H={heads}: {} | density {density:.4} | estimation {estimation_ms:.3} ms ({}) | attention \
         {attention_ms:.3} ms, {tflops:.0} TFLOP/s on computed tiles | total {total_ms:.3} ms | estimation share {:.1}%",
        entry["check"].as_str().unwrap_or(""),
        per_kernel
            .iter()
            .map(|k| format!("{} {:.3}", k["kernel"].as_str().unwrap_or("?"), k["ms"].as_f64().unwrap_or(f64::NAN)))
            .collect::<Vec<_>>()
            .join(", "),
        100.0 * estimation_ms / total_ms,
    );
    Ok(entry)
}

/// Flops of sparse_vertical_slash.tile over a valid `index` (see the module docs).
fn attention_flops(index: &SparseIndex, shape: &AttentionShape) -> f64 {
    let mut keys = 0usize;
    for h in 0..shape.heads {
        for block in 0..query_blocks(&shape.seqlens) {
            if block * BLOCK < shape.seqlens[0] {
                let lists = index.lists(0, h, block);
                keys += lists.tiles.len() * BLOCK + lists.columns.len().div_ceil(COLUMN_CHUNK) * COLUMN_CHUNK;
            }
        }
    }
    let d = shape.head_dim as f64;
    keys as f64 * 4.0 * BLOCK as f64 * d
}

/// Checks every row of o and lse is finite (the kernel wrote it), then `count` rows
/// (the first, the last and random ones, all heads) against the f64 reference under the
/// index's mask. Returns how many rows matched.
fn check_rows(
    case: &AttentionCase,
    index: &SparseIndex,
    o: &HostTensor,
    lse: &HostTensor,
    count: usize,
) -> Result<usize, String> {
    if let Some(at) = o.data.iter().chain(&lse.data).position(|x| !x.is_finite()) {
        return Err(format!("o/lse element {at} is not finite: a row was not written"));
    }
    let len = case.shape.seqlens[0];
    let mut rng = rand::rngs::StdRng::seed_from_u64(len as u64);
    let middle: Vec<usize> = (1..len.saturating_sub(1)).collect();
    let mut rows = vec![0, len - 1];
    rows.extend(middle.choose_multiple(&mut rng, count.saturating_sub(2)));
    rows.sort_unstable();
    rows.dedup();
    // One thread per row: the reference is O(len · heads · D) a row.
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            rows.iter().map(|&row| scope.spawn(move || check_row(case, index, o, lse, row))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a check thread panicked".into()))).collect()
    });
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    Ok(rows.len())
}

fn check_row(
    case: &AttentionCase,
    index: &SparseIndex,
    o: &HostTensor,
    lse: &HostTensor,
    row: usize,
) -> Result<(), String> {
    let shape = &case.shape;
    let len = shape.seqlens[0];
    // SparseIndex::keeps re-reads the block's lists for every key; over a whole row that
    // is O(len · entries). The row's mask is built once per head from the same lists,
    // and sampled keys are checked against keeps so that the two cannot drift apart.
    let kept: Vec<Vec<bool>> = (0..shape.heads)
        .map(|h| {
            let lists = index.lists(0, h, row / BLOCK);
            let mut mask = vec![false; len];
            for &t in &lists.tiles {
                mask[t..(t + BLOCK).min(len)].iter_mut().for_each(|m| *m = true);
            }
            lists.columns.iter().for_each(|&c| mask[c] = true);
            mask.iter_mut().skip(row + 1).for_each(|m| *m = false);
            mask
        })
        .collect();
    for (h, mask) in kept.iter().enumerate() {
        for key in (0..len).step_by(len.div_ceil(257)) {
            let at = KeyMask { seq: 0, head: h, query: row, key, len };
            if mask[key] != index.keeps(at) {
                return Err(format!(
                    "row {row} head {h} key {key}: the bench's mask disagrees with SparseIndex::keeps"
                ));
            }
        }
    }
    let expected = case.reference_masked(&[row], |at| kept[at.head][at.key]).map_err(|e| e.to_string())?;
    let got = attention::gather(shape, o, lse, &[row]).map_err(|e| e.to_string())?;
    attention::check_outputs(&got, &expected).map_err(|e| format!("row {row}: {e}"))
}

/// Our mask at FlexAttention's block granularity: bit (h, qb, kb) is set when some row of
/// Flex query block `qb` (our blocks 2qb, 2qb + 1) keeps some key of Flex kv block `kb`.
struct Cover {
    bits: Vec<u8>,
    q_blocks: usize,
    kv_blocks: usize,
    set: usize,
}

/// `index` must be valid: every entry below its block's causal limit.
fn flex_cover(index: &SparseIndex, shape: &AttentionShape) -> Cover {
    let len = shape.seqlens[0];
    let (q_blocks, kv_blocks) = (len.div_ceil(FLEX_BLOCK), len.div_ceil(FLEX_BLOCK));
    let row_bytes = kv_blocks.div_ceil(8);
    let mut bits = vec![0u8; shape.heads * q_blocks * row_bytes];
    let mut set = 0;
    for h in 0..shape.heads {
        for block in 0..query_blocks(&shape.seqlens) {
            let limit = causal_limit(len, block);
            let lists = index.lists(0, h, block);
            let row = &mut bits[(h * q_blocks + block * BLOCK / FLEX_BLOCK) * row_bytes..][..row_bytes];
            let mut mark = |kb: usize| {
                let (byte, bit) = (kb / 8, 0x80u8 >> (kb % 8));
                set += usize::from(row[byte] & bit == 0);
                row[byte] |= bit;
            };
            for &t in &lists.tiles {
                // The tile's keys the block can see: t .. min(t + 64, limit).
                (t / FLEX_BLOCK..=((t + BLOCK).min(limit) - 1) / FLEX_BLOCK).for_each(&mut mark);
            }
            lists.columns.iter().for_each(|&c| mark(c / FLEX_BLOCK));
        }
    }
    Cover { bits, q_blocks, kv_blocks, set }
}

fn print_table(results: &[Value]) {
    println!(
        "\n| S | H | check | density | est ms | attn ms | total ms | est share | attn TFLOP/s (computed tiles) |\n|---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        let f = |v: &Value, digits: usize| v.as_f64().map_or("-".to_string(), |x| format!("{x:.digits$}"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r["len"],
            r["heads"],
            if r["check_ok"].as_bool().unwrap_or(false) { "ok" } else { "FAIL" },
            f(&r["density"], 4),
            f(&r["ms"]["estimation"], 3),
            f(&r["ms"]["attention"], 3),
            f(&r["ms"]["total"], 3),
            r["estimation_share"].as_f64().map_or("-".into(), |s| format!("{:.1}%", 100.0 * s)),
            f(&r["attention_tflops"], 0),
        );
    }
}
