//! The key/value cache on the GPU: per layer, keys and values `[kv_heads, capacity, head_dim]` bf16, so that
//! one head's keys are contiguous rows for the attention kernels. Appending past the capacity moves the layer
//! into buffers of twice the capacity (or what the append needs, if more).

use super::{shape, CudaBackend, CudaTensor};
use crate::backend::{BackendError, KvShape};
use sparsefill_compiler::ir::DType;
use sparsefill_runtime::DeviceTensor;

pub struct CudaKvCache {
    kv_heads: usize,
    head_dim: usize,
    layers: Vec<LayerCache>,
}

pub(super) struct LayerCache {
    pub(super) keys: DeviceTensor,
    pub(super) values: DeviceTensor,
    pub(super) len: usize,
    pub(super) capacity: usize,
}

/// Positions `0 .. len` of a layer's keys or values (`[kv_heads, capacity, head_dim]`) as
/// `[kv_heads, len, head_dim]`.
pub(super) fn view(
    tensor: &DeviceTensor,
    kv_heads: usize,
    capacity: usize,
    head_dim: usize,
    len: usize,
) -> DeviceTensor {
    tensor.as_strided(&[kv_heads, len, head_dim], &[capacity * head_dim, head_dim, 1], 0)
}

impl CudaKvCache {
    pub(super) fn new(backend: &CudaBackend, shape: KvShape) -> Result<CudaKvCache, BackendError> {
        let capacity = shape.capacity.max(1);
        let layers = (0..shape.layers)
            .map(|l| {
                let (keys, values) = alloc_pair(backend, l, shape.kv_heads, capacity, shape.head_dim)?;
                Ok(LayerCache { keys, values, len: 0, capacity })
            })
            .collect::<Result<_, BackendError>>()?;
        Ok(CudaKvCache { kv_heads: shape.kv_heads, head_dim: shape.head_dim, layers })
    }

    /// Tokens cached in `layer`.
    pub fn tokens(&self, layer: usize) -> usize {
        self.layers.get(layer).map_or(0, |l| l.len)
    }

    /// Tokens `layer` holds before it must grow.
    pub fn capacity(&self, layer: usize) -> usize {
        self.layers.get(layer).map_or(0, |l| l.capacity)
    }

    pub(super) fn kv_heads(&self) -> usize {
        self.kv_heads
    }

    pub(super) fn head_dim(&self) -> usize {
        self.head_dim
    }

    pub(super) fn width(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    pub(super) fn layer(&self, op: &'static str, layer: usize) -> Result<&LayerCache, BackendError> {
        self.layers.get(layer).ok_or(BackendError::Layer { op, layer, layers: self.layers.len() })
    }

    /// Appends `k` and `v` (`[rows, kv_heads * head_dim]`, the same shape) to `layer`.
    pub(super) fn append(
        &mut self,
        backend: &CudaBackend,
        layer: usize,
        k: &CudaTensor,
        v: &CudaTensor,
    ) -> Result<(), BackendError> {
        if k.cols != self.width() {
            return Err(shape("append_kv", "the key width", self.width(), k.cols));
        }
        let (kv_heads, head_dim) = (self.kv_heads, self.head_dim);
        let layers = self.layers.len();
        let cache = self.layers.get_mut(layer).ok_or(BackendError::Layer { op: "append_kv", layer, layers })?;
        let needed = cache.len + k.rows;
        if needed > cache.capacity {
            grow(backend, cache, layer, (2 * cache.capacity).max(needed), kv_heads, head_dim)?;
        }
        let stride = cache.capacity * head_dim;
        for (source, target) in [(k, &cache.keys), (v, &cache.values)] {
            // Row r's head h goes to [h, len + r]. Rows lead the copy's views: they are its grid's first axis,
            // which takes 2^31 - 1 programs where the second takes 65535 (a 128K-token pre-fill).
            let src = source.data.as_strided(&[k.rows, kv_heads, head_dim], &[k.cols, head_dim, 1], 0);
            let dst = target.as_strided(&[k.rows, kv_heads, head_dim], &[head_dim, stride, 1], cache.len * head_dim);
            backend.copy(&src, &dst)?;
        }
        cache.len = needed;
        Ok(())
    }
}

fn alloc_pair(
    backend: &CudaBackend,
    layer: usize,
    kv_heads: usize,
    capacity: usize,
    head_dim: usize,
) -> Result<(DeviceTensor, DeviceTensor), BackendError> {
    let dims = [kv_heads, capacity, head_dim];
    let alloc = |name: &str| {
        backend.alloc(|| format!("layer {layer} {name} of the key/value cache {dims:?} bf16"), DType::BF16, &dims)
    };
    Ok((alloc("keys")?, alloc("values")?))
}

/// Moves `cache`'s cached positions into new buffers of `capacity` positions.
fn grow(
    backend: &CudaBackend,
    cache: &mut LayerCache,
    layer: usize,
    capacity: usize,
    kv_heads: usize,
    head_dim: usize,
) -> Result<(), BackendError> {
    let (keys, values) = alloc_pair(backend, layer, kv_heads, capacity, head_dim)?;
    // Positions lead, as in `append`: they can outnumber the copy grid's second axis.
    let dims = [cache.len, kv_heads, head_dim];
    for (old, new) in [(&cache.keys, &keys), (&cache.values, &values)] {
        let src = old.as_strided(&dims, &[head_dim, cache.capacity * head_dim, 1], 0);
        backend.copy(&src, &new.as_strided(&dims, &[head_dim, capacity * head_dim, 1], 0))?;
    }
    *cache = LayerCache { keys, values, len: cache.len, capacity };
    Ok(())
}
