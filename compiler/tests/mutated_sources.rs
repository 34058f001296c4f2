//! Malformed input at every layer of the compiler, made by mutating the project's own
//! sources: no layer may panic, whatever it is given.
//!
//! Each case takes one shipped `.tile` kernel file or one Tile IR test file, applies one
//! to three random edits (a span deleted, a token inserted, a number or a name replaced,
//! a span duplicated, the text cut short, two characters swapped), and runs it as far as
//! it gets:
//! - `.tile`: parse, print the AST, specialize each kernel (front end, verifier, passes);
//!   a kernel that lowers must print as Tile IR text that parses back to the same text,
//!   and runs on the interpreter with small random arguments; the first few also go
//!   through code generation for sm_90a and sm_80;
//! - Tile IR text: parse, verify, run the passes on what verifies, print and parse back,
//!   and interpret, which must report malformed IR as an error.
//!
//! Errors are the expected outcome; a panic or a text that does not parse back fails the
//! test, which prints the mutated input. The seeds are fixed, so a failure reproduces.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::{parse::parse_kernel, print::print_kernel, verify::verify, DType, Kernel, Param};
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_compiler::{compile_ir, lower_source, passes, syntax, target::Arch};

const CASES: u64 = 3000;
/// Lowered kernels that also go through code generation (LLVM makes each one slow).
const CODEGEN_CASES: usize = 24;
/// A program count above this skips the interpreter: its cost, not its coverage, grows.
const MAX_PROGRAMS: u64 = 16;
/// An interpreter run that takes longer has met a mutated loop bound it cannot finish.
const INTERP_DEADLINE: Duration = Duration::from_secs(60);

const TOKENS: [&str; 28] = [
    "0",
    "-1",
    "1",
    "2147483647",
    "-2147483648",
    "64",
    "1e38",
    "inf",
    "-inf",
    "nan",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    "..",
    ":",
    "let",
    "for",
    "if",
    "else",
    "group_id()",
    "program_id(3)",
    "4294967296",
    "\u{0}",
];
const NUMBERS: [&str; 8] = ["0", "1", "3", "7", "1024", "65536", "2147483647", "99999999999"];

struct Source {
    path: String,
    text: String,
    is_ir: bool,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = ["../patterns/kernels", "../model/kernels", "tests/passes", "tests/ir_roundtrip"];
    let mut out = Vec::new();
    for dir in dirs {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let name = path.to_string_lossy().into_owned();
            let is_ir = name.ends_with(".tile-ir");
            if is_ir || name.ends_with(".tile") {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
                out.push(Source { path: name, text, is_ir });
            }
        }
    }
    out
}

fn mutate(src: &str, rng: &mut StdRng) -> String {
    let words: Vec<&str> = src.split(|c: char| !c.is_alphanumeric() && c != '_').filter(|w| !w.is_empty()).collect();
    let mut v: Vec<char> = src.chars().collect();
    for _ in 0..rng.random_range(1..4) {
        let i = rng.random_range(0..v.len().max(1)).min(v.len());
        let word_end = |v: &[char], mut j: usize| {
            while j < v.len() && (v[j].is_alphanumeric() || v[j] == '_') {
                j += 1;
            }
            j
        };
        match rng.random_range(0..7) {
            0 => {
                let j = (i + rng.random_range(1..20)).min(v.len());
                v.drain(i..j);
            }
            1 => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                v.splice(i..i, token.chars());
            }
            2 if v.get(i).is_some_and(char::is_ascii_digit) => {
                let mut j = i;
                while j < v.len() && v[j].is_ascii_digit() {
                    j += 1;
                }
                v.splice(i..j, NUMBERS[rng.random_range(0..NUMBERS.len())].chars());
            }
            3 => {
                let j = (i + rng.random_range(1..40)).min(v.len());
                let span: Vec<char> = v[i..j].to_vec();
                let at = rng.random_range(0..v.len().max(1)).min(v.len());
                v.splice(at..at, span);
            }
            4 if v.get(i).is_some_and(|c| c.is_alphabetic()) && !words.is_empty() => {
                let j = word_end(&v, i);
                v.splice(i..j, words[rng.random_range(0..words.len())].chars());
            }
            5 => v.truncate(i),
            _ => {
                let j = rng.random_range(0..v.len().max(1));
                if i < v.len() && j < v.len() {
                    v.swap(i, j);
                }
            }
        }
    }
    v.into_iter().collect()
}

/// Small random arguments for `kernel`'s parameters: sizes shared by name, a const
/// dimension usually its value, data with NaN, infinities and out-of-range indices.
fn random_args(kernel: &Kernel, rng: &mut StdRng) -> Option<Vec<ArgValue>> {
    let mut sizes = HashMap::new();
    let mut args = Vec::new();
    for param in &kernel.params {
        let arg = match param {
            Param::Tensor { dtype, dims, const_dims, .. } => {
                let shape: Vec<usize> = dims
                    .iter()
                    .zip(const_dims)
                    .map(|(name, fixed)| {
                        *sizes.entry(name.clone()).or_insert_with(|| match fixed {
                            Some(v) if rng.random_bool(0.9) => *v as usize,
                            _ => [0, 1, 2, 3, 5, 8, 17][rng.random_range(0..7)],
                        })
                    })
                    .collect();
                let len = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).filter(|&n| n <= 1 << 20)?;
                let data = (0..len)
                    .map(|_| match dtype {
                        DType::I32 => [0.0, 1.0, 2.0, -1.0, 3.0, 7.0, 1e9, -2147483648.0][rng.random_range(0..8)],
                        DType::Bool => f64::from(rng.random_range(0..2u8)),
                        _ => [0.0, 1.0, -2.5, 1e30, f64::NAN, f64::INFINITY, 0.125][rng.random_range(0..7)],
                    })
                    .collect();
                ArgValue::Tensor(HostTensor::from_f64(*dtype, &shape, data))
            }
            Param::Scalar { dtype, .. } => match dtype {
                DType::I32 => ArgValue::I32([0, 1, -1, 64, i32::MAX][rng.random_range(0..5)]),
                DType::Bool => ArgValue::Bool(rng.random_bool(0.5)),
                _ => ArgValue::F32([0.0, 1.0, -1.0, f32::NAN][rng.random_range(0..4)]),
            },
        };
        args.push(arg);
    }
    Some(args)
}

/// Interprets `kernel` on small random arguments, if its grid is small; true if it ran.
fn interpret(kernel: &Kernel, rng: &mut StdRng) -> bool {
    let Some(mut args) = random_args(kernel, rng) else { return false };
    let grid_args: Vec<_> = args.iter().map(ArgValue::grid_arg).collect();
    match interp::eval_grid(kernel, &grid_args) {
        Ok(g) if g.iter().map(|&n| u64::from(n)).product::<u64>() <= MAX_PROGRAMS => {}
        _ => return false,
    }
    let finished = Arc::new(AtomicBool::new(false));
    let watch = (finished.clone(), print_kernel(kernel));
    std::thread::spawn(move || {
        std::thread::sleep(INTERP_DEADLINE);
        if !watch.0.load(Ordering::SeqCst) {
            eprintln!("the interpreter ran past {INTERP_DEADLINE:?} on:\n{}", watch.1);
            std::process::abort();
        }
    });
    // Errors are expected: only a panic (caught by the caller) fails.
    let _ = interp::run(kernel, &mut args);
    finished.store(true, Ordering::SeqCst);
    true
}

/// Tile IR text printed from `kernel` must parse back and print the same.
fn reprints(kernel: &Kernel) -> Result<(), String> {
    let text = print_kernel(kernel);
    match parse_kernel(&text) {
        Ok(back) if print_kernel(&back) == text => Ok(()),
        Ok(back) => Err(format!("printed IR parses back to a different kernel:\n{text}\n---\n{}", print_kernel(&back))),
        Err(e) => Err(format!("printed IR does not parse back ({e}):\n{text}")),
    }
}

#[derive(Default)]
struct Counts {
    lowered: usize,
    ir_parsed: usize,
    interpreted: usize,
    generated: usize,
}

fn run_tile(src: &str, counts: &mut Counts, rng: &mut StdRng) -> Result<(), String> {
    let Ok(file) = syntax::parse(src) else { return Ok(()) };
    let _ = syntax::print_ast(&file);
    let names: Vec<&str> = src
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("kernel "))
        .filter_map(|rest| rest.split(|c: char| !c.is_alphanumeric() && c != '_').next())
        .take(2)
        .collect();
    for name in names {
        let Ok(kernel) = lower_source(src, Some(name), &[]) else { continue };
        counts.lowered += 1;
        reprints(&kernel)?;
        counts.interpreted += usize::from(interpret(&kernel, rng));
        if counts.generated < CODEGEN_CASES {
            counts.generated += 1;
            for arch in [Arch::Sm90a, Arch::Sm80] {
                let _ = compile_ir(&kernel, arch);
            }
        }
    }
    Ok(())
}

fn run_ir(text: &str, counts: &mut Counts, rng: &mut StdRng) -> Result<(), String> {
    let Ok(kernel) = parse_kernel(text) else { return Ok(()) };
    counts.ir_parsed += 1;
    if verify(&kernel).is_ok() {
        let mut optimized = kernel.clone();
        passes::run_default(&mut optimized);
        let _ = verify(&optimized);
    }
    reprints(&kernel)?;
    counts.interpreted += usize::from(interpret(&kernel, rng));
    Ok(())
}

#[test]
fn no_layer_panics_on_mutated_sources() {
    let sources = sources();
    assert!(sources.len() >= 20, "found only {} source files", sources.len());
    let mut rng = StdRng::seed_from_u64(20261130);
    let mut counts = Counts::default();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failure = None;
    for case in 0..CASES {
        let source = &sources[rng.random_range(0..sources.len())];
        let mutated = mutate(&source.text, &mut rng);
        let mut case_rng = StdRng::seed_from_u64(case);
        let outcome = catch_unwind(AssertUnwindSafe(|| match source.is_ir {
            true => run_ir(&mutated, &mut counts, &mut case_rng),
            false => run_tile(&mutated, &mut counts, &mut case_rng),
        }));
        let why = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(why)) => why,
            Err(panic) => {
                let message = panic.downcast_ref::<String>().cloned();
                let message = message.or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
                format!("panicked: {}", message.unwrap_or_default())
            }
        };
        failure = Some(format!("case {case}, a mutation of {}: {why}\n--- input ---\n{mutated}", source.path));
        break;
    }
    std::panic::set_hook(quiet);
    if let Some(failure) = failure {
        panic!("{failure}");
    }
    // The edits must leave enough inputs valid that each later layer is reached.
    assert!(counts.lowered >= 75, "only {} mutated kernels lowered", counts.lowered);
    assert!(counts.ir_parsed >= 40, "only {} mutated IR texts parsed", counts.ir_parsed);
    assert!(counts.interpreted >= 95, "only {} mutated kernels were interpreted", counts.interpreted);
    assert_eq!(counts.generated, CODEGEN_CASES, "too few mutated kernels reached code generation");
}
