//! scripts/gpu_pack_select.py on fake cargo output: which binaries gpu-pack ships. The GPU
//! machine's run.sh runs every bin/test-* it finds, so only each crate's `tests/gpu.rs`
//! target may be there; a CPU test named gpu_… (tests/gpu_run_script.rs) failed there in
//! session 32 until the selection was made exact.

use std::path::Path;
use std::process::Command;

/// One `compiler-artifact` message of `cargo --message-format=json` for target `name` of
/// package `package`, built as `exe` (an empty file written here).
fn artifact(dir: &Path, package: &str, name: &str) -> String {
    let exe = dir.join(format!("{package}-{name}-exe"));
    std::fs::write(&exe, "").unwrap();
    let id = format!("path+file:///src/{package}#{package}@0.1.0");
    serde_json::json!({
        "reason": "compiler-artifact",
        "package_id": id,
        "target": { "name": name, "kind": ["test"] },
        "executable": exe,
    })
    .to_string()
}

/// The names the script copies into a fresh pack/bin for `tests` (package, target) and the
/// `kernels` bench, or its error when it fails.
fn select(tests: &[(&str, &str)], with_bench: bool) -> Result<Vec<String>, String> {
    select_with(tests, with_bench, true)
}

/// [`select`], with cargo's test output written or not (`tests_written`).
fn select_with(tests: &[(&str, &str)], with_bench: bool, tests_written: bool) -> Result<Vec<String>, String> {
    let dir = tempfile::tempdir().unwrap();
    let (target, dest) = (dir.path().join("target"), dir.path().join("bin"));
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    let lines: Vec<String> = tests.iter().map(|(package, name)| artifact(&target, package, name)).collect();
    if tests_written {
        std::fs::write(target.join("gpu-pack-tests.json"), lines.join("\n") + "\n").unwrap();
    }
    let bench = if with_bench { artifact(&target, "sparsefill", "kernels") + "\n" } else { String::new() };
    std::fs::write(target.join("gpu-pack-bench.json"), bench).unwrap();
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gpu_pack_select.py"))
        .args([&dest, &target])
        .output()
        .expect("python3 runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut names: Vec<String> =
        std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    Ok(names)
}

const CRATES: [(&str, &str); 4] = [
    ("sparsefill-patterns", "gpu"),
    ("sparsefill-runtime", "gpu"),
    ("sparsefill", "gpu_run_script"),
    ("sparsefill", "cli"),
];

#[test]
fn only_each_crates_gpu_test_target_and_the_bench_are_packed() {
    assert_eq!(
        select(&CRATES, true),
        Ok(vec!["bench-kernels".into(), "test-sparsefill-patterns-gpu".into(), "test-sparsefill-runtime-gpu".into()])
    );
}

#[test]
fn a_missing_bench_fails_the_pack_and_names_it() {
    let err = select(&CRATES, false).expect_err("no bench binary");
    assert!(err.contains("the kernels bench binary was not built"), "{err}");
}

#[test]
fn no_gpu_test_target_fails_the_pack() {
    let err = select(&[("sparsefill", "gpu_run_script")], true).expect_err("nothing to run on the GPU");
    assert!(err.contains("no test target named `gpu`"), "{err}");
}

#[test]
fn missing_cargo_output_fails_the_pack_and_names_the_file() {
    let err = select_with(&CRATES, true, false).expect_err("no gpu-pack-tests.json");
    assert!(err.contains("cannot read cargo's output") && err.contains("gpu-pack-tests.json"), "{err}");
}
