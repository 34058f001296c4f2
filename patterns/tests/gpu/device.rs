//! The device runners (`gpu::pattern::run_pattern`) on views laid out as a model holds its
//! tensors: q and o are 4 of the 6 heads of `[T, 6 * D]` activations (heads 1 ..= 4), k and v
//! the first T positions of a `[HKV, capacity, D]` cache with capacity past T. Every pattern's
//! o and lse must match its host runner (`dispatch::run_pattern` on `Backend::Gpu`) over the
//! same inputs packed; the output buffer is poisoned (NaN) before the run, so an element the
//! run leaves unwritten fails, and the heads outside the view must stay poisoned. The
//! activation's other heads and the cache past T are NaN too, so a read outside a view fails.

use rand::SeedableRng;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::config::PatternKind;
use sparsefill_patterns::gpu::device::{DeviceAttention, DeviceOutput, IndexCheck};
use sparsefill_patterns::gpu::pattern::run_pattern;
use sparsefill_patterns::gpu::vertical_slash::{self, PlanGpuError};
use sparsefill_patterns::sparse::dispatch::{self, heads::HeadLayout, DispatchError};
use sparsefill_patterns::sparse::local::query_blocks::{self, Backend};
use sparsefill_patterns::sparse::vertical_slash::VerticalSlashParams;
use sparsefill_patterns::sparse::{AttentionInputs, SparseOutput};
use sparsefill_runtime::{CacheConfig, DeviceTensor, Gpu, KernelCache, Layout};

const T: usize = 300;
const D: usize = 64;
/// The pattern's heads, over 2 kv heads.
const H: usize = 4;
const HKV: usize = 2;
/// The activations' heads: the pattern's are 1 ..= 4.
const WIDE: usize = H + 2;
const CAPACITY: usize = T + 77;
/// o against the host runner, relative to its largest magnitude: the same kernels on the same values, so
/// anything but a rounding difference (a wrong head, row or key) is far past it.
const O_TOLERANCE: f64 = 1e-2;
const LSE_TOLERANCE: f64 = 1e-4;

/// `[T, WIDE, D]` with `x [T, H, D]` in heads 1 ..= H and NaN in the others.
fn activations(x: &HostTensor) -> HostTensor {
    let data = (0..T * WIDE * D)
        .map(|e| {
            let (t, head, i) = (e / (WIDE * D), (e / D) % WIDE, e % D);
            if (1..=H).contains(&head) {
                x.data[(t * H + head - 1) * D + i]
            } else {
                f64::NAN
            }
        })
        .collect();
    HostTensor::from_f64(DType::BF16, &[T, WIDE, D], data)
}

/// `[HKV, CAPACITY, D]` with `x [T, HKV, D]` at positions `0 .. T` and NaN past them.
fn cache_of(x: &HostTensor) -> HostTensor {
    let data = (0..HKV * CAPACITY * D)
        .map(|e| {
            let (head, t, i) = (e / (CAPACITY * D), (e / D) % CAPACITY, e % D);
            if t < T {
                x.data[(t * HKV + head) * D + i]
            } else {
                f64::NAN
            }
        })
        .collect();
    HostTensor::from_f64(DType::BF16, &[HKV, CAPACITY, D], data)
}

fn view(tensor: &DeviceTensor, at: &Layout) -> DeviceTensor {
    tensor.as_strided(&at.shape, &at.strides, at.offset)
}

fn open() -> (Gpu, KernelCache) {
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    (gpu, cache)
}

fn inputs(seed: u64) -> AttentionInputs {
    let shape = AttentionShape { seqlens: vec![T], heads: H, kv_heads: HKV, head_dim: D, causal: true };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    query_blocks::random_inputs(&shape, &mut rng).expect("a valid shape").1
}

/// The device runner over the model-like views of `inputs`: its output, and the whole activation its o
/// is a view of, downloaded.
fn run_on_views(
    gpu: &Gpu,
    cache: &KernelCache,
    inputs: &AttentionInputs,
    kind: &PatternKind,
    check: IndexCheck,
) -> Result<(DeviceOutput, HostTensor), DispatchError> {
    on_views(gpu, inputs, |io| run_pattern(gpu, cache, io, kind, check))
}

/// `run` over the model-like views of `inputs`: its result, and the whole activation o is a view of,
/// downloaded.
fn on_views<E>(
    gpu: &Gpu,
    inputs: &AttentionInputs,
    run: impl FnOnce(DeviceAttention) -> Result<DeviceOutput, E>,
) -> Result<(DeviceOutput, HostTensor), E> {
    let upload = |host: &HostTensor| DeviceTensor::upload(gpu, host).expect("upload");
    let (q, k, v) = (upload(&activations(&inputs.q)), upload(&cache_of(&inputs.k)), upload(&cache_of(&inputs.v)));
    let o = DeviceTensor::alloc(gpu, DType::BF16, &[T, WIDE, D]).expect("alloc");
    o.poison().expect("poison");
    let q_at = HeadLayout { tokens: T, head_dim: D, row: WIDE * D, head: D }.range(1, H);
    let kv_at = HeadLayout { tokens: T, head_dim: D, row: D, head: CAPACITY * D }.range(0, HKV);
    let (qv, kv, vv, ov) = (view(&q, &q_at), view(&k, &kv_at), view(&v, &kv_at), view(&o, &q_at));
    let io = DeviceAttention { q: &qv, k: &kv, v: &vv, o: &ov, seqlens: &[T] };
    let out = run(io)?;
    Ok((out, o.download().expect("download o")))
}

/// The largest difference over the largest reference magnitude; a non-finite value fails.
fn relative_error(got: &[f64], expected: &[f64]) -> f64 {
    assert_eq!(got.len(), expected.len());
    assert!(got.iter().all(|x| x.is_finite()), "a non-finite value: an element no kernel wrote");
    let scale = expected.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-30);
    got.iter().zip(expected).map(|(g, e)| (g - e).abs()).fold(0.0, f64::max) / scale
}

/// Heads 1 ..= H of the downloaded activation as `[T, H, D]`; asserts the others are still NaN.
fn pattern_heads(wide: &HostTensor) -> Vec<f64> {
    let outside = (0..T).flat_map(|t| [0, WIDE - 1].map(|head| &wide.data[(t * WIDE + head) * D..][..D]));
    assert!(outside.flatten().all(|x| x.is_nan()), "a head outside the view was written");
    (0..T).flat_map(|t| wide.data[(t * WIDE + 1) * D..][..H * D].iter().copied()).collect()
}

/// Runs `kind` on the views and on the host runner and compares o, lse and (checked on the host) the index.
fn check_against_host(kind: PatternKind, check: IndexCheck, seed: u64) {
    let (gpu, cache) = open();
    let inputs = inputs(seed);
    let (out, wide) = run_on_views(&gpu, &cache, &inputs, &kind, check).unwrap_or_else(|e| panic!("device: {e}"));
    let host: SparseOutput = dispatch::run_pattern(&Backend::Gpu { gpu: &gpu, cache: &cache }, &inputs, &kind)
        .unwrap_or_else(|e| panic!("host: {e}"));
    let err = relative_error(&pattern_heads(&wide), &host.o.data);
    assert!(err <= O_TOLERANCE, "{kind:?}: o {err:.3e} from the host runner's");
    let lse = out.lse.download().expect("download lse");
    let err = relative_error(&lse.data, &host.lse.data);
    assert!(err <= LSE_TOLERANCE, "{kind:?}: lse {err:.3e} from the host runner's");
    match check {
        // The same estimator kernels on the same values: the same index.
        IndexCheck::OnHost => assert_eq!(out.index, host.index, "{kind:?}: the index differs"),
        IndexCheck::Trusted => assert!(out.index.is_empty(), "{kind:?}: a trusted index was read back"),
    }
}

#[test]
fn a_shape_on_cache_views_matches_the_host_runner() {
    check_against_host(PatternKind::AShape { n_init: 4, n_local: 100 }, IndexCheck::Trusted, 1);
}

#[test]
fn tri_shape_on_cache_views_matches_the_host_runner() {
    check_against_host(PatternKind::TriShape { n_init: 4, n_local: 70, n_last: 50 }, IndexCheck::Trusted, 2);
}

#[test]
fn strided_on_cache_views_matches_the_host_runner() {
    check_against_host(PatternKind::Strided { stride: 2, n_local: 65 }, IndexCheck::Trusted, 3);
}

#[test]
fn block_sparse_on_cache_views_matches_the_host_runner_and_its_index() {
    check_against_host(PatternKind::BlockSparse { top_k: 2 }, IndexCheck::OnHost, 4);
}

#[test]
fn vertical_slash_on_cache_views_matches_the_host_runner_and_its_index() {
    check_against_host(PatternKind::VerticalSlash { vertical: 20, slash: 40 }, IndexCheck::OnHost, 5);
}

#[test]
fn a_trusted_vertical_slash_index_stays_on_the_device() {
    check_against_host(PatternKind::VerticalSlash { vertical: 20, slash: 40 }, IndexCheck::Trusted, 6);
}

/// Vertical-slash in `chunks` chunks of heads on the views (each chunk a narrower view of
/// them): o and lse equal bit for bit to the launches in one piece on the same views.
fn check_chunks_on_views(chunks: usize, seed: u64) {
    let (gpu, cache) = open();
    let inputs = inputs(seed);
    let params = VerticalSlashParams { vertical_size: 20, slash_size: 40, last_q: 64 };
    let run = |chunks| {
        let (out, wide) = on_views(&gpu, &inputs, |io| {
            vertical_slash::run_on_device_in(&gpu, &cache, io, &params, IndexCheck::Trusted, chunks)
        })
        .unwrap_or_else(|e| panic!("{chunks} chunks: {e}"));
        (pattern_heads(&wide), out.lse.download().expect("download lse").data)
    };
    let (whole, chunked) = (run(1), run(chunks));
    let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
    assert!(whole.0.iter().all(|x| x.is_finite()), "o left unwritten");
    assert!(same(&whole.0, &chunked.0), "{chunks} chunks: o differs from the launches in one piece");
    assert!(same(&whole.1, &chunked.1), "{chunks} chunks: lse differs from the launches in one piece");
}

#[test]
fn vertical_slash_in_chunks_of_a_group_on_cache_views_equals_one_piece() {
    check_chunks_on_views(2, 9);
}

#[test]
fn vertical_slash_in_chunks_of_a_head_on_cache_views_equals_one_piece() {
    check_chunks_on_views(4, 10);
}

#[test]
fn chunks_with_an_index_checked_on_the_host_are_refused() {
    let (gpu, cache) = open();
    let params = VerticalSlashParams { vertical_size: 20, slash_size: 40, last_q: 64 };
    let err = on_views(&gpu, &inputs(11), |io| {
        vertical_slash::run_on_device_in(&gpu, &cache, io, &params, IndexCheck::OnHost, 2)
    })
    .err();
    assert!(matches!(err, Some(PlanGpuError::CheckedChunks { chunks: 2 })), "{:?}", err.map(|e| e.to_string()));
}

#[test]
fn a_trusted_block_sparse_index_stays_on_the_device() {
    check_against_host(PatternKind::BlockSparse { top_k: 3 }, IndexCheck::Trusted, 7);
}

#[test]
fn dense_is_left_to_the_caller() {
    let (gpu, cache) = open();
    let err = run_on_views(&gpu, &cache, &inputs(8), &PatternKind::Dense, IndexCheck::Trusted).err();
    assert!(matches!(err, Some(DispatchError::DenseOnDevice)), "{:?}", err.map(|e| e.to_string()));
}

#[test]
fn an_output_view_of_another_shape_is_refused_before_any_launch() {
    let (gpu, cache) = open();
    let t = DeviceTensor::alloc(&gpu, DType::BF16, &[T, H, D]).expect("alloc");
    let kv = DeviceTensor::alloc(&gpu, DType::BF16, &[T, HKV, D]).expect("alloc");
    let o = DeviceTensor::alloc(&gpu, DType::BF16, &[T, H - 1, D]).expect("alloc");
    let io = DeviceAttention { q: &t, k: &kv, v: &kv, o: &o, seqlens: &[T] };
    let err = run_pattern(&gpu, &cache, io, &PatternKind::AShape { n_init: 1, n_local: 8 }, IndexCheck::Trusted).err();
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("output `o` must have shape [300, 4, 64]; got [300, 3, 64]"), "{message}");
}
