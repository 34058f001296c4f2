//! `dtype` const parameters: an element type chosen per specialization, substituted
//! like any const, so the IR of `DT = f16` is the IR written with `f16`.

use super::*;
use crate::ir::print::print_kernel;
use crate::ir::DType;

/// Copies `x` to `o` through f32, in the dtype `DT`.
const COPY: &str = "
kernel copy<BLOCK: i32 = 64, DT: dtype = bf16>(x: tensor<DT>[N], o: tensor<DT>[N]) grid(cdiv(N, BLOCK)) {
    let i = program_id(0) * BLOCK;
    o[i .. i + BLOCK] = cast<DT>(cast<f32>(x[i .. i + BLOCK]) * 2.0);
}";

fn f16() -> ConstValue {
    ConstValue::DType(DType::F16)
}

#[test]
fn default_dtype_specializes_the_tensors_and_casts() {
    let k = lower(COPY);
    assert_eq!(k.consts[1], ("DT".to_string(), ConstValue::DType(DType::BF16)));
    assert_eq!(k.params.iter().map(|p| p.dtype()).collect::<Vec<_>>(), [DType::BF16, DType::BF16]);
    assert_eq!(types_of(&k, "cast"), ["f32[64]", "bf16[64]"]);
}

#[test]
fn an_override_gives_the_same_ir_as_writing_the_dtype() {
    let given = print_kernel(&lower_with(COPY, &[("DT", f16())]));
    let written = COPY.replace("DT: dtype = bf16", "DT: dtype = f16").replace("<DT>", "<f16>");
    assert_eq!(given, print_kernel(&lower(&written)));
}

#[test]
fn the_printed_ir_parses_back() {
    let k = lower_with(COPY, &[("DT", f16())]);
    assert_eq!(ir::parse::parse_kernel(&ir::print::print_kernel(&k)).map_err(|e| e.to_string()), Ok(k));
}

#[test]
fn a_default_may_name_an_earlier_dtype_const() {
    let src = "kernel k<A: dtype = f16, B: dtype = A>(x: tensor<B>[N]) grid(1) { }";
    assert_eq!(lower(src).params[0].dtype(), DType::F16);
}

#[test]
fn a_scalar_parameter_may_have_a_dtype_const_type() {
    let src = "kernel k<S: dtype = i32>(n: S, o: tensor<i32>[N]) grid(1) {\n    o[0] = n;\n}";
    assert_eq!(lower(src).params[0].dtype(), DType::I32);
}

#[test]
fn a_fn_infers_a_dtype_const_from_its_argument() {
    let src = "
fn twice<N: i32, T: dtype>(x: T[N]) -> T[N] { cast<T>(cast<f32>(x) * 2.0) }
kernel k<DT: dtype = f16>(x: tensor<DT>[N], o: tensor<DT>[N]) grid(1) {
    o[0 .. 16] = twice(x[0 .. 16]);
}";
    assert_eq!(types_of(&lower(src), "cast"), ["f32[16]", "f16[16]"]);
    assert_eq!(types_of(&lower_with(src, &[("DT", ConstValue::DType(DType::BF16))]), "cast"), ["f32[16]", "bf16[16]"]);
}

// ---- Errors --------------------------------------------------------------------------

#[test]
fn unknown_dtype_lists_the_supported_ones() {
    assert_eq!(
        errors("kernel k(x: tensor<f64>[N]) grid(1) { }"),
        "1:20: unknown dtype `f64`; expected one of bool, i32, f16, bf16, f32"
    );
}

#[test]
fn unknown_dtype_lists_the_dtype_consts_and_suggests() {
    assert_eq!(
        errors("kernel k<DT: dtype = f16>(x: tensor<DX>[N]) grid(1) {\n    let y = cast<bf61>(x[0]);\n}"),
        "1:37: unknown dtype `DX`; expected one of bool, i32, f16, bf16, f32 or a dtype const (DT); did you mean `DT`?\n\
         2:18: unknown dtype `bf61`; expected one of bool, i32, f16, bf16, f32 or a dtype const (DT); did you mean `bf16`?"
    );
}

#[test]
fn unknown_dtype_given_as_an_override_value_is_a_cli_matter() {
    // The API takes a `DType`, so only a value of the wrong kind can be given.
    assert_eq!(errors_with(COPY, &[("DT", ConstValue::Int(16))]), "2:30: const `DT` is dtype; got the value `16`");
}

#[test]
fn a_dtype_value_for_an_i32_const_is_an_error() {
    assert_eq!(errors_with(COPY, &[("BLOCK", f16())]), "2:13: const `BLOCK` is i32; got the value `f16`");
}

#[test]
fn a_dtype_const_used_as_a_number_is_an_error() {
    assert_eq!(
        errors("kernel k<DT: dtype = f16>(o: tensor<f32>[N]) grid(1) {\n    let n = DT + 1;\n}"),
        "2:13: `DT` is a dtype const (f16), not a value; it can be used only where a dtype is written \
         (`tensor<DT>`, `cast<DT>(x)`, a fn parameter type)"
    );
}

#[test]
fn a_dtype_const_as_a_tile_size_is_an_error() {
    assert_eq!(
        errors("kernel k<DT: dtype = f16>(o: tensor<f32>[N]) grid(1) {\n    o[0 .. 16] = zeros([DT]);\n}")
            .lines()
            .next(),
        Some(
            "2:25: `DT` is a dtype const (f16), not a value; it can be used only where a dtype is written \
             (`tensor<DT>`, `cast<DT>(x)`, a fn parameter type)"
        )
    );
}

#[test]
fn a_dtype_const_as_a_dimension_is_an_error() {
    assert_eq!(
        errors("kernel k<DT: dtype = f16>(o: tensor<f32>[DT]) grid(1) { }"),
        "1:42: dimension `DT` of `o` names the dtype const `DT` (f16); a size must be i32"
    );
}

#[test]
fn a_number_const_used_as_a_dtype_is_an_error() {
    assert_eq!(
        errors("kernel k<BM: i32 = 64>(o: tensor<BM>[N]) grid(1) {\n    let y = cast<BM>(1);\n}"),
        "1:34: `BM` is a const of type i32, not a dtype; expected one of bool, i32, f16, bf16, f32\n\
         2:18: `BM` is a const of type i32, not a dtype; expected one of bool, i32, f16, bf16, f32"
    );
}

#[test]
fn a_dtype_default_that_is_not_a_dtype_is_an_error() {
    assert_eq!(
        errors("kernel k<DT: dtype = 64>() grid(1) { }"),
        "1:22: the default of `DT: dtype` must be a dtype (bool, i32, f16, bf16, f32) or an earlier dtype const; got `64`"
    );
    assert_eq!(
        errors("kernel k<BM: i32 = 64, DT: dtype = BM>() grid(1) { }"),
        "1:36: `BM` is a const of type i32, not a dtype; expected one of bool, i32, f16, bf16, f32"
    );
    assert_eq!(
        errors("kernel k<DT: dtype = f61>() grid(1) { }"),
        "1:22: unknown dtype `f61`; expected one of bool, i32, f16, bf16, f32; did you mean `f16`?"
    );
}

#[test]
fn a_dtype_as_a_number_default_is_an_error() {
    assert_eq!(
        errors("kernel k<BM: i32 = bf16>() grid(1) { }"),
        "1:20: the default of `BM: i32` must be an i32; got the dtype bf16"
    );
}

#[test]
fn a_dtype_const_scalar_parameter_must_be_a_computation_type() {
    assert_eq!(
        errors("kernel k<DT: dtype = bf16>(s: DT) grid(1) { }"),
        "1:28: scalar parameters must be f32, i32 or bool; `s` is bf16"
    );
}

#[test]
fn a_fn_dtype_const_must_be_a_parameter_dtype() {
    let src = "fn f<N: i32, T: dtype>(x: f32[N]) -> f32[N] { x }\nkernel k() grid(1) { }";
    assert_eq!(
        errors(src),
        "1:14: dtype const `T` of fn `f` is not the dtype of any parameter, so calls cannot infer it; \
         use it as one, e.g. `x: T[N]`"
    );
}

#[test]
fn a_fn_does_not_see_the_kernels_dtype_consts() {
    let src = "
fn f<N: i32>(x: DT[N]) -> f32[N] { cast<f32>(x) }
kernel k<DT: dtype = f16>(x: tensor<DT>[N], o: tensor<f32>[N]) grid(1) {
    o[0 .. 16] = f(x[0 .. 16]);
}";
    assert!(
        errors(src).starts_with("2:17: unknown dtype `DT`; expected one of bool, i32, f16, bf16, f32"),
        "{}",
        errors(src)
    );
}
