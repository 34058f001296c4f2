//! The kernel's one static shared-memory buffer.
//!
//! Every op that exchanges data between threads uses the buffer from offset 0, one op
//! after another (each use is fenced by barriers), so its size is the largest single
//! use. That size is only known once the whole body is lowered, so uses address a
//! placeholder global, and [`SharedMemory::finish`] swaps in the sized array.

use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::values::{GlobalValue, PointerValue};
use inkwell::AddressSpace;

use super::CodegenError;

/// Static shared memory without opting in to the larger dynamic carve-out.
pub(super) const LIMIT_BYTES: u64 = 48 * 1024;

pub(super) const ADDRESS_SPACE: u16 = 3;

/// 16 bytes, so the widest vector access is always aligned.
const ALIGN: u32 = 16;

#[derive(Default)]
pub(super) struct SharedMemory<'ctx> {
    placeholder: Option<GlobalValue<'ctx>>,
    bytes: u64,
}

impl<'ctx> SharedMemory<'ctx> {
    /// The buffer's start, for an op (named in errors) that uses its first `bytes`.
    pub fn reserve(
        &mut self,
        context: &'ctx Context,
        module: &Module<'ctx>,
        op: &str,
        bytes: u64,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        if bytes > LIMIT_BYTES {
            return Err(CodegenError::SharedMemory { op: op.to_string(), bytes, limit: LIMIT_BYTES });
        }
        self.bytes = self.bytes.max(bytes);
        let global = *self.placeholder.get_or_insert_with(|| {
            module.add_global(context.i8_type(), Some(AddressSpace::from(ADDRESS_SPACE)), "smem.unsized")
        });
        Ok(global.as_pointer_value())
    }

    /// Replaces the placeholder by the sized buffer; returns its size in bytes.
    pub fn finish(self, context: &'ctx Context, module: &Module<'ctx>) -> u32 {
        let Some(placeholder) = self.placeholder else {
            return 0;
        };
        // `reserve` kept every use under LIMIT_BYTES, which fits u32.
        let bytes = self.bytes as u32;
        let ty = context.i8_type().array_type(bytes);
        let buffer = module.add_global(ty, Some(AddressSpace::from(ADDRESS_SPACE)), "smem");
        buffer.set_linkage(Linkage::Internal);
        buffer.set_initializer(&ty.get_undef());
        buffer.set_alignment(ALIGN);
        placeholder.as_pointer_value().replace_all_uses_with(buffer.as_pointer_value());
        // SAFETY: every use of the placeholder was just redirected to `buffer`.
        unsafe { placeholder.delete() };
        bytes
    }
}
