//! `sparsefill generate` as a user runs it, on tiny checkpoints written by the test: the text, the
//! pre-fill progress and timing lines, pattern configs, and each way to fail.

use sparsefill::model::synthetic::{write_checkpoint, SyntheticSpec};
use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;
use tempfile::TempDir;

mod common;

use common::{stderr, stdout};

fn checkpoint(spec: &SyntheticSpec) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_checkpoint(dir.path(), spec).expect("the tiny checkpoint is written");
    dir
}

/// `sparsefill generate --model MODEL EXTRA...`.
fn generate(model: &Path, extra: &[&str]) -> Output {
    let head = [OsStr::new("generate"), OsStr::new("--model"), model.as_os_str()];
    common::sparsefill(head.into_iter().chain(extra.iter().map(OsStr::new)))
}

fn succeeds(model: &Path, extra: &[&str]) -> Output {
    let o = generate(model, extra);
    assert!(o.status.success(), "generate {extra:?} failed:\n{}", stderr(&o));
    o
}

fn fails_with(model: &Path, extra: &[&str], message: &str) {
    let o = generate(model, extra);
    assert!(!o.status.success(), "generate {extra:?} unexpectedly succeeded");
    assert!(stderr(&o).contains(message), "`{message}` not in:\n{}", stderr(&o));
}

/// A pattern config in our format with `layers` x `heads` A-shape heads.
fn pattern_file(dir: &Path, layers: usize, heads: usize) -> String {
    let head = r#"{"pattern": "a_shape", "n_init": 4, "n_local": 64}"#;
    let layer = format!("[{}]", vec![head; heads].join(", "));
    let text = format!(r#"{{"format": "sparsefill-patterns/1", "layers": [{}]}}"#, vec![layer; layers].join(", "));
    let path = dir.join("patterns.json");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn prints_progress_time_to_first_token_and_decode_rate() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let o = succeeds(dir.path(), &["--prompt", "the cat sat on the mat", "--max-new-tokens", "8"]);
    let err = stderr(&o);
    // BOS, "the", " cat" (4 bytes), " sat" (4), " on" (3), " the", " mat" (4): 18 tokens.
    assert!(err.contains("prefill: layer 2/2, 18 tokens,") && err.contains("tokens/s"), "{err}");
    assert!(err.contains("time to first token:") && err.contains("decode: 7 tokens in"), "{err}");
}

#[test]
fn profile_prints_the_prefill_by_stage() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let err = stderr(&succeeds(dir.path(), &["--prompt", "the cat", "--max-new-tokens", "1", "--profile"]));
    assert!(err.contains("pre-fill by stage") && err.contains("| attention (dense) |"), "{err}");
}

#[test]
fn repeat_prefill_times_the_prefill_again_that_many_times() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let err = stderr(&succeeds(dir.path(), &["--prompt", "the cat", "--max-new-tokens", "1", "--repeat-prefill", "2"]));
    assert_eq!(err.matches("pre-fill again: ").count(), 2, "{err}");
}

#[test]
fn greedy_output_is_repeatable() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    let args = ["--prompt", "hello there", "--max-new-tokens", "12"];
    assert_eq!(stdout(&succeeds(dir.path(), &args)), stdout(&succeeds(dir.path(), &args)));
}

#[test]
fn prompt_file_gives_the_same_text_as_the_prompt() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    let file = dir.path().join("prompt.txt");
    std::fs::write(&file, "a prompt from a file").unwrap();
    let from_file = succeeds(dir.path(), &["--prompt-file", file.to_str().unwrap(), "--max-new-tokens", "6"]);
    let inline = succeeds(dir.path(), &["--prompt", "a prompt from a file", "--max-new-tokens", "6"]);
    assert_eq!(stdout(&from_file), stdout(&inline));
}

#[test]
fn seeded_sampling_is_repeatable() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let args = ["--prompt", "x", "--max-new-tokens", "10", "--temperature", "1.2", "--top-p", "0.9", "--seed", "5"];
    assert_eq!(stdout(&succeeds(dir.path(), &args)), stdout(&succeeds(dir.path(), &args)));
}

#[test]
fn zero_new_tokens_reports_the_prefill_only() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    let o = succeeds(dir.path(), &["--prompt", "only a prefill", "--max-new-tokens", "0"]);
    assert!(stderr(&o).contains("decode: no tokens after the first"), "{}", stderr(&o));
}

#[test]
fn matching_pattern_config_is_accepted() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let patterns = pattern_file(dir.path(), 2, 4);
    let args = ["--prompt", "sparse heads", "--max-new-tokens", "5"];
    let with = succeeds(dir.path(), &[&args[..], &["--patterns", &patterns, "--dense-below", "1"]].concat());
    assert_eq!(stdout(&with), stdout(&succeeds(dir.path(), &args)));
}

#[test]
fn pattern_config_with_the_wrong_head_count_is_refused() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let patterns = pattern_file(dir.path(), 2, 2);
    fails_with(
        dir.path(),
        &["--prompt", "x", "--patterns", &patterns],
        "the pattern config has 2 heads per layer but the model has 4 (num_attention_heads)",
    );
}

#[test]
fn pattern_config_with_the_wrong_layer_count_is_refused() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let patterns = pattern_file(dir.path(), 3, 4);
    fails_with(dir.path(), &["--prompt", "x", "--patterns", &patterns], "has 3 layers but the model has 2");
}

#[test]
fn malformed_pattern_config_names_the_file() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{\"format\": ").unwrap();
    fails_with(
        dir.path(),
        &["--prompt", "x", "--patterns", path.to_str().unwrap()],
        &format!("--patterns: `{}`: malformed JSON", path.display()),
    );
}

/// The CPU backend runs every head dense, but a config's values are checked all the same: the file is
/// wrong for the GPU it was written for.
#[test]
fn a_pattern_config_with_invalid_values_is_refused_on_the_cpu_too() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let path = dir.path().join("empty-window.json");
    let head = r#"{"pattern": "a_shape", "n_init": 1, "n_local": 0}"#;
    std::fs::write(&path, format!(r#"{{"format": "sparsefill-patterns/1", "layers": [[{head}]]}}"#)).unwrap();
    fails_with(
        dir.path(),
        &["--prompt", "x", "--patterns", path.to_str().unwrap()],
        "layer 0, head 0: pattern `a_shape`: n_local must be at least 1",
    );
}

/// Without the `gpu` feature the build says how to get one; with it, a machine without a driver says which
/// library it looked for (CI has no driver).
#[test]
#[cfg_attr(feature = "gpu", ignore = "expects a machine without a CUDA driver")]
fn cuda_without_gpu_support_or_driver_is_refused() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    let expected = if cfg!(feature = "gpu") {
        "--device cuda: the CUDA driver library could not be loaded (looked for libcuda.so"
    } else {
        "--device cuda needs a build with the `gpu` feature (cargo build --release --features gpu); use --device cpu"
    };
    fails_with(dir.path(), &["--prompt", "x", "--device", "cuda"], expected);
}

#[test]
fn logits_out_writes_the_prompt_logits_and_tokens() {
    let spec = SyntheticSpec::tiny_llama();
    let dir = checkpoint(&spec);
    let out = dir.path().join("ours.json");
    let path = out.to_string_lossy().into_owned();
    succeeds(dir.path(), &["--prompt", "the cat sat on the mat", "--max-new-tokens", "5", "--logits-out", &path]);
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let list = |key: &str| record[key].as_array().unwrap_or_else(|| panic!("no list `{key}` in {record}")).clone();
    let logits: Vec<f64> = list("last_logits").iter().map(|v| v.as_f64().unwrap()).collect();
    let greedy: Vec<u64> = list("greedy_tokens").iter().map(|v| v.as_u64().unwrap()).collect();
    let best = (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
    assert_eq!((list("prompt_tokens").len(), logits.len(), greedy.len()), (18, spec.vocab_size, 5));
    // Greedy decoding's first token is the argmax of the logits written.
    assert_eq!(greedy[0], best as u64);
}

#[test]
fn unwritable_logits_out_is_named_before_the_model_loads() {
    let path = Path::new("no-such-dir").join("ours.json");
    let path = path.to_string_lossy().into_owned();
    // No model there: the path is what is refused, so it is checked first.
    fails_with(
        Path::new("no/such/model"),
        &["--prompt", "x", "--logits-out", &path],
        "--logits-out `no-such-dir/ours.json`: its directory `no-such-dir` does not exist",
    );
}

#[test]
fn top_p_out_of_range_is_refused_even_when_greedy() {
    fails_with(Path::new("no/such/model"), &["--prompt", "x", "--top-p", "-0.5"], "top_p must be in (0, 1]; got -0.5");
}

#[test]
fn a_negative_count_names_its_flag() {
    fails_with(
        Path::new("no/such/model"),
        &["--prompt", "x", "--seed", "-1"],
        "invalid value '-1' for '--seed <SEED>'",
    );
}

#[test]
fn prompt_longer_than_the_model_is_refused() {
    let dir = checkpoint(&SyntheticSpec { max_positions: 8, ..SyntheticSpec::tiny_qwen2() });
    fails_with(
        dir.path(),
        &["--prompt", "a prompt of many more than eight bytes"],
        "tokens but the model takes at most 8 (max_position_embeddings)",
    );
}

#[test]
fn missing_prompt_file_is_named() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    fails_with(dir.path(), &["--prompt-file", "no/such/prompt.txt"], "cannot read prompt file `no/such/prompt.txt`");
}

#[test]
fn missing_model_directory_names_config_json() {
    fails_with(Path::new("no/such/model"), &["--prompt", "x"], "cannot read `no/such/model/config.json`");
}

#[test]
fn prompt_and_prompt_file_are_exclusive() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    fails_with(dir.path(), &["--prompt", "x", "--prompt-file", "p.txt"], "cannot be used with");
}

#[test]
fn a_prompt_is_required() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    fails_with(dir.path(), &[], "--prompt <PROMPT>");
}

#[test]
fn negative_temperature_is_refused() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    fails_with(dir.path(), &["--prompt", "x", "--temperature=-0.5"], "temperature must be a finite number above 0");
}

/// On a GPU (a `gpu` build's test): `--device cuda` writes the logits `--device cpu` does, within bf16's
/// tolerance (2% of the largest logit on this two-layer model), and the same greedy tokens.
#[cfg(feature = "gpu")]
#[test]
fn cuda_logits_match_cpu() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    let run = |device: &str| {
        let out = dir.path().join(format!("{device}.json"));
        let path = out.to_string_lossy().into_owned();
        let args =
            ["--prompt", "the cat sat on the mat", "--max-new-tokens", "6", "--device", device, "--logits-out", &path];
        succeeds(dir.path(), &args);
        let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        record
    };
    let (cpu, cuda) = (run("cpu"), run("cuda"));
    let logits = |r: &serde_json::Value| -> Vec<f64> {
        r["last_logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let (expected, got) = (logits(&cpu), logits(&cuda));
    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs()));
    let err = expected.iter().zip(&got).map(|(e, g)| (e - g).abs()).fold(0.0, f64::max) / scale;
    assert!(err <= 0.02, "relative max logit error {err:.3e}");
    assert_eq!((cuda["device"].as_str(), &cuda["greedy_tokens"]), (Some("cuda"), &cpu["greedy_tokens"]));
}
