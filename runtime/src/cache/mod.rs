//! The kernel cache, in two levels.
//!
//! - **PTX level** (this module, no GPU needed): source + consts → specialized IR → PTX.
//!   Keyed by `key::ptx_key` over the printed IR, kept in memory (built once per key
//!   even when many threads ask at once) and on disk as `<key>.ptx`.
//! - **Cubin level** (`KernelCache::cubin`, driven by `Gpu::load`): PTX → cubin through
//!   ptxas or the driver's JIT linker ([`crate::assembler`]), on disk as
//!   `<key>-<driver>-sm<cc>-<assembler>.cubin`.
//!
//! A request first tries a fast map keyed by the request itself (source text, kernel
//! name, consts), so a warm hit neither re-runs the front end nor re-prints IR. On a
//! miss the front end runs to compute the key; LLVM runs only when neither the memory
//! nor the disk level has it.
//!
//! `SPARSEFILL_LOG=cache` prints one line per lookup to stderr.

pub mod disk;
mod key;
pub(crate) mod memory;
mod record;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use dashmap::DashMap;
use sparsefill_compiler::codegen::PtxModule;
use sparsefill_compiler::codegen::{CodegenOptions, MmaLowering, PingPong, Specialize};
use sparsefill_compiler::ir::print::print_kernel;
use sparsefill_compiler::ir::{ConstValue, Kernel};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::{compile_ir_with, lower_source, CompileError};

use crate::error::RuntimeError;
use disk::{Corruption, DiskStore, EntryKind, Lookup};
pub use key::DeviceTag;
use memory::OnceMap;

/// The compile steps the cache drives. [`SparsefillToolchain`] is the real compiler;
/// tests inject fakes that count calls or return hand-written PTX.
pub trait Toolchain: Send + Sync {
    /// Front end and IR passes; runs on every request that misses the fast map.
    fn lower(&self, src: &str, kernel: Option<&str>, consts: &[(String, ConstValue)]) -> Result<Kernel, CompileError>;
    /// Code generation; runs only when neither cache level holds the key.
    fn codegen(&self, kernel: &Kernel, arch: Arch) -> Result<PtxModule, CompileError>;
    /// Codegen settings that change the PTX for the same IR, as text; part of the key.
    fn options(&self) -> String;
}

/// `sparsefill_compiler`'s pipeline: the default toolchain.
#[derive(Clone, Copy, Debug, Default)]
pub struct SparsefillToolchain {
    pub codegen: CodegenOptions,
}

impl Toolchain for SparsefillToolchain {
    fn lower(&self, src: &str, kernel: Option<&str>, consts: &[(String, ConstValue)]) -> Result<Kernel, CompileError> {
        lower_source(src, kernel, consts)
    }

    fn codegen(&self, kernel: &Kernel, arch: Arch) -> Result<PtxModule, CompileError> {
        compile_ir_with(kernel, arch, &self.codegen)
    }

    fn options(&self) -> String {
        // Every field of CodegenOptions must show up here.
        format!(
            "mma={} tma={} decoupled={} pingpong={} specialize={}",
            self.codegen.mma.name(),
            self.codegen.tma,
            self.codegen.decoupled,
            self.codegen.pingpong.name(),
            self.codegen.specialize.name()
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Where entries persist; `None` keeps them in memory only.
    pub dir: Option<PathBuf>,
    pub arch: Arch,
    /// Code generation options of [`KernelCache::new`]'s compiler (a cache given its own
    /// toolchain ignores them).
    pub codegen: CodegenOptions,
}

impl CacheConfig {
    /// In memory only, default code generation.
    pub fn in_memory(arch: Arch) -> CacheConfig {
        CacheConfig { dir: None, arch, codegen: CodegenOptions::default() }
    }

    /// `$SPARSEFILL_CACHE_DIR`, else `~/.cache/sparsefill`; without `$HOME`, a folder in
    /// the system temp dir (with a note on stderr, since it may not survive a reboot).
    /// `$SPARSEFILL_MMA` picks the tensor-core lowering (`wgmma`, the default, which
    /// sm_80 lowers as `mma.sync` anyway, or `mma.sync`); an unknown value is reported on
    /// stderr and the default kept. `$SPARSEFILL_TMA=0` copies every prefetched tile with
    /// `cp.async` instead of TMA ([`CodegenOptions::tma`]); `$SPARSEFILL_DECOUPLED=1` turns on
    /// [`CodegenOptions::decoupled`], and `$SPARSEFILL_PINGPONG=off|wide|all` picks which loops take
    /// ping-pong turns ([`CodegenOptions::pingpong`]; an unknown value is reported and the
    /// default, `off`, kept). `$SPARSEFILL_SPECIALIZE=off|producer|early` picks whether kernels
    /// get a producer warpgroup ([`CodegenOptions::specialize`]; the default, `producer`, is
    /// kept on an unknown value, which is reported).
    pub fn from_env(arch: Arch) -> CacheConfig {
        let (dir, fallback) =
            default_dir(std::env::var_os("SPARSEFILL_CACHE_DIR"), std::env::var_os("HOME"), std::env::temp_dir());
        if fallback {
            eprintln!("sparsefill: note: $HOME is not set; caching kernels in {}", dir.display());
        }
        let mma = env_choice("SPARSEFILL_MMA", MmaLowering::name);
        let tma = std::env::var("SPARSEFILL_TMA").map_or(true, |v| v != "0");
        let decoupled = std::env::var("SPARSEFILL_DECOUPLED").is_ok_and(|v| v == "1");
        let pingpong = env_choice("SPARSEFILL_PINGPONG", PingPong::name);
        let specialize = env_choice("SPARSEFILL_SPECIALIZE", Specialize::name);
        CacheConfig { dir: Some(dir), arch, codegen: CodegenOptions { mma, tma, decoupled, pingpong, specialize } }
    }
}

/// What `$var` asks for among the choices of `T`; an unknown value is reported on stderr
/// and the default kept.
fn env_choice<T: std::str::FromStr<Err = String> + Default + Copy>(var: &str, name: fn(T) -> &'static str) -> T {
    choice(std::env::var(var).ok().as_deref()).unwrap_or_else(|e| {
        eprintln!("sparsefill: warning: {var}: {e}; using {}", name(T::default()));
        T::default()
    })
}

/// The choice `value` names; unset or empty is the default.
fn choice<T: std::str::FromStr<Err = String> + Default>(value: Option<&str>) -> Result<T, String> {
    value.filter(|v| !v.is_empty()).map_or(Ok(T::default()), str::parse)
}

/// The cache directory and whether it is the temp-dir fallback. Empty variables count as unset.
fn default_dir(cache_dir: Option<OsString>, home: Option<OsString>, temp: PathBuf) -> (PathBuf, bool) {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    match (set(cache_dir), set(home)) {
        (Some(dir), _) => (dir, false),
        (None, Some(home)) => (home.join(".cache").join("sparsefill"), false),
        (None, None) => (temp.join("sparsefill-cache"), true),
    }
}

/// Counters since the cache was created. `rebuilt_corrupt` counts entries of either
/// level that were found damaged or stale on disk and rebuilt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub compiles: u64,
    pub memory_hits: u64,
    pub disk_hits: u64,
    pub rebuilt_corrupt: u64,
    pub links: u64,
    pub cubin_disk_hits: u64,
}

/// One line for a run's report: what the kernels took before they could launch.
impl std::fmt::Display for CacheStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kernel cache: {} compiled to PTX, {} PTX from disk, {} linked to cubins, {} cubins from disk, {} rebuilt \
             (damaged or stale on disk), {} hits in memory",
            self.compiles, self.disk_hits, self.links, self.cubin_disk_hits, self.rebuilt_corrupt, self.memory_hits
        )
    }
}

#[derive(Default)]
struct Counters {
    compiles: AtomicU64,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    rebuilt_corrupt: AtomicU64,
    links: AtomicU64,
    cubin_disk_hits: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One kernel specialization with its PTX.
#[derive(Debug)]
pub struct CompiledKernel {
    pub ir: Kernel,
    pub module: PtxModule,
    pub key: String,
}

/// Where a lookup found its result; the word each log line ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Memory,
    Disk,
    Built,
    RebuiltCorrupt,
}

/// The two disk-backed levels differ only in names, counters and payload encoding.
#[derive(Clone, Copy)]
enum Level {
    Ptx,
    Cubin,
}

impl Level {
    fn word(self, origin: Origin) -> &'static str {
        match (self, origin) {
            (_, Origin::Memory) => "memory",
            (Level::Ptx, Origin::Disk) => "disk",
            (Level::Ptx, Origin::Built) => "compiled",
            (Level::Ptx, Origin::RebuiltCorrupt) => "rebuilt-corrupt",
            (Level::Cubin, Origin::Disk) => "cubin-disk",
            (Level::Cubin, Origin::Built) => "cubin-linked",
            (Level::Cubin, Origin::RebuiltCorrupt) => "cubin-rebuilt-corrupt",
        }
    }

    fn kind(self) -> EntryKind {
        match self {
            Level::Ptx => EntryKind::Ptx,
            Level::Cubin => EntryKind::Cubin,
        }
    }
}

static TRACE: LazyLock<bool> =
    LazyLock::new(|| std::env::var("SPARSEFILL_LOG").is_ok_and(|v| v.split(',').any(|topic| topic.trim() == "cache")));

/// A fast-map entry: the full request, compared on lookup, and its answer.
struct Request {
    src: Box<str>,
    kernel: Option<Box<str>>,
    consts: Vec<(String, ConstValue)>,
    compiled: Arc<CompiledKernel>,
}

/// The cache. A handle: clones share one cache, so a loaded kernel can keep the cache
/// it came from to build its launch-time specializations ([`crate::LoadedKernel`]).
#[derive(Clone)]
pub struct KernelCache {
    state: Arc<CacheState>,
}

pub struct CacheState {
    arch: Arch,
    codegen: CodegenOptions,
    toolchain: Arc<dyn Toolchain>,
    options: String,
    requests: DashMap<u64, Vec<Request>>,
    compiled: OnceMap<CompiledKernel>,
    disk: Option<DiskStore>,
    counters: Counters,
}

impl std::ops::Deref for KernelCache {
    type Target = CacheState;

    fn deref(&self) -> &CacheState {
        &self.state
    }
}

impl KernelCache {
    /// A cache over the real compiler.
    pub fn new(config: CacheConfig) -> KernelCache {
        let toolchain = SparsefillToolchain { codegen: config.codegen };
        KernelCache::with_toolchain(config, Arc::new(toolchain))
    }

    pub fn with_toolchain(config: CacheConfig, toolchain: Arc<dyn Toolchain>) -> KernelCache {
        let state = CacheState {
            arch: config.arch,
            codegen: config.codegen,
            options: toolchain.options(),
            toolchain,
            requests: DashMap::new(),
            compiled: OnceMap::default(),
            disk: config.dir.map(DiskStore::new),
            counters: Counters::default(),
        };
        KernelCache { state: Arc::new(state) }
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The code generation options the cache was configured with, so a caller can pick
    /// tile sizes for the lowering its kernels get (a cache given its own toolchain
    /// reports them but may ignore them).
    pub fn codegen(&self) -> CodegenOptions {
        self.codegen
    }

    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            compiles: get(&c.compiles),
            memory_hits: get(&c.memory_hits),
            disk_hits: get(&c.disk_hits),
            rebuilt_corrupt: get(&c.rebuilt_corrupt),
            links: get(&c.links),
            cubin_disk_hits: get(&c.cubin_disk_hits),
        }
    }

    /// The PTX of kernel `kernel` (or the file's only kernel) of `src`, specialized with `consts`.
    pub fn get(
        &self,
        src: &str,
        kernel: Option<&str>,
        consts: &[(String, ConstValue)],
    ) -> Result<Arc<CompiledKernel>, RuntimeError> {
        let hash = key::request_hash(src, kernel, consts);
        if let Some(hit) = self.find_request(hash, src, kernel, consts) {
            bump(&self.counters.memory_hits);
            self.trace_lookup(&hit, Level::Ptx, Origin::Memory);
            return Ok(hit);
        }
        let ir = self.toolchain.lower(src, kernel, consts)?;
        let compiled = self.get_ir(ir)?;
        let mut bucket = self.requests.entry(hash).or_default();
        if !bucket.iter().any(|r| r.matches(src, kernel, consts)) {
            bucket.push(Request {
                src: src.into(),
                kernel: kernel.map(Into::into),
                consts: consts.to_vec(),
                compiled: compiled.clone(),
            });
        }
        Ok(compiled)
    }

    /// The PTX of an already specialized kernel (built in code, or lowered elsewhere).
    pub fn get_ir(&self, ir: Kernel) -> Result<Arc<CompiledKernel>, RuntimeError> {
        let key = key::ptx_key(&self.options, &print_kernel(&ir), self.arch);
        let mut origin = Origin::Memory;
        let compiled = self.compiled.get_or_try_init(&key, || {
            let name = key::ptx_file_name(&key);
            let (module, built) = self.disk_or_build(
                Level::Ptx,
                &name,
                |payload| record::decode_ptx(&key, payload),
                || self.toolchain.codegen(&ir, self.arch).map_err(RuntimeError::from),
                |module| record::encode_ptx(&key, module),
            )?;
            origin = built;
            Ok::<_, RuntimeError>(CompiledKernel { ir, module, key: key.clone() })
        })?;
        if origin == Origin::Memory {
            bump(&self.counters.memory_hits);
        }
        self.trace_lookup(&compiled, Level::Ptx, origin);
        Ok(compiled)
    }

    /// The cubin of `compiled` for `device`: from disk, or from `link` (then stored).
    /// The caller keeps loaded modules in memory, so this has no memory level.
    pub(crate) fn cubin(
        &self,
        compiled: &CompiledKernel,
        device: &DeviceTag,
        link: impl FnOnce() -> Result<Vec<u8>, RuntimeError>,
    ) -> Result<Vec<u8>, RuntimeError> {
        let key = &compiled.key;
        let (cubin, origin) = self.disk_or_build(
            Level::Cubin,
            &key::cubin_file_name(key, device),
            |payload| record::decode_cubin(key, payload),
            link,
            |cubin| record::encode_cubin(key, cubin),
        )?;
        self.trace_lookup(compiled, Level::Cubin, origin);
        Ok(cubin)
    }

    /// Reads entry `name` from disk if it is there and intact; otherwise builds it and
    /// writes it back (overwriting a damaged file).
    fn disk_or_build<T>(
        &self,
        level: Level,
        name: &str,
        decode: impl FnOnce(&[u8]) -> Result<T, Corruption>,
        build: impl FnOnce() -> Result<T, RuntimeError>,
        encode: impl FnOnce(&T) -> Vec<u8>,
    ) -> Result<(T, Origin), RuntimeError> {
        let mut origin = Origin::Built;
        if let Some(disk) = &self.disk {
            let damaged = match disk.read(name, level.kind()) {
                Lookup::Found(payload) => match decode(&payload) {
                    Ok(value) => {
                        bump(match level {
                            Level::Ptx => &self.counters.disk_hits,
                            Level::Cubin => &self.counters.cubin_disk_hits,
                        });
                        return Ok((value, Origin::Disk));
                    }
                    Err(corruption) => Some(corruption),
                },
                Lookup::Corrupt(corruption) => Some(corruption),
                Lookup::Missing => None,
                Lookup::Unreadable(e) => {
                    trace(|| format!("cache: {e}; rebuilding"));
                    None
                }
            };
            if let Some(corruption) = damaged {
                bump(&self.counters.rebuilt_corrupt);
                trace(|| format!("cache: corrupt entry `{}`: {corruption}; rebuilding", disk.path(name).display()));
                origin = Origin::RebuiltCorrupt;
            }
        }
        let value = build()?;
        bump(match level {
            Level::Ptx => &self.counters.compiles,
            Level::Cubin => &self.counters.links,
        });
        if let Some(disk) = &self.disk {
            disk.store(name, level.kind(), &encode(&value));
        }
        Ok((value, origin))
    }

    fn find_request(
        &self,
        hash: u64,
        src: &str,
        kernel: Option<&str>,
        consts: &[(String, ConstValue)],
    ) -> Option<Arc<CompiledKernel>> {
        let bucket = self.requests.get(&hash)?;
        bucket.iter().find(|r| r.matches(src, kernel, consts)).map(|r| r.compiled.clone())
    }

    fn trace_lookup(&self, compiled: &CompiledKernel, level: Level, origin: Origin) {
        trace(|| lookup_line(&compiled.ir.name, &compiled.key, level.word(origin)));
    }

    /// The directory entries persist in, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(DiskStore::dir)
    }
}

impl Request {
    fn matches(&self, src: &str, kernel: Option<&str>, consts: &[(String, ConstValue)]) -> bool {
        &*self.src == src && self.kernel.as_deref() == kernel && self.consts == consts
    }
}

fn trace(line: impl FnOnce() -> String) {
    if *TRACE {
        eprintln!("{}", line());
    }
}

fn lookup_line(kernel: &str, key: &str, word: &str) -> String {
    format!("cache: {kernel} {} {word}", key::short(key))
}

#[cfg(test)]
mod stats_tests {
    use super::*;

    #[test]
    fn stats_print_as_one_report_line() {
        let stats =
            CacheStats { compiles: 3, memory_hits: 9, disk_hits: 2, rebuilt_corrupt: 1, links: 4, cubin_disk_hits: 5 };
        assert_eq!(
            stats.to_string(),
            "kernel cache: 3 compiled to PTX, 2 PTX from disk, 4 linked to cubins, 5 cubins from disk, 1 rebuilt \
             (damaged or stale on disk), 9 hits in memory"
        );
    }
}

#[cfg(test)]
mod mma_env_tests {
    use super::*;

    #[test]
    fn unset_mma_is_wgmma() {
        assert_eq!(choice::<MmaLowering>(None), Ok(MmaLowering::Wgmma));
    }

    #[test]
    fn mma_sync_is_accepted() {
        assert_eq!(choice::<MmaLowering>(Some("mma.sync")), Ok(MmaLowering::MmaSync));
    }

    #[test]
    fn unknown_mma_names_the_supported_ones() {
        assert_eq!(
            choice::<MmaLowering>(Some("hmma")),
            Err("unknown mma lowering `hmma`; supported: mma.sync, wgmma".to_string())
        );
    }

    #[test]
    fn unset_or_empty_pingpong_is_off() {
        assert_eq!((choice::<PingPong>(None), choice::<PingPong>(Some(""))), (Ok(PingPong::Off), Ok(PingPong::Off)));
    }

    #[test]
    fn pingpong_off_and_all_are_accepted() {
        assert_eq!(
            (choice::<PingPong>(Some("off")), choice::<PingPong>(Some("all"))),
            (Ok(PingPong::Off), Ok(PingPong::All))
        );
    }

    #[test]
    fn unknown_pingpong_names_the_supported_ones() {
        assert_eq!(
            choice::<PingPong>(Some("1")),
            Err("unknown ping-pong choice `1`; supported: off, wide, all".to_string())
        );
    }

    #[test]
    fn pingpong_choices_have_different_cache_options() {
        let option = |pingpong| {
            SparsefillToolchain { codegen: CodegenOptions { pingpong, ..CodegenOptions::default() } }.options()
        };
        let options: std::collections::HashSet<_> = PingPong::ALL.into_iter().map(option).collect();
        assert_eq!(options.len(), PingPong::ALL.len());
    }

    #[test]
    fn lowerings_have_different_cache_options() {
        let option =
            |mma| SparsefillToolchain { codegen: CodegenOptions { mma, ..CodegenOptions::default() } }.options();
        assert_ne!(option(MmaLowering::MmaSync), option(MmaLowering::Wgmma));
    }

    #[test]
    fn tma_on_and_off_have_different_cache_options() {
        let option =
            |tma| SparsefillToolchain { codegen: CodegenOptions { tma, ..CodegenOptions::default() } }.options();
        assert_ne!(option(true), option(false));
    }
}
