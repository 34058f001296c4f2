//! `cumsum`, `cummax` and `cummin`: what they lower to, and each rule's error at the
//! offending argument.

use super::*;

/// A kernel storing `CALL` into `o[0 .. 4, 0 .. 8]`, after `x`, an f32[4, 8] tile.
fn with_call(call: &str) -> String {
    format!(
        "kernel k(x: tensor<f32>[M, N], o: tensor<f32>[M, N]) grid(1) {{\n    let x = x[0 .. 4, 0 .. 8];\n    \
         o[0 .. 4, 0 .. 8] = {call};\n}}"
    )
}

#[test]
fn cumsum_lowers_to_one_scan_sum() {
    assert_eq!(count(&lower(&with_call("cumsum(x, axis: 1)")), "scan_sum"), 1);
}

#[test]
fn cummax_and_cummin_lower_to_their_scans() {
    let k = lower(&with_call("cummax(x, axis: 0) + cummin(x, axis: 1)"));
    assert_eq!([count(&k, "scan_max"), count(&k, "scan_min")], [1, 1]);
}

#[test]
fn a_scan_keeps_its_operand_type() {
    assert_eq!(types_of(&lower(&with_call("cumsum(x, axis: 0)")), "scan_sum"), ["f32[4, 8]"]);
}

#[test]
fn a_scan_of_i32_stays_i32() {
    let src = "kernel k(o: tensor<i32>[N]) grid(1) {\n    o[0 .. 8] = cumsum(arange(0, 8), axis: 0);\n}";
    assert_eq!(types_of(&lower(src), "scan_sum"), ["i32[8]"]);
}

#[test]
fn a_scan_needs_its_axis() {
    assert_eq!(errors(&with_call("cumsum(x)")), "3:25: `cumsum` is called as `cumsum(t, axis: k)`; got 1 argument");
}

#[test]
fn a_scan_axis_must_be_in_range() {
    assert_eq!(errors(&with_call("cummax(x, axis: 2)")), "3:41: axis 2 is out of range for f32[4, 8]; axes are 0..2");
}

#[test]
fn a_scan_of_a_scalar_is_refused() {
    assert_eq!(
        errors(&kernel("s: f32", "    let y = cumsum(s, axis: 0);")),
        "2:20: `cumsum` scans a tile; got the scalar type f32"
    );
}

#[test]
fn a_scan_of_bool_is_refused() {
    assert_eq!(
        errors(&kernel("", "    let y = cumsum(arange(0, 4) < 2, axis: 0);")),
        "2:13: `cumsum` needs i32 or f32 operands; got bool"
    );
}

#[test]
fn a_scan_axis_must_be_a_constant() {
    assert_eq!(
        errors(&kernel("n: i32", "    let y = cumsum(zeros([4]), axis: n);")),
        "2:38: a scan axis must be a compile-time constant"
    );
}
