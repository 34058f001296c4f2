//! Which program turns a kernel's PTX into the cubin the GPU runs: the toolkit's
//! `ptxas` when one is found, else the driver's JIT linker.
//!
//! Both read the same PTX, but they need not emit the same code. On an H200 with driver
//! 580.159.04 the JIT waited for every `wgmma` before issuing the next (48 of 48 HGMMA
//! followed by `WARPGROUP.DEPBAR.LE gsb0, 0x0` in attention.tile), where ptxas 13.0.88
//! kept them in flight (docs/perf/2026-11-28-h200-session9.md). So ptxas is preferred,
//! and the choice is part of the cubin's cache key.

use std::path::{Path, PathBuf};

use sparsefill_compiler::codegen::ptxas;
use sparsefill_compiler::target::Arch;

use crate::error::RuntimeError;

/// Chooses the assembler: `ptxas`, `driver`, or unset for ptxas when found, else the driver.
pub const ASSEMBLER_ENV: &str = "SPARSEFILL_ASSEMBLER";

/// How PTX becomes a cubin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assembler {
    /// The driver's JIT linker (`cuLink*`): needs nothing beyond the driver.
    Driver,
    /// A `ptxas` executable, and its release (`V13.0.88`), which the cubin cache key names.
    Ptxas { path: PathBuf, version: String },
}

/// What [`Assembler::choose`] was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    /// Unset: ptxas when one is found, else the driver.
    Auto,
    Ptxas,
    Driver,
}

impl Requested {
    /// Reads `$SPARSEFILL_ASSEMBLER` (`None` when unset).
    pub fn parse(value: Option<&str>) -> Result<Requested, RuntimeError> {
        match value {
            None | Some("") => Ok(Requested::Auto),
            Some("ptxas") => Ok(Requested::Ptxas),
            Some("driver") => Ok(Requested::Driver),
            Some(other) => Err(RuntimeError::AssemblerChoice { requested: other.to_string() }),
        }
    }
}

impl Assembler {
    /// The assembler for `requested`, given the ptxas that was found (if any) and a way to
    /// read its release. A ptxas that is asked for must be found and must answer
    /// `--version`; when it was not asked for, a ptxas that does not answer is passed over.
    pub fn choose(
        requested: Requested,
        found: Option<PathBuf>,
        version_of: impl Fn(&std::path::Path) -> Result<String, ptxas::PtxasError>,
    ) -> Result<Assembler, RuntimeError> {
        let with_version = |path: PathBuf| -> Result<Assembler, RuntimeError> {
            let version = version_of(&path).map_err(|source| RuntimeError::Assembler { source })?;
            Ok(Assembler::Ptxas { path, version })
        };
        match (requested, found) {
            (Requested::Driver, _) | (Requested::Auto, None) => Ok(Assembler::Driver),
            (Requested::Ptxas, None) => Err(RuntimeError::Assembler { source: ptxas::PtxasError::NotFound }),
            (Requested::Ptxas, Some(path)) => with_version(path),
            (Requested::Auto, Some(path)) => Ok(with_version(path).unwrap_or(Assembler::Driver)),
        }
    }

    /// From `$SPARSEFILL_ASSEMBLER` and the ptxas [`ptxas::find_ptxas`] finds.
    pub fn from_env() -> Result<Assembler, RuntimeError> {
        let requested = Requested::parse(std::env::var(ASSEMBLER_ENV).ok().as_deref())?;
        let found = if requested == Requested::Driver { None } else { ptxas::find_ptxas() };
        Assembler::choose(requested, found, ptxas::version)
    }

    /// The word the cubin cache key carries: `jit`, or `ptxas` and the release.
    pub fn cache_tag(&self) -> String {
        match self {
            Assembler::Driver => "jit".to_string(),
            Assembler::Ptxas { version, .. } => format!("ptxas{version}"),
        }
    }

    /// `ptxas V13.0.88 (/usr/local/cuda/bin/ptxas)` or `the driver's JIT`, for reports.
    pub fn describe(&self) -> String {
        match self {
            Assembler::Driver => "the driver's JIT".to_string(),
            Assembler::Ptxas { path, version } => format!("ptxas {version} ({})", path.display()),
        }
    }
}

/// The cubin ptxas at `ptxas` makes of `ptx` (kernel `entry`), generated for `target`,
/// for a device of compute capability `device`.
pub(crate) fn ptxas_cubin(
    ptxas: &Path,
    entry: &str,
    ptx: &str,
    target: Arch,
    device: (i32, i32),
) -> Result<Vec<u8>, RuntimeError> {
    ptxas::assemble_with(ptxas, ptx, &sass_arch(target, device))
        .map(|assembled| assembled.cubin)
        .map_err(|source| RuntimeError::Assemble { entry: entry.to_string(), source })
}

/// The architecture ptxas assembles for: sm_90a code as itself, and sm_80 code (which the
/// driver's JIT would compile for the device it loads on) for the device's own
/// architecture, since an sm_80 cubin does not run on a Hopper card.
fn sass_arch(target: Arch, (major, minor): (i32, i32)) -> String {
    match target {
        Arch::Sm90a => target.name().to_string(),
        Arch::Sm80 => format!("sm_{major}{minor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v13(_: &Path) -> Result<String, ptxas::PtxasError> {
        Ok("V13.0.88".to_string())
    }

    fn silent(path: &Path) -> Result<String, ptxas::PtxasError> {
        Err(ptxas::PtxasError::NoVersion { path: path.to_path_buf(), output: String::new() })
    }

    fn found() -> Option<PathBuf> {
        Some(PathBuf::from("/usr/local/cuda/bin/ptxas"))
    }

    fn check(requested: Requested, found: Option<PathBuf>, expected: &str) {
        let got = match Assembler::choose(requested, found, v13) {
            Ok(a) => a.cache_tag(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn auto_prefers_a_found_ptxas() {
        check(Requested::Auto, found(), "ptxasV13.0.88");
    }

    #[test]
    fn auto_without_ptxas_uses_the_driver() {
        check(Requested::Auto, None, "jit");
    }

    #[test]
    fn driver_wins_over_a_found_ptxas() {
        check(Requested::Driver, found(), "jit");
    }

    #[test]
    fn ptxas_asked_for_and_missing_is_an_error() {
        check(
            Requested::Ptxas,
            None,
            "error: choosing the assembler: ptxas not found: set SPARSEFILL_PTXAS, put ptxas on PATH, or `pip install nvidia-cuda-nvcc`",
        );
    }

    #[test]
    fn auto_passes_over_a_ptxas_without_a_version() {
        let chosen = Assembler::choose(Requested::Auto, found(), silent).map(|a| a.cache_tag());
        assert_eq!(chosen.ok().as_deref(), Some("jit"));
    }

    #[test]
    fn ptxas_asked_for_without_a_version_is_an_error() {
        let chosen = Assembler::choose(Requested::Ptxas, found(), silent);
        assert!(
            matches!(chosen, Err(RuntimeError::Assembler { source: ptxas::PtxasError::NoVersion { .. } })),
            "{chosen:?}"
        );
    }

    #[test]
    fn an_unknown_choice_names_the_supported_ones() {
        let err = Requested::parse(Some("nvcc")).map(|_| ()).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("SPARSEFILL_ASSEMBLER=nvcc is not an assembler; supported: ptxas, driver (unset: ptxas when found, else driver)"));
    }

    #[test]
    fn unset_is_auto() {
        assert_eq!(Requested::parse(None).ok(), Some(Requested::Auto));
    }

    #[test]
    fn empty_is_auto() {
        assert_eq!(Requested::parse(Some("")).ok(), Some(Requested::Auto));
    }

    #[test]
    fn sm_80_code_is_assembled_for_the_device() {
        assert_eq!(sass_arch(Arch::Sm80, (9, 0)), "sm_90");
    }

    #[test]
    fn sm_90a_code_is_assembled_as_sm_90a() {
        assert_eq!(sass_arch(Arch::Sm90a, (9, 0)), "sm_90a");
    }

    #[test]
    fn describes_the_ptxas_it_runs() {
        let a = Assembler::Ptxas { path: PathBuf::from("/opt/ptxas"), version: "V13.0.88".to_string() };
        assert_eq!(a.describe(), "ptxas V13.0.88 (/opt/ptxas)");
    }
}
