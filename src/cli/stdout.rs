//! Everything the CLI prints on stdout goes through [`print`]. A reader that stops early
//! (`sparsefill ... | head`) closes the pipe; `print!` then panics, where this ends the
//! output quietly and lets the command finish its other work (files it writes, its exit
//! status). Any other write error (a full disk under a redirect) is returned.

use std::io::Write;

/// A write to stdout that failed for a reason other than a closed pipe.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout: {0}")]
pub struct StdoutError(#[source] pub std::io::Error);

/// Writes `text` to stdout and flushes it.
pub fn print(text: &str) -> Result<(), StdoutError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(StdoutError(e)),
        _ => Ok(()),
    }
}

/// `text` and a newline.
pub fn line(text: &str) -> Result<(), StdoutError> {
    print(&format!("{text}\n"))
}
