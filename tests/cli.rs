//! The CLI as a user runs it: each `--emit` stage, the demo, and each way to fail
//! with a clear message and a non-zero exit.

mod common;

use common::{sparsefill, stderr, stdout};
use std::path::Path;

fn check_ok(args: &[&str], expect_in_stdout: &str) {
    let o = sparsefill(args);
    assert!(o.status.success(), "{args:?} failed:\n{}", stderr(&o));
    assert!(stdout(&o).contains(expect_in_stdout), "{args:?}: `{expect_in_stdout}` not in:\n{}", stdout(&o));
}

fn check_err(args: &[&str], expect_in_stderr: &str) {
    let o = sparsefill(args);
    assert!(!o.status.success(), "{args:?} unexpectedly succeeded");
    assert!(stderr(&o).contains(expect_in_stderr), "{args:?}: `{expect_in_stderr}` not in:\n{}", stderr(&o));
}

/// `sparsefill ARGS...` with one environment variable set, e.g. to point a tool lookup nowhere.
fn sparsefill_with_env(args: &[&str], (key, value): (&str, &str)) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sparsefill"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SPARSEFILL_CACHE_DIR", std::env::temp_dir().join("sparsefill-cli-test-cache"))
        .env(key, value)
        .output()
        .expect("the sparsefill binary runs")
}

fn write_temp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("sparsefill-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn emits_ast() {
    check_ok(&["compile", "patterns/kernels/softmax.tile", "--emit", "ast"], "softmax");
}

#[test]
fn emits_tile_ir_with_specialized_const() {
    check_ok(&["compile", "patterns/kernels/softmax.tile", "--const", "BLOCK=1024", "--emit", "ir"], "BLOCK = 1024");
}

#[test]
fn emits_llvm_ir() {
    check_ok(&["compile", "patterns/kernels/rmsnorm.tile", "--emit", "llvm"], "nvptx64-nvidia-cuda");
}

#[test]
fn emits_ptx_for_sm80() {
    check_ok(&["compile", "patterns/kernels/vector_add.tile", "--arch", "sm_80", "--emit", "ptx"], ".target sm_80");
}

#[test]
fn emits_ptx_for_sm90a() {
    check_ok(&["compile", "patterns/kernels/vector_add.tile", "--emit", "ptx"], ".target sm_90a");
}

#[test]
fn wgmma_lowering_emits_wgmma_on_sm90a() {
    check_ok(&["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--mma", "wgmma"], "wgmma.mma_async");
}

/// PTX leaves a launch's shared memory and block size to the runtime, so `compile` notes
/// them: the numbers the compiled module gives the launcher.
#[test]
fn ptx_emit_notes_the_threads_and_shared_memory_a_launch_takes() {
    use sparsefill::compiler::{codegen::CodegenOptions, compile_ir_with, lower_source, target::Arch};
    let o = sparsefill(["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let source = std::fs::read_to_string("patterns/kernels/gemm.tile").unwrap();
    let module = lower_source(&source, Some("gemm"), &[])
        .and_then(|ir| compile_ir_with(&ir, Arch::Sm90a, &CodegenOptions::default()))
        .unwrap();
    assert!(module.shared_bytes > 0 && module.threads > 0);
    let note = format!(
        "note: `gemm` launches {} threads a program with {} bytes of dynamic shared memory",
        module.threads, module.shared_bytes
    );
    assert!(stderr(&o).contains(&note), "`{note}` not in:\n{}", stderr(&o));
}

/// `--ptxas` notes ptxas's report of the PTX `compile` printed: the numbers ptxas gives
/// for that PTX when assembled here directly.
#[test]
fn ptxas_flag_notes_the_registers_and_spills_ptxas_reports() {
    use sparsefill::compiler::codegen::ptxas::{assemble, available_for_tests};
    use sparsefill::compiler::target::Arch;
    if !available_for_tests("compile --ptxas") {
        return;
    }
    let args = ["compile", "patterns/kernels/rmsnorm.tile", "--arch", "sm_80", "--ptxas"];
    let o = sparsefill(args);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = assemble(&stdout(&o), Arch::Sm80).unwrap();
    let note = format!(
        "note: ptxas for sm_80: `rmsnorm` takes {} registers a thread at launch, {} bytes of spill stores, {} of \
         spill loads, {} of stack",
        report.registers, report.spill_stores, report.spill_loads, report.stack_bytes
    );
    assert!(report.registers > 0 && stderr(&o).contains(&note), "`{note}` not in:\n{}", stderr(&o));
}

#[test]
fn ptxas_flag_on_a_stage_before_ptx_is_refused() {
    check_err(
        &["compile", "patterns/kernels/rmsnorm.tile", "--emit", "ir", "--ptxas"],
        "--ptxas assembles the PTX, so it takes --emit ptx, llvm or sass; got --emit ir",
    );
}

#[test]
fn ptxas_flag_without_ptxas_says_where_it_looks() {
    let args = ["compile", "patterns/kernels/rmsnorm.tile", "--ptxas"];
    let o = sparsefill_with_env(&args, ("SPARSEFILL_PTXAS", "/no/such/ptxas"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("error: ptxas not found: set SPARSEFILL_PTXAS"), "{}", stderr(&o));
}

/// `--emit sass` disassembles the cubin ptxas makes of the PTX: cuobjdump's listing of the
/// kernel, ending in its EXIT.
#[test]
fn emits_sass_of_the_assembled_kernel() {
    use sparsefill::compiler::codegen::{cuobjdump, ptxas};
    if !ptxas::available_for_tests("compile --emit sass") || !cuobjdump::available_for_tests("compile --emit sass") {
        return;
    }
    let o = sparsefill(["compile", "patterns/kernels/rmsnorm.tile", "--arch", "sm_80", "--emit", "sass"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sass = stdout(&o);
    assert!(sass.contains("Function : rmsnorm") && sass.contains("EXIT"), "{sass}");
}

#[test]
fn emit_sass_without_cuobjdump_says_where_it_looks() {
    let args = ["compile", "patterns/kernels/rmsnorm.tile", "--emit", "sass"];
    let o = sparsefill_with_env(&args, ("SPARSEFILL_CUOBJDUMP", "/no/such/cuobjdump"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--emit sass: cuobjdump not found: set SPARSEFILL_CUOBJDUMP"), "{}", stderr(&o));
}

/// A reader that closes the pipe before the output is written (`| head`) ends the
/// output, not the program: exit 0 and no panic.
#[test]
fn a_closed_output_pipe_ends_compile_quietly() {
    let args = ["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--emit", "llvm"];
    let o = common::sparsefill_writing_to(args, common::Reader::Closed);
    assert!(o.status.success() && !stderr(&o).contains("panicked"), "{o:?}");
}

/// Any other failed write is an error that names it (here a full disk under a redirect).
#[test]
fn a_failed_write_of_the_output_is_reported() {
    let args = ["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--emit", "llvm"];
    let o = common::sparsefill_writing_to(args, common::Reader::FullDisk);
    assert!(!o.status.success(), "{o:?}");
    assert!(stderr(&o).contains("error: cannot write to stdout: No space left on device"), "{}", stderr(&o));
}

#[test]
fn unknown_mma_lowering_lists_supported() {
    check_err(&["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--mma", "hmma"], "mma-sync, wgmma");
}

#[test]
fn aligned_flag_prints_the_variant_with_the_contract() {
    let args = ["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--aligned", "a", "--emit", "ir"];
    check_ok(&args, "param %a: tensor<bf16>[M, K] aligned\n  param %b: tensor<bf16>[K, N]\n");
}

#[test]
fn aligned_flag_on_an_unknown_tensor_lists_the_tensors() {
    check_err(
        &["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--aligned", "scale"],
        "--aligned `scale`: kernel `gemm` has no tensor parameter of that name (its tensors: a, b, c)",
    );
}

#[test]
fn printed_ir_parses_back() {
    let o = sparsefill(["compile", "patterns/kernels/rmsnorm.tile", "--emit", "ir"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let kernel = sparsefill::compiler::ir::parse::parse_kernel(&text).unwrap();
    assert_eq!(sparsefill::compiler::ir::print::print_kernel(&kernel), text);
}

#[test]
fn missing_file_is_named() {
    check_err(&["compile", "no/such/kernel.tile"], "cannot read `no/such/kernel.tile`");
}

#[test]
fn syntax_error_shows_line_and_column() {
    let path = write_temp("bad_syntax.tile", "kernel k(x: tensor<f32>[N]) grid(N) {\n    let a = (1 + ;\n}\n");
    check_err(&["compile", &path, "--emit", "ir"], "bad_syntax.tile:2:");
}

#[test]
fn unknown_const_lists_known_ones() {
    check_err(&["compile", "patterns/kernels/softmax.tile", "--const", "BM=64"], "BLOCK");
}

#[test]
fn non_power_of_two_block_is_rejected() {
    check_err(&["compile", "patterns/kernels/softmax.tile", "--const", "BLOCK=96"], "power of two");
}

#[test]
fn unknown_arch_lists_supported() {
    check_err(&["compile", "patterns/kernels/softmax.tile", "--arch", "sm_70"], "supported: sm_80, sm_90a");
}

#[test]
fn malformed_const_flag_is_explained() {
    check_err(&["compile", "patterns/kernels/softmax.tile", "--const", "BLOCK"], "expected NAME=VALUE");
}

#[test]
fn demo_checks_the_foundation_kernels_and_every_pattern() {
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns/kernels").is_dir());
    let o = sparsefill(["demo"]);
    assert!(o.status.success(), "demo failed:\n{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for name in ["vector_add", "softmax", "rmsnorm"] {
        assert!(out.contains(name), "{name} missing from the demo table:\n{out}");
    }
    for pattern in sparsefill::patterns::config::PATTERNS {
        let row = out.lines().find(|l| l.starts_with(&format!("| {pattern}")));
        assert!(
            row.is_some_and(|r| r.contains("| matches ") && r.trim_end().ends_with("| ok     |")),
            "{pattern}:\n{out}"
        );
    }
    assert!(!out.contains("FAIL"), "{out}");
}

/// attention.tile at BN 128 with its tensors aligned (so its loop copies by TMA), with
/// `extra` options; the PTX it prints.
fn attention_bn128_ptx(extra: &[&str]) -> String {
    let mut args = vec!["compile", "patterns/kernels/attention.tile", "--kernel", "attention", "--const", "BN=128"];
    for t in ["q", "k", "v", "o"] {
        args.extend(["--aligned", t]);
    }
    args.extend(extra);
    let o = sparsefill(&args);
    assert!(o.status.success(), "{args:?} failed:\n{}", stderr(&o));
    stdout(&o)
}

#[test]
fn compile_takes_no_pingpong_turns_by_default() {
    assert!(!attention_bn128_ptx(&[]).contains("bar.arrive"));
}

#[test]
fn compile_pingpong_off_takes_no_turns() {
    assert!(!attention_bn128_ptx(&["--pingpong", "off"]).contains("bar.arrive"));
}

#[test]
fn compile_pingpong_wide_takes_turns_at_128_wide_tiles() {
    assert!(attention_bn128_ptx(&["--pingpong", "wide"]).contains("bar.arrive"));
}

#[test]
fn an_unknown_pingpong_choice_lists_the_supported_ones() {
    check_err(&["compile", "patterns/kernels/vector_add.tile", "--pingpong", "1"], "[possible values: off, wide, all]");
}

#[test]
fn a_kernel_without_tma_loops_is_noted_as_getting_no_producer() {
    let o = sparsefill(["compile", "patterns/kernels/vector_add.tile"]);
    let note = "note: `vector_add` gets no producer warpgroup: no loop copies all its prefetched tiles with TMA";
    assert!(o.status.success() && stderr(&o).contains(note), "{}", stderr(&o));
}

#[test]
fn an_aligned_gemm_gets_a_producer_warpgroup() {
    let o =
        sparsefill(["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--aligned", "a", "--aligned", "b"]);
    assert!(o.status.success() && stdout(&o).contains("setmaxnreg.dec"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("gets no producer"), "{}", stderr(&o));
}

#[test]
fn sm_80_is_noted_as_getting_no_producer() {
    let o = sparsefill(["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--arch", "sm_80"]);
    assert!(stderr(&o).contains("it takes sm_90a with wgmma and TMA; this is sm_80 with wgmma"), "{}", stderr(&o));
}

#[test]
fn unknown_specialize_choice_lists_supported() {
    check_err(
        &["compile", "patterns/kernels/gemm.tile", "--kernel", "gemm", "--specialize", "on"],
        "[possible values: off, producer, early]",
    );
}
