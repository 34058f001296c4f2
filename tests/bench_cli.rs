//! `sparsefill bench` as a user runs it, without a GPU: every argument error before
//! any device work, the output folder checks, the missing GPU (build or driver), and
//! `--merge-peers` over a bench.json and peers.json written here.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{stderr, stdout};

/// `sparsefill bench ARGS...`.
fn bench(args: &[&str]) -> Output {
    common::sparsefill(["bench"].iter().chain(args))
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("scratch directory")
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Fails with exactly one `error: ...` line that contains `expected`.
fn assert_error(out: &Output, expected: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "succeeded; stdout: {}", stdout(out));
    assert!(err.starts_with("error: ") && err.contains(expected), "stderr: {err}");
}

/// Arguments that pass every check, so a test varies one thing.
fn valid(out: &Path) -> Vec<String> {
    ["--out", &path_str(out), "--lengths", "8192", "--patterns", "a_shape:n_init=64,n_local=1024"]
        .map(String::from)
        .to_vec()
}

fn with(out: &Path, flag: &str, value: &str) -> Output {
    let mut args = valid(out);
    match args.iter().position(|a| a == flag) {
        Some(at) => args[at + 1] = value.to_string(),
        None => args.extend([flag.to_string(), value.to_string()]),
    }
    bench(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn malformed_lengths_are_refused() {
    let dir = scratch();
    assert_error(&with(dir.path(), "--lengths", "32k"), "--lengths `32k`: `32k` is not a whole number of tokens");
    assert_error(&with(dir.path(), "--lengths", "8192,,16384"), "is not a whole number of tokens");
    assert_error(&with(dir.path(), "--lengths", "0"), "0 is outside 1 ..= 2147483647 tokens");
}

#[test]
fn a_settling_time_that_is_not_milliseconds_is_refused() {
    let dir = scratch();
    let out = with(dir.path(), "--settle-ms", "2s");
    assert!(!out.status.success() && stderr(&out).contains("'--settle-ms <MS>'"), "{}", stderr(&out));
}

#[test]
fn chunks_of_heads_that_cut_a_group_are_refused_before_any_device_work() {
    let dir = scratch();
    assert_error(
        &with(dir.path(), "--vs-chunks", "3"),
        "--vs-chunks at S=8192: 3 chunks of heads do not fit 32 heads on 8 kv heads",
    );
    let out = with(dir.path(), "--vs-chunks", "0");
    assert!(!out.status.success() && stderr(&out).contains("'--vs-chunks <N>'"), "{}", stderr(&out));
}

#[test]
fn malformed_heads_are_refused() {
    let dir = scratch();
    assert_error(&with(dir.path(), "--heads", "6"), "--heads `6`: `6` is not a positive multiple of 4");
}

#[test]
fn malformed_patterns_are_refused() {
    let dir = scratch();
    assert_error(&with(dir.path(), "--patterns", "a_shape,,dense"), "--patterns `a_shape,,dense`: an empty entry");
    assert_error(&with(dir.path(), "--patterns", "top_k=4"), "`top_k=4` is an argument with no pattern name before it");
    assert_error(
        &with(dir.path(), "--patterns", "block_sparse:top_k=many"),
        "invalid pattern `block_sparse:top_k=many`",
    );
    assert_error(&with(dir.path(), "--patterns", "a_shape:n_init=1,n_local=0"), "n_local must be at least 1");
}

#[test]
fn an_unknown_pattern_names_the_known_ones() {
    let dir = scratch();
    assert_error(
        &with(dir.path(), "--patterns", "diagonal"),
        "unknown pattern `diagonal` in --patterns; known: dense, a_shape, tri_shape, vertical_slash, block_sparse, strided",
    );
}

#[test]
fn a_length_below_a_patterns_minimum_is_refused() {
    let dir = scratch();
    let out = bench(&["--out", &path_str(dir.path()), "--lengths", "4096", "--patterns", "vertical_slash"]);
    assert_error(&out, "--lengths 4096 is below `vertical_slash:vertical=1000,slash=6096`'s minimum of 6097 tokens");
    let out = bench(&["--out", &path_str(dir.path()), "--lengths", "1024", "--patterns", "block_sparse:top_k=16"]);
    assert_error(&out, "--lengths 1024 is below `block_sparse:top_k=16`'s minimum of 1025 tokens");
}

#[test]
fn a_file_in_place_of_the_output_folder_is_refused() {
    let dir = scratch();
    let file = dir.path().join("taken");
    std::fs::write(&file, "x").expect("write");
    assert_error(
        &with(dir.path(), "--out", &path_str(&file)),
        &format!("cannot write the output folder `{}`", file.display()),
    );
    let below = file.join("sub");
    assert_error(
        &with(dir.path(), "--out", &path_str(&below)),
        &format!("cannot write the output folder `{}`", below.display()),
    );
}

#[cfg(not(feature = "gpu"))]
#[test]
fn a_build_without_the_gpu_feature_says_how_to_get_one() {
    let dir = scratch();
    let out = bench(&valid(dir.path()).iter().map(String::as_str).collect::<Vec<_>>());
    assert_error(&out, "needs a build with the `gpu` feature (cargo build --release --features gpu)");
}

/// A `gpu` build on a machine without a driver (CI, this repository's build host).
#[cfg(feature = "gpu")]
#[test]
fn a_machine_without_a_gpu_is_a_clear_error() {
    if sparsefill::runtime::Gpu::new(0).is_ok() {
        eprintln!("skipped: this machine has a GPU");
        return;
    }
    let dir = scratch();
    let out = bench(&valid(dir.path()).iter().map(String::as_str).collect::<Vec<_>>());
    assert_error(&out, "sparsefill bench: cannot use the GPU: the CUDA driver");
}

#[test]
fn merge_peers_and_out_are_exclusive() {
    let dir = scratch();
    let out = bench(&["--out", &path_str(dir.path()), "--merge-peers", &path_str(dir.path())]);
    assert!(!out.status.success() && stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
}

/// A bench.json as `sparsefill bench` writes it: dense and one pattern at two lengths,
/// the pattern at a quarter of the dense time.
fn bench_json(dir: &Path) -> Value {
    let lengths: Vec<Value> = [(8192usize, 8usize), (16384, 4)]
        .iter()
        .map(|&(len, heads)| {
            let blocks = (len / 64) as f64;
            let causal = heads as f64 * blocks * (blocks + 1.0) / 2.0;
            let dense_ms = causal * 4.0 * 64.0 * 64.0 * 128.0 / 200e9;
            let run = |pattern: &str, share: f64, cover: Option<&str>| {
                let mut run = json!({
                    "pattern": pattern,
                    "ms": { "estimation": null, "index": null, "attention": dense_ms * share, "total": dense_ms * share },
                    "samples": { "estimation": null, "index": null, "attention": [dense_ms * share] },
                    "launches": [], "computed_tiles": causal * share, "causal_tiles": causal,
                    "check_ok": true, "check_rows": 4,
                });
                if let Some(file) = cover {
                    run["cover"] = json!({ "file": file, "blocks_set": 10, "causal_blocks": 40 });
                }
                run
            };
            let pattern = "a_shape:n_init=64,n_local=1024";
            json!({ "len": len, "heads": heads, "kv_heads": heads / 4, "patterns": [
                run("dense", 1.0, None), run(pattern, 0.25, Some(&format!("cover-{len}-1-a_shape.bin"))),
            ]})
        })
        .collect();
    let report = json!({
        "card": "Test Card", "driver": "1.0 (CUDA 13.0)", "arch": "sm_90a", "date": "2026-11-28 12:00 UTC",
        "command": "sparsefill bench", "commit": null, "knobs": "vertical_slash", "head_dim": 128,
        "warmup": 1, "iters": 1, "lengths": lengths,
    });
    std::fs::write(dir.join("bench.json"), report.to_string()).expect("write bench.json");
    report
}

/// peers.json for [`bench_json`]: cuDNN at half our dense time, Flex failing once.
fn peers_json(dir: &Path, report: &Value) -> Value {
    let lengths: Vec<Value> = report["lengths"]
        .as_array()
        .expect("lengths")
        .iter()
        .map(|l| {
            let dense = l["patterns"][0]["ms"]["total"].as_f64().expect("dense ms");
            let flex =
                if l["len"] == 8192 { json!({ "ms": dense * 0.3 }) } else { json!({ "error": "CompileError: boom" }) };
            let mut flex = flex;
            flex["pattern"] = l["patterns"][1]["pattern"].clone();
            json!({ "len": l["len"], "heads": l["heads"], "sdpa_cudnn": { "ms": dense * 0.5 },
                    "sdpa_flash": { "ms": dense * 0.8 }, "flex": [flex] })
        })
        .collect();
    let peers = json!({ "card": "Test Card", "torch": "2.9.0", "lengths": lengths });
    std::fs::write(dir.join("peers.json"), peers.to_string()).expect("write peers.json");
    peers
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn merge_peers_renders_ours_and_theirs_together() {
    let dir = scratch();
    let report = bench_json(dir.path());
    peers_json(dir.path(), &report);
    let out = bench(&["--merge-peers", &path_str(dir.path())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = read(dir.path(), "bench.md");
    assert!(md.starts_with("# sparsefill bench on Test Card\n"), "{md}");
    // cuDNN at half our dense time: our dense is 0.50x of it, the pattern (a quarter) 2.00x.
    let row = |name: &str| md.lines().filter(|l| l.contains(name)).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(row("SDPA cuDNN (torch)").len(), 2);
    assert!(row("dense (ours)")[0].contains("| 0.50x"), "{md}");
    assert!(row("| a_shape:n_init=64,n_local=1024")[0].contains("| 2.00x"), "{md}");
    assert!(md.contains("Flex over a_shape:n_init=64,n_local=1024 (torch): failed: CompileError: boom"), "{md}");
    for svg in ["latency.svg", "speedup.svg", "tflops.svg"] {
        let text = read(dir.path(), svg);
        assert!(text.starts_with("<svg ") && text.trim_end().ends_with("</svg>"), "{svg}");
        assert!(text.contains("Test Card") && text.contains("SDPA cuDNN (torch)"), "{svg}");
    }
}

/// A folder in place of one of the files: refused before any file is written, so bench.md is not left
/// rendered with peers beside plots without them.
#[test]
fn merge_peers_writes_nothing_when_one_file_cannot_be_written() {
    let dir = scratch();
    let report = bench_json(dir.path());
    peers_json(dir.path(), &report);
    std::fs::create_dir(dir.path().join("speedup.svg")).expect("a folder in the plot's place");
    let out = bench(&["--merge-peers", &path_str(dir.path())]);
    assert_error(&out, "speedup.svg");
    assert!(!dir.path().join("bench.md").exists(), "bench.md was written before the failure");
}

/// The files left in `dir` by name, temporary ones included.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list the folder")
        .map(|e| e.expect("a folder entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A write that fails after others succeeded (a file whose path leads nowhere, as a full
/// disk would fail it) leaves the previous bench.md in place and no temporary file.
#[test]
fn merge_peers_keeps_the_old_files_when_a_write_fails_midway() {
    let dir = scratch();
    let report = bench_json(dir.path());
    peers_json(dir.path(), &report);
    std::fs::write(dir.path().join("bench.md"), "the previous report").expect("an old bench.md");
    std::fs::create_dir(dir.path().join(".tflops.svg.partial")).expect("a folder where tflops.svg is first written");
    let before = listing(dir.path());
    let out = bench(&["--merge-peers", &path_str(dir.path())]);
    assert_error(&out, "tflops.svg");
    assert_eq!(read(dir.path(), "bench.md"), "the previous report");
    assert_eq!(listing(dir.path()), before);
}

/// A file that is a link to a path in a missing folder: the link is replaced by the new
/// file, and every file is the new one (before, bench.md was written and the link's write
/// failed, leaving a mixed set).
#[cfg(unix)]
#[test]
fn merge_peers_replaces_a_dangling_link_with_the_new_file() {
    let dir = scratch();
    let report = bench_json(dir.path());
    peers_json(dir.path(), &report);
    std::os::unix::fs::symlink(dir.path().join("missing").join("speedup.svg"), dir.path().join("speedup.svg"))
        .expect("a dangling link");
    let out = bench(&["--merge-peers", &path_str(dir.path())]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read(dir.path(), "bench.md").contains("SDPA cuDNN (torch)"));
    assert!(read(dir.path(), "speedup.svg").contains("SDPA cuDNN (torch)"));
    assert!(listing(dir.path()).iter().all(|name| !name.ends_with(".partial")), "{:?}", listing(dir.path()));
}

#[cfg(not(feature = "gpu"))]
#[test]
fn a_run_that_cannot_start_creates_no_folder() {
    let dir = scratch();
    let out_dir = dir.path().join("a").join("b");
    let out = bench(&valid(&out_dir).iter().map(String::as_str).collect::<Vec<_>>());
    assert_error(&out, "needs a build with the `gpu` feature");
    assert!(!dir.path().join("a").exists(), "{} was created", out_dir.display());
}

#[test]
fn merge_peers_names_a_missing_or_malformed_peers_file() {
    let dir = scratch();
    let report = bench_json(dir.path());
    let peers_path: PathBuf = dir.path().join("peers.json");
    let out = bench(&["--merge-peers", &path_str(dir.path())]);
    assert_error(&out, &format!("cannot read `{}`", peers_path.display()));
    let mut peers = peers_json(dir.path(), &report);
    peers["lengths"][1]["sdpa_flash"] = json!({ "milliseconds": 3 });
    std::fs::write(&peers_path, peers.to_string()).expect("write");
    let out = bench(&["--merge-peers", &path_str(dir.path())]);
    assert_error(&out, &format!("`{}`: field `lengths[1].sdpa_flash.ms` is missing", peers_path.display()));
}

#[test]
fn merge_peers_names_a_malformed_bench_file() {
    let dir = scratch();
    let mut report = bench_json(dir.path());
    peers_json(dir.path(), &report);
    report["lengths"][0]["heads"] = json!("eight");
    std::fs::write(dir.path().join("bench.json"), report.to_string()).expect("write");
    let out = bench(&["--merge-peers", &path_str(dir.path())]);
    assert_error(&out, "bench.json`: field `lengths[0].heads` must be a whole number");
}

#[test]
fn a_candidate_needs_a_kernel_and_a_file() {
    let dir = scratch();
    assert_error(
        &with(dir.path(), "--candidate", "next.tile"),
        "--candidate `next.tile`: expected KERNEL=FILE; e.g. --candidate sparse_vertical_slash=next.tile",
    );
}

#[test]
fn a_candidate_for_an_unknown_kernel_lists_the_kernels_it_may_replace() {
    let dir = scratch();
    assert_error(
        &with(dir.path(), "--candidate", "pool_blocks=next.tile"),
        "unknown kernel `pool_blocks`; it replaces one of attention, sparse_local, sparse_block, sparse_strided, \
         sparse_vertical_slash, sparse_vertical_slash_pairs, vs_row_stats, vs_combine_stats, vs_column_scores, vs_diagonal_scores, \
         topk_threshold, topk_write, vs_chain_stops, vs_chain, vs_hops, vs_convert, select_blocks",
    );
}

#[test]
fn a_missing_candidate_file_is_named() {
    let dir = scratch();
    let missing = dir.path().join("missing.tile");
    let out = with(dir.path(), "--candidate", &format!("sparse_local={}", path_str(&missing)));
    assert_error(&out, &format!("cannot read `{}`", path_str(&missing)));
}

#[test]
fn a_candidate_that_does_not_compile_is_refused_before_the_gpu() {
    let dir = scratch();
    let file = dir.path().join("broken.tile");
    std::fs::write(&file, "kernel sparse_local<D: i32 = 128>(q: tensor<bf16>[T, D]) grid(1) warps(4) { let x = ; }")
        .expect("write the broken candidate");
    let out = with(dir.path(), "--candidate", &format!("sparse_local={}", path_str(&file)));
    assert_error(&out, &format!("`{}` does not compile", path_str(&file)));
}

#[test]
fn an_unknown_vertical_slash_walk_lists_the_walks() {
    let dir = scratch();
    assert_error(&with(dir.path(), "--vs-walk", "tiles"), "[possible values: blocks, pairs]");
}
