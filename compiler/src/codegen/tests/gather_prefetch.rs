//! Gathered `dot` operands prefetched with `cp.async` (`codegen::gather_ahead`): the
//! vertical-slash column loop's K/V rows, copied an iteration ahead by index elements
//! each thread recomputes, and the `if` arms whose staged operands would otherwise stay
//! under the next loop's stages.

use super::{check_assembles, check_no_spills, emit_ok};
use crate::ir::Kernel;
use crate::lower_source;
use crate::target::Arch;

/// The column loop's shape: rows of `k` and `v` gathered by `INDEX` (an expression of
/// the step `c`, the column list `cols` and its length `n`) into two products a step.
const GATHERED_LOOP: &str = r#"
kernel gathered(
    q: tensor<bf16>[M, D], k: tensor<bf16>[N, D], v: tensor<bf16>[N, D],
    cols: tensor<i32>[C], n: i32, o: tensor<f32>[M, D],
) grid(1) warps(4) stages(3) {
    // Not loaded, so that the only global tile loads are the gathers.
    let qt = cast<bf16>(full([64, 64], 0.5));
    let mut acc = zeros([64, 64]);
    BEFORE
    for c in (0 .. n).step_by(64) {
        let at = INDEX;
        let s = dot(qt, trans(k[at, 0 .. 64]));
        acc = acc + dot(cast<bf16>(s), v[at, 0 .. 64]);
    }
    o[0 .. 64, 0 .. 64] = acc;
}
"#;

/// The vertical-slash kernel's index: the next 64 entries, -1 past the count.
const COLUMN_INDEX: &str = "where(arange(c, 64) < n, cols[c .. c + 64] + 1, -1)";

fn gathered(index: &str, before: &str, aligned: bool) -> Kernel {
    let src = GATHERED_LOOP.replace("INDEX", index).replace("BEFORE", before);
    let mut kernel = match lower_source(&src, None, &[]) {
        Ok(k) => k,
        Err(e) => panic!("test kernel does not compile: {e}\n{src}"),
    };
    for name in ["q", "k", "v", "o"] {
        assert!(kernel.set_aligned(name, aligned), "no tensor `{name}`");
    }
    kernel
}

fn ptx(kernel: &Kernel) -> String {
    emit_ok(kernel, Arch::Sm90a).ptx
}

/// `cp.async` copies that read a run-time byte count (zero past a row at -1).
fn zero_filling_copies(ptx: &str) -> usize {
    ptx.lines()
        .filter(|l| l.trim_start().starts_with("cp.async.cg.shared.global") && l.matches(',').count() == 3)
        .count()
}

#[test]
fn gathered_rows_of_an_aligned_tensor_are_copied_with_cp_async() {
    assert!(zero_filling_copies(&ptx(&gathered(COLUMN_INDEX, "", true))) > 0);
}

/// The rows go global → shared memory directly: no gathered load into registers.
#[test]
fn prefetched_gathered_rows_are_never_loaded_into_registers() {
    let ptx = ptx(&gathered(COLUMN_INDEX, "", true));
    assert!(!ptx.contains("ld.global.v4"), "{ptx}");
}

/// Without the contract a row may be unaligned or strided: the rows stay staged
/// through registers.
#[test]
fn gathered_rows_without_the_aligned_contract_stay_staged() {
    assert_eq!(zero_filling_copies(&ptx(&gathered(COLUMN_INDEX, "", false))), 0);
}

/// Each recomputed element of the index is one load of `cols` per gathered row a
/// thread copies, shared by the `k` and `v` copies of that row.
#[test]
fn one_index_load_serves_both_gathered_tiles() {
    let one = ptx(&gathered(COLUMN_INDEX, "", true));
    let loads = one.matches("ld.global.b32").count() + one.matches("ld.global.u32").count();
    let copies = zero_filling_copies(&one);
    assert!(loads > 0 && 2 * loads <= copies, "{loads} index loads for {copies} copies");
}

/// A tile from before the loop lives in registers spread over the threads; no thread
/// could read the element its copy needs.
#[test]
fn a_gather_index_from_before_the_loop_is_not_prefetched() {
    let kernel = gathered("fixed", "let fixed = cols[0 .. 64];", true);
    assert_eq!(zero_filling_copies(&ptx(&kernel)), 0);
}

/// Division is not among the ops recomputed element by element.
#[test]
fn a_gather_index_through_a_division_is_not_prefetched() {
    let kernel = gathered("cols[c .. c + 64] / 2", "", true);
    assert_eq!(zero_filling_copies(&ptx(&kernel)), 0);
}

#[test]
fn a_gather_index_through_max_and_a_bool_and_is_prefetched() {
    let index = "where(arange(c, 64) < n && cols[c .. c + 64] > 0, max(cols[c .. c + 64], 3), -1)";
    assert!(zero_filling_copies(&ptx(&gathered(index, "", true))) > 0);
}

#[test]
fn prefetched_gathers_assemble_without_spills() {
    check_no_spills(&check_assembles(&gathered(COLUMN_INDEX, "", true)));
}

/// An `if` arm's staged operand goes back to the stack when the arm ends, so the loop
/// after it takes the same shared memory as with no `if` at all.
#[test]
fn an_if_arms_staged_operand_is_released_before_the_next_loop() {
    let arm = "if n > 64 { acc = acc + dot(qt, trans(k[64 .. 128, 0 .. 64])); }";
    let with_arm = emit_ok(&gathered(COLUMN_INDEX, arm, true), Arch::Sm90a).shared_bytes;
    let without = emit_ok(&gathered(COLUMN_INDEX, "", true), Arch::Sm90a).shared_bytes;
    assert_eq!(with_arm, without);
}
