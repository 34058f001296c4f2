//! Everything that can stop an interpretation.

use crate::args::ArgError;
use crate::ir::DType;
use std::fmt;

/// Where an error happened: in the host-side grid block or in one program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    Grid,
    /// One run of the body: the program's `program_id` along axes 0, 1, 2, and the warp
    /// group running it (its `group_id`), `None` when the kernel has one group, whose
    /// `group_id` is 0.
    Program {
        ids: [u32; 3],
        group: Option<u32>,
    },
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Grid => f.write_str("the grid block"),
            Site::Program { ids: [x, y, z], group: None } => write!(f, "program ({x}, {y}, {z})"),
            Site::Program { ids: [x, y, z], group: Some(g) } => write!(f, "program ({x}, {y}, {z}), group {g}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpError {
    #[error(transparent)]
    Args(#[from] ArgError),
    #[error("argument `{param}` has shape {shape:?} but holds {len} elements; a host tensor holds exactly the product of its shape")]
    TensorLength { param: String, shape: Vec<usize>, len: usize },
    #[error("integer `{op}` by zero in {site}; the divisor must be nonzero in every element, masked ones included")]
    DivisionByZero { op: &'static str, site: Site },
    #[error("`for` step is {step} (lower {lower}, upper {upper}) in {site}; the step must be positive")]
    NonPositiveStep { step: i32, lower: i32, upper: i32, site: Site },
    #[error("grid size along axis {axis} is {size}; supported sizes are 0 ..= 2147483647")]
    GridSize { axis: usize, size: i64 },
    #[error("`{op}` is not defined on {dtype} (supported: {supported})")]
    UnsupportedDType { op: &'static str, dtype: DType, supported: &'static str },
    #[error("`{op}` cannot run in the grid block: it is evaluated on the host from shapes and scalar arguments only")]
    NotInGrid { op: &'static str },
    #[error("a tile of {elements} elements is larger than the interpreter's limit of {max}")]
    TileTooLarge { elements: u64, max: u64 },
    /// IR that [`crate::ir::verify::verify`] rejects; reported instead of panicking.
    #[error("malformed Tile IR at `{op}`: {detail}")]
    Malformed { op: &'static str, detail: String },
}
