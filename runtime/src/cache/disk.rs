//! Cache files on disk. Every file is a fixed header and a payload:
//!
//! ```text
//! magic "SPFCACHE" (8) | format version u32 | entry kind u32 | payload length u64 | SHA-256 of payload (32) | payload
//! ```
//!
//! (integers little-endian). A reader trusts a payload only if the magic, version,
//! kind, length and checksum all match; anything else is [`Corruption`] and the caller
//! rebuilds the entry. Files are written to a temporary name in the same directory and
//! renamed into place, so a reader never sees a half-written file under the real name.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::RuntimeError;

const MAGIC: [u8; 8] = *b"SPFCACHE";
/// Bump when the header or a payload encoding changes: older files then read as stale.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 32;

/// What a file holds; part of the header so a file cannot be mistaken for another kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Ptx = 1,
    Cubin = 2,
}

/// Why a cache file was not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("file is {len} bytes, shorter than the {HEADER_LEN}-byte header")]
    TooShort { len: usize },
    #[error("file does not start with the sparsefill cache magic")]
    BadMagic,
    #[error("file has format version {found}; this build reads version {FORMAT_VERSION}")]
    StaleFormat { found: u32 },
    #[error("file holds entry kind {found}, expected {expected}")]
    WrongKind { found: u32, expected: u32 },
    #[error("header declares a {declared}-byte payload but the file holds {actual} bytes after the header")]
    Truncated { declared: u64, actual: usize },
    #[error("payload checksum does not match the header")]
    Checksum,
    #[error("payload is malformed: {0}")]
    Malformed(&'static str),
    #[error("payload belongs to key {found}, not the key in its file name")]
    KeyMismatch { found: String },
}

/// Header plus payload, ready to write.
pub fn encode(kind: EntryKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(kind as u32).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    out
}

/// The payload of a file written by [`encode`] with the same `kind`, if it checks out.
pub fn decode(kind: EntryKind, file: &[u8]) -> Result<&[u8], Corruption> {
    if file.len() < HEADER_LEN {
        return Err(Corruption::TooShort { len: file.len() });
    }
    let (header, payload) = file.split_at(HEADER_LEN);
    if header[..8] != MAGIC {
        return Err(Corruption::BadMagic);
    }
    let version = le_u32(&header[8..12]);
    if version != FORMAT_VERSION {
        return Err(Corruption::StaleFormat { found: version });
    }
    let found_kind = le_u32(&header[12..16]);
    if found_kind != kind as u32 {
        return Err(Corruption::WrongKind { found: found_kind, expected: kind as u32 });
    }
    let declared = le_u64(&header[16..24]);
    if declared != payload.len() as u64 {
        return Err(Corruption::Truncated { declared, actual: payload.len() });
    }
    if header[24..] != Sha256::digest(payload)[..] {
        return Err(Corruption::Checksum);
    }
    Ok(payload)
}

// Callers slice fixed header fields, so the lengths always match.
fn le_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    u32::from_le_bytes(word)
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

/// The result of reading one cache file.
#[derive(Debug)]
pub enum Lookup {
    Missing,
    Found(Vec<u8>),
    Corrupt(Corruption),
    /// The file exists but could not be read; treated as a miss.
    Unreadable(RuntimeError),
}

/// One cache directory. Writes that fail switch it to read-only with a single warning:
/// a cache that cannot persist must never stop a kernel from compiling.
pub struct DiskStore {
    dir: PathBuf,
    writable: AtomicBool,
}

impl DiskStore {
    pub fn new(dir: PathBuf) -> DiskStore {
        DiskStore { dir, writable: AtomicBool::new(true) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn read(&self, name: &str, kind: EntryKind) -> Lookup {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(bytes) => match decode(kind, &bytes) {
                Ok(payload) => Lookup::Found(payload.to_vec()),
                Err(corruption) => Lookup::Corrupt(corruption),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Lookup::Missing,
            Err(source) => Lookup::Unreadable(RuntimeError::CacheIo { op: "read", path, source }),
        }
    }

    /// Writes (or overwrites) one entry; on failure warns once and stops writing.
    pub fn store(&self, name: &str, kind: EntryKind, payload: &[u8]) {
        if !self.writable.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = self.write_atomically(name, &encode(kind, payload)) {
            if self.writable.swap(false, Ordering::Relaxed) {
                eprintln!("sparsefill: warning: {e}; kernels are cached in memory only from now on");
            }
        }
    }

    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), RuntimeError> {
        let io_err = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| RuntimeError::CacheIo { op, path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        // Unique per process and call, so concurrent writers of one key never share a
        // temporary file; the rename then makes exactly one complete file win.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(".{name}.{}-{}.tmp", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let written = fs::File::create_new(&tmp).and_then(|mut f| f.write_all(bytes));
        if let Err(source) = written {
            let _ = fs::remove_file(&tmp);
            return Err(RuntimeError::CacheIo { op: "write", path: tmp, source });
        }
        let path = self.path(name);
        fs::rename(&tmp, &path).map_err(|source| {
            let _ = fs::remove_file(&tmp);
            RuntimeError::CacheIo { op: "rename into", path, source }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file: &[u8], expect: Result<&[u8], Corruption>) {
        assert_eq!(decode(EntryKind::Ptx, file), expect);
    }

    #[test]
    fn round_trips_a_payload() {
        check(&encode(EntryKind::Ptx, b"hello"), Ok(b"hello"));
    }

    #[test]
    fn truncated_header_is_too_short() {
        check(&encode(EntryKind::Ptx, b"hello")[..20], Err(Corruption::TooShort { len: 20 }));
    }

    #[test]
    fn truncated_payload_is_detected() {
        let file = encode(EntryKind::Ptx, b"hello");
        check(&file[..file.len() - 2], Err(Corruption::Truncated { declared: 5, actual: 3 }));
    }

    #[test]
    fn flipped_payload_byte_fails_the_checksum() {
        let mut file = encode(EntryKind::Ptx, b"hello");
        *file.last_mut().unwrap() ^= 1;
        check(&file, Err(Corruption::Checksum));
    }

    #[test]
    fn other_format_version_is_stale() {
        let mut file = encode(EntryKind::Ptx, b"hello");
        file[8..12].copy_from_slice(&0u32.to_le_bytes());
        check(&file, Err(Corruption::StaleFormat { found: 0 }));
    }

    #[test]
    fn foreign_file_has_bad_magic() {
        check(&[b'x'; 100], Err(Corruption::BadMagic));
    }

    #[test]
    fn cubin_file_is_not_read_as_ptx() {
        check(&encode(EntryKind::Cubin, b"elf"), Err(Corruption::WrongKind { found: 2, expected: 1 }));
    }

    #[test]
    fn missing_file_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(DiskStore::new(dir.path().into()).read("nope.ptx", EntryKind::Ptx), Lookup::Missing));
    }

    #[test]
    fn store_then_read_finds_the_payload() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::new(dir.path().join("nested"));
        store.store("k.ptx", EntryKind::Ptx, b"payload");
        assert!(matches!(store.read("k.ptx", EntryKind::Ptx), Lookup::Found(p) if p == b"payload"));
    }

    #[test]
    fn store_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        DiskStore::new(dir.path().into()).store("k.ptx", EntryKind::Ptx, b"payload");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec!["k.ptx"]);
    }

    #[test]
    fn failed_write_turns_the_store_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"not a directory").unwrap();
        let store = DiskStore::new(blocker.join("cache"));
        store.store("k.ptx", EntryKind::Ptx, b"payload");
        assert!(!store.is_writable());
    }
}
