//! `dot` on the GPU (mma.sync through ldmatrix) against f64 references: gemm.tile's `gemm`
//! on ragged and multi-program shapes, and its `gemm_nt`, `dot(a, trans(b))` as in q · kᵀ. Fresh random bf16 inputs,
//! outputs poisoned on host and device. Runs only with `--features gpu`, on the GPU machine.

use rand::SeedableRng;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::compare;
use sparsefill_patterns::gemm::{random, reference, SOURCE as GEMM, TOLERANCE};
use sparsefill_patterns::gpu::{launch, upload, DeviceArg};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

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
