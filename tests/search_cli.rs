//! `sparsefill search` as a user runs it, on tiny checkpoints written by the test: the config it writes
//! loads in `generate --patterns` and `attn --config` (and through the pattern-config loader, in both
//! formats), the progress line and the comparison it prints, the side report, and each way to fail.

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use sparsefill::model::synthetic::{write_checkpoint, SyntheticSpec};
use sparsefill::patterns::config::ModelConfig as PatternConfig;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;
use tempfile::TempDir;

mod common;

use common::{stderr, stdout};

/// tiny_llama (2 layers, 4 heads on 2 kv heads of 16 dims) with room for a 1024-token sample.
fn checkpoint() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let spec = SyntheticSpec { max_positions: 2048, ..SyntheticSpec::tiny_llama() };
    write_checkpoint(dir.path(), &spec).expect("the tiny checkpoint is written");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// `sparsefill search --model MODEL EXTRA...`.
fn search(model: &Path, extra: &[&str]) -> Output {
    let head = [OsStr::new("search"), OsStr::new("--model"), model.as_os_str()];
    common::sparsefill(head.into_iter().chain(extra.iter().map(OsStr::new)))
}

fn succeeds(model: &Path, extra: &[&str]) -> Output {
    let o = search(model, extra);
    assert!(o.status.success(), "search {extra:?} failed:\n{}", stderr(&o));
    o
}

fn fails_with(model: &Path, extra: &[&str], message: &str) {
    let o = search(model, extra);
    assert!(!o.status.success(), "search {extra:?} unexpectedly succeeded");
    assert!(stderr(&o).contains(message), "`{message}` not in:\n{}", stderr(&o));
}

/// A safetensors file of q `[1, 4, S, 16]`, k and v `[1, 2, S, 16]` (f32), as `attn` reads them.
fn qkv_file(dir: &Path, s: usize) -> String {
    let values = |heads: usize, salt: usize| -> Vec<u8> {
        (0..heads * s * 16).flat_map(|i| ((((i * 31 + salt) % 97) as f32 / 48.5) - 1.0).to_le_bytes()).collect()
    };
    let (q, k, v) = (values(4, 1), values(2, 2), values(2, 3));
    let views = [("q", &q, 4), ("k", &k, 2), ("v", &v, 2)]
        .map(|(name, bytes, heads)| (name, TensorView::new(Dtype::F32, vec![1, heads, s, 16], bytes).unwrap()));
    let file = dir.join("qkv.safetensors");
    safetensors::serialize_to_file(views, None, &file).unwrap();
    path(&file).to_owned()
}

#[test]
fn writes_a_config_that_generate_and_attn_load() {
    let model = checkpoint();
    let out = model.path().join("searched.json");
    let report = model.path().join("report.json");
    let o = succeeds(
        model.path(),
        &[
            "--random-tokens",
            "1024",
            "--seed",
            "3",
            "--synthetic-qk",
            "--target-density",
            "0.35",
            "--score-rows",
            "64",
            "--output",
            path(&out),
            "--report",
            path(&report),
        ],
    );
    let (err, text) = (stderr(&o), stdout(&o));
    // 64 evenly spaced rows, 4 of them among the last 64.
    assert!(
        err.contains("search: 1024 tokens, 2 layers x 4 heads, 124 rows scored per head, synthetic q/k/v"),
        "{err}"
    );
    assert!(err.contains("search: layer 2/2,") && err.contains("ETA"), "{err}");
    assert!(text.contains("| searched (per head)") && text.contains("best fixed pattern: "), "{text}");
    let config = PatternConfig::load(&out).unwrap();
    assert_eq!((config.num_layers(), config.num_heads()), (2, 4));

    // The report's comparison agrees with the config it came with.
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let scores: Vec<f64> = config.layers().iter().flatten().map(|h| h.score.unwrap()).collect();
    let searched = report["summary"]["searched"]["mean_recall"].as_f64().unwrap();
    assert!((searched - scores.iter().sum::<f64>() / 8.0).abs() < 1e-9, "{searched} vs {scores:?}");
    assert!(searched >= report["summary"]["best_fixed"]["mean_recall"].as_f64().unwrap());

    let generate = common::sparsefill([
        "generate",
        "--model",
        path(model.path()),
        "--patterns",
        path(&out),
        "--dense-below",
        "0",
        "--prompt",
        "the cat",
        "--max-new-tokens",
        "2",
    ]);
    assert!(generate.status.success(), "generate --patterns failed:\n{}", stderr(&generate));
    let attended = model.path().join("o.safetensors");
    let attn = common::sparsefill([
        "attn",
        "--input",
        &qkv_file(model.path(), 128),
        "--output",
        path(&attended),
        "--config",
        path(&out),
        "--layer",
        "1",
    ]);
    assert!(attn.status.success(), "attn --config failed:\n{}", stderr(&attn));
}

#[test]
fn minference_format_reads_back() {
    let model = checkpoint();
    let out = model.path().join("minference.json");
    let args = ["--random-tokens", "512", "--synthetic-qk", "--target-density", "0.5", "--format", "minference"];
    succeeds(model.path(), &[&args[..], &["--score-rows", "16", "--output", path(&out)]].concat());
    assert!(std::fs::read_to_string(&out).unwrap().starts_with('['));
    let config = PatternConfig::load(&out).unwrap();
    assert!(config.layers().iter().flatten().all(|h| h.pattern.name() != "tri_shape"));
}

#[test]
fn a_text_sample_is_tokenized_with_the_checkpoints_tokenizer() {
    let model = checkpoint();
    let sample = model.path().join("sample.txt");
    let text = "a short sample text, repeated. ".repeat(8);
    std::fs::write(&sample, &text).unwrap();
    let out = model.path().join("searched.json");
    let o = succeeds(
        model.path(),
        &["--sample", path(&sample), "--target", "a_shape:n_init=64,n_local=64", "--output", path(&out)],
    );
    let tokenizer = sparsefill::model::Tokenizer::from_file(&model.path().join("tokenizer.json")).unwrap();
    let tokens = tokenizer.encode(&text).unwrap().len();
    assert!(stderr(&o).contains(&format!("search: {tokens} tokens,")), "{}", stderr(&o));
    assert!(stdout(&o).contains("| target {\"n_init\":64,\"n_local\":64,\"pattern\":\"a_shape\"}"), "{}", stdout(&o));
    PatternConfig::load(&out).unwrap();
}

#[test]
fn a_sample_longer_than_the_model_is_refused() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    fails_with(
        model.path(),
        &["--random-tokens", "3000", "--output", path(&out)],
        "the sample has 3000 tokens but the model takes at most 2048 (max_position_embeddings)",
    );
}

#[test]
fn a_huge_random_sample_is_refused_before_it_is_drawn() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    fails_with(
        model.path(),
        &["--random-tokens", "18446744073709551615", "--output", path(&out)],
        "the sample has 18446744073709551615 tokens but the model takes at most 2048",
    );
}

#[test]
fn more_score_rows_than_tokens_scores_every_row() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    let o = succeeds(
        model.path(),
        &["--random-tokens", "128", "--output", path(&out), "--score-rows", "18446744073709551615"],
    );
    assert!(stderr(&o).contains("128 rows scored per head"), "{}", stderr(&o));
}

/// The tokenizer adds a BOS token to an empty text: without its own check the search would size every
/// pattern on that one token.
#[test]
fn an_empty_sample_text_is_refused() {
    let model = checkpoint();
    let sample = model.path().join("empty.txt");
    std::fs::write(&sample, " \n").unwrap();
    let out = model.path().join("out.json");
    fails_with(model.path(), &["--sample", path(&sample), "--output", path(&out)], "the sample is empty");
    assert!(!out.exists(), "a config was written");
}

#[test]
fn the_sample_is_never_an_output() {
    let model = checkpoint();
    let sample = model.path().join("sample.txt");
    std::fs::write(&sample, "a sample").unwrap();
    fails_with(model.path(), &["--sample", path(&sample), "--output", path(&sample)], "is the input");
    assert_eq!(std::fs::read_to_string(&sample).unwrap(), "a sample");
}

#[test]
fn a_report_on_the_config_path_is_refused() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    let same = model.path().join(".").join("out.json");
    fails_with(
        model.path(),
        &["--random-tokens", "64", "--output", path(&out), "--report", path(&same)],
        "the report would overwrite the config",
    );
}

#[test]
fn an_unwritable_report_names_its_flag() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    let report = model.path().join("no-such-dir").join("r.json");
    fails_with(
        model.path(),
        &["--random-tokens", "64", "--output", path(&out), "--report", path(&report)],
        "--report `",
    );
}

#[test]
fn a_target_with_invalid_parameters_is_refused_before_the_search() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    let o = search(
        model.path(),
        &["--random-tokens", "64", "--output", path(&out), "--target", "a_shape:n_init=0,n_local=0"],
    );
    assert!(!o.status.success(), "accepted an empty window");
    assert!(stderr(&o).contains("n_local must be at least 1"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("search: layer"), "refused only after the pre-fill started:\n{}", stderr(&o));
}

#[test]
fn a_target_no_candidate_meets_is_refused() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    let args = ["--random-tokens", "1024", "--output", path(&out)];
    fails_with(model.path(), &[&args[..], &["--target-density", "0.01"]].concat(), "no candidate fits the target");
    fails_with(
        model.path(),
        &[&args[..], &["--target-density", "1.5"]].concat(),
        "target density must be above 0 and at most 1 (dense); got 1.5",
    );
    fails_with(
        model.path(),
        &[&args[..], &["--target", "diagonal:k=3"]].concat(),
        "--target: unknown pattern `diagonal`",
    );
    assert!(!out.exists(), "a failed search wrote {}", out.display());
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_the_search() {
    let model = checkpoint();
    let missing = model.path().join("no-such-dir").join("out.json");
    fails_with(
        model.path(),
        &["--random-tokens", "64", "--output", path(&missing)],
        &format!(
            "--output `{}`: its directory `{}` does not exist",
            missing.display(),
            missing.parent().unwrap().display()
        ),
    );
    fails_with(model.path(), &["--random-tokens", "64", "--output", path(model.path())], "is a directory");
}

#[test]
fn a_missing_model_or_sample_is_named() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    let nowhere = model.path().join("nowhere");
    let o = search(&nowhere, &["--random-tokens", "64", "--output", path(&out)]);
    assert!(!o.status.success() && stderr(&o).contains(&nowhere.display().to_string()), "{}", stderr(&o));
    let sample = model.path().join("missing.txt");
    fails_with(
        model.path(),
        &["--sample", path(&sample), "--output", path(&out)],
        &format!("cannot read sample file `{}`", sample.display()),
    );
}

#[test]
#[cfg_attr(feature = "gpu", ignore = "expects a machine without a CUDA driver")]
fn cuda_without_gpu_support_or_driver_is_refused() {
    let model = checkpoint();
    let out = model.path().join("out.json");
    let expected = if cfg!(feature = "gpu") {
        "--device cuda: the CUDA driver library could not be loaded (looked for libcuda.so"
    } else {
        "--device cuda needs a build with the `gpu` feature (cargo build --release --features gpu); use --device cpu"
    };
    fails_with(model.path(), &["--random-tokens", "64", "--device", "cuda", "--output", path(&out)], expected);
}
