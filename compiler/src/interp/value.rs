//! The values the interpreter handles: launch arguments and tiles.

use super::error::InterpError;
use crate::args::ArgDesc;
use crate::ir::{DType, Kernel, Type};
use crate::tensor::HostTensor;

/// One launch argument with its data: what [`super::run`] reads and, for tensors, writes.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    Tensor(HostTensor),
    F32(f32),
    I32(i32),
    Bool(bool),
}

impl ArgValue {
    pub fn desc(&self) -> ArgDesc {
        self.grid_arg().desc()
    }

    /// The part of this argument that the grid block may read.
    pub fn grid_arg(&self) -> GridArg<'_> {
        match self {
            ArgValue::Tensor(t) => GridArg::Tensor { dtype: t.dtype, shape: &t.shape },
            ArgValue::F32(v) => GridArg::F32(*v),
            ArgValue::I32(v) => GridArg::I32(*v),
            ArgValue::Bool(v) => GridArg::Bool(*v),
        }
    }
}

/// Checks that each tensor holds as many elements as its shape says: `HostTensor`'s
/// fields are public, and loads and stores index its data by shape.
pub(super) fn check_tensor_lengths(kernel: &Kernel, args: &[ArgValue]) -> Result<(), InterpError> {
    for (param, arg) in kernel.params.iter().zip(args) {
        if let ArgValue::Tensor(t) = arg {
            let expected = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if expected != Some(t.data.len()) {
                let (param, shape, len) = (param.name().to_string(), t.shape.clone(), t.data.len());
                return Err(InterpError::TensorLength { param, shape, len });
            }
        }
    }
    Ok(())
}

/// What the grid block may read of one argument: a tensor's dtype and shape, or a
/// scalar's value. The GPU runtime builds these from device tensors, whose data
/// never comes to the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GridArg<'a> {
    Tensor { dtype: DType, shape: &'a [usize] },
    F32(f32),
    I32(i32),
    Bool(bool),
}

impl GridArg<'_> {
    pub fn desc(&self) -> ArgDesc {
        match self {
            GridArg::Tensor { dtype, shape } => ArgDesc::Tensor { dtype: *dtype, shape: shape.to_vec() },
            GridArg::F32(_) => ArgDesc::Scalar { dtype: DType::F32 },
            GridArg::I32(_) => ArgDesc::Scalar { dtype: DType::I32 },
            GridArg::Bool(_) => ArgDesc::Scalar { dtype: DType::Bool },
        }
    }

    /// A scalar's value in the interpreter's f64 encoding; `None` for a tensor.
    pub(super) fn scalar(&self) -> Option<f64> {
        match self {
            GridArg::Tensor { .. } => None,
            GridArg::F32(v) => Some(f64::from(*v)),
            GridArg::I32(v) => Some(f64::from(*v)),
            GridArg::Bool(v) => Some(f64::from(u8::from(*v))),
        }
    }

    pub(super) fn shape(&self) -> Option<&[usize]> {
        match self {
            GridArg::Tensor { shape, .. } => Some(shape),
            _ => None,
        }
    }
}

/// A tile value: row-major elements, each already rounded to `ty.dtype`
/// (integers and bools are stored exactly; bools as 0 or 1).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Tile {
    pub ty: Type,
    pub data: Vec<f64>,
}

impl Tile {
    pub fn scalar(dtype: DType, value: f64) -> Tile {
        Tile { ty: Type::scalar(dtype), data: vec![value] }
    }

    pub fn dtype(&self) -> DType {
        self.ty.dtype
    }

    pub fn shape(&self) -> &[u32] {
        &self.ty.shape
    }
}
