//! What the CLI test binaries share: running `sparsefill` as a user does, and reading
//! what it printed.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

/// `sparsefill ARGS...` run from the repository root, with a kernel cache of its own.
pub fn sparsefill<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(args).output().expect("the sparsefill binary runs")
}

/// Where a test sends `sparsefill`'s stdout.
#[allow(dead_code)] // each test binary uses its own subset of these helpers
pub enum Reader {
    /// A pipe whose reader is gone before anything is written (`| head` that stopped).
    Closed,
    /// `/dev/full`: every write fails with "no space left on device".
    FullDisk,
}

/// `sparsefill ARGS...` with stdout sent to `reader` (its stdout in the result is empty).
#[allow(dead_code)]
pub fn sparsefill_writing_to<I, S>(args: I, reader: Reader) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = command(args);
    command.stderr(Stdio::piped());
    match reader {
        Reader::Closed => {
            let mut child = command.stdout(Stdio::piped()).spawn().expect("the sparsefill binary runs");
            drop(child.stdout.take());
            child.wait_with_output().expect("it ends")
        }
        Reader::FullDisk => {
            let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full opens");
            command.stdout(full).output().expect("the sparsefill binary runs")
        }
    }
}

fn command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_sparsefill"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SPARSEFILL_CACHE_DIR", std::env::temp_dir().join("sparsefill-cli-test-cache"));
    command
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
