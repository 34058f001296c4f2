//! GPU benchmark of the shipped kernels against torch's own ops and the card's copy
//! ceiling, both measured in the same GPU run by `benches/peers/torch_ops.py`
//! (scripts/gpu-run.sh runs that first and passes its JSON here).
//!
//!   bench-kernels --torch torch.json [--json bench.json] [--only memory,gemm,attention]
//!   bench-kernels --sweep              # tile sizes and stages, no baselines
//!   bench-kernels --ab A/B             # dense attention compiled two ways, timed in turns
//!   bench-kernels --criterion DIR      # criterion statistics per kernel, reports in DIR
//!
//! Each kernel is first checked against its f64 reference at the benchmark shape
//! (fresh random inputs, output poisoned), then timed with CUDA events (median).

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sparsefill_patterns::gpu::{run_case, time_kernel, TimingRuns};
use sparsefill_patterns::{compare, Shipped};
use sparsefill_runtime::timing::SETTLE_MS;
use sparsefill_runtime::{median, CacheConfig, Gpu, KernelCache, RuntimeError};
use std::process::ExitCode;
use std::time::Duration;

#[path = "common/ab.rs"]
mod ab;
#[path = "common/clocks.rs"]
mod clocks;
#[path = "common/mod.rs"]
mod common;
#[path = "common/parts.rs"]
mod parts;
use common::{arg, CheckedAttention, CheckedGemm};
use parts::Parts;

fn main() -> ExitCode {
    common::exit_code(run())
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--sweep") {
        let gpu = Gpu::new(0)?;
        let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
        return sweep(&gpu, &cache, &mut rand::rngs::StdRng::from_os_rng());
    }
    if std::env::args().any(|a| a == "--ab") {
        let given = arg("--ab")
            .ok_or("--ab needs two sides, e.g. --ab specialize=early/specialize=producer or --ab BM=128/BM=64,BN=64")?;
        let sides = ab::parse_ab(&given)?;
        let sources = ab::sources(&sides, sparsefill_patterns::attention::SOURCE)?;
        let lengths = ATTENTION_SHAPES.map(|(len, _)| len);
        let runs = ab::AbRuns::parse(arg("--sustained").as_deref(), arg("--len").as_deref(), &lengths)?;
        let gpu = Gpu::new(0)?;
        return ab_attention(&gpu, sides, sources, runs, &mut rand::rngs::StdRng::from_os_rng());
    }
    if std::env::args().any(|a| a == "--criterion") {
        let dir = arg("--criterion").ok_or("--criterion needs the directory for its reports: --criterion DIR")?;
        let gpu = Gpu::new(0)?;
        let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
        return criterion_benches(&gpu, &cache, &dir);
    }
    let torch: Value = match arg("--torch") {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(&path).map_err(|e| format!("cannot read torch baselines `{path}`: {e}"))?,
        )?,
        None => return Err("--torch PATH (the JSON written by benches/peers/torch_ops.py) is required".into()),
    };
    let gpu = Gpu::new(0)?;
    let card = gpu.info().name.clone();
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let copy_gbps = torch["copy_gbps"].as_f64().ok_or("torch.json has no copy_gbps")?;
    println!(
        "card: {card} ({}, cubins by {}); copy ceiling measured in this run: {copy_gbps:.0} GB/s (bytes read + written)",
        gpu.arch(),
        gpu.assembler().describe()
    );

    let parts = Parts::parse(arg("--only").as_deref())?;
    let mut rows = Vec::new();
    let mut all_ok = true;
    if parts.memory {
        println!(
            "| kernel | shape | check vs f64 | ours ms | ours ms (repeat) | ours GB/s | % of copy | torch ms | torch GB/s | ours vs torch |\n|---|---|---|---|---|---|---|---|---|---|"
        );
    }
    for kernel in Shipped::ALL.into_iter().filter(|_| parts.memory) {
        let shape = kernel.bench_shape();
        let case = kernel.case(&shape, None, &mut rng);
        let out = run_case(&gpu, &cache, kernel, &case)?;
        let acc = compare(&out, &kernel.reference(&case));
        let ok = acc.passes(kernel.tolerance());
        all_ok &= ok;
        let runs = TimingRuns { sets: 3, iters: 50, settle_ms: SETTLE_MS };
        let t = time_kernel(&gpu, &cache, kernel, &shape, runs, &mut rng)?;
        // A second timing of the same kernel shows the run-to-run spread.
        let repeat = time_kernel(&gpu, &cache, kernel, &shape, runs, &mut rng)?;
        let torch_ms = torch["ops"][kernel.name()]["ms"].as_f64();
        let speedup = torch_ms.map(|b| b / t.median_ms as f64);
        println!(
            "| {} | {:?} | {} ({}) | {:.4} | {:.4} | {:.0} | {:.1}% | {} | {} | {} |",
            kernel.name(),
            shape,
            if ok { "ok" } else { "FAIL" },
            acc,
            t.median_ms,
            repeat.median_ms,
            t.gbps(),
            100.0 * t.gbps() / copy_gbps,
            torch_ms.map(|m| format!("{m:.4}")).unwrap_or_else(|| "-".into()),
            torch["ops"][kernel.name()]["gbps"].as_f64().map(|g| format!("{g:.0}")).unwrap_or_else(|| "-".into()),
            speedup.map(|s| format!("{s:.2}x")).unwrap_or_else(|| "-".into()),
        );
        rows.push(json!({
            "kernel": kernel.name(), "shape": shape, "check_ok": ok, "rel_l2": acc.rel_l2,
            "ms": t.median_ms, "ms_repeat": repeat.median_ms, "iters": t.iters, "bytes": t.bytes, "gbps": t.gbps(),
            "fraction_of_copy": t.gbps() / copy_gbps, "torch_ms": torch_ms, "speedup_vs_torch": speedup,
        }));
    }
    let gemm = if parts.gemm { bench_gemm(&gpu, &cache, &torch, &mut rng)? } else { Value::Array(Vec::new()) };
    all_ok &= gemm.as_array().is_some_and(|rows| rows.iter().all(|g| g["check_ok"].as_bool().unwrap_or(false)));
    let attention = if parts.attention { bench_attention(&gpu, &cache, &torch, &mut rng)? } else { Vec::new() };
    all_ok &= attention.iter().all(|a| a["check_ok"].as_bool().unwrap_or(false));
    let report = json!({
        "card": card, "arch": gpu.arch().name(), "copy_gbps": copy_gbps, "torch": torch, "kernels": rows, "gemm": gemm,
        "attention": attention,
    });
    if let Some(path) = arg("--json") {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(all_ok)
}

/// The tensor-core GEMM of patterns/kernels/gemm.tile at 8192³ against torch.matmul
/// (cuBLAS) timed in the same run. The full product is too large for an f64 check on
/// the host, so 256 random output elements are checked against f64 dot products (the
/// GPU tests check whole outputs at smaller sizes).
fn bench_gemm(
    gpu: &Gpu,
    cache: &KernelCache,
    torch: &Value,
    rng: &mut impl Rng,
) -> Result<Value, Box<dyn std::error::Error>> {
    use sparsefill_compiler::ir::ConstValue;
    let n = GEMM_N;
    let torch_ms = torch["matmul"]["ms"].as_f64();
    let torch_tflops = torch_ms.map(|t| 2.0 * (n as f64).powi(3) / (t * 1e9));
    println!(
        "\n| GEMM bf16 {n}³ ({}) | check (256 sampled elements) | ours ms | ours TFLOP/s | torch.matmul ms | torch TFLOP/s | ours vs torch |\n|---|---|---|---|---|---|---|",
        gpu.arch()
    );
    let mut rows = Vec::new();
    // The shipped defaults (they fit an A100), 4 stages (an H100/H200 only), the earlier k step.
    let int = |name: &str, v: i64| (name.to_string(), ConstValue::Int(v));
    let specializations = [
        ("gemm.tile (defaults: BK 64, 3 stages)", vec![]),
        ("gemm.tile BK 64, 4 stages", vec![int("BK", 64), int("STAGES", 4)]),
        ("gemm.tile BK 32, 3 stages", vec![int("BK", 32), int("STAGES", 3)]),
    ];
    for (label, consts) in specializations {
        let run = match time_gemm(gpu, cache, &consts, rng) {
            Ok(run) => run,
            Err(e) => {
                println!("| {label} | error: {e} | - | - | - | - | - |");
                continue;
            }
        };
        let (ms, worst, check_ok) = (run.ms, run.worst_rel, run.check_ok);
        let tflops = 2.0 * (n as f64).powi(3) / (ms * 1e9);
        println!(
            "| {label} | {} (worst rel {worst:.1e}) | {ms:.2} | {tflops:.1} | {} | {} | {} |",
            if check_ok { "ok" } else { "FAIL" },
            torch_ms.map(|t| format!("{t:.3}")).unwrap_or_else(|| "-".into()),
            torch_tflops.map(|t| format!("{t:.0}")).unwrap_or_else(|| "-".into()),
            torch_ms.map(|t| format!("{:.3}x", t / ms)).unwrap_or_else(|| "-".into()),
        );
        rows.push(json!({ "label": label, "n": n, "check_ok": check_ok, "worst_rel": worst, "ms": ms, "tflops": tflops, "torch_ms": torch_ms, "torch_tflops": torch_tflops }));
    }
    Ok(Value::Array(rows))
}

const GEMM_N: usize = 8192;

/// One GEMM specialization at 8192³: checked on 256 sampled elements, then timed.
struct GemmRun {
    ms: f64,
    worst_rel: f64,
    check_ok: bool,
}

fn time_gemm(
    gpu: &Gpu,
    cache: &KernelCache,
    consts: &[(String, sparsefill_compiler::ir::ConstValue)],
    rng: &mut impl Rng,
) -> Result<GemmRun, Box<dyn std::error::Error>> {
    let gemm = CheckedGemm::new(gpu, cache, GEMM_N, consts, rng)?;
    gpu.settle(SETTLE_MS, || gemm.launch(gpu))?;
    let samples = gpu.time_ms(2, 10, || gemm.launch(gpu))?;
    let ms = median(&samples).unwrap_or(f32::NAN) as f64;
    Ok(GemmRun { ms, worst_rel: gemm.worst_rel, check_ok: gemm.check_ok() })
}

/// `--sweep`: tile sizes and pipeline stages of the GEMM and attention kernels on this run's lowering
/// (`SPARSEFILL_ARCH=sm_80` picks mma.sync on a Hopper card), each checked and timed,
/// to choose the shipped defaults. No baselines: compare rows of one run.
fn sweep(gpu: &Gpu, cache: &KernelCache, rng: &mut impl Rng) -> Result<bool, Box<dyn std::error::Error>> {
    use sparsefill_compiler::ir::ConstValue;
    let int = |name: &str, v: i64| (name.to_string(), ConstValue::Int(v));
    println!(
        "card: {} ({}, cubins by {})\n\n| GEMM 8192³ BM×BN×BK | check | ms | TFLOP/s |\n|---|---|---|---|",
        gpu.info().name,
        gpu.arch(),
        gpu.assembler().describe()
    );
    let mut all_ok = true;
    for (bm, bn, bk, stages) in [
        (128, 256, 32, 2),
        (128, 256, 32, 3),
        (128, 256, 32, 4),
        (128, 256, 64, 2),
        (128, 256, 64, 3),
        (128, 256, 64, 4),
        (128, 128, 64, 3),
        (128, 128, 64, 4),
    ] {
        let consts = [int("BM", bm), int("BN", bn), int("BK", bk), int("STAGES", stages)];
        match time_gemm(gpu, cache, &consts, rng) {
            Ok(run) => {
                all_ok &= run.check_ok;
                let tflops = 2.0 * (GEMM_N as f64).powi(3) / (run.ms * 1e9);
                println!(
                    "| {bm}×{bn}×{bk} stages {stages} | {} ({:.1e}) | {:.2} | {tflops:.0} |",
                    if run.check_ok { "ok" } else { "FAIL" },
                    run.worst_rel,
                    run.ms
                );
            }
            Err(e) => println!("| {bm}×{bn}×{bk} stages {stages} | error: {e} | - | - |"),
        }
    }
    println!("\n| attention D=128 causal, BM×BN | S | check | ms | TFLOP/s |\n|---|---|---|---|---|");
    // 64-row blocks run a consumer warpgroup each, two programs per SM with the producer,
    // so one program's prologue and epilogue can overlap the other's tiles (8K, where blocks
    // are short, is where that would show).
    let tiles = [(128, 64, 2), (128, 64, 3), (128, 64, 4), (128, 128, 2), (128, 128, 3), (64, 64, 2), (64, 64, 3)];
    for ((bm, bn, stages), len) in tiles.into_iter().flat_map(|t| [(t, 8192usize), (t, 32768)]) {
        let heads = 32usize;
        let consts = [int("BM", bm), int("BN", bn), int("STAGES", stages)];
        match time_attention(gpu, cache, len, heads, true, &consts, rng) {
            Ok(run) => {
                all_ok &= run.check.is_ok();
                println!(
                    "| {bm}×{bn} stages {stages} | {len} | {} | {:.2} | {:.0} |",
                    check_status(&run.check),
                    run.ms,
                    run.tflops
                );
            }
            Err(e) => println!("| {bm}×{bn} stages {stages} | {len} | error: {e} | - | - |"),
        }
    }
    Ok(all_ok)
}

/// `--ab A/B`: dense attention compiled two ways (code generation options, tile constants and
/// source, [`ab::Side`]; `sources` from [`ab::sources`]), each checked on its own random inputs, then timed in turns
/// (A, B, A, B, ...), so that the card's drift over a call (its clocks as it heats, which moved
/// cuDNN's 32K causal from 12.98 to 14.9 ms between calls, docs/perf/2026-11-29-h200-session13.md)
/// falls on both alike. Prints each one's median over the turns and B's time over A's.
fn ab_attention(
    gpu: &Gpu,
    sides: [ab::Side; 2],
    sources: [String; 2],
    runs: ab::AbRuns,
    rng: &mut impl Rng,
) -> Result<bool, Box<dyn std::error::Error>> {
    use sparsefill_compiler::ir::ConstValue;
    const TURNS: usize = 7;
    let caches = sides
        .clone()
        .map(|side| KernelCache::new(CacheConfig { codegen: side.options, ..CacheConfig::from_env(gpu.arch()) }));
    let consts = sides
        .clone()
        .map(|side| side.tiles.into_iter().map(|(name, v)| (name, ConstValue::Int(v))).collect::<Vec<_>>());
    let (how, columns) = match runs.sustained_ms {
        None => (format!("{TURNS} turns each"), "A ms | B ms"),
        Some(ms) => (
            format!("each alone after {ms} ms of its own launches, {SUSTAINED_ITERS} runs, SM clock and board power sampled by nvidia-smi"),
            "A ms | A MHz | A W | B ms | B MHz | B W",
        ),
    };
    let rule = "|---".repeat(columns.split('|').count() + 4);
    println!(
        "card: {} ({}, cubins by {}); A = `{}`, B = `{}`, {how}\n\n| attention bf16 D=128 | check A | check B | {columns} | B / A |\n{rule}|",
        gpu.info().name,
        gpu.arch(),
        gpu.assembler().describe(),
        sides[0].label,
        sides[1].label
    );
    let mut all_ok = true;
    for (len, heads) in ATTENTION_SHAPES.into_iter().filter(|&(len, _)| runs.len.is_none_or(|only| only == len)) {
        for causal in [true, false] {
            let shape = (len, heads, causal);
            let run_a = CheckedAttention::with_source(gpu, &caches[0], &sources[0], shape, &consts[0], rng)?;
            let run_b = CheckedAttention::with_source(gpu, &caches[1], &sources[1], shape, &consts[1], rng)?;
            all_ok &= run_a.check.is_ok() && run_b.check.is_ok();
            let times = match runs.sustained_ms {
                None => {
                    let mut turns = [Vec::new(), Vec::new()];
                    gpu.settle(SETTLE_MS, || run_a.launch(gpu))?;
                    for _ in 0..TURNS {
                        for (run, samples) in [&run_a, &run_b].into_iter().zip(turns.iter_mut()) {
                            let times = gpu.time_ms(1, 3, || run.launch(gpu))?;
                            samples.push(median(&times).unwrap_or(f32::NAN));
                        }
                    }
                    let [a, b] = turns.map(|t| f64::from(median(&t).unwrap_or(f32::NAN)));
                    (format!("{a:.2} | {b:.2}"), b / a)
                }
                Some(ms) => {
                    let mut sides = Vec::new();
                    for run in [&run_a, &run_b] {
                        let sampler = clocks::Sampler::start(gpu.info().ordinal);
                        gpu.settle(ms, || run.launch(gpu))?;
                        let times = gpu.time_ms(1, SUSTAINED_ITERS, || run.launch(gpu))?;
                        sides.push((f64::from(median(&times).unwrap_or(f32::NAN)), sampler.stop()));
                    }
                    let cell = |(ms, clocks): &(f64, Option<clocks::Clocks>)| match clocks {
                        Some(c) => format!("{ms:.2} | {:.0} | {:.0}", c.mhz, c.watts),
                        None => format!("{ms:.2} | - | -"),
                    };
                    (format!("{} | {}", cell(&sides[0]), cell(&sides[1])), sides[1].0 / sides[0].0)
                }
            };
            println!(
                "| S={len} H={heads} {} | {} | {} | {} | {:.3} |",
                if causal { "causal" } else { "non-causal" },
                check_status(&run_a.check),
                check_status(&run_b.check),
                times.0,
                times.1
            );
        }
    }
    Ok(all_ok)
}

/// Timed runs of each side with `--sustained`, after its settling.
const SUSTAINED_ITERS: usize = 21;

/// Dense attention shapes of the tensor-core issue: (sequence length, heads), bf16,
/// head dim 128, batch 1, each causal and not. Fewer heads at 128K keep the inputs and
/// the f64 check affordable; torch_ops.py times SDPA on the same list.
const ATTENTION_SHAPES: [(usize, usize); 3] = [(8192, 32), (32768, 32), (131072, 8)];

/// attention.tile (BM = 128, BN = 64) against torch SDPA's flash (FlashAttention-2) and
/// cuDNN backends, timed in the same run ([`time_attention`]).
fn bench_attention(
    gpu: &Gpu,
    cache: &KernelCache,
    torch: &Value,
    rng: &mut impl Rng,
) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    use sparsefill_compiler::ir::ConstValue;
    let mut out = Vec::new();
    for bn in [64i64, 128] {
        println!(
            "\n| attention bf16 D=128 BM 128 × BN {bn} ({}) | check (sampled rows) | ours ms | ours TFLOP/s | SDPA flash ms | ours vs flash | SDPA cuDNN ms | ours vs cuDNN |\n|---|---|---|---|---|---|---|---|",
            gpu.arch()
        );
        let consts = [("BM".to_string(), ConstValue::Int(128)), ("BN".to_string(), ConstValue::Int(bn))];
        for (len, heads) in ATTENTION_SHAPES {
            for causal in [true, false] {
                let run = time_attention(gpu, cache, len, heads, causal, &consts, rng)?;
                let ms = run.ms;
                let key = format!("{len}x{heads}{}", if causal { "_causal" } else { "" });
                let peer = |backend: &str| torch["attention"][&key][backend].as_f64();
                let (flash, cudnn) = (peer("flash_ms"), peer("cudnn_ms"));
                let fmt_ms = |t: Option<f64>| t.map(|t| format!("{t:.2}")).unwrap_or_else(|| "-".into());
                let fmt_ratio = |t: Option<f64>| t.map(|t| format!("{:.2}x", t / ms)).unwrap_or_else(|| "-".into());
                println!(
                    "| S={len} H={heads} {} | {} | {ms:.2} | {:.0} | {} | {} | {} | {} |",
                    if causal { "causal" } else { "non-causal" },
                    check_status(&run.check),
                    run.tflops,
                    fmt_ms(flash),
                    fmt_ratio(flash),
                    fmt_ms(cudnn),
                    fmt_ratio(cudnn),
                );
                out.push(json!({
                    "bn": bn, "len": len, "heads": heads, "causal": causal, "check_ok": run.check.is_ok(), "ms": ms,
                    "tflops": run.tflops, "flash_ms": flash, "cudnn_ms": cudnn,
                }));
            }
        }
    }
    Ok(out)
}

/// A check's cell in a table: `ok`, or `FAIL:` and why.
fn check_status(check: &Result<(), String>) -> String {
    match check {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("FAIL: {e}"),
    }
}

/// One timed attention specialization: sampled rows checked, then the median time.
struct AttentionRun {
    check: Result<(), String>,
    ms: f64,
    tflops: f64,
}

/// attention.tile on one sequence of `len` tokens, `heads` heads, D = 128, with the
/// given consts over the case's defaults. A few rows (the first, the last and random
/// ones) are checked against the f64 reference; o and lse are poisoned first.
fn time_attention(
    gpu: &Gpu,
    cache: &KernelCache,
    len: usize,
    heads: usize,
    causal: bool,
    consts: &[(String, sparsefill_compiler::ir::ConstValue)],
    rng: &mut impl Rng,
) -> Result<AttentionRun, Box<dyn std::error::Error>> {
    let attention = CheckedAttention::new(gpu, cache, (len, heads, causal), consts, rng)?;
    gpu.settle(SETTLE_MS, || attention.launch(gpu))?;
    let samples = gpu.time_ms(1, 5, || attention.launch(gpu))?;
    let ms = median(&samples).unwrap_or(f32::NAN) as f64;
    Ok(AttentionRun { check: attention.check.clone(), ms, tflops: attention.flops / (ms * 1e9) })
}

/// The device time of `iters` runs of `work`, as criterion's `iter_custom` wants it. A
/// timing closure cannot return an error, so a failure here stops the run with it.
fn device_time(gpu: &Gpu, iters: u64, work: impl FnMut() -> Result<(), RuntimeError>) -> Duration {
    let samples = gpu.time_ms(0, iters as usize, work).unwrap_or_else(|e| panic!("timing on the GPU: {e}"));
    Duration::from_secs_f64(samples.iter().map(|&ms| f64::from(ms)).sum::<f64>() / 1e3)
}

/// `--criterion DIR`: criterion's statistics of each shipped kernel's device time per
/// launch (CUDA events through `iter_custom`), each kernel first launched once into a
/// poisoned output and checked against its f64 reference; reports go to DIR. The card
/// and arch name the group: numbers from two cards never compare.
fn criterion_benches(gpu: &Gpu, cache: &KernelCache, dir: &str) -> Result<bool, Box<dyn std::error::Error>> {
    use criterion::Criterion;
    use sparsefill_compiler::ir::ConstValue;
    use sparsefill_patterns::gpu::{launch, load, upload};
    let mut c = Criterion::default().output_directory(std::path::Path::new(dir)).sample_size(20);
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut group = c.benchmark_group(format!("{} ({})", gpu.info().name, gpu.arch()));

    for kernel in Shipped::ALL {
        let case = kernel.case(&kernel.bench_shape(), None, &mut rng);
        let accuracy = compare(&run_case(gpu, cache, kernel, &case)?, &kernel.reference(&case));
        if !accuracy.passes(kernel.tolerance()) {
            return Err(format!("{} fails its check: {accuracy}", kernel.name()).into());
        }
        let (loaded, args) = (load(gpu, cache, kernel, &case)?, upload(gpu, &case.args)?);
        group.bench_function(format!("{} {:?}", kernel.name(), kernel.bench_shape()), |b| {
            b.iter_custom(|iters| device_time(gpu, iters, || launch(gpu, &loaded, &args)))
        });
    }

    let n = 4096;
    let gemm = CheckedGemm::new(gpu, cache, n, &[], &mut rng)?;
    if !gemm.check_ok() {
        return Err(format!("gemm {n}³ fails its check: worst relative error {:.1e}", gemm.worst_rel).into());
    }
    group.bench_function(format!("gemm bf16 {n}³"), |b| {
        b.iter_custom(|iters| device_time(gpu, iters, || gemm.launch(gpu)))
    });

    // The tiles the model's pre-fill uses on this target (the inputs are contiguous).
    let bn = sparsefill_patterns::attention::block_n(gpu.arch(), true) as i64;
    let consts = [("BM".to_string(), ConstValue::Int(128)), ("BN".to_string(), ConstValue::Int(bn))];
    let (len, heads) = (8192, 32);
    let dense = CheckedAttention::new(gpu, cache, (len, heads, true), &consts, &mut rng)?;
    if let Err(e) = &dense.check {
        return Err(format!("attention fails its check: {e}").into());
    }
    group.bench_function(format!("attention bf16 causal S={len} H={heads} D=128 BN={bn}"), |b| {
        b.iter_custom(|iters| device_time(gpu, iters, || dense.launch(gpu)))
    });
    group.finish();
    c.final_summary();
    Ok(true)
}
