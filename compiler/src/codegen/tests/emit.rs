//! `emit` as a whole: the entry's interface, determinism and thread safety.

use super::emit_ok;
use super::kernels::{rmsnorm, softmax};
use super::ops::produce;
use crate::target::Arch;

/// The PTX from `.visible .entry` to the end: the part that depends on our lowering.
fn entry_text(ptx: &str) -> &str {
    ptx.find(".visible .entry").map_or(ptx, |at| &ptx[at..])
}

#[test]
fn scalar_store_is_one_guarded_store_by_thread_zero() {
    let kernel = produce(|b| b.const_f32(1.5));
    expect_test::expect![[r#"
        .visible .entry produce(
        	.param .u64 .ptr .global .align 1 produce_param_0,
        	.param .u32 produce_param_1,
        	.param .u64 produce_param_2
        )
        .maxntid 128
        .maxnreg 255
        {
        	.reg .pred 	%p<4>;
        	.reg .b32 	%r<3>;
        	.reg .b64 	%rd<2>;

        	ld.param.b32 	%r1, [produce_param_1];
        	mov.u32 	%r2, %tid.x;
        	setp.ne.b32 	%p1, %r2, 0;
        	setp.eq.b32 	%p2, %r1, 0;
        	or.pred 	%p3, %p2, %p1;
        	@%p3 bra 	$L__BB0_2;
        	ld.param.b64 	%rd1, [produce_param_0];
        	st.global.b32 	[%rd1], 1069547520;
        $L__BB0_2:
        	ret;

        }
    "#]]
    .assert_eq(entry_text(&emit_ok(&kernel, Arch::Sm90a).ptx));
}

#[test]
fn rmsnorm_parameters_follow_the_abi() {
    // x: ptr, 2 sizes, 2 strides; w: ptr, size, stride; out: ptr, 2 sizes, 2 strides; eps.
    let ptx = emit_ok(&rmsnorm(), Arch::Sm90a).ptx;
    let params: Vec<&str> = ptx
        .lines()
        .filter_map(|l| l.trim().strip_prefix(".param ").map(|p| p.split_whitespace().next().unwrap_or("")))
        .collect();
    assert_eq!(
        params,
        [
            ".u64", ".u32", ".u32", ".u64", ".u64", ".u64", ".u32", ".u64", ".u64", ".u32", ".u32", ".u64", ".u64",
            ".f32"
        ]
    );
}

#[test]
fn entry_is_named_after_the_kernel() {
    assert_eq!(emit_ok(&softmax(), Arch::Sm80).entry, "softmax");
}

#[test]
fn ptx_targets_the_requested_arch() {
    assert!(emit_ok(&softmax(), Arch::Sm80).ptx.contains(".target sm_80"));
}

#[test]
fn ptx_declares_isa_8_0() {
    assert!(emit_ok(&softmax(), Arch::Sm90a).ptx.contains(".version 8.0"));
}

#[test]
fn module_reports_its_thread_count() {
    assert_eq!(emit_ok(&softmax(), Arch::Sm90a).threads, 256);
}

#[test]
fn llvm_ir_marks_the_entry_as_a_ptx_kernel() {
    assert!(emit_ok(&softmax(), Arch::Sm90a).llvm_ir.contains("define ptx_kernel void @softmax"));
}

#[test]
fn emit_is_deterministic() {
    assert_eq!(emit_ok(&softmax(), Arch::Sm90a), emit_ok(&softmax(), Arch::Sm90a));
}

#[test]
fn emit_from_eight_threads_at_once_agrees_with_one() {
    let expected = emit_ok(&rmsnorm(), Arch::Sm90a);
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| emit_ok(&rmsnorm(), Arch::Sm90a))).collect();
        handles.into_iter().map(|h| h.join().is_ok_and(|m| m == expected)).collect()
    });
    assert_eq!(results, [true; 8]);
}

#[test]
fn register_budget_is_one_program_per_sm() {
    // 32 warps share the 65536 registers of an SM: 64 each.
    let kernel = super::ops::produce_with(32, |b| b.const_f32(1.5));
    assert!(emit_ok(&kernel, Arch::Sm80).ptx.contains(".maxnreg 64"));
}

#[test]
fn occupancy_caps_registers_at_its_share_of_an_sm_in_steps_of_8() {
    // 24 one-warp programs: 65536 / 768 = 85.3 registers, 80 in steps of 8.
    let mut kernel = super::ops::produce_with(1, |b| b.const_f32(1.5));
    kernel.occupancy = Some(24);
    assert!(emit_ok(&kernel, Arch::Sm90a).ptx.contains(".maxnreg 80"));
}

#[test]
fn occupancy_one_keeps_the_whole_budget_below_the_cap() {
    let mut kernel = super::ops::produce_with(1, |b| b.const_f32(1.5));
    kernel.occupancy = Some(1);
    assert!(emit_ok(&kernel, Arch::Sm90a).ptx.contains(".maxnreg 255"));
}

#[test]
fn codegen_options_parse_from_field_value_pairs() {
    use crate::codegen::{CodegenOptions, PingPong, Specialize};
    let parsed: Result<CodegenOptions, String> = "specialize=early, pingpong=all,tma=0".parse();
    let expected = CodegenOptions {
        specialize: Specialize::Early,
        pingpong: PingPong::All,
        tma: false,
        ..CodegenOptions::default()
    };
    assert_eq!(parsed, Ok(expected));
}

#[test]
fn empty_codegen_options_are_the_default() {
    assert_eq!("".parse::<crate::codegen::CodegenOptions>(), Ok(crate::codegen::CodegenOptions::default()));
}

#[test]
fn codegen_option_errors_name_the_field_and_the_choices() {
    let errors: Vec<String> = ["warps=4", "tma=yes", "specialize=on", "mma"]
        .iter()
        .map(|s| s.parse::<crate::codegen::CodegenOptions>().err().unwrap_or_default())
        .collect();
    assert_eq!(
        errors,
        [
            "unknown code generation option `warps`; the options are mma, tma, decoupled, pingpong, specialize",
            "`tma` takes 0 or 1; got `yes`",
            "unknown warp specialization `on`; supported: off, producer, early",
            "`mma` is not `field=value`",
        ]
    );
}
