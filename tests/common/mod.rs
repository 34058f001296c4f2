//! What the CLI test binaries share: running `sparsefill` as a user does, and reading
//! what it printed.

use std::ffi::OsStr;
use std::process::{Command, Output};

/// `sparsefill ARGS...` run from the repository root, with a kernel cache of its own.
pub fn sparsefill<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_sparsefill"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SPARSEFILL_CACHE_DIR", std::env::temp_dir().join("sparsefill-cli-test-cache"))
        .output()
        .expect("the sparsefill binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
