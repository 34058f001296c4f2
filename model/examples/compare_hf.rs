//! Compares the executor with a transformers run written by scripts/hf_reference.py: the same prompt ids
//! through `Model::prefill` (last-token logits: max absolute and relative error) and greedy
//! `Model::generate` (the same tokens?).
//!
//! cargo run --release -p sparsefill-model --example compare_hf -- CHECKPOINT_DIR REFERENCE.json

use serde_json::Value;
use sparsefill_model::{GenerateOptions, LoadOptions, Model, Patterns};
use std::process::ExitCode;

fn ids(reference: &Value, key: &str) -> Result<Vec<u32>, String> {
    let list = reference[key].as_array().ok_or(format!("the reference has no `{key}` list"))?;
    list.iter().map(|v| v.as_u64().map(|n| n as u32).ok_or(format!("`{key}` holds {v}, not a token id"))).collect()
}

fn run(dir: &str, reference_path: &str) -> Result<bool, String> {
    let text = std::fs::read_to_string(reference_path).map_err(|e| format!("cannot read {reference_path}: {e}"))?;
    let reference: Value = serde_json::from_str(&text).map_err(|e| format!("{reference_path}: {e}"))?;
    let prompt = ids(&reference, "prompt_tokens")?;
    let expected_tokens = ids(&reference, "greedy_tokens")?;
    let expected_logits: Vec<f64> = reference["last_logits"]
        .as_array()
        .ok_or("the reference has no `last_logits` list")?
        .iter()
        .map(|v| v.as_f64().ok_or(format!("`last_logits` holds {v}, not a number")))
        .collect::<Result<_, _>>()?;

    let mut model = Model::load(dir, &LoadOptions::default()).map_err(|e| e.to_string())?;
    let logits = model.prefill(&prompt, &Patterns::dense()).map_err(|e| e.to_string())?;
    if logits.len() != expected_logits.len() {
        return Err(format!("{} logits here, {} in the reference", logits.len(), expected_logits.len()));
    }
    let max_abs = logits.iter().zip(&expected_logits).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
    let scale = expected_logits.iter().fold(0f64, |m, v| m.max(v.abs()));
    let options = GenerateOptions::greedy(expected_tokens.len());
    let generation = model.generate(&prompt, &Patterns::dense(), &options, &mut |_| {}).map_err(|e| e.to_string())?;
    let same = generation.tokens == expected_tokens;
    let first_difference = generation.tokens.iter().zip(&expected_tokens).position(|(a, b)| a != b);
    println!("prompt: {} tokens; reference: {} {}", prompt.len(), reference["device"], reference["dtype"]);
    println!("last-token logits: max abs error {max_abs:.3e}, relative to max |logit| {:.3e}", max_abs / scale);
    println!(
        "greedy tokens: {} of {} generated; identical: {same} (first difference at {first_difference:?})",
        generation.tokens.len(),
        expected_tokens.len()
    );
    Ok(same)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, reference] = args.as_slice() else {
        eprintln!("usage: compare_hf CHECKPOINT_DIR REFERENCE.json (the JSON from scripts/hf_reference.py)");
        return ExitCode::from(2);
    };
    match run(dir, reference) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
