//! NVIDIA's assembler, `ptxas`: checks generated PTX and reads its resource report, and
//! assembles the cubins the runtime loads when it assembles with ptxas rather than the
//! driver's JIT (`sparsefill_runtime::assembler`).
//!
//! CI has no GPU but has ptxas (pip `nvidia-cuda-nvcc`), so this is how a kernel's
//! registers, spills and shared memory are checked without a device.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::toolkit::{ScratchDir, Tool};
use crate::target::Arch;

/// Overrides where ptxas is found.
pub const PTXAS_ENV: &str = "SPARSEFILL_PTXAS";

/// Set to `1` (CI does) to make tests fail instead of skip when ptxas is missing.
pub const REQUIRE_PTXAS_ENV: &str = "SPARSEFILL_REQUIRE_PTXAS";

/// For tests that assemble PTX: whether ptxas is here. Without it they skip with a note
/// naming `what`, unless [`REQUIRE_PTXAS_ENV`] is `1`, in which case this panics: a
/// machine that must check every kernel cannot pass by skipping.
pub fn available_for_tests(what: &str) -> bool {
    PTXAS.available_for_tests(what)
}

/// What `ptxas -v` reports for the module's kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PtxasReport {
    pub registers: u32,
    pub spill_stores: u32,
    pub spill_loads: u32,
    pub stack_bytes: u32,
    pub shared_bytes: u32,
    /// ptxas's whole output.
    pub raw: String,
}

impl PtxasReport {
    /// ptxas's first line saying it held back the kernel's `wgmma` pipeline: serialized
    /// products (C7513 and kin) or a `warpgroup.wait` it injected before a read of a
    /// product's registers (C7517). Either costs the overlap the lowering built.
    pub fn wgmma_stall(&self) -> Option<&str> {
        self.raw.lines().find(|line| line.contains("serialized") || line.contains("warpgroup.wait is injected"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PtxasError {
    #[error("ptxas not found: set {PTXAS_ENV}, put ptxas on PATH, or `pip install nvidia-cuda-nvcc`")]
    NotFound,
    #[error("running ptxas ({path}): {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// `output` is ptxas's, followed by what the user can do where ptxas's words leave it
    /// unexplained ([`rejection_hint`]).
    #[error("ptxas rejected the PTX for {arch} ({status}):\n{output}")]
    Rejected { arch: String, status: String, output: String },
    #[error("ptxas printed no resource report (expected `Used N registers` and a spill line):\n{output}")]
    NoReport { output: String },
    #[error("ptxas ({path}) --version printed no version (expected a word like `V13.0.88`):\n{output}")]
    NoVersion { path: PathBuf, output: String },
}

/// A cubin and what ptxas printed while assembling it.
#[derive(Clone, Debug)]
pub struct Assembled {
    pub cubin: Vec<u8>,
    /// ptxas's whole output (`-v`: the resource report, and any warnings).
    pub output: String,
}

impl Assembled {
    /// The resource report in [`Assembled::output`].
    pub fn report(&self) -> Result<PtxasReport, PtxasError> {
        parse_report(&self.output).ok_or_else(|| PtxasError::NoReport { output: self.output.clone() })
    }
}

/// Where ptxas is looked for: `$SPARSEFILL_PTXAS`, then `PATH`, the CUDA toolkit and the
/// pip wheels (CUDA 13's `cu13/bin`, CUDA 12's `cuda_nvcc/bin`).
const PTXAS: Tool = Tool {
    env: PTXAS_ENV,
    name: "ptxas",
    pip_dirs: &["cu13/bin", "cuda_nvcc/bin"],
    require_env: REQUIRE_PTXAS_ENV,
    install: "nvidia-cuda-nvcc==13.0.88",
};

/// `$SPARSEFILL_PTXAS`, then `ptxas` on `PATH`, then the CUDA toolkit's
/// (`$CUDA_HOME/bin`, `/usr/local/cuda/bin`), then the pip package `nvidia-cuda-nvcc`.
/// A set `$SPARSEFILL_PTXAS` that names no file finds nothing, rather than another ptxas.
pub fn find_ptxas() -> Option<PathBuf> {
    PTXAS.find()
}

/// Assembles `ptx` for `arch` with `ptxas -v` (the one [`find_ptxas`] finds) and returns
/// its resource report.
pub fn assemble(ptx: &str, arch: Arch) -> Result<PtxasReport, PtxasError> {
    let ptxas = find_ptxas().ok_or(PtxasError::NotFound)?;
    assemble_with(&ptxas, ptx, arch.name())?.report()
}

/// What a user can do about a rejection ptxas's own words leave unexplained, or nothing.
/// With a producer warpgroup, ptxas fits each `wgmma` in the registers the entry gives a
/// thread, not in the more `setmaxnreg.inc` gives the consumers: a 64 x 128 product at
/// `occupancy(3)` fails with C7602 (docs/perf/2026-11-30-h200-session30.md, round 4).
fn rejection_hint(ptx: &str, output: &str) -> String {
    if !(output.contains("C7602") && ptx.contains("setmaxnreg.inc")) {
        return String::new();
    }
    let programs = ptx
        .lines()
        .find_map(|line| line.trim().strip_prefix(".minnctapersm"))
        .map_or(String::new(), |n| format!(", {} programs an SM", n.trim()));
    format!(
        "\nThe kernel has a producer warpgroup{programs}: ptxas fits each `wgmma` in the registers its \
         entry gives a thread, not in the more `setmaxnreg` gives the consumers. A lower occupancy(N) \
         or narrower products fit (docs/language.md, `occupancy`)."
    )
}

/// Assembles `ptx` with the ptxas at `ptxas` (`-v`, default optimization) for the GPU
/// architecture `arch` (`sm_90a`, or a device's own `sm_90` for PTX written for `sm_80`,
/// which a cubin of sm_80 code would not run on) and returns the cubin with ptxas's
/// output.
pub fn assemble_with(ptxas: &Path, ptx: &str, arch: &str) -> Result<Assembled, PtxasError> {
    let dir = ScratchDir::new().map_err(|source| PtxasError::Io { path: std::env::temp_dir(), source })?;
    let input = dir.0.join("kernel.ptx");
    let cubin = dir.0.join("kernel.cubin");
    std::fs::write(&input, ptx).map_err(|source| PtxasError::Io { path: input.clone(), source })?;
    let output = Command::new(ptxas)
        .arg("-v")
        .arg(format!("-arch={arch}"))
        .arg("-o")
        .arg(&cubin)
        .arg(&input)
        .output()
        .map_err(|source| PtxasError::Io { path: ptxas.to_path_buf(), source })?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        let hint = rejection_hint(ptx, &text);
        let status = output.status.to_string();
        return Err(PtxasError::Rejected { arch: arch.to_string(), status, output: text + &hint });
    }
    let cubin = std::fs::read(&cubin).map_err(|source| PtxasError::Io { path: cubin.clone(), source })?;
    Ok(Assembled { cubin, output: text })
}

/// The release of the ptxas at `ptxas`, as `ptxas --version` names it (`V13.0.88`).
pub fn version(ptxas: &Path) -> Result<String, PtxasError> {
    let output = Command::new(ptxas)
        .arg("--version")
        .output()
        .map_err(|source| PtxasError::Io { path: ptxas.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    parse_version(&text).ok_or(PtxasError::NoVersion { path: ptxas.to_path_buf(), output: text })
}

/// The `V<major>.<minor>.<patch>` word of `ptxas --version`'s output.
fn parse_version(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .find(|w| {
            w.len() > 1
                && w.starts_with('V')
                && w[1..].split('.').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// Reads the numbers out of lines like
/// `Used 30 registers, used 1 barriers, 32 bytes smem, 400 bytes cmem[0]` and
/// `0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads`.
fn parse_report(text: &str) -> Option<PtxasReport> {
    let words: Vec<&str> = text.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
    // The number that comes right before the words `after`.
    let before = |after: &[&str]| -> Option<u32> {
        words.windows(after.len() + 1).find(|w| w[1..] == *after).and_then(|w| w[0].parse().ok())
    };
    let registers = words.windows(3).find(|w| w[0] == "Used" && w[2] == "registers").and_then(|w| w[1].parse().ok())?;
    Some(PtxasReport {
        registers,
        spill_stores: before(&["bytes", "spill", "stores"])?,
        spill_loads: before(&["bytes", "spill", "loads"])?,
        stack_bytes: before(&["bytes", "stack", "frame"])?,
        // Absent when the kernel declares no shared memory.
        shared_bytes: before(&["bytes", "smem"]).unwrap_or(0),
        raw: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'softmax' for 'sm_90a'
ptxas info    : Function properties for softmax
    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads
ptxas info    : Used 40 registers, used 1 barriers, 32 bytes smem, 400 bytes cmem[0]
";

    fn report() -> PtxasReport {
        match parse_report(REPORT) {
            Some(r) => r,
            None => panic!("the sample report did not parse"),
        }
    }

    fn stall_in(extra: &str) -> Option<String> {
        let report = PtxasReport { raw: format!("{REPORT}{extra}"), ..report() };
        report.wgmma_stall().map(str::to_string)
    }

    #[test]
    fn a_clean_report_has_no_wgmma_stall() {
        assert_eq!(stall_in(""), None);
    }

    #[test]
    fn an_injected_warpgroup_wait_is_a_wgmma_stall() {
        let line = "ptxas info    : (C7517) warpgroup.wait is injected in around line 1666 by compiler to allow use of registers defined by GMMA in function 'k'";
        assert_eq!(stall_in(&format!("{line}\n")).as_deref(), Some(line));
    }

    #[test]
    fn serialized_wgmma_is_a_wgmma_stall() {
        let line = "ptxas warning : (C7513) Potential Performance Loss: wgmma.mma_async instructions are serialized due to the presence of Extern calls in the function 'k'";
        assert_eq!(stall_in(&format!("{line}\n")).as_deref(), Some(line));
    }

    #[test]
    fn reads_registers() {
        assert_eq!(report().registers, 40);
    }

    #[test]
    fn reads_spill_stores() {
        assert_eq!(report().spill_stores, 4);
    }

    #[test]
    fn reads_spill_loads() {
        assert_eq!(report().spill_loads, 12);
    }

    #[test]
    fn reads_stack_frame() {
        assert_eq!(report().stack_bytes, 8);
    }

    #[test]
    fn reads_shared_memory() {
        assert_eq!(report().shared_bytes, 32);
    }

    #[test]
    fn missing_smem_means_none() {
        let text = REPORT.replace(", 32 bytes smem", "");
        assert_eq!(parse_report(&text).map(|r| r.shared_bytes), Some(0));
    }

    #[test]
    fn output_without_a_report_is_not_one() {
        assert_eq!(parse_report("ptxas info    : 0 bytes gmem\n"), None);
    }

    #[test]
    fn invalid_ptx_is_rejected_with_ptxas_output() {
        if !available_for_tests("invalid PTX") {
            return;
        }
        let result = assemble(".version 8.0\n.target sm_80\nnot ptx", Arch::Sm80);
        assert!(matches!(&result, Err(PtxasError::Rejected { arch, .. }) if arch == "sm_80"), "{result:?}");
    }

    #[test]
    fn a_register_shortfall_under_setmaxnreg_is_explained() {
        let ptx = ".entry k\n.maxntid 256\n.minnctapersm 3\n{\nsetmaxnreg.inc.sync.aligned.u32 136;\n}";
        let hint = rejection_hint(ptx, "ptxas fatal   : (C7602) Insufficient registers (80) to compile instruction");
        assert!(hint.contains("producer warpgroup, 3 programs an SM") && hint.contains("occupancy(N)"), "{hint}");
    }

    #[test]
    fn other_rejections_get_no_hint() {
        let shortfall = "ptxas fatal   : (C7602) Insufficient registers (80) to compile instruction";
        assert_eq!(rejection_hint(".entry k\n{\n}", shortfall), "");
        assert_eq!(rejection_hint("setmaxnreg.inc.sync.aligned.u32 136;", "ptxas fatal   : Unresolved extern"), "");
    }

    #[test]
    fn reads_the_release_from_the_version_banner() {
        let banner = "ptxas: NVIDIA (R) Ptx optimizing assembler\nBuilt on Wed_Aug_20_01:55:12_PM_PDT_2025\n\
                      Cuda compilation tools, release 13.0, V13.0.88\nBuild cuda_13.0.r13.0/compiler.36424714_0\n";
        assert_eq!(parse_version(banner).as_deref(), Some("V13.0.88"));
    }

    #[test]
    fn a_banner_without_a_release_has_no_version() {
        assert_eq!(parse_version("ptxas: NVIDIA (R) Ptx optimizing assembler\nVersion unknown\n"), None);
    }

    #[test]
    fn assembles_a_cubin() {
        let Some(ptxas) = find_ptxas().filter(|_| available_for_tests("a cubin")) else {
            return;
        };
        let ptx = ".version 8.0\n.target sm_80\n.address_size 64\n.visible .entry empty() { ret; }\n";
        let assembled = assemble_with(&ptxas, ptx, "sm_80").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            assembled.cubin.starts_with(b"\x7fELF"),
            "not an ELF image: {:?}",
            &assembled.cubin[..4.min(assembled.cubin.len())]
        );
    }

    #[test]
    fn assembles_sm_80_ptx_for_a_newer_gpu() {
        let Some(ptxas) = find_ptxas().filter(|_| available_for_tests("sm_80 PTX for sm_90")) else {
            return;
        };
        let ptx = ".version 8.0\n.target sm_80\n.address_size 64\n.visible .entry empty() { ret; }\n";
        let assembled = assemble_with(&ptxas, ptx, "sm_90");
        assert!(assembled.is_ok_and(|a| a.cubin.starts_with(b"\x7fELF")));
    }

    #[test]
    fn a_missing_ptxas_is_an_io_error_naming_it() {
        let result = version(Path::new("/nonexistent/ptxas"));
        assert!(
            matches!(&result, Err(PtxasError::Io { path, .. }) if path == Path::new("/nonexistent/ptxas")),
            "{result:?}"
        );
    }

    #[test]
    fn pip_layouts_cover_cuda_13_wheels() {
        let root = Path::new("/site-packages/nvidia");
        assert!(PTXAS.pip_layouts(root).contains(&PathBuf::from("/site-packages/nvidia/cu13/bin/ptxas")));
    }
}
