//! The demo's GPU half: finds a GPU if there is one, then checks and times each
//! shipped kernel there through the same runner the benchmark uses.

use super::stdout;
use super::CliError;
use rand::Rng;
use sparsefill_patterns::gpu::{run_case, time_kernel, TimingRuns};
use sparsefill_patterns::sparse::local::query_blocks::Backend;
use sparsefill_patterns::{compare, Shipped};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

pub struct DemoGpu {
    gpu: Gpu,
    cache: KernelCache,
}

impl DemoGpu {
    /// The patterns' backend on this GPU.
    pub fn backend(&self) -> Backend<'_> {
        Backend::Gpu { gpu: &self.gpu, cache: &self.cache }
    }
}

/// The first GPU, or `None` with the reason printed (no driver, no device).
pub fn detect() -> Result<Option<DemoGpu>, CliError> {
    Ok(match Gpu::new(0) {
        Ok(gpu) => {
            let info = gpu.info();
            stdout::line(&format!(
                "GPU: {} (compute {}.{}, {}), checks and timings run there.\n",
                info.name, info.compute_capability.0, info.compute_capability.1, info.arch
            ))?;
            let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
            Some(DemoGpu { gpu, cache })
        }
        Err(e) => {
            stdout::line(&format!("No GPU: {e}.\nChecks run on the CPU interpreter.\n"))?;
            None
        }
    })
}

/// Table rows (kernel, backend, shape, accuracy, result) and the number that failed:
/// the small ragged cases and the benchmark shape, each checked against the f64
/// reference; the benchmark shape is also timed.
pub fn check_and_time(
    gpu: &DemoGpu,
    kernel: Shipped,
    rng: &mut impl Rng,
) -> Result<(Vec<Vec<String>>, usize), CliError> {
    let mut rows = Vec::new();
    let mut failed = 0;
    let bench = kernel.bench_shape();
    let cases = kernel.small_cases().into_iter().chain(std::iter::once((bench.clone(), None)));
    for (shape, block) in cases {
        let case = kernel.case(&shape, block, rng);
        let out = run_case(&gpu.gpu, &gpu.cache, kernel, &case)?;
        let acc = compare(&out, &kernel.reference(&case));
        let ok = acc.passes(kernel.tolerance());
        failed += usize::from(!ok);
        let mut result = if ok { "ok".to_string() } else { "FAIL".to_string() };
        if shape == bench {
            // The demo's times are a sanity check, not a benchmark: no settling (bench-kernels settles).
            let runs = TimingRuns { sets: 3, iters: 20, settle_ms: 0 };
            let t = time_kernel(&gpu.gpu, &gpu.cache, kernel, &shape, runs, rng)?;
            result += &format!(", {:.3} ms, {:.0} GB/s", t.median_ms, t.gbps());
        }
        rows.push(vec![
            kernel.name().into(),
            format!("GPU {}", gpu.gpu.arch()),
            format!("{shape:?}{}", block.map(|b| format!(" BLOCK={b}")).unwrap_or_default()),
            acc.to_string(),
            result,
        ]);
    }
    Ok((rows, failed))
}
