//! File-to-file tests of the Tile IR text form and the passes.
//!
//! - `tests/passes/NAME.tile-ir` starts with `// RUN: pass,pass`; the input is parsed,
//!   verified, run through those passes, verified again, printed and compared with
//!   `tests/passes/NAME.expected`. `SPARSEFILL_BLESS=1` rewrites the expectations.
//! - `tests/ir_roundtrip/NAME.tile-ir` must print back exactly as written.
//! - Kernels built in code, covering every op, must survive print → parse unchanged.

use sparsefill_compiler::ir::builder::KernelBuilder;
use sparsefill_compiler::ir::parse::parse_kernel;
use sparsefill_compiler::ir::print::print_kernel;
use sparsefill_compiler::ir::verify::verify;
use sparsefill_compiler::ir::*;
use sparsefill_compiler::passes::pass_by_name;
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn parse(text: &str, path: &Path) -> Kernel {
    parse_kernel(text).unwrap_or_else(|e| panic!("{}:{e}", path.display()))
}

/// The passes named on the input's `// RUN:` line.
fn run_line(text: &str, path: &Path) -> Vec<String> {
    let line = text.lines().find_map(|l| l.trim().strip_prefix("// RUN:"));
    let line = line.unwrap_or_else(|| panic!("{}: no `// RUN: pass,...` line", path.display()));
    line.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

fn check_passes(name: &str) {
    let input = dir("passes").join(format!("{name}.tile-ir"));
    let text = read(&input);
    let mut kernel = parse(&text, &input);
    if let Err(e) = verify(&kernel) {
        panic!("{}: input does not verify: {e}", input.display());
    }
    for pass in run_line(&text, &input) {
        let run = pass_by_name(&pass).unwrap_or_else(|| panic!("{}: unknown pass `{pass}`", input.display()));
        run(&mut kernel);
        if let Err(e) = verify(&kernel) {
            panic!("{}: output of `{pass}` does not verify: {e}\n{}", input.display(), print_kernel(&kernel));
        }
    }
    let actual = print_kernel(&kernel);
    let expected_path = input.with_extension("expected");
    if blessing() {
        std::fs::write(&expected_path, &actual).unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        return;
    }
    let expected = read(&expected_path);
    assert!(
        actual == expected,
        "{} differs from the pass output (SPARSEFILL_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
        expected_path.display()
    );
    // Compared as text: a kernel holding a NaN constant never equals itself.
    let reprinted = print_kernel(&parse(&expected, &expected_path));
    assert!(reprinted == expected, "{} does not print back as written:\n{reprinted}", expected_path.display());
}

fn blessing() -> bool {
    std::env::var_os("SPARSEFILL_BLESS").is_some_and(|v| v == "1")
}

fn check_roundtrip(name: &str) {
    let path = dir("ir_roundtrip").join(format!("{name}.tile-ir"));
    let text = read(&path);
    assert_eq!(print_kernel(&parse(&text, &path)), text, "{} does not print back as written", path.display());
}

/// The names of the files with `extension` in `dir`, sorted.
fn fixtures(dir: &Path, extension: &str) -> Vec<String> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

macro_rules! pass_tests {
    ($($name:ident),* $(,)?) => {
        const PASS_CASES: &[&str] = &[$(stringify!($name)),*];
        mod pass_cases {
            $(#[test] fn $name() { super::check_passes(stringify!($name)); })*
        }
    };
}

macro_rules! roundtrip_tests {
    ($($name:ident),* $(,)?) => {
        const ROUNDTRIP_CASES: &[&str] = &[$(stringify!($name)),*];
        mod roundtrip_cases {
            $(#[test] fn $name() { super::check_roundtrip(stringify!($name)); })*
        }
    };
}

pass_tests!(
    dce_for_with_store_kept,
    dce_for_without_store_removed,
    dce_grid,
    dce_if_unused_removed,
    dce_if_with_store_kept,
    dce_inside_blocks,
    dce_keeps_stores,
    dce_nothing_to_do,
    dce_unused_bin_sum,
    dce_unused_chain,
    dce_unused_load,
    dce_does_not_fold,
    fold_cast,
    fold_chain_into_if,
    fold_cmp,
    fold_float,
    fold_for_zero_trip,
    fold_for_not_zero_trip,
    fold_grid,
    fold_i32_arith,
    fold_i32_div_rem,
    fold_if_false_inlines_else,
    fold_if_nested,
    fold_if_true_inlines_then,
    fold_in_loop_body,
    fold_nothing_to_do,
    fold_select,
    fold_tiles_untouched,
    fold_unary,
    fold_dce_dead_branch_inputs,
    fold_dce_loop_after_zero_trip,
    fold_dce_group_id,
);

roundtrip_tests!(attention_tile, control_flow, odd_names_and_floats, ill_typed, undefined_ids, stages, bin_sum, groups);

#[test]
fn every_pass_fixture_has_a_test() {
    assert_eq!(fixtures(&dir("passes"), "tile-ir"), sorted(PASS_CASES));
}

#[test]
fn every_pass_fixture_has_an_expectation() {
    if blessing() {
        return; // the expectations are being written by the other tests right now
    }
    assert_eq!(fixtures(&dir("passes"), "expected"), sorted(PASS_CASES));
}

#[test]
fn every_roundtrip_fixture_has_a_test() {
    assert_eq!(fixtures(&dir("ir_roundtrip"), "tile-ir"), sorted(ROUNDTRIP_CASES));
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    names.sort();
    names
}

fn roundtrip(kernel: &Kernel) -> Result<Kernel, String> {
    parse_kernel(&print_kernel(kernel)).map_err(|e| format!("{e}\n{}", print_kernel(kernel)))
}

/// One kernel using every op, every operator of each op family, every index form, every
/// literal form and every dtype; well typed, so it also passes the verifier.
fn every_op() -> Kernel {
    let mut b = KernelBuilder::new("every_op", 8);
    b.add_const("BLOCK", ConstValue::Int(-4));
    b.add_const("CAUSAL", ConstValue::Bool(false));
    let x = b.add_param(Param::Tensor {
        name: "x".into(),
        dtype: DType::BF16,
        dims: vec!["N".into(), "D".into()],
        const_dims: vec![None, Some(16)],
        aligned: false,
    });
    let h = b.tensor_param("h", DType::F16, &["N"]);
    let mask = b.tensor_param("mask", DType::Bool, &["N"]);
    let s = b.scalar_param("s", DType::F32);
    let flag = b.scalar_param("flag", DType::Bool);
    let n = b.scalar_param("n", DType::I32);
    b.grid(|b| {
        let rows = b.dim(x, 0);
        let count = b.arg(n);
        let big = b.binary(BinaryOp::Max, rows, count);
        let on = b.arg(flag);
        let picked = b.select(on, big, rows);
        let one = b.const_i32(1);
        [picked, one, one]
    });
    let pid = b.program_id(0);
    let pid1 = b.program_id(1);
    let pid2 = b.program_id(2);
    let group = b.group_id();
    let zero = b.const_i32(0);
    let ints = b.arange(pid, 8);
    let col = b.expand_dims(ints, 1);
    let grid8 = b.broadcast(col, vec![8, 16]);
    let sv = b.arg(s);
    let tile = b.splat(sv, vec![8, 16]);
    let loaded = b.load(x, vec![Index::Range { start: pid1, len: 8 }, Index::Range { start: zero, len: 16 }]);
    let wide = b.cast(loaded, DType::F32);
    for op in BinaryOp::ALL {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let t = b.const_bool(true);
                b.binary(op, t, t);
            }
            BinaryOp::Rem => {
                b.binary(op, grid8, grid8);
            }
            _ => {
                b.binary(op, wide, tile);
            }
        }
    }
    for op in UnaryOp::ALL {
        if op == UnaryOp::Not {
            let t = b.const_bool(false);
            b.unary(op, t);
        } else {
            b.unary(op, wide);
        }
    }
    let mut last_cmp = zero;
    for op in CmpOp::ALL {
        last_cmp = b.cmp(op, wide, tile);
    }
    let chosen = b.select(last_cmp, wide, tile);
    for op in ReduceOp::ALL {
        b.reduce(op, chosen, 1);
    }
    let row_sum = b.reduce(ReduceOp::Sum, chosen, 1);
    b.bin_sum(chosen, grid8, 32);
    let point = b.load(h, vec![Index::Point(pid2)]);
    let m = b.load(mask, vec![Index::Range { start: pid, len: 8 }]);
    let half = b.cast(row_sum, DType::F16);
    b.store(h, vec![Index::Range { start: pid, len: 8 }], half);
    b.store(h, vec![Index::Point(pid2)], point);
    b.store(h, vec![Index::Point(group)], point);
    b.store(mask, vec![Index::Range { start: pid, len: 8 }], m);
    for lit in [
        Literal::Float(0.1),
        Literal::Float(-0.0),
        Literal::Float(1e300),
        Literal::Float(f64::INFINITY),
        Literal::Float(f64::NEG_INFINITY),
        Literal::Float(5e-324),
        Literal::Int(-7),
    ] {
        b.push(Op::Const(lit), Type::scalar(DType::F32));
    }
    b.push(Op::Const(Literal::Int(i64::from(i32::MIN))), Type::scalar(DType::I32));
    let limit = b.dim(x, 1);
    let step = b.const_i32(4);
    let acc0 = b.splat(sv, vec![8]);
    let done = b.for_loop(zero, limit, step, vec![acc0, zero], |b, i, carried| {
        let inc = b.binary(BinaryOp::Add, carried[1], i);
        let more = b.cmp(CmpOp::Lt, inc, i);
        let next = b.if_(
            more,
            vec![Type::tile(DType::F32, vec![8])],
            |b| vec![b.binary(BinaryOp::Add, carried[0], row_sum)],
            |_| vec![carried[0]],
        );
        vec![next[0], inc]
    });
    let go = b.arg(flag);
    b.if_(
        go,
        Vec::new(),
        |b| {
            let out = b.cast(done[0], DType::F16);
            b.store(h, vec![Index::Range { start: pid, len: 8 }], out);
            Vec::new()
        },
        |_| Vec::new(),
    );
    b.finish()
}

#[test]
fn every_op_kernel_verifies() {
    assert_eq!(verify(&every_op()), Ok(()));
}

#[test]
fn every_op_kernel_roundtrips() {
    let k = every_op();
    assert_eq!(roundtrip(&k), Ok(k));
}

#[test]
fn num_stages_roundtrips_and_the_default_is_not_printed() {
    let mut k = every_op();
    assert_eq!(k.num_stages, DEFAULT_STAGES);
    assert!(!print_kernel(&k).contains("stages("), "the default is left out of the text");
    for stages in MIN_STAGES..=MAX_STAGES {
        k.num_stages = stages;
        let back = roundtrip(&k);
        assert_eq!(back.as_ref().map(|b| b.num_stages), Ok(stages));
        assert_eq!(back, Ok(k.clone()));
    }
}

#[test]
fn occupancy_roundtrips_and_is_printed_only_when_asked() {
    let mut k = every_op();
    assert!(!print_kernel(&k).contains("occupancy("), "no occupancy, no text");
    k.occupancy = Some(3);
    assert!(print_kernel(&k).contains(" occupancy(3) {"), "{}", print_kernel(&k));
    assert_eq!(roundtrip(&k), Ok(k));
}

#[test]
fn num_groups_roundtrips_and_one_is_not_printed() {
    let mut k = every_op();
    assert_eq!(k.num_groups, 1);
    assert!(!print_kernel(&k).contains("groups("), "one group, no text");
    for groups in [2, MAX_GROUPS] {
        k.num_groups = groups;
        assert!(print_kernel(&k).contains(&format!(" warps(8) groups({groups}) {{")), "{}", print_kernel(&k));
        assert_eq!(roundtrip(&k), Ok(k.clone()));
    }
}

#[test]
fn every_op_kernel_prints_every_mnemonic() {
    let text = print_kernel(&every_op());
    let missing: Vec<&str> = [
        "const",
        "program_id",
        "group_id",
        "dim",
        "arg",
        "arange",
        "splat",
        "expand_dims",
        "broadcast",
        "add",
        "sub",
        "mul",
        "div",
        "rem",
        "max",
        "min",
        "and",
        "or",
        "neg",
        "not",
        "abs",
        "exp",
        "exp2",
        "log2",
        "sqrt",
        "rsqrt",
        "cmp_lt",
        "cmp_le",
        "cmp_gt",
        "cmp_ge",
        "cmp_eq",
        "cmp_ne",
        "select",
        "cast",
        "reduce_sum",
        "reduce_max",
        "reduce_min",
        "bin_sum",
        "load",
        "store",
        "for",
        "if",
        "yield",
    ]
    .into_iter()
    .filter(|m| !text.contains(&format!(" {m} ")) && !text.contains(&format!(" {m}\n")))
    .collect();
    assert_eq!(missing, Vec::<&str>::new());
}

#[test]
fn nan_literals_keep_their_bits() {
    let mut b = KernelBuilder::new("nans", 1);
    for bits in [f64::NAN.to_bits(), (-f64::NAN).to_bits(), 0x7ff0_0000_0000_0001] {
        b.push(Op::Const(Literal::Float(f64::from_bits(bits))), Type::scalar(DType::F32));
    }
    let bits = |k: &Kernel| -> Vec<Option<u64>> {
        k.body
            .insts
            .iter()
            .map(|i| match i.op {
                Op::Const(Literal::Float(x)) => Some(x.to_bits()),
                _ => None,
            })
            .collect()
    };
    let k = b.finish();
    assert_eq!(roundtrip(&k).map(|p| bits(&p)), Ok(bits(&k)));
}

#[test]
fn values_removed_by_a_pass_keep_their_types() {
    let mut k = every_op();
    for run in ["fold", "dce"].into_iter().filter_map(pass_by_name) {
        run(&mut k);
    }
    assert_eq!(roundtrip(&k), Ok(k));
}

#[test]
fn ill_typed_builder_kernel_roundtrips() {
    let mut b = KernelBuilder::new("bad", 3);
    let one = b.const_i32(1);
    let f = b.const_f32(2.0);
    b.push(Op::Binary { op: BinaryOp::And, lhs: one, rhs: f }, Type::tile(DType::BF16, vec![3]));
    b.push_effect(Op::Yield { values: vec![one] });
    let k = b.finish();
    assert_eq!(roundtrip(&k), Ok(k));
}

#[test]
fn printing_is_stable() {
    let text = print_kernel(&every_op());
    assert_eq!(roundtrip(&every_op()).map(|k| print_kernel(&k)), Ok(text));
}

/// The parser's nesting limit is what bounds every recursive walk over parsed IR; the
/// deepest kernel it accepts must go through all of them without exhausting the stack.
#[test]
fn deepest_accepted_nesting_runs_through_everything() {
    let depth = 63; // the body block is the first of the 64 levels
    let mut text = String::from(
        "kernel @deep warps(1) {\n  param %out: tensor<i32>[N]\n  param %c: bool\n  grid {\n    %0 = const 1 : i32\n    \
         yield %0, %0, %0\n  }\n  body {\n    %1 = arg %c : bool\n    %2 = const 0 : i32\n",
    );
    text += &"if %1 {\n".repeat(depth);
    text += "store %out[%2], %2\n";
    text += &"yield\n} else {\nyield\n}\n".repeat(depth);
    text += "  }\n}\n";
    let optimized = parse_kernel(&text).map_err(|e| e.to_string()).and_then(|mut k| {
        verify(&k).map_err(|e| e.to_string())?;
        sparsefill_compiler::passes::run_default(&mut k);
        verify(&k).map_err(|e| e.to_string())?;
        Ok(k)
    });
    assert_eq!(optimized.and_then(|k| roundtrip(&k).map(|back| back == k)), Ok(true));
}
