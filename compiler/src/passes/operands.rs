//! The values an op reads directly, for passes that rewrite or trace uses. Values read
//! inside a `for`/`if` block belong to that block's instructions, not to the op.

use crate::ir::{Block, Index, Op, ValueId};

pub(crate) fn operands(op: &Op) -> Vec<ValueId> {
    match op {
        Op::Const(_) | Op::ProgramId { .. } | Op::GroupId | Op::Dim { .. } | Op::Arg { .. } => Vec::new(),
        Op::Arange { start: v, .. }
        | Op::Splat { value: v }
        | Op::ExpandDims { value: v, .. }
        | Op::Broadcast { value: v }
        | Op::Unary { value: v, .. }
        | Op::Cast { value: v }
        | Op::Trans { value: v }
        | Op::Reduce { value: v, .. }
        | Op::Scan { value: v, .. }
        | Op::If { cond: v, .. } => vec![*v],
        Op::Binary { lhs, rhs, .. } | Op::Cmp { lhs, rhs, .. } | Op::Dot { lhs, rhs } => vec![*lhs, *rhs],
        Op::BinSum { value, bins } => vec![*value, *bins],
        Op::Select { cond, on_true, on_false } => vec![*cond, *on_true, *on_false],
        Op::Load { indices, .. } => indices.iter().map(Index::value).collect(),
        Op::Store { indices, value, .. } => indices.iter().map(Index::value).chain([*value]).collect(),
        Op::For { lower, upper, step, init, .. } => {
            [*lower, *upper, *step].into_iter().chain(init.iter().copied()).collect()
        }
        Op::Yield { values } => values.clone(),
    }
}

/// How many instructions in `block`, nested blocks included, read `v`.
pub(crate) fn uses_in(block: &Block, v: ValueId) -> usize {
    block.insts.iter().map(|inst| uses_in_op(&inst.op, v)).sum()
}

/// How many times `op` reads `v`, directly or in its nested blocks.
pub(crate) fn uses_in_op(op: &Op, v: ValueId) -> usize {
    let direct = operands(op).iter().filter(|&&x| x == v).count();
    let nested = match op {
        Op::For { body, .. } => uses_in(body, v),
        Op::If { then_block, else_block, .. } => uses_in(then_block, v) + uses_in(else_block, v),
        _ => 0,
    };
    direct + nested
}

pub(crate) fn operands_mut(op: &mut Op) -> Vec<&mut ValueId> {
    match op {
        Op::Const(_) | Op::ProgramId { .. } | Op::GroupId | Op::Dim { .. } | Op::Arg { .. } => Vec::new(),
        Op::Arange { start: v, .. }
        | Op::Splat { value: v }
        | Op::ExpandDims { value: v, .. }
        | Op::Broadcast { value: v }
        | Op::Unary { value: v, .. }
        | Op::Cast { value: v }
        | Op::Trans { value: v }
        | Op::Reduce { value: v, .. }
        | Op::Scan { value: v, .. }
        | Op::If { cond: v, .. } => vec![v],
        Op::Binary { lhs, rhs, .. } | Op::Cmp { lhs, rhs, .. } | Op::Dot { lhs, rhs } => vec![lhs, rhs],
        Op::BinSum { value, bins } => vec![value, bins],
        Op::Select { cond, on_true, on_false } => vec![cond, on_true, on_false],
        Op::Load { indices, .. } => indices.iter_mut().map(Index::value_mut).collect(),
        Op::Store { indices, value, .. } => indices.iter_mut().map(Index::value_mut).chain([value]).collect(),
        Op::For { lower, upper, step, init, .. } => [lower, upper, step].into_iter().chain(init.iter_mut()).collect(),
        Op::Yield { values } => values.iter_mut().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::builder::KernelBuilder;
    use crate::ir::DType;

    #[test]
    fn a_gather_load_reads_its_index_tile() {
        let mut b = KernelBuilder::new("k", 1);
        let x = b.tensor_param("x", DType::F32, &["N"]);
        let zero = b.const_i32(0);
        let rows = b.arange(zero, 4);
        b.load(x, vec![Index::Gather(rows)]);
        let k = b.finish();
        assert_eq!(operands(&k.body.insts[2].op), vec![rows]);
    }
}
