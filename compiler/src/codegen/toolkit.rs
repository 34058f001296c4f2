//! Where NVIDIA's command-line tools are found, and the scratch directory they read and
//! write files in: what the `ptxas` and `cuobjdump` drivers share.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A tool of the CUDA toolkit: the variable that overrides where it is found, its file
/// name, and where the pip wheels that carry it put it below the `nvidia` package.
pub(super) struct Tool {
    pub env: &'static str,
    pub name: &'static str,
    /// Relative to an entry of `nvidia.__path__`, e.g. `cu13/bin` (CUDA 13 wheels).
    pub pip_dirs: &'static [&'static str],
    /// Set to `1` (CI does) to make tests fail instead of skip when the tool is missing.
    pub require_env: &'static str,
    /// The pip requirements that install it.
    pub install: &'static str,
}

impl Tool {
    /// For tests that run the tool: whether it is here. Without it they skip with a note
    /// naming `what`, unless `$require_env` is `1`, in which case this panics: a machine
    /// that must check every kernel cannot pass by skipping.
    pub fn available_for_tests(&self, what: &str) -> bool {
        if self.find().is_some() {
            return true;
        }
        let name = self.name;
        assert_ne!(
            std::env::var(self.require_env).as_deref(),
            Ok("1"),
            "{}=1 but {name} was not found (pip install {})",
            self.require_env,
            self.install
        );
        eprintln!("skipping the {name} check of {what}: {name} not found (pip install {})", self.install);
        false
    }

    /// `$env`, then `name` on `PATH`, then the CUDA toolkit's (`$CUDA_HOME/bin`,
    /// `/usr/local/cuda/bin`), then the pip wheels'. A set `$env` that names no file
    /// finds nothing, rather than another copy of the tool.
    pub fn find(&self) -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(self.env) {
            return Some(PathBuf::from(path)).filter(|p| p.is_file());
        }
        self.on_path().or_else(|| self.in_toolkit()).or_else(|| self.in_pip())
    }

    fn on_path(&self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).map(|dir| dir.join(self.name)).find(|p| p.is_file())
    }

    fn in_toolkit(&self) -> Option<PathBuf> {
        let home = std::env::var_os("CUDA_HOME").map(PathBuf::from);
        home.into_iter()
            .chain([PathBuf::from("/usr/local/cuda")])
            .map(|root| root.join("bin").join(self.name))
            .find(|p| p.is_file())
    }

    fn in_pip(&self) -> Option<PathBuf> {
        nvidia_pip_roots().iter().flat_map(|root| self.pip_layouts(root)).find(|p| p.is_file())
    }

    /// Where the wheels put the tool below one `nvidia` package root.
    pub fn pip_layouts(&self, nvidia_root: &Path) -> Vec<PathBuf> {
        self.pip_dirs.iter().map(|dir| nvidia_root.join(dir).join(self.name)).collect()
    }
}

/// The entries of the pip namespace package `nvidia`'s path (each may hold a toolkit's
/// wheels). Asking Python is slow, so it is asked once per process.
fn nvidia_pip_roots() -> &'static [PathBuf] {
    static ROOTS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let script = "import nvidia\nfor p in nvidia.__path__: print(p)";
        match Command::new("python3").args(["-c", script]).output() {
            Ok(output) => String::from_utf8_lossy(&output.stdout).lines().map(PathBuf::from).collect(),
            Err(_) => Vec::new(),
        }
    })
}

/// A fresh directory under the system temp dir, removed on drop.
pub(super) struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new() -> std::io::Result<ScratchDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("sparsefill-tools-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(name);
        // A crashed run of a process that had the same id may have left one behind.
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp directory is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOL: Tool = Tool {
        env: "SPARSEFILL_TEST_NO_SUCH_TOOL",
        name: "no-such-tool",
        pip_dirs: &["cu13/bin"],
        require_env: "SPARSEFILL_TEST_REQUIRE_NO_SUCH_TOOL",
        install: "no-such-tool==0",
    };

    #[test]
    fn pip_layouts_join_each_wheel_dir_and_the_name() {
        let root = Path::new("/site-packages/nvidia");
        assert_eq!(TOOL.pip_layouts(root), [PathBuf::from("/site-packages/nvidia/cu13/bin/no-such-tool")]);
    }

    #[test]
    fn a_tool_that_is_nowhere_is_not_found() {
        assert_eq!(TOOL.find(), None);
    }

    #[test]
    fn a_test_without_the_tool_skips_unless_required() {
        assert!(!TOOL.available_for_tests("a test"));
    }
}
