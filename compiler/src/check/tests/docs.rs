//! Every example in docs/language.md compiles and prints back to itself, so the
//! reference cannot drift from the implementation.

use super::*;

const LANGUAGE_MD: &str = include_str!("../../../../docs/language.md");

/// The bodies of the untagged ``` blocks (tagged ones, like ```text, are not `.tile`).
fn examples() -> Vec<&'static str> {
    LANGUAGE_MD.split("```").skip(1).step_by(2).filter_map(|block| block.strip_prefix('\n')).collect()
}

#[test]
fn the_reference_has_examples() {
    assert!(examples().len() >= 10, "found {}", examples().len());
}

#[test]
fn every_example_in_the_reference_compiles() {
    let failures: Vec<String> = examples()
        .into_iter()
        .filter_map(|src| match try_lower(src, &[]) {
            Ok(k) => ir::verify::verify(&k).err().map(|e| format!("{src}\n=> invalid IR: {e}")),
            Err(d) => Some(d.render("language.md", src)),
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_reference_shows_a_helper_fn() {
    let with_fns = examples().into_iter().filter(|src| parse(src).is_ok_and(|f| !f.fns.is_empty())).count();
    // The helper-fn section and the `dtype` fn const example.
    assert!(with_fns >= 1, "found {with_fns}");
}

#[test]
fn every_example_in_the_reference_prints_back_to_the_same_tree() {
    let differing: Vec<&str> = examples()
        .into_iter()
        .filter(|src| {
            let printed = parse(src).map(|f| crate::syntax::print_ast(&f));
            let reprinted = printed.as_ref().map(|p| parse(p).map(|f| crate::syntax::print_ast(&f)));
            !matches!((&printed, &reprinted), (Ok(a), Ok(Ok(b))) if a == b)
        })
        .collect();
    assert_eq!(differing, Vec::<&str>::new());
}
