//! State shared by every lowering step: the LLVM handles, the kernel's parameters, the
//! registers of each Tile IR value already lowered, and how values map to LLVM types
//! and to the thread layout.

use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::types::{BasicTypeEnum, VectorType};
use inkwell::values::{BasicValueEnum, FloatValue, FunctionValue, IntValue, PointerValue};
use inkwell::IntPredicate;

use super::build::intrinsic_result;
use super::layout::Layout;
use super::shared::SharedMemory;
use super::CodegenError;
use crate::ir::{DType, Kernel, Type, ValueId};

/// One thread's registers of a value, register `r` as [`Layout`] numbers them. A scalar has one.
pub(super) type Regs<'ctx> = Vec<BasicValueEnum<'ctx>>;

/// A kernel parameter as the entry function receives it (see [`crate::abi`]).
pub(super) enum ParamValue<'ctx> {
    Tensor { base: PointerValue<'ctx>, sizes: Vec<IntValue<'ctx>>, strides: Vec<IntValue<'ctx>> },
    Scalar(BasicValueEnum<'ctx>),
}

pub(super) struct Lowerer<'a, 'ctx> {
    pub context: &'ctx Context,
    pub module: &'a Module<'ctx>,
    pub builder: Builder<'ctx>,
    pub function: FunctionValue<'ctx>,
    pub kernel: &'a Kernel,
    pub threads: u32,
    /// `tid.x`, read once at entry.
    pub tid: IntValue<'ctx>,
    pub params: Vec<ParamValue<'ctx>>,
    pub shared: SharedMemory<'ctx>,
    values: Vec<Option<Regs<'ctx>>>,
}

impl<'a, 'ctx> Lowerer<'a, 'ctx> {
    /// Starts lowering into `function`, whose entry block `builder` is positioned in.
    pub fn new(
        context: &'ctx Context,
        module: &'a Module<'ctx>,
        builder: Builder<'ctx>,
        function: FunctionValue<'ctx>,
        kernel: &'a Kernel,
        params: Vec<ParamValue<'ctx>>,
    ) -> Result<Self, CodegenError> {
        let tid = intrinsic_result(module, &builder, "llvm.nvvm.read.ptx.sreg.tid.x", &[], &[])?;
        Ok(Lowerer {
            context,
            module,
            builder,
            function,
            kernel,
            threads: kernel.threads_per_program(),
            tid: as_int(tid)?,
            params,
            shared: SharedMemory::default(),
            values: vec![None; kernel.value_types.len()],
        })
    }

    pub fn ty(&self, v: ValueId) -> Result<&'a Type, CodegenError> {
        self.kernel.value_types.get(v.0 as usize).ok_or_else(|| CodegenError::InvalidIr(format!("{v} has no type")))
    }

    pub fn layout(&self, ty: &Type) -> Result<Layout, CodegenError> {
        Layout::of(ty, self.threads)
    }

    pub fn get(&self, v: ValueId) -> Result<&Regs<'ctx>, CodegenError> {
        self.values
            .get(v.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| CodegenError::InvalidIr(format!("{v} is used before it is defined")))
    }

    /// The register of a rank-0 value.
    pub fn scalar(&self, v: ValueId, dtype: DType) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let ty = self.ty(v)?;
        if *ty != Type::scalar(dtype) {
            return Err(CodegenError::InvalidIr(format!("{v} must be a {dtype} scalar; it is {ty}")));
        }
        Ok(self.get(v)?[0])
    }

    pub fn scalar_i32(&self, v: ValueId) -> Result<IntValue<'ctx>, CodegenError> {
        as_int(self.scalar(v, DType::I32)?)
    }

    pub fn define(&mut self, v: ValueId, regs: Regs<'ctx>) -> Result<(), CodegenError> {
        let expected = self.layout(self.ty(v)?)?.regs();
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
        let thread = self.builder.build_and(self.tid, self.i32((1 << layout.thread_bits) - 1), "")?;
        let thread_part = self.builder.build_left_shift(thread, self.i32(u64::from(layout.vec_bits)), "")?;
        Ok(self.builder.build_or(thread_part, self.i32(u64::from(layout.reg_flat_bits(reg))), "")?)
    }

    /// Whether this thread owns (rather than replicates) its elements of `layout`.
    pub fn is_owner(&self, layout: &Layout) -> Result<IntValue<'ctx>, CodegenError> {
        if !layout.is_replicated(self.threads) {
            return Ok(self.bool(true));
        }
        Ok(self.builder.build_int_compare(IntPredicate::ULT, self.tid, self.i32(1 << layout.thread_bits), "owner")?)
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
