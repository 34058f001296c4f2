//! The kernel calling convention shared by code generation and the runtime's launch.
//!
//! Each IR [`Param`] expands, in order, to these PTX parameters:
//! - `Tensor` of rank r: one `.u64` global pointer, then r `.u32` sizes, then r `.u64`
//!   strides (in elements, may be any value including 0 for broadcast views);
//! - `Scalar` f32: one `.f32`; i32: one `.u32`; bool: one `.u32` holding 0 or 1.
//!
//! Scalar f16/bf16 parameters are not part of the language and are rejected by the
//! front end.
//!
//! After them come the kernel's tensor maps ([`TensorMap`], sm_90a only): each a
//! 128-byte, 64-byte-aligned by-value parameter the runtime encodes at launch from the
//! tensor argument it describes. Code generation decides which maps a kernel needs
//! ([`crate::codegen::PtxModule::tensor_maps`]), so the full list is [`kernel_abi`].

use crate::ir::{DType, Kernel, Param};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiKind {
    Ptr,
    U32,
    U64,
    F32,
    /// A `CUtensorMap`, by value.
    TensorMap,
}

/// Bytes of a `CUtensorMap`, which must start on a 64-byte boundary.
pub const TENSOR_MAP_BYTES: usize = 128;
pub const TENSOR_MAP_ALIGN: usize = 64;

impl AbiKind {
    pub fn size_bytes(self) -> usize {
        match self {
            AbiKind::Ptr | AbiKind::U64 => 8,
            AbiKind::U32 | AbiKind::F32 => 4,
            AbiKind::TensorMap => TENSOR_MAP_BYTES,
        }
    }
}

/// A TMA tensor map over tensor parameter `param`, copying boxes of `box_dims`
/// elements (one entry per tensor axis, in the IR's order: 1 on an axis the tile
/// indexes with a point) into shared memory with the 128-byte swizzle, the part outside
/// the tensor filled with zeros.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorMap {
    pub param: usize,
    pub box_dims: Vec<u32>,
}

/// What one PTX parameter carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AbiRole {
    Pointer { param: usize },
    Size { param: usize, axis: usize },
    Stride { param: usize, axis: usize },
    Scalar { param: usize },
    TensorMap(TensorMap),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbiParam {
    pub kind: AbiKind,
    pub role: AbiRole,
}

/// The flat PTX parameter list of a kernel.
pub fn abi_params(kernel: &Kernel) -> Vec<AbiParam> {
    let mut out = Vec::new();
    for (i, p) in kernel.params.iter().enumerate() {
        match p {
            Param::Tensor { dims, .. } => {
                out.push(AbiParam { kind: AbiKind::Ptr, role: AbiRole::Pointer { param: i } });
                for axis in 0..dims.len() {
                    out.push(AbiParam { kind: AbiKind::U32, role: AbiRole::Size { param: i, axis } });
                }
                for axis in 0..dims.len() {
                    out.push(AbiParam { kind: AbiKind::U64, role: AbiRole::Stride { param: i, axis } });
                }
            }
            Param::Scalar { dtype, .. } => {
                let kind = match dtype {
                    DType::F32 => AbiKind::F32,
                    _ => AbiKind::U32,
                };
                out.push(AbiParam { kind, role: AbiRole::Scalar { param: i } });
            }
        }
    }
    out
}

/// The PTX parameter list of a kernel compiled with `maps`: [`abi_params`], then one
/// by-value map each.
pub fn kernel_abi(kernel: &Kernel, maps: &[TensorMap]) -> Vec<AbiParam> {
    let mut out = abi_params(kernel);
    out.extend(maps.iter().map(|m| AbiParam { kind: AbiKind::TensorMap, role: AbiRole::TensorMap(m.clone()) }));
    out
}
