//! What the GPU bench binaries share: flag parsing, the exit status, and the GEMM and
//! attention launches they time, each checked against an f64 reference first.

use rand::Rng;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::{self, AttentionShape};
use sparsefill_patterns::gpu::{launch, upload, DeviceArg};
use sparsefill_runtime::{DeviceTensor, Gpu, KernelCache, LaunchArg, LoadedKernel, RuntimeError};
use std::process::ExitCode;
use std::sync::Arc;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The value after `--name` on the command line, if given.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// Success when every check passed; a failed check or an error (printed) is a failure.
pub fn exit_code(result: Result<bool, Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// gemm.tile's `gemm` at `n`³ with `consts` over its defaults, on fresh bf16 inputs in
/// [-1, 1), launched once into a poisoned output and checked on 256 sampled elements
/// against f64 dot products (the whole product is too large for a host reference).
pub struct CheckedGemm {
    /// Largest relative error of a sampled element (∞ for a non-finite one).
    pub worst_rel: f64,
    loaded: Arc<LoadedKernel>,
    tensors: [DeviceTensor; 3],
}

impl CheckedGemm {
    pub fn new(
        gpu: &Gpu,
        cache: &KernelCache,
        n: usize,
        consts: &[(String, ConstValue)],
        rng: &mut impl Rng,
    ) -> BenchResult<Self> {
        let compiled = cache.get(sparsefill_patterns::gemm::SOURCE, Some("gemm"), consts)?;
        let loaded = gpu.load(&compiled, cache)?;
        let mut random =
            || HostTensor::from_f64(DType::BF16, &[n, n], (0..n * n).map(|_| rng.random_range(-1.0..1.0)).collect());
        let (a, b) = (random(), random());
        let tensors = [
            DeviceTensor::upload(gpu, &a)?,
            DeviceTensor::upload(gpu, &b)?,
            DeviceTensor::alloc(gpu, DType::BF16, &[n, n])?,
        ];
        tensors[2].poison()?;
        let gemm = CheckedGemm { worst_rel: f64::INFINITY, loaded, tensors };
        gemm.launch(gpu)?;
        gpu.synchronize()?;
        let c = gemm.tensors[2].download()?;
        let mut worst = 0.0f64;
        for _ in 0..256 {
            let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
            let exact: f64 = (0..n).map(|k| a.data[i * n + k] * b.data[k * n + j]).sum();
            let got = c.data[i * n + j];
            // bf16 output: half an ulp of bf16 relative to the value, plus f32 accumulation.
            let err = if got.is_finite() { (got - exact).abs() / exact.abs().max(1.0) } else { f64::INFINITY };
            worst = worst.max(err);
        }
        Ok(CheckedGemm { worst_rel: worst, ..gemm })
    }

    pub fn check_ok(&self) -> bool {
        self.worst_rel <= 1e-2
    }

    /// Queues one more launch on the same inputs.
    pub fn launch(&self, gpu: &Gpu) -> Result<(), RuntimeError> {
        let [a, b, c] = &self.tensors;
        gpu.launch(&self.loaded, &[LaunchArg::Tensor(a), LaunchArg::Tensor(b), LaunchArg::Tensor(c)])
    }
}

/// attention.tile on one sequence of `len` tokens, `heads` heads (as many kv heads),
/// D = 128, with `consts` over the case's defaults, on fresh bf16 inputs: launched once
/// into poisoned o and lse, and a few rows (the first, the last, two random ones)
/// checked against the f64 reference.
pub struct CheckedAttention {
    pub check: Result<(), String>,
    /// Flops of one launch: 2 dots of 2·S·S·D per head, half of them when causal.
    pub flops: f64,
    loaded: Arc<LoadedKernel>,
    device: Vec<DeviceArg>,
}

impl CheckedAttention {
    /// The shipped attention kernel ([`attention::SOURCE`]).
    pub fn new(
        gpu: &Gpu,
        cache: &KernelCache,
        shape: (usize, usize, bool),
        consts: &[(String, ConstValue)],
        rng: &mut impl Rng,
    ) -> BenchResult<Self> {
        Self::with_source(gpu, cache, attention::SOURCE, shape, consts, rng)
    }

    /// `source`'s `attention` kernel, which must take the shipped kernel's arguments (an
    /// edit of it, timed against it by `bench-kernels --ab`).
    pub fn with_source(
        gpu: &Gpu,
        cache: &KernelCache,
        source: &str,
        (len, heads, causal): (usize, usize, bool),
        consts: &[(String, ConstValue)],
        rng: &mut impl Rng,
    ) -> BenchResult<Self> {
        let shape = AttentionShape { seqlens: vec![len], heads, kv_heads: heads, head_dim: 128, causal };
        let mut case = attention::case(&shape, 64, rng)?;
        for (name, value) in consts {
            match case.consts.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => *v = value.clone(),
                None => case.consts.push((name.clone(), value.clone())),
            }
        }
        attention::check_args(&case.args)?;
        let compiled = cache.get(source, Some("attention"), &case.consts)?;
        let loaded = gpu.load(&compiled, cache)?;
        let device = upload(gpu, &case.args)?;
        for index in [attention::O, attention::LSE] {
            if let DeviceArg::Tensor(t) = &device[index] {
                t.poison()?;
            }
        }
        launch(gpu, &loaded, &device)?;
        gpu.synchronize()?;
        let download = |index: usize| -> BenchResult<HostTensor> {
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
        let flops = 4.0 * (len as f64).powi(2) * 128.0 * heads as f64 / if causal { 2.0 } else { 1.0 };
        Ok(CheckedAttention { check, flops, loaded, device })
    }

    /// Queues one more launch on the same inputs.
    pub fn launch(&self, gpu: &Gpu) -> Result<(), RuntimeError> {
        launch(gpu, &self.loaded, &self.device)
    }
}
