//! NVIDIA's `cuobjdump`: the SASS of a cubin that ptxas assembled
//! (`sparsefill compile --emit sass`), so kernels' machine code can be read without a
//! GPU. It runs `nvdisasm`, which the pip wheels put next to it; scripts/setup.sh
//! installs both.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::toolkit::{ScratchDir, Tool};

/// Overrides where cuobjdump is found.
pub const CUOBJDUMP_ENV: &str = "SPARSEFILL_CUOBJDUMP";

/// Set to `1` (CI does) to make tests fail instead of skip when cuobjdump is missing.
pub const REQUIRE_CUOBJDUMP_ENV: &str = "SPARSEFILL_REQUIRE_CUOBJDUMP";

/// The pip wheels that carry cuobjdump and the nvdisasm it runs (scripts/setup.sh).
pub const PIP_PACKAGES: &str = "nvidia-cuda-cuobjdump==13.2.51 nvidia-cuda-nvdisasm==13.2.51";

const CUOBJDUMP: Tool = Tool {
    env: CUOBJDUMP_ENV,
    name: "cuobjdump",
    pip_dirs: &["cu13/bin", "cuda_cuobjdump/bin"],
    require_env: REQUIRE_CUOBJDUMP_ENV,
    install: PIP_PACKAGES,
};

#[derive(Debug, thiserror::Error)]
pub enum CuobjdumpError {
    #[error("cuobjdump not found: set {CUOBJDUMP_ENV}, put cuobjdump on PATH, or `pip install {PIP_PACKAGES}`")]
    NotFound,
    #[error("running cuobjdump ({path}): {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cuobjdump could not disassemble the cubin ({status}):\n{output}")]
    Rejected { status: String, output: String },
}

/// `$SPARSEFILL_CUOBJDUMP`, then `cuobjdump` on `PATH`, then the CUDA toolkit's, then the
/// pip wheel's.
pub fn find_cuobjdump() -> Option<PathBuf> {
    CUOBJDUMP.find()
}

/// For tests that disassemble: whether cuobjdump is here. Without it they skip with a
/// note naming `what`, unless [`REQUIRE_CUOBJDUMP_ENV`] is `1`, in which case this panics.
pub fn available_for_tests(what: &str) -> bool {
    CUOBJDUMP.available_for_tests(what)
}

/// `cuobjdump -sass` of `cubin`, with the cuobjdump [`find_cuobjdump`] finds.
pub fn sass(cubin: &[u8]) -> Result<String, CuobjdumpError> {
    sass_with(&find_cuobjdump().ok_or(CuobjdumpError::NotFound)?, cubin)
}

/// `cuobjdump -sass` of `cubin` with the cuobjdump at `tool`. Its directory goes first on
/// the `PATH` it runs with, where the wheels put the nvdisasm it calls.
pub fn sass_with(tool: &Path, cubin: &[u8]) -> Result<String, CuobjdumpError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CuobjdumpError::Io { path, source }
    };
    let dir = ScratchDir::new().map_err(io(&std::env::temp_dir()))?;
    let input = dir.0.join("kernel.cubin");
    std::fs::write(&input, cubin).map_err(io(&input))?;
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let search = tool.parent().map(Path::to_path_buf).into_iter().chain(std::env::split_paths(&inherited));
    let path =
        std::env::join_paths(search).map_err(|e| io(tool)(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    let output = Command::new(tool).arg("-sass").arg(&input).env("PATH", path).output().map_err(io(tool))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let output_text = format!("{text}{}", String::from_utf8_lossy(&output.stderr));
        return Err(CuobjdumpError::Rejected { status: output.status.to_string(), output: output_text });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_layouts_cover_cuda_13_wheels() {
        let root = Path::new("/site-packages/nvidia");
        assert!(CUOBJDUMP.pip_layouts(root).contains(&PathBuf::from("/site-packages/nvidia/cu13/bin/cuobjdump")));
    }

    #[test]
    fn a_missing_cuobjdump_is_named_in_the_error() {
        let result = sass_with(Path::new("/nonexistent/cuobjdump"), b"");
        assert!(
            matches!(&result, Err(CuobjdumpError::Io { path, .. }) if path == Path::new("/nonexistent/cuobjdump")),
            "{result:?}"
        );
    }

    #[test]
    fn bytes_that_are_no_cubin_are_rejected_with_cuobjdumps_words() {
        if !available_for_tests("a cubin that is not one") {
            return;
        }
        let result = sass(b"not a cubin");
        assert!(matches!(&result, Err(CuobjdumpError::Rejected { .. })), "{result:?}");
    }
}
