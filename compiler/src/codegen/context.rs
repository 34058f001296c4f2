//! State shared by every lowering step: the LLVM handles, the kernel's parameters, the
//! registers of each Tile IR value already lowered, and how values map to LLVM types
//! and to the thread layout.

use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::types::{BasicTypeEnum, VectorType};
use inkwell::values::{BasicValueEnum, FloatValue, FunctionValue, IntValue, PointerValue};
use inkwell::IntPredicate;

use std::collections::HashMap;

use super::build::intrinsic_result;
use super::layout::Layout;
use super::operand_tile::OperandFormat;
use super::plan::{self, Placement};
use super::shared::SharedMemory;
use super::specialize::{FedLoops, PendingRelease, ProducerSlice, Role};
use super::CodegenError;
use crate::ir::{Block, DType, Inst, Kernel, Op, Type, ValueId};

/// One thread's registers of a value, register `r` as its [`Layout`] numbers them. A scalar has one.
pub(super) type Regs<'ctx> = Vec<BasicValueEnum<'ctx>>;

/// A kernel parameter as the entry function receives it (see [`crate::abi`]).
#[derive(Clone)]
pub(super) enum ParamValue<'ctx> {
    /// `aligned`: the parameter's [`crate::ir::Param::Tensor`] contract holds.
    Tensor {
        base: PointerValue<'ctx>,
        sizes: Vec<IntValue<'ctx>>,
        strides: Vec<IntValue<'ctx>>,
        aligned: bool,
    },
    Scalar(BasicValueEnum<'ctx>),
}

/// The entry function and its parameters, grouped back per IR parameter and per tensor map.
#[derive(Clone)]
pub(super) struct Entry<'ctx> {
    pub function: FunctionValue<'ctx>,
    pub params: Vec<ParamValue<'ctx>>,
    pub tensor_maps: super::tma::MapParams<'ctx>,
}

pub(super) struct Lowerer<'a, 'ctx> {
    pub context: &'ctx Context,
    pub module: &'a Module<'ctx>,
    pub builder: Builder<'ctx>,
    pub function: FunctionValue<'ctx>,
    pub kernel: &'a Kernel,
    /// Threads of one warp group ([`Kernel::threads_per_group`]): what layouts spread a
    /// tile over.
    pub threads: u32,
    /// The program's warp groups ([`Kernel::num_groups`]).
    pub groups: u32,
    /// `tid.x` within this group: what layouts and per-thread roles are computed from.
    pub tid: IntValue<'ctx>,
    /// The warp group these warps lower the body for ([`crate::ir::Op::GroupId`]): each
    /// group's consumers lower it on their own, with `group_id()` a constant.
    pub group: u32,
    pub params: Vec<ParamValue<'ctx>>,
    pub shared: SharedMemory<'ctx>,
    pub arch: crate::target::Arch,
    pub mma: super::MmaLowering,
    /// [`super::CodegenOptions::decoupled`].
    pub decoupled: bool,
    /// [`super::CodegenOptions::pingpong`].
    pub pingpong: super::PingPong,
    /// Whether the code being emitted is inside a warpgroup's turn ([`super::pingpong`]).
    pub in_turn: std::cell::Cell<bool>,
    /// How `dot` operands sit in shared memory on this target.
    pub operand_format: OperandFormat,
    /// Each value's placement ([`plan`]).
    placements: Vec<Placement>,
    /// `x + dot(a, b)` lowered as one accumulation ([`plan::Plan::fused_adds`]).
    pub fused_adds: HashMap<ValueId, (ValueId, ValueId)>,
    /// The values selected from 1 (`codegen::rescale::often_one`).
    pub often_one: std::collections::HashSet<ValueId>,
    /// The instruction that defines each value (for values materialized at use).
    defs: Vec<Option<&'a Inst>>,
    /// Registers of values placed `Fixed`, in their layout.
    values: Vec<Option<Regs<'ctx>>>,
    /// Values materialized or converted into another layout, one map per open block:
    /// an entry made inside a `for`/`if` body does not dominate the code after it.
    other_layouts: Vec<HashMap<(ValueId, Layout), Regs<'ctx>>>,
    /// This iteration's stage of each prefetched tile (`codegen::prefetch`).
    prefetched_stages: HashMap<ValueId, IntValue<'ctx>>,
    /// Fused adds of the loop being lowered whose `wgmma` completes in a later
    /// iteration ([`Lowerer::deferred_accumulators`]).
    pub deferred: std::collections::HashSet<ValueId>,
    /// The `wgmma` groups of the open block committed and not yet waited for, oldest
    /// first: the value each one defines, or `None` for a deferred accumulator
    /// ([`Lowerer::await_product`]).
    pub in_flight: Vec<Option<ValueId>>,
    /// The power-of-two factor each i32 scalar is known to have ([`super::divisibility`]).
    pub multiples: HashMap<ValueId, u64>,
    /// The entry's tensor map parameters ([`super::tma`]).
    pub tensor_maps: super::tma::MapParams<'ctx>,
    /// Which slice of the body these warps lower ([`super::specialize`]); `Whole` unless
    /// the kernel is specialized.
    pub role: Role,
    /// What the producer lowers, where the kernel is specialized (else empty).
    pub slice: std::rc::Rc<ProducerSlice>,
    /// The loops the producer feeds, as the consumers laid them out.
    pub fed_loops: FedLoops<'ctx>,
    /// A fed loop's stage to release at the body's first `wgmma` wait.
    pub pending_release: Option<PendingRelease<'ctx>>,
}

impl<'a, 'ctx> Lowerer<'a, 'ctx> {
    /// Starts lowering into `function`, whose entry block `builder` is positioned in.
    pub fn new(
        context: &'ctx Context,
        module: &'a Module<'ctx>,
        builder: Builder<'ctx>,
        kernel: &'a Kernel,
        entry: Entry<'ctx>,
        (arch, options): (crate::target::Arch, &super::CodegenOptions),
        plan: plan::Plan,
    ) -> Result<Self, CodegenError> {
        let Entry { function, params, tensor_maps } = entry;
        let tid = intrinsic_result(module, &builder, "llvm.nvvm.read.ptx.sreg.tid.x", &[], &[])?;
        let mut defs = vec![None; kernel.value_types.len()];
        record_defs(&kernel.body, &mut defs);
        Ok(Lowerer {
            context,
            module,
            builder,
            function,
            kernel,
            threads: kernel.threads_per_group(),
            groups: kernel.num_groups,
            tid: as_int(tid)?,
            group: 0,
            params,
            shared: SharedMemory::new(arch, OperandFormat::for_target(arch, options.mma).alignment())
                .with_groups(kernel.num_groups),
            arch,
            mma: options.mma,
            decoupled: options.decoupled,
            pingpong: options.pingpong,
            in_turn: std::cell::Cell::new(false),
            operand_format: OperandFormat::for_target(arch, options.mma),
            placements: plan.placements,
            fused_adds: plan.fused_adds,
            often_one: super::rescale::often_one(&kernel.body),
            defs,
            values: vec![None; kernel.value_types.len()],
            other_layouts: vec![HashMap::new()],
            prefetched_stages: HashMap::new(),
            deferred: Default::default(),
            in_flight: Vec::new(),
            multiples: super::divisibility::known_multiples(kernel),
            tensor_maps,
            role: Role::Whole,
            slice: Default::default(),
            fed_loops: FedLoops::new(),
            pending_release: None,
        })
    }

    /// Lowers for warp group `group` from here on, on `shared` (the shared memory the groups
    /// before it used, [`SharedMemory::start_group`]): `tid` counts from the group's first thread,
    /// and `group_id()` is `group`. Returns the shared-memory uses of the group before.
    pub fn start_group(&mut self, group: u32, shared: SharedMemory<'ctx>) -> Result<Vec<(u64, u64)>, CodegenError> {
        self.shared = shared;
        let before = self.shared.start_group(group);
        self.group = group;
        let first = self.i32(u64::from(group * self.threads));
        self.tid = self.builder.build_int_sub(self.tid, first, "group.tid")?;
        Ok(before)
    }

    /// The shared-memory stack, for the next warp group to go on with; this lowering has
    /// none afterwards.
    pub fn take_shared(&mut self) -> SharedMemory<'ctx> {
        let empty = SharedMemory::new(self.arch, 0);
        std::mem::replace(&mut self.shared, empty)
    }

    /// The program's consumer threads: every warp group's.
    pub fn program_threads(&self) -> u32 {
        self.groups * self.threads
    }

    pub fn ty(&self, v: ValueId) -> Result<&'a Type, CodegenError> {
        self.kernel.value_types.get(v.0 as usize).ok_or_else(|| CodegenError::InvalidIr(format!("{v} has no type")))
    }

    /// The blocked layout of `ty`: the layout of loads, parameters and anything not
    /// placed otherwise.
    pub fn blocked(&self, ty: &Type) -> Result<Layout, CodegenError> {
        Layout::blocked(ty, self.threads)
    }

    pub fn placement(&self, v: ValueId) -> Result<&Placement, CodegenError> {
        self.placements.get(v.0 as usize).ok_or_else(|| CodegenError::InvalidIr(format!("{v} has no placement")))
    }

    /// Whether `v` is computed once, in `layout`.
    pub fn is_fixed_in(&self, v: ValueId, layout: &Layout) -> Result<bool, CodegenError> {
        Ok(matches!(self.placement(v)?, Placement::Fixed(l) if l == layout))
    }

    /// The op that defines `v`, unless it is a block argument.
    pub fn defining_op(&self, v: ValueId) -> Option<&'a Op> {
        self.defs.get(v.0 as usize).copied().flatten().map(|inst| &inst.op)
    }

    /// The layout `v` lives in: its fixed layout, or blocked for a value placed at use.
    pub fn layout_of(&self, v: ValueId) -> Result<Layout, CodegenError> {
        match self.placement(v)? {
            Placement::Fixed(l) => Ok(l.clone()),
            Placement::AtUse => self.blocked(self.ty(v)?),
            Placement::Prefetched | Placement::Staged => {
                Err(CodegenError::InvalidIr(format!("{v} lives in shared memory and has no registers")))
            }
        }
    }

    /// Whether `v` lives in shared memory rather than registers (prefetched or staged).
    pub fn is_in_shared(&self, v: ValueId) -> Result<bool, CodegenError> {
        Ok(matches!(self.placement(v)?, Placement::Prefetched | Placement::Staged))
    }

    /// The `.shared` address of a tile in shared memory (this iteration's stage when prefetched).
    pub fn shared_tile_address(&self, v: ValueId) -> Result<IntValue<'ctx>, CodegenError> {
        self.prefetched_stages
            .get(&v)
            .copied()
            .ok_or_else(|| CodegenError::InvalidIr(format!("{v} is read outside the loop that prefetches it")))
    }

    pub fn set_shared_tile_address(&mut self, v: ValueId, address: IntValue<'ctx>) {
        self.prefetched_stages.insert(v, address);
    }

    /// `v`'s registers in [`Lowerer::layout_of`]`(v)`.
    pub fn get(&mut self, v: ValueId) -> Result<Regs<'ctx>, CodegenError> {
        let layout = self.layout_of(v)?;
        self.get_in(v, &layout)
    }

    /// `v`'s registers in `layout`: as computed, recomputed there (values placed at use),
    /// or moved there through shared memory. Each result is kept for later uses in the
    /// same block and the blocks nested in it.
    pub fn get_in(&mut self, v: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        self.await_product(v)?;
        if let Placement::Fixed(own) = self.placement(v)? {
            if own == layout {
                return self.defined_regs(v);
            }
        }
        let key = (v, layout.clone());
        if let Some(regs) = self.other_layouts.iter().rev().find_map(|m| m.get(&key)) {
            return Ok(regs.clone());
        }
        let regs = match self.placement(v)?.clone() {
            Placement::Prefetched | Placement::Staged => {
                return Err(CodegenError::InvalidIr(format!("{v} lives in shared memory and has no registers")))
            }
            Placement::Fixed(own) => {
                let regs = self.get_in(v, &own)?;
                let ty = self.ty(v)?;
                self.convert_layout(&regs, ty, &own, layout)?
            }
            Placement::AtUse => {
                let inst = self
                    .defs
                    .get(v.0 as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(|| CodegenError::InvalidIr(format!("{v} is used but never defined")))?;
                self.materialize(&inst.op, v, layout)?
            }
        };
        if regs.len() != layout.regs() {
            return Err(CodegenError::InvalidIr(format!(
                "{v} got {} registers in a layout of {}",
                regs.len(),
                layout.regs()
            )));
        }
        if let Some(scope) = self.other_layouts.last_mut() {
            scope.insert(key, regs.clone());
        }
        Ok(regs)
    }

    /// Opens a `for`/`if` body: what it materializes stays inside it.
    pub fn enter_block(&mut self) {
        self.other_layouts.push(HashMap::new());
    }

    pub fn leave_block(&mut self) {
        self.other_layouts.pop();
    }

    /// How many `for`/`if` bodies are open around the code being emitted.
    pub fn block_depth(&self) -> usize {
        self.other_layouts.len()
    }

    /// The defining op of a value placed at use, computed in `layout`.
    fn materialize(&mut self, op: &Op, result: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        match op {
            Op::Const(literal) => self.constant(*literal, result, layout),
            Op::Splat { value } => self.splat(*value, result, layout),
            Op::Arange { start, len } => self.arange(*start, *len, result, layout),
            Op::ExpandDims { value, axis } => self.expand_dims(*value, *axis, result, layout),
            Op::Broadcast { value } => self.broadcast(*value, result, layout),
            Op::Binary { op, lhs, rhs } => self.binary(*op, *lhs, *rhs, result, layout),
            Op::Unary { op, value } => self.unary(*op, *value, result, layout),
            Op::Cmp { op, lhs, rhs } => self.compare(*op, *lhs, *rhs, result, layout),
            Op::Select { cond, on_true, on_false } => self.select(*cond, *on_true, *on_false, result, layout),
            Op::Cast { value } => self.cast(*value, result, layout),
            Op::Trans { value } => self.trans(*value, result, layout),
            other => Err(CodegenError::InvalidIr(format!(
                "{result} is placed at use but `{}` is computed once",
                crate::ir::op_name(other)
            ))),
        }
    }

    /// The register of a rank-0 value.
    pub fn scalar(&mut self, v: ValueId, dtype: DType) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let ty = self.ty(v)?;
        if *ty != Type::scalar(dtype) {
            return Err(CodegenError::InvalidIr(format!("{v} must be a {dtype} scalar; it is {ty}")));
        }
        Ok(self.get(v)?[0])
    }

    pub fn scalar_i32(&mut self, v: ValueId) -> Result<IntValue<'ctx>, CodegenError> {
        as_int(self.scalar(v, DType::I32)?)
    }

    /// Replaces the registers of `v`, already defined, by the same values passed through
    /// a fence (a `wgmma` wait).
    pub(super) fn redefine(&mut self, v: ValueId, regs: Regs<'ctx>) -> Result<(), CodegenError> {
        match self.values.get_mut(v.0 as usize) {
            Some(Some(slot)) if slot.len() == regs.len() => {
                *slot = regs;
                Ok(())
            }
            _ => Err(CodegenError::InvalidIr(format!("{v} is redefined but was not defined with as many registers"))),
        }
    }

    /// The registers `v` was defined with, as they are (no wait, no conversion).
    pub(super) fn defined_regs(&self, v: ValueId) -> Result<Regs<'ctx>, CodegenError> {
        self.values
            .get(v.0 as usize)
            .and_then(Option::clone)
            .ok_or_else(|| CodegenError::InvalidIr(format!("{v} is used before it is defined")))
    }

    pub fn define(&mut self, v: ValueId, regs: Regs<'ctx>) -> Result<(), CodegenError> {
        let expected = self.layout_of(v)?.regs();
        if regs.len() != expected {
            return Err(CodegenError::InvalidIr(format!(
                "{v} gets {} registers, its type needs {expected}",
                regs.len()
            )));
        }
        match self.values.get_mut(v.0 as usize) {
            Some(slot @ None) => {
                *slot = Some(regs);
                Ok(())
            }
            Some(Some(_)) => Err(CodegenError::InvalidIr(format!("{v} is defined twice"))),
            None => Err(CodegenError::InvalidIr(format!("{v} has no type"))),
        }
    }

    /// The LLVM type a value of `dtype` has in registers.
    pub fn reg_type(&self, dtype: DType) -> BasicTypeEnum<'ctx> {
        match dtype {
            DType::Bool => self.context.bool_type().into(),
            DType::I32 => self.context.i32_type().into(),
            DType::F16 => self.context.f16_type().into(),
            DType::BF16 => self.context.bf16_type().into(),
            DType::F32 => self.context.f32_type().into(),
        }
    }

    /// The LLVM type of an element in memory: `bool` is a byte there.
    pub fn mem_type(&self, dtype: DType) -> BasicTypeEnum<'ctx> {
        match dtype {
            DType::Bool => self.context.i8_type().into(),
            _ => self.reg_type(dtype),
        }
    }

    /// `<len x mem_type(dtype)>`.
    pub fn mem_vector(&self, dtype: DType, len: usize) -> VectorType<'ctx> {
        let len = len as u32;
        match dtype {
            DType::Bool => self.context.i8_type().vec_type(len),
            DType::I32 => self.context.i32_type().vec_type(len),
            DType::F16 => self.context.f16_type().vec_type(len),
            DType::BF16 => self.context.bf16_type().vec_type(len),
            DType::F32 => self.context.f32_type().vec_type(len),
        }
    }

    /// A register as it is stored: bool widens to a 0/1 byte.
    pub fn stored(&self, dtype: DType, reg: BasicValueEnum<'ctx>) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        Ok(match dtype {
            DType::Bool => self.builder.build_int_z_extend(as_int(reg)?, self.context.i8_type(), "")?.into(),
            _ => reg,
        })
    }

    /// A loaded element as a register: any nonzero byte is `true`.
    pub fn loaded(&self, dtype: DType, v: BasicValueEnum<'ctx>) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        Ok(match dtype {
            DType::Bool => {
                let zero = self.context.i8_type().const_zero();
                self.builder.build_int_compare(IntPredicate::NE, as_int(v)?, zero, "")?.into()
            }
            _ => v,
        })
    }

    pub fn zero(&self, dtype: DType) -> BasicValueEnum<'ctx> {
        self.reg_type(dtype).const_zero()
    }

    /// The flat element index register `reg` of `layout` holds in this thread, as i32.
    pub fn flat_index(&self, layout: &Layout, reg: usize) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &self.builder;
        let mut index = self.i32(u64::from(layout.reg_flat_bits(reg)));
        for (thread_bit, flat_bit, width) in layout.thread_runs() {
            let field = b.build_and(
                b.build_right_shift(self.tid, self.i32(u64::from(thread_bit)), false, "")?,
                self.i32((1u64 << width) - 1),
                "",
            )?;
            index = b.build_or(index, b.build_left_shift(field, self.i32(u64::from(flat_bit)), "")?, "")?;
        }
        Ok(index)
    }

    /// Whether this thread owns (rather than replicates) its elements of `layout`: the
    /// replicas are the threads with a nonzero free thread-id bit.
    pub fn is_owner(&self, layout: &Layout) -> Result<IntValue<'ctx>, CodegenError> {
        let free = layout.free_thread_mask();
        if free == 0 {
            return Ok(self.bool(true));
        }
        let lowest = free & free.wrapping_neg();
        if free + lowest == u64::from(self.threads) {
            // The free bits are the top ones: the owners are the threads below them.
            return Ok(self.builder.build_int_compare(IntPredicate::ULT, self.tid, self.i32(lowest), "owner")?);
        }
        let bits = self.builder.build_and(self.tid, self.i32(free), "")?;
        Ok(self.builder.build_int_compare(IntPredicate::EQ, bits, self.i32(0), "owner")?)
    }

    /// Element `index` of a shared-memory array of `dtype` starting at `base`.
    pub fn shared_element(
        &self,
        base: PointerValue<'ctx>,
        dtype: DType,
        index: IntValue<'ctx>,
    ) -> Result<PointerValue<'ctx>, CodegenError> {
        // SAFETY: callers index below the element count they reserved for `base`.
        Ok(unsafe { self.builder.build_gep(self.mem_type(dtype), base, &[index], "")? })
    }
}

/// Records the defining instruction of every value in `block` and the blocks nested in it.
pub(super) fn record_defs<'a>(block: &'a Block, defs: &mut [Option<&'a Inst>]) {
    for inst in &block.insts {
        for r in &inst.results {
            if let Some(slot) = defs.get_mut(r.0 as usize) {
                *slot = Some(inst);
            }
        }
        match &inst.op {
            Op::For { body, .. } => record_defs(body, defs),
            Op::If { then_block, else_block, .. } => {
                record_defs(then_block, defs);
                record_defs(else_block, defs);
            }
            _ => {}
        }
    }
}

pub(super) fn as_int(v: BasicValueEnum<'_>) -> Result<IntValue<'_>, CodegenError> {
    match v {
        BasicValueEnum::IntValue(i) => Ok(i),
        other => {
            Err(CodegenError::InvalidIr(format!("expected an integer, got {}", other.get_type().print_to_string())))
        }
    }
}

pub(super) fn as_float(v: BasicValueEnum<'_>) -> Result<FloatValue<'_>, CodegenError> {
    match v {
        BasicValueEnum::FloatValue(f) => Ok(f),
        other => Err(CodegenError::InvalidIr(format!("expected a float, got {}", other.get_type().print_to_string()))),
    }
}
