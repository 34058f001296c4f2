//! The shipped kernels on the GPU against the same f64 references the interpreter
//! is checked with: fresh random inputs, outputs poisoned on host and device.
//! Runs only with `--features gpu`, on the GPU machine (docs/gpu.md).

use rand::SeedableRng;
use sparsefill_patterns::gpu::run_case;
use sparsefill_patterns::{compare, Shipped};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

fn check_on_gpu(kernel: Shipped) {
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut cases = kernel.small_cases();
    cases.push((kernel.bench_shape().iter().map(|&d| d.min(1 << 20)).collect::<Vec<_>>(), None));
    if kernel != Shipped::VectorAdd {
        cases.push((vec![33, 5000], None)); // longer than the widest tile: the looped path
        cases.push((vec![7, 4096], Some(1024)));
    }
    for (shape, block) in cases {
        let case = kernel.case(&shape, block, &mut rng);
        let out = run_case(&gpu, &cache, kernel, &case).unwrap_or_else(|e| panic!("{} {shape:?}: {e}", kernel.name()));
        let acc = compare(&out, &kernel.reference(&case));
        assert!(acc.passes(kernel.tolerance()), "{} {shape:?} block {block:?}: {acc}", kernel.name());
    }
}

#[test]
fn vector_add_on_gpu_matches_reference() {
    check_on_gpu(Shipped::VectorAdd);
}

#[test]
fn softmax_on_gpu_matches_reference() {
    check_on_gpu(Shipped::Softmax);
}

#[test]
fn rmsnorm_on_gpu_matches_reference() {
    check_on_gpu(Shipped::RmsNorm);
}
