//! `dot` on the GPU (mma.sync through ldmatrix) against f64 references: gemm.tile's `gemm`
//! on ragged and multi-program shapes, and its `gemm_nt`, `dot(a, trans(b))` as in q · kᵀ. Fresh random bf16 inputs,
//! outputs poisoned on host and device. Runs only with `--features gpu`, on the GPU machine.

use rand::SeedableRng;
use sparsefill_compiler::codegen::{MmaLowering, Specialize};
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::compare;
use sparsefill_patterns::gemm::{random, reference, SOURCE as GEMM, TOLERANCE};
use sparsefill_patterns::gpu::{launch, upload, DeviceArg};
use sparsefill_runtime::{CacheConfig, DeviceTensor, Gpu, KernelCache, LaunchArg};

/// Runs gemm.tile's `kernel` on the GPU with `args` (the last is the output, poisoned
/// first) and returns the output.
fn run(kernel: &str, args: &[ArgValue]) -> HostTensor {
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let compiled = cache.get(GEMM, Some(kernel), &[]).unwrap_or_else(|e| panic!("compile: {e}"));
    let loaded = gpu.load(&compiled, &cache).unwrap_or_else(|e| panic!("load: {e}"));
    let device = upload(&gpu, args).unwrap_or_else(|e| panic!("upload: {e}"));
    let Some(DeviceArg::Tensor(out)) = device.last() else { panic!("the output is the last argument") };
    out.poison().unwrap_or_else(|e| panic!("poison: {e}"));
    launch(&gpu, &loaded, &device).unwrap_or_else(|e| panic!("launch: {e}"));
    gpu.synchronize().unwrap_or_else(|e| panic!("synchronize: {e}"));
    out.download().unwrap_or_else(|e| panic!("download: {e}"))
}

fn check_gemm([m, n, k]: [usize; 3], seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (a, b) = (random(&mut rng, [m, k]), random(&mut rng, [k, n]));
    let expected = reference(&a, &b, false);
    let c = HostTensor::filled(DType::BF16, &[m, n], f64::NAN);
    let out = run("gemm", &[ArgValue::Tensor(a), ArgValue::Tensor(b), ArgValue::Tensor(c)]);
    let acc = compare(&out, &expected);
    assert!(acc.passes(TOLERANCE), "gemm {m}x{n}x{k}: {acc}");
}

#[test]
fn gemm_ragged_on_gpu() {
    check_gemm([70, 50, 40], 1);
}

#[test]
fn gemm_256_on_gpu() {
    check_gemm([256, 256, 256], 2);
}

#[test]
fn gemm_512_384_1024_on_gpu() {
    check_gemm([512, 384, 1024], 3);
}

#[test]
fn gemm_nt_q_times_k_transposed_on_gpu() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let (q, k) = (random(&mut rng, [200, 64]), random(&mut rng, [130, 64]));
    let expected = reference(&q, &k, true);
    let s = HostTensor::filled(DType::F32, &[200, 130], f64::NAN);
    let out = run("gemm_nt", &[ArgValue::Tensor(q), ArgValue::Tensor(k), ArgValue::Tensor(s)]);
    let acc = compare(&out, &expected);
    // f32 out: only the f32 accumulation differs from the reference.
    assert!(acc.passes(1e-5), "q kᵀ: {acc}");
}

/// `gemm` in 64 x 64 programs, one consumer warpgroup and (on sm_90a, where its tiles go
/// through TMA) a producer warpgroup, at occupancy 1 to 4. The consumers' `setmaxnreg.inc`
/// takes registers the program holds; a split asking for more waits forever (occupancy(3)
/// hung an H200 before `Split::of` counted from the entry's registers:
/// docs/perf/2026-11-30-h200-session30.md), so a regression hangs here until the GPU run's
/// timeout. 64 columns: ptxas fits each `wgmma` in the entry's registers, whatever
/// `setmaxnreg` raises them to, and a 64 x 128 product's 64 accumulator registers do not
/// fit the 80 of occupancy(3) (C7602, round 4 there).
#[test]
fn gemm_with_a_producer_runs_at_every_occupancy_on_gpu() {
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let consts = [("BM".to_string(), ConstValue::Int(64)), ("BN".to_string(), ConstValue::Int(64))];
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let (m, n, k) = (256, 384, 512);
    let (a, b) = (random(&mut rng, [m, k]), random(&mut rng, [k, n]));
    let expected = reference(&a, &b, false);
    for occupancy in 1..=4 {
        let source = GEMM.replacen("stages(STAGES) {", &format!("stages(STAGES) occupancy({occupancy}) {{"), 1);
        let compiled = cache.get(&source, Some("gemm"), &consts).unwrap_or_else(|e| panic!("compile: {e}"));
        assert_eq!(compiled.ir.occupancy, Some(occupancy), "the source edit took");
        let loaded = gpu.load(&compiled, &cache).unwrap_or_else(|e| panic!("load: {e}"));
        let c = HostTensor::filled(DType::BF16, &[m, n], f64::NAN);
        let args = [ArgValue::Tensor(a.clone()), ArgValue::Tensor(b.clone()), ArgValue::Tensor(c)];
        let device = upload(&gpu, &args).unwrap_or_else(|e| panic!("upload: {e}"));
        let tensors: Vec<&DeviceTensor> = device
            .iter()
            .map(|arg| match arg {
                DeviceArg::Tensor(t) => t,
                _ => panic!("gemm takes tensors only"),
            })
            .collect();
        tensors[2].poison().unwrap_or_else(|e| panic!("poison: {e}"));
        let launch_args: Vec<LaunchArg> = tensors.iter().map(|t| LaunchArg::Tensor(t)).collect();
        let variant = gpu.variant_for(&loaded, &launch_args).unwrap_or_else(|e| panic!("variant: {e}"));
        let runs = variant.as_deref().unwrap_or(&loaded);
        // The producer comes with TMA copies, so only where the cache's options and the
        // launch's `aligned` variant give those (an opt-out such as SPARSEFILL_TMA=0 or
        // SPARSEFILL_ARCH=sm_80 runs the same check without one).
        let options = cache.codegen();
        let copies_by_tma = options.tma && options.mma == MmaLowering::Wgmma && variant.is_some();
        if cache.arch() == Arch::Sm90a && copies_by_tma && options.specialize != Specialize::Off {
            assert!(
                runs.compiled.module.ptx.contains("setmaxnreg.inc"),
                "occupancy({occupancy}): no producer warpgroup"
            );
        }
        gpu.launch(runs, &launch_args).unwrap_or_else(|e| panic!("launch: {e}"));
        gpu.synchronize().unwrap_or_else(|e| panic!("synchronize: {e}"));
        let out = tensors[2].download().unwrap_or_else(|e| panic!("download: {e}"));
        let acc = compare(&out, &expected);
        assert!(acc.passes(TOLERANCE), "occupancy({occupancy}): {acc}");
    }
}
