//! scripts/gpu-run.sh on a fake pack: in the `optouts` part every test binary runs under each
//! code-generation opt-out, and a failure names the binary and the opt-out and fails the run;
//! in the `sparse` part SPARSE_ARGS reach the bench and PEERS_ARGS its peers. The binaries
//! and the peers script are stubs, so this runs on any machine (no GPU, no nvidia-smi).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A fresh pack: the script as `run.sh` beside an empty `bin/`.
fn fake_pack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gpu-run.sh"), dir.path().join("run.sh")).unwrap();
    dir
}

/// `bin/name` in the pack at `dir`: an executable holding `body`.
fn executable(dir: &Path, name: &str, body: &str) {
    let path = dir.join("bin").join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A test binary that echoes its arguments and passes, or fails where the environment holds
/// `fails_with` (`VAR=value`).
fn stub(dir: &Path, name: &str, fails_with: Option<&str>) {
    let fail = match fails_with {
        Some(setting) => {
            let (var, value) = setting.split_once('=').expect("VAR=value");
            format!("[ \"${{{var}:-}}\" = \"{value}\" ] && {{ echo 'test result: FAILED. 0 passed; 1 failed'; exit 101; }}\n")
        }
        None => String::new(),
    };
    let body =
        format!("#!/usr/bin/env bash\necho \"ran {name} $*\"\n{fail}echo 'test result: ok. 1 passed; 0 failed'\n");
    executable(dir, name, &body);
}

/// Runs the script as `pack/run.sh` with `ONLY=only` and `opt_outs` over two stub
/// binaries, the patterns one failing under `fails_with`: its exit code and summary.
fn run(only: &str, fails_with: Option<&str>, opt_outs: Option<&str>) -> (i32, String) {
    let dir = fake_pack();
    stub(dir.path(), "test-sparsefill-patterns-gpu", fails_with);
    stub(dir.path(), "test-sparsefill-runtime-gpu", None);
    let out = dir.path().join("out");
    let mut command = Command::new("bash");
    command.arg(dir.path().join("run.sh")).env("ONLY", only).env("OUT", &out).env_remove("OPT_OUTS");
    if let Some(list) = opt_outs {
        command.env("OPT_OUTS", list);
    }
    let status = command.output().expect("bash runs").status;
    let summary = std::fs::read_to_string(out.join("summary.log")).unwrap_or_default();
    (status.code().unwrap_or(-1), summary)
}

#[test]
fn every_binary_runs_under_every_opt_out() {
    let (code, summary) = run("optouts", None, None);
    for optout in [
        "SPARSEFILL_TMA=0",
        "SPARSEFILL_ALIGNED=0",
        "SPARSEFILL_ARCH=sm_80",
        "SPARSEFILL_SPECIALIZE=off",
        "SPARSEFILL_MMA=mma.sync",
    ] {
        for binary in ["test-sparsefill-patterns-gpu", "test-sparsefill-runtime-gpu"] {
            assert!(summary.contains(&format!("== test {binary} with {optout}")), "{optout} {binary}:\n{summary}");
        }
    }
    assert_eq!((code, summary.matches("test result: ok.").count()), (0, 10), "{summary}");
}

#[test]
fn a_failure_names_the_binary_and_the_opt_out_and_fails_the_run() {
    let (code, summary) = run("optouts", Some("SPARSEFILL_ARCH=sm_80"), None);
    assert_eq!(code, 1, "{summary}");
    assert!(summary.contains("FAILED: test-sparsefill-patterns-gpu with SPARSEFILL_ARCH=sm_80"), "{summary}");
    assert_eq!(summary.matches("FAILED:").count(), 1, "{summary}");
}

#[test]
fn opt_outs_narrow_the_list() {
    let (code, summary) = run("optouts", None, Some("SPARSEFILL_TMA=0"));
    assert_eq!((code, summary.matches("== test ").count()), (0, 2), "{summary}");
}

/// Not named, the part does not run: the default run is the shipped options'.
#[test]
fn the_part_runs_only_when_named() {
    let (code, summary) = run("tests", None, None);
    assert!(code == 0 && summary.contains("== test ") && !summary.contains(" with SPARSEFILL_"), "{summary}");
}

/// Runs the `sparse` part over a stub `sparsefill` (it writes bench.json where `--out` says)
/// and a stub `sparse_peers.py` (it writes peers.json), with SPARSE_ARGS and PEERS_ARGS:
/// the exit code, and the arguments each stub saw (their logs).
fn run_sparse(sparse_args: &str, peers_args: &str) -> (i32, String, String) {
    let dir = fake_pack();
    let bench = "#!/usr/bin/env bash\necho \"ran sparsefill $*\"\nwhile [ $# -gt 0 ]; do\n  \
                 if [ \"$1\" = --out ]; then mkdir -p \"$2\" && echo '{}' >\"$2/bench.json\"; fi\n  shift\ndone\n";
    executable(dir.path(), "sparsefill", bench);
    let peers = "import sys\nprint('ran sparse_peers.py', ' '.join(sys.argv[1:]))\n\
                 open(sys.argv[sys.argv.index('--out') + 1], 'w').write('{}')\n";
    std::fs::write(dir.path().join("sparse_peers.py"), peers).unwrap();
    let out = dir.path().join("out");
    let status = Command::new("bash")
        .arg(dir.path().join("run.sh"))
        .env("ONLY", "sparse")
        .env("OUT", &out)
        .env("SPARSE_ARGS", sparse_args)
        .env("PEERS_ARGS", peers_args)
        .output()
        .expect("bash runs")
        .status;
    let log = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    (status.code().unwrap_or(-1), log("sparse-bench.log"), log("sparse-peers.log"))
}

/// The sustained protocol of docs/gpu.md reaches both sides: the bench and its peers.
#[test]
fn sparse_args_reach_the_bench_and_peers_args_the_peers() {
    let (code, bench, peers) = run_sparse("--lengths 32768 --iters 50", "--settle-ms 10000 --iters 50");
    assert!(
        code == 0
            && bench.contains("ran sparsefill bench --out ")
            && bench.contains(" --lengths 32768 --iters 50")
            && peers.contains("ran sparse_peers.py --bench ")
            && peers.ends_with(" --settle-ms 10000 --iters 50\n"),
        "exit {code}\nbench log:\n{bench}\npeers log:\n{peers}"
    );
}
