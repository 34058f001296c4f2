//! One GPU: its context, the stream all work goes on, and what it is.

use std::sync::Arc;

use cudarc::driver::{result, sys, CudaContext, CudaStream};
use sparsefill_compiler::target::Arch;

use crate::cache::memory::OnceMap;
use crate::cache::DeviceTag;
use crate::driver::{driver_version, require_driver, During};
use crate::error::RuntimeError;
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

/// A CUDA context on one device and the one stream its work is ordered on. Uploads,
/// launches, timing and downloads all go on that stream, so they run in call order.
pub struct Gpu {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    info: DeviceInfo,
    /// Modules loaded into this context, by PTX key.
    pub(crate) loaded: OnceMap<LoadedKernel>,
}

impl Gpu {
    /// Opens device `ordinal`. Fails with an error, never a panic, when there is no
    /// driver, no device, or a device older than the supported targets.
    pub fn new(ordinal: usize) -> Result<Gpu, RuntimeError> {
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
        let arch = Arch::for_compute_capability(major, minor).ok_or_else(|| RuntimeError::UnsupportedDevice {
            name: name.clone(),
            major,
            minor,
        })?;
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
        Ok(Gpu { ctx, stream, info, loaded: OnceMap::default() })
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    pub fn arch(&self) -> Arch {
        self.info.arch
    }

    /// The stream this GPU's work goes on, for interop with other CUDA code.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Waits for all work queued on the stream; reports errors of earlier launches.
    pub fn synchronize(&self) -> Result<(), RuntimeError> {
        self.stream.synchronize().during("cuStreamSynchronize")
    }

    pub(crate) fn device_tag(&self) -> DeviceTag {
        DeviceTag { driver_version: self.info.driver_version, compute_capability: self.info.compute_capability }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
