//! The kernel entry and the walk over its body: parameters, instruction dispatch and
//! structured control flow (`for`, `if`).

use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::types::BasicMetadataTypeEnum;
use inkwell::values::{BasicValueEnum, FunctionValue, IntValue, PhiValue};
use inkwell::{AddressSpace, IntPredicate};

use super::context::{as_int, Entry, Lowerer, ParamValue, Regs};
use super::layout::Layout;
use super::operand_tile::OperandFormat;
use super::pingpong::Turns;
use super::plan::Placement;
use super::prefetch::{checked_stages, defined_in, TmaLoop};
use super::shared::SharedMemory;
use super::specialize::{producer_slice, FedLoop, ProducerSlice, Role, Split, PRODUCER_REGISTERS};
use super::tma::{kernel_maps, BarrierInit, MapParams};
use super::{CodegenError, Specialize, REGISTERS_PER_SM, REGISTER_STEP};
use crate::abi::{kernel_abi, AbiKind, AbiParam, TensorMap, TENSOR_MAP_ALIGN, TENSOR_MAP_BYTES};
use crate::ir::{op_name, Block, DType, Inst, Kernel, Op, Param, ValueId};
use inkwell::attributes::Attribute;
use inkwell::types::AnyType;
use std::collections::HashSet;
use std::rc::Rc;

/// PTX's `.entry` calling convention (LLVM's `ptx_kernel`).
const PTX_KERNEL_CALL_CONV: u32 = 71;
const GLOBAL_ADDRESS_SPACE: u16 = 1;
/// The most registers one thread may use.
const MAX_REGISTERS_PER_THREAD: u32 = 255;

/// What lowering a kernel settled that a launch needs.
pub(super) struct Lowered {
    pub shared_bytes: u32,
    pub tensor_maps: Vec<TensorMap>,
    /// Threads per program: the kernel's warps, plus the producer warpgroup where the
    /// kernel is specialized ([`super::specialize`]).
    pub threads: u32,
}

/// Lowers `kernel` into `module` as one entry function.
pub(super) fn lower_kernel<'ctx>(
    context: &'ctx Context,
    module: &Module<'ctx>,
    kernel: &Kernel,
    arch: crate::target::Arch,
    options: &super::CodegenOptions,
) -> Result<Lowered, CodegenError> {
    check_entry_name(&kernel.name)?;
    if !kernel.num_warps.is_power_of_two() || kernel.num_warps > 32 {
        return Err(CodegenError::Unsupported {
            what: format!("{} warps per program", kernel.num_warps),
            supported: "a power of two from 1 to 32".into(),
        });
    }
    checked_stages(kernel.num_stages)?;
    let plan = super::plan::assign(kernel)?;
    let format = OperandFormat::for_target(arch, options.mma);
    let maps = match options.tma {
        true => kernel_maps(kernel, &plan.placements, format),
        false => Vec::new(),
    };
    let split = specialization(kernel, arch, options, &plan.placements).ok();
    let abi = kernel_abi(kernel, &maps);
    let function = declare_entry(context, module, kernel, &abi, split.as_ref().map(|(split, _)| *split));
    let builder = context.create_builder();
    builder.position_at_end(context.append_basic_block(function, "entry"));
    let (params, tensor_maps) = entry_params(context, &builder, function, kernel, &maps)?;
    let entry = Entry { function, params, tensor_maps };
    let Some((split, slice)) = split else {
        let make =
            |builder| Lowerer::new(context, module, builder, kernel, entry.clone(), (arch, options), plan.clone());
        let (shared, _) = lower_per_group(make(builder)?, make)?;
        let threads = kernel.threads_per_program();
        return Ok(Lowered { shared_bytes: shared.finish(context, module), tensor_maps: maps, threads });
    };

    // The last warpgroup produces, the others consume; each lowers its slice of the body.
    let tid = super::build::intrinsic_result(module, &builder, "llvm.nvvm.read.ptx.sreg.tid.x", &[], &[])?;
    let consumer_bb = context.append_basic_block(function, "consumer");
    let producer_bb = context.append_basic_block(function, "producer");
    let consumer_threads = context.i32_type().const_int(u64::from(split.consumer_threads), false);
    let is_consumer = builder.build_int_compare(IntPredicate::ULT, as_int(tid)?, consumer_threads, "is.consumer")?;
    builder.build_conditional_branch(is_consumer, consumer_bb, producer_bb)?;
    builder.position_at_end(consumer_bb);
    let slice = Rc::new(slice);
    let consumer = |builder| {
        let mut lowerer = Lowerer::new(context, module, builder, kernel, entry.clone(), (arch, options), plan.clone())?;
        (lowerer.role, lowerer.slice) = (Role::Consumer, slice.clone());
        Ok(lowerer)
    };
    let first = consumer(builder)?;
    first.set_max_registers("inc", split.consumer_registers)?;
    // The producer initializes the barriers of the loops it starts at once before this.
    first.all_threads_barrier()?;
    let (shared, fed_loops) = lower_per_group(first, consumer)?;

    let builder = context.create_builder();
    builder.position_at_end(producer_bb);
    let mut producer = Lowerer::new(context, module, builder, kernel, entry, (arch, options), plan)?;
    (producer.role, producer.slice, producer.fed_loops) = (Role::Producer, slice, fed_loops);
    producer.set_max_registers("dec", PRODUCER_REGISTERS)?;
    producer.init_early_loops()?;
    producer.produce(&kernel.body.insts)?;
    producer.builder.build_return(None)?;
    Ok(Lowered { shared_bytes: shared.finish(context, module), tensor_maps: maps, threads: split.threads() })
}

/// Lowers the body once for each warp group ([`Kernel::num_groups`]), then returns from
/// the kernel: `first`, positioned where every thread of the groups runs, sends each
/// thread to its group's copy of the body, and `make` starts the lowering of each later
/// group there. The groups make the same shared-memory uses, each in its own region
/// (checked). Returns the shared memory and the fed loops as the first group laid them out.
fn lower_per_group<'a, 'ctx>(
    mut first: Lowerer<'a, 'ctx>,
    make: impl Fn(inkwell::builder::Builder<'ctx>) -> Result<Lowerer<'a, 'ctx>, CodegenError>,
) -> Result<(SharedMemory<'ctx>, super::specialize::FedLoops<'ctx>), CodegenError> {
    let lower_body = |lowerer: &mut Lowerer<'a, 'ctx>| -> Result<(), CodegenError> {
        lowerer.lower_insts(&lowerer.kernel.body.insts, None)?;
        lowerer.settle_products()?;
        lowerer.builder.build_return(None)?;
        Ok(())
    };
    let groups = first.groups;
    let blocks: Vec<_> = (0..groups).filter(|_| groups > 1).map(|g| first.block(&format!("group{g}"))).collect();
    if groups > 1 {
        let group = first.builder.build_int_unsigned_div(first.tid, first.i32(u64::from(first.threads)), "group")?;
        let cases: Vec<_> = (1..groups).map(|g| (first.i32(u64::from(g)), blocks[g as usize])).collect();
        first.builder.build_switch(group, blocks[0], &cases)?;
        first.builder.position_at_end(blocks[0]);
    }
    lower_body(&mut first)?;
    let fed_loops = std::mem::take(&mut first.fed_loops);
    let mut shared = first.take_shared();
    for g in 1..groups {
        let builder = first.context.create_builder();
        builder.position_at_end(blocks[g as usize]);
        let mut group = make(builder)?;
        let before = group.start_group(g, shared)?;
        lower_body(&mut group)?;
        if group.shared.trace() != before.as_slice() {
            return Err(CodegenError::InvalidIr(format!(
                "warp group {g} used shared memory unlike group {}: {:?} against {before:?}",
                g - 1,
                group.shared.trace()
            )));
        }
        shared = group.take_shared();
    }
    Ok((shared, fed_loops))
}

/// The warpgroups' split and the producer's slice where `options` ask for a producer
/// warpgroup and the kernel can take one ([`super::specialize`]); otherwise why it is
/// lowered whole.
pub(super) fn specialization(
    kernel: &Kernel,
    arch: crate::target::Arch,
    options: &super::CodegenOptions,
    placements: &[Placement],
) -> Result<(Split, ProducerSlice), String> {
    if options.specialize == Specialize::Off {
        return Err("not asked for (specialize: off)".into());
    }
    if arch != crate::target::Arch::Sm90a || options.mma != super::MmaLowering::Wgmma || !options.tma {
        return Err(format!(
            "it takes sm_90a with wgmma and TMA; this is {arch} with {}{}",
            options.mma.name(),
            if options.tma { "" } else { ", TMA off" }
        ));
    }
    let threads = kernel.threads_per_program();
    let split = Split::of(threads, kernel.occupancy).ok_or_else(|| match kernel.occupancy {
        Some(n) => format!(
            "{threads} threads per program with occupancy({n}); it takes whole warpgroups, at most 1024 threads \
             with the producer, and registers for the consumers above the entry's share"
        ),
        None => {
            format!("{threads} threads per program; it takes whole warpgroups, at most 1024 threads with the producer")
        }
    })?;
    let mut slice = producer_slice(kernel, placements, OperandFormat::for_target(arch, options.mma))?;
    // The producer feeds every warp group the same tiles: nothing it computes may differ
    // between them.
    let variant = super::specialize::group_variant(kernel);
    if let Some(v) = slice.values.iter().find(|v| variant.contains(v)) {
        return Err(format!(
            "the bounds or tile corners of a loop it would feed ({v}) depend on group_id(); the groups share \
             the producer's copies, so they must be the same for every group"
        ));
    }
    if options.specialize != Specialize::Early || kernel.num_groups > 1 {
        slice.may_start_early.clear();
    }
    Ok((split, slice))
}

/// The PTX `.entry` name is the kernel name, so it must be a PTX identifier LLVM keeps as is.
fn check_entry_name(name: &str) -> Result<(), CodegenError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(CodegenError::Unsupported {
            what: format!("kernel name `{name}`"),
            supported: "ASCII letters, digits and `_`, not starting with a digit".into(),
        })
    }
}

/// The entry function: parameters as `abi` ([`kernel_abi`]) lists them, the `ptx_kernel`
/// calling convention, and `.maxntid` so ptxas budgets registers for the real block size
/// (with a producer warpgroup, `split`, `.minnctapersm` too: `setmaxnreg` needs a
/// register count fixed at entry).
fn declare_entry<'ctx>(
    context: &'ctx Context,
    module: &Module<'ctx>,
    kernel: &Kernel,
    abi: &[AbiParam],
    split: Option<Split>,
) -> FunctionValue<'ctx> {
    let global = context.ptr_type(AddressSpace::from(GLOBAL_ADDRESS_SPACE));
    let generic = context.ptr_type(AddressSpace::default());
    let params: Vec<BasicMetadataTypeEnum> = abi
        .iter()
        .map(|p| match p.kind {
            AbiKind::Ptr => global.into(),
            AbiKind::U32 => context.i32_type().into(),
            AbiKind::U64 => context.i64_type().into(),
            AbiKind::F32 => context.f32_type().into(),
            AbiKind::TensorMap => generic.into(),
        })
        .collect();
    let function = module.add_function(&kernel.name, context.void_type().fn_type(&params, false), None);
    function.set_call_conventions(PTX_KERNEL_CALL_CONV);
    // A tensor map is a by-value `.param` the kernel reads in place: `byval` of its 128
    // bytes, 64-byte aligned, and `nvvm.grid_constant` so NVPTX hands out the param's
    // generic address (`cvta.param`) instead of copying it to local memory.
    let map_type = context.i8_type().array_type(TENSOR_MAP_BYTES as u32);
    for (i, _) in abi.iter().enumerate().filter(|(_, p)| p.kind == AbiKind::TensorMap) {
        let at = inkwell::attributes::AttributeLoc::Param(i as u32);
        let byval = Attribute::get_named_enum_kind_id("byval");
        function.add_attribute(at, context.create_type_attribute(byval, map_type.as_any_type_enum()));
        let align = Attribute::get_named_enum_kind_id("align");
        function.add_attribute(at, context.create_enum_attribute(align, TENSOR_MAP_ALIGN as u64));
        function.add_attribute(at, context.create_string_attribute("nvvm.grid_constant", ""));
    }
    let threads = split.map_or(kernel.threads_per_program(), |s| s.threads());
    let attribute = |name: &str, value: u32| {
        let value = value.to_string();
        function
            .add_attribute(inkwell::attributes::AttributeLoc::Function, context.create_string_attribute(name, &value));
    };
    attribute("nvvm.maxntid", threads);
    match split {
        Some(split) => attribute("nvvm.minctasm", split.programs_per_sm),
        None => attribute("nvvm.maxnreg", max_registers(threads, kernel.occupancy)),
    }
    function
}

/// `.maxnreg` of an unspecialized kernel. Left alone, ptxas (sm_80) may cap a 256-thread
/// kernel at 128 registers to fit two programs per SM, and spill; so without `occupancy`
/// a thread gets the whole one-program budget. With `occupancy(N)` it gets the share that
/// fits N programs, in whole steps of the register file's allocation (8 a thread), and
/// ptxas spills what does not fit.
pub(super) fn max_registers(threads: u32, occupancy: Option<u32>) -> u32 {
    match occupancy {
        None => (REGISTERS_PER_SM / threads).min(MAX_REGISTERS_PER_THREAD),
        Some(programs) => {
            (REGISTERS_PER_SM / (threads * programs) / REGISTER_STEP * REGISTER_STEP).min(MAX_REGISTERS_PER_THREAD)
        }
    }
}

/// Groups the flat entry parameters back into one [`ParamValue`] per IR parameter, and
/// the tensor maps after them by the map they carry.
fn entry_params<'ctx>(
    context: &'ctx Context,
    builder: &inkwell::builder::Builder<'ctx>,
    function: FunctionValue<'ctx>,
    kernel: &Kernel,
    maps: &[TensorMap],
) -> Result<(Vec<ParamValue<'ctx>>, MapParams<'ctx>), CodegenError> {
    let mut flat = function.get_param_iter();
    let mut next =
        |what: &str| flat.next().ok_or_else(|| CodegenError::Llvm(format!("entry lacks the {what} parameter")));
    let mut out = Vec::with_capacity(kernel.params.len());
    for param in &kernel.params {
        out.push(match param {
            Param::Tensor { dims, aligned, .. } => {
                let BasicValueEnum::PointerValue(base) = next("pointer")? else {
                    return Err(CodegenError::Llvm("a tensor's first entry parameter is not a pointer".into()));
                };
                let sizes = (0..dims.len()).map(|_| next("size").and_then(as_int)).collect::<Result<_, _>>()?;
                let mut strides: Vec<IntValue> =
                    (0..dims.len()).map(|_| next("stride").and_then(as_int)).collect::<Result<_, _>>()?;
                // The contract makes the last stride 1: a constant folds into every address.
                if let (true, Some(last)) = (*aligned, strides.last_mut()) {
                    *last = context.i64_type().const_int(1, false);
                }
                ParamValue::Tensor { base, sizes, strides, aligned: *aligned }
            }
            Param::Scalar { dtype: DType::F32 | DType::I32, .. } => ParamValue::Scalar(next("scalar")?),
            Param::Scalar { dtype: DType::Bool, .. } => {
                let word = as_int(next("scalar")?)?;
                let zero = context.i32_type().const_zero();
                ParamValue::Scalar(builder.build_int_compare(IntPredicate::NE, word, zero, "")?.into())
            }
            Param::Scalar { name, dtype } => {
                return Err(CodegenError::Unsupported {
                    what: format!("scalar parameter `{name}` of type {dtype}"),
                    supported: "f32, i32 and bool scalar parameters".into(),
                })
            }
        });
    }
    let mut map_params = MapParams::new();
    for map in maps {
        let BasicValueEnum::PointerValue(p) = next("tensor map")? else {
            return Err(CodegenError::Llvm("a tensor map's entry parameter is not a pointer".into()));
        };
        map_params.insert(map.clone(), p);
    }
    Ok((out, map_params))
}

impl<'ctx> Lowerer<'_, 'ctx> {
    /// Lowers the instructions of a `for` or `if` block (its arguments already defined)
    /// and returns the registers of its closing `yield`, each in the layout of the
    /// value in `expected` it becomes.
    /// With `turns`, this warpgroup waits for its turn before the instruction that
    /// starts it and passes the turn on after the one that ends it ([`super::pingpong`]).
    fn lower_nested(
        &mut self,
        block: &Block,
        expected: &[ValueId],
        turns: Option<Turns>,
    ) -> Result<Vec<Regs<'ctx>>, CodegenError> {
        let Some((last, body)) = block.insts.split_last() else {
            return Err(CodegenError::InvalidIr("an empty `for`/`if` block; it must end with a yield".into()));
        };
        self.enter_block();
        let yielded = (|| {
            self.lower_insts(body, turns)?;
            match &last.op {
                Op::Yield { values } => {
                    let regs = self.yielded_regs(values, expected)?;
                    self.settle_products()?;
                    Ok(regs)
                }
                other => Err(CodegenError::InvalidIr(format!(
                    "a `for`/`if` block ends with `{}`, not a yield",
                    op_name(other)
                ))),
            }
        })();
        self.leave_block();
        yielded
    }

    /// Lowers `insts` in order; consecutive staged loads go together (one pair of
    /// barriers for all of them).
    pub(super) fn lower_insts(&mut self, insts: &[Inst], turns: Option<Turns>) -> Result<(), CodegenError> {
        let mut i = 0;
        while i < insts.len() {
            let staged = insts[i..]
                .iter()
                .take_while(|inst| match inst.results.as_slice() {
                    [r] => {
                        matches!(inst.op, Op::Load { .. }) && self.placement(*r).is_ok_and(|p| *p == Placement::Staged)
                    }
                    _ => false,
                })
                .collect::<Vec<_>>();
            if staged.is_empty() {
                if turns.is_some_and(|t| t.first == i) {
                    self.take_turn()?;
                }
                self.lower_inst(&insts[i])?;
                if turns.is_some_and(|t| t.last == i) {
                    self.pass_turn()?;
                }
                i += 1;
            } else {
                i += staged.len();
                self.lower_staged(&staged)?;
            }
        }
        Ok(())
    }

    pub(super) fn lower_inst(&mut self, inst: &Inst) -> Result<(), CodegenError> {
        let single = || match inst.results.as_slice() {
            [r] => Ok(*r),
            rs => Err(CodegenError::InvalidIr(format!(
                "`{}` defines {} values; it defines one",
                op_name(&inst.op),
                rs.len()
            ))),
        };
        match &inst.op {
            Op::Store { tensor, indices, value } => self.store(*tensor, indices, *value),
            // Products do not run across control flow (`codegen::wgmma`).
            Op::For { lower, upper, step, init, body } => {
                self.settle_products()?;
                self.lower_for(*lower, *upper, *step, init, body, &inst.results)
            }
            Op::If { cond, then_block, else_block } => {
                if issues_products(then_block) || issues_products(else_block) {
                    self.settle_products()?;
                    return self.lower_if(*cond, then_block, else_block, &inst.results);
                }
                // Arms that issue no product leave the running ones running (the softmax
                // of a masked tile overlaps the previous tile's product as an unmasked
                // one's does): only the products they read complete first.
                self.await_products_read(&[then_block, else_block])?;
                let running = std::mem::take(&mut self.in_flight);
                let lowered = self.lower_if(*cond, then_block, else_block, &inst.results);
                self.in_flight = running;
                lowered
            }
            Op::Yield { .. } => Err(CodegenError::InvalidIr("a yield that does not end a `for`/`if` block".into())),
            Op::Dot { .. } if self.fused_adds.values().any(|(dot, _)| inst.results.contains(dot)) => Ok(()),
            op => {
                let result = single()?;
                // A value placed at use is computed by each of its uses (`get_in`).
                // A prefetched tile is copied at the top of its loop (`codegen::prefetch`).
                let Placement::Fixed(layout) = self.placement(result)?.clone() else {
                    return Ok(());
                };
                let regs = self.lower_value_op(op, result, &layout)?;
                self.define(result, regs)
            }
        }
    }

    /// The ops that define exactly one value, computed in `layout`.
    fn lower_value_op(&mut self, op: &Op, result: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        match op {
            Op::Const(literal) => self.constant(*literal, result, layout),
            Op::ProgramId { axis } => self.program_id(*axis),
            Op::GroupId => Ok(vec![self.i32(u64::from(self.group)).into()]),
            Op::Dim { tensor, axis } => self.dim(*tensor, *axis),
            Op::Arg { param } => self.arg(*param),
            Op::Arange { start, len } => self.arange(*start, *len, result, layout),
            Op::Splat { value } => self.splat(*value, result, layout),
            Op::ExpandDims { value, axis } => self.expand_dims(*value, *axis, result, layout),
            Op::Broadcast { value } => self.broadcast(*value, result, layout),
            Op::Binary { .. } if self.fused_adds.contains_key(&result) => self.fused_add(result, layout),
            Op::Binary { op, lhs, rhs } => self.binary(*op, *lhs, *rhs, result, layout),
            Op::Unary { op, value } => self.unary(*op, *value, result, layout),
            Op::Cmp { op, lhs, rhs } => self.compare(*op, *lhs, *rhs, result, layout),
            Op::Select { cond, on_true, on_false } => self.select(*cond, *on_true, *on_false, result, layout),
            Op::Cast { value } => self.cast(*value, result, layout),
            Op::Dot { lhs, rhs } => self.dot(*lhs, *rhs, result, layout),
            Op::Trans { value } => self.trans(*value, result, layout),
            Op::Reduce { op, value, axis } => self.reduce(*op, *value, *axis, result, layout),
            Op::Scan { op, value, axis } => self.scan(*op, *value, *axis, result, layout),
            Op::BinSum { value, bins } => self.bin_sum(*value, *bins, result, layout),
            Op::Load { tensor, indices } => self.load(*tensor, indices, result, layout),
            Op::Store { .. } | Op::For { .. } | Op::If { .. } | Op::Yield { .. } => {
                Err(CodegenError::InvalidIr(format!("`{}` does not define one value", op_name(op))))
            }
        }
    }

    /// `for iv in (lower .. upper).step_by(step)`: a header that tests `iv < upper` with
    /// one phi per induction variable and per carried register, the body, and a latch
    /// that adds `step` (uniform bounds, so every thread takes the same trip count).
    fn lower_for(
        &mut self,
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: &[ValueId],
        body: &Block,
        results: &[ValueId],
    ) -> Result<(), CodegenError> {
        let (lower, upper, step) = (self.scalar_i32(lower)?, self.scalar_i32(upper)?, self.scalar_i32(step)?);
        let [iv, carried @ ..] = body.args.as_slice() else {
            return Err(CodegenError::InvalidIr("a for body has no induction variable argument".into()));
        };
        if carried.len() != init.len() || results.len() != init.len() {
            return Err(CodegenError::InvalidIr(format!(
                "a for loop carries {} values, its body takes {} and it defines {}",
                init.len(),
                carried.len(),
                results.len()
            )));
        }
        let mut init_regs: Vec<Regs<'ctx>> = Vec::with_capacity(init.len());
        for (i, &v) in init.iter().enumerate() {
            self.same_type(v, carried[i])?;
            self.same_type(v, results[i])?;
            let layout = self.layout_of(carried[i])?;
            init_regs.push(self.get_in(v, &layout)?);
        }

        // A loop the producer feeds whose shared memory nothing touched before may start
        // its copies at kernel start (`codegen::specialize`).
        let fresh = self.shared.untouched_above_top() && self.slice.may_start_early.contains(iv);
        // Prefetched dot operands: iterations 0 .. N - 1's tiles into stages 0 .. N - 1
        // (`codegen::prefetch`).
        let shared_mark = self.shared.mark();
        // A producer warpgroup issues the copies (`codegen::specialize`), into stages every
        // warp group reads.
        let fed = self.is_fed(*iv);
        let prefetches = self.prefetches_of(body, fed)?;
        let mut body_values = HashSet::new();
        defined_in(body, &mut body_values);
        // Deferred products keep one more iteration's stage busy, so copies run one
        // iteration less far ahead (`codegen::wgmma`).
        let deferred = if prefetches.is_empty() { Vec::new() } else { self.deferred_accumulators(body, carried)? };
        let copies_ahead = self.num_stages()? - 1 - u32::from(!deferred.is_empty());
        // Copies by TMA complete on one barrier per stage; the others on commit groups.
        let tma_bytes: u32 = prefetches.iter().filter_map(|p| p.tma.as_ref()).map(|t| t.boxes * t.box_bytes).sum();
        let cp_async = prefetches.iter().any(|p| p.tma.is_none());
        // Warpgroups take turns only where no CTA barrier per iteration holds them in step.
        let turns = if tma_bytes > 0 && !cp_async { self.turns_of(body)? } else { None };
        if fed && (tma_bytes == 0 || cp_async) {
            return Err(CodegenError::InvalidIr(format!(
                "the producer feeds the loop of {iv}, which copies with cp.async"
            )));
        }
        let tma = match tma_bytes {
            0 => None,
            bytes => {
                // Warps release stages on barriers of their own only where no cp.async copy
                // needs the CTA barrier anyway.
                let release = (self.decoupled || turns.is_some() || fed) && !cp_async;
                let init = match (fed, fresh) {
                    (false, _) => BarrierInit::Here,
                    (true, false) => BarrierInit::HereWithProducer,
                    (true, true) => BarrierInit::AtKernelStart,
                };
                let barriers = self.init_stage_barriers(self.num_stages()?, bytes, release, init)?;
                if fed {
                    let early = init == BarrierInit::AtKernelStart;
                    self.fed_loops.insert(*iv, FedLoop { prefetches: prefetches.clone(), barriers, early });
                }
                let issuer = if turns.is_some() { self.turns_copy_issuer() } else { 0 };
                Some(TmaLoop { barriers, upper, phases: None, issuer })
            }
        };
        if !prefetches.is_empty() && !fed {
            self.copy_prologue(&prefetches, *iv, (lower, step), copies_ahead, &body_values, tma)?;
        }
        if turns.is_some() {
            self.open_turns()?;
        }

        let preheader = self.current_block()?;
        let header = self.block("for.header");
        let body_block = self.block("for.body");
        let exit = self.block("for.exit");
        self.builder.build_unconditional_branch(header)?;

        self.builder.position_at_end(header);
        let iv_phi = self.builder.build_phi(self.context.i32_type(), "iv")?;
        iv_phi.add_incoming(&[(&lower, preheader)]);
        let phis: Vec<Vec<PhiValue<'ctx>>> = init_regs
            .iter()
            .map(|regs| {
                regs.iter()
                    .map(|r| {
                        let phi = self.builder.build_phi(r.get_type(), "carried")?;
                        phi.add_incoming(&[(r, preheader)]);
                        Ok(phi)
                    })
                    .collect::<Result<Vec<_>, CodegenError>>()
            })
            .collect::<Result<_, _>>()?;
        let stage_phi = self.builder.build_phi(self.context.i32_type(), "stage")?;
        stage_phi.add_incoming(&[(&self.i32(0), preheader)]);
        // Bit s: the parity of the phase stage s's barrier completes next.
        let phase_phi = match tma {
            Some(_) => {
                let phi = self.builder.build_phi(self.context.i32_type(), "tma.phases")?;
                phi.add_incoming(&[(&self.i32(0), preheader)]);
                Some(phi)
            }
            None => None,
        };
        let stage = as_int(stage_phi.as_basic_value())?;
        let iv_value = as_int(iv_phi.as_basic_value())?;
        let more = self.builder.build_int_compare(IntPredicate::SLT, iv_value, upper, "")?;
        self.builder.build_conditional_branch(more, body_block, exit)?;

        self.builder.position_at_end(body_block);
        self.define(*iv, vec![iv_phi.as_basic_value()])?;
        for (&arg, phis) in carried.iter().zip(&phis) {
            self.define(arg, phis.iter().map(|p| p.as_basic_value()).collect())?;
        }
        let next_stage = self.stage_plus(stage, 1)?;
        let mut next_phases = None;
        if !prefetches.is_empty() {
            // Everyone is done reading the stage the iteration `N - copies_ahead` back read
            // (the last one, or with deferred products the one before), so it can be
            // refilled with the tiles of iteration + copies_ahead; then this stage must be
            // complete.
            if !deferred.is_empty() {
                self.wait_products(deferred.len() as u32)?;
            }
            let release = tma.filter(|t| t.barriers.release);
            if release.is_none() {
                self.barrier()?;
            }
            let (ahead, fill_stage) = if copies_ahead == 1 {
                (step, next_stage)
            } else {
                let ahead = self.builder.build_int_mul(step, self.i32(u64::from(copies_ahead)), "")?;
                (ahead, self.stage_plus(stage, copies_ahead)?)
            };
            if let (Some(t), true) = (release, fed) {
                // The producer refills the stage the last iteration read once every warp is
                // done with it: here, or with deferred products once they complete.
                let previous = self.stage_plus(stage, self.num_stages()? - 1)?;
                let reused = self.builder.build_int_compare(IntPredicate::SGT, iv_value, lower, "")?;
                self.release_when_complete(t.barriers, previous, reused, !deferred.is_empty())?;
            } else if let Some(t) = release {
                // The stage refilled below was read `held` iterations ago, and this warp is
                // done with it (its products on it are complete).
                let held = self.num_stages()? - copies_ahead;
                let b = &self.builder;
                let first_reuse = b.build_int_add(lower, b.build_int_mul(step, self.i32(u64::from(held)), "")?, "")?;
                let reused = b.build_int_compare(IntPredicate::SGE, iv_value, first_reuse, "")?;
                self.release_stage(t.barriers, fill_stage, reused)?;
            }
            let ahead_iv = self.builder.build_int_add(iv_value, ahead, "")?;
            self.enter_block();
            let phases = phase_phi.map(|phi| as_int(phi.as_basic_value())).transpose()?;
            let body_tma = tma.map(|t| TmaLoop { phases, ..t });
            let copied = match fed {
                true => Ok(()),
                false => self.copy_ahead(&prefetches, *iv, ahead_iv, &body_values, fill_stage, body_tma),
            };
            self.leave_block();
            copied?;
            if cp_async {
                self.wait_copies(copies_ahead)?;
                self.publish_operands()?;
            }
            if let (Some(tma), Some(phi)) = (tma, phase_phi) {
                let phases = as_int(phi.as_basic_value())?;
                let parity = self.phase_parity(phases, stage)?;
                self.wait_barrier(self.stage_barrier(tma.barriers, stage)?, parity)?;
                let b = &self.builder;
                let flipped = b.build_xor(phases, b.build_left_shift(self.i32(1), stage, "")?, "tma.phases.next")?;
                next_phases = Some(flipped);
            }
            for p in &prefetches {
                let address = self.stage_address(p, stage)?;
                self.set_shared_tile_address(p.value, address);
            }
        }
        let outer_deferred = std::mem::replace(&mut self.deferred, deferred.iter().copied().collect());
        let next_regs = self.lower_nested(body, carried, turns);
        self.deferred = outer_deferred;
        let next_regs = next_regs?;
        self.release_at_body_end(deferred.len() as u32)?;
        let latch = self.current_block()?;
        let next_iv = self.builder.build_int_add(iv_value, step, "iv.next")?;
        self.builder.build_unconditional_branch(header)?;
        iv_phi.add_incoming(&[(&next_iv, latch)]);
        stage_phi.add_incoming(&[(&next_stage, latch)]);
        if let (Some(phi), Some(next)) = (phase_phi, next_phases) {
            phi.add_incoming(&[(&next, latch)]);
        }
        for (phis, regs) in phis.iter().zip(&next_regs) {
            for (phi, reg) in phis.iter().zip(regs) {
                phi.add_incoming(&[(reg, latch)]);
            }
        }

        self.builder.position_at_end(exit);
        if turns.is_some() {
            self.close_turns()?;
        }
        if cp_async {
            // The copies past the last iteration are still in flight.
            self.wait_copies(0)?;
        }
        if let Some(tma) = tma {
            self.release_stage_barriers(tma.barriers)?;
        }
        let yielded = match body.insts.last().map(|inst| &inst.op) {
            Some(Op::Yield { values }) => values.as_slice(),
            _ => &[],
        };
        for ((&result, phis), yielded) in
            results.iter().zip(&phis).zip(yielded.iter().map(Some).chain(std::iter::repeat(None)))
        {
            let regs: Regs<'ctx> = phis.iter().map(|p| p.as_basic_value()).collect();
            let regs =
                if yielded.is_some_and(|y| deferred.contains(y)) { self.complete_products(&regs)? } else { regs };
            self.define(result, regs)?;
        }
        if self.shared.mark() != shared_mark {
            // The loop's shared buffers go back to the stack once no thread reads them:
            // its copies and (just above) its deferred products, which read its stages,
            // are complete in this thread, and the barrier makes that so in every thread
            // (of every warp group, where they shared the stages).
            if fed {
                self.groups_barrier()?;
            } else {
                self.barrier()?;
            }
            self.shared.release(shared_mark);
        }
        Ok(())
    }

    /// `if`: the condition is a uniform scalar, so threads never diverge here.
    fn lower_if(
        &mut self,
        cond: ValueId,
        then_block: &Block,
        else_block: &Block,
        results: &[ValueId],
    ) -> Result<(), CodegenError> {
        let cond = as_int(self.scalar(cond, DType::Bool)?)?;
        let cond = self.warp_uniform(cond)?;
        let then_bb = self.block("if.then");
        let else_bb = self.block("if.else");
        let merge = self.block("if.end");
        self.builder.build_conditional_branch(cond, then_bb, else_bb)?;

        let mut arms = Vec::with_capacity(2);
        for (block, bb) in [(then_block, then_bb), (else_block, else_bb)] {
            self.builder.position_at_end(bb);
            let regs = self.lower_nested(block, results, None)?;
            arms.push((regs, self.current_block()?));
            self.builder.build_unconditional_branch(merge)?;
        }

        self.builder.position_at_end(merge);
        self.merge_arms(results.iter().copied(), &arms)
    }

    /// At an `if`'s merge block: defines each of `results` by phis of the registers each
    /// arm yielded for it (`arms`: per arm, one register list per result, and the block the
    /// arm ends in).
    pub(super) fn merge_arms(
        &mut self,
        results: impl Iterator<Item = ValueId>,
        arms: &[(Vec<Regs<'ctx>>, inkwell::basic_block::BasicBlock<'ctx>)],
    ) -> Result<(), CodegenError> {
        let Some((first, _)) = arms.first() else {
            return Err(CodegenError::InvalidIr("an `if` with no arms".into()));
        };
        for (i, result) in results.enumerate() {
            let merged = (0..first[i].len())
                .map(|r| {
                    let phi = self.builder.build_phi(first[i][r].get_type(), "")?;
                    for (regs, end) in arms {
                        phi.add_incoming(&[(&regs[i][r], *end)]);
                    }
                    Ok(phi.as_basic_value())
                })
                .collect::<Result<Regs<'ctx>, CodegenError>>()?;
            self.define(result, merged)?;
        }
        Ok(())
    }

    /// The registers of a block's yielded values, checked against the types `expected` has.
    fn yielded_regs(&mut self, yielded: &[ValueId], expected: &[ValueId]) -> Result<Vec<Regs<'ctx>>, CodegenError> {
        if yielded.len() != expected.len() {
            return Err(CodegenError::InvalidIr(format!(
                "a block yields {} values where {} are expected",
                yielded.len(),
                expected.len()
            )));
        }
        yielded
            .iter()
            .zip(expected)
            .map(|(&y, &e)| {
                self.same_type(y, e)?;
                let layout = self.layout_of(e)?;
                self.get_in(y, &layout)
            })
            .collect()
    }

    pub fn same_type(&self, a: ValueId, b: ValueId) -> Result<(), CodegenError> {
        let (ta, tb) = (self.ty(a)?, self.ty(b)?);
        if ta == tb {
            Ok(())
        } else {
            Err(CodegenError::InvalidIr(format!("{a} has type {ta} but {b} has type {tb}; they must be equal")))
        }
    }
}

/// Whether `block`, nested blocks included, issues a `dot` (which may lower to a `wgmma`
/// product and its commit group).
fn issues_products(block: &Block) -> bool {
    block.insts.iter().any(|inst| match &inst.op {
        Op::Dot { .. } => true,
        Op::For { body, .. } => issues_products(body),
        Op::If { then_block, else_block, .. } => issues_products(then_block) || issues_products(else_block),
        _ => false,
    })
}
