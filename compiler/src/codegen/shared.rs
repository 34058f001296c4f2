//! The kernel's shared memory: one dynamic array (`.extern .shared smem[]`), sized at
//! launch from [`crate::codegen::PtxModule::shared_bytes`], in two regions.
//!
//! - **Persistent** buffers come first: each is owned by one use for the whole kernel
//!   (the multi-stage buffers of operands prefetched with `cp.async` across a loop's
//!   iterations), so they never overlap anything.
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
const ALIGN: u64 = 16;

/// Shared memory one block may use on `arch` (the opt-in maximum, in bytes).
pub fn limit_bytes(arch: Arch) -> u64 {
    match arch {
        Arch::Sm80 => 163 * 1024,
        Arch::Sm90a => 227 * 1024,
    }
}

pub(super) struct SharedMemory<'ctx> {
    limit: u64,
    scratch: Option<GlobalValue<'ctx>>,
    scratch_bytes: u64,
    persistent: Option<GlobalValue<'ctx>>,
    persistent_bytes: u64,
}

impl<'ctx> SharedMemory<'ctx> {
    pub fn new(arch: Arch) -> Self {
        SharedMemory {
            limit: limit_bytes(arch),
            scratch: None,
            scratch_bytes: 0,
            persistent: None,
            persistent_bytes: 0,
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
        self.check(op, self.persistent_bytes + bytes.max(self.scratch_bytes))?;
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
        let offset = self.persistent_bytes;
        let end = offset + bytes.div_ceil(ALIGN) * ALIGN;
        self.check(op, end + self.scratch_bytes)?;
        self.persistent_bytes = end;
        let global = *self.persistent.get_or_insert_with(|| placeholder(context, module, "smem.persistent"));
        let i8_type = context.i8_type();
        // SAFETY: the offset stays inside the persistent region `finish` lays out.
        Ok(unsafe { global.as_pointer_value().const_gep(i8_type, &[context.i32_type().const_int(offset, false)]) })
    }

    fn check(&self, op: &str, total: u64) -> Result<(), CodegenError> {
        if total > self.limit {
            return Err(CodegenError::SharedMemory { op: op.to_string(), bytes: total, limit: self.limit });
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
        array.set_alignment(ALIGN as u32);
        let base = array.as_pointer_value();
        let i32_type = context.i32_type();
        for (global, offset) in [(self.persistent, 0), (self.scratch, self.persistent_bytes)] {
            if let Some(global) = global {
                // SAFETY: the offset is inside the array the launch sizes to the total.
                let at = unsafe { base.const_gep(context.i8_type(), &[i32_type.const_int(offset, false)]) };
                global.as_pointer_value().replace_all_uses_with(at);
                // SAFETY: every use of the placeholder was just redirected.
                unsafe { global.delete() };
            }
        }
        // `check` kept the total under the limit, which fits u32.
        (self.persistent_bytes + self.scratch_bytes) as u32
    }
}

fn placeholder<'ctx>(context: &'ctx Context, module: &Module<'ctx>, name: &str) -> GlobalValue<'ctx> {
    module.add_global(context.i8_type(), Some(AddressSpace::from(ADDRESS_SPACE)), name)
}
