//! One GPU: its context, the stream all work goes on (and the side stream of `lanes`), and what it is.

use std::sync::{Arc, OnceLock};

use cudarc::driver::{result, sys, CudaContext, CudaStream};
use sparsefill_compiler::target::Arch;

use crate::assembler::Assembler;
use crate::cache::memory::OnceMap;
use crate::cache::DeviceTag;
use crate::driver::{driver_version, require_driver, During};
use crate::error::RuntimeError;
use crate::lanes::Lane;
use crate::module::LoadedKernel;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    /// The code generation target for this device.
    pub arch: Arch,
    pub sm_count: i32,
    /// 1000 * major + 10 * minor, as `cuDriverGetVersion` reports it.
    pub driver_version: i32,
}

/// A CUDA context on one device and the stream its work is ordered on. Uploads,
/// launches, timing and downloads all go on that stream, so they run in call order; a
/// launch may go on a second stream instead ([`Lane::Side`], created on first use), which
/// waits for the first where [`Gpu::fork_side`] says and is waited for where
/// [`Gpu::join_side`] says ([`crate::lanes`]).
pub struct Gpu {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    side: OnceLock<Arc<CudaStream>>,
    info: DeviceInfo,
    /// Modules loaded into this context, by PTX key.
    pub(crate) loaded: OnceMap<LoadedKernel>,
    /// What turns PTX into this GPU's cubins.
    assembler: Assembler,
}

impl Gpu {
    /// Opens device `ordinal`, with the assembler `$SPARSEFILL_ASSEMBLER` chooses. Fails
    /// with an error, never a panic, when there is no driver, no device, or a device older
    /// than the supported targets.
    pub fn new(ordinal: usize) -> Result<Gpu, RuntimeError> {
        // Without a driver there is nothing to assemble for: say so before looking for ptxas.
        require_driver()?;
        Gpu::with_assembler(ordinal, Assembler::from_env()?)
    }

    /// Opens device `ordinal` with `assembler` turning its kernels' PTX into cubins.
    pub fn with_assembler(ordinal: usize, assembler: Assembler) -> Result<Gpu, RuntimeError> {
        require_driver()?;
        match result::init() {
            Err(e) if e.0 == sys::CUresult::CUDA_ERROR_NO_DEVICE => return Err(RuntimeError::NoDevice),
            other => other.during("cuInit")?,
        }
        let count = result::device::get_count().during("cuDeviceGetCount")?;
        if count <= 0 {
            return Err(RuntimeError::NoDevice);
        }
        if ordinal >= count as usize {
            return Err(RuntimeError::NoSuchDevice { ordinal, count: count as usize });
        }
        let ctx = CudaContext::new(ordinal).during("cuDevicePrimaryCtxRetain")?;
        let name = ctx.name().during("cuDeviceGetName")?;
        let (major, minor) = ctx.compute_capability().during("cuDeviceGetAttribute")?;
        let device_arch = Arch::for_compute_capability(major, minor)
            .ok_or_else(|| RuntimeError::UnsupportedDevice { name: name.clone(), major, minor })?;
        let arch = chosen_arch(device_arch, std::env::var("SPARSEFILL_ARCH").ok().as_deref(), &name)?;
        let sm_count = ctx
            .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .during("cuDeviceGetAttribute")?;
        let info = DeviceInfo {
            ordinal,
            name,
            compute_capability: (major, minor),
            arch,
            sm_count,
            driver_version: driver_version()?,
        };
        let stream = ctx.default_stream();
        Ok(Gpu { ctx, stream, side: OnceLock::new(), info, loaded: OnceMap::default(), assembler })
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    pub fn arch(&self) -> Arch {
        self.info.arch
    }

    /// What turns PTX into this GPU's cubins (`$SPARSEFILL_ASSEMBLER`).
    pub fn assembler(&self) -> &Assembler {
        &self.assembler
    }

    /// The stream this GPU's work goes on, for interop with other CUDA code.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Waits for all work queued on the stream (and on the side stream, so that a caller
    /// who forgot a join still sees every launch finished); reports errors of earlier
    /// launches.
    pub fn synchronize(&self) -> Result<(), RuntimeError> {
        if let Some(side) = self.side.get() {
            side.synchronize().during("cuStreamSynchronize")?;
        }
        self.stream.synchronize().during("cuStreamSynchronize")
    }

    /// The stream `lane` names; the side stream is created on first use.
    pub(crate) fn lane_stream(&self, lane: Lane) -> Result<&Arc<CudaStream>, RuntimeError> {
        match lane {
            Lane::Main => Ok(&self.stream),
            Lane::Side => {
                if let Some(side) = self.side.get() {
                    return Ok(side);
                }
                // The highest priority: where both streams have blocks waiting, the block
                // scheduler places the side stream's first, so a short launch on it runs
                // between the main stream's blocks instead of after all of them
                // (vertical_slash::overlap).
                self.ctx.bind_to_thread().during("cuCtxSetCurrent")?;
                let (_least, greatest) = result::stream::get_priority_range().during("cuCtxGetStreamPriorityRange")?;
                let created = self.ctx.new_stream_with_priority(greatest).during("cuStreamCreateWithPriority")?;
                Ok(self.side.get_or_init(|| created))
            }
        }
    }

    /// The side stream waits for the work queued on the main stream so far
    /// ([`crate::lanes::Step::Fork`]).
    pub fn fork_side(&self) -> Result<(), RuntimeError> {
        self.lane_stream(Lane::Side)?.join(&self.stream).during("cuStreamWaitEvent")
    }

    /// The main stream waits for the work queued on the side stream so far
    /// ([`crate::lanes::Step::Join`]).
    pub fn join_side(&self) -> Result<(), RuntimeError> {
        self.stream.join(self.lane_stream(Lane::Side)?).during("cuStreamWaitEvent")
    }

    pub(crate) fn device_tag(&self) -> DeviceTag {
        DeviceTag {
            driver_version: self.info.driver_version,
            compute_capability: self.info.compute_capability,
            assembler: self.assembler.cache_tag(),
        }
    }
}

/// The code generation target: the device's own, or `requested` (`$SPARSEFILL_ARCH`, so
/// that the sm_80 lowering can be tested on a Hopper card) when the device runs it.
/// sm_80 code runs on every supported device; sm_90a only on compute capability 9.0.
fn chosen_arch(device: Arch, requested: Option<&str>, name: &str) -> Result<Arch, RuntimeError> {
    let Some(requested) = requested.filter(|r| !r.is_empty()) else {
        return Ok(device);
    };
    let runs_here: Vec<Arch> = Arch::ALL.into_iter().filter(|&a| a == Arch::Sm80 || a == device).collect();
    match requested.parse::<Arch>() {
        Ok(arch) if runs_here.contains(&arch) => Ok(arch),
        _ => Err(RuntimeError::ArchOverride {
            requested: requested.to_string(),
            name: name.to_string(),
            device,
            supported: runs_here.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_override_keeps_the_device_arch() {
        assert_eq!(chosen_arch(Arch::Sm90a, None, "H200").ok(), Some(Arch::Sm90a));
    }

    #[test]
    fn sm_80_runs_on_hopper() {
        assert_eq!(chosen_arch(Arch::Sm90a, Some("sm_80"), "H200").ok(), Some(Arch::Sm80));
    }

    #[test]
    fn sm_90a_override_on_an_ampere_card_names_what_runs_there() {
        let err = chosen_arch(Arch::Sm80, Some("sm_90a"), "A100").map(|_| ()).unwrap_err();
        assert_eq!(err.to_string(), "SPARSEFILL_ARCH=sm_90a cannot run on `A100` (sm_80); supported there: sm_80");
    }

    #[test]
    fn unknown_override_is_an_error() {
        let err = chosen_arch(Arch::Sm90a, Some("sm_70"), "H200").map(|_| ()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SPARSEFILL_ARCH=sm_70 cannot run on `H200` (sm_90a); supported there: sm_80, sm_90a"
        );
    }

    #[test]
    #[cfg_attr(feature = "gpu", ignore = "expects a machine without a CUDA driver")]
    fn missing_driver_is_an_error_not_a_panic() {
        let message = match Gpu::new(0) {
            Ok(_) => "opened a GPU".to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            message.starts_with("the CUDA driver library could not be loaded (looked for libcuda.so")
                || message == "the CUDA driver is present but reports no GPU",
            "{message}"
        );
    }

    #[test]
    #[cfg_attr(feature = "gpu", ignore = "expects a machine without a CUDA driver")]
    fn a_missing_driver_names_each_library_once() {
        let Err(RuntimeError::NoDriver { searched }) = crate::driver::require_driver() else {
            return eprintln!("skipped: this machine has a CUDA driver");
        };
        let names: Vec<&str> = searched.split(", ").collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "{searched}");
    }
}
