//! Attention over the GPU cache. Which kernel runs:
//!
//! - a pre-fill from position 0 whose rows all see every earlier key (no sliding window cutting in) runs the
//!   dense FlashAttention kernel, patterns/kernels/attention.tile, over strided views: q `[rows, heads *
//!   head_dim]` is its `[T, H, D]`, and the cache's `[kv_heads, capacity, head_dim]` keys and values are its
//!   `[T, HKV, D]` with strides `(head_dim, capacity * head_dim, 1)`, so nothing is copied. When the call's
//!   per-head patterns give heads a sparse pattern, those heads then run it on the device over views of the
//!   same tensors ([`super::sparse`]) and overwrite their columns; if no head is dense, the dense kernel is
//!   skipped;
//! - everything else runs the split-KV kernels of model/kernels/decode_attention.tile: decode (one row), a
//!   pre-fill chunk after cached tokens (attention.tile has one `cu_seqlens` for queries and keys, so its
//!   queries cannot start after the keys do) and Mistral's sliding window (attention.tile has no window).
//!   These take one query row per program, so a long chunk after cached tokens, or a long windowed pre-fill,
//!   runs slower than the dense kernel would: correct, not tuned.

use super::kv::{view, CudaKvCache, LayerCache};
use super::sparse::SparseHeads;
use super::{as_i32, shape, CudaBackend, CudaTensor};
use crate::backend::{AttentionCall, BackendError};
use crate::kernels::{self, DECODE_BN};
use sparsefill_compiler::ir::DType;
use sparsefill_runtime::{DeviceTensor, LaunchArg};

/// Query rows per split-KV launch: rows are a grid axis that holds at most 65535 programs.
const MAX_ROWS_PER_LAUNCH: usize = 65535;

pub(super) fn run(
    b: &CudaBackend,
    q: &CudaTensor,
    cache: &CudaKvCache,
    call: &AttentionCall<'_>,
) -> Result<CudaTensor, BackendError> {
    let d = call.head_dim;
    call.check_heads(q.cols)?;
    let sparse = match call.patterns {
        Some(patterns) => SparseHeads::new(patterns, call)?,
        None => None,
    };
    if (cache.kv_heads(), cache.head_dim()) != (call.kv_heads, d) {
        return Err(shape("attention", "the cache width", call.kv_heads * d, cache.width()));
    }
    if !kernels::attention_head_dim_supported(d) {
        return Err(BackendError::Unsupported {
            op: "attention",
            backend: "cuda",
            what: format!("head_dim {d}"),
            supported: "head_dim 16, 32, 64 or 128 (the kernels' dot operand sizes)",
        });
    }
    let layer = cache.layer("attention", call.layer)?;
    let keys = call.start + q.rows;
    if keys > layer.len {
        return Err(shape("attention", "cached tokens", format!("at least {keys}"), layer.len));
    }
    as_i32("attention", "the last position", keys)?;
    // A window at least as long as the sequence never cuts a key off.
    let window = match call.window {
        Some(0) => return Err(shape("attention", "the sliding window", "at least 1 token", 0)),
        Some(w) if w < keys => Some(w),
        _ => None,
    };
    let out = b.matrix("attention", q.rows, q.cols)?;
    if call.start == 0 && q.rows > 1 && window.is_none() {
        if sparse.as_ref().is_none_or(SparseHeads::any_dense) {
            dense(b, q, layer, call, &out)?;
        }
        if let Some(sparse) = &sparse {
            sparse.run(b, q, layer, call, &out)?;
        }
    } else {
        split_kv(b, q, layer, call, window, &out)?;
    }
    Ok(out)
}

fn dense(
    b: &CudaBackend,
    q: &CudaTensor,
    layer: &LayerCache,
    call: &AttentionCall<'_>,
    out: &CudaTensor,
) -> Result<(), BackendError> {
    let (t, h, hkv, d) = (q.rows, call.heads, call.kv_heads, call.head_dim);
    let tokens = as_i32("attention", "the pre-fill length", t)?;
    let as_thd = |x: &DeviceTensor| x.as_strided(&[t, h, d], &[h * d, d, 1], 0);
    let kv = |x: &DeviceTensor| x.as_strided(&[t, hkv, d], &[d, layer.capacity * d, 1], 0);
    let (qv, k, v, o) = (as_thd(&q.data), kv(&layer.keys), kv(&layer.values), as_thd(&out.data));
    let bounds: Vec<u8> = [0, tokens].iter().flat_map(|x| x.to_le_bytes()).collect();
    let cu_seqlens = DeviceTensor::from_bytes(&b.gpu, DType::I32, &[2], &bounds)
        .map_err(|e| b.allocation_error(|| "cu_seqlens".into(), bounds.len(), e))?;
    let lse = b.alloc(|| format!("the attention lse [{h}, {t}] f32"), DType::F32, &[h, t])?;
    let args = [
        LaunchArg::Tensor(&qv),
        LaunchArg::Tensor(&k),
        LaunchArg::Tensor(&v),
        LaunchArg::Tensor(&cu_seqlens),
        LaunchArg::Tensor(&o),
        LaunchArg::Tensor(&lse),
        LaunchArg::F32(call.scale),
        LaunchArg::I32(tokens),
    ];
    let aligned = [&qv, &k, &v, &o].iter().all(|t| t.is_aligned());
    b.launch(&kernels::prefill_attention(d, b.gpu.arch(), aligned), &args)
}

/// Keys per split-KV program: enough chunks that the partial pass runs about two programs per SM, none
/// shorter than `min_chunk` keys, and whole key tiles once chunks are longer than one.
pub fn decode_chunk(keys: usize, programs_per_chunk: usize, sm_count: usize, min_chunk: usize) -> usize {
    let chunks_wanted = (2 * sm_count.max(1)).div_ceil(programs_per_chunk.max(1)).max(1);
    let chunk = keys.div_ceil(chunks_wanted).max(min_chunk).max(1);
    if chunk > DECODE_BN {
        chunk.next_multiple_of(DECODE_BN)
    } else {
        chunk
    }
}

fn split_kv(
    b: &CudaBackend,
    q: &CudaTensor,
    layer: &LayerCache,
    call: &AttentionCall<'_>,
    window: Option<usize>,
    out: &CudaTensor,
) -> Result<(), BackendError> {
    let (rows, h, hkv, d) = (q.rows, call.heads, call.kv_heads, call.head_dim);
    let group = h / hkv;
    let keys = call.start + rows;
    let k = view(&layer.keys, hkv, layer.capacity, d, keys);
    let v = view(&layer.values, hkv, layer.capacity, d, keys);
    let sms = usize::try_from(b.gpu.info().sm_count).unwrap_or(1);
    let chunk = decode_chunk(keys, rows.min(MAX_ROWS_PER_LAUNCH) * hkv, sms, b.min_decode_chunk);
    let chunks = keys.div_ceil(chunk);
    let (chunk, window) =
        (as_i32("attention", "the key chunk", chunk)?, as_i32("attention", "the window", window.unwrap_or(0))?);
    for r0 in (0..rows).step_by(MAX_ROWS_PER_LAUNCH) {
        let n = (rows - r0).min(MAX_ROWS_PER_LAUNCH);
        let qv = q.data.as_strided(&[n, hkv, group, d], &[h * d, group * d, d, 1], r0 * h * d);
        let po_dims = [n, hkv, chunks, group, d];
        let po = b.alloc(|| format!("the split-KV partial outputs {po_dims:?} f32"), DType::F32, &po_dims)?;
        let lse_dims = [n, hkv, chunks, group];
        let plse = b.alloc(|| format!("the split-KV partial lse {lse_dims:?} f32"), DType::F32, &lse_dims)?;
        if b.poison {
            // Every chunk writes its partials, empty ones included: the combine pass reads them all.
            po.poison()?;
            plse.poison()?;
        }
        let partial = [
            LaunchArg::Tensor(&qv),
            LaunchArg::Tensor(&k),
            LaunchArg::Tensor(&v),
            LaunchArg::Tensor(&po),
            LaunchArg::Tensor(&plse),
            LaunchArg::F32(call.scale),
            // run() checked start + rows against i32.
            LaunchArg::I32((call.start + r0) as i32),
            LaunchArg::I32(window),
            LaunchArg::I32(chunk),
        ];
        b.launch(&kernels::decode_partial(group, d), &partial)?;
        let o = out.data.as_strided(&[n, h, d], &[h * d, d, 1], r0 * h * d);
        let combine = [LaunchArg::Tensor(&po), LaunchArg::Tensor(&plse), LaunchArg::Tensor(&o)];
        b.launch(&kernels::decode_combine(d), &combine)?;
    }
    Ok(())
}
