//! `Model::generate`: greedy tokens against an argmax chain of full pre-fills, stopping, seeded sampling.

mod common;

use common::{argmax, checkpoint, prompt};
use sparsefill_model::synthetic::SyntheticSpec;
use sparsefill_model::{Event, FinishReason, GenerateOptions, LoadOptions, Model, Patterns, Sampling};

fn generate(spec: &SyntheticSpec, prompt_tokens: &[u32], options: &GenerateOptions) -> sparsefill_model::Generation {
    let dir = checkpoint(spec);
    let mut model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    model.generate(prompt_tokens, &Patterns::dense(), options, &mut |_| {}).unwrap()
}

#[test]
fn greedy_generation_follows_the_argmax_of_full_prefills() {
    let spec = SyntheticSpec::tiny_llama();
    let dir = checkpoint(&spec);
    let mut model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let mut sequence = prompt(12, spec.vocab_size, 1);
    let generated = model.generate(&sequence, &Patterns::dense(), &GenerateOptions::greedy(6), &mut |_| {}).unwrap();
    let mut expected = Vec::new();
    for _ in 0..6 {
        let next = argmax(&model.prefill(&sequence, &Patterns::dense()).unwrap());
        expected.push(next);
        sequence.push(next);
    }
    assert_eq!(generated.tokens, expected);
}

#[test]
fn generation_reports_progress_per_layer_then_each_token() {
    let spec = SyntheticSpec::tiny_qwen2();
    let dir = checkpoint(&spec);
    let mut model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let mut events = Vec::new();
    let generation = model
        .generate(&prompt(9, spec.vocab_size, 2), &Patterns::dense(), &GenerateOptions::greedy(3), &mut |e| {
            events.push(e)
        })
        .unwrap();
    let layers: Vec<_> =
        events.iter().filter_map(|e| if let Event::Prefill(p) = e { Some(p.layers_done) } else { None }).collect();
    let tokens: Vec<_> = events.iter().filter_map(|e| if let Event::Token(t) = e { Some(*t) } else { None }).collect();
    assert_eq!((layers, tokens), (vec![1, 2], generation.tokens));
}

#[test]
fn generation_stops_after_a_stop_token() {
    let spec = SyntheticSpec::tiny_llama();
    let tokens = prompt(10, spec.vocab_size, 3);
    let first = generate(&spec, &tokens, &GenerateOptions::greedy(1)).tokens[0];
    let options = GenerateOptions { stop_tokens: vec![first], ..GenerateOptions::greedy(8) };
    let generation = generate(&spec, &tokens, &options);
    assert_eq!((generation.tokens, generation.finish), (vec![first], FinishReason::Stop));
}

#[test]
fn generation_stops_when_the_context_is_full() {
    // Positions 0..=5 take the prompt and two decoded tokens; the token sampled at the last position ends it.
    let spec = SyntheticSpec { max_positions: 6, ..SyntheticSpec::tiny_qwen2() };
    let generation = generate(&spec, &prompt(4, spec.vocab_size, 4), &GenerateOptions::greedy(10));
    assert_eq!((generation.tokens.len(), generation.finish), (3, FinishReason::ContextFull));
}

#[test]
fn zero_new_tokens_runs_the_prefill_only() {
    let spec = SyntheticSpec::tiny_qwen2();
    let generation = generate(&spec, &prompt(4, spec.vocab_size, 5), &GenerateOptions::greedy(0));
    assert_eq!((generation.tokens.len(), generation.decode_tokens_per_second()), (0, None));
}

#[test]
fn seeded_sampling_repeats() {
    let spec = SyntheticSpec::tiny_llama();
    let options = GenerateOptions {
        sampling: Sampling::Random { temperature: 1.5, top_p: 0.95, seed: 42 },
        ..GenerateOptions::greedy(12)
    };
    let tokens = prompt(6, spec.vocab_size, 6);
    assert_eq!(generate(&spec, &tokens, &options).tokens, generate(&spec, &tokens, &options).tokens);
}

#[test]
fn sampling_at_high_temperature_leaves_the_greedy_path() {
    let spec = SyntheticSpec::tiny_llama();
    let tokens = prompt(6, spec.vocab_size, 7);
    let sampled = GenerateOptions {
        sampling: Sampling::Random { temperature: 5.0, top_p: 1.0, seed: 3 },
        ..GenerateOptions::greedy(12)
    };
    assert_ne!(
        generate(&spec, &tokens, &sampled).tokens,
        generate(&spec, &tokens, &GenerateOptions::greedy(12)).tokens
    );
}

#[test]
fn invalid_sampling_is_refused_before_the_prefill() {
    let spec = SyntheticSpec::tiny_qwen2();
    let dir = checkpoint(&spec);
    let mut model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let options = GenerateOptions {
        sampling: Sampling::Random { temperature: -1.0, top_p: 0.9, seed: 0 },
        ..GenerateOptions::greedy(2)
    };
    let error = model.generate(&[1, 2], &Patterns::dense(), &options, &mut |_| {}).unwrap_err();
    assert_eq!(
        (error.to_string(), model.position()),
        ("temperature must be a finite number above 0; got -1 (use greedy sampling for temperature 0)".into(), 0)
    );
}

#[test]
fn timings_are_ordered() {
    let spec = SyntheticSpec::tiny_qwen2();
    let g = generate(&spec, &prompt(8, spec.vocab_size, 8), &GenerateOptions::greedy(4));
    assert!(g.prefill <= g.time_to_first_token && g.decode_tokens_per_second().is_some_and(|r| r > 0.0), "{g:?}");
}

#[test]
fn kept_prompt_logits_are_the_prefills() {
    let spec = SyntheticSpec::tiny_qwen2();
    let dir = checkpoint(&spec);
    let mut model = Model::load(dir.path(), &LoadOptions::default()).unwrap();
    let tokens = prompt(10, spec.vocab_size, 8);
    let options = GenerateOptions { keep_prompt_logits: true, ..GenerateOptions::greedy(2) };
    let kept = model.generate(&tokens, &Patterns::dense(), &options, &mut |_| {}).unwrap().prompt_logits;
    assert_eq!(kept, Some(model.prefill(&tokens, &Patterns::dense()).unwrap()));
}

#[test]
fn prompt_logits_are_not_copied_unless_asked() {
    let spec = SyntheticSpec::tiny_llama();
    assert_eq!(generate(&spec, &prompt(5, spec.vocab_size, 9), &GenerateOptions::greedy(1)).prompt_logits, None);
}

#[test]
fn a_profiled_prefill_times_every_stage_of_every_layer() {
    // tiny_llama: 2 layers, and a prompt shorter than one MLP chunk.
    let spec = SyntheticSpec::tiny_llama();
    let options = GenerateOptions { profile: true, ..GenerateOptions::greedy(1) };
    let generation = generate(&spec, &prompt(10, spec.vocab_size, 8), &options);
    let stages = generation.prefill_stages.expect("a profiled pre-fill has stage times");
    let calls: Vec<(&str, usize)> = stages.stages().iter().map(|s| (s.stage, s.calls)).collect();
    assert_eq!(
        calls,
        [
            ("embedding", 1),
            ("rmsnorm", 2),
            ("q, k, v projections", 2),
            ("rope", 2),
            ("key/value cache append", 2),
            ("attention (dense)", 2),
            ("o projection", 2),
            ("residual add + rmsnorm", 2),
            ("gate, up projections", 2),
            ("swiglu", 2),
            ("down projection", 2),
            ("residual add", 2),
            ("logits of the last row", 1),
        ]
    );
    assert!(stages.total() <= generation.prefill, "{:?} staged in a {:?} pre-fill", stages.total(), generation.prefill);
}

#[test]
fn an_unprofiled_prefill_has_no_stage_times() {
    let spec = SyntheticSpec::tiny_qwen2();
    assert_eq!(generate(&spec, &prompt(4, spec.vocab_size, 9), &GenerateOptions::greedy(1)).prefill_stages, None);
}
