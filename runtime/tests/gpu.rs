//! Runtime tests on a real GPU (`cargo test -p sparsefill-runtime --features gpu`).
//! Most launch through a hand-written PTX kernel injected with a fake toolchain, so
//! they exercise the runtime alone; `real_pipeline_*` goes through the compiler.

#![cfg(feature = "gpu")]

use std::path::Path;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use sparsefill_compiler::codegen::ptxas;
use sparsefill_compiler::codegen::PtxModule;
use sparsefill_compiler::ir::builder::KernelBuilder;
use sparsefill_compiler::ir::{BinaryOp, ConstValue, DType, Kernel, Param};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_compiler::CompileError;
use sparsefill_runtime::{
    Assembler, CacheConfig, CacheStats, DeviceTensor, Gpu, KernelCache, LaunchArg, LoadedKernel, RuntimeError,
    Toolchain,
};

/// `y[i * y_stride] = a * x[i * x_stride]` for `i < N`, 128 threads per program,
/// parameters exactly as `abi_params` lays out `scale(x: f32[N], y: f32[N], a: f32)`.
const SCALE_PTX: &str = r#"
.version 8.0
.target sm_80
.address_size 64

.visible .entry scale(
    .param .u64 x, .param .u32 x_n, .param .u64 x_s,
    .param .u64 y, .param .u32 y_n, .param .u64 y_s,
    .param .f32 a
)
.maxntid 128, 1, 1
{
    .reg .pred %p;
    .reg .b32 %r<6>;
    .reg .b64 %rd<12>;
    .reg .f32 %f<4>;
    ld.param.u64 %rd1, [x];
    ld.param.u32 %r1, [x_n];
    ld.param.u64 %rd2, [x_s];
    ld.param.u64 %rd3, [y];
    ld.param.u64 %rd4, [y_s];
    ld.param.f32 %f1, [a];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.u32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p, %r5, %r1;
    @%p bra DONE;
    cvt.u64.u32 %rd5, %r5;
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd3, %rd3;
    mul.lo.u64 %rd6, %rd5, %rd2;
    shl.b64 %rd6, %rd6, 2;
    add.u64 %rd7, %rd1, %rd6;
    ld.global.f32 %f2, [%rd7];
    mul.rn.f32 %f3, %f2, %f1;
    mul.lo.u64 %rd8, %rd5, %rd4;
    shl.b64 %rd8, %rd8, 2;
    add.u64 %rd9, %rd3, %rd8;
    st.global.f32 [%rd9], %f3;
DONE:
    ret;
}
"#;

/// The IR `scale` stands for: its parameters and grid `cdiv(N, 128)`; the body is
/// the PTX above.
fn scale_ir() -> Kernel {
    let mut b = KernelBuilder::new("scale", 4);
    let x = b.tensor_param("x", DType::F32, &["N"]);
    b.tensor_param("y", DType::F32, &["N"]);
    b.scalar_param("a", DType::F32);
    b.grid(|b| {
        let n = b.dim(x, 0);
        let c127 = b.const_i32(127);
        let c128 = b.const_i32(128);
        let one = b.const_i32(1);
        let padded = b.binary(BinaryOp::Add, n, c127);
        [b.binary(BinaryOp::Div, padded, c128), one, one]
    });
    b.finish()
}

struct HandWritten;

impl Toolchain for HandWritten {
    fn lower(
        &self,
        _src: &str,
        _kernel: Option<&str>,
        _consts: &[(String, ConstValue)],
    ) -> Result<Kernel, CompileError> {
        Ok(scale_ir())
    }

    fn codegen(&self, kernel: &Kernel, _arch: Arch) -> Result<PtxModule, CompileError> {
        Ok(PtxModule {
            ptx: SCALE_PTX.to_string(),
            llvm_ir: String::new(),
            entry: kernel.name.clone(),
            threads: kernel.threads_per_program(),
            shared_bytes: 0,
            tensor_maps: Vec::new(),
        })
    }

    fn options(&self) -> String {
        "hand-written scale".to_string()
    }
}

fn gpu() -> Gpu {
    Gpu::new(0).expect("these tests need a CUDA GPU")
}

fn cache_in(gpu: &Gpu, dir: &Path) -> KernelCache {
    KernelCache::with_toolchain(
        CacheConfig { dir: Some(dir.to_path_buf()), ..CacheConfig::in_memory(gpu.arch()) },
        Arc::new(HandWritten),
    )
}

fn scale_kernel(gpu: &Gpu) -> Arc<LoadedKernel> {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(gpu, dir.path());
    let compiled = cache.get("scale", None, &[]).unwrap();
    gpu.load(&compiled, &cache).unwrap()
}

fn random(dtype: DType, shape: &[usize], seed: u64) -> HostTensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    let data = (0..n).map(|_| match dtype {
        DType::Bool => f64::from(rng.random_range(0..2u8)),
        DType::I32 => f64::from(rng.random_range(-1000..1000)),
        _ => rng.random_range(-4.0..4.0),
    });
    HostTensor::from_f64(dtype, shape, data.collect())
}

fn error_text(result: Result<(), RuntimeError>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn upload_download_round_trips_every_dtype() {
    let gpu = gpu();
    for (seed, dtype) in DType::ALL.into_iter().enumerate() {
        let host = random(dtype, &[3, 37], seed as u64);
        let back = DeviceTensor::upload(&gpu, &host).unwrap().download().unwrap();
        assert_eq!(back, host, "{dtype}");
    }
}

#[test]
fn download_gathers_a_transposed_view() {
    let gpu = gpu();
    let host = HostTensor::from_f64(DType::F32, &[2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let t = DeviceTensor::upload(&gpu, &host).unwrap().as_strided(&[3, 2], &[1, 3], 0);
    assert_eq!(t.download().unwrap().data, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
}

#[test]
fn poison_fills_floats_with_nan() {
    let gpu = gpu();
    let t = DeviceTensor::upload(&gpu, &random(DType::BF16, &[64], 1)).unwrap();
    t.poison().unwrap();
    assert!(t.download().unwrap().data.iter().all(|x| x.is_nan()));
}

#[test]
fn from_bytes_rejects_a_wrong_length() {
    let gpu = gpu();
    let err = DeviceTensor::from_bytes(&gpu, DType::F32, &[4], &[0u8; 15]).err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("from_bytes: got 15 bytes, but a f32 tensor of shape [4] needs 16"));
}

#[test]
fn missing_ordinal_is_an_error() {
    let err = Gpu::new(4096).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with("GPU 4096 does not exist"), "{err}");
}

#[test]
fn launch_scales_a_vector() {
    let gpu = gpu();
    let kernel = scale_kernel(&gpu);
    let x = random(DType::F32, &[1000], 7);
    let dx = DeviceTensor::upload(&gpu, &x).unwrap();
    let dy = DeviceTensor::alloc(&gpu, DType::F32, &[1000]).unwrap();
    dy.poison().unwrap();
    gpu.launch(&kernel, &[LaunchArg::Tensor(&dx), LaunchArg::Tensor(&dy), LaunchArg::F32(-1.5)]).unwrap();
    let expected: Vec<f64> = x.data.iter().map(|v| f64::from(*v as f32 * -1.5)).collect();
    assert_eq!(dy.download().unwrap().data, expected);
}

/// x -> y on the main stream, y -> z on the side one, z -> w on the main one again, each
/// into a NaN-poisoned vector long enough (16M floats, a few dozen microseconds a
/// launch) that a launch not waiting for the one before would read poison.
#[test]
fn lanes_order_a_chain_across_the_two_streams() {
    use sparsefill_runtime::lanes::{self, Lane};
    let gpu = gpu();
    let kernel = scale_kernel(&gpu);
    let n = 1 << 24;
    let x = random(DType::F32, &[n], 8);
    let dx = DeviceTensor::upload(&gpu, &x).unwrap();
    let out = || {
        let t = DeviceTensor::alloc(&gpu, DType::F32, &[n]).unwrap();
        t.poison().unwrap();
        t
    };
    let tensors = [dx, out(), out(), out()];
    let chain = [(Lane::Main, [0, 1], 2.0), (Lane::Side, [1, 2], 3.0), (Lane::Main, [2, 3], 5.0)];
    let lanes: Vec<(Lane, Vec<usize>)> = chain.iter().map(|(lane, io, _)| (*lane, io.to_vec())).collect();
    let launch = |at: usize, lane| {
        let ([from, to], a) = (chain[at].1, chain[at].2);
        let args = [LaunchArg::Tensor(&tensors[from]), LaunchArg::Tensor(&tensors[to]), LaunchArg::F32(a)];
        gpu.launch_on(lane, &kernel, &args)
    };
    lanes::queue(&gpu, &lanes, launch, |e| e).unwrap();
    let expected: Vec<f64> = x.data.iter().map(|v| f64::from(*v as f32 * 2.0 * 3.0 * 5.0)).collect();
    assert_eq!(tensors[3].download().unwrap().data, expected);
}

#[test]
fn launch_writes_through_strided_views() {
    let gpu = gpu();
    let kernel = scale_kernel(&gpu);
    let x = DeviceTensor::upload(&gpu, &HostTensor::from_f64(DType::F32, &[1], vec![2.0])).unwrap();
    let broadcast = x.as_strided(&[4], &[0], 0);
    let buffer = DeviceTensor::alloc(&gpu, DType::F32, &[8]).unwrap();
    let every_other = buffer.as_strided(&[4], &[2], 1);
    gpu.launch(&kernel, &[LaunchArg::Tensor(&broadcast), LaunchArg::Tensor(&every_other), LaunchArg::F32(3.0)])
        .unwrap();
    assert_eq!(buffer.download().unwrap().data, vec![0.0, 6.0, 0.0, 6.0, 0.0, 6.0, 0.0, 6.0]);
}

#[test]
fn empty_grid_launches_nothing() {
    let gpu = gpu();
    let kernel = scale_kernel(&gpu);
    let empty = DeviceTensor::alloc(&gpu, DType::F32, &[0]).unwrap();
    let launched = gpu.launch(&kernel, &[LaunchArg::Tensor(&empty), LaunchArg::Tensor(&empty), LaunchArg::F32(1.0)]);
    assert_eq!(error_text(launched.and_then(|()| gpu.synchronize())), "ok");
}

/// The error of launching `scale` with x of `x_dtype`/`x_shape` and y made by `y`.
fn launch_error(x_dtype: DType, x_shape: &[usize], y: &dyn Fn(&Gpu) -> DeviceTensor) -> String {
    let gpu = gpu();
    let kernel = scale_kernel(&gpu);
    let x = DeviceTensor::alloc(&gpu, x_dtype, x_shape).unwrap();
    let y = y(&gpu);
    error_text(gpu.launch(&kernel, &[LaunchArg::Tensor(&x), LaunchArg::Tensor(&y), LaunchArg::F32(1.0)]))
}

fn f32_vec(n: usize) -> impl Fn(&Gpu) -> DeviceTensor {
    move |gpu| DeviceTensor::alloc(gpu, DType::F32, &[n]).unwrap()
}

#[test]
fn launch_rejects_a_wrong_dtype() {
    assert_eq!(launch_error(DType::BF16, &[8], &f32_vec(8)), "argument `x` must have dtype f32; got bf16");
}

#[test]
fn launch_rejects_a_wrong_rank() {
    assert_eq!(
        launch_error(DType::F32, &[2, 4], &f32_vec(8)),
        "argument `x` must have rank 1 ([N]); got rank 2 (shape [2, 4])"
    );
}

#[test]
fn launch_rejects_mismatched_dims() {
    assert_eq!(launch_error(DType::F32, &[8], &f32_vec(16)), "dimension `N` of `y` is 16, but `x` has N = 8");
}

#[test]
fn launch_rejects_a_view_past_its_buffer() {
    let past_end = |gpu: &Gpu| DeviceTensor::alloc(gpu, DType::F32, &[8]).unwrap().as_strided(&[8], &[2], 0);
    assert_eq!(
        launch_error(DType::F32, &[8], &past_end),
        "argument `y` of `scale`: view (offset 0, shape [8], strides [2]) reaches element 15 but its buffer holds \
         8 elements; a view must stay inside its allocation"
    );
}

#[test]
fn launch_rejects_a_wrong_scalar_type() {
    let gpu = gpu();
    let kernel = scale_kernel(&gpu);
    let x = DeviceTensor::alloc(&gpu, DType::F32, &[8]).unwrap();
    let launched = gpu.launch(&kernel, &[LaunchArg::Tensor(&x), LaunchArg::Tensor(&x), LaunchArg::I32(1)]);
    assert_eq!(error_text(launched), "argument `a` must have dtype f32; got i32");
}

#[test]
fn cubin_is_reused_by_a_second_cache() {
    let dir = tempfile::tempdir().unwrap();
    let first_gpu = gpu();
    let first = cache_in(&first_gpu, dir.path());
    first_gpu.load(&first.get("scale", None, &[]).unwrap(), &first).unwrap();
    // A second Gpu has its own module map, so only the disk can spare the link.
    let second_gpu = gpu();
    let second = cache_in(&second_gpu, dir.path());
    second_gpu.load(&second.get("scale", None, &[]).unwrap(), &second).unwrap();
    assert_eq!(second.stats(), CacheStats { disk_hits: 1, cubin_disk_hits: 1, ..CacheStats::default() });
}

#[test]
fn second_load_on_one_gpu_reuses_the_module() {
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&gpu, dir.path());
    let compiled = cache.get("scale", None, &[]).unwrap();
    let first = gpu.load(&compiled, &cache).unwrap();
    assert!(Arc::ptr_eq(&first, &gpu.load(&compiled, &cache).unwrap()));
}

#[test]
fn loaded_kernel_reports_its_registers() {
    assert!(scale_kernel(&gpu()).registers > 0);
}

/// A toolchain whose PTX has an instruction no assembler knows.
struct Broken;

impl Toolchain for Broken {
    fn lower(&self, _: &str, _: Option<&str>, _: &[(String, ConstValue)]) -> Result<Kernel, CompileError> {
        Ok(scale_ir())
    }
    fn codegen(&self, kernel: &Kernel, arch: Arch) -> Result<PtxModule, CompileError> {
        let module = HandWritten.codegen(kernel, arch)?;
        Ok(PtxModule { ptx: module.ptx.replace("mul.rn.f32", "mul.bogus.f32"), ..module })
    }
    fn options(&self) -> String {
        "broken".to_string()
    }
}

/// The error of loading [`Broken`]'s kernel on a GPU whose cubins `assembler` builds.
fn broken_load_error(assembler: Assembler) -> String {
    let gpu = Gpu::with_assembler(0, assembler).expect("these tests need a CUDA GPU");
    let cache = KernelCache::with_toolchain(CacheConfig::in_memory(gpu.arch()), Arc::new(Broken));
    gpu.load(&cache.get("scale", None, &[]).unwrap(), &cache).err().map(|e| e.to_string()).unwrap_or_default()
}

fn ptxas_assembler() -> Assembler {
    let path = ptxas::find_ptxas().expect("the GPU machine has ptxas");
    let version = ptxas::version(&path).unwrap_or_else(|e| panic!("{e}"));
    Assembler::Ptxas { path, version }
}

#[test]
fn broken_ptx_reports_the_jit_log() {
    let err = broken_load_error(Assembler::Driver);
    assert!(err.starts_with("linking the PTX of `scale` into a cubin failed") && err.contains("ptxas"), "{err}");
}

#[test]
fn broken_ptx_reports_the_ptxas_log() {
    let err = broken_load_error(ptxas_assembler());
    assert!(err.starts_with("assembling the PTX of `scale` with ptxas failed") && err.contains("bogus"), "{err}");
}

/// Either assembler's cubin runs the kernel and gives the same result.
fn scaled_by(assembler: Assembler) -> Vec<f64> {
    let gpu = Gpu::with_assembler(0, assembler).expect("these tests need a CUDA GPU");
    let kernel = scale_kernel(&gpu);
    let input = random(DType::F32, &[4096], 7);
    let x = DeviceTensor::upload(&gpu, &input).unwrap();
    let y = DeviceTensor::upload(&gpu, &HostTensor::filled(DType::F32, &[4096], f64::NAN)).unwrap();
    gpu.launch(&kernel, &[LaunchArg::Tensor(&x), LaunchArg::Tensor(&y), LaunchArg::F32(2.0)]).unwrap();
    y.download().unwrap().data
}

#[test]
fn ptxas_and_driver_cubins_compute_the_same() {
    let (ptxas, driver) = (scaled_by(ptxas_assembler()), scaled_by(Assembler::Driver));
    assert!(ptxas.iter().all(|v| v.is_finite()) && ptxas == driver, "{:?} vs {:?}", &ptxas[..4], &driver[..4]);
}

#[test]
fn time_ms_returns_one_positive_sample_per_iteration() {
    let gpu = gpu();
    let kernel = scale_kernel(&gpu);
    let x = DeviceTensor::upload(&gpu, &random(DType::F32, &[1 << 20], 3)).unwrap();
    let y = DeviceTensor::alloc(&gpu, DType::F32, &[1 << 20]).unwrap();
    let args = [LaunchArg::Tensor(&x), LaunchArg::Tensor(&y), LaunchArg::F32(2.0)];
    let samples = gpu.time_ms(2, 5, || gpu.launch(&kernel, &args)).unwrap();
    assert!(samples.len() == 5 && samples.iter().all(|&ms| ms > 0.0), "{samples:?}");
}

/// Settling runs the work until the time has passed, and not at all for 0 ms.
#[test]
fn settle_runs_the_work_for_the_time_asked() {
    let gpu = gpu();
    let kernel = scale_kernel(&gpu);
    let x = DeviceTensor::upload(&gpu, &random(DType::F32, &[1 << 20], 4)).unwrap();
    let y = DeviceTensor::alloc(&gpu, DType::F32, &[1 << 20]).unwrap();
    let args = [LaunchArg::Tensor(&x), LaunchArg::Tensor(&y), LaunchArg::F32(2.0)];
    let mut runs = [0, 0];
    for (ms, count) in [0, 50].into_iter().zip(runs.iter_mut()) {
        let started = std::time::Instant::now();
        gpu.settle(ms, || {
            *count += 1;
            gpu.launch(&kernel, &args)
        })
        .unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(ms), "{ms} ms");
    }
    assert!(runs[0] == 0 && runs[1] > 1, "{runs:?}");
}

const VECTOR_ADD: &str = r#"
kernel vector_add<BLOCK: i32 = 256>(a: tensor<f32>[N], b: tensor<f32>[N], o: tensor<f32>[N])
grid(cdiv(N, BLOCK)) warps(4) {
    let i0 = program_id(0) * BLOCK;
    o[i0 .. i0 + BLOCK] = a[i0 .. i0 + BLOCK] + b[i0 .. i0 + BLOCK];
}
"#;

#[test]
fn real_pipeline_adds_vectors() {
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let cache =
        KernelCache::new(CacheConfig { dir: Some(dir.path().to_path_buf()), ..CacheConfig::in_memory(gpu.arch()) });
    let compiled = cache.get(VECTOR_ADD, None, &[]).unwrap();
    let kernel = gpu.load(&compiled, &cache).unwrap();
    let (a, b) = (random(DType::F32, &[1000], 11), random(DType::F32, &[1000], 12));
    let (da, db) = (DeviceTensor::upload(&gpu, &a).unwrap(), DeviceTensor::upload(&gpu, &b).unwrap());
    let o = DeviceTensor::alloc(&gpu, DType::F32, &[1000]).unwrap();
    o.poison().unwrap();
    gpu.launch(&kernel, &[LaunchArg::Tensor(&da), LaunchArg::Tensor(&db), LaunchArg::Tensor(&o)]).unwrap();
    let expected: Vec<f64> = a.data.iter().zip(&b.data).map(|(x, y)| f64::from(*x as f32 + *y as f32)).collect();
    assert_eq!(o.download().unwrap().data, expected);
}

/// The tensor parameters that carry the `aligned` contract in the variant a launch of
/// `kernel` on `args` runs.
fn aligned_params(gpu: &Gpu, kernel: &LoadedKernel, args: &[LaunchArg]) -> Vec<String> {
    let variant = gpu.variant_for(kernel, args).unwrap();
    let ir = &variant.as_deref().unwrap_or(kernel).compiled.ir;
    let aligned = ir.params.iter().filter(|p| matches!(p, Param::Tensor { aligned: true, .. }));
    aligned.map(|p| p.name().to_string()).collect()
}

/// `b` of vector_add read one f32 (4 bytes) past a 16-byte boundary, and what a + b is.
fn shifted_operands(gpu: &Gpu, n: usize) -> (DeviceTensor, DeviceTensor, DeviceTensor, Vec<f64>) {
    let (a, b) = (random(DType::F32, &[n], 21), random(DType::F32, &[n], 22));
    let padded = HostTensor::from_f64(DType::F32, &[n + 1], std::iter::once(0.0).chain(b.data.clone()).collect());
    let b_padded = DeviceTensor::upload(gpu, &padded).unwrap();
    let b_shifted = b_padded.as_strided(&[n], &[1], 1);
    let expected = a.data.iter().zip(&b.data).map(|(x, y)| f64::from(*x as f32 + *y as f32)).collect();
    (DeviceTensor::upload(gpu, &a).unwrap(), DeviceTensor::upload(gpu, &b).unwrap(), b_shifted, expected)
}

#[test]
fn real_pipeline_specializes_on_the_aligned_tensors_only() {
    let gpu = gpu();
    let cache = KernelCache::new(CacheConfig::in_memory(gpu.arch()));
    let kernel = gpu.load(&cache.get(VECTOR_ADD, None, &[]).unwrap(), &cache).unwrap();
    let n = 1001;
    let (a, b, b_shifted, expected) = shifted_operands(&gpu, n);
    let o = DeviceTensor::alloc(&gpu, DType::F32, &[n]).unwrap();
    // SPARSEFILL_ALIGNED=0 (round 3 of docs/perf/2026-11-30-h200-session31.md) adds no contract.
    let expected_contracts = match sparsefill_runtime::launch::adds_aligned_contracts() {
        true => [vec!["a", "b", "o"], vec!["a", "o"]],
        false => [vec![], vec![]],
    };
    for (b, contract) in [&b, &b_shifted].into_iter().zip(expected_contracts) {
        o.poison().unwrap();
        let args = [LaunchArg::Tensor(&a), LaunchArg::Tensor(b), LaunchArg::Tensor(&o)];
        assert_eq!(aligned_params(&gpu, &kernel, &args), contract);
        gpu.launch(&kernel, &args).unwrap();
        assert_eq!(o.download().unwrap().data, expected, "contract on {contract:?}");
    }
}

#[test]
fn a_kernel_compiled_aligned_runs_without_the_contract_on_a_misaligned_tensor() {
    let gpu = gpu();
    let cache = KernelCache::new(CacheConfig::in_memory(gpu.arch()));
    let mut ir = cache.get(VECTOR_ADD, None, &[]).unwrap().ir.clone();
    for name in ["a", "b", "o"] {
        assert!(ir.set_aligned(name, true));
    }
    let kernel = gpu.load(&cache.get_ir(ir).unwrap(), &cache).unwrap();
    let n = 700;
    let (a, _, b_shifted, expected) = shifted_operands(&gpu, n);
    let o = DeviceTensor::alloc(&gpu, DType::F32, &[n]).unwrap();
    o.poison().unwrap();
    let args = [LaunchArg::Tensor(&a), LaunchArg::Tensor(&b_shifted), LaunchArg::Tensor(&o)];
    assert_eq!(aligned_params(&gpu, &kernel, &args), ["a", "o"]);
    gpu.launch(&kernel, &args).unwrap();
    assert_eq!(o.download().unwrap().data, expected);
}
