//! The `aligned` contract ([`crate::ir::Param::Tensor`]): what a kernel specialized on it
//! must contain (zero-filling copies) and must not (alignment tests, element fallbacks),
//! and that it changes nothing where it cannot prove alignment.

use super::emit_ok_with;
use super::pipeline::GEMM;
use super::plain;
use crate::codegen::MmaLowering;
use crate::ir::Kernel;
use crate::lower_source;
use crate::target::Arch;

/// The pipeline tests' GEMM with `a`'s rows read from `offset` elements on, and the
/// contract on `aligned`.
fn gemm(offset: i64, aligned: &[&str]) -> Kernel {
    let (row, shifted) =
        ("a[m0 .. m0 + BM, k0 .. k0 + BK]", format!("a[m0 .. m0 + BM, k0 + {offset} .. k0 + {offset} + BK]"));
    assert!(GEMM.contains(row), "the pipeline tests' GEMM no longer reads `{row}`");
    let src = GEMM.replace(row, &shifted);
    let mut k = lower_source(&src, None, &[]).unwrap_or_else(|e| panic!("test GEMM does not compile: {e}"));
    for name in aligned {
        assert!(k.set_aligned(name, true), "no tensor `{name}`");
    }
    k
}

fn ptx(k: &Kernel) -> String {
    emit_ok_with(k, Arch::Sm90a, &plain(MmaLowering::Wgmma)).ptx
}

/// `cp.async` lines with a source size: `cp.async.cg.shared.global [d], [s], 16, %r;`.
fn zero_fill_copies(ptx: &str) -> usize {
    ptx.lines().filter(|l| l.contains("cp.async.cg.shared.global") && l.matches(',').count() == 3).count()
}

/// Single bf16 element loads: the element-by-element path.
fn element_loads(ptx: &str) -> usize {
    ptx.matches("ld.global.b16").count()
}

#[test]
fn aligned_operands_are_copied_with_zero_fill_and_no_element_path() {
    let ptx = ptx(&gemm(0, &["a", "b"]));
    let copies = ptx.matches("cp.async.cg.shared.global").count();
    assert_eq!((zero_fill_copies(&ptx), element_loads(&ptx)), (copies, 0), "{copies} copies");
}

#[test]
fn unaligned_operands_keep_the_element_path() {
    let ptx = ptx(&gemm(0, &[]));
    assert_eq!(zero_fill_copies(&ptx), 0);
    assert!(element_loads(&ptx) > 0);
}

#[test]
fn one_aligned_operand_drops_only_its_own_element_path() {
    let both = element_loads(&ptx(&gemm(0, &[])));
    let only_b = element_loads(&ptx(&gemm(0, &["b"])));
    assert!(0 < only_b && only_b < both, "{only_b} of {both}");
}

#[test]
fn a_start_not_known_to_be_16_byte_aligned_is_tested_at_run_time() {
    // k0 + 4 is a multiple of 4 elements, 8 bytes: the contract alone does not align it.
    let ptx = ptx(&gemm(4, &["a", "b"]));
    let a_copies_fall_back = element_loads(&ptx) > 0;
    assert!(a_copies_fall_back && zero_fill_copies(&ptx) > 0);
}

#[test]
fn a_start_known_to_be_a_multiple_of_8_elements_needs_no_test() {
    assert_eq!(element_loads(&ptx(&gemm(8, &["a", "b"]))), 0);
}

#[test]
fn the_contract_prints_and_parses_back() {
    let k = gemm(0, &["a"]);
    let printed = crate::ir::print::print_kernel(&k);
    assert!(printed.contains("param %a: tensor<bf16>[M, K] aligned\n"), "{printed}");
    let parsed = crate::ir::parse::parse_kernel(&printed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(crate::ir::print::print_kernel(&parsed), printed);
}
