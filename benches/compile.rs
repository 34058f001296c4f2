//! Compiler benchmarks (CPU): a cold compile of each shipped kernel (.tile source →
//! Tile IR → LLVM → PTX for sm_90a; target < 50 ms for the elementwise kernels), of the
//! tensor-core and sparse kernels at their default specializations, and a warm
//! kernel-cache hit (target < 20 µs).
//!
//!   cargo bench --bench compile

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::{compile_ir, lower_source};
use sparsefill_patterns::sparse::{block_sparse, local, vertical_slash};
use sparsefill_patterns::{attention, gemm, Shipped};
use sparsefill_runtime::{CacheConfig, KernelCache};

/// The tensor-core and sparse kernels, at their default constants: (name, source, kernel).
const TENSOR_CORE_KERNELS: [(&str, &str, &str); 8] = [
    ("attention", attention::SOURCE, "attention"),
    ("gemm", gemm::SOURCE, "gemm"),
    ("sparse_vertical_slash", vertical_slash::plan::ATTEND_SOURCE, vertical_slash::plan::ATTEND_KERNEL),
    ("vs_column_scores", vertical_slash::plan::ESTIMATE_SOURCE, "vs_column_scores"),
    ("topk_threshold", vertical_slash::plan::TOPK_SOURCE, "topk_threshold"),
    ("topk_write", vertical_slash::plan::TOPK_SOURCE, "topk_write"),
    ("sparse_block", block_sparse::SOURCE, block_sparse::KERNEL),
    ("sparse_local", local::SOURCE, local::KERNEL),
];

fn cold_compile_tensor_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("cold_compile_sm90a_tensor_core");
    group.sample_size(10);
    for (name, source, kernel) in TENSOR_CORE_KERNELS {
        group.bench_function(name, |b| {
            b.iter(|| {
                let ir = lower_source(source, Some(kernel), &[]).expect("shipped kernels compile");
                black_box(compile_ir(&ir, Arch::Sm90a).expect("shipped kernels compile"))
            })
        });
    }
    group.finish();
}

fn cold_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("cold_compile_sm90a");
    for kernel in Shipped::ALL {
        let consts = kernel.consts_for(&kernel.bench_shape());
        group.bench_function(kernel.name(), |b| {
            b.iter(|| {
                let ir = lower_source(kernel.source(), None, &consts).expect("shipped kernels compile");
                black_box(compile_ir(&ir, Arch::Sm90a).expect("shipped kernels compile"))
            })
        });
    }
    group.finish();
}

fn warm_cache_hit(c: &mut Criterion) {
    let mut group = c.benchmark_group("warm_cache_hit");
    // Memory only: the disk level is not involved in a warm hit.
    let cache = KernelCache::new(CacheConfig::in_memory(Arch::Sm90a));
    for kernel in Shipped::ALL {
        let consts = kernel.consts_for(&kernel.bench_shape());
        cache.get(kernel.source(), None, &consts).expect("shipped kernels compile");
        group.bench_function(kernel.name(), |b| {
            b.iter(|| black_box(cache.get(kernel.source(), None, &consts).expect("cached")))
        });
    }
    group.finish();
}

criterion_group!(benches, cold_compile, cold_compile_tensor_core, warm_cache_hit);
criterion_main!(benches);
