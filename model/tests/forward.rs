//! The CPU backend's forward pass against the independent f64 reference, and the key/value cache against
//! a full forward pass over the same tokens.

mod common;

use common::reference::Reference;
use common::{checkpoint, prompt, relative_max_error};
use sparsefill_model::synthetic::SyntheticSpec;
use sparsefill_model::{LoadOptions, Model, Patterns, WeightDType};
use std::num::NonZeroUsize;

/// f32 activations against f64 differ by about 1e-7 of the largest logit; a wrong rotation, mask or bias
/// moves them by 1e-4 (a 1% error in one RoPE band) to tenths.
const TOLERANCE: f64 = 1e-5;

/// Pre-fills a random prompt of `len` tokens and checks the last-token logits against the reference.
fn check_prefill(spec: &SyntheticSpec, len: usize, seed: u64) {
    let dir = checkpoint(spec);
    let tokens = prompt(len, spec.vocab_size, seed);
    let mut model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let got = model.prefill(&tokens, &Patterns::dense()).unwrap();
    let error = relative_max_error(&got, &Reference::load(dir.path()).logits(&tokens));
    assert!(error < TOLERANCE, "relative max error {error}");
}

#[test]
fn llama_gqa_with_llama3_rope_matches_reference() {
    check_prefill(&SyntheticSpec::tiny_llama(), 70, 1);
}

#[test]
fn qwen2_with_qkv_bias_and_tied_embeddings_matches_reference() {
    check_prefill(&SyntheticSpec::tiny_qwen2(), 45, 2);
}

#[test]
fn mistral_sliding_window_matches_reference() {
    check_prefill(&SyntheticSpec::tiny_mistral(), 30, 3);
}

#[test]
fn llama_attention_bias_matches_reference() {
    let spec = SyntheticSpec { attention_bias: true, seed: 9, ..SyntheticSpec::tiny_llama() };
    check_prefill(&spec, 20, 4);
}

#[test]
fn float16_weights_match_reference() {
    let spec = SyntheticSpec { dtype: WeightDType::F16, seed: 10, ..SyntheticSpec::tiny_llama() };
    check_prefill(&spec, 12, 5);
}

#[test]
fn float32_weights_match_reference() {
    let spec = SyntheticSpec { dtype: WeightDType::F32, shards: 1, seed: 11, ..SyntheticSpec::tiny_qwen2() };
    check_prefill(&spec, 12, 6);
}

#[test]
fn single_token_prompt_matches_reference() {
    check_prefill(&SyntheticSpec::tiny_llama(), 1, 7);
}

/// Pre-fills `split` tokens, decodes the rest one by one, and compares the final logits with a pre-fill of
/// the whole sequence.
fn check_cache(spec: &SyntheticSpec, len: usize, split: usize) {
    let dir = checkpoint(spec);
    let tokens = prompt(len, spec.vocab_size, 8);
    let mut model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let full = model.prefill(&tokens, &Patterns::dense()).unwrap();
    model.prefill(&tokens[..split], &Patterns::dense()).unwrap();
    let mut last = Vec::new();
    for &token in &tokens[split..] {
        last = model.decode(token).unwrap();
    }
    let error = relative_max_error(&last, &full.iter().map(|v| *v as f64).collect::<Vec<_>>());
    assert!(error < 1e-6 && model.position() == len, "relative max error {error}, position {}", model.position());
}

#[test]
fn llama_prefill_then_decode_equals_full_forward() {
    check_cache(&SyntheticSpec::tiny_llama(), 40, 31);
}

#[test]
fn qwen2_prefill_then_decode_equals_full_forward() {
    check_cache(&SyntheticSpec::tiny_qwen2(), 25, 17);
}

#[test]
fn mistral_decode_past_the_window_equals_full_forward() {
    // The window is 8: the decoded tokens must drop the oldest keys exactly as the pre-fill does.
    check_cache(&SyntheticSpec::tiny_mistral(), 24, 5);
}

#[test]
fn chunked_mlp_gives_the_same_logits() {
    let spec = SyntheticSpec::tiny_llama();
    let dir = checkpoint(&spec);
    let tokens = prompt(50, spec.vocab_size, 9);
    let chunked = LoadOptions { mlp_chunk: NonZeroUsize::new(7).unwrap() };
    let whole = Model::load(dir.path(), &LoadOptions::default()).unwrap().prefill(&tokens, &Patterns::dense()).unwrap();
    let parts = Model::load(dir.path(), &chunked).unwrap().prefill(&tokens, &Patterns::dense()).unwrap();
    assert_eq!(parts, whole);
}

#[test]
fn a_second_prefill_starts_from_an_empty_cache() {
    let spec = SyntheticSpec::tiny_qwen2();
    let dir = checkpoint(&spec);
    let (first, second) = (prompt(10, spec.vocab_size, 10), prompt(12, spec.vocab_size, 11));
    let mut model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    model.prefill(&first, &Patterns::dense()).unwrap();
    let again = model.prefill(&second, &Patterns::dense()).unwrap();
    let error = relative_max_error(&again, &Reference::load(dir.path()).logits(&second));
    assert!(error < TOLERANCE && model.position() == 12, "relative max error {error}, position {}", model.position());
}
