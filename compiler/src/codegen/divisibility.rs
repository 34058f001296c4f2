//! What each i32 scalar is known to be a multiple of, from the IR alone.
//!
//! An access to an `aligned` tensor parameter (see [`crate::ir::Param::Tensor`]) is
//! 16-byte aligned exactly when the start of its last range is a multiple of the
//! elements in 16 bytes: every other term of the address is aligned by the contract.
//! `0 .. D`, `k0 .. k0 + BK` with `k0` stepping by `BK` from 0, and `m0 = pid * BM` are
//! multiples the IR shows, so those accesses need no run-time alignment test at all.
//!
//! The facts are powers of two (alignment is all they serve), capped at [`CAP`]:
//! a constant's own largest power-of-two factor, `gcd` through `+` and `-`, a product
//! through `*`, and a loop's induction variable the `gcd` of its start and step (every
//! value it takes is `start + i * step`). Anything else is a multiple of 1.

use std::collections::HashMap;

use crate::ir::{BinaryOp, Block, Kernel, Literal, Op, ValueId};

/// Larger facts are never needed: the widest access is 16 bytes of 1-byte elements.
const CAP: u64 = 1 << 16;

/// The known power-of-two factor of every i32 scalar of `kernel` that has one above 1.
pub(super) fn known_multiples(kernel: &Kernel) -> HashMap<ValueId, u64> {
    let mut facts = HashMap::new();
    visit(&kernel.body, &mut facts);
    facts
}

/// The power-of-two factor `facts` knows for `v` (1 when nothing is known).
pub(super) fn multiple_of(facts: &HashMap<ValueId, u64>, v: ValueId) -> u64 {
    facts.get(&v).copied().unwrap_or(1)
}

fn visit(block: &Block, facts: &mut HashMap<ValueId, u64>) {
    for inst in &block.insts {
        match &inst.op {
            Op::For { lower, step, body, .. } => {
                if let Some(&iv) = body.args.first() {
                    insert(facts, iv, multiple_of(facts, *lower).min(multiple_of(facts, *step)));
                }
                visit(body, facts);
                continue;
            }
            Op::If { then_block, else_block, .. } => {
                visit(then_block, facts);
                visit(else_block, facts);
                continue;
            }
            _ => {}
        }
        let [result] = inst.results.as_slice() else {
            continue;
        };
        let fact = match &inst.op {
            Op::Const(Literal::Int(c)) => power_of_two_factor(*c),
            Op::Binary { op: BinaryOp::Add | BinaryOp::Sub, lhs, rhs } => {
                multiple_of(facts, *lhs).min(multiple_of(facts, *rhs))
            }
            Op::Binary { op: BinaryOp::Mul, lhs, rhs } => {
                multiple_of(facts, *lhs).saturating_mul(multiple_of(facts, *rhs)).min(CAP)
            }
            _ => 1,
        };
        insert(facts, *result, fact);
    }
}

fn insert(facts: &mut HashMap<ValueId, u64>, v: ValueId, fact: u64) {
    if fact > 1 {
        facts.insert(v, fact);
    }
}

/// The largest power of two dividing `c` (capped; 0 is a multiple of everything).
fn power_of_two_factor(c: i64) -> u64 {
    if c == 0 {
        CAP
    } else {
        (1u64 << c.unsigned_abs().trailing_zeros()).min(CAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::builder::KernelBuilder;

    #[test]
    fn constants_give_their_power_of_two_factor() {
        assert_eq!((power_of_two_factor(0), power_of_two_factor(96), power_of_two_factor(-3)), (CAP, 32, 1));
    }

    #[test]
    fn products_sums_and_induction_variables_carry_the_factor() {
        let mut b = KernelBuilder::new("k", 4);
        let pid = b.program_id(0);
        let block = b.const_i32(64);
        let m0 = b.binary(BinaryOp::Mul, pid, block);
        let eight = b.const_i32(8);
        let shifted = b.binary(BinaryOp::Add, m0, eight);
        let odd = b.const_i32(3);
        let off = b.binary(BinaryOp::Add, m0, odd);
        let zero = b.const_i32(0);
        let step = b.const_i32(32);
        let mut iv = None;
        b.for_loop(zero, m0, step, vec![], |_, v, _| {
            iv = Some(v);
            vec![]
        });
        let k = b.finish();
        let facts = known_multiples(&k);
        let of = |v| multiple_of(&facts, v);
        assert_eq!((of(pid), of(m0), of(shifted), of(off), iv.map(of)), (1, 64, 8, 1, Some(32)));
    }
}
