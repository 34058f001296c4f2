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
//! after the other, each with the same sequence of buffers and scratch uses, and run at
//! their own pace: a group may still read a loop's stages while another has left the
//! loop and reuses those bytes. So each group has a region of its own, a stack with the
//! same offsets in every group, and the buffers the groups share
//! ([`SharedMemory::allocate_shared`]: the stages and barriers of a loop the producer
//! feeds, which every group passes in step) have a region of their own, below the
//! groups'. With one group there is one stack for both.
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
    /// The group's own region (with one group, the whole array).
    own: Stack,
    /// The region every group shares (warp groups only).
    common: Stack,
    /// Placeholders of each group's region and of the shared region, until
    /// [`SharedMemory::finish`] places them in the one array.
    regions: Vec<Option<GlobalValue<'ctx>>>,
    common_region: Option<GlobalValue<'ctx>>,
    /// The program's warp groups, and the one whose region this lowering addresses.
    groups: u32,
    group: u32,
    /// Every use of the group's own region so far, as (offset, bytes): the groups must
    /// make the same ones.
    trace: Vec<(u64, u64)>,
}

/// Buffers as a stack: a loop's buffers are released when it ends, so sibling loops, and
/// the scratch uses after them, reuse the same bytes.
#[derive(Default)]
struct Stack {
    top: u64,
    /// The most bytes in use at once, by buffers and a scratch use together.
    peak: u64,
    /// The persistent buffers allocated and not released: where each ends and what it
    /// is, so an error can say what else holds the shared memory (`stages(3) prefetch`).
    live: Vec<(u64, String)>,
}

/// Where both stacks stand ([`SharedMemory::mark`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Mark {
    own: u64,
    common: u64,
}

impl<'ctx> SharedMemory<'ctx> {
    pub fn new(arch: Arch, align: u64) -> Self {
        SharedMemory {
            limit: limit_bytes(arch),
            align: align.max(ALIGN),
            own: Stack::default(),
            common: Stack::default(),
            regions: vec![None],
            common_region: None,
            groups: 1,
            group: 0,
            trace: Vec::new(),
        }
    }

    /// The stack of a program with `groups` warp groups ([`crate::ir::Kernel::num_groups`]).
    pub fn with_groups(mut self, groups: u32) -> Self {
        self.groups = groups.max(1);
        self.regions = vec![None; self.groups as usize];
        self
    }

    /// Starts group `group`'s lowering on the same array: empty stacks again (the peaks
    /// kept), and the uses of the group before it returned, to check this one against.
    pub fn start_group(&mut self, group: u32) -> Vec<(u64, u64)> {
        self.group = group;
        for stack in [&mut self.own, &mut self.common] {
            stack.top = 0;
            stack.live.clear();
        }
        std::mem::take(&mut self.trace)
    }

    /// The uses of its own region this group made so far (see [`SharedMemory::start_group`]).
    pub fn trace(&self) -> &[(u64, u64)] {
        &self.trace
    }

    fn rounded(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.align) * self.align
    }

    /// The array's bytes with the stacks' peaks at `own` and `common`: the shared region,
    /// then one region a group.
    fn total(&self, own: u64, common: u64) -> u64 {
        match self.groups {
            1 => own,
            groups => self.rounded(common) + u64::from(groups) * self.rounded(own),
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
        let offset = self.own.top;
        let peak = self.own.peak.max(offset + bytes);
        self.check(op, self.total(peak, self.common.peak))?;
        self.own.peak = peak;
        self.trace.push((offset, bytes));
        Ok(self.at(context, module, offset, false))
    }

    /// A persistent buffer of `bytes` for `op` (named in errors), live until released,
    /// in this group's region.
    pub fn allocate(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        self.push(context, module, op, bytes, false)
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
        self.push(context, module, op, bytes, self.groups > 1)
    }

    fn push(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
        shared: bool,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        let rounded = self.rounded(bytes);
        let stack = if shared { &self.common } else { &self.own };
        let (offset, end) = (stack.top, stack.top + rounded);
        let peak = stack.peak.max(end);
        let total = if shared { self.total(self.own.peak, peak) } else { self.total(peak, self.common.peak) };
        self.check(op, total)?;
        let what = match (shared, self.groups) {
            (true, _) => format!("{op}: {bytes} bytes, shared by the groups"),
            (false, 1) => format!("{op}: {bytes} bytes"),
            (false, n) => format!("{op}: {n} x {bytes} bytes"),
        };
        let stack = if shared { &mut self.common } else { &mut self.own };
        stack.top = end;
        stack.peak = peak;
        stack.live.push((end, what));
        if !shared {
            self.trace.push((offset, rounded));
        }
        Ok(self.at(context, module, offset, shared))
    }

    /// Whether no buffer or scratch use so far reached above the stack's top: what is
    /// allocated next holds bytes nothing wrote before.
    pub fn untouched_above_top(&self) -> bool {
        self.own.peak <= self.own.top
    }

    /// Where the stacks are now, for [`SharedMemory::release`].
    pub fn mark(&self) -> Mark {
        Mark { own: self.own.top, common: self.common.top }
    }

    /// Releases every buffer allocated since `mark`. The caller makes sure that no
    /// thread reads them any more (a barrier) before anything else may write there.
    pub fn release(&mut self, mark: Mark) {
        for (stack, top) in [(&mut self.own, mark.own), (&mut self.common, mark.common)] {
            stack.top = top.min(stack.top);
            let top = stack.top;
            stack.live.retain(|(end, _)| *end <= top);
        }
    }

    /// `offset` bytes into this group's region, or the shared one, through a placeholder
    /// until [`SharedMemory::finish`].
    fn at(&mut self, context: &'ctx Context, module: &Module<'ctx>, offset: u64, shared: bool) -> PointerValue<'ctx> {
        let region = match shared {
            true => &mut self.common_region,
            false => &mut self.regions[self.group as usize],
        };
        let global = *region.get_or_insert_with(|| placeholder(context, module, "smem.stack"));
        let i8_type = context.i8_type();
        // SAFETY: a constant offset inside the region, which finish() sizes to its peak.
        unsafe { global.as_pointer_value().const_gep(i8_type, &[context.i32_type().const_int(offset, false)]) }
    }

    fn labels(&self) -> Vec<String> {
        self.common.live.iter().chain(&self.own.live).map(|(_, what)| what.clone()).collect()
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

    /// Places the regions in the one array (the shared region first, then each group's)
    /// and returns its size in bytes.
    pub fn finish(self, context: &'ctx Context, module: &Module<'ctx>) -> u32 {
        let regions: Vec<(GlobalValue<'ctx>, u64)> = std::iter::once((self.common_region, 0))
            .chain(
                self.regions
                    .iter()
                    .enumerate()
                    .map(|(g, r)| (*r, self.rounded(self.common.peak) + g as u64 * self.rounded(self.own.peak))),
            )
            .filter_map(|(r, offset)| r.map(|r| (r, offset)))
            .collect();
        if regions.is_empty() {
            return 0;
        }
        let array = module.add_global(context.i8_type().array_type(0), Some(AddressSpace::from(ADDRESS_SPACE)), "smem");
        array.set_linkage(Linkage::External);
        array.set_alignment(self.align as u32);
        for (placeholder, offset) in regions {
            let i8_type = context.i8_type();
            // SAFETY: the region's offset lies inside the array's size returned below.
            let at =
                unsafe { array.as_pointer_value().const_gep(i8_type, &[context.i32_type().const_int(offset, false)]) };
            placeholder.as_pointer_value().replace_all_uses_with(at);
            // SAFETY: every use of the placeholder was just redirected.
            unsafe { placeholder.delete() };
        }
        // `check` kept the total under the limit, which fits u32.
        self.total(self.own.peak, self.common.peak) as u32
    }
}

fn placeholder<'ctx>(context: &'ctx Context, module: &Module<'ctx>, name: &str) -> GlobalValue<'ctx> {
    module.add_global(context.i8_type(), Some(AddressSpace::from(ADDRESS_SPACE)), name)
}
