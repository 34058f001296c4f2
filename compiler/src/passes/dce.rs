//! Dead code elimination: removes instructions whose results nothing uses and that
//! have no effect, through nested blocks. Effects are `store`, `yield`, and a `for`/`if`
//! whose blocks store; such a `for`/`if` stays even if its results are unused.
//!
//! Not done: dropping an unused loop-carried value from a live `for` (its result, block
//! argument, init and yielded value would all have to go together).

use super::operands::operands;
use crate::ir::{Inst, Kernel, Op, ValueId};
use std::collections::HashSet;

pub fn run(kernel: &mut Kernel) {
    let mut live = HashSet::new();
    sweep(&mut kernel.grid.insts, &mut live);
    sweep(&mut kernel.body.insts, &mut live);
}

/// Walks backwards so every use is seen before its definition: an instruction stays if
/// it has an effect or a result in `live`, and then its operands become live. A kept
/// block is swept before the operands of the instructions above it are decided.
fn sweep(insts: &mut Vec<Inst>, live: &mut HashSet<ValueId>) {
    let mut kept = Vec::with_capacity(insts.len());
    for mut inst in std::mem::take(insts).into_iter().rev() {
        if !has_effect(&inst.op) && !inst.results.iter().any(|r| live.contains(r)) {
            continue;
        }
        match &mut inst.op {
            Op::For { body, .. } => sweep(&mut body.insts, live),
            Op::If { then_block, else_block, .. } => {
                sweep(&mut then_block.insts, live);
                sweep(&mut else_block.insts, live);
            }
            _ => {}
        }
        live.extend(operands(&inst.op));
        kept.push(inst);
    }
    kept.reverse();
    *insts = kept;
}

fn has_effect(op: &Op) -> bool {
    match op {
        Op::Store { .. } | Op::Yield { .. } => true,
        Op::For { body, .. } => stores(&body.insts),
        Op::If { then_block, else_block, .. } => stores(&then_block.insts) || stores(&else_block.insts),
        _ => false,
    }
}

/// Whether a block writes memory; its own `yield` is not an effect outside it.
fn stores(insts: &[Inst]) -> bool {
    insts.iter().any(|inst| !matches!(inst.op, Op::Yield { .. }) && has_effect(&inst.op))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::builder::KernelBuilder;
    use crate::ir::{op_name, DType, Index};

    /// Ops left in the body after DCE of a kernel that computes `dot(x, trans(x))` and
    /// stores the loaded tile only.
    fn ops_after_dce_of_unused_dot() -> Vec<&'static str> {
        let mut b = KernelBuilder::new("k", 4);
        let x = b.tensor_param("x", DType::BF16, &["N", "N"]);
        b.grid(|b| {
            let one = b.const_i32(1);
            [one, one, one]
        });
        let zero = b.const_i32(0);
        let whole = vec![Index::Range { start: zero, len: 16 }, Index::Range { start: zero, len: 16 }];
        let tile = b.load(x, whole.clone());
        let t = b.trans(tile);
        b.dot(tile, t);
        b.store(x, whole, tile);
        let mut k = b.finish();
        run(&mut k);
        k.body.insts.iter().map(|i| op_name(&i.op)).collect()
    }

    #[test]
    fn unused_dot_and_trans_are_pure_and_removed() {
        assert_eq!(ops_after_dce_of_unused_dot(), ["const", "load", "store"]);
    }
}
