//! The CUDA driver library: finding it, and turning its status codes into errors that
//! name the call that failed.

use std::ffi::CStr;

use cudarc::driver::result::DriverError;
use cudarc::driver::sys;

use crate::error::RuntimeError;

/// Fails with [`RuntimeError::NoDriver`] unless libcuda can be loaded. cudarc panics
/// on the first driver call when the library is missing, so every entry point that
/// reaches the driver runs this first.
pub fn require_driver() -> Result<(), RuntimeError> {
    // SAFETY: only attempts to dlopen the candidate library names.
    if unsafe { sys::is_culib_present() } {
        return Ok(());
    }
    // cudarc's list repeats names (one per CUDA version it knows); each is said once.
    let mut searched: Vec<String> = Vec::new();
    for name in cudarc::get_lib_name_candidates("cuda") {
        if !searched.contains(&name) {
            searched.push(name);
        }
    }
    Err(RuntimeError::NoDriver { searched: searched.join(", ") })
}

/// Driver version as an integer, 1000 * major + 10 * minor (13000 for CUDA 13.0).
pub fn driver_version() -> Result<i32, RuntimeError> {
    let mut version = 0;
    // SAFETY: writes one int through a valid pointer.
    unsafe { sys::cuDriverGetVersion(&mut version) }.result().during("cuDriverGetVersion")?;
    Ok(version)
}

/// Attaches the name of the driver call to a failed result.
pub trait During<T> {
    fn during(self, call: &'static str) -> Result<T, RuntimeError>;
}

impl<T> During<T> for Result<T, DriverError> {
    fn during(self, call: &'static str) -> Result<T, RuntimeError> {
        self.map_err(|e| cuda_error(call, e))
    }
}

pub fn cuda_error(call: &'static str, error: DriverError) -> RuntimeError {
    RuntimeError::Cuda { call, name: error_name(error), description: error_description(error) }
}

/// `CUDA_ERROR_...`, as the driver spells it.
pub fn error_name(error: DriverError) -> String {
    text(error.error_name()).unwrap_or_else(|| format!("CUresult {}", error.0 as u32))
}

fn error_description(error: DriverError) -> String {
    text(error.error_string()).unwrap_or_else(|| "no description from the driver".to_string())
}

fn text(s: Result<&CStr, DriverError>) -> Option<String> {
    s.ok().map(|s| s.to_string_lossy().into_owned())
}
