//! Every kernel in docs/language.md compiles, so the reference cannot drift from
//! the implementation.

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
