//! GPU benchmark of the shipped kernels against torch's own ops and the card's copy
//! ceiling, both measured in the same GPU run by `benches/peers/torch_ops.py`
//! (scripts/gpu-run.sh runs that first and passes its JSON here).
//!
//!   bench-kernels --torch torch.json [--json bench.json]
//!
//! Each kernel is first checked against its f64 reference at the benchmark shape
//! (fresh random inputs, output poisoned), then timed with CUDA events (median).

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::gpu::{run_case, time_kernel};
use sparsefill_patterns::{compare, Shipped};
use sparsefill_runtime::{median, CacheConfig, DeviceTensor, Gpu, KernelCache, LaunchArg};
use std::process::ExitCode;

#[path = "common/mod.rs"]
mod common;
use common::arg;

fn main() -> ExitCode {
    common::exit_code(run())
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--sweep") {
        let gpu = Gpu::new(0)?;
        let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
        return sweep(&gpu, &cache, &mut rand::rngs::StdRng::from_os_rng());
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
        "card: {card} ({}); copy ceiling measured in this run: {copy_gbps:.0} GB/s (bytes read + written)",
        gpu.arch()
    );

    let mut rows = Vec::new();
    let mut all_ok = true;
    println!(
        "| kernel | shape | check vs f64 | ours ms | ours ms (repeat) | ours GB/s | % of copy | torch ms | torch GB/s | ours vs torch |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for kernel in Shipped::ALL {
        let shape = kernel.bench_shape();
        let case = kernel.case(&shape, None, &mut rng);
        let out = run_case(&gpu, &cache, kernel, &case)?;
        let acc = compare(&out, &kernel.reference(&case));
        let ok = acc.passes(kernel.tolerance());
        all_ok &= ok;
        let t = time_kernel(&gpu, &cache, kernel, &shape, 3, 50, &mut rng)?;
        // A second timing of the same kernel shows the run-to-run spread.
        let repeat = time_kernel(&gpu, &cache, kernel, &shape, 3, 50, &mut rng)?;
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
    let gemm = bench_gemm(&gpu, &cache, &torch, &mut rng)?;
    all_ok &= gemm.as_array().is_some_and(|rows| rows.iter().all(|g| g["check_ok"].as_bool().unwrap_or(false)));
    let attention = bench_attention(&gpu, &cache, &torch, &mut rng)?;
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
    let n = GEMM_N;
    let compiled = cache.get(sparsefill_patterns::gemm::SOURCE, Some("gemm"), consts)?;
    let loaded = gpu.load(&compiled, cache)?;
    let mut random =
        || HostTensor::from_f64(DType::BF16, &[n, n], (0..n * n).map(|_| rng.random_range(-1.0..1.0)).collect());
    let (a, b) = (random(), random());
    let (da, db) = (DeviceTensor::upload(gpu, &a)?, DeviceTensor::upload(gpu, &b)?);
    let dc = DeviceTensor::alloc(gpu, DType::BF16, &[n, n])?;
    dc.poison()?;
    let args = [LaunchArg::Tensor(&da), LaunchArg::Tensor(&db), LaunchArg::Tensor(&dc)];
    gpu.launch(&loaded, &args)?;
    gpu.synchronize()?;
    let c = dc.download()?;
    let mut worst = 0.0f64;
    for _ in 0..256 {
        let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
        let exact: f64 = (0..n).map(|k| a.data[i * n + k] * b.data[k * n + j]).sum();
        let got = c.data[i * n + j];
        // bf16 output: half an ulp of bf16 relative to the value, plus f32 accumulation.
        let err = if got.is_finite() { (got - exact).abs() / exact.abs().max(1.0) } else { f64::INFINITY };
        worst = worst.max(err);
    }
    let samples = gpu.time_ms(2, 10, || gpu.launch(&loaded, &args))?;
    let ms = median(&samples).unwrap_or(f32::NAN) as f64;
    Ok(GemmRun { ms, worst_rel: worst, check_ok: worst <= 1e-2 })
}

/// `--sweep`: tile sizes and pipeline stages of the GEMM and attention kernels on this run's lowering
/// (`SPARSEFILL_ARCH=sm_80` picks mma.sync on a Hopper card), each checked and timed,
/// to choose the shipped defaults. No baselines: compare rows of one run.
fn sweep(gpu: &Gpu, cache: &KernelCache, rng: &mut impl Rng) -> Result<bool, Box<dyn std::error::Error>> {
    use sparsefill_compiler::ir::ConstValue;
    let int = |name: &str, v: i64| (name.to_string(), ConstValue::Int(v));
    println!(
        "card: {} ({})\n\n| GEMM 8192³ BM×BN×BK | check | ms | TFLOP/s |\n|---|---|---|---|",
        gpu.info().name,
        gpu.arch()
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
    let (len, heads) = (32768usize, 32usize);
    for (bm, bn, stages) in [(128, 64, 2), (128, 64, 3), (128, 128, 2)] {
        let consts = [int("BM", bm), int("BN", bn), int("STAGES", stages)];
        match time_attention(gpu, cache, len, heads, true, &consts, rng) {
            Ok(run) => {
                all_ok &= run.check.is_ok();
                println!(
                    "| {bm}×{bn} stages {stages} | {len} | {} | {:.2} | {:.0} |",
                    match &run.check {
                        Ok(()) => "ok".to_string(),
                        Err(e) => format!("FAIL: {e}"),
                    },
                    run.ms,
                    run.tflops
                );
            }
            Err(e) => println!("| {bm}×{bn} stages {stages} | {len} | error: {e} | - | - |"),
        }
    }
    Ok(all_ok)
}

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
                    match &run.check {
                        Ok(()) => "ok".to_string(),
                        Err(e) => format!("FAIL: {e}"),
                    },
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
    use sparsefill_patterns::attention::{self, AttentionShape};
    use sparsefill_patterns::gpu::{launch, upload, DeviceArg};
    let shape = AttentionShape { seqlens: vec![len], heads, kv_heads: heads, head_dim: 128, causal };
    let mut case = attention::case(&shape, 64, rng)?;
    for (name, value) in consts {
        match case.consts.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.clone(),
            None => case.consts.push((name.clone(), value.clone())),
        }
    }
    attention::check_args(&case.args)?;
    let compiled = cache.get(attention::SOURCE, None, &case.consts)?;
    let loaded = gpu.load(&compiled, cache)?;
    let device = upload(gpu, &case.args)?;
    for index in [attention::O, attention::LSE] {
        if let DeviceArg::Tensor(t) = &device[index] {
            t.poison()?;
        }
    }
    launch(gpu, &loaded, &device)?;
    gpu.synchronize()?;
    let download = |index: usize| -> Result<HostTensor, Box<dyn std::error::Error>> {
        match &device[index] {
            DeviceArg::Tensor(t) => Ok(t.download()?),
            _ => Err(format!("attention argument {index} is not a tensor").into()),
        }
    };
    let (o, lse) = (download(attention::O)?, download(attention::LSE)?);
    let mut rows = vec![0, len - 1];
    rows.extend((0..2).map(|_| rng.random_range(0..len)));
    let got = attention::gather(&shape, &o, &lse, &rows)?;
    let check = attention::check_outputs(&got, &case.reference(&rows)?).map_err(|e| e.to_string());
    let samples = gpu.time_ms(1, 5, || launch(gpu, &loaded, &device))?;
    let ms = median(&samples).unwrap_or(f32::NAN) as f64;
    // 2 dots of 2·S·S·D flops per head; causal computes half of them.
    let flops = 4.0 * (len as f64).powi(2) * 128.0 * heads as f64 / if causal { 2.0 } else { 1.0 };
    Ok(AttentionRun { check, ms, tflops: flops / (ms * 1e9) })
}
