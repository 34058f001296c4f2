//! RoPE's cos/sin tables on the GPU: `[positions, head_dim / 2]` f32, computed on the host in f64 from the
//! model's inverse frequencies exactly as [`Rope::rotate`] computes its angles (over every core:
//! [`Rope::tables_le_bytes`]), and uploaded once; a longer
//! sequence than the tables cover rebuilds them at twice the length, so a generation rebuilds them a
//! logarithmic number of times.

use super::CudaBackend;
use crate::backend::BackendError;
use crate::rope::Rope;
use sparsefill_compiler::ir::DType;
use sparsefill_runtime::DeviceTensor;

/// Positions the first tables cover.
const MIN_POSITIONS: usize = 256;

pub(super) struct RopeTables {
    inv_freq: Vec<f32>,
    positions: usize,
    pub(super) cos: DeviceTensor,
    pub(super) sin: DeviceTensor,
}

impl RopeTables {
    /// The tables of `rope` covering positions below `end`, built or rebuilt in `slot` when they are missing,
    /// for another rope, or too short.
    pub(super) fn ensure<'s>(
        slot: &'s mut Option<RopeTables>,
        backend: &CudaBackend,
        rope: &Rope,
        end: usize,
    ) -> Result<&'s RopeTables, BackendError> {
        let tables = match slot.take() {
            Some(t) if t.inv_freq == rope.inv_freq && t.positions >= end => t,
            _ => RopeTables::build(backend, rope, end.next_power_of_two().max(MIN_POSITIONS))?,
        };
        Ok(slot.insert(tables))
    }

    fn build(backend: &CudaBackend, rope: &Rope, positions: usize) -> Result<RopeTables, BackendError> {
        let (cos, sin) = rope.tables_le_bytes(positions);
        let shape = [positions, rope.inv_freq.len()];
        let upload = |bytes: &[u8], name: &str| {
            DeviceTensor::from_bytes(&backend.gpu, DType::F32, &shape, bytes).map_err(|e| {
                backend.allocation_error(|| format!("the RoPE {name} table {shape:?} f32"), bytes.len(), e)
            })
        };
        Ok(RopeTables {
            inv_freq: rope.inv_freq.clone(),
            positions,
            cos: upload(&cos, "cos")?,
            sin: upload(&sin, "sin")?,
        })
    }
}
