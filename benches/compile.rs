//! Compiler benchmarks (CPU): a cold compile of each shipped kernel (.tile source →
//! Tile IR → LLVM → PTX for sm_90a; target < 50 ms) and a warm kernel-cache hit
//! (target < 20 µs).
//!
//!   cargo bench --bench compile

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::{compile_ir, lower_source};
use sparsefill_patterns::Shipped;
use sparsefill_runtime::{CacheConfig, KernelCache};

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

criterion_group!(benches, cold_compile, warm_cache_hit);
criterion_main!(benches);
