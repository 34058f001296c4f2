//! Ops that need no data from other threads: constants, special registers, parameters,
//! `arange`, `splat` and the elementwise ops, each register by register.
//!
//! Arithmetic is on f32, i32 and bool registers; f16/bf16 values can be loaded, stored,
//! selected, compared and cast (cast to f32 to compute on them).

use inkwell::types::BasicTypeEnum;
use inkwell::values::{BasicValueEnum, FastMathFlags, FloatValue};
use inkwell::{FloatPredicate, IntPredicate};

use super::context::{as_float, as_int, Lowerer, ParamValue, Regs};
use super::layout::Layout;
use super::CodegenError;
use crate::ir::{BinaryOp, CmpOp, DType, Literal, ParamId, Type, UnaryOp, ValueId};

const LOG2_E: f64 = std::f64::consts::LOG2_E;

fn unsupported(what: String, supported: &str) -> CodegenError {
    CodegenError::Unsupported { what, supported: supported.to_string() }
}

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn constant(&self, literal: Literal, result: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        let ty = self.ty(result)?;
        let reg_type = self.reg_type(ty.dtype);
        let value: BasicValueEnum = match (literal, ty.dtype, reg_type) {
            (Literal::Int(i), DType::I32, _) => {
                let v = i32::try_from(i).map_err(|_| unsupported(format!("integer literal {i}"), "i32 values"))?;
                self.context.i32_type().const_int(v as u64, true).into()
            }
            (Literal::Int(i), _, BasicTypeEnum::FloatType(f)) => f.const_float(i as f64).into(),
            (Literal::Float(x), _, BasicTypeEnum::FloatType(f)) => f.const_float(x).into(),
            (Literal::Bool(b), DType::Bool, _) => self.bool(b).into(),
            (literal, dtype, _) => {
                return Err(CodegenError::InvalidIr(format!("literal {literal:?} cannot be a {dtype} constant")))
            }
        };
        // A uniform value fills a tile by repetition.
        Ok(vec![value; layout.regs()])
    }

    pub fn program_id(&self, axis: u8) -> Result<Regs<'ctx>, CodegenError> {
        let register = match axis {
            0 => "llvm.nvvm.read.ptx.sreg.ctaid.x",
            1 => "llvm.nvvm.read.ptx.sreg.ctaid.y",
            2 => "llvm.nvvm.read.ptx.sreg.ctaid.z",
            _ => return Err(CodegenError::InvalidIr(format!("program_id axis {axis}; axes are 0, 1 and 2"))),
        };
        Ok(vec![self.intrinsic_value(register, &[], &[])?])
    }

    pub fn dim(&self, tensor: ParamId, axis: u32) -> Result<Regs<'ctx>, CodegenError> {
        let (_, sizes, _) = self.tensor(tensor)?;
        let size = sizes
            .get(axis as usize)
            .ok_or_else(|| CodegenError::InvalidIr(format!("dim {axis} of a rank-{} tensor parameter", sizes.len())))?;
        Ok(vec![(*size).into()])
    }

    pub fn arg(&self, param: ParamId) -> Result<Regs<'ctx>, CodegenError> {
        match self.params.get(param.0 as usize) {
            Some(ParamValue::Scalar(v)) => Ok(vec![*v]),
            _ => Err(CodegenError::InvalidIr(format!("arg of parameter {}, which is not a scalar", param.0))),
        }
    }

    /// Register `r` holds `start + f`, `f` its flat index.
    pub fn arange(
        &mut self,
        start: ValueId,
        len: u32,
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let ty = self.ty(result)?;
        if *ty != Type::tile(DType::I32, vec![len]) {
            return Err(CodegenError::InvalidIr(format!("arange of {len} must give i32[{len}], not {ty}")));
        }
        let start = self.scalar_i32(start)?;
        (0..layout.regs())
            .map(|r| Ok(self.builder.build_int_add(start, self.flat_index(layout, r)?, "")?.into()))
            .collect()
    }

    pub fn splat(&mut self, value: ValueId, result: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        let ty = self.ty(result)?;
        let v = self.scalar(value, ty.dtype)?;
        Ok(vec![v; layout.regs()])
    }

    pub fn binary(
        &mut self,
        op: BinaryOp,
        lhs: ValueId,
        rhs: ValueId,
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        self.same_type(lhs, rhs)?;
        self.same_type(lhs, result)?;
        let dtype = self.ty(result)?.dtype;
        let guarded =
            (dtype, op) == (DType::F32, BinaryOp::Mul) && self.rescales_by_a_factor_often_one(result, lhs, rhs);
        let (lhs, rhs) = (self.get_in(lhs, layout)?, self.get_in(rhs, layout)?);
        if guarded {
            if let Some(scaled) = self.guarded_scale(&lhs, &rhs)? {
                return Ok(scaled);
            }
        }
        let b = &self.builder;
        lhs.iter()
            .zip(&rhs)
            .map(|(&x, &y)| -> Result<BasicValueEnum<'ctx>, CodegenError> {
                Ok(match (dtype, op) {
                    (DType::F32, BinaryOp::Add) => contractable(b.build_float_add(as_float(x)?, as_float(y)?, "")?)?,
                    (DType::F32, BinaryOp::Sub) => contractable(b.build_float_sub(as_float(x)?, as_float(y)?, "")?)?,
                    (DType::F32, BinaryOp::Mul) => contractable(b.build_float_mul(as_float(x)?, as_float(y)?, "")?)?,
                    (DType::F32, BinaryOp::Div) => b.build_float_div(as_float(x)?, as_float(y)?, "")?.into(),
                    // maxnum/minnum ignore a NaN operand, as the interpreter does.
                    (DType::F32, BinaryOp::Max) => self.float_intrinsic("llvm.maxnum", &[x, y])?,
                    (DType::F32, BinaryOp::Min) => self.float_intrinsic("llvm.minnum", &[x, y])?,
                    (DType::I32, BinaryOp::Add) => b.build_int_add(as_int(x)?, as_int(y)?, "")?.into(),
                    (DType::I32, BinaryOp::Sub) => b.build_int_sub(as_int(x)?, as_int(y)?, "")?.into(),
                    (DType::I32, BinaryOp::Mul) => b.build_int_mul(as_int(x)?, as_int(y)?, "")?.into(),
                    (DType::I32, BinaryOp::Div) => b.build_int_signed_div(as_int(x)?, as_int(y)?, "")?.into(),
                    (DType::I32, BinaryOp::Rem) => b.build_int_signed_rem(as_int(x)?, as_int(y)?, "")?.into(),
                    (DType::I32, BinaryOp::Max) => {
                        self.intrinsic_value("llvm.smax", &[x.get_type()], &[x.into(), y.into()])?
                    }
                    (DType::I32, BinaryOp::Min) => {
                        self.intrinsic_value("llvm.smin", &[x.get_type()], &[x.into(), y.into()])?
                    }
                    (DType::Bool, BinaryOp::And) => b.build_and(as_int(x)?, as_int(y)?, "")?.into(),
                    (DType::Bool, BinaryOp::Or) => b.build_or(as_int(x)?, as_int(y)?, "")?.into(),
                    _ => {
                        return Err(unsupported(
                            format!("binary {op:?} on {dtype}"),
                            "add/sub/mul/div/max/min on f32; add/sub/mul/div/rem/max/min on i32; and/or on bool",
                        ))
                    }
                })
            })
            .collect()
    }

    pub fn unary(
        &mut self,
        op: UnaryOp,
        value: ValueId,
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        self.same_type(value, result)?;
        let dtype = self.ty(result)?.dtype;
        let regs = self.get_in(value, layout)?;
        let b = &self.builder;
        regs.iter()
            .map(|&x| -> Result<BasicValueEnum<'ctx>, CodegenError> {
                Ok(match (dtype, op) {
                    (DType::F32, UnaryOp::Neg) => b.build_float_neg(as_float(x)?, "")?.into(),
                    (DType::F32, UnaryOp::Abs) => self.float_intrinsic("llvm.fabs", &[x])?,
                    (DType::F32, UnaryOp::Exp2) => self.exp2(as_float(x)?)?,
                    (DType::F32, UnaryOp::Exp) => {
                        let scaled =
                            b.build_float_mul(as_float(x)?, self.context.f32_type().const_float(LOG2_E), "")?;
                        self.exp2(scaled)?
                    }
                    (DType::F32, UnaryOp::Log2) => self.intrinsic_value("llvm.nvvm.lg2.approx.f", &[], &[x.into()])?,
                    (DType::F32, UnaryOp::Sqrt) => self.float_intrinsic("llvm.sqrt", &[x])?,
                    (DType::F32, UnaryOp::Rsqrt) => {
                        self.intrinsic_value("llvm.nvvm.rsqrt.approx.f", &[], &[x.into()])?
                    }
                    (DType::I32, UnaryOp::Neg) => b.build_int_neg(as_int(x)?, "")?.into(),
                    (DType::I32, UnaryOp::Abs) => {
                        // `false`: abs(i32::MIN) wraps to i32::MIN instead of being poison.
                        self.intrinsic_value("llvm.abs", &[x.get_type()], &[x.into(), self.bool(false).into()])?
                    }
                    (DType::Bool, UnaryOp::Not) => b.build_not(as_int(x)?, "")?.into(),
                    _ => {
                        return Err(unsupported(
                            format!("unary {op:?} on {dtype}"),
                            "neg/abs/exp/exp2/log2/sqrt/rsqrt on f32; neg/abs on i32; not on bool",
                        ))
                    }
                })
            })
            .collect()
    }

    /// `ex2.approx.ftz.f32` (2 ulp), one MUFU.EX2: the form without `.ftz` keeps
    /// subnormal results at the cost of a compare and two multiplies around every
    /// exponential, which the softmax of attention pays per score. The language defines
    /// exp2 and exp to flush results below 2^-126 to 0 (docs/language.md), and the
    /// interpreter does the same.
    fn exp2(&self, x: FloatValue<'ctx>) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        self.intrinsic_value("llvm.nvvm.ex2.approx.ftz", &[x.get_type().into()], &[x.into()])
    }

    /// An overloaded float intrinsic, instantiated at the first operand's type.
    fn float_intrinsic(&self, name: &str, args: &[BasicValueEnum<'ctx>]) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let ty =
            args.first().map(|a| a.get_type()).ok_or_else(|| CodegenError::Llvm(format!("{name} without operands")))?;
        let args: Vec<_> = args.iter().map(|&a| a.into()).collect();
        self.intrinsic_value(name, &[ty], &args)
    }

    pub fn compare(
        &mut self,
        op: CmpOp,
        lhs: ValueId,
        rhs: ValueId,
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        self.same_type(lhs, rhs)?;
        let operand = self.ty(lhs)?;
        let ty = self.ty(result)?;
        if *ty != operand.with_dtype(DType::Bool) {
            return Err(CodegenError::InvalidIr(format!("comparing {operand} values gives {ty}, not bool")));
        }
        let (lhs, rhs) = (self.get_in(lhs, layout)?, self.get_in(rhs, layout)?);
        let b = &self.builder;
        lhs.iter()
            .zip(&rhs)
            .map(|(&x, &y)| -> Result<BasicValueEnum<'ctx>, CodegenError> {
                Ok(match operand.dtype {
                    // Compared in their own type: sm_90 has `setp.*.bf16`/`.f16`, and where
                    // the target lacks them LLVM widens to f32, which is exact either way.
                    DType::F32 | DType::F16 | DType::BF16 => {
                        b.build_float_compare(float_predicate(op), as_float(x)?, as_float(y)?, "")?.into()
                    }
                    DType::I32 => b.build_int_compare(int_predicate(op, true), as_int(x)?, as_int(y)?, "")?.into(),
                    DType::Bool => b.build_int_compare(int_predicate(op, false), as_int(x)?, as_int(y)?, "")?.into(),
                })
            })
            .collect()
    }

    fn widen(&self, x: FloatValue<'ctx>) -> Result<FloatValue<'ctx>, CodegenError> {
        let f32 = self.context.f32_type();
        Ok(if x.get_type() == f32 { x } else { self.builder.build_float_ext(x, f32, "")? })
    }

    pub fn select(
        &mut self,
        cond: ValueId,
        on_true: ValueId,
        on_false: ValueId,
        result: ValueId,
        layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        self.same_type(on_true, on_false)?;
        self.same_type(on_true, result)?;
        let ty = self.ty(result)?;
        let cond_ty = self.ty(cond)?;
        if *cond_ty != ty.with_dtype(DType::Bool) {
            return Err(CodegenError::InvalidIr(format!(
                "select on {ty} values needs a {} condition, not {cond_ty}",
                ty.with_dtype(DType::Bool)
            )));
        }
        let (c, t, f) = (self.get_in(cond, layout)?, self.get_in(on_true, layout)?, self.get_in(on_false, layout)?);
        c.iter().zip(&t).zip(&f).map(|((&c, &t), &f)| Ok(self.builder.build_select(as_int(c)?, t, f, "")?)).collect()
    }

    /// Floats round to nearest even; float→i32 truncates and saturates (NaN gives 0),
    /// like Rust's `as`; anything → bool is `!= 0`; bool → number is 0 or 1.
    pub fn cast(&mut self, value: ValueId, result: ValueId, layout: &Layout) -> Result<Regs<'ctx>, CodegenError> {
        let from = self.ty(value)?;
        let to = self.ty(result)?;
        if from.shape != to.shape {
            return Err(CodegenError::InvalidIr(format!("cast from {from} to {to} changes the shape")));
        }
        let target = self.reg_type(to.dtype);
        let regs = self.get_in(value, layout)?;
        let b = &self.builder;
        if from.dtype == DType::F32 && matches!(to.dtype, DType::BF16 | DType::F16) && regs.len() % 2 == 0 {
            return self.narrow_pairs(&regs, to.dtype);
        }
        regs.iter()
            .map(|&x| -> Result<BasicValueEnum<'ctx>, CodegenError> {
                Ok(match (from.dtype, to.dtype, target) {
                    (f, t, _) if f == t => x,
                    (DType::Bool, DType::I32, BasicTypeEnum::IntType(i)) => {
                        b.build_int_z_extend(as_int(x)?, i, "")?.into()
                    }
                    (DType::Bool, _, BasicTypeEnum::FloatType(t)) => {
                        b.build_unsigned_int_to_float(as_int(x)?, t, "")?.into()
                    }
                    (DType::I32, DType::Bool, _) => {
                        b.build_int_compare(IntPredicate::NE, as_int(x)?, as_int(self.zero(DType::I32))?, "")?.into()
                    }
                    (DType::I32, _, BasicTypeEnum::FloatType(t)) => {
                        b.build_signed_int_to_float(as_int(x)?, t, "")?.into()
                    }
                    (_, DType::Bool, _) => {
                        let zero = as_float(self.zero(from.dtype))?;
                        b.build_float_compare(FloatPredicate::UNE, as_float(x)?, zero, "")?.into()
                    }
                    (_, DType::I32, BasicTypeEnum::IntType(i)) => {
                        self.intrinsic_value("llvm.fptosi.sat", &[i.into(), x.get_type()], &[x.into()])?
                    }
                    (_, _, BasicTypeEnum::FloatType(t)) => self.float_convert(as_float(x)?, t)?.into(),
                    (f, t, _) => return Err(CodegenError::InvalidIr(format!("no cast from {f} to {t}"))),
                })
            })
            .collect()
    }

    /// f32 → bf16/f16 two registers at a time through `llvm.nvvm.ff2{bf16,f16}x2.rn`,
    /// one `cvt.rn.bf16x2.f32` (`f16x2`) per pair: half the conversions of the scalar
    /// path on the way to every 16-bit store. The intrinsic puts its first operand in
    /// the high half, so the pair goes in swapped.
    fn narrow_pairs(&self, regs: &Regs<'ctx>, to: DType) -> Result<Regs<'ctx>, CodegenError> {
        let name = match to {
            DType::BF16 => "llvm.nvvm.ff2bf16x2.rn",
            DType::F16 => "llvm.nvvm.ff2f16x2.rn",
            other => return Err(CodegenError::InvalidIr(format!("paired narrowing to {other}"))),
        };
        let b = &self.builder;
        let i32 = self.context.i32_type();
        let (lane0, lane1) = (i32.const_int(0, false), i32.const_int(1, false));
        let mut out = Vec::with_capacity(regs.len());
        for pair in regs.chunks_exact(2) {
            let packed = self.intrinsic_value(name, &[], &[pair[1].into(), pair[0].into()])?.into_vector_value();
            out.push(b.build_extract_element(packed, lane0, "")?);
            out.push(b.build_extract_element(packed, lane1, "")?);
        }
        Ok(out)
    }

    /// Float to float: widening is exact; narrowing goes through f32 so that bf16 ↔ f16
    /// rounds once, at the narrowing (`cvt.rn.bf16.f32` / `cvt.rn.f16.f32`).
    fn float_convert(
        &self,
        x: FloatValue<'ctx>,
        to: inkwell::types::FloatType<'ctx>,
    ) -> Result<FloatValue<'ctx>, CodegenError> {
        let wide = self.widen(x)?;
        let f32 = self.context.f32_type();
        Ok(if to == f32 { wide } else { self.builder.build_float_trunc(wide, to, "")? })
    }
}

/// `v`, an f32 add, subtract or multiply, marked as one that LLVM may fuse with another
/// into an `fma` (a product feeding a sum, rounded once), as nvcc does by default
/// (`--fmad=true`): `x * c - m` is one FFMA instead of an FMUL and an FADD, which the
/// softmax of every attention kernel runs once per score.
fn contractable(v: FloatValue<'_>) -> Result<BasicValueEnum<'_>, CodegenError> {
    if let Some(inst) = v.as_instruction() {
        inst.set_fast_math_flags(FastMathFlags::AllowContract)
            .map_err(|e| CodegenError::Llvm(format!("marking an f32 operation contractable: {e}")))?;
    }
    Ok(v.into())
}

fn float_predicate(op: CmpOp) -> FloatPredicate {
    match op {
        CmpOp::Lt => FloatPredicate::OLT,
        CmpOp::Le => FloatPredicate::OLE,
        CmpOp::Gt => FloatPredicate::OGT,
        CmpOp::Ge => FloatPredicate::OGE,
        CmpOp::Eq => FloatPredicate::OEQ,
        // Unordered: NaN != x is true, as in IEEE 754 and Rust.
        CmpOp::Ne => FloatPredicate::UNE,
    }
}

pub(super) fn int_predicate(op: CmpOp, signed: bool) -> IntPredicate {
    match (op, signed) {
        (CmpOp::Lt, true) => IntPredicate::SLT,
        (CmpOp::Le, true) => IntPredicate::SLE,
        (CmpOp::Gt, true) => IntPredicate::SGT,
        (CmpOp::Ge, true) => IntPredicate::SGE,
        (CmpOp::Lt, false) => IntPredicate::ULT,
        (CmpOp::Le, false) => IntPredicate::ULE,
        (CmpOp::Gt, false) => IntPredicate::UGT,
        (CmpOp::Ge, false) => IntPredicate::UGE,
        (CmpOp::Eq, _) => IntPredicate::EQ,
        (CmpOp::Ne, _) => IntPredicate::NE,
    }
}
