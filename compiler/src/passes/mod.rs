//! Tile IR → Tile IR passes. Each takes verified IR and leaves verified IR, and never
//! renumbers: a value that survives keeps its id, so a pass test's expectation reads as a
//! diff of its input. Values a pass removes keep their `value_types` entry (the text form
//! lists them on its `undefined` line).

pub mod dce;
pub mod fold;
pub(crate) mod operands;

use crate::ir::Kernel;

/// Every pass [`pass_by_name`] knows, in the order [`run_default`] runs them.
pub const PASS_NAMES: &[&str] = &["fold", "dce"];

pub fn pass_by_name(name: &str) -> Option<fn(&mut Kernel)> {
    match name {
        "fold" => Some(fold::run),
        "dce" => Some(dce::run),
        _ => None,
    }
}

/// The pipeline after specialization: folding first turns constant branches into
/// straight-line code, which leaves the values only the other branch used for dce.
pub fn run_default(kernel: &mut Kernel) {
    fold::run(kernel);
    dce::run(kernel);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::parse::parse_kernel;
    use crate::ir::print::print_kernel;
    use expect_test::expect;

    #[test]
    fn every_listed_name_resolves() {
        assert!(PASS_NAMES.iter().all(|name| pass_by_name(name).is_some()));
    }

    #[test]
    fn unknown_name_gives_none() {
        assert!(pass_by_name("inline").is_none());
    }

    /// `run_default` folds before it sweeps: the constant condition and the values only
    /// the untaken branch read are gone in one run.
    #[test]
    fn default_pipeline_folds_then_sweeps() {
        let text = "kernel @k warps(1) {
  param %out: tensor<i32>[N]
  grid {
    %0 = const 1 : i32
    yield %0, %0, %0
  }
  body {
    %1 = const false : bool
    %2 = program_id 0 : i32
    %3 = const 5 : i32
    %6 = if %1 : i32 {
      %4 = mul %2, %3 : i32
      yield %4
    } else {
      %5 = add %2, %2 : i32
      yield %5
    }
    store %out[%2], %6
  }
}
";
        let mut kernel = match parse_kernel(text) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        run_default(&mut kernel);
        expect![[r#"
            kernel @k warps(1) {
              param %out: tensor<i32>[N]
              grid {
                %0 = const 1 : i32
                yield %0, %0, %0
              }
              body {
                %2 = program_id 0 : i32
                %5 = add %2, %2 : i32
                store %out[%2], %5
              }
              undefined %1: bool, %3: i32, %4: i32, %6: i32
            }
        "#]]
        .assert_eq(&print_kernel(&kernel));
    }
}
