//! The values an op reads directly, for passes that rewrite or trace uses. Values read
//! inside a `for`/`if` block belong to that block's instructions, not to the op.

use crate::ir::{Index, Op, ValueId};

pub(crate) fn operands(op: &Op) -> Vec<ValueId> {
    match op {
        Op::Const(_) | Op::ProgramId { .. } | Op::Dim { .. } | Op::Arg { .. } => Vec::new(),
        Op::Arange { start: v, .. }
        | Op::Splat { value: v }
        | Op::ExpandDims { value: v, .. }
        | Op::Broadcast { value: v }
        | Op::Unary { value: v, .. }
        | Op::Cast { value: v }
        | Op::Trans { value: v }
        | Op::Reduce { value: v, .. }
        | Op::If { cond: v, .. } => vec![*v],
        Op::Binary { lhs, rhs, .. } | Op::Cmp { lhs, rhs, .. } | Op::Dot { lhs, rhs } => vec![*lhs, *rhs],
        Op::Select { cond, on_true, on_false } => vec![*cond, *on_true, *on_false],
        Op::Load { indices, .. } => indices.iter().map(index_value).collect(),
        Op::Store { indices, value, .. } => indices.iter().map(index_value).chain([*value]).collect(),
        Op::For { lower, upper, step, init, .. } => {
            [*lower, *upper, *step].into_iter().chain(init.iter().copied()).collect()
        }
        Op::Yield { values } => values.clone(),
    }
}

pub(crate) fn operands_mut(op: &mut Op) -> Vec<&mut ValueId> {
    match op {
        Op::Const(_) | Op::ProgramId { .. } | Op::Dim { .. } | Op::Arg { .. } => Vec::new(),
        Op::Arange { start: v, .. }
        | Op::Splat { value: v }
        | Op::ExpandDims { value: v, .. }
        | Op::Broadcast { value: v }
        | Op::Unary { value: v, .. }
        | Op::Cast { value: v }
        | Op::Trans { value: v }
        | Op::Reduce { value: v, .. }
        | Op::If { cond: v, .. } => vec![v],
        Op::Binary { lhs, rhs, .. } | Op::Cmp { lhs, rhs, .. } | Op::Dot { lhs, rhs } => vec![lhs, rhs],
        Op::Select { cond, on_true, on_false } => vec![cond, on_true, on_false],
        Op::Load { indices, .. } => indices.iter_mut().map(index_value_mut).collect(),
        Op::Store { indices, value, .. } => indices.iter_mut().map(index_value_mut).chain([value]).collect(),
        Op::For { lower, upper, step, init, .. } => [lower, upper, step].into_iter().chain(init.iter_mut()).collect(),
        Op::Yield { values } => values.iter_mut().collect(),
    }
}

fn index_value(index: &Index) -> ValueId {
    match index {
        Index::Point(v) | Index::Range { start: v, .. } => *v,
    }
}

fn index_value_mut(index: &mut Index) -> &mut ValueId {
    match index {
        Index::Point(v) | Index::Range { start: v, .. } => v,
    }
}
