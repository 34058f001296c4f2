//! Kernels on the GPU: PTX assembled into a cubin (by ptxas or the driver's JIT, see
//! [`crate::assembler`]), the cubin loaded as a module, and the entry function with the
//! resources the assembler gave it.

use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::Arc;

use cudarc::driver::result::DriverError;
use cudarc::driver::{sys, CudaContext};
use sparsefill_compiler::abi::{kernel_abi, AbiParam};
use sparsefill_compiler::codegen::PtxModule;

use crate::assembler::{ptxas_cubin, Assembler};
use crate::cache::memory::OnceMap;
use crate::cache::{CompiledKernel, KernelCache};
use crate::driver::{error_name, During};
use crate::error::RuntimeError;
use crate::gpu::Gpu;

/// A kernel ready to launch on one GPU.
pub struct LoadedKernel {
    pub compiled: Arc<CompiledKernel>,
    /// The PTX parameter list the launch packs, computed once.
    pub(crate) abi: Vec<AbiParam>,
    pub(crate) function: sys::CUfunction,
    /// Registers per thread, as the assembler allocated them.
    pub registers: i32,
    /// Local memory per thread in bytes; non-zero means register spills or local arrays.
    pub local_bytes: i32,
    /// Keeps the module (and so `function`) alive; unloaded on drop.
    module: Module,
    /// The cache this kernel came from, which builds its launch-time specializations.
    pub(crate) cache: KernelCache,
    /// This kernel specialized on the `aligned` contract of the tensor arguments that
    /// meet it, one per set of such arguments (keyed by [`crate::launch`]'s mask).
    pub(crate) variants: OnceMap<Arc<LoadedKernel>>,
}

// SAFETY: CUfunction and CUmodule are driver handles, valid from any thread once the
// owning context is current (every use binds it first) and never mutated by us.
unsafe impl Send for LoadedKernel {}
unsafe impl Sync for LoadedKernel {}

impl LoadedKernel {
    pub fn threads(&self) -> u32 {
        self.compiled.module.threads
    }

    pub(crate) fn context(&self) -> &Arc<CudaContext> {
        &self.module.ctx
    }
}

struct Module {
    raw: sys::CUmodule,
    ctx: Arc<CudaContext>,
}

impl Drop for Module {
    fn drop(&mut self) {
        // Drop cannot report failures; the context keeps the first one for its next call.
        self.ctx.record_err(self.ctx.bind_to_thread());
        // SAFETY: `raw` came from cuModuleLoadData and is unloaded exactly once, here.
        self.ctx.record_err(unsafe { sys::cuModuleUnload(self.raw) }.result());
    }
}

impl Gpu {
    /// `compiled` loaded into this GPU's context: the cubin comes from `cache`'s disk
    /// level or from assembling the PTX; modules are kept per key, so a second load of
    /// the same kernel is a map lookup.
    pub fn load(&self, compiled: &Arc<CompiledKernel>, cache: &KernelCache) -> Result<Arc<LoadedKernel>, RuntimeError> {
        self.loaded.get_or_try_init(&compiled.key, || {
            let module = &compiled.module;
            let cubin = cache.cubin(compiled, &self.device_tag(), || match self.assembler() {
                Assembler::Driver => link_ptx(&self.ctx, module),
                Assembler::Ptxas { path, .. } => {
                    ptxas_cubin(path, &module.entry, &module.ptx, self.arch(), self.info().compute_capability)
                }
            })?;
            load_cubin(&self.ctx, compiled, &cubin, cache)
        })
    }
}

/// Bytes for each JIT log; ptxas messages for one kernel fit easily.
const LOG_BYTES: usize = 1 << 16;

/// PTX → cubin through cuLink*, so the cubin can be cached on disk (loading PTX directly
/// would JIT it again in every process).
fn link_ptx(ctx: &CudaContext, module: &PtxModule) -> Result<Vec<u8>, RuntimeError> {
    let entry = &module.entry;
    let ptx = nul_terminated(&module.ptx, || format!("the PTX of `{entry}`"))?;
    let name = nul_terminated(entry, || "the kernel name".to_string())?;
    ctx.bind_to_thread().during("cuCtxSetCurrent")?;
    let mut error_log = vec![0u8; LOG_BYTES];
    let mut options =
        [sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER, sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES];
    // The driver reads option values as pointer-sized words: a pointer, then a size.
    let mut values: [*mut c_void; 2] = [error_log.as_mut_ptr().cast(), LOG_BYTES as *mut c_void];
    let mut state: sys::CUlinkState = ptr::null_mut();
    // SAFETY: `options`/`values` have 2 entries each and, like `error_log`, outlive the
    // link state, which `LinkState` destroys before this function returns.
    let created = unsafe { sys::cuLinkCreate_v2(2, options.as_mut_ptr(), values.as_mut_ptr(), &mut state) };
    created.result().during("cuLinkCreate")?;
    let state = LinkState(state);
    let link_error = |call: &'static str, e: sys::CUresult, log: &[u8]| RuntimeError::Link {
        entry: entry.clone(),
        call,
        name: error_name(DriverError(e)),
        log: String::from_utf8_lossy(log.split(|&b| b == 0).next().unwrap_or_default()).into_owned(),
    };
    // SAFETY: `ptx` is NUL-terminated and its length includes the NUL, as the driver
    // requires for PTX input; no per-input options are passed.
    let added = unsafe {
        sys::cuLinkAddData_v2(
            state.0,
            sys::CUjitInputType::CU_JIT_INPUT_PTX,
            ptx.as_ptr() as *mut c_void,
            ptx.as_bytes_with_nul().len(),
            name.as_ptr(),
            0,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if added != sys::CUresult::CUDA_SUCCESS {
        return Err(link_error("cuLinkAddData", added, &error_log));
    }
    let mut image: *mut c_void = ptr::null_mut();
    let mut size = 0usize;
    // SAFETY: out-pointers are valid; the image is owned by the link state.
    let completed = unsafe { sys::cuLinkComplete(state.0, &mut image, &mut size) };
    if completed != sys::CUresult::CUDA_SUCCESS {
        return Err(link_error("cuLinkComplete", completed, &error_log));
    }
    // SAFETY: cuLinkComplete returned `size` readable bytes at `image`, valid until the
    // link state is destroyed; they are copied out first.
    Ok(unsafe { std::slice::from_raw_parts(image.cast::<u8>(), size) }.to_vec())
}

struct LinkState(sys::CUlinkState);

impl Drop for LinkState {
    fn drop(&mut self) {
        // SAFETY: created by cuLinkCreate and destroyed once. A failure to free the
        // linker's memory leaves nothing to recover.
        let _ = unsafe { sys::cuLinkDestroy(self.0) };
    }
}

fn load_cubin(
    ctx: &Arc<CudaContext>,
    compiled: &Arc<CompiledKernel>,
    cubin: &[u8],
    cache: &KernelCache,
) -> Result<LoadedKernel, RuntimeError> {
    let entry = &compiled.module.entry;
    let entry_name = nul_terminated(entry, || "the kernel name".to_string())?;
    ctx.bind_to_thread().during("cuCtxSetCurrent")?;
    let mut raw: sys::CUmodule = ptr::null_mut();
    // SAFETY: `cubin` is a complete ELF image (checksummed on disk, or fresh from the
    // linker); the driver copies what it needs before returning.
    unsafe { sys::cuModuleLoadData(&mut raw, cubin.as_ptr().cast()) }.result().during("cuModuleLoadData")?;
    let module = Module { raw, ctx: ctx.clone() };
    let mut function: sys::CUfunction = ptr::null_mut();
    // SAFETY: `module.raw` is loaded and `entry_name` is NUL-terminated.
    unsafe { sys::cuModuleGetFunction(&mut function, module.raw, entry_name.as_ptr()) }
        .result()
        .during("cuModuleGetFunction")?;
    let attribute = |which| {
        let mut value = 0;
        // SAFETY: `function` is valid while `module` lives.
        unsafe { sys::cuFuncGetAttribute(&mut value, which, function) }.result().during("cuFuncGetAttribute")?;
        Ok::<_, RuntimeError>(value)
    };
    let registers = attribute(sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_NUM_REGS)?;
    let local_bytes = attribute(sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES)?;
    let max_threads = attribute(sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)?;
    // Shared memory is one dynamic array; past the default 48 KiB a kernel must opt in.
    let shared = compiled.module.shared_bytes;
    if shared > DEFAULT_DYNAMIC_SHARED_BYTES {
        // SAFETY: `function` is valid while `module` lives.
        unsafe {
            sys::cuFuncSetAttribute(
                function,
                sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                shared as i32,
            )
        }
        .result()
        .during("cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)")?;
    }
    let threads = compiled.module.threads;
    // Caught here rather than as an opaque CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES later.
    if i64::from(threads) > i64::from(max_threads) {
        return Err(RuntimeError::TooManyThreads { entry: entry.clone(), threads, regs: registers, max: max_threads });
    }
    Ok(LoadedKernel {
        compiled: compiled.clone(),
        abi: kernel_abi(&compiled.ir, &compiled.module.tensor_maps),
        function,
        registers,
        local_bytes,
        module,
        cache: cache.clone(),
        variants: OnceMap::default(),
    })
}

/// Dynamic shared memory a launch may use without opting in.
const DEFAULT_DYNAMIC_SHARED_BYTES: u32 = 48 * 1024;

fn nul_terminated(text: &str, what: impl FnOnce() -> String) -> Result<CString, RuntimeError> {
    CString::new(text).map_err(|e| RuntimeError::InteriorNul { what: what(), position: e.nul_position() })
}
