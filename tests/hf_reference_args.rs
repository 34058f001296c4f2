//! scripts/hf_reference.py refuses bad arguments before it imports torch, so CI (no torch) can
//! check its errors.

use std::process::Command;

fn refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/hf_reference.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["--model", dir.path().to_str().unwrap(), "--out", "unused.json", "--random-tokens", "4"])
        .args(args)
        .output()
        .expect("python3 runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_negative_repeat_count_is_refused_with_its_value() {
    let err = refused(&["--repeat-prefill", "-1"]);
    assert!(err.contains("--repeat-prefill must be at least 0; got -1"), "{err}");
}
