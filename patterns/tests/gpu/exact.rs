//! Running a kernel on the GPU and on the interpreter from the same arguments, for tests
//! whose inputs make every result exact in f32 (scans, scatters, `bin_sum`), so that the
//! two must agree bit for bit; outputs start poisoned.

use rand::Rng;
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::gpu::{launch, upload, DeviceArg};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

/// i32 in -1000..1000, bf16 integers in -3..=3, f32 multiples of 2^-10 in (-1, 1).
pub(super) fn random(dtype: DType, shape: &[usize], rng: &mut rand::rngs::StdRng) -> HostTensor {
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| match dtype {
            DType::I32 => f64::from(rng.random_range(-1000..1000)),
            DType::BF16 => f64::from(rng.random_range(-3..=3)),
            _ => f64::from(rng.random_range(-1023..1024)) / 1024.0,
        })
        .collect();
    HostTensor::from_f64(dtype, shape, data)
}

/// Every element -77 (i32) or NaN, so an element left unwritten shows.
pub(super) fn poisoned(dtype: DType, shape: &[usize]) -> HostTensor {
    HostTensor::filled(dtype, shape, if dtype == DType::I32 { -77.0 } else { f64::NAN })
}

/// Runs `source` on the GPU and on the interpreter from the same `args`; returns both
/// sets of outputs (the tensors at `outputs`).
pub(super) fn both(source: &str, mut args: Vec<ArgValue>, outputs: &[usize]) -> Vec<(HostTensor, HostTensor)> {
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let compiled = cache.get(source, None, &[]).expect("the kernel compiles");
    let loaded = gpu.load(&compiled, &cache).expect("the kernel loads");
    let device = upload(&gpu, &args).expect("upload");
    launch(&gpu, &loaded, &device).expect("launch");
    gpu.synchronize().expect("synchronize");
    interp::run(&compiled.ir, &mut args).expect("interpreter");
    outputs
        .iter()
        .map(|&i| {
            let DeviceArg::Tensor(d) = &device[i] else { panic!("argument {i} is a tensor") };
            let ArgValue::Tensor(expected) = &args[i] else { panic!("argument {i} is a tensor") };
            (d.download().expect("download"), expected.clone())
        })
        .collect()
}

/// Every element of the GPU's output equals the interpreter's bit for bit, and the
/// interpreter wrote something.
pub(super) fn assert_exact((got, expected): &(HostTensor, HostTensor)) {
    assert!(expected.data.iter().any(|x| x.is_finite() && *x != -77.0), "the interpreter wrote nothing");
    let differ = got.data.iter().zip(&expected.data).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(differ, 0, "{differ} of {} elements differ from the interpreter", got.data.len());
}
