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
//!
//! Sparse pre-fill (per-head patterns): the CPU backend computes pattern heads densely, so each head's output
//! is checked against its pattern run by the patterns crate on the CPU interpreter over the same inputs (1%,
//! as attention), and against dense attention, from which it must differ (so ignored patterns fail); a model
//! pre-fill with a mixed config must give finite logits that differ from the dense pre-fill's. The cache is
//! grown past the prompt, so the backend's views of it have a capacity larger than their length, and the
//! cases cover groups taken as views (whole GQA groups), gathered (groups they cut), and both at once.

mod common;

use common::{argmax, checkpoint, prompt};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_model::backend::{AttentionCall, CpuBackend, CpuTensor, KvShape};
use sparsefill_model::checkpoint::WeightView;
use sparsefill_model::synthetic::SyntheticSpec;
use sparsefill_model::{
    Backend, BackendError, CudaBackend, GenerateOptions, LoadOptions, Model, Patterns, WeightDType,
};
use sparsefill_patterns::config::{HeadConfig, ModelConfig as PatternConfig, PatternKind};
use sparsefill_patterns::sparse::dispatch::run_pattern;
use sparsefill_patterns::sparse::local::query_blocks::Backend as PatternBackend;
use sparsefill_patterns::sparse::AttentionInputs;

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

/// The fused residual add + RMSNorm on a span of rows in the middle, rows one tile wide and wider than a
/// tile: the updated rows and the norm against the CPU backend's (rows outside the span stay as they were).
#[test]
fn add_rmsnorm_rows_matches_cpu() {
    let cuda = backend();
    for (width, seed) in [(1024, 71), (1300, 72)] {
        let (mut x_cpu, mut x_gpu) = upload_pair(&cuda, 7, width, random(7, width, seed));
        let (y_cpu, y_gpu) = upload_pair(&cuda, 7, width, random(7, width, seed + 10));
        let (w_cpu, w_gpu) = upload_pair(&cuda, 1, width, random(1, width, seed + 20));
        let expected = CpuBackend.add_rmsnorm_rows(&mut x_cpu, 2..6, &y_cpu, &w_cpu, 1e-5).unwrap();
        let got = cuda.add_rmsnorm_rows(&mut x_gpu, 2..6, &y_gpu, &w_gpu, 1e-5).unwrap_or_else(|e| panic!("{e}"));
        let norm = relative_error(&cuda.to_host(&got).unwrap(), &expected.data);
        let stream = relative_error(&cuda.to_host(&x_gpu).unwrap(), &x_cpu.data);
        assert!(norm < ATTENTION_TOLERANCE && stream < ATTENTION_TOLERANCE, "width {width}: {norm:.2e}, {stream:.2e}");
    }
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

const A_SHAPE: PatternKind = PatternKind::AShape { n_init: 4, n_local: 48 };
const BLOCK_SPARSE: PatternKind = PatternKind::BlockSparse { top_k: 2 };
const VERTICAL_SLASH: PatternKind = PatternKind::VerticalSlash { vertical: 8, slash: 24 };

/// The least a sparse head must differ from dense attention (relative max error) for the case to show that
/// its pattern was applied: ten times the tolerance it is held to against its own pattern.
const SPARSE_DIFFERS: f64 = 10.0 * ATTENTION_TOLERANCE;

fn head_configs(kinds: &[PatternKind]) -> Vec<HeadConfig> {
    kinds.iter().map(|&pattern| HeadConfig { pattern, score: None }).collect()
}

/// Column `head` of a `[rows, heads * d]` matrix, every row.
fn head_of(values: &[f32], rows: usize, heads: usize, head: usize, d: usize) -> Vec<f32> {
    (0..rows).flat_map(|r| values[(r * heads + head) * d..][..d].iter().copied()).collect()
}

/// Random keys and values of `rows` tokens in layer 0 of a GPU cache, and random queries: the GPU tensor, and
/// the same values as the patterns crate takes them. The keys and values go in two appends, the second past
/// the capacity the first leaves, so the cache grows to twice that: its capacity is past `rows`.
fn sparse_case(
    cuda: &CudaBackend,
    heads: usize,
    kv_heads: usize,
    d: usize,
    rows: usize,
    seed: u64,
) -> (sparsefill_model::CudaTensor, sparsefill_model::CudaKvCache, AttentionInputs) {
    let shape = KvShape { layers: 1, kv_heads, head_dim: d, capacity: 16 };
    let mut cache = cuda.new_kv_cache(shape).unwrap_or_else(|e| panic!("{e}"));
    let width = kv_heads * d;
    let (keys, values) = (random(rows, width, seed), random(rows, width, seed + 1));
    let first = rows - 10;
    for (at, n) in [(0, first), (first, rows - first)] {
        let part = |x: &[f32]| x[at * width..(at + n) * width].to_vec();
        let (_, kg) = upload_pair(cuda, n, width, part(&keys));
        let (_, vg) = upload_pair(cuda, n, width, part(&values));
        cuda.append_kv(&mut cache, 0, &kg, &vg).unwrap_or_else(|e| panic!("append: {e}"));
    }
    assert!(cache.capacity(0) > rows, "the cache did not grow past the prompt");
    let (qc, qg) = upload_pair(cuda, rows, heads * d, random(rows, heads * d, seed + 2));
    let packed =
        |x: &[f32], n: usize| HostTensor::from_f64(DType::BF16, &[rows, n, d], x.iter().map(|&v| v as f64).collect());
    let inputs = AttentionInputs {
        q: packed(&qc.data, heads),
        k: packed(&keys, kv_heads),
        v: packed(&values, kv_heads),
        seqlens: vec![rows],
    };
    (qg, cache, inputs)
}

fn prefill_call(heads: usize, kv_heads: usize, d: usize, patterns: Option<&[HeadConfig]>) -> AttentionCall<'_> {
    AttentionCall {
        layer: 0,
        start: 0,
        heads,
        kv_heads,
        head_dim: d,
        scale: 1.0 / (d as f32).sqrt(),
        window: None,
        patterns,
    }
}

/// `CudaBackend::attention` with per-head patterns against each pattern on the CPU interpreter over all
/// heads (not through the views and gathers the backend uses), head by head.
fn check_sparse_prefill(kinds: &[PatternKind], kv_heads: usize, rows: usize, seed: u64) {
    let cuda = backend();
    let (h, d) = (kinds.len(), 64);
    let (q, cache, inputs) = sparse_case(&cuda, h, kv_heads, d, rows, seed);
    let patterns = head_configs(kinds);
    let call = prefill_call(h, kv_heads, d, Some(&patterns));
    let got = cuda.attention(&q, &cache, &call).unwrap_or_else(|e| panic!("cuda sparse attention: {e}"));
    let got = cuda.to_host(&got).unwrap_or_else(|e| panic!("{e}"));
    let on_interp = |kind: &PatternKind| {
        let out = run_pattern(&PatternBackend::Interp, &inputs, kind).unwrap_or_else(|e| panic!("interpreter: {e}"));
        out.o.data.iter().map(|&v| v as f32).collect::<Vec<f32>>()
    };
    let dense = on_interp(&PatternKind::Dense);
    for kind in kinds.iter().enumerate().filter(|(i, k)| !kinds[..*i].contains(k)).map(|(_, k)| k) {
        let expected = if *kind == PatternKind::Dense { dense.clone() } else { on_interp(kind) };
        for head in (0..h).filter(|&x| kinds[x] == *kind) {
            let got = head_of(&got, rows, h, head, d);
            let err = relative_error(&got, &head_of(&expected, rows, h, head, d));
            let from_dense = relative_error(&got, &head_of(&dense, rows, h, head, d));
            eprintln!("head {head} {}: error {err:.2e}, from dense {from_dense:.2e}", kind.name());
            assert!(err <= ATTENTION_TOLERANCE, "head {head} {kind:?}: error {err:.3e} > {ATTENTION_TOLERANCE}");
            if *kind != PatternKind::Dense {
                assert!(from_dense > SPARSE_DIFFERS, "head {head} {kind:?} is dense attention ({from_dense:.3e})");
            }
        }
    }
}

#[test]
fn sparse_prefill_heads_match_their_patterns_across_gqa_groups() {
    // 6 query heads on 2 kv heads (groups of 3): a_shape takes heads 1 and 3 (two runs, two GQA groups),
    // so every pattern group cuts a GQA group and is gathered, with one kv head per query head.
    let kinds = [PatternKind::Dense, A_SHAPE, BLOCK_SPARSE, A_SHAPE, VERTICAL_SLASH, PatternKind::Dense];
    check_sparse_prefill(&kinds, 2, 256, 11);
}

#[test]
fn sparse_prefill_of_whole_gqa_groups_without_dense_heads_writes_every_head() {
    // Each pattern holds whole GQA groups (views, no copy), and no head is dense, so the dense kernel is
    // skipped: the poisoned output shows any column the patterns left unwritten.
    check_sparse_prefill(&[BLOCK_SPARSE, BLOCK_SPARSE, A_SHAPE, A_SHAPE], 2, 200, 12);
}

#[test]
fn sparse_prefill_of_a_group_with_whole_and_cut_gqa_groups_views_some_heads_and_gathers_the_rest() {
    // 6 query heads on 3 kv heads (groups of 2): a_shape's heads 0, 1, 2 are kv 0's whole group (a view)
    // and half of kv 1's (gathered); block_sparse and vertical_slash each cut kv 2's group (gathered).
    let kinds = [A_SHAPE, A_SHAPE, A_SHAPE, PatternKind::Dense, BLOCK_SPARSE, VERTICAL_SLASH];
    check_sparse_prefill(&kinds, 3, 230, 16);
}

#[test]
fn sparse_prefill_with_a_pattern_per_head_count_mismatch_is_an_error() {
    let cuda = backend();
    let (q, cache, _) = sparse_case(&cuda, 4, 2, 64, 70, 13);
    let patterns = head_configs(&[A_SHAPE, A_SHAPE]);
    let err = cuda.attention(&q, &cache, &prefill_call(4, 2, 64, Some(&patterns))).map(|_| ()).unwrap_err();
    assert!(matches!(err, BackendError::Shape { .. }), "{err}");
    assert_eq!(err.to_string(), "attention: the per-head patterns must be 4; got 2");
}

#[test]
fn sparse_prefill_with_another_scale_is_unsupported() {
    let cuda = backend();
    let (q, cache, _) = sparse_case(&cuda, 2, 1, 64, 70, 14);
    let patterns = head_configs(&[A_SHAPE, PatternKind::Dense]);
    let call = AttentionCall { scale: 0.5, ..prefill_call(2, 1, 64, Some(&patterns)) };
    let err = cuda.attention(&q, &cache, &call).map(|_| ()).unwrap_err();
    assert!(matches!(err, BackendError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("scale 0.5 with sparse patterns"), "{err}");
}

#[test]
fn a_pattern_that_fails_names_the_layer_and_the_pattern() {
    let cuda = backend();
    let (q, cache, _) = sparse_case(&cuda, 2, 1, 64, 70, 15);
    let patterns = head_configs(&[PatternKind::Dense, PatternKind::AShape { n_init: 1, n_local: 0 }]);
    let err = cuda.attention(&q, &cache, &prefill_call(2, 1, 64, Some(&patterns))).map(|_| ()).unwrap_err();
    assert!(matches!(err, BackendError::Pattern { layer: 0, .. }), "{err}");
    let message = err.to_string();
    assert!(message.starts_with("attention layer 0: pattern `a_shape`: "), "{message}");
    assert!(message.contains("n_local must be at least 1"), "{message}");
}

/// A model pre-fill with a mixed per-head config: finite logits, different from the dense pre-fill's (the
/// patterns were applied in both layers' sparse heads), and the dense pre-fill's exactly when the prompt is
/// shorter than the config's `dense_below`.
#[test]
fn model_prefill_with_a_mixed_config_applies_the_patterns() {
    // hidden 256 over 4 heads: head_dim 64, one the attention kernels take.
    let spec = SyntheticSpec { hidden_size: 256, max_positions: 1024, ..SyntheticSpec::tiny_llama() };
    let dir = checkpoint(&spec);
    let mut gpu =
        Model::load_on(backend(), dir.path(), &LoadOptions::default()).unwrap_or_else(|e| panic!("cuda load: {e}"));
    let layers = vec![
        head_configs(&[PatternKind::Dense, A_SHAPE, BLOCK_SPARSE, VERTICAL_SLASH]),
        head_configs(&[A_SHAPE, A_SHAPE, PatternKind::Dense, BLOCK_SPARSE]),
    ];
    let config = PatternConfig::new(layers).unwrap_or_else(|e| panic!("{e}"));
    let tokens = prompt(512, spec.vocab_size, 21);
    let dense = gpu.prefill(&tokens, &Patterns::dense()).unwrap_or_else(|e| panic!("dense prefill: {e}"));
    let sparse =
        gpu.prefill(&tokens, &Patterns::sparse(config.clone(), 0)).unwrap_or_else(|e| panic!("sparse prefill: {e}"));
    let from_dense = relative_error(&sparse, &dense);
    eprintln!("sparse pre-fill of 512 tokens: logits {from_dense:.2e} from dense");
    assert!(from_dense > 1e-3, "the sparse pre-fill's logits are the dense ones ({from_dense:.3e})");
    let below = gpu
        .prefill(&tokens, &Patterns::sparse(config, tokens.len() + 1))
        .unwrap_or_else(|e| panic!("prefill below dense_below: {e}"));
    let err = relative_error(&below, &dense);
    assert!(err <= 1e-6, "a prompt below dense_below must run dense; its logits are {err:.3e} from dense");
}
