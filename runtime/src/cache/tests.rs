//! Cache behaviour with a fake toolchain that counts its calls: these run without a
//! GPU and without the real front end or LLVM.

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::Barrier;
use std::time::Duration;

use sparsefill_compiler::args::{validate, ArgDesc};
use sparsefill_compiler::codegen::CodegenError;
use sparsefill_compiler::ir::builder::KernelBuilder;
use sparsefill_compiler::ir::DType;

use super::*;

/// The "IR" of a source is its first word (the kernel name) plus the consts, so
/// sources that differ only in spacing lower to the same kernel. The number of warps
/// is the second word, when present.
#[derive(Default)]
struct Fake {
    lowers: AtomicUsize,
    codegens: AtomicUsize,
}

impl Toolchain for Fake {
    fn lower(&self, src: &str, _kernel: Option<&str>, consts: &[(String, ConstValue)]) -> Result<Kernel, CompileError> {
        self.lowers.fetch_add(1, Ordering::SeqCst);
        let mut words = src.split_whitespace();
        let name = words.next().unwrap_or("empty");
        let warps = words.next().and_then(|w| w.parse().ok()).unwrap_or(4);
        let mut b = KernelBuilder::new(name, warps);
        for (name, value) in consts {
            b.add_const(name.clone(), value.clone());
        }
        b.tensor_param("x", DType::F32, &["N"]);
        Ok(b.finish())
    }

    fn codegen(&self, kernel: &Kernel, arch: Arch) -> Result<PtxModule, CompileError> {
        self.codegens.fetch_add(1, Ordering::SeqCst);
        // Long enough that concurrent requests really overlap.
        std::thread::sleep(Duration::from_millis(30));
        if kernel.name == "unsupported" {
            let what = "kernel `unsupported`".to_string();
            return Err(CodegenError::Unsupported { what, supported: "anything else".into() }.into());
        }
        Ok(PtxModule {
            ptx: format!("// {} for {arch}", kernel.name),
            llvm_ir: format!("; {}", kernel.name),
            entry: kernel.name.clone(),
            threads: kernel.threads_per_program(),
            shared_bytes: 0,
            tensor_maps: Vec::new(),
        })
    }

    fn options(&self) -> String {
        "fake".to_string()
    }
}

fn cache_in(dir: Option<&Path>, arch: Arch) -> (KernelCache, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let config = CacheConfig { dir: dir.map(Path::to_path_buf), ..CacheConfig::in_memory(arch) };
    (KernelCache::with_toolchain(config, fake.clone()), fake)
}

fn cache(dir: &Path) -> KernelCache {
    cache_in(Some(dir), Arch::Sm90a).0
}

const SRC: &str = "attn 4";

fn key_of(cache: &KernelCache, src: &str, consts: &[(String, ConstValue)]) -> String {
    cache.get(src, None, consts).unwrap().key.clone()
}

fn ptx_path(dir: &Path, cache: &KernelCache) -> std::path::PathBuf {
    dir.join(key::ptx_file_name(&key_of(cache, SRC, &[])))
}

/// Compiles SRC in a first cache, damages its file with `damage`, and returns the
/// stats of a second cache (fresh memory, same directory) asked for the same kernel.
fn stats_after_damage(damage: impl FnOnce(&Path)) -> CacheStats {
    let dir = tempfile::tempdir().unwrap();
    let path = ptx_path(dir.path(), &cache(dir.path()));
    damage(&path);
    let second = cache(dir.path());
    second.get(SRC, None, &[]).unwrap();
    second.stats()
}

fn rebuilt() -> CacheStats {
    CacheStats { compiles: 1, rebuilt_corrupt: 1, ..CacheStats::default() }
}

#[test]
fn eight_threads_asking_at_once_compile_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache(dir.path());
    let barrier = Barrier::new(8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                barrier.wait();
                cache.get(SRC, None, &[]).unwrap();
            });
        }
    });
    assert_eq!(cache.stats(), CacheStats { compiles: 1, memory_hits: 7, ..CacheStats::default() });
}

#[test]
fn warm_hit_skips_the_front_end() {
    let (cache, fake) = cache_in(None, Arch::Sm90a);
    for _ in 0..3 {
        cache.get(SRC, None, &[]).unwrap();
    }
    assert_eq!(fake.lowers.load(Ordering::SeqCst), 1);
}

#[test]
fn warm_hit_returns_the_same_kernel() {
    let (cache, _) = cache_in(None, Arch::Sm90a);
    let first = cache.get(SRC, None, &[]).unwrap();
    assert!(Arc::ptr_eq(&first, &cache.get(SRC, None, &[]).unwrap()));
}

#[test]
fn second_cache_loads_from_disk_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    cache(dir.path()).get(SRC, None, &[]).unwrap();
    let second = cache(dir.path());
    second.get(SRC, None, &[]).unwrap();
    assert_eq!(second.stats(), CacheStats { disk_hits: 1, ..CacheStats::default() });
}

#[test]
fn disk_hit_restores_the_whole_module() {
    let dir = tempfile::tempdir().unwrap();
    let compiled = cache(dir.path()).get(SRC, None, &[]).unwrap();
    assert_eq!(cache(dir.path()).get(SRC, None, &[]).unwrap().module, compiled.module);
}

#[test]
fn truncated_file_is_rebuilt() {
    let stats = stats_after_damage(|path| {
        let bytes = fs::read(path).unwrap();
        fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
    });
    assert_eq!(stats, rebuilt());
}

#[test]
fn rebuilt_file_is_valid_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let path = ptx_path(dir.path(), &cache(dir.path()));
    fs::write(&path, b"garbage").unwrap();
    cache(dir.path()).get(SRC, None, &[]).unwrap();
    let third = cache(dir.path());
    third.get(SRC, None, &[]).unwrap();
    assert_eq!(third.stats(), CacheStats { disk_hits: 1, ..CacheStats::default() });
}

#[test]
fn flipped_payload_byte_is_rebuilt() {
    let stats = stats_after_damage(|path| {
        let mut bytes = fs::read(path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x20;
        fs::write(path, bytes).unwrap();
    });
    assert_eq!(stats, rebuilt());
}

#[test]
fn stale_format_version_is_rebuilt() {
    let stats = stats_after_damage(|path| {
        let mut bytes = fs::read(path).unwrap();
        bytes[8..12].copy_from_slice(&(disk::FORMAT_VERSION + 1).to_le_bytes());
        fs::write(path, bytes).unwrap();
    });
    assert_eq!(stats, rebuilt());
}

#[test]
fn entry_copied_under_another_key_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let first = cache(dir.path());
    let other = dir.path().join(key::ptx_file_name(&key_of(&first, "other", &[])));
    fs::copy(ptx_path(dir.path(), &first), other).unwrap();
    let second = cache(dir.path());
    second.get("other", None, &[]).unwrap();
    assert_eq!(second.stats(), rebuilt());
}

#[test]
fn unwritable_directory_still_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    fs::write(&blocker, b"").unwrap();
    let cache = cache(&blocker.join("cache"));
    assert_eq!(cache.get(SRC, None, &[]).unwrap().module.entry, "attn");
}

#[test]
fn memory_only_cache_compiles_once() {
    let (cache, _) = cache_in(None, Arch::Sm80);
    cache.get(SRC, None, &[]).unwrap();
    cache.get("attn   4", None, &[]).unwrap();
    assert_eq!(cache.stats(), CacheStats { compiles: 1, memory_hits: 1, ..CacheStats::default() });
}

#[test]
fn codegen_failure_is_reported_and_not_cached() {
    let (cache, fake) = cache_in(None, Arch::Sm80);
    let _ = cache.get("unsupported", None, &[]);
    let second = cache.get("unsupported", None, &[]).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(
        (second, fake.codegens.load(Ordering::SeqCst)),
        (Err("code generation does not support kernel `unsupported`; supported: anything else".to_string()), 2)
    );
}

#[test]
fn key_changes_with_consts() {
    let (cache, _) = cache_in(None, Arch::Sm80);
    let d64 = [("D".to_string(), ConstValue::Int(64))];
    let d128 = [("D".to_string(), ConstValue::Int(128))];
    assert_ne!(key_of(&cache, SRC, &d64), key_of(&cache, SRC, &d128));
}

#[test]
fn key_changes_with_dtype_consts() {
    let (cache, fake) = cache_in(None, Arch::Sm80);
    let f16 = [("DT".to_string(), ConstValue::DType(DType::F16))];
    let bf16 = [("DT".to_string(), ConstValue::DType(DType::BF16))];
    assert_ne!(key_of(&cache, SRC, &f16), key_of(&cache, SRC, &bf16));
    // Two requests, two kernels: the warm path did not hand f16's kernel to bf16.
    assert_eq!(fake.lowers.load(Ordering::SeqCst), 2);
}

#[test]
fn key_changes_with_arch() {
    let (sm80, _) = cache_in(None, Arch::Sm80);
    let (sm90a, _) = cache_in(None, Arch::Sm90a);
    assert_ne!(key_of(&sm80, SRC, &[]), key_of(&sm90a, SRC, &[]));
}

#[test]
fn key_changes_with_ir() {
    let (cache, _) = cache_in(None, Arch::Sm80);
    assert_ne!(key_of(&cache, "attn 4", &[]), key_of(&cache, "attn 8", &[]));
}

#[test]
fn key_ignores_source_formatting() {
    let (cache, _) = cache_in(None, Arch::Sm80);
    assert_eq!(key_of(&cache, "attn 4", &[]), key_of(&cache, "  attn\n\t4  ", &[]));
}

#[test]
fn key_ignores_runtime_sizes() {
    // `N` is a runtime dimension: it is not a const, so requests for any sequence
    // length share one kernel; only a const that fixes a size makes a new one.
    let (cache, _) = cache_in(None, Arch::Sm80);
    let compiled = cache.get(SRC, None, &[]).unwrap();
    let sizes: Vec<_> =
        [16usize, 4096].iter().map(|&n| vec![ArgDesc::Tensor { dtype: DType::F32, shape: vec![n] }]).collect();
    assert!(sizes.iter().all(|args| validate(&compiled.ir, args).is_ok()));
}

fn device() -> DeviceTag {
    DeviceTag { driver_version: 13000, compute_capability: (9, 0), assembler: "ptxasV13.0.88".to_string() }
}

#[test]
fn cubin_is_linked_once_then_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let first = cache(dir.path());
    let compiled = first.get(SRC, None, &[]).unwrap();
    first.cubin(&compiled, &device(), || Ok(b"\x7fELF-cubin".to_vec())).unwrap();
    let second = cache(dir.path());
    let cubin = second.cubin(&compiled, &device(), || panic!("linked again despite a cubin on disk"));
    assert_eq!(cubin.unwrap(), b"\x7fELF-cubin");
}

#[test]
fn cubin_for_another_driver_is_linked_anew() {
    let dir = tempfile::tempdir().unwrap();
    let first = cache(dir.path());
    let compiled = first.get(SRC, None, &[]).unwrap();
    first.cubin(&compiled, &device(), || Ok(b"old".to_vec())).unwrap();
    let newer = DeviceTag { driver_version: 13010, ..device() };
    assert_eq!(first.cubin(&compiled, &newer, || Ok(b"new".to_vec())).unwrap(), b"new");
}

#[test]
fn cubin_from_another_assembler_is_built_anew() {
    let dir = tempfile::tempdir().unwrap();
    let first = cache(dir.path());
    let compiled = first.get(SRC, None, &[]).unwrap();
    first.cubin(&compiled, &device(), || Ok(b"ptxas".to_vec())).unwrap();
    let jit = DeviceTag { assembler: "jit".to_string(), ..device() };
    assert_eq!(first.cubin(&compiled, &jit, || Ok(b"jit".to_vec())).unwrap(), b"jit");
}

#[test]
fn corrupt_cubin_is_relinked() {
    let dir = tempfile::tempdir().unwrap();
    let first = cache(dir.path());
    let compiled = first.get(SRC, None, &[]).unwrap();
    first.cubin(&compiled, &device(), || Ok(b"cubin".to_vec())).unwrap();
    fs::write(dir.path().join(key::cubin_file_name(&compiled.key, &device())), b"short").unwrap();
    let second = cache(dir.path());
    second.cubin(&compiled, &device(), || Ok(b"cubin".to_vec())).unwrap();
    assert_eq!(second.stats(), CacheStats { links: 1, rebuilt_corrupt: 1, ..CacheStats::default() });
}

#[test]
fn cache_dir_variable_wins() {
    let dir = default_dir(Some("/c".into()), Some("/home/u".into()), "/tmp".into());
    assert_eq!(dir, (PathBuf::from("/c"), false));
}

#[test]
fn cache_dir_defaults_under_home() {
    let dir = default_dir(None, Some("/home/u".into()), "/tmp".into());
    assert_eq!(dir, (PathBuf::from("/home/u/.cache/sparsefill"), false));
}

#[test]
fn empty_variables_fall_back_to_the_temp_dir() {
    let dir = default_dir(Some("".into()), Some("".into()), "/tmp".into());
    assert_eq!(dir, (PathBuf::from("/tmp/sparsefill-cache"), true));
}

#[test]
fn log_line_names_kernel_key_prefix_and_origin() {
    assert_eq!(lookup_line("attn", "0123456789abcdef0123", "disk"), "cache: attn 0123456789ab disk");
}

/// Set in the child process of [`second_process_loads_from_disk`] to the cache dir.
const CHILD_DIR: &str = "SPARSEFILL_TEST_CACHE_CHILD_DIR";

#[test]
fn second_process_loads_from_disk() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let cache = cache(Path::new(&dir));
        cache.get(SRC, None, &[]).unwrap();
        println!("child stats: {:?}", cache.stats());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    cache(dir.path()).get(SRC, None, &[]).unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "cache::tests::second_process_loads_from_disk", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stats = stdout.lines().find_map(|line| line.split_once("child stats: ").map(|(_, stats)| stats));
    let expected = CacheStats { disk_hits: 1, ..CacheStats::default() };
    assert_eq!(stats, Some(format!("{expected:?}").as_str()), "child output:\n{stdout}");
}
