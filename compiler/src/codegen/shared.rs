//! The kernel's shared memory: one dynamic array (`.extern .shared smem[]`), sized at
//! launch from [`crate::codegen::PtxModule::shared_bytes`], used as a stack.
//!
//! - **Persistent** buffers are each owned by one use while they live (the multi-stage
//!   buffers of operands prefetched with `cp.async` across a loop's iterations, tiles
//!   staged for `dot`), so they never overlap anything live. What a loop allocates is
//!   released after it (behind a barrier).
//! - **Scratch**: an op that exchanges data between threads (a layout conversion, a
//!   cross-warp reduction, a staged `dot` operand) uses bytes just above the live
//!   buffers, from a barrier to its end. So an epilogue after a loop reuses the loop's
//!   prefetch stages: a GEMM's stages and its output conversion never add up.
//!
//! The size is only known once the whole body is lowered, so uses address a placeholder
//! global, and [`SharedMemory::finish`] swaps in the one array.
//!
//! **Warp groups** (`groups(G)`, [`crate::ir::Kernel::num_groups`]) lower the body one
//! after the other, each with the same sequence of buffers and scratch uses: each use
//! takes G slots side by side and a group addresses its own, so the stack's offsets are
//! the same for every group. The one exception is a buffer the groups share
//! ([`SharedMemory::allocate_shared`]: the stages and barriers of a loop the producer
//! feeds), one slot for all.
//!
//! Dynamic shared memory lets a kernel use more than the 48 KiB static limit: up to what
//! the architecture allows one block ([`limit_bytes`]); the runtime opts in above 48 KiB.

use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::values::{GlobalValue, PointerValue};
use inkwell::AddressSpace;

use super::CodegenError;
use crate::target::Arch;

pub(super) const ADDRESS_SPACE: u16 = 3;

/// 16 bytes, so the widest vector access (and a 16-byte `cp.async`) is always aligned.
pub(super) const ALIGN: u64 = 16;

/// Shared memory one block may use on `arch` (the opt-in maximum, in bytes).
pub fn limit_bytes(arch: Arch) -> u64 {
    match arch {
        Arch::Sm80 => 163 * 1024,
        Arch::Sm90a => 227 * 1024,
    }
}

pub(super) struct SharedMemory<'ctx> {
    limit: u64,
    /// Every buffer and scratch use starts at a multiple of this: [`ALIGN`], or a swizzle
    /// pattern's 1024 bytes where operand tiles may be swizzled
    /// ([`super::operand_tile::OperandFormat::alignment`]).
    align: u64,
    array: Option<GlobalValue<'ctx>>,
    /// The persistent buffers are a stack: a loop's buffers are released when it ends,
    /// so sibling loops, and the scratch uses after them, reuse the same bytes.
    top: u64,
    /// The most bytes in use at once, by buffers and a scratch use together.
    peak: u64,
    /// The persistent buffers allocated and not released: where each ends and what it
    /// is, so an error can say what else holds the shared memory (`stages(3) prefetch`).
    live: Vec<(u64, String)>,
    /// The program's warp groups, and the one whose slots this lowering addresses.
    groups: u32,
    group: u32,
    /// Every use so far, as (offset, bytes a slot): the groups must make the same ones.
    trace: Vec<(u64, u64)>,
}

impl<'ctx> SharedMemory<'ctx> {
    pub fn new(arch: Arch, align: u64) -> Self {
        SharedMemory {
            limit: limit_bytes(arch),
            align: align.max(ALIGN),
            array: None,
            top: 0,
            peak: 0,
            live: Vec::new(),
            groups: 1,
            group: 0,
            trace: Vec::new(),
        }
    }

    /// The stack of a program with `groups` warp groups ([`crate::ir::Kernel::num_groups`]).
    pub fn with_groups(mut self, groups: u32) -> Self {
        self.groups = groups.max(1);
        self
    }

    /// Starts group `group`'s lowering on the same array: an empty stack again, with the
    /// uses of the groups before it kept (in the peak) to check this one against.
    pub fn start_group(&mut self, group: u32) -> Vec<(u64, u64)> {
        self.group = group;
        self.top = 0;
        self.live.clear();
        std::mem::take(&mut self.trace)
    }

    /// The uses this group made so far (see [`SharedMemory::start_group`]).
    pub fn trace(&self) -> &[(u64, u64)] {
        &self.trace
    }

    /// Bytes between two groups' slots of a use of `bytes`: aligned, so every slot is.
    fn slot(&self, bytes: u64) -> u64 {
        if self.groups == 1 {
            bytes
        } else {
            bytes.div_ceil(self.align) * self.align
        }
    }

    /// Scratch for one op (named in errors) that uses `bytes` and is done with them when
    /// it ends: it sits just above the persistent buffers live now, over whatever a
    /// finished loop released. Every user writes only after a barrier (the previous
    /// user, or a released buffer's last reader, may still be reading).
    pub fn reserve(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        let (offset, slot) = (self.top, self.slot(bytes));
        let end = offset + slot * u64::from(self.groups - 1) + bytes;
        self.check(op, end)?;
        self.peak = self.peak.max(end);
        self.trace.push((offset, slot));
        Ok(self.at(context, module, offset + slot * u64::from(self.group)))
    }

    /// A persistent buffer of `bytes` for `op` (named in errors), live until released:
    /// one for each warp group, this group's returned.
    pub fn allocate(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        self.push(context, module, op, bytes, self.groups)
    }

    /// A persistent buffer of `bytes` every warp group uses, one for all: its users make
    /// sure that all groups are done with what the bytes held before.
    pub fn allocate_shared(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        self.push(context, module, op, bytes, 1)
    }

    fn push(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
        slots: u32,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        let offset = self.top;
        let slot = bytes.div_ceil(self.align) * self.align;
        let end = offset + slot * u64::from(slots);
        self.check(op, end)?;
        self.top = end;
        self.peak = self.peak.max(end);
        let what = match slots {
            1 if self.groups > 1 => format!("{op}: {bytes} bytes, shared by the groups"),
            1 => format!("{op}: {bytes} bytes"),
            n => format!("{op}: {n} x {bytes} bytes"),
        };
        self.live.push((end, what));
        self.trace.push((offset, slot * u64::from(slots)));
        let mine = if slots == 1 { 0 } else { slot * u64::from(self.group) };
        Ok(self.at(context, module, offset + mine))
    }

    /// Whether no buffer or scratch use so far reached above the stack's top: what is
    /// allocated next holds bytes nothing wrote before.
    pub fn untouched_above_top(&self) -> bool {
        self.peak <= self.top
    }

    /// Where the stack is now, for [`SharedMemory::release`].
    pub fn mark(&self) -> u64 {
        self.top
    }

    /// Releases every buffer allocated since `mark`. The caller makes sure that no
    /// thread reads them any more (a barrier) before anything else may write there.
    pub fn release(&mut self, mark: u64) {
        self.top = mark.min(self.top);
        self.live.retain(|(end, _)| *end <= self.top);
    }

    /// `offset` bytes into the array, through a placeholder until [`SharedMemory::finish`].
    fn at(&mut self, context: &'ctx Context, module: &Module<'ctx>, offset: u64) -> PointerValue<'ctx> {
        let global = *self.array.get_or_insert_with(|| placeholder(context, module, "smem.stack"));
        let i8_type = context.i8_type();
        // SAFETY: a constant offset inside the array, which finish() sizes to the peak.
        unsafe { global.as_pointer_value().const_gep(i8_type, &[context.i32_type().const_int(offset, false)]) }
    }

    fn labels(&self) -> Vec<String> {
        self.live.iter().map(|(_, what)| what.clone()).collect()
    }

    /// Errors if `total` bytes exceed the limit; `held` names the buffers counted in it.
    fn check(&self, op: &str, total: u64) -> Result<(), CodegenError> {
        if total > self.limit {
            return Err(CodegenError::SharedMemory {
                op: op.to_string(),
                bytes: total,
                limit: self.limit,
                held: self.labels(),
            });
        }
        Ok(())
    }

    pub fn finish(self, context: &'ctx Context, module: &Module<'ctx>) -> u32 {
        let Some(placeholder) = self.array else {
            return 0;
        };
        let array = module.add_global(context.i8_type().array_type(0), Some(AddressSpace::from(ADDRESS_SPACE)), "smem");
        array.set_linkage(Linkage::External);
        array.set_alignment(self.align as u32);
        placeholder.as_pointer_value().replace_all_uses_with(array.as_pointer_value());
        // SAFETY: every use of the placeholder was just redirected.
        unsafe { placeholder.delete() };
        // `check` kept the peak under the limit, which fits u32.
        self.peak as u32
    }
}

fn placeholder<'ctx>(context: &'ctx Context, module: &Module<'ctx>, name: &str) -> GlobalValue<'ctx> {
    module.add_global(context.i8_type(), Some(AddressSpace::from(ADDRESS_SPACE)), name)
}
