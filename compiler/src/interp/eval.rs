//! Executes Tile IR blocks: the SSA environment, control flow and each op.
//!
//! Every op computes its result type from its operands; [`Evaluator::define`] then
//! checks it against the declared type. That one check keeps every stored tile
//! consistent with `Kernel::value_types`, so malformed IR yields
//! [`InterpError::Malformed`] instead of a panic further on.

use super::elementwise::{self, Fault};
use super::error::{InterpError, Site};
use super::memory::{self, Access};
use super::shape;
use super::value::{ArgValue, GridArg, Tile};
use crate::ir::{op_name, Block, DType, Index, Inst, Kernel, Literal, Op, Param, ParamId, Type, ValueId, MAX_GROUPS};
use crate::tensor::{round_to, HostTensor};

/// The largest tile the interpreter allocates (2^24 elements, 128 MiB of f64), so
/// that IR declaring an absurd shape fails instead of exhausting memory.
pub(super) const MAX_TILE_ELEMENTS: u64 = 1 << 24;

fn malformed(op: &'static str, detail: impl Into<String>) -> InterpError {
    InterpError::Malformed { op, detail: detail.into() }
}

fn rank2(op: &'static str, ty: &Type) -> Result<[u32; 2], InterpError> {
    match ty.shape[..] {
        [a, b] => Ok([a, b]),
        _ => Err(malformed(op, format!("{ty} is not a rank-2 tile"))),
    }
}

/// The arguments an evaluation can see.
pub(super) enum Memory<'a> {
    /// The grid block runs on the host before any program: shapes and scalars only.
    Shapes(&'a [GridArg<'a>]),
    /// Programs read and write tensor data in place.
    Data(&'a mut [ArgValue]),
}

impl Memory<'_> {
    fn grid_arg(&self, p: ParamId) -> Option<GridArg<'_>> {
        match self {
            Memory::Shapes(args) => args.get(p.0 as usize).copied(),
            Memory::Data(args) => args.get(p.0 as usize).map(ArgValue::grid_arg),
        }
    }

    fn dim(&self, op: &'static str, p: ParamId, axis: u32) -> Result<f64, InterpError> {
        let size = self.grid_arg(p).and_then(|a| a.shape().and_then(|s| s.get(axis as usize).copied()));
        // Validated arguments have every size within i32.
        size.and_then(|s| i32::try_from(s).ok())
            .map(f64::from)
            .ok_or_else(|| malformed(op, format!("parameter {} has no tensor dimension {axis}", p.0)))
    }

    fn scalar(&self, op: &'static str, p: ParamId) -> Result<f64, InterpError> {
        self.grid_arg(p)
            .and_then(|a| a.scalar())
            .ok_or_else(|| malformed(op, format!("parameter {} is not a scalar", p.0)))
    }

    fn tensor(&self, op: &'static str, p: ParamId) -> Result<&HostTensor, InterpError> {
        match self {
            Memory::Shapes(_) => Err(InterpError::NotInGrid { op }),
            Memory::Data(args) => match args.get(p.0 as usize) {
                Some(ArgValue::Tensor(t)) => Ok(t),
                _ => Err(malformed(op, format!("parameter {} is not a tensor", p.0))),
            },
        }
    }

    fn tensor_mut(&mut self, op: &'static str, p: ParamId) -> Result<&mut HostTensor, InterpError> {
        match self {
            Memory::Shapes(_) => Err(InterpError::NotInGrid { op }),
            Memory::Data(args) => match args.get_mut(p.0 as usize) {
                Some(ArgValue::Tensor(t)) => Ok(t),
                _ => Err(malformed(op, format!("parameter {} is not a tensor", p.0))),
            },
        }
    }
}

/// SSA values of the current program, indexed by `ValueId`.
struct Env(Vec<Option<Tile>>);

impl Env {
    fn get(&self, op: &'static str, v: ValueId) -> Result<&Tile, InterpError> {
        self.0
            .get(v.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| malformed(op, format!("{v} is used before it is defined")))
    }
}

pub(super) struct Evaluator<'k, 'a> {
    kernel: &'k Kernel,
    memory: Memory<'a>,
    site: Site,
    env: Env,
}

impl<'k, 'a> Evaluator<'k, 'a> {
    pub fn new(kernel: &'k Kernel, memory: Memory<'a>) -> Self {
        Evaluator { kernel, memory, site: Site::Grid, env: Env(vec![None; kernel.value_types.len()]) }
    }

    /// Runs the grid block and returns what it yields.
    pub fn grid_block(&mut self) -> Result<Vec<Tile>, InterpError> {
        self.site = Site::Grid;
        let kernel = self.kernel;
        self.exec_block(&kernel.grid)
    }

    /// Runs the kernel body as program `program`, once per warp group in order
    /// (`groups(G)`: group `g` sees `group_id() == g`; a later group's stores land after
    /// an earlier one's).
    pub fn program(&mut self, program: [u32; 3]) -> Result<(), InterpError> {
        let groups = self.kernel.num_groups;
        if !(1..=MAX_GROUPS).contains(&groups) {
            let detail = format!("the kernel has {groups} groups; it must have 1..={MAX_GROUPS}");
            return Err(malformed("groups", detail));
        }
        for g in 0..groups {
            self.group(program, (groups > 1).then_some(g))?;
        }
        Ok(())
    }

    /// Runs the kernel body once, as warp group `group` of program `program`.
    fn group(&mut self, program: [u32; 3], group: Option<u32>) -> Result<(), InterpError> {
        self.site = Site::Program { ids: program, group };
        // Values of the previous program or group must not leak into this one: tiles are
        // per group.
        self.env.0.fill(None);
        let kernel = self.kernel;
        self.exec_block(&kernel.body)?;
        Ok(())
    }

    /// Runs `block` to its `Yield` and returns the yielded values (none without a yield).
    fn exec_block(&mut self, block: &'k Block) -> Result<Vec<Tile>, InterpError> {
        for inst in &block.insts {
            if let Some(yielded) = self.exec_inst(inst)? {
                return Ok(yielded);
            }
        }
        Ok(Vec::new())
    }

    /// Executes one instruction; returns `Some` for a `Yield`.
    fn exec_inst(&mut self, inst: &'k Inst) -> Result<Option<Vec<Tile>>, InterpError> {
        let name = op_name(&inst.op);
        match &inst.op {
            Op::Yield { values } => {
                let tiles = values.iter().map(|&v| self.env.get(name, v).cloned()).collect::<Result<_, _>>()?;
                return Ok(Some(tiles));
            }
            Op::Store { tensor, indices, value } => self.exec_store(*tensor, indices, *value)?,
            Op::For { lower, upper, step, init, body } => {
                let carried = self.exec_for(*lower, *upper, *step, init, body)?;
                self.define_all(name, &inst.results, carried)?;
            }
            Op::If { cond, then_block, else_block } => {
                let taken = if self.scalar(name, *cond)? != 0.0 { then_block } else { else_block };
                let yielded = self.exec_block(taken)?;
                self.define_all(name, &inst.results, yielded)?;
            }
            op => {
                let &[result] = inst.results.as_slice() else {
                    return Err(malformed(
                        name,
                        format!("it defines {} values; it must define one", inst.results.len()),
                    ));
                };
                let declared = self.declared_type(name, result)?;
                let tile = self.eval_value(name, op, declared)?;
                self.define(name, result, tile)?;
            }
        }
        Ok(None)
    }

    fn declared_type(&self, op: &'static str, v: ValueId) -> Result<&'k Type, InterpError> {
        let ty = self.kernel.value_types.get(v.0 as usize).ok_or_else(|| malformed(op, format!("{v} has no type")))?;
        let elements = ty.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(u64::from(d))).unwrap_or(u64::MAX);
        if elements > MAX_TILE_ELEMENTS {
            return Err(InterpError::TileTooLarge { elements, max: MAX_TILE_ELEMENTS });
        }
        Ok(ty)
    }

    fn define(&mut self, op: &'static str, v: ValueId, tile: Tile) -> Result<(), InterpError> {
        let declared = self.declared_type(op, v)?;
        if tile.ty != *declared || tile.data.len() as u64 != declared.num_elements() {
            return Err(malformed(op, format!("{v} is declared {declared} but evaluates to {}", tile.ty)));
        }
        self.env.0[v.0 as usize] = Some(tile);
        Ok(())
    }

    fn define_all(&mut self, op: &'static str, results: &[ValueId], tiles: Vec<Tile>) -> Result<(), InterpError> {
        if results.len() != tiles.len() {
            return Err(malformed(
                op,
                format!("its block yields {} values for {} results", tiles.len(), results.len()),
            ));
        }
        results.iter().zip(tiles).try_for_each(|(&v, tile)| self.define(op, v, tile))
    }

    fn scalar(&self, op: &'static str, v: ValueId) -> Result<f64, InterpError> {
        let tile = self.env.get(op, v)?;
        match tile.data.as_slice() {
            [x] if tile.ty.is_scalar() => Ok(*x),
            _ => Err(malformed(op, format!("{v} must be a scalar; it is {}", tile.ty))),
        }
    }

    fn scalar_i32(&self, op: &'static str, v: ValueId) -> Result<i32, InterpError> {
        let x = self.scalar(op, v)?;
        match self.env.get(op, v)?.dtype() {
            DType::I32 => Ok(x as i32),
            other => Err(malformed(op, format!("{v} must be an i32; it is {other}"))),
        }
    }

    /// Two operands of an elementwise op: their types must be identical.
    fn same_type(&self, op: &'static str, a: ValueId, b: ValueId) -> Result<(&Tile, &Tile), InterpError> {
        let (x, y) = (self.env.get(op, a)?, self.env.get(op, b)?);
        if x.ty != y.ty {
            return Err(malformed(op, format!("operands {a}: {} and {b}: {} differ in type", x.ty, y.ty)));
        }
        Ok((x, y))
    }

    fn fault(&self, op: &'static str, dtype: DType, fault: Fault) -> InterpError {
        match fault {
            Fault::DivisionByZero => InterpError::DivisionByZero { op, site: self.site },
            Fault::Unsupported { supported } => InterpError::UnsupportedDType { op, dtype, supported },
        }
    }

    /// Evaluates a single-result op. `declared` supplies shapes the operands do not
    /// determine (splat, broadcast, constants).
    fn eval_value(&self, name: &'static str, op: &Op, declared: &Type) -> Result<Tile, InterpError> {
        let tile = |ty: Type, data: Vec<f64>| Ok(Tile { ty, data });
        let scalar = |dtype: DType, x: f64| Ok(Tile::scalar(dtype, x));
        match op {
            Op::Const(literal) => {
                let x = match *literal {
                    Literal::Int(i) => i as f64,
                    Literal::Float(f) => f,
                    Literal::Bool(b) => f64::from(u8::from(b)),
                };
                tile(declared.clone(), vec![round_to(declared.dtype, x); declared.num_elements() as usize])
            }
            Op::GroupId => match self.site {
                Site::Grid => Err(InterpError::NotInGrid { op: name }),
                Site::Program { group, .. } => scalar(DType::I32, f64::from(group.unwrap_or(0))),
            },
            Op::ProgramId { axis } => match self.site {
                Site::Grid => Err(InterpError::NotInGrid { op: name }),
                Site::Program { ids, .. } => {
                    let id = ids
                        .get(*axis as usize)
                        .ok_or_else(|| malformed(name, format!("axis {axis} is not 0, 1 or 2")))?;
                    scalar(DType::I32, f64::from(*id))
                }
            },
            Op::Dim { tensor, axis } => scalar(DType::I32, self.memory.dim(name, *tensor, *axis)?),
            Op::Arg { param } => {
                let x = self.memory.scalar(name, *param)?;
                let dtype = self.kernel.params.get(param.0 as usize).map(Param::dtype);
                let dtype = dtype.ok_or_else(|| malformed(name, format!("parameter {} does not exist", param.0)))?;
                scalar(dtype, round_to(dtype, x))
            }
            Op::Arange { start, len } => {
                let ty = Type::tile(DType::I32, vec![*len]);
                if ty != *declared {
                    return Err(malformed(name, format!("it makes {ty} but is declared {declared}")));
                }
                tile(ty, shape::arange(self.scalar_i32(name, *start)?, *len))
            }
            Op::Splat { value } => {
                let x = self.scalar(name, *value)?;
                let ty = Type::tile(self.env.get(name, *value)?.dtype(), declared.shape.clone());
                tile(ty, vec![x; declared.num_elements() as usize])
            }
            Op::ExpandDims { value, axis } => {
                let src = self.env.get(name, *value)?;
                let mut ty = src.ty.clone();
                if *axis as usize > ty.rank() {
                    return Err(malformed(name, format!("axis {axis} is past the rank of {}", src.ty)));
                }
                ty.shape.insert(*axis as usize, 1);
                tile(ty, src.data.clone())
            }
            Op::Broadcast { value } => {
                let src = self.env.get(name, *value)?;
                let fits = src.ty.rank() == declared.rank()
                    && src.shape().iter().zip(&declared.shape).all(|(&s, &d)| s == d || s == 1);
                if !fits {
                    return Err(malformed(name, format!("{} does not broadcast to {:?}", src.ty, declared.shape)));
                }
                let ty = Type::tile(src.dtype(), declared.shape.clone());
                tile(ty, shape::broadcast(src.shape(), &declared.shape, &src.data))
            }
            Op::Binary { op, lhs, rhs } => {
                let (a, b) = self.same_type(name, *lhs, *rhs)?;
                let data = elementwise::binary(*op, a.dtype(), &a.data, &b.data)
                    .map_err(|f| self.fault(name, a.dtype(), f))?;
                tile(a.ty.clone(), data)
            }
            Op::Unary { op, value } => {
                let a = self.env.get(name, *value)?;
                let data = elementwise::unary(*op, a.dtype(), &a.data).map_err(|f| self.fault(name, a.dtype(), f))?;
                tile(a.ty.clone(), data)
            }
            Op::Cmp { op, lhs, rhs } => {
                let (a, b) = self.same_type(name, *lhs, *rhs)?;
                tile(a.ty.with_dtype(DType::Bool), elementwise::cmp(*op, &a.data, &b.data))
            }
            Op::Select { cond, on_true, on_false } => {
                let (t, f) = self.same_type(name, *on_true, *on_false)?;
                let c = self.env.get(name, *cond)?;
                if c.shape() != t.shape() {
                    return Err(malformed(name, format!("condition {cond}: {} does not match {}", c.ty, t.ty)));
                }
                tile(t.ty.clone(), elementwise::select(&c.data, &t.data, &f.data))
            }
            Op::Cast { value } => {
                let a = self.env.get(name, *value)?;
                tile(a.ty.with_dtype(declared.dtype), elementwise::cast(a.dtype(), declared.dtype, &a.data))
            }
            Op::Dot { lhs, rhs } => {
                let a = self.env.get(name, *lhs)?;
                let b = self.env.get(name, *rhs)?;
                let ([m, k], [k2, n]) = (rank2(name, &a.ty)?, rank2(name, &b.ty)?);
                if k != k2 || a.dtype() != b.dtype() || !matches!(a.dtype(), DType::BF16 | DType::F16) {
                    return Err(malformed(name, format!("{} @ {} is not [M, K] @ [K, N] of bf16 or f16", a.ty, b.ty)));
                }
                tile(Type::tile(DType::F32, vec![m, n]), shape::matmul([m, k, n], &a.data, &b.data))
            }
            Op::Trans { value } => {
                let a = self.env.get(name, *value)?;
                let [m, n] = rank2(name, &a.ty)?;
                tile(Type::tile(a.dtype(), vec![n, m]), shape::transpose([m, n], &a.data))
            }
            Op::BinSum { value, bins } => {
                let a = self.env.get(name, *value)?;
                let b = self.env.get(name, *bins)?;
                let dtype = a.dtype();
                let fits = matches!(dtype, DType::F32 | DType::I32)
                    && b.ty == a.ty.with_dtype(DType::I32)
                    && !a.ty.is_scalar()
                    && declared.dtype == dtype;
                let [n] = declared.shape[..] else {
                    return Err(malformed(name, format!("the result {declared} is not a rank-1 tile")));
                };
                if !fits {
                    return Err(malformed(
                        name,
                        format!("{} binned by {} into {declared} is not an f32 or i32 tile and i32 bins", a.ty, b.ty),
                    ));
                }
                tile(Type::tile(dtype, vec![n]), shape::bin_sum(dtype, n, &a.data, &b.data))
            }
            Op::Reduce { op: combine, value, axis } | Op::Scan { op: combine, value, axis } => {
                let scan = matches!(op, Op::Scan { .. });
                let a = self.env.get(name, *value)?;
                if a.dtype() == DType::Bool {
                    let supported =
                        if scan { "scans of i32, f16, bf16 and f32" } else { "reductions of i32, f16, bf16 and f32" };
                    return Err(InterpError::UnsupportedDType { op: name, dtype: DType::Bool, supported });
                }
                let axis = *axis as usize;
                if axis >= a.ty.rank() {
                    return Err(malformed(name, format!("axis {axis} is out of range for {}", a.ty)));
                }
                if scan {
                    return tile(a.ty.clone(), shape::scan(*combine, a.dtype(), a.shape(), axis, &a.data));
                }
                let mut ty = a.ty.clone();
                ty.shape.remove(axis);
                tile(ty, shape::reduce(*combine, a.dtype(), a.shape(), axis, &a.data))
            }
            Op::Load { tensor, indices } => {
                let accesses = self.accesses(name, indices, declared)?;
                let t = self.memory.tensor(name, *tensor)?;
                if accesses.len() != t.shape.len() {
                    return Err(malformed(
                        name,
                        format!("{} indices for a tensor of rank {}", accesses.len(), t.shape.len()),
                    ));
                }
                tile(Type::tile(t.dtype, declared.shape.clone()), memory::load(&t.shape, &t.data, &accesses))
            }
            Op::Store { .. } | Op::For { .. } | Op::If { .. } | Op::Yield { .. } => {
                Err(malformed(name, "it is not a value op"))
            }
        }
    }

    /// Reads the indices' operands, checking that the tile they address has `tile_shape`.
    fn accesses(&self, op: &'static str, indices: &[Index], tile_shape: &Type) -> Result<Vec<Access>, InterpError> {
        let shape = self.kernel.access_shape(indices);
        if shape != tile_shape.shape {
            return Err(malformed(
                op,
                format!("indices addressing a tile of shape {shape:?} for a tile of shape {:?}", tile_shape.shape),
            ));
        }
        indices
            .iter()
            .map(|index| match index {
                Index::Point(v) => Ok(Access::Point(i64::from(self.scalar_i32(op, *v)?))),
                Index::Range { start, len } => {
                    Ok(Access::Range { start: i64::from(self.scalar_i32(op, *start)?), len: *len })
                }
                Index::Gather(v) => {
                    let positions = self.env.get(op, *v)?;
                    if positions.ty.dtype != DType::I32 || positions.ty.rank() != 1 {
                        let detail = format!("gather index {v} is {}; it must be an i32 tile of rank 1", positions.ty);
                        return Err(malformed(op, detail));
                    }
                    Ok(Access::Gather(positions.data.iter().map(|&p| p as i64).collect()))
                }
            })
            .collect()
    }

    fn exec_store(&mut self, tensor: ParamId, indices: &[Index], value: ValueId) -> Result<(), InterpError> {
        let name = "store";
        let value_ty = self.env.get(name, value)?.ty.clone();
        let accesses = self.accesses(name, indices, &value_ty)?;
        let t = self.memory.tensor_mut(name, tensor)?;
        if accesses.len() != t.shape.len() || t.dtype != value_ty.dtype {
            return Err(malformed(
                name,
                format!(
                    "{value_ty} with {} indices into a {} tensor of rank {}",
                    accesses.len(),
                    t.dtype,
                    t.shape.len()
                ),
            ));
        }
        let tile = self.env.get(name, value)?;
        memory::store(&t.shape, &mut t.data, &accesses, &tile.data);
        Ok(())
    }

    fn exec_for(
        &mut self,
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: &[ValueId],
        body: &'k Block,
    ) -> Result<Vec<Tile>, InterpError> {
        let name = "for";
        let (lo, hi, st) = (self.scalar_i32(name, lower)?, self.scalar_i32(name, upper)?, self.scalar_i32(name, step)?);
        if st <= 0 {
            return Err(InterpError::NonPositiveStep { step: st, lower: lo, upper: hi, site: self.site });
        }
        let Some((&iv, carried_args)) = body.args.split_first() else {
            return Err(malformed(name, "its body has no induction variable"));
        };
        if carried_args.len() != init.len() {
            return Err(malformed(
                name,
                format!("{} initial values for {} carried values", init.len(), carried_args.len()),
            ));
        }
        let mut carried: Vec<Tile> = init.iter().map(|&v| self.env.get(name, v).cloned()).collect::<Result<_, _>>()?;
        // The induction variable counts in i64, so a step past i32::MAX ends the loop
        // instead of wrapping around into an endless one.
        let mut i = i64::from(lo);
        while i < i64::from(hi) {
            self.define(name, iv, Tile::scalar(DType::I32, i as f64))?;
            for (&arg, tile) in carried_args.iter().zip(carried) {
                self.define(name, arg, tile)?;
            }
            carried = self.exec_block(body)?;
            if carried.len() != carried_args.len() {
                return Err(malformed(
                    name,
                    format!("its body yields {} values for {}", carried.len(), carried_args.len()),
                ));
            }
            i += i64::from(st);
        }
        Ok(carried)
    }
}
