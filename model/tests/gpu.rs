//! The CUDA backend on a GPU, against the CPU backend (the f32/f64 reference): pre-fill logits and greedy
//! tokens of tiny synthetic LLaMA, Qwen2 (biases) and Mistral (sliding window) checkpoints, split-KV attention
//! over several chunks with grouped-query heads and a window, a pre-fill chunk after cached tokens, cache
//! growth, and the out-of-memory error. Every activation is poisoned with NaN when allocated, so an element a
//! kernel skips fails the comparison.
//!
//! Tolerances: the GPU keeps activations and weights in bf16 (8 significant bits, relative rounding 2^-9 ≈
//! 0.2%) and rounds after every operation; over the two layers of the tiny models that stays within a few
//! tenths of a percent of the largest logit, so 2% of the largest |logit| leaves a wide margin while still
//! catching a wrong kernel (a missing RoPE, head mix-up or bias is tens of percent). Attention alone, on
//! bf16-rounded inputs the CPU also sees, is held to 1%.

mod common;

use common::{argmax, checkpoint, prompt};
use sparsefill_model::backend::{AttentionCall, CpuBackend, CpuTensor, KvShape};
use sparsefill_model::checkpoint::WeightView;
use sparsefill_model::synthetic::SyntheticSpec;
use sparsefill_model::{
    Backend, BackendError, CudaBackend, GenerateOptions, LoadOptions, Model, Patterns, WeightDType,
};

const LOGIT_TOLERANCE: f64 = 0.02;
const ATTENTION_TOLERANCE: f64 = 0.01;

fn backend() -> CudaBackend {
    match CudaBackend::new(0) {
        Ok(b) => b.with_poisoned_outputs(true),
        Err(e) => panic!("the GPU tests need a GPU with the CUDA driver and cuBLAS: {e}"),
    }
}

/// The largest absolute difference over the largest reference magnitude; non-finite values fail.
fn relative_error(got: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(got.len(), expected.len(), "lengths differ");
    let bad = got.iter().position(|v| !v.is_finite());
    assert!(
        bad.is_none(),
        "non-finite value at {bad:?} (an element no kernel wrote is NaN): {:?}",
        &got[..got.len().min(16)]
    );
    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    got.iter().zip(expected).map(|(g, e)| (*g as f64 - *e as f64).abs()).fold(0.0, f64::max) / scale.max(1e-30)
}

fn load_both(spec: &SyntheticSpec) -> (tempfile::TempDir, Model<CpuBackend>, Model<CudaBackend>) {
    let dir = checkpoint(spec);
    let cpu = Model::load(dir.path(), &LoadOptions::default()).unwrap_or_else(|e| panic!("cpu load: {e}"));
    let gpu =
        Model::load_on(backend(), dir.path(), &LoadOptions::default()).unwrap_or_else(|e| panic!("cuda load: {e}"));
    (dir, cpu, gpu)
}

fn check_prefill(spec: &SyntheticSpec, len: usize, seed: u64) {
    let (_dir, mut cpu, mut gpu) = load_both(spec);
    let tokens = prompt(len, spec.vocab_size, seed);
    let expected = cpu.prefill(&tokens, &Patterns::dense()).unwrap_or_else(|e| panic!("cpu prefill: {e}"));
    let got = gpu.prefill(&tokens, &Patterns::dense()).unwrap_or_else(|e| panic!("cuda prefill: {e}"));
    let err = relative_error(&got, &expected);
    eprintln!("{:?} prefill of {len}: relative max error {err:.2e}", spec.architecture);
    assert!(err <= LOGIT_TOLERANCE, "{:?}: error {err:.3e} > {LOGIT_TOLERANCE}", spec.architecture);
    assert_eq!(argmax(&got), argmax(&expected), "{:?}: argmax differs", spec.architecture);
    // Decode steps: one row each through split-KV attention, the cache growing past the prompt.
    for step in 0..4 {
        let token = argmax(&expected);
        let expected = cpu.decode(token).unwrap_or_else(|e| panic!("cpu decode {step}: {e}"));
        let got = gpu.decode(token).unwrap_or_else(|e| panic!("cuda decode {step}: {e}"));
        let err = relative_error(&got, &expected);
        assert!(err <= LOGIT_TOLERANCE, "{:?} decode step {step}: error {err:.3e}", spec.architecture);
    }
}

#[test]
fn llama_prefill_and_decode_logits_match_cpu() {
    check_prefill(&SyntheticSpec::tiny_llama(), 70, 1);
}

#[test]
fn qwen2_with_biases_matches_cpu() {
    check_prefill(&SyntheticSpec::tiny_qwen2(), 33, 2);
}

#[test]
fn mistral_sliding_window_matches_cpu() {
    // The window (8) is far shorter than the prompt, so pre-fill takes the split-KV path with a window.
    check_prefill(&SyntheticSpec::tiny_mistral(), 40, 3);
}

#[test]
fn f32_checkpoint_is_rounded_to_bf16_and_matches_cpu() {
    check_prefill(&SyntheticSpec { dtype: WeightDType::F32, ..SyntheticSpec::tiny_llama() }, 20, 4);
}

#[test]
fn greedy_tokens_match_cpu() {
    let spec = SyntheticSpec::tiny_llama();
    let (_dir, mut cpu, mut gpu) = load_both(&spec);
    let tokens = prompt(24, spec.vocab_size, 5);
    let options = GenerateOptions::greedy(8);
    let expected = cpu.generate(&tokens, &Patterns::dense(), &options, &mut |_| {}).unwrap();
    let got = gpu.generate(&tokens, &Patterns::dense(), &options, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.tokens, expected.tokens);
}

/// Random bf16-valued `[rows, cols]` values: the same numbers on both backends.
fn random(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    prompt(rows * cols, 4001, seed)
        .iter()
        .map(|&t| half::bf16::from_f32((t as f32 - 2000.0) / 1000.0).to_f32())
        .collect()
}

fn upload_pair(
    cuda: &CudaBackend,
    rows: usize,
    cols: usize,
    values: Vec<f32>,
) -> (CpuTensor, sparsefill_model::CudaTensor) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = WeightView { name: "test", dtype: WeightDType::F32, shape: &[rows, cols], bytes: &bytes };
    let on_gpu = cuda.upload(&view).unwrap_or_else(|e| panic!("upload: {e}"));
    (CpuTensor::new(rows, cols, values).unwrap(), on_gpu)
}

struct AttentionCase {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Rows appended to the cache, in appends of these sizes.
    appends: Vec<usize>,
    /// Query rows, at the end of the cache.
    rows: usize,
    window: Option<usize>,
}

/// Fills both caches with the same keys and values (through appends that make the GPU cache grow), then
/// compares attention of the last `rows` positions.
fn check_attention(case: &AttentionCase, cuda: &CudaBackend, seed: u64) {
    let (h, hkv, d) = (case.heads, case.kv_heads, case.head_dim);
    let shape = KvShape { layers: 2, kv_heads: hkv, head_dim: d, capacity: 4 };
    let mut cpu_cache = CpuBackend.new_kv_cache(shape).unwrap();
    let mut gpu_cache = cuda.new_kv_cache(shape).unwrap_or_else(|e| panic!("{e}"));
    for (i, &n) in case.appends.iter().enumerate() {
        let (kc, kg) = upload_pair(cuda, n, hkv * d, random(n, hkv * d, seed + 10 * i as u64));
        let (vc, vg) = upload_pair(cuda, n, hkv * d, random(n, hkv * d, seed + 10 * i as u64 + 5));
        CpuBackend.append_kv(&mut cpu_cache, 1, &kc, &vc).unwrap();
        cuda.append_kv(&mut gpu_cache, 1, &kg, &vg).unwrap_or_else(|e| panic!("append {i}: {e}"));
    }
    let total: usize = case.appends.iter().sum();
    assert_eq!((gpu_cache.tokens(1), gpu_cache.tokens(0)), (total, 0));
    assert!(gpu_cache.capacity(1) >= total);
    let (qc, qg) = upload_pair(cuda, case.rows, h * d, random(case.rows, h * d, seed + 99));
    let call = AttentionCall {
        layer: 1,
        start: total - case.rows,
        heads: h,
        kv_heads: hkv,
        head_dim: d,
        scale: 1.0 / (d as f32).sqrt(),
        window: case.window,
        patterns: None,
    };
    let expected = CpuBackend.attention(&qc, &cpu_cache, &call).unwrap();
    let got = cuda.attention(&qg, &gpu_cache, &call).unwrap_or_else(|e| panic!("cuda attention: {e}"));
    let got = cuda.to_host(&got).unwrap_or_else(|e| panic!("{e}"));
    let err = relative_error(&got, &expected.data);
    eprintln!(
        "attention h {h} hkv {hkv} d {d} appends {:?} rows {} window {:?}: {err:.2e}",
        case.appends, case.rows, case.window
    );
    assert!(err <= ATTENTION_TOLERANCE, "error {err:.3e} > {ATTENTION_TOLERANCE}");
}

#[test]
fn decode_attention_over_several_chunks_matches_cpu() {
    let cuda = backend().with_min_decode_chunk(16);
    let case = AttentionCase { heads: 8, kv_heads: 2, head_dim: 64, appends: vec![100, 30, 1], rows: 1, window: None };
    check_attention(&case, &cuda, 1);
    let case = AttentionCase { heads: 32, kv_heads: 8, head_dim: 128, appends: vec![300, 1], rows: 1, window: None };
    check_attention(&case, &cuda, 2);
}

#[test]
fn decode_attention_with_a_window_matches_cpu() {
    let cuda = backend().with_min_decode_chunk(16);
    let case = AttentionCase { heads: 4, kv_heads: 1, head_dim: 32, appends: vec![90, 1], rows: 1, window: Some(37) };
    check_attention(&case, &cuda, 3);
}

#[test]
fn prefill_chunk_after_cached_tokens_matches_cpu() {
    let cuda = backend().with_min_decode_chunk(16);
    let case = AttentionCase { heads: 8, kv_heads: 4, head_dim: 64, appends: vec![50, 45], rows: 45, window: None };
    check_attention(&case, &cuda, 4);
    let windowed = AttentionCase { window: Some(20), ..case };
    check_attention(&windowed, &cuda, 5);
}

#[test]
fn dense_prefill_attention_matches_cpu() {
    let cuda = backend();
    for (heads, kv_heads, head_dim, rows) in [(4, 2, 16, 70), (8, 8, 128, 130), (14, 2, 64, 200)] {
        let case = AttentionCase { heads, kv_heads, head_dim, appends: vec![rows], rows, window: None };
        check_attention(&case, &cuda, rows as u64);
    }
}

#[test]
fn unsupported_head_dim_is_an_error() {
    let cuda = backend();
    let case_shape = KvShape { layers: 1, kv_heads: 1, head_dim: 96, capacity: 4 };
    let mut cache = cuda.new_kv_cache(case_shape).unwrap();
    let (_, k) = upload_pair(&cuda, 2, 96, random(2, 96, 1));
    let (_, v) = upload_pair(&cuda, 2, 96, random(2, 96, 2));
    cuda.append_kv(&mut cache, 0, &k, &v).unwrap();
    let call = AttentionCall {
        layer: 0,
        start: 0,
        heads: 1,
        kv_heads: 1,
        head_dim: 96,
        scale: 0.1,
        window: None,
        patterns: None,
    };
    let err = cuda.attention(&k, &cache, &call).map(|_| ()).unwrap_err();
    assert!(matches!(err, BackendError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("head_dim 96"), "{err}");
}

#[test]
fn out_of_memory_names_the_bytes_and_free_memory() {
    let cuda = backend();
    // 2^36 positions of 8 heads of 128 bf16: 256 TiB per tensor.
    let shape = KvShape { layers: 1, kv_heads: 8, head_dim: 128, capacity: 1 << 36 };
    let err = cuda.new_kv_cache(shape).map(|_| ()).unwrap_err();
    let message = err.to_string();
    eprintln!("{message}");
    match err {
        BackendError::OutOfMemory { requested, free, total, what } => {
            assert_eq!(requested, (8 * 128 * 2) << 36, "{message}");
            assert!(free <= total && total > 0, "{message}");
            assert!(what.contains("layer 0 keys"), "{message}");
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
}

#[test]
fn token_past_the_table_is_rejected_before_launch() {
    let cuda = backend();
    let (_, table) = upload_pair(&cuda, 10, 32, random(10, 32, 1));
    let err = cuda.embed(&table, &[3, 10]).map(|_| ()).unwrap_err();
    assert!(matches!(err, BackendError::TokenOutOfRange { token: 10, rows: 10 }), "{err}");
}
