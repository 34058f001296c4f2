//! The kernel's shared memory: one dynamic array (`.extern .shared smem[]`), sized at
//! launch from [`crate::codegen::PtxModule::shared_bytes`], in two regions.
//!
//! - **Persistent** buffers come first: each is owned by one use while it lives (the
//!   multi-stage buffers of operands prefetched with `cp.async` across a loop's
//!   iterations, tiles staged for `dot`), so it never overlaps anything live. They are
//!   a stack: what a loop allocates is released after it.
//! - **Scratch** follows: every op that exchanges data between threads uses it from its
//!   start, one op after another (each use is fenced by barriers), so its size is the
//!   largest single use.
//!
//! Sizes are only known once the whole body is lowered, so uses address two placeholder
//! globals, and [`SharedMemory::finish`] swaps in offsets into the one array.
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
    /// Every buffer and the scratch region start at a multiple of this: [`ALIGN`], or
    /// a swizzle pattern's 1024 bytes where operand tiles may be swizzled
    /// ([`super::operand_tile::OperandFormat::alignment`]).
    align: u64,
    scratch: Option<GlobalValue<'ctx>>,
    scratch_bytes: u64,
    persistent: Option<GlobalValue<'ctx>>,
    /// The persistent region is a stack: a loop's buffers are released when it ends,
    /// so sibling loops reuse the same bytes.
    persistent_top: u64,
    persistent_peak: u64,
    /// The persistent buffers allocated and not released: where each ends and what it
    /// is, so an error can say what else holds the shared memory (`stages(3) prefetch`).
    live: Vec<(u64, String)>,
    /// What `live` held when the persistent region reached its peak: the buffers that
    /// push the scratch region (which starts at the peak) up, even once released.
    peak_held: Vec<String>,
}

impl<'ctx> SharedMemory<'ctx> {
    pub fn new(arch: Arch, align: u64) -> Self {
        SharedMemory {
            limit: limit_bytes(arch),
            align: align.max(ALIGN),
            scratch: None,
            scratch_bytes: 0,
            persistent: None,
            persistent_top: 0,
            persistent_peak: 0,
            live: Vec::new(),
            peak_held: Vec::new(),
        }
    }

    /// The scratch region's start, for an op (named in errors) that uses its first `bytes`.
    pub fn reserve(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        self.check(op, self.persistent_peak + bytes.max(self.scratch_bytes), &self.peak_held)?;
        self.scratch_bytes = self.scratch_bytes.max(bytes);
        let global = *self.scratch.get_or_insert_with(|| placeholder(context, module, "smem.scratch"));
        Ok(global.as_pointer_value())
    }

    /// A buffer of `bytes` of its own for the rest of the kernel, for `op` (named in errors).
    pub fn allocate(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        let offset = self.persistent_top;
        let end = offset + bytes.div_ceil(self.align) * self.align;
        let held = if end > self.persistent_peak { self.labels() } else { self.peak_held.clone() };
        self.check(op, end.max(self.persistent_peak) + self.scratch_bytes, &held)?;
        self.persistent_top = end;
        self.live.push((end, format!("{op}: {bytes} bytes")));
        if end > self.persistent_peak {
            self.persistent_peak = end;
            self.peak_held = self.labels();
        }
        let global = *self.persistent.get_or_insert_with(|| placeholder(context, module, "smem.persistent"));
        let i8_type = context.i8_type();
        // SAFETY: the offset stays inside the persistent region `finish` lays out.
        Ok(unsafe { global.as_pointer_value().const_gep(i8_type, &[context.i32_type().const_int(offset, false)]) })
    }

    /// Where the persistent stack stands, to [`SharedMemory::release`] back to.
    pub fn mark(&self) -> u64 {
        self.persistent_top
    }

    /// Frees the persistent buffers allocated since `mark`. The caller must make sure
    /// (with a barrier) that no thread still reads them.
    pub fn release(&mut self, mark: u64) {
        self.persistent_top = mark.min(self.persistent_top);
        self.live.retain(|(end, _)| *end <= self.persistent_top);
    }

    fn labels(&self) -> Vec<String> {
        self.live.iter().map(|(_, what)| what.clone()).collect()
    }

    /// Errors if `total` bytes exceed the limit; `held` names the buffers counted in it.
    fn check(&self, op: &str, total: u64, held: &[String]) -> Result<(), CodegenError> {
        if total > self.limit {
            let held = held.to_vec();
            return Err(CodegenError::SharedMemory { op: op.to_string(), bytes: total, limit: self.limit, held });
        }
        Ok(())
    }

    /// Replaces the placeholders by offsets into the one dynamic array; returns the
    /// bytes a launch must provide.
    pub fn finish(self, context: &'ctx Context, module: &Module<'ctx>) -> u32 {
        if self.scratch.is_none() && self.persistent.is_none() {
            return 0;
        }
        let array = module.add_global(context.i8_type().array_type(0), Some(AddressSpace::from(ADDRESS_SPACE)), "smem");
        array.set_linkage(Linkage::External);
        array.set_alignment(self.align as u32);
        let base = array.as_pointer_value();
        let i32_type = context.i32_type();
        for (global, offset) in [(self.persistent, 0), (self.scratch, self.persistent_peak)] {
            if let Some(global) = global {
                // SAFETY: the offset is inside the array the launch sizes to the total.
                let at = unsafe { base.const_gep(context.i8_type(), &[i32_type.const_int(offset, false)]) };
                global.as_pointer_value().replace_all_uses_with(at);
                // SAFETY: every use of the placeholder was just redirected.
                unsafe { global.delete() };
            }
        }
        // `check` kept the total under the limit, which fits u32.
        (self.persistent_peak + self.scratch_bytes) as u32
    }
}

fn placeholder<'ctx>(context: &'ctx Context, module: &Module<'ctx>, name: &str) -> GlobalValue<'ctx> {
    module.add_global(context.i8_type(), Some(AddressSpace::from(ADDRESS_SPACE)), name)
}
