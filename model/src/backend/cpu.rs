//! The host backend: f32 matrices in memory, sums accumulated in f64. It is the test backend, the
//! reference the CUDA backend is checked against, and the `--device cpu` path of the CLI; it runs every
//! head densely, whatever the pattern config says.

use super::{check_add_rmsnorm_rows, same_dims, shape, weight_dims, AttentionCall, Backend, BackendError, KvShape};
use crate::checkpoint::WeightView;
use crate::config::WeightDType;
use crate::rope::Rope;
use half::{bf16, f16};
use std::ops::Range;

#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

/// A row-major `[rows, cols]` matrix; a 1-D weight is one row.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuTensor {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

/// Per layer, the keys and values of every position so far, `[len, kv_heads * head_dim]` each.
#[derive(Clone, Debug)]
pub struct CpuKvCache {
    width: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

impl CpuTensor {
    /// A matrix from its values; `data.len()` must be `rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<CpuTensor, BackendError> {
        if data.len() != rows * cols {
            return Err(shape("tensor", "the value count", rows * cols, data.len()));
        }
        Ok(CpuTensor { rows, cols, data })
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

impl CpuKvCache {
    /// Tokens cached in `layer`.
    pub fn tokens(&self, layer: usize) -> usize {
        self.keys.get(layer).map_or(0, |k| k.len() / self.width.max(1))
    }
}

fn same_shape(op: &'static str, a: &CpuTensor, b: &CpuTensor) -> Result<(), BackendError> {
    same_dims(op, (a.rows, a.cols), (b.rows, b.cols))
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    // Four partial sums let the compiler vectorize; f64 keeps long rows (intermediate sizes) accurate.
    let mut partial = [0f64; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4.remainder().iter().zip(b4.remainder()).map(|(x, y)| *x as f64 * *y as f64).sum();
    for (x, y) in a4.zip(b4) {
        for k in 0..4 {
            partial[k] += x[k] as f64 * y[k] as f64;
        }
    }
    partial.iter().sum::<f64>() + tail
}

fn decode(weight: &WeightView<'_>) -> Vec<f32> {
    match weight.dtype {
        WeightDType::BF16 => weight.bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        WeightDType::F16 => weight.bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        WeightDType::F32 => {
            weight.bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
    }
}

impl CpuBackend {
    fn layer<'c>(
        &self,
        cache: &'c CpuKvCache,
        op: &'static str,
        layer: usize,
    ) -> Result<(&'c [f32], &'c [f32]), BackendError> {
        match (cache.keys.get(layer), cache.values.get(layer)) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(BackendError::Layer { op, layer, layers: cache.keys.len() }),
        }
    }
}

impl Backend for CpuBackend {
    type Tensor = CpuTensor;
    type KvCache = CpuKvCache;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn upload(&self, weight: &WeightView<'_>) -> Result<CpuTensor, BackendError> {
        let (rows, cols) = weight_dims(weight)?;
        CpuTensor::new(rows, cols, decode(weight))
    }

    fn embed(&self, table: &CpuTensor, tokens: &[u32]) -> Result<CpuTensor, BackendError> {
        let mut data = Vec::with_capacity(tokens.len() * table.cols);
        for &token in tokens {
            if token as usize >= table.rows {
                return Err(BackendError::TokenOutOfRange { token, rows: table.rows });
            }
            data.extend_from_slice(table.row(token as usize));
        }
        CpuTensor::new(tokens.len(), table.cols, data)
    }

    fn rmsnorm(&self, x: &CpuTensor, weight: &CpuTensor, eps: f64) -> Result<CpuTensor, BackendError> {
        if weight.data.len() != x.cols {
            return Err(shape("rmsnorm", "the weight's length", x.cols, weight.data.len()));
        }
        let mut data = Vec::with_capacity(x.data.len());
        for r in 0..x.rows {
            let row = x.row(r);
            let mean_square = row.iter().map(|v| *v as f64 * *v as f64).sum::<f64>() / x.cols as f64;
            let inv = 1.0 / (mean_square + eps).sqrt();
            data.extend(row.iter().zip(&weight.data).map(|(v, w)| (*v as f64 * inv) as f32 * w));
        }
        CpuTensor::new(x.rows, x.cols, data)
    }

    fn matmul(&self, x: &CpuTensor, weight: &CpuTensor, bias: Option<&CpuTensor>) -> Result<CpuTensor, BackendError> {
        if weight.cols != x.cols {
            return Err(shape("matmul", "the weight's in_features", x.cols, weight.cols));
        }
        if let Some(bias) = bias.filter(|b| b.data.len() != weight.rows) {
            return Err(shape("matmul", "the bias length", weight.rows, bias.data.len()));
        }
        let mut data = vec![0f32; x.rows * weight.rows];
        let out_row = |r: usize, out: &mut [f32]| {
            for (o, value) in out.iter_mut().enumerate() {
                let b = bias.map_or(0.0, |b| b.data[o] as f64);
                *value = (dot(x.row(r), weight.row(o)) + b) as f32;
            }
        };
        // Rows split over the cores: a pre-fill's matmuls are most of the CPU backend's time.
        let rows_per_thread = x.rows.div_ceil(std::thread::available_parallelism().map_or(1, |n| n.get()));
        if weight.rows == 0 || rows_per_thread <= 1 {
            data.chunks_mut(weight.rows.max(1)).enumerate().for_each(|(r, out)| out_row(r, out));
        } else {
            std::thread::scope(|scope| {
                for (chunk, out) in data.chunks_mut(rows_per_thread * weight.rows).enumerate() {
                    scope.spawn(move || {
                        for (i, row_out) in out.chunks_mut(weight.rows).enumerate() {
                            out_row(chunk * rows_per_thread + i, row_out);
                        }
                    });
                }
            });
        }
        CpuTensor::new(x.rows, weight.rows, data)
    }

    fn rope(&self, x: &mut CpuTensor, rope: &Rope, start: usize) -> Result<(), BackendError> {
        if rope.head_dim == 0 || !x.cols.is_multiple_of(rope.head_dim) {
            return Err(shape("rope", "the row width", format!("a multiple of {}", rope.head_dim), x.cols));
        }
        for (r, row) in x.data.chunks_exact_mut(x.cols).enumerate() {
            for head in row.chunks_exact_mut(rope.head_dim) {
                rope.rotate(head, start + r);
            }
        }
        Ok(())
    }

    fn new_kv_cache(&self, shape: KvShape) -> Result<CpuKvCache, BackendError> {
        let width = shape.kv_heads * shape.head_dim;
        let empty = || (0..shape.layers).map(|_| Vec::with_capacity(shape.capacity * width)).collect();
        Ok(CpuKvCache { width, keys: empty(), values: empty() })
    }

    fn append_kv(
        &self,
        cache: &mut CpuKvCache,
        layer: usize,
        k: &CpuTensor,
        v: &CpuTensor,
    ) -> Result<(), BackendError> {
        same_shape("append_kv", k, v)?;
        if k.cols != cache.width {
            return Err(shape("append_kv", "the key width", cache.width, k.cols));
        }
        let layers = cache.keys.len();
        match (cache.keys.get_mut(layer), cache.values.get_mut(layer)) {
            (Some(keys), Some(values)) => {
                keys.extend_from_slice(&k.data);
                values.extend_from_slice(&v.data);
                Ok(())
            }
            _ => Err(BackendError::Layer { op: "append_kv", layer, layers }),
        }
    }

    fn attention(
        &self,
        q: &CpuTensor,
        cache: &CpuKvCache,
        call: &AttentionCall<'_>,
    ) -> Result<CpuTensor, BackendError> {
        let d = call.head_dim;
        call.check_heads(q.cols)?;
        if cache.width != call.kv_heads * d {
            return Err(shape("attention", "the cache width", call.kv_heads * d, cache.width));
        }
        let (keys, values) = self.layer(cache, "attention", call.layer)?;
        let cached = keys.len() / cache.width.max(1);
        if call.start + q.rows > cached {
            return Err(shape("attention", "cached tokens", format!("at least {}", call.start + q.rows), cached));
        }
        let group = call.heads / call.kv_heads;
        let mut out = vec![0f32; q.data.len()];
        let mut scores = Vec::new();
        for r in 0..q.rows {
            let position = call.start + r;
            let first = call.window.map_or(0, |w| (position + 1).saturating_sub(w));
            for h in 0..call.heads {
                let query = &q.row(r)[h * d..(h + 1) * d];
                let kv = (h / group) * d;
                let key = |j: usize| &keys[j * cache.width + kv..j * cache.width + kv + d];
                scores.clear();
                scores.extend((first..=position).map(|j| dot(query, key(j)) * call.scale as f64));
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut total = 0.0;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    total += *s;
                }
                let mut acc = vec![0f64; d];
                for (j, p) in (first..=position).zip(&scores) {
                    let value = &values[j * cache.width + kv..j * cache.width + kv + d];
                    acc.iter_mut().zip(value).for_each(|(a, v)| *a += p * *v as f64);
                }
                let target = &mut out[r * q.cols + h * d..r * q.cols + (h + 1) * d];
                target.iter_mut().zip(&acc).for_each(|(o, a)| *o = (a / total) as f32);
            }
        }
        CpuTensor::new(q.rows, q.cols, out)
    }

    fn swiglu(&self, gate: &CpuTensor, up: &CpuTensor) -> Result<CpuTensor, BackendError> {
        same_shape("swiglu", gate, up)?;
        let data = gate
            .data
            .iter()
            .zip(&up.data)
            .map(|(g, u)| {
                let g = *g as f64;
                (g / (1.0 + (-g).exp()) * *u as f64) as f32
            })
            .collect();
        CpuTensor::new(gate.rows, gate.cols, data)
    }

    fn add_rows(&self, x: &mut CpuTensor, start: usize, y: &CpuTensor) -> Result<(), BackendError> {
        if y.cols != x.cols {
            return Err(shape("add_rows", "the addend's width", x.cols, y.cols));
        }
        if start + y.rows > x.rows {
            return Err(shape("add_rows", "the last row added", format!("below {}", x.rows), start + y.rows - 1));
        }
        let target = &mut x.data[start * x.cols..(start + y.rows) * x.cols];
        target.iter_mut().zip(&y.data).for_each(|(a, b)| *a += b);
        Ok(())
    }

    fn add_rmsnorm_rows(
        &self,
        x: &mut CpuTensor,
        rows: Range<usize>,
        y: &CpuTensor,
        weight: &CpuTensor,
        eps: f64,
    ) -> Result<CpuTensor, BackendError> {
        check_add_rmsnorm_rows((x.rows, x.cols), &rows, (y.rows, y.cols), weight.data.len())?;
        let span = rows.start * x.cols..rows.end * x.cols;
        x.data[span.clone()].iter_mut().zip(&y.data[span]).for_each(|(a, b)| *a += b);
        self.rmsnorm(&self.slice_rows(x, rows)?, weight, eps)
    }

    fn slice_rows(&self, x: &CpuTensor, rows: Range<usize>) -> Result<CpuTensor, BackendError> {
        if rows.start > rows.end || rows.end > x.rows {
            return Err(shape("slice_rows", "the row range", format!("within 0..{}", x.rows), format!("{rows:?}")));
        }
        CpuTensor::new(rows.len(), x.cols, x.data[rows.start * x.cols..rows.end * x.cols].to_vec())
    }

    fn rows(&self, x: &CpuTensor) -> usize {
        x.rows
    }

    fn to_host(&self, x: &CpuTensor) -> Result<Vec<f32>, BackendError> {
        Ok(x.data.clone())
    }
}

#[cfg(test)]
mod tests;
