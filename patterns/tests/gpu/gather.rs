//! Gather loads on the GPU against the interpreter (the reference semantics): rows of
//! a bf16 matrix picked by an index tensor, with out-of-range indices and entries past
//! a count masked. A gather copies values, so the two must agree exactly.

use rand::{Rng, SeedableRng};
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::gpu::{launch, upload, DeviceArg};
use sparsefill_runtime::{CacheConfig, Gpu, KernelCache};

const GATHER_ROWS: &str = r#"kernel gather_rows<BN: i32 = 64, BD: i32 = 128>(
    x: tensor<bf16>[N, D], cols: tensor<i32>[M], count: i32, out: tensor<bf16>[M, D],
) grid(cdiv(M, BN)) warps(4) {
    let m0 = program_id(0) * BN;
    let idx = where(arange(m0, BN) < count, cols[m0 .. m0 + BN], -1);
    out[m0 .. m0 + BN, 0 .. BD] = x[idx, 0 .. BD];
}
"#;

fn check(rows: usize, picks: usize, count: i32, seed: u64) {
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let x =
        HostTensor::from_f64(DType::BF16, &[rows, 128], (0..rows * 128).map(|_| rng.random_range(-4.0..4.0)).collect());
    let cols: Vec<f64> = (0..picks).map(|_| rng.random_range(-3..rows as i64 + 3) as f64).collect();
    let mut args = vec![
        ArgValue::Tensor(x),
        ArgValue::Tensor(HostTensor::from_f64(DType::I32, &[picks], cols)),
        ArgValue::I32(count),
        ArgValue::Tensor(HostTensor::filled(DType::BF16, &[picks, 128], f64::NAN)),
    ];
    let compiled = cache.get(GATHER_ROWS, None, &[]).expect("gather kernel compiles");
    let loaded = gpu.load(&compiled, &cache).expect("gather kernel loads");
    let device = upload(&gpu, &args).expect("upload");
    launch(&gpu, &loaded, &device).expect("launch");
    gpu.synchronize().expect("synchronize");
    let DeviceArg::Tensor(out) = &device[3] else { panic!("out is a tensor") };
    let got = out.download().expect("download");
    interp::run(&compiled.ir, &mut args).expect("interpreter");
    let ArgValue::Tensor(expected) = &args[3] else { panic!("out is a tensor") };
    let mismatches = got.data.iter().zip(&expected.data).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(mismatches, 0, "{mismatches} of {} elements differ from the interpreter", got.data.len());
}

#[test]
fn gathered_rows_match_the_interpreter() {
    check(1000, 256, 256, 1);
}

#[test]
fn entries_past_the_count_read_zero() {
    check(300, 200, 77, 2);
}
