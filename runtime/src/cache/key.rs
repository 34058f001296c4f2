//! Cache keys. The PTX key is a hash of everything that decides the generated code and
//! nothing else: the compiler build (version, source hash and LLVM version:
//! `sparsefill_compiler::build_identity`), the codegen options, the target arch and the
//! printed specialized IR. Source text, comments and runtime argument values are not
//! in it, so a reformatted kernel or a new sequence length reuses the entry.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use sparsefill_compiler::ir::ConstValue;
use sparsefill_compiler::target::Arch;

/// Hex SHA-256 of the inputs that decide a kernel's PTX, for this build of the compiler.
pub fn ptx_key(options: &str, printed_ir: &str, arch: Arch) -> String {
    static IDENTITY: OnceLock<String> = OnceLock::new();
    ptx_key_of(IDENTITY.get_or_init(sparsefill_compiler::build_identity), options, printed_ir, arch)
}

/// [`ptx_key`] for the compiler build `identity`.
fn ptx_key_of(identity: &str, options: &str, printed_ir: &str, arch: Arch) -> String {
    let mut hasher = Sha256::new();
    // Length prefixes keep field boundaries unambiguous.
    for field in ["sparsefill-ptx", identity, options, arch.name(), printed_ir] {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    hex(&hasher.finalize())
}

pub fn ptx_file_name(key: &str) -> String {
    format!("{key}.ptx")
}

/// The cubin depends on the driver, the exact device it targets and the assembler that
/// built it, on top of the PTX: a driver upgrade, another card model or another ptxas
/// gets a file of its own.
pub fn cubin_file_name(key: &str, device: &DeviceTag) -> String {
    let (major, minor) = device.compute_capability;
    format!("{key}-{}-sm{major}{minor}-{}.cubin", device.driver_version, device.assembler)
}

/// What, besides the PTX, decides a cubin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceTag {
    /// As `cuDriverGetVersion` reports it: 13000 for CUDA 13.0.
    pub driver_version: i32,
    pub compute_capability: (i32, i32),
    /// [`crate::assembler::Assembler::cache_tag`]: `jit` or `ptxasV13.0.88`.
    pub assembler: String,
}

/// The fast-path hash of a `get` request. It only picks a bucket; entries compare the
/// full request, so a collision costs a comparison, never a wrong kernel.
pub fn request_hash(src: &str, kernel: Option<&str>, consts: &[(String, ConstValue)]) -> u64 {
    let mut hasher = DefaultHasher::new();
    src.hash(&mut hasher);
    kernel.hash(&mut hasher);
    consts.hash(&mut hasher);
    hasher.finish()
}

/// The first characters of a key, enough to tell entries apart in a log line.
pub fn short(key: &str) -> &str {
    key.get(..12).unwrap_or(key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_64_hex_digits() {
        let key = ptx_key("", "kernel k", Arch::Sm80);
        assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }

    #[test]
    fn key_is_deterministic() {
        assert_eq!(ptx_key("o", "kernel k", Arch::Sm80), ptx_key("o", "kernel k", Arch::Sm80));
    }

    #[test]
    fn key_changes_with_arch() {
        assert_ne!(ptx_key("", "kernel k", Arch::Sm80), ptx_key("", "kernel k", Arch::Sm90a));
    }

    #[test]
    fn key_changes_with_ir() {
        assert_ne!(ptx_key("", "kernel k", Arch::Sm80), ptx_key("", "kernel j", Arch::Sm80));
    }

    #[test]
    fn key_changes_with_options() {
        assert_ne!(ptx_key("fast-math", "kernel k", Arch::Sm80), ptx_key("", "kernel k", Arch::Sm80));
    }

    /// Another build of the code generator, even of the same version, gets keys of its own.
    #[test]
    fn key_changes_with_the_compiler_build() {
        assert_ne!(
            ptx_key_of("0.1.0+00aa", "", "kernel k", Arch::Sm80),
            ptx_key_of("0.1.0+00ab", "", "kernel k", Arch::Sm80)
        );
    }

    #[test]
    fn key_is_for_this_compiler_build() {
        let this = sparsefill_compiler::build_identity();
        assert_eq!(ptx_key("", "kernel k", Arch::Sm80), ptx_key_of(&this, "", "kernel k", Arch::Sm80));
    }

    #[test]
    fn the_build_identity_holds_the_version_the_source_hash_and_llvm() {
        let this = sparsefill_compiler::build_identity();
        let hash = sparsefill_compiler::COMPILER_SOURCE_HASH;
        assert!(hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
        let expected = format!("{}+{hash}+llvm", sparsefill_compiler::COMPILER_VERSION);
        assert!(this.starts_with(&expected), "{this}");
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        assert_ne!(ptx_key("ab", "c", Arch::Sm80), ptx_key("a", "bc", Arch::Sm80));
    }

    #[test]
    fn cubin_name_carries_driver_and_device() {
        let tag = DeviceTag { driver_version: 13000, compute_capability: (9, 0), assembler: "jit".to_string() };
        assert_eq!(cubin_file_name("abc", &tag), "abc-13000-sm90-jit.cubin");
    }

    #[test]
    fn request_hash_sees_consts() {
        let a = request_hash("src", None, &[("D".into(), ConstValue::Int(64))]);
        let b = request_hash("src", None, &[("D".into(), ConstValue::Int(128))]);
        assert_ne!(a, b);
    }

    #[test]
    fn request_hash_sees_dtype_consts() {
        use sparsefill_compiler::ir::DType;
        let a = request_hash("src", None, &[("DT".into(), ConstValue::DType(DType::F16))]);
        let b = request_hash("src", None, &[("DT".into(), ConstValue::DType(DType::BF16))]);
        assert_ne!(a, b);
    }

    #[test]
    fn short_key_keeps_twelve_characters() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
    }
}
