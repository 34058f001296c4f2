//! Validated kernel launches. Everything a bad argument could break is checked on the
//! host first (dtypes, ranks, shared dimensions, const dimensions, views inside their
//! buffers, grid limits), so a launch either fails with an error or runs in bounds.
//!
//! A launch also specializes on where its tensors lie, as Triton does on divisibility
//! by 16: the kernel runs as its variant with the `aligned` contract
//! ([`sparsefill_compiler::ir::Param::Tensor`]) on exactly the tensor arguments that
//! meet it ([`Layout::check_aligned`]), built through the kernel's cache on first use
//! and kept on the kernel. Most launches pass aligned, contiguous tensors, and their
//! variant moves 16-byte chunks with no alignment tests and no element-by-element
//! fallback. `SPARSEFILL_ALIGNED=0` turns this off, to measure what it gains: every launch
//! runs the kernel as compiled, except that a contract the kernel was compiled with is
//! dropped where an argument breaks it.

use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, LazyLock};

use cudarc::driver::sys;
use sparsefill_compiler::abi::{AbiKind, AbiParam, AbiRole, TensorMap};
use sparsefill_compiler::interp::{eval_grid, GridArg, InterpError};
use sparsefill_compiler::ir::{DType, Kernel, Param};

use crate::driver::During;
use crate::error::RuntimeError;
use crate::gpu::Gpu;
use crate::lanes::Lane;
use crate::layout::Layout;
use crate::module::LoadedKernel;
use crate::tensor::DeviceTensor;
use crate::tensor_map;

/// One kernel argument, in the order of the kernel's parameters.
#[derive(Clone, Copy)]
pub enum LaunchArg<'a> {
    Tensor(&'a DeviceTensor),
    F32(f32),
    I32(i32),
    Bool(bool),
}

impl LaunchArg<'_> {
    fn grid_arg(&self) -> GridArg<'_> {
        match self {
            LaunchArg::Tensor(t) => GridArg::Tensor { dtype: t.dtype(), shape: t.shape() },
            LaunchArg::F32(v) => GridArg::F32(*v),
            LaunchArg::I32(v) => GridArg::I32(*v),
            LaunchArg::Bool(v) => GridArg::Bool(*v),
        }
    }
}

/// CUDA's grid limits per axis: x up to 2^31 - 1, y and z up to 65535.
const GRID_MAX: [u32; 3] = [i32::MAX as u32, 65535, 65535];

impl Gpu {
    /// Launches `kernel` on this GPU's stream with one block of `kernel.threads()`
    /// threads per program. Returns once the launch is queued; a grid with zero
    /// programs along some axis launches nothing.
    pub fn launch(&self, kernel: &LoadedKernel, args: &[LaunchArg]) -> Result<(), RuntimeError> {
        self.launch_on(Lane::Main, kernel, args)
    }

    /// [`Gpu::launch`] on the stream `lane` names. The side stream orders nothing by
    /// itself: [`crate::lanes::schedule`] says where it waits and is waited for.
    pub fn launch_on(&self, lane: Lane, kernel: &LoadedKernel, args: &[LaunchArg]) -> Result<(), RuntimeError> {
        if kernel.context() != &self.ctx {
            return Err(RuntimeError::WrongDevice { what: format!("kernel `{}`", kernel.compiled.ir.name) });
        }
        let variant = self.variant_for(kernel, args)?;
        let kernel = variant.as_deref().unwrap_or(kernel);
        // variant_for matched the contract to these arguments; only a launch it did not
        // match (specializing off) checks each claimed tensor here.
        let contract_matched = *SPECIALIZE && args.len() == kernel.compiled.ir.params.len();
        let ir = &kernel.compiled.ir;
        let grid_args: Vec<GridArg> = args.iter().map(LaunchArg::grid_arg).collect();
        // eval_grid validates the arguments first; keep its argument errors unwrapped.
        let grid = eval_grid(ir, &grid_args).map_err(|e| match e {
            InterpError::Args(e) => RuntimeError::Args(e),
            source => RuntimeError::Grid { kernel: ir.name.clone(), source },
        })?;
        let mut abi_args = Vec::with_capacity(args.len());
        for (param, arg) in ir.params.iter().zip(args) {
            abi_args.push(match arg {
                LaunchArg::Tensor(t) => {
                    t.check_usable(&self.ctx, &format!("argument `{}` of `{}`", param.name(), ir.name))?;
                    if let (false, Param::Tensor { aligned: true, .. }) = (contract_matched, param) {
                        t.layout().check_aligned(t.address(), t.dtype().size_bytes()).map_err(|why| {
                            RuntimeError::Misaligned { kernel: ir.name.clone(), param: param.name().to_string(), why }
                        })?;
                    }
                    AbiArg::Tensor { address: t.address(), layout: t.layout(), dtype: t.dtype() }
                }
                LaunchArg::F32(v) => AbiArg::F32(*v),
                LaunchArg::I32(v) => AbiArg::U32(*v as u32),
                LaunchArg::Bool(v) => AbiArg::U32(u32::from(*v)),
            });
        }
        check_grid(&ir.name, grid)?;
        if grid.contains(&0) {
            return Ok(());
        }
        let stream = self.lane_stream(lane)?.cu_stream();
        let mut params = pack(ir, &kernel.abi, &abi_args)?;
        let mut pointers: Vec<*mut c_void> = params.iter_mut().map(Packed::as_mut_ptr).collect();
        self.ctx.bind_to_thread().during("cuCtxSetCurrent")?;
        // SAFETY: `pointers` holds one pointer per PTX parameter, in order, each to a
        // value of that parameter's size (`pack` follows `abi_params`, which codegen
        // also follows); `params` outlives the call, which copies them. Tensor
        // addresses point into live buffers with every addressed element in bounds.
        let launched = unsafe {
            sys::cuLaunchKernel(
                kernel.function,
                grid[0],
                grid[1],
                grid[2],
                kernel.threads(),
                1,
                1,
                kernel.compiled.module.shared_bytes,
                stream,
                pointers.as_mut_ptr(),
                ptr::null_mut(),
            )
        };
        launched.result().during("cuLaunchKernel")
    }
}

/// The `aligned` flags of the variant a launch runs, one a parameter (`a`: the contract;
/// `-`: none, or not a tensor), or `None` when the kernel as compiled is that variant.
/// `meets[i]` says whether tensor argument `i` meets the contract (`None`: not a tensor).
/// With `specialize` each tensor parameter takes the contract exactly where its argument
/// meets it. Without, none gains it, but a contract the kernel was compiled with is still
/// dropped where its argument breaks it, as the default does: the launch's check would
/// refuse the kernel as compiled (`RuntimeError::Misaligned`).
fn variant_key(params: &[Param], meets: impl IntoIterator<Item = Option<bool>>, specialize: bool) -> Option<String> {
    let mut key = String::with_capacity(params.len());
    let mut differs = false;
    for (param, meets) in params.iter().zip(meets) {
        let (Param::Tensor { aligned, .. }, Some(meets)) = (param, meets) else {
            key.push('-');
            continue;
        };
        let takes = meets && (specialize || *aligned);
        differs |= takes != *aligned;
        key.push(if takes { 'a' } else { '-' });
    }
    differs.then_some(key)
}

/// Whether launches specialize on the `aligned` contract (`SPARSEFILL_ALIGNED=0` says no).
static SPECIALIZE: LazyLock<bool> = LazyLock::new(|| std::env::var("SPARSEFILL_ALIGNED").map_or(true, |v| v != "0"));

/// Whether launches add the `aligned` contract where their tensors meet it: unless
/// `SPARSEFILL_ALIGNED=0` ([`Gpu::variant_for`]).
pub fn adds_aligned_contracts() -> bool {
    *SPECIALIZE
}

impl Gpu {
    /// The variant of `kernel` to launch on `args`: the kernel with the `aligned` contract
    /// on exactly the tensor arguments that meet it, or `None` when that is `kernel`
    /// itself. With specializing off, the variant only drops the contracts `kernel` was
    /// compiled with where an argument breaks them ([`variant_key`]). Arguments that are
    /// not what the kernel takes are left for the launch's validation to report.
    pub fn variant_for(
        &self,
        kernel: &LoadedKernel,
        args: &[LaunchArg],
    ) -> Result<Option<Arc<LoadedKernel>>, RuntimeError> {
        let ir = &kernel.compiled.ir;
        if args.len() != ir.params.len() {
            return Ok(None);
        }
        let meets = args.iter().map(|arg| match arg {
            LaunchArg::Tensor(t) => Some(t.is_aligned()),
            _ => None,
        });
        let Some(key) = variant_key(&ir.params, meets, *SPECIALIZE) else {
            return Ok(None);
        };
        let variant = kernel.variants.get_or_try_init(&key, || {
            let mut specialized = ir.clone();
            for (param, flag) in ir.params.iter().zip(key.chars()) {
                specialized.set_aligned(param.name(), flag == 'a');
            }
            let compiled = kernel.cache.get_ir(specialized)?;
            self.load(&compiled, &kernel.cache)
        })?;
        Ok(Some(Arc::clone(&variant)))
    }
}

fn check_grid(kernel: &str, grid: [u32; 3]) -> Result<(), RuntimeError> {
    for (axis, (&value, &max)) in grid.iter().zip(&GRID_MAX).enumerate() {
        if value > max {
            return Err(RuntimeError::GridTooLarge { kernel: kernel.to_string(), axis, value, max });
        }
    }
    Ok(())
}

/// A launch argument reduced to what the ABI passes.
enum AbiArg<'a> {
    Tensor { address: u64, layout: &'a Layout, dtype: DType },
    F32(f32),
    U32(u32),
}

/// One PTX parameter's value, kept in place while the driver reads it.
#[derive(Clone, Debug, PartialEq)]
enum Packed {
    U32(u32),
    U64(u64),
    F32(f32),
    /// Boxed: the map is 128 bytes and must stay 64-byte aligned where it lies.
    TensorMap(Box<sys::CUtensorMap>),
}

impl Packed {
    fn as_mut_ptr(&mut self) -> *mut c_void {
        match self {
            Packed::U32(v) => (v as *mut u32).cast(),
            Packed::U64(v) => (v as *mut u64).cast(),
            Packed::F32(v) => (v as *mut f32).cast(),
            Packed::TensorMap(map) => (&mut **map as *mut sys::CUtensorMap).cast(),
        }
    }
}

/// The tensor map `map` of `ir`'s tensor argument, encoded.
fn tensor_map(ir: &Kernel, map: &TensorMap, arg: Option<&AbiArg>) -> Result<Option<Packed>, RuntimeError> {
    let Some(AbiArg::Tensor { address, layout, dtype }) = arg else {
        return Ok(None);
    };
    let failed = |source| RuntimeError::TensorMap {
        kernel: ir.name.clone(),
        param: ir.params.get(map.param).map_or_else(|| map.param.to_string(), |p| p.name().to_string()),
        source,
    };
    let geometry = tensor_map::geometry(map, layout, *dtype).map_err(failed)?;
    let encoded = tensor_map::encode(&geometry, *address)
        .map_err(|e| crate::driver::cuda_error("cuTensorMapEncodeTiled", cudarc::driver::result::DriverError(e)))?;
    Ok(Some(Packed::TensorMap(Box::new(encoded))))
}

/// The PTX parameter values, in `abi` order. Arguments already passed validation, so
/// a mismatch here means the ABI and the IR disagree: reported, never a panic.
fn pack(ir: &Kernel, abi: &[AbiParam], args: &[AbiArg]) -> Result<Vec<Packed>, RuntimeError> {
    abi.iter()
        .enumerate()
        .map(|(index, p)| {
            let value = match (&p.role, p.kind) {
                (AbiRole::TensorMap(map), AbiKind::TensorMap) => tensor_map(ir, map, args.get(map.param))?,
                (AbiRole::Pointer { param }, AbiKind::Ptr) => match args.get(*param) {
                    Some(AbiArg::Tensor { address, .. }) => Some(Packed::U64(*address)),
                    _ => None,
                },
                (AbiRole::Size { param, axis }, AbiKind::U32) => match args.get(*param) {
                    Some(AbiArg::Tensor { layout, .. }) => {
                        layout.shape.get(*axis).and_then(|&d| u32::try_from(d).ok()).map(Packed::U32)
                    }
                    _ => None,
                },
                (AbiRole::Stride { param, axis }, AbiKind::U64) => match args.get(*param) {
                    Some(AbiArg::Tensor { layout, .. }) => layout.strides.get(*axis).map(|&s| Packed::U64(s as u64)),
                    _ => None,
                },
                (AbiRole::Scalar { param }, AbiKind::F32) => match args.get(*param) {
                    Some(AbiArg::F32(v)) => Some(Packed::F32(*v)),
                    _ => None,
                },
                (AbiRole::Scalar { param }, AbiKind::U32) => match args.get(*param) {
                    Some(AbiArg::U32(v)) => Some(Packed::U32(*v)),
                    _ => None,
                },
                _ => None,
            };
            value.ok_or_else(|| RuntimeError::AbiMismatch { kernel: ir.name.clone(), index })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_compiler::abi::abi_params;
    use sparsefill_compiler::ir::builder::KernelBuilder;

    /// Tensors `a`, `b`, `o` (contracts as given) and a scalar, launched on tensors that
    /// meet the contract or not (`meets`) and a scalar: the variant's key.
    fn key(contracts: [bool; 3], meets: [bool; 3], specialize: bool) -> Option<String> {
        let mut b = KernelBuilder::new("add", 4);
        for name in ["a", "b", "o"] {
            b.tensor_param(name, DType::F32, &["N"]);
        }
        b.scalar_param("n", DType::I32);
        let mut k = b.finish();
        for (name, on) in ["a", "b", "o"].into_iter().zip(contracts) {
            assert!(k.set_aligned(name, on));
        }
        variant_key(&k.params, meets.into_iter().map(Some).chain([None]), specialize)
    }

    #[test]
    fn a_launch_takes_the_contract_where_its_tensors_meet_it() {
        assert_eq!(key([false; 3], [true, false, true], true).as_deref(), Some("a-a-"));
    }

    #[test]
    fn a_kernel_already_specialized_as_the_arguments_need_runs_as_it_is() {
        assert_eq!(key([true, false, true], [true, false, true], true), None);
    }

    #[test]
    fn without_specializing_no_contract_is_added() {
        assert_eq!(key([false; 3], [true; 3], false), None);
    }

    /// SPARSEFILL_ALIGNED=0 once launched such a kernel as compiled, which the launch's
    /// check then refused (`RuntimeError::Misaligned`) where the default runs it.
    #[test]
    fn without_specializing_a_broken_contract_is_still_dropped() {
        assert_eq!(key([true; 3], [true, false, true], false).as_deref(), Some("a-a-"));
    }

    fn kernel() -> Kernel {
        let mut b = KernelBuilder::new("k", 4);
        b.tensor_param("x", DType::BF16, &["N", "D"]);
        b.scalar_param("scale", DType::F32);
        b.scalar_param("n", DType::I32);
        b.scalar_param("causal", DType::Bool);
        b.finish()
    }

    #[test]
    fn packs_pointer_sizes_strides_then_scalars() {
        let k = kernel();
        let layout = Layout { shape: vec![3, 64], strides: vec![128, 1], offset: 0 };
        let args = [
            AbiArg::Tensor { address: 0x7000, layout: &layout, dtype: DType::BF16 },
            AbiArg::F32(0.5),
            AbiArg::U32(-2i32 as u32),
            AbiArg::U32(1),
        ];
        assert_eq!(
            pack(&k, &abi_params(&k), &args).unwrap(),
            vec![
                Packed::U64(0x7000),
                Packed::U32(3),
                Packed::U32(64),
                Packed::U64(128),
                Packed::U64(1),
                Packed::F32(0.5),
                Packed::U32(0xFFFF_FFFE),
                Packed::U32(1),
            ]
        );
    }

    #[test]
    fn scalar_in_a_tensor_slot_is_an_abi_mismatch() {
        let k = kernel();
        let args = [AbiArg::F32(1.0), AbiArg::F32(0.5), AbiArg::U32(0), AbiArg::U32(1)];
        assert_eq!(
            pack(&k, &abi_params(&k), &args).unwrap_err().to_string(),
            "internal error: launch arguments of `k` do not match PTX parameter 0 of the kernel ABI"
        );
    }

    /// `kernel()`'s ABI with a tensor map over `x` of box `box_dims` after it.
    fn abi_with_map(k: &Kernel, box_dims: &[u32]) -> Vec<AbiParam> {
        let map = TensorMap { param: 0, box_dims: box_dims.to_vec() };
        sparsefill_compiler::abi::kernel_abi(k, &[map])
    }

    #[test]
    fn a_tensor_map_the_argument_cannot_take_names_the_argument_and_the_limit() {
        // Checked before the driver is asked, so this runs without a GPU.
        let k = kernel();
        let layout = Layout { shape: vec![3, 64], strides: vec![0, 1], offset: 0 };
        let args = [
            AbiArg::Tensor { address: 0x7000, layout: &layout, dtype: DType::BF16 },
            AbiArg::F32(0.5),
            AbiArg::U32(0),
            AbiArg::U32(1),
        ];
        assert_eq!(
            pack(&k, &abi_with_map(&k, &[64, 64]), &args).unwrap_err().to_string(),
            "argument `x` of `k` cannot be described by the TMA tensor map the kernel copies it through: dimension 0 \
             has a stride of 0 bytes; a tensor map takes multiples of 16 below 2^40"
        );
    }

    #[test]
    fn a_tensor_map_over_a_scalar_is_an_abi_mismatch() {
        let k = kernel();
        let args = [AbiArg::F32(1.0), AbiArg::F32(0.5), AbiArg::U32(0), AbiArg::U32(1)];
        let abi = abi_with_map(&k, &[64, 64]);
        // The map's slot alone, so no earlier slot fails first.
        assert_eq!(
            pack(&k, &abi[abi.len() - 1..], &args).unwrap_err().to_string(),
            "internal error: launch arguments of `k` do not match PTX parameter 0 of the kernel ABI"
        );
    }

    #[test]
    fn a_misaligned_argument_is_named_with_the_broken_rule_and_the_fix() {
        let why = crate::layout::Misalignment::LastStride { stride: 2 };
        let e = RuntimeError::Misaligned { kernel: "gemm".into(), param: "b".into(), why };
        assert_eq!(
            e.to_string(),
            "argument `b` of `gemm` breaks the `aligned` contract the kernel was compiled with: its last dimension \
             has stride 2, not 1 (it is not contiguous); pass a 16-byte-aligned tensor with a contiguous last \
             dimension and other strides in multiples of 16 bytes, or launch a kernel compiled without the contract"
        );
    }

    #[test]
    fn grid_within_limits_passes() {
        assert!(check_grid("k", [i32::MAX as u32, 65535, 65535]).is_ok());
    }

    #[test]
    fn grid_x_above_2_pow_31_is_refused() {
        assert_eq!(
            check_grid("k", [1 << 31, 1, 1]).unwrap_err().to_string(),
            "launch grid of `k` has 2147483648 programs along axis 0; CUDA allows at most 2147483647"
        );
    }

    #[test]
    fn grid_z_above_65535_is_refused() {
        assert_eq!(
            check_grid("k", [1, 1, 65536]).unwrap_err().to_string(),
            "launch grid of `k` has 65536 programs along axis 2; CUDA allows at most 65535"
        );
    }
}
