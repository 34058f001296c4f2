//! The GPU backend: bf16 activations and weights in device memory, GEMMs through cuBLAS (f32 accumulation),
//! everything else through the `.tile` kernels of [`crate::kernels`], compiled once per specialization by the
//! runtime's kernel cache. All work goes on the one stream of the [`Gpu`], so operations run in call order
//! and only [`Backend::to_host`] waits for them.

mod attention;
mod blas;
mod kv;
mod rope;
mod sparse;

pub use kv::CudaKvCache;

use super::{check_add_rmsnorm_rows, same_dims, shape, weight_dims, AttentionCall, Backend, BackendError, KvShape};
use crate::checkpoint::WeightView;
use crate::config::WeightDType;
use crate::kernels::{self, KernelSpec};
use crate::rope::Rope;
use blas::Blas;
use half::{bf16, f16};
use sparsefill_compiler::ir::DType;
use sparsefill_runtime::{CacheConfig, DeviceTensor, Gpu, KernelCache, LaunchArg, RuntimeError};
use std::ops::Range;
use std::sync::Mutex;

/// The CUDA driver's name for a failed allocation.
const OUT_OF_MEMORY: &str = "CUDA_ERROR_OUT_OF_MEMORY";

pub struct CudaBackend {
    gpu: Gpu,
    cache: KernelCache,
    blas: Blas,
    /// cos/sin tables for the positions used so far; built on first use, rebuilt only to grow.
    rope: Mutex<Option<rope::RopeTables>>,
    /// The fewest keys one split-KV program takes (see [`CudaBackend::with_min_decode_chunk`]).
    min_decode_chunk: usize,
    /// Fill every new activation with NaN before a kernel writes it (see [`CudaBackend::with_poisoned_outputs`]).
    poison: bool,
}

/// A row-major `[rows, cols]` bf16 matrix on the GPU; a 1-D weight is one row. Always contiguous and never
/// shared with another tensor, so the in-place operations (`rope`, `add_rows`) touch nothing else.
pub struct CudaTensor {
    data: DeviceTensor,
    rows: usize,
    cols: usize,
}

impl CudaTensor {
    /// The device tensor, `[rows, cols]` bf16.
    pub fn device(&self) -> &DeviceTensor {
        &self.data
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// All elements as one row-major vector.
    fn flat(&self) -> DeviceTensor {
        self.data.as_strided(&[self.rows * self.cols], &[1], 0)
    }
}

fn same_shape(op: &'static str, a: &CudaTensor, b: &CudaTensor) -> Result<(), BackendError> {
    same_dims(op, (a.rows, a.cols), (b.rows, b.cols))
}

/// A size or position as the i32 the kernels index with.
fn as_i32(op: &'static str, what: &'static str, value: usize) -> Result<i32, BackendError> {
    i32::try_from(value).map_err(|_| shape(op, what, format!("at most {}", i32::MAX), value))
}

/// A weight's values as little-endian bf16 bytes, rounding f16 and f32 checkpoints.
fn to_bf16_bytes(weight: &WeightView<'_>) -> Vec<u8> {
    match weight.dtype {
        WeightDType::BF16 => weight.bytes.to_vec(),
        WeightDType::F16 => weight
            .bytes
            .chunks_exact(2)
            .flat_map(|b| bf16::from_f32(f16::from_le_bytes([b[0], b[1]]).to_f32()).to_le_bytes())
            .collect(),
        WeightDType::F32 => weight
            .bytes
            .chunks_exact(4)
            .flat_map(|b| bf16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
            .collect(),
    }
}

impl CudaBackend {
    /// Opens GPU `ordinal` and loads cuBLAS. Fails with an error naming what is missing (driver, device,
    /// cuBLAS library), never a panic.
    pub fn new(ordinal: usize) -> Result<CudaBackend, BackendError> {
        CudaBackend::on(Gpu::new(ordinal)?)
    }

    /// The backend on an opened GPU; kernels are cached as `$SPARSEFILL_CACHE_DIR` and friends say
    /// ([`CacheConfig::from_env`]).
    pub fn on(gpu: Gpu) -> Result<CudaBackend, BackendError> {
        let blas = Blas::new(&gpu)?;
        let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
        let backend = CudaBackend { gpu, cache, blas, rope: Mutex::new(None), min_decode_chunk: 256, poison: false };
        backend.warm_up_blas()?;
        Ok(backend)
    }

    /// One small GEMM, so that cuBLAS's start-up (about 70 ms on an H200, the first call of a process) is
    /// paid when the backend opens rather than in the first pre-fill, as a warm-up forward pays it in
    /// scripts/hf_reference.py (docs/perf/2026-11-28-h200-session8.md, round 3).
    fn warm_up_blas(&self) -> Result<(), BackendError> {
        const SIDE: usize = 64;
        let tile =
            |what: &'static str| self.alloc(|| format!("the cuBLAS warm-up's {what}"), DType::BF16, &[SIDE, SIDE]);
        let (x, w, y) = (tile("input")?, tile("weight")?, tile("output")?);
        self.blas.gemm(&self.gpu, &x, &w, &y, SIDE, SIDE, SIDE)?;
        self.synchronize()
    }

    /// Sets the fewest keys one program of split-KV attention takes (256 by default; at least 1). Smaller
    /// chunks spread a short cache over more programs; tests use it to run several chunks on tiny models.
    pub fn with_min_decode_chunk(mut self, keys: usize) -> CudaBackend {
        self.min_decode_chunk = keys.max(1);
        self
    }

    /// Fills every activation with NaN when it is allocated, so that an element a kernel fails to write shows
    /// in the result instead of reading as 0. For tests: it costs a memset per operation.
    pub fn with_poisoned_outputs(mut self, poison: bool) -> CudaBackend {
        self.poison = poison;
        self
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// A zeroed contiguous tensor; a failed allocation names `what`, the bytes asked and the memory free.
    fn alloc(
        &self,
        what: impl FnOnce() -> String,
        dtype: DType,
        shape: &[usize],
    ) -> Result<DeviceTensor, BackendError> {
        let bytes = shape.iter().product::<usize>().saturating_mul(dtype.size_bytes());
        DeviceTensor::alloc(&self.gpu, dtype, shape).map_err(|e| self.allocation_error(what, bytes, e))
    }

    /// A `[rows, cols]` activation.
    fn matrix(&self, op: &'static str, rows: usize, cols: usize) -> Result<CudaTensor, BackendError> {
        let what = || format!("the {op} output [{rows}, {cols}] bf16");
        let data = self.alloc(what, DType::BF16, &[rows, cols])?;
        if self.poison {
            data.poison()?;
        }
        Ok(CudaTensor { data, rows, cols })
    }

    /// `error` as [`BackendError::OutOfMemory`] when the driver ran out of memory, else as it is.
    fn allocation_error(&self, what: impl FnOnce() -> String, requested: usize, error: RuntimeError) -> BackendError {
        match &error {
            RuntimeError::Cuda { name, .. } if name == OUT_OF_MEMORY => {
                match self.gpu.stream().context().mem_get_info() {
                    Ok((free, total)) => BackendError::OutOfMemory { what: what(), requested, free, total },
                    Err(_) => error.into(),
                }
            }
            _ => error.into(),
        }
    }

    /// Compiles (through the cache), loads and launches one kernel.
    fn launch(&self, spec: &KernelSpec, args: &[LaunchArg<'_>]) -> Result<(), BackendError> {
        let compiled = self.cache.get(spec.source, spec.kernel, &spec.consts)?;
        let loaded = self.gpu.load(&compiled, &self.cache)?;
        Ok(self.gpu.launch(&loaded, args)?)
    }

    /// `dst[a, b, :] = src[a, b, :]` over two `[A, B, C]` views.
    fn copy(&self, src: &DeviceTensor, dst: &DeviceTensor) -> Result<(), BackendError> {
        let width = src.shape().last().copied().unwrap_or(1);
        self.launch(&kernels::copy(width), &[LaunchArg::Tensor(src), LaunchArg::Tensor(dst)])
    }
}

impl Backend for CudaBackend {
    type Tensor = CudaTensor;
    type KvCache = CudaKvCache;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn kernel_report(&self) -> Option<String> {
        Some(self.cache.stats().to_string())
    }

    fn synchronize(&self) -> Result<(), BackendError> {
        Ok(self.gpu.synchronize()?)
    }

    fn upload(&self, weight: &WeightView<'_>) -> Result<CudaTensor, BackendError> {
        let (rows, cols) = weight_dims(weight)?;
        let bytes = to_bf16_bytes(weight);
        let data = DeviceTensor::from_bytes(&self.gpu, DType::BF16, &[rows, cols], &bytes)
            .map_err(|e| self.allocation_error(|| format!("a weight [{rows}, {cols}] bf16"), bytes.len(), e))?;
        Ok(CudaTensor { data, rows, cols })
    }

    fn embed(&self, table: &CudaTensor, tokens: &[u32]) -> Result<CudaTensor, BackendError> {
        // A token past the table would read zeros on the GPU, not fail: refuse it here.
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= table.rows) {
            return Err(BackendError::TokenOutOfRange { token, rows: table.rows });
        }
        let ids: Vec<u8> = tokens.iter().flat_map(|&t| (t as i32).to_le_bytes()).collect();
        let ids = DeviceTensor::from_bytes(&self.gpu, DType::I32, &[tokens.len()], &ids)
            .map_err(|e| self.allocation_error(|| format!("{} token ids", tokens.len()), ids.len(), e))?;
        let out = self.matrix("embed", tokens.len(), table.cols)?;
        let args = [LaunchArg::Tensor(&table.data), LaunchArg::Tensor(&ids), LaunchArg::Tensor(&out.data)];
        self.launch(&kernels::embed(table.cols), &args)?;
        Ok(out)
    }

    fn rmsnorm(&self, x: &CudaTensor, weight: &CudaTensor, eps: f64) -> Result<CudaTensor, BackendError> {
        if weight.rows * weight.cols != x.cols {
            return Err(shape("rmsnorm", "the weight's length", x.cols, weight.rows * weight.cols));
        }
        let out = self.matrix("rmsnorm", x.rows, x.cols)?;
        let w = weight.flat();
        let args = [
            LaunchArg::Tensor(&x.data),
            LaunchArg::Tensor(&w),
            LaunchArg::Tensor(&out.data),
            LaunchArg::F32(eps as f32),
        ];
        self.launch(&kernels::rmsnorm(x.cols), &args)?;
        Ok(out)
    }

    fn matmul(
        &self,
        x: &CudaTensor,
        weight: &CudaTensor,
        bias: Option<&CudaTensor>,
    ) -> Result<CudaTensor, BackendError> {
        if weight.cols != x.cols {
            return Err(shape("matmul", "the weight's in_features", x.cols, weight.cols));
        }
        if let Some(bias) = bias.filter(|b| b.rows * b.cols != weight.rows) {
            return Err(shape("matmul", "the bias length", weight.rows, bias.rows * bias.cols));
        }
        let out = self.matrix("matmul", x.rows, weight.rows)?;
        self.blas.gemm(&self.gpu, &x.data, &weight.data, &out.data, x.rows, x.cols, weight.rows)?;
        if let Some(bias) = bias {
            let b = bias.flat();
            self.launch(&kernels::add_bias(out.cols), &[LaunchArg::Tensor(&out.data), LaunchArg::Tensor(&b)])?;
        }
        Ok(out)
    }

    fn rope(&self, x: &mut CudaTensor, rope: &Rope, start: usize) -> Result<(), BackendError> {
        let d = rope.head_dim;
        if d == 0 || !d.is_multiple_of(2) || !x.cols.is_multiple_of(d) {
            return Err(shape("rope", "the row width", format!("a multiple of an even head_dim ({d})"), x.cols));
        }
        let end = start + x.rows;
        as_i32("rope", "the last position", end)?;
        let mut tables = self.rope.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tables = rope::RopeTables::ensure(&mut tables, self, rope, end)?;
        let half = d / 2;
        let heads = x.data.as_strided(&[x.rows, x.cols / d, 2, half], &[x.cols, d, half, 1], 0);
        let args = [
            LaunchArg::Tensor(&heads),
            LaunchArg::Tensor(&tables.cos),
            LaunchArg::Tensor(&tables.sin),
            LaunchArg::I32(start as i32),
        ];
        self.launch(&kernels::rope(d), &args)
    }

    fn new_kv_cache(&self, shape: KvShape) -> Result<CudaKvCache, BackendError> {
        CudaKvCache::new(self, shape)
    }

    fn append_kv(
        &self,
        cache: &mut CudaKvCache,
        layer: usize,
        k: &CudaTensor,
        v: &CudaTensor,
    ) -> Result<(), BackendError> {
        same_shape("append_kv", k, v)?;
        cache.append(self, layer, k, v)
    }

    /// Dense pre-fill (`start` 0, no window cutting in) runs attention.tile over strided views of q and the
    /// cache; every other call (decode, a chunk after cached tokens, Mistral's window) runs the split-KV
    /// kernels of decode_attention.tile. On the attention.tile path, heads that `call.patterns` gives a sparse
    /// pattern run it through the patterns crate's device runners (`sparsefill_patterns::gpu::pattern`) over
    /// views of q, the cache and the output, writing their columns (the dense kernel is skipped when no head
    /// is dense); nothing goes over PCIe but `cu_seqlens` (module `sparse`).
    /// The split-KV path computes every head densely, the result the patterns approximate: decode is dense
    /// by design, and the patterns have no kernel for a chunk after cached tokens or a window. Patterns need
    /// `scale` = 1 / sqrt(head_dim), the pattern kernels' scale, and one entry per query head.
    fn attention(
        &self,
        q: &CudaTensor,
        cache: &CudaKvCache,
        call: &AttentionCall<'_>,
    ) -> Result<CudaTensor, BackendError> {
        attention::run(self, q, cache, call)
    }

    fn swiglu(&self, gate: &CudaTensor, up: &CudaTensor) -> Result<CudaTensor, BackendError> {
        same_shape("swiglu", gate, up)?;
        let out = self.matrix("swiglu", gate.rows, gate.cols)?;
        let args = [LaunchArg::Tensor(&gate.flat()), LaunchArg::Tensor(&up.flat()), LaunchArg::Tensor(&out.flat())];
        self.launch(&kernels::swiglu(), &args)?;
        Ok(out)
    }

    fn add_rows(&self, x: &mut CudaTensor, start: usize, y: &CudaTensor) -> Result<(), BackendError> {
        if y.cols != x.cols {
            return Err(shape("add_rows", "the addend's width", x.cols, y.cols));
        }
        if start + y.rows > x.rows {
            return Err(shape("add_rows", "the last row added", format!("below {}", x.rows), start + y.rows - 1));
        }
        let target = x.data.as_strided(&[y.rows * y.cols], &[1], start * x.cols);
        self.launch(&kernels::add(), &[LaunchArg::Tensor(&target), LaunchArg::Tensor(&y.flat())])
    }

    fn add_rmsnorm_rows(
        &self,
        x: &mut CudaTensor,
        rows: Range<usize>,
        y: &CudaTensor,
        weight: &CudaTensor,
        eps: f64,
    ) -> Result<CudaTensor, BackendError> {
        check_add_rmsnorm_rows((x.rows, x.cols), &rows, (y.rows, y.cols), weight.rows * weight.cols)?;
        let (n, cols) = (rows.len(), x.cols);
        let out = self.matrix("add_rmsnorm_rows", n, cols)?;
        let span = |t: &CudaTensor| t.data.as_strided(&[n, cols], &[cols, 1], rows.start * cols);
        let args = [
            LaunchArg::Tensor(&span(x)),
            LaunchArg::Tensor(&span(y)),
            LaunchArg::Tensor(&weight.flat()),
            LaunchArg::Tensor(&out.data),
            LaunchArg::F32(eps as f32),
        ];
        self.launch(&kernels::add_rmsnorm(cols), &args)?;
        Ok(out)
    }

    fn slice_rows(&self, x: &CudaTensor, rows: Range<usize>) -> Result<CudaTensor, BackendError> {
        if rows.start > rows.end || rows.end > x.rows {
            return Err(shape("slice_rows", "the row range", format!("within 0..{}", x.rows), format!("{rows:?}")));
        }
        let n = rows.len();
        let out = self.matrix("slice_rows", n, x.cols)?;
        let src = x.data.as_strided(&[1, n, x.cols], &[n * x.cols, x.cols, 1], rows.start * x.cols);
        let dst = out.data.as_strided(&[1, n, x.cols], &[n * x.cols, x.cols, 1], 0);
        self.copy(&src, &dst)?;
        Ok(out)
    }

    fn rows(&self, x: &CudaTensor) -> usize {
        x.rows
    }

    fn to_host(&self, x: &CudaTensor) -> Result<Vec<f32>, BackendError> {
        Ok(x.data.download()?.data.iter().map(|&v| v as f32).collect())
    }
}
