//! File-level checks of the per-head pattern config: the hand-written MInference sample, loading with format
//! detection, saving, and robustness against truncated input.

use sparsefill_patterns::config::{HeadConfig, ModelConfig, PatternKind};
use std::path::PathBuf;

const SAMPLE: &str = include_str!("data/minference_sample.json");

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/minference_sample.json")
}

/// A per-test file in the system temp dir; the process id keeps concurrent test runs apart.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sparsefill-config-{}-{name}", std::process::id()))
}

fn head(pattern: PatternKind, score: f64) -> HeadConfig {
    HeadConfig { pattern, score: Some(score) }
}

fn expected_sample() -> ModelConfig {
    use PatternKind::*;
    ModelConfig::new(vec![
        vec![
            head(VerticalSlash { vertical: 1000, slash: 6096 }, 0.9816),
            head(AShape { n_init: 100, n_local: 800 }, 1.0),
            head(BlockSparse { top_k: 8 }, 0.97),
            head(VerticalSlash { vertical: 3500, slash: 100 }, 0.8842),
        ],
        vec![
            head(BlockSparse { top_k: 16 }, 0.9123),
            head(VerticalSlash { vertical: 1000, slash: 6096 }, 0.99),
            head(AShape { n_init: 64, n_local: 4096 }, 0.9951),
            head(VerticalSlash { vertical: 30, slash: 800 }, 0.7734),
        ],
    ])
    .unwrap()
}

#[test]
fn sample_imports_to_expected_config() {
    assert_eq!(ModelConfig::from_minference_json(SAMPLE).unwrap(), expected_sample());
}

#[test]
fn imported_sample_survives_our_format() {
    let imported = ModelConfig::from_minference_json(SAMPLE).unwrap();
    assert_eq!(ModelConfig::from_json(&imported.to_json()).unwrap(), imported);
}

#[test]
fn load_detects_minference_format() {
    assert_eq!(ModelConfig::load(sample_path()).unwrap(), expected_sample());
}

#[test]
fn save_then_load_round_trips() {
    let path = scratch("round-trip.json");
    expected_sample().save(&path).unwrap();
    let loaded = ModelConfig::load(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(loaded.unwrap(), expected_sample());
}

#[test]
fn our_format_is_not_minference() {
    let error = ModelConfig::from_minference_json(&expected_sample().to_json()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "expected a MInference config (a JSON array with one object per layer); got an object"
    );
}

#[test]
fn missing_file_names_path() {
    let path = scratch("does-not-exist.json");
    let message = ModelConfig::load(&path).unwrap_err().to_string();
    assert!(message.starts_with(&format!("cannot read `{}`: ", path.display())), "{message}");
}

#[test]
fn save_into_missing_directory_names_path() {
    let path = scratch("no-such-dir").join("config.json");
    let message = expected_sample().save(&path).unwrap_err().to_string();
    assert!(message.starts_with(&format!("cannot write `{}`: ", path.display())), "{message}");
}

#[test]
fn bad_file_contents_name_path_and_position() {
    let path = scratch("bad.json");
    std::fs::write(&path, "[{\"0\": [\"stream_llm\", 1, 2, 1.0]},\n  {\"0\": }]").unwrap();
    let message = ModelConfig::load(&path).unwrap_err().to_string();
    let _ = std::fs::remove_file(&path);
    assert_eq!(message, format!("`{}`: malformed JSON: expected value at line 2 column 9", path.display()));
}

#[test]
fn truncated_sample_errors_without_panicking() {
    let sample = SAMPLE.trim_end();
    let accepted: Vec<usize> = (0..sample.len())
        .filter(|&end| sample.is_char_boundary(end) && ModelConfig::parse(&sample[..end]).is_ok())
        .collect();
    assert_eq!(accepted, Vec::<usize>::new());
}

#[test]
fn truncated_our_format_errors_without_panicking() {
    let ours = expected_sample().to_json();
    let trimmed = ours.trim_end();
    let accepted: Vec<usize> = (0..trimmed.len()).filter(|&end| ModelConfig::parse(&trimmed[..end]).is_ok()).collect();
    assert_eq!(accepted, Vec::<usize>::new());
}
