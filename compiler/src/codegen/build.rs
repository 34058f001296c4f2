//! LLVM instruction-building helpers every lowering step uses: constants, intrinsic
//! calls, aligned memory accesses, vector packing and branch diamonds.

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::Module;
use inkwell::types::{BasicMetadataTypeEnum, BasicType, BasicTypeEnum, VectorType};
use inkwell::values::{
    BasicMetadataValueEnum, BasicValue, BasicValueEnum, CallSiteValue, IntValue, PointerValue, VectorValue,
};

use super::context::{Lowerer, Regs};
use super::specialize::{Role, CONSUMER_BARRIER};
use super::CodegenError;

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn i32(&self, v: u64) -> IntValue<'ctx> {
        self.context.i32_type().const_int(v, false)
    }

    pub fn i64(&self, v: u64) -> IntValue<'ctx> {
        self.context.i64_type().const_int(v, false)
    }

    pub fn bool(&self, v: bool) -> IntValue<'ctx> {
        self.context.bool_type().const_int(u64::from(v), false)
    }

    /// Inline PTX returning `outs` registers. Side effects keep it after the barrier that
    /// publishes its shared-memory inputs; `convergent` keeps the warp-wide instruction out
    /// of divergent control flow.
    pub fn inline_asm(
        &self,
        asm: &str,
        constraints: &str,
        outs: &[BasicTypeEnum<'ctx>],
        args: &[BasicValueEnum<'ctx>],
    ) -> Result<Regs<'ctx>, CodegenError> {
        let ret = self.context.struct_type(outs, false);
        let params: Vec<BasicMetadataTypeEnum<'ctx>> = args.iter().map(|v| v.get_type().into()).collect();
        let fn_type = ret.fn_type(&params, false);
        let callee =
            self.context.create_inline_asm(fn_type, asm.to_string(), constraints.to_string(), true, false, None, false);
        let args: Vec<BasicMetadataValueEnum<'ctx>> = args.iter().map(|&v| v.into()).collect();
        let call = self.builder.build_indirect_call(fn_type, callee, &args, "")?;
        let convergent = Attribute::get_named_enum_kind_id("convergent");
        call.add_attribute(AttributeLoc::Function, self.context.create_enum_attribute(convergent, 0));
        let value = call
            .try_as_basic_value()
            .basic()
            .ok_or_else(|| CodegenError::Llvm(format!("inline asm `{asm}` returns nothing")))?;
        let value = value.into_struct_value();
        (0..outs.len() as u32)
            .map(|i| {
                self.builder
                    .build_extract_value(value, i, "")
                    .map_err(|e| CodegenError::Llvm(format!("extracting output {i} of `{asm}`: {e}")))
            })
            .collect()
    }

    /// Inline PTX with no operands and no result, kept in place like [`Lowerer::inline_asm`]
    /// (a fence, say): it also clobbers memory, so no memory access moves across it.
    pub fn inline_void(&self, asm: &str) -> Result<(), CodegenError> {
        self.asm_void(asm, "", &[])
    }

    /// Inline PTX taking `args` (after `constraints`) and returning nothing, kept in place
    /// and clobbering memory like [`Lowerer::inline_void`].
    pub fn asm_void(&self, asm: &str, constraints: &str, args: &[BasicValueEnum<'ctx>]) -> Result<(), CodegenError> {
        let params: Vec<BasicMetadataTypeEnum<'ctx>> = args.iter().map(|v| v.get_type().into()).collect();
        let fn_type = self.context.void_type().fn_type(&params, false);
        let constraints =
            if constraints.is_empty() { "~{memory}".to_string() } else { format!("{constraints},~{{memory}}") };
        let callee = self.context.create_inline_asm(fn_type, asm.to_string(), constraints, true, false, None, false);
        let args: Vec<BasicMetadataValueEnum<'ctx>> = args.iter().map(|&v| v.into()).collect();
        let call = self.builder.build_indirect_call(fn_type, callee, &args, "")?;
        let convergent = Attribute::get_named_enum_kind_id("convergent");
        call.add_attribute(AttributeLoc::Function, self.context.create_enum_attribute(convergent, 0));
        Ok(())
    }

    /// Calls an LLVM intrinsic that returns nothing; `overloads` picks the overload.
    pub fn intrinsic_void(
        &self,
        name: &str,
        overloads: &[BasicTypeEnum<'ctx>],
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> Result<(), CodegenError> {
        build_intrinsic_call(self.module, &self.builder, name, overloads, args).map(|_| ())
    }

    /// Calls an LLVM intrinsic and returns its value; `overloads` picks the overload.
    pub fn intrinsic_value(
        &self,
        name: &str,
        overloads: &[BasicTypeEnum<'ctx>],
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        intrinsic_result(self.module, &self.builder, name, overloads, args)
    }

    /// The CTA barrier of the warps lowering the body: `bar.sync 0`, or with a producer
    /// warpgroup the consumers' own named barrier ([`super::specialize`]). Every thread
    /// that counts reaches it (control flow is uniform). Never inside a warpgroup's turn,
    /// where the other warpgroups wait for the turn ([`super::pingpong`]). With warp
    /// groups it is the group's own: named barrier [`CONSUMER_BARRIER`] + group, counting
    /// the group's threads, since groups take their own paths through the body.
    pub fn barrier(&self) -> Result<(), CodegenError> {
        if self.groups > 1 {
            if self.role == Role::Producer {
                return Err(CodegenError::InvalidIr(
                    "the producer warpgroup's slice reached a CTA barrier; it lowers scalars and copies only".into(),
                ));
            }
            return self.named_barrier(CONSUMER_BARRIER + self.group, self.threads);
        }
        if self.in_turn.get() {
            return Err(CodegenError::Unsupported {
                what: "a CTA barrier inside a warpgroup's ping-pong turn (CodegenOptions::pingpong)".into(),
                supported: "turns whose ops need no shared memory; compile with SPARSEFILL_PINGPONG=off".into(),
            });
        }
        match self.role {
            Role::Whole => self.intrinsic_void("llvm.nvvm.barrier.cta.sync.aligned.all", &[], &[self.i32(0).into()]),
            Role::Consumer => self.named_barrier(CONSUMER_BARRIER, self.threads),
            Role::Producer => Err(CodegenError::InvalidIr(
                "the producer warpgroup's slice reached a CTA barrier; it lowers scalars and copies only".into(),
            )),
        }
    }

    /// The barrier of every warp group's consumer threads: where a buffer they share
    /// ([`super::shared::SharedMemory::allocate_shared`]) changes hands. The same as
    /// [`Lowerer::barrier`] with one group.
    pub fn groups_barrier(&self) -> Result<(), CodegenError> {
        match (self.groups, self.role) {
            (1, _) => self.barrier(),
            (_, Role::Whole) => {
                self.intrinsic_void("llvm.nvvm.barrier.cta.sync.aligned.all", &[], &[self.i32(0).into()])
            }
            (groups, Role::Consumer) => self.named_barrier(CONSUMER_BARRIER + groups, self.program_threads()),
            (_, Role::Producer) => Err(CodegenError::InvalidIr(
                "the producer warpgroup's slice reached the groups' barrier; it lowers scalars and copies only".into(),
            )),
        }
    }

    /// `bar.sync id, threads`.
    fn named_barrier(&self, id: u32, threads: u32) -> Result<(), CodegenError> {
        let (id, count) = (self.i32(u64::from(id)), self.i32(u64::from(threads)));
        self.intrinsic_void("llvm.nvvm.barrier.cta.sync.aligned.count", &[], &[id.into(), count.into()])
    }

    pub fn aligned_load(
        &self,
        ty: impl BasicType<'ctx>,
        ptr: PointerValue<'ctx>,
        align: u32,
    ) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let v = self.builder.build_load(ty, ptr, "")?;
        if let Some(inst) = v.as_instruction_value() {
            inst.set_alignment(align).map_err(|e| CodegenError::Llvm(e.to_string()))?;
        }
        Ok(v)
    }

    pub fn aligned_store(
        &self,
        ptr: PointerValue<'ctx>,
        value: impl BasicValue<'ctx>,
        align: u32,
    ) -> Result<(), CodegenError> {
        let store = self.builder.build_store(ptr, value)?;
        store.set_alignment(align).map_err(|e| CodegenError::Llvm(e.to_string()))?;
        Ok(())
    }

    /// A vector of type `ty` holding `values` in order.
    pub fn pack(
        &self,
        ty: VectorType<'ctx>,
        values: &[BasicValueEnum<'ctx>],
    ) -> Result<VectorValue<'ctx>, CodegenError> {
        let mut v = ty.get_undef();
        for (i, &x) in values.iter().enumerate() {
            v = self.builder.build_insert_element(v, x, self.i32(i as u64), "")?;
        }
        Ok(v)
    }

    /// The elements of `v`, in order.
    pub fn unpack(&self, v: VectorValue<'ctx>) -> Result<Vec<BasicValueEnum<'ctx>>, CodegenError> {
        let len = u64::from(v.get_type().get_size());
        (0..len).map(|i| Ok(self.builder.build_extract_element(v, self.i32(i), "")?)).collect()
    }

    pub fn block(&self, name: &str) -> BasicBlock<'ctx> {
        self.context.append_basic_block(self.function, name)
    }

    /// The block instructions currently go to.
    pub fn current_block(&self) -> Result<BasicBlock<'ctx>, CodegenError> {
        self.builder.get_insert_block().ok_or_else(|| CodegenError::Llvm("builder has no insertion block".into()))
    }

    /// Builds `cond ? then() : otherwise()` as a diamond, merging each returned
    /// register (of the matching `types`) with a phi; the untaken side's code never
    /// runs, so it may hold accesses that would fault.
    pub fn branch_values(
        &self,
        cond: IntValue<'ctx>,
        types: &[BasicTypeEnum<'ctx>],
        then: impl FnOnce(&Self) -> Result<Regs<'ctx>, CodegenError>,
        otherwise: impl FnOnce(&Self) -> Result<Regs<'ctx>, CodegenError>,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let then_block = self.block("then");
        let else_block = self.block("else");
        let merge = self.block("merge");
        self.builder.build_conditional_branch(cond, then_block, else_block)?;
        self.builder.position_at_end(then_block);
        let a = then(self)?;
        let a_end = self.current_block()?;
        self.builder.build_unconditional_branch(merge)?;
        self.builder.position_at_end(else_block);
        let b = otherwise(self)?;
        let b_end = self.current_block()?;
        self.builder.build_unconditional_branch(merge)?;
        self.builder.position_at_end(merge);
        types
            .iter()
            .zip(a.iter().zip(&b))
            .map(|(&ty, (x, y))| {
                let phi = self.builder.build_phi(ty, "")?;
                phi.add_incoming(&[(x, a_end), (y, b_end)]);
                Ok(phi.as_basic_value())
            })
            .collect()
    }

    /// An `if`'s condition, a scalar the tile model makes uniform, as ptxas should see it.
    /// With warp groups it is a warp vote (the same value): a condition loaded from
    /// memory, as the pairs' walk branches on each tile's owner, otherwise leaves ptxas
    /// unsure that the warp takes the branch together, and it then builds the `wgmma`
    /// descriptors in the arms in vector registers, moved to uniform ones (`R2UR`) behind
    /// a `WARPSYNC`: 32 `R2UR`, 3 `WARPSYNC` and 30 `IMAD` more a walk iteration (653
    /// SASS instructions against 601 with the vote). Kernels of one group keep their
    /// branches as they are: their shipped loops assemble the same either way, and a vote
    /// before a branch keeps LLVM from hoisting the arms' common `wgmma` waits above it.
    pub fn warp_uniform(&self, cond: IntValue<'ctx>) -> Result<IntValue<'ctx>, CodegenError> {
        if cond.is_const() || self.groups == 1 {
            return Ok(cond);
        }
        let all = self.i32(0xffff_ffff);
        Ok(self.intrinsic_value("llvm.nvvm.vote.all.sync", &[], &[all.into(), cond.into()])?.into_int_value())
    }

    /// Runs `body` only where `cond` holds (a store that must not happen otherwise).
    pub fn when(
        &self,
        cond: IntValue<'ctx>,
        body: impl FnOnce(&Self) -> Result<(), CodegenError>,
    ) -> Result<(), CodegenError> {
        let then_block = self.block("then");
        let merge = self.block("merge");
        self.builder.build_conditional_branch(cond, then_block, merge)?;
        self.builder.position_at_end(then_block);
        body(self)?;
        self.builder.build_unconditional_branch(merge)?;
        self.builder.position_at_end(merge);
        Ok(())
    }
}

/// The call instruction. An unknown name is an error here: LLVM's verifier would accept
/// it as an external function, and only ptxas would fail.
fn build_intrinsic_call<'ctx>(
    module: &Module<'ctx>,
    builder: &Builder<'ctx>,
    name: &str,
    overloads: &[BasicTypeEnum<'ctx>],
    args: &[BasicMetadataValueEnum<'ctx>],
) -> Result<CallSiteValue<'ctx>, CodegenError> {
    let function = Intrinsic::find(name)
        .and_then(|i| i.get_declaration(module, overloads))
        .ok_or_else(|| CodegenError::Llvm(format!("LLVM has no intrinsic {name}")))?;
    Ok(builder.build_call(function, args, "")?)
}

/// Calls an intrinsic that returns a value (usable before a [`Lowerer`] exists).
pub(super) fn intrinsic_result<'ctx>(
    module: &Module<'ctx>,
    builder: &Builder<'ctx>,
    name: &str,
    overloads: &[BasicTypeEnum<'ctx>],
    args: &[BasicMetadataValueEnum<'ctx>],
) -> Result<BasicValueEnum<'ctx>, CodegenError> {
    build_intrinsic_call(module, builder, name, overloads, args)?
        .try_as_basic_value()
        .basic()
        .ok_or_else(|| CodegenError::Llvm(format!("intrinsic {name} returns nothing")))
}
