//! Hashes the compiler's own source into `SPARSEFILL_COMPILER_SOURCE_HASH`, so that the
//! kernel cache's keys change with any change to the code generator, not only with the
//! crate's version (`sparsefill_compiler::BUILD_IDENTITY`). A stale entry from another
//! build of the same version would otherwise be loaded as if this build had made it.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    files.sort();
    // FNV-1a, 64 bits: stable across toolchains, and no build dependency.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for file in &files {
        let text = fs::read(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        // Path and length first, so that moving bytes between files changes the hash.
        feed(file.to_string_lossy().as_bytes());
        feed(&(text.len() as u64).to_le_bytes());
        feed(&text);
    }
    println!("cargo:rustc-env=SPARSEFILL_COMPILER_SOURCE_HASH={hash:016x}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display())).path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
