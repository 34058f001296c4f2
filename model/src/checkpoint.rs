//! The safetensors files of a Hugging Face checkpoint, memory-mapped: one `model.safetensors`, or shards
//! listed by `model.safetensors.index.json`. Tensors are handed out as borrowed views of the mapping, so
//! loading copies each weight once, straight into the backend.

use crate::config::WeightDType;
use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata};
use safetensors::SafeTensors;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const SINGLE_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("no weights in `{}`: expected {SINGLE_FILE} or {INDEX_FILE}", dir.display())]
    NoWeights { dir: PathBuf },
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{}`: malformed JSON: {source}", path.display())]
    IndexJson { path: PathBuf, source: serde_json::Error },
    #[error("`{}`: `weight_map` must be an object mapping tensor names to shard file names; got {got}", path.display())]
    IndexLayout { path: PathBuf, got: String },
    #[error("shard `{}` listed in `{}` is missing", shard.display(), index.display())]
    MissingShard { shard: PathBuf, index: PathBuf },
    #[error("`{}`: not a valid safetensors file: {source}", path.display())]
    Safetensors { path: PathBuf, source: safetensors::SafeTensorError },
    #[error("tensor `{name}` is missing from the checkpoint (`{}`)", place.display())]
    MissingTensor { name: String, place: PathBuf },
    #[error("tensor `{name}`: expected shape {expected:?}; got {got:?}")]
    Shape { name: String, expected: Vec<usize>, got: Vec<usize> },
    #[error("tensor `{name}`: expected dtype {}; got {got}", expected.map_or("bfloat16, float16 or float32", |d| d.torch_name()))]
    DType { name: String, expected: Option<WeightDType>, got: String },
}

/// One tensor as stored: little-endian elements of `dtype`, row-major in `shape`.
#[derive(Clone, Copy, Debug)]
pub struct WeightView<'a> {
    pub name: &'a str,
    pub dtype: WeightDType,
    pub shape: &'a [usize],
    pub bytes: &'a [u8],
}

struct Shard {
    path: PathBuf,
    mmap: Mmap,
    /// Where tensor data begins: after the 8-byte length and the JSON header.
    data_start: usize,
    metadata: Metadata,
}

/// The open, mapped weight files of one checkpoint directory.
pub struct Checkpoint {
    /// `model.safetensors` or the index, named in errors about missing tensors.
    source: PathBuf,
    shards: Vec<Shard>,
    /// Which shard holds each tensor; for a single file, every tensor is in shard 0.
    shard_of: HashMap<String, usize>,
}

impl Checkpoint {
    /// Opens the index when there is one, else the single file.
    pub fn open(dir: &Path) -> Result<Checkpoint, CheckpointError> {
        let index = dir.join(INDEX_FILE);
        if index.is_file() {
            return Checkpoint::open_sharded(dir, index);
        }
        let single = dir.join(SINGLE_FILE);
        if !single.is_file() {
            return Err(CheckpointError::NoWeights { dir: dir.to_owned() });
        }
        let shard = Shard::open(single.clone())?;
        let shard_of = shard.metadata.tensors().into_keys().map(|name| (name, 0)).collect();
        Ok(Checkpoint { source: single, shards: vec![shard], shard_of })
    }

    fn open_sharded(dir: &Path, index: PathBuf) -> Result<Checkpoint, CheckpointError> {
        let text =
            std::fs::read_to_string(&index).map_err(|source| CheckpointError::Read { path: index.clone(), source })?;
        let document: Value =
            serde_json::from_str(&text).map_err(|source| CheckpointError::IndexJson { path: index.clone(), source })?;
        let layout_error = |got: &Value| CheckpointError::IndexLayout { path: index.clone(), got: got.to_string() };
        let map = match document.get("weight_map") {
            Some(Value::Object(map)) => map,
            Some(other) => return Err(layout_error(other)),
            None => return Err(layout_error(&Value::Null)),
        };
        let mut shards: Vec<Shard> = Vec::new();
        let mut shard_by_file: HashMap<&str, usize> = HashMap::new();
        let mut shard_of = HashMap::new();
        // Sorted so that the first missing shard reported does not depend on hash order.
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (name, file) in entries {
            let file = file.as_str().ok_or_else(|| layout_error(file))?;
            let slot = match shard_by_file.get(file) {
                Some(&slot) => slot,
                None => {
                    let path = dir.join(file);
                    if !path.is_file() {
                        return Err(CheckpointError::MissingShard { shard: path, index: index.clone() });
                    }
                    shards.push(Shard::open(path)?);
                    shard_by_file.insert(file, shards.len() - 1);
                    shards.len() - 1
                }
            };
            shard_of.insert(name.clone(), slot);
        }
        Ok(Checkpoint { source: index, shards, shard_of })
    }

    /// Every tensor name the checkpoint lists.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.shard_of.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.shard_of.contains_key(name)
    }

    /// The tensor `name`, checked to have `shape` and, when given, `dtype`.
    pub fn tensor<'a>(
        &'a self,
        name: &'a str,
        shape: &[usize],
        dtype: Option<WeightDType>,
    ) -> Result<WeightView<'a>, CheckpointError> {
        let missing = |place: &Path| CheckpointError::MissingTensor { name: name.to_owned(), place: place.to_owned() };
        let &slot = self.shard_of.get(name).ok_or_else(|| missing(&self.source))?;
        let shard = &self.shards[slot];
        let info = shard.metadata.info(name).ok_or_else(|| missing(&shard.path))?;
        let got = match (to_weight_dtype(info.dtype), dtype) {
            (Some(got), None) => got,
            (Some(got), Some(expected)) if got == expected => got,
            _ => {
                return Err(CheckpointError::DType {
                    name: name.to_owned(),
                    expected: dtype,
                    got: torch_name(info.dtype),
                })
            }
        };
        if info.shape != shape {
            return Err(CheckpointError::Shape {
                name: name.to_owned(),
                expected: shape.to_vec(),
                got: info.shape.clone(),
            });
        }
        let (begin, end) = info.data_offsets;
        // read_metadata checked that every tensor's offsets lie inside the file and match its shape.
        let bytes = &shard.mmap[shard.data_start + begin..shard.data_start + end];
        Ok(WeightView { name, dtype: got, shape: &info.shape, bytes })
    }
}

impl Shard {
    fn open(path: PathBuf) -> Result<Shard, CheckpointError> {
        let file = File::open(&path).map_err(|source| CheckpointError::Read { path: path.clone(), source })?;
        // SAFETY: the mapping is read-only; like every safetensors loader we rely on the checkpoint not being
        // modified while the model loads from it.
        let mmap =
            unsafe { Mmap::map(&file) }.map_err(|source| CheckpointError::Read { path: path.clone(), source })?;
        let (header_len, metadata) = SafeTensors::read_metadata(&mmap)
            .map_err(|source| CheckpointError::Safetensors { path: path.clone(), source })?;
        Ok(Shard { path, mmap, data_start: 8 + header_len, metadata })
    }
}

fn to_weight_dtype(dtype: Dtype) -> Option<WeightDType> {
    match dtype {
        Dtype::BF16 => Some(WeightDType::BF16),
        Dtype::F16 => Some(WeightDType::F16),
        Dtype::F32 => Some(WeightDType::F32),
        _ => None,
    }
}

/// The torch name of a stored dtype, for messages; dtypes we do not load keep safetensors' name.
fn torch_name(dtype: Dtype) -> String {
    to_weight_dtype(dtype).map_or_else(|| format!("{dtype:?}"), |d| d.torch_name().to_owned())
}

#[cfg(test)]
mod tests;
