//! safetensors in and out: q, k, v in the `[B, heads, S, D]` layout of PyTorch's SDPA,
//! converted to and from the kernels' packed `[T, heads, D]` layout (T = B · S, every
//! sequence S long).

use super::sparse::{AttentionInputs, SparseOutput};
use super::AttnError;
use safetensors::{Dtype, SafeTensors};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::{round_to, HostTensor};
use sparsefill_patterns::attention::AttentionShape;
use std::collections::HashMap;
use std::path::Path;

/// The packed inputs and the batch layout to write the outputs back in.
pub struct Batch {
    pub inputs: AttentionInputs,
    pub batch: usize,
    pub seq: usize,
}

const Q_LAYOUT: &str = "[B, H, S, D]";
const KV_LAYOUT: &str = "[B, HKV, S, D]";

pub fn read(path: &Path) -> Result<Batch, AttnError> {
    let bytes = std::fs::read(path).map_err(|source| AttnError::Read { path: path.to_path_buf(), source })?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| AttnError::NotSafetensors { path: path.to_path_buf(), why: e.to_string() })?;
    let tensor = |name: &'static str, layout: &'static str| -> Result<HostTensor, AttnError> {
        let view = file.tensor(name).map_err(|_| {
            let mut present: Vec<String> = file.names().into_iter().map(str::to_string).collect();
            present.sort();
            AttnError::MissingTensor { path: path.to_path_buf(), name, present }
        })?;
        let dtype = match view.dtype() {
            Dtype::BF16 => DType::BF16,
            Dtype::F16 => DType::F16,
            Dtype::F32 => DType::F32,
            other => return Err(AttnError::Dtype { name, dtype: format!("{other:?}").to_lowercase() }),
        };
        if view.shape().len() != 4 {
            return Err(AttnError::Rank { name, layout, got: view.shape().to_vec() });
        }
        // safetensors checked that the bytes match the shape and dtype.
        HostTensor::from_bytes(dtype, view.shape(), view.data()).ok_or_else(|| AttnError::NotSafetensors {
            path: path.to_path_buf(),
            why: format!("`{name}` is truncated"),
        })
    };
    let (q, k, v) = (tensor("q", Q_LAYOUT)?, tensor("k", KV_LAYOUT)?, tensor("v", KV_LAYOUT)?);
    let (batch, heads, seq, head_dim) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
    if heads == 0 {
        return Err(AttnError::NoHeads);
    }
    for (what, axis, expected) in [("batch size", 0, batch), ("sequence length", 2, seq), ("head dim", 3, head_dim)] {
        if k.shape[axis] != expected {
            return Err(AttnError::Mismatch { name: "k", what, got: k.shape[axis], expected });
        }
    }
    if v.shape != k.shape {
        return Err(AttnError::ValueShape { k: k.shape.clone(), v: v.shape.clone() });
    }
    let shape = AttentionShape { seqlens: vec![seq; batch], heads, kv_heads: k.shape[1], head_dim, causal: true };
    shape.validate()?;
    let inputs = AttentionInputs { q: pack(&q), k: pack(&k), v: pack(&v), seqlens: shape.seqlens };
    Ok(Batch { inputs, batch, seq })
}

/// `[B, N, S, D]` → `[B · S, N, D]`, rounded to bf16.
fn pack(t: &HostTensor) -> HostTensor {
    let [b, n, s, d] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
    let mut data = Vec::with_capacity(t.data.len());
    for row in 0..b * s {
        let (bi, si) = (row / s, row % s);
        for h in 0..n {
            data.extend(t.data[((bi * n + h) * s + si) * d..][..d].iter().map(|&x| round_to(DType::BF16, x)));
        }
    }
    HostTensor { dtype: DType::BF16, shape: vec![b * s, n, d], data }
}

/// `o [B · S, H, D]` → `[B, H, S, D]`.
fn unpack_o(o: &HostTensor, batch: usize, seq: usize) -> HostTensor {
    let (h, d) = (o.shape[1], o.shape[2]);
    let mut data = Vec::with_capacity(o.data.len());
    for bi in 0..batch {
        for head in 0..h {
            for si in 0..seq {
                data.extend_from_slice(&o.data[((bi * seq + si) * h + head) * d..][..d]);
            }
        }
    }
    HostTensor { dtype: o.dtype, shape: vec![batch, h, seq, d], data }
}

/// `lse [H, B · S]` → `[B, H, S]`.
fn unpack_lse(lse: &HostTensor, batch: usize, seq: usize) -> HostTensor {
    let h = lse.shape[0];
    let t = batch * seq;
    let mut data = Vec::with_capacity(lse.data.len());
    for bi in 0..batch {
        for head in 0..h {
            data.extend_from_slice(&lse.data[head * t + bi * seq..][..seq]);
        }
    }
    HostTensor { dtype: lse.dtype, shape: vec![batch, h, seq], data }
}

/// Writes `o`, `lse` and the index tensors, with the pattern in the file's metadata.
pub fn write(path: &Path, batch: &Batch, output: &SparseOutput, pattern: &str) -> Result<(), AttnError> {
    let mut tensors = vec![
        ("o".to_string(), unpack_o(&output.o, batch.batch, batch.seq)),
        ("lse".to_string(), unpack_lse(&output.lse, batch.batch, batch.seq)),
    ];
    tensors.extend(output.index.iter().cloned());
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, t)| (name, safetensors_dtype(t.dtype), t.shape.clone(), t.to_bytes()))
        .collect();
    let views = bytes
        .iter()
        .map(|(name, dtype, shape, data)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| AttnError::Encode(format!("`{name}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = HashMap::from([("pattern".to_string(), pattern.to_string())]);
    let encoded = safetensors::serialize(views, Some(metadata)).map_err(|e| AttnError::Encode(e.to_string()))?;
    std::fs::write(path, encoded).map_err(|source| AttnError::Write { path: path.to_path_buf(), source })
}

fn safetensors_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::F32 => Dtype::F32,
        DType::BF16 => Dtype::BF16,
        DType::F16 => Dtype::F16,
        DType::I32 => Dtype::I32,
        DType::Bool => Dtype::BOOL,
    }
}
