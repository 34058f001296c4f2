//! Loading a checkpoint directory through `Model::load`, each way it can be broken, and the tokenizer.

mod common;

use common::{checkpoint, prompt};
use serde_json::{json, Value};
use sparsefill_model::synthetic::{SyntheticSpec, BOS_ID};
use sparsefill_model::{LoadOptions, Model, ModelError, Patterns};
use sparsefill_patterns::config::{HeadConfig, ModelConfig as PatternConfig, PatternKind};
use std::path::Path;

fn load(dir: &Path) -> Result<Model<sparsefill_model::CpuBackend>, ModelError> {
    Model::load(dir, &LoadOptions::default())
}

fn load_error(dir: &Path) -> String {
    load(dir).err().map(|e| e.to_string()).unwrap_or_else(|| "loaded".into())
}

/// Rewrites one field of the directory's config.json.
fn set_config(dir: &Path, field: &str, value: Value) {
    let path = dir.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config[field] = value;
    std::fs::write(path, config.to_string()).unwrap();
}

#[test]
fn sharded_llama_loads_with_its_tokenizer() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let model = load(dir.path()).unwrap();
    assert_eq!((model.config().num_layers, model.tokenizer().is_ok()), (2, true));
}

#[test]
fn missing_config_names_the_file() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    assert!(load_error(dir.path()).starts_with(&format!("cannot read `{}`", dir.path().join("config.json").display())));
}

#[test]
fn malformed_config_names_the_file() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    std::fs::write(dir.path().join("config.json"), "{\"hidden_size\": 64,").unwrap();
    assert!(
        load_error(dir.path()).starts_with(&format!("`{}`: malformed JSON", dir.path().join("config.json").display()))
    );
}

#[test]
fn config_missing_a_field_names_file_and_field() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    set_config(dir.path(), "intermediate_size", Value::Null);
    assert_eq!(
        load_error(dir.path()),
        format!("`{}`: missing field `intermediate_size`", dir.path().join("config.json").display())
    );
}

#[test]
fn unsupported_architecture_names_the_supported_ones() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    set_config(dir.path(), "architectures", json!(["PhiForCausalLM"]));
    assert!(load_error(dir.path()).ends_with(
        "unsupported architecture \"PhiForCausalLM\"; supported: LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM"
    ));
}

#[test]
fn missing_shard_is_named() {
    let spec = SyntheticSpec::tiny_llama();
    let dir = checkpoint(&spec);
    let shard = dir.path().join("model-00002-of-00002.safetensors");
    std::fs::remove_file(&shard).unwrap();
    assert!(load_error(dir.path()).starts_with(&format!("shard `{}` listed in", shard.display())));
}

#[test]
fn weight_of_the_wrong_shape_names_tensor_expected_and_got() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    set_config(dir.path(), "intermediate_size", json!(96));
    assert_eq!(
        load_error(dir.path()),
        "tensor `model.layers.0.mlp.gate_proj.weight`: expected shape [96, 64]; got [160, 64]"
    );
}

#[test]
fn weight_of_the_wrong_dtype_names_tensor_expected_and_got() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    set_config(dir.path(), "torch_dtype", json!("float32"));
    assert_eq!(load_error(dir.path()), "tensor `model.embed_tokens.weight`: expected dtype float32; got bfloat16");
}

#[test]
fn untied_model_without_lm_head_names_it() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    set_config(dir.path(), "tie_word_embeddings", json!(false));
    assert!(load_error(dir.path()).starts_with("tensor `lm_head.weight` is missing from the checkpoint"));
}

#[test]
fn qwen2_without_biases_names_the_first() {
    // A LLaMA checkpoint relabelled as Qwen2 lacks the q/k/v biases Qwen2 always has.
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    set_config(dir.path(), "architectures", json!(["Qwen2ForCausalLM"]));
    assert!(load_error(dir.path()).starts_with("tensor `model.layers.0.self_attn.q_proj.bias` is missing"));
}

#[test]
fn prompt_longer_than_max_positions_is_refused() {
    let spec = SyntheticSpec { max_positions: 16, ..SyntheticSpec::tiny_qwen2() };
    let dir = checkpoint(&spec);
    let error = load(dir.path()).unwrap().prefill(&prompt(17, spec.vocab_size, 1), &Patterns::dense()).unwrap_err();
    assert_eq!(error.to_string(), "the prompt has 17 tokens but the model takes at most 16 (max_position_embeddings)");
}

#[test]
fn empty_prompt_is_refused() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    let error = load(dir.path()).unwrap().prefill(&[], &Patterns::dense()).unwrap_err();
    assert_eq!(error.to_string(), "the prompt is empty; pre-fill needs at least one token");
}

#[test]
fn token_outside_the_vocabulary_is_refused() {
    let spec = SyntheticSpec::tiny_qwen2();
    let dir = checkpoint(&spec);
    let tokens = [1, 2, spec.vocab_size as u32];
    let error = load(dir.path()).unwrap().prefill(&tokens, &Patterns::dense()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "token {} at position 2 is outside the vocabulary of {} tokens (vocab_size)",
            spec.vocab_size, spec.vocab_size
        )
    );
}

#[test]
fn decode_before_prefill_is_refused() {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    let error = load(dir.path()).unwrap().decode(3).unwrap_err();
    assert!(matches!(error, ModelError::NotPrefilled), "{error}");
}

#[test]
fn decode_past_max_positions_is_refused() {
    let spec = SyntheticSpec { max_positions: 6, ..SyntheticSpec::tiny_qwen2() };
    let dir = checkpoint(&spec);
    let mut model = load(dir.path()).unwrap();
    model.prefill(&prompt(5, spec.vocab_size, 2), &Patterns::dense()).unwrap();
    model.decode(7).unwrap();
    let error = model.decode(8).unwrap_err();
    assert_eq!(error.to_string(), "the context is full: all 6 positions (max_position_embeddings) are used");
}

#[test]
fn pattern_config_for_another_model_is_refused_at_prefill() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    let dense = HeadConfig { pattern: PatternKind::Dense, score: None };
    let patterns = Patterns::sparse(PatternConfig::new(vec![vec![dense; 4]; 3]).unwrap(), 0);
    let error = load(dir.path()).unwrap().prefill(&[1, 2], &patterns).unwrap_err();
    assert_eq!(error.to_string(), "the pattern config has 3 layers but the model has 2 (num_hidden_layers)");
}

#[test]
fn sparse_patterns_run_dense_on_the_cpu_backend() {
    let spec = SyntheticSpec::tiny_llama();
    let dir = checkpoint(&spec);
    let head = HeadConfig { pattern: PatternKind::AShape { n_init: 1, n_local: 2 }, score: None };
    let patterns = Patterns::sparse(PatternConfig::new(vec![vec![head; 4]; 2]).unwrap(), 0);
    let tokens = prompt(20, spec.vocab_size, 3);
    let mut model = load(dir.path()).unwrap();
    assert_eq!(model.prefill(&tokens, &patterns).unwrap(), model.prefill(&tokens, &Patterns::dense()).unwrap());
}

#[test]
fn missing_tokenizer_is_reported_when_asked_for() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let error = load(dir.path()).unwrap().tokenizer().err().map(|e| e.to_string());
    assert_eq!(error, Some(format!("`{}` has no tokenizer.json; text prompts need one", dir.path().display())));
}

#[test]
fn malformed_tokenizer_names_the_file() {
    let dir = checkpoint(&SyntheticSpec::tiny_llama());
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    assert!(load_error(dir.path())
        .starts_with(&format!("cannot load tokenizer `{}`", dir.path().join("tokenizer.json").display())));
}

fn tokenizer_model() -> (tempfile::TempDir, Model<sparsefill_model::CpuBackend>) {
    let dir = checkpoint(&SyntheticSpec::tiny_qwen2());
    let model = load(dir.path()).unwrap();
    (dir, model)
}

#[test]
fn tokenizer_round_trips_text() {
    let (_dir, model) = tokenizer_model();
    let tokenizer = model.tokenizer().unwrap();
    let text = "the cat sat on the mat, héllo wörld ✓\n\ttabs";
    assert_eq!(tokenizer.decode(&tokenizer.encode(text).unwrap()).unwrap(), text);
}

#[test]
fn tokenizer_prepends_bos_and_applies_merges() {
    let (_dir, model) = tokenizer_model();
    // "the" merges to one token (id 257); " the" to another (258) after the space-marking byte map.
    assert_eq!(model.tokenizer().unwrap().encode("the the").unwrap(), vec![BOS_ID, 257, 258]);
}

#[test]
fn tokenizer_ids_fit_the_model() {
    let (_dir, model) = tokenizer_model();
    let ids = model.tokenizer().unwrap().encode("any text at all: 0123 ÿ").unwrap();
    assert!(ids.iter().all(|&id| (id as usize) < model.config().vocab_size), "{ids:?}");
}
