//! Builds Tile IR programmatically. The front end lowers through it, and tests use
//! it to write IR without going through source text.
//!
//! The builder does not type-check: it trusts the caller for operand types and
//! records the result type it is given. Run [`super::verify::verify`] on the result.

use super::*;

pub struct KernelBuilder {
    kernel: Kernel,
    /// Blocks under construction; the last is where instructions go.
    open: Vec<Block>,
}

impl KernelBuilder {
    pub fn new(name: impl Into<String>, num_warps: u32) -> KernelBuilder {
        KernelBuilder {
            kernel: Kernel {
                name: name.into(),
                consts: Vec::new(),
                params: Vec::new(),
                num_warps,
                num_groups: 1,
                num_stages: DEFAULT_STAGES,
                occupancy: None,
                grid: Block::default(),
                body: Block::default(),
                value_types: Vec::new(),
            },
            open: vec![Block::default()],
        }
    }

    pub fn add_const(&mut self, name: impl Into<String>, value: ConstValue) {
        self.kernel.consts.push((name.into(), value));
    }

    pub fn add_param(&mut self, param: Param) -> ParamId {
        self.kernel.params.push(param);
        ParamId(self.kernel.params.len() as u32 - 1)
    }

    /// A tensor parameter whose dimensions are all free runtime sizes.
    pub fn tensor_param(&mut self, name: &str, dtype: DType, dims: &[&str]) -> ParamId {
        self.add_param(Param::Tensor {
            name: name.to_string(),
            dtype,
            dims: dims.iter().map(|d| d.to_string()).collect(),
            const_dims: vec![None; dims.len()],
            aligned: false,
        })
    }

    pub fn scalar_param(&mut self, name: &str, dtype: DType) -> ParamId {
        self.add_param(Param::Scalar { name: name.to_string(), dtype })
    }

    /// A fresh value of type `ty`, defined by whoever the caller says (block args).
    pub fn new_value(&mut self, ty: Type) -> ValueId {
        self.kernel.value_types.push(ty);
        ValueId(self.kernel.value_types.len() as u32 - 1)
    }

    /// New values with the types of `values`, in order (loop-carried block arguments
    /// and loop results).
    fn fresh_values_like(&mut self, values: &[ValueId]) -> Vec<ValueId> {
        let types: Vec<Type> = values.iter().map(|&v| self.value_type(v).clone()).collect();
        types.into_iter().map(|t| self.new_value(t)).collect()
    }

    pub fn value_type(&self, v: ValueId) -> &Type {
        self.kernel.value_type(v)
    }

    pub fn params(&self) -> &[Param] {
        &self.kernel.params
    }

    /// Appends an instruction with one result of type `ty`.
    pub fn push(&mut self, op: Op, ty: Type) -> ValueId {
        let v = self.new_value(ty);
        self.current().insts.push(Inst { results: vec![v], op });
        v
    }

    /// Appends an instruction with no results (`Store`, `Yield`).
    pub fn push_effect(&mut self, op: Op) {
        self.current().insts.push(Inst { results: Vec::new(), op });
    }

    fn current(&mut self) -> &mut Block {
        self.open.last_mut().expect("builder always has an open block")
    }

    pub fn const_i32(&mut self, v: i64) -> ValueId {
        self.push(Op::Const(Literal::Int(v)), Type::scalar(DType::I32))
    }

    pub fn const_f32(&mut self, v: f64) -> ValueId {
        self.push(Op::Const(Literal::Float(v)), Type::scalar(DType::F32))
    }

    pub fn const_bool(&mut self, v: bool) -> ValueId {
        self.push(Op::Const(Literal::Bool(v)), Type::scalar(DType::Bool))
    }

    pub fn program_id(&mut self, axis: u8) -> ValueId {
        self.push(Op::ProgramId { axis }, Type::scalar(DType::I32))
    }

    pub fn group_id(&mut self) -> ValueId {
        self.push(Op::GroupId, Type::scalar(DType::I32))
    }

    pub fn dim(&mut self, tensor: ParamId, axis: u32) -> ValueId {
        self.push(Op::Dim { tensor, axis }, Type::scalar(DType::I32))
    }

    pub fn arg(&mut self, param: ParamId) -> ValueId {
        let dtype = self.kernel.param(param).dtype();
        self.push(Op::Arg { param }, Type::scalar(dtype))
    }

    pub fn binary(&mut self, op: BinaryOp, lhs: ValueId, rhs: ValueId) -> ValueId {
        let ty = self.value_type(lhs).clone();
        self.push(Op::Binary { op, lhs, rhs }, ty)
    }

    pub fn unary(&mut self, op: UnaryOp, value: ValueId) -> ValueId {
        let ty = self.value_type(value).clone();
        self.push(Op::Unary { op, value }, ty)
    }

    pub fn cmp(&mut self, op: CmpOp, lhs: ValueId, rhs: ValueId) -> ValueId {
        let ty = self.value_type(lhs).with_dtype(DType::Bool);
        self.push(Op::Cmp { op, lhs, rhs }, ty)
    }

    pub fn select(&mut self, cond: ValueId, on_true: ValueId, on_false: ValueId) -> ValueId {
        let ty = self.value_type(on_true).clone();
        self.push(Op::Select { cond, on_true, on_false }, ty)
    }

    pub fn cast(&mut self, value: ValueId, dtype: DType) -> ValueId {
        let ty = self.value_type(value).with_dtype(dtype);
        self.push(Op::Cast { value }, ty)
    }

    /// `lhs [M, K] @ rhs [K, N]` → f32 `[M, N]`. Operands of the wrong rank give a result
    /// type the verifier rejects rather than a panic here.
    pub fn dot(&mut self, lhs: ValueId, rhs: ValueId) -> ValueId {
        let m = self.value_type(lhs).shape.first().copied().unwrap_or(0);
        let n = self.value_type(rhs).shape.last().copied().unwrap_or(0);
        self.push(Op::Dot { lhs, rhs }, Type::tile(DType::F32, vec![m, n]))
    }

    /// `[M, N]` → `[N, M]`.
    pub fn trans(&mut self, value: ValueId) -> ValueId {
        let mut ty = self.value_type(value).clone();
        ty.shape.reverse();
        self.push(Op::Trans { value }, ty)
    }

    /// `value` summed into `bins` bins by the i32 tile `bins_of` ([`Op::BinSum`]): `[bins]`
    /// of `value`'s dtype.
    pub fn bin_sum(&mut self, value: ValueId, bins_of: ValueId, bins: u32) -> ValueId {
        let dtype = self.value_type(value).dtype;
        self.push(Op::BinSum { value, bins: bins_of }, Type::tile(dtype, vec![bins]))
    }

    pub fn arange(&mut self, start: ValueId, len: u32) -> ValueId {
        self.push(Op::Arange { start, len }, Type::tile(DType::I32, vec![len]))
    }

    pub fn splat(&mut self, value: ValueId, shape: Vec<u32>) -> ValueId {
        let ty = Type::tile(self.value_type(value).dtype, shape);
        self.push(Op::Splat { value }, ty)
    }

    pub fn expand_dims(&mut self, value: ValueId, axis: u32) -> ValueId {
        let mut ty = self.value_type(value).clone();
        ty.shape.insert(axis as usize, 1);
        self.push(Op::ExpandDims { value, axis }, ty)
    }

    pub fn broadcast(&mut self, value: ValueId, shape: Vec<u32>) -> ValueId {
        let ty = Type::tile(self.value_type(value).dtype, shape);
        self.push(Op::Broadcast { value }, ty)
    }

    pub fn reduce(&mut self, op: ReduceOp, value: ValueId, axis: u32) -> ValueId {
        let mut ty = self.value_type(value).clone();
        ty.shape.remove(axis as usize);
        self.push(Op::Reduce { op, value, axis }, ty)
    }

    pub fn scan(&mut self, op: ReduceOp, value: ValueId, axis: u32) -> ValueId {
        let ty = self.value_type(value).clone();
        self.push(Op::Scan { op, value, axis }, ty)
    }

    /// A load; the result shape is taken from the `Range` and `Gather` indices.
    pub fn load(&mut self, tensor: ParamId, indices: Vec<Index>) -> ValueId {
        let dtype = self.kernel.param(tensor).dtype();
        let shape = self.kernel.access_shape(&indices);
        self.push(Op::Load { tensor, indices }, Type::tile(dtype, shape))
    }

    pub fn store(&mut self, tensor: ParamId, indices: Vec<Index>, value: ValueId) {
        self.push_effect(Op::Store { tensor, indices, value });
    }

    pub fn yield_(&mut self, values: Vec<ValueId>) {
        self.push_effect(Op::Yield { values });
    }

    /// Builds a `for` loop. `body` receives the induction variable and the carried
    /// values and returns the values to carry into the next iteration.
    pub fn for_loop(
        &mut self,
        lower: ValueId,
        upper: ValueId,
        step: ValueId,
        init: Vec<ValueId>,
        body: impl FnOnce(&mut KernelBuilder, ValueId, &[ValueId]) -> Vec<ValueId>,
    ) -> Vec<ValueId> {
        let iv_ty = self.value_type(lower).clone();
        let iv = self.new_value(iv_ty);
        let carried = self.fresh_values_like(&init);
        self.open.push(Block { args: std::iter::once(iv).chain(carried.iter().copied()).collect(), insts: Vec::new() });
        let next = body(self, iv, &carried);
        self.yield_(next);
        let block = self.open.pop().expect("loop body block");
        let results = self.fresh_values_like(&init);
        self.current()
            .insts
            .push(Inst { results: results.clone(), op: Op::For { lower, upper, step, init, body: block } });
        results
    }

    /// Builds an `if`; both closures return values of `result_types`.
    pub fn if_(
        &mut self,
        cond: ValueId,
        result_types: Vec<Type>,
        then_body: impl FnOnce(&mut KernelBuilder) -> Vec<ValueId>,
        else_body: impl FnOnce(&mut KernelBuilder) -> Vec<ValueId>,
    ) -> Vec<ValueId> {
        self.build_if(cond, Some(result_types), then_body, else_body)
    }

    /// Builds an `if` whose result types are those of the values the then-block
    /// yields, for callers (the front end's `if` expressions) that learn the types
    /// only while building that block.
    pub fn if_typed_by_then(
        &mut self,
        cond: ValueId,
        then_body: impl FnOnce(&mut KernelBuilder) -> Vec<ValueId>,
        else_body: impl FnOnce(&mut KernelBuilder) -> Vec<ValueId>,
    ) -> Vec<ValueId> {
        self.build_if(cond, None, then_body, else_body)
    }

    fn build_if(
        &mut self,
        cond: ValueId,
        result_types: Option<Vec<Type>>,
        then_body: impl FnOnce(&mut KernelBuilder) -> Vec<ValueId>,
        else_body: impl FnOnce(&mut KernelBuilder) -> Vec<ValueId>,
    ) -> Vec<ValueId> {
        self.open.push(Block::default());
        let t = then_body(self);
        let result_types = result_types.unwrap_or_else(|| t.iter().map(|&v| self.value_type(v).clone()).collect());
        self.yield_(t);
        let then_block = self.open.pop().expect("then block");
        self.open.push(Block::default());
        let e = else_body(self);
        self.yield_(e);
        let else_block = self.open.pop().expect("else block");
        let results: Vec<ValueId> = result_types.into_iter().map(|t| self.new_value(t)).collect();
        self.current().insts.push(Inst { results: results.clone(), op: Op::If { cond, then_block, else_block } });
        results
    }

    /// Builds the grid block: `f` returns the three i32 grid sizes.
    pub fn grid(&mut self, f: impl FnOnce(&mut KernelBuilder) -> [ValueId; 3]) {
        self.open.push(Block::default());
        let sizes = f(self);
        self.yield_(sizes.to_vec());
        self.kernel.grid = self.open.pop().expect("grid block");
    }

    /// Finishes the kernel: what was pushed at top level is the body.
    pub fn finish(mut self) -> Kernel {
        self.kernel.body = self.open.pop().expect("body block");
        self.kernel
    }
}
