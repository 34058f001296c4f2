//! The kernels shipped with the foundation, their inputs, references and traffic.

use crate::reference;
use rand::Rng;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::tensor::HostTensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shipped {
    VectorAdd,
    Softmax,
    RmsNorm,
}

/// One run of a shipped kernel: a specialization and its arguments, outputs poisoned.
#[derive(Clone, Debug)]
pub struct Case {
    pub shape: Vec<usize>,
    pub consts: Vec<(String, ConstValue)>,
    pub args: Vec<ArgValue>,
    /// Index in `args` of the output tensor.
    pub output: usize,
}

const RMSNORM_EPS: f32 = 1e-5;

/// The widest single tile the row kernels specialize for; longer rows loop.
pub const MAX_ROW_BLOCK: usize = 4096;

impl Shipped {
    pub const ALL: [Shipped; 3] = [Shipped::VectorAdd, Shipped::Softmax, Shipped::RmsNorm];

    pub fn name(self) -> &'static str {
        match self {
            Shipped::VectorAdd => "vector_add",
            Shipped::Softmax => "softmax",
            Shipped::RmsNorm => "rmsnorm",
        }
    }

    pub fn from_name(name: &str) -> Option<Shipped> {
        Shipped::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Path of the source, relative to the repository root.
    pub fn path(self) -> &'static str {
        match self {
            Shipped::VectorAdd => "patterns/kernels/vector_add.tile",
            Shipped::Softmax => "patterns/kernels/softmax.tile",
            Shipped::RmsNorm => "patterns/kernels/rmsnorm.tile",
        }
    }

    pub fn source(self) -> &'static str {
        match self {
            Shipped::VectorAdd => include_str!("../kernels/vector_add.tile"),
            Shipped::Softmax => include_str!("../kernels/softmax.tile"),
            Shipped::RmsNorm => include_str!("../kernels/rmsnorm.tile"),
        }
    }

    /// The specialization used for `shape`: row kernels take the smallest power-of-two
    /// tile that holds a row (up to [`MAX_ROW_BLOCK`]), so a row is read once.
    pub fn consts_for(self, shape: &[usize]) -> Vec<(String, ConstValue)> {
        let block = match self {
            Shipped::VectorAdd => 1024,
            Shipped::Softmax | Shipped::RmsNorm => {
                shape.last().copied().unwrap_or(1).next_power_of_two().min(MAX_ROW_BLOCK)
            }
        };
        vec![("BLOCK".to_string(), ConstValue::Int(block as i64))]
    }

    /// Shapes the CI checks on the interpreter: ragged sizes, a single-tile row and a
    /// looped (longer than BLOCK) row. The second element is an explicit tile width
    /// (BLOCK, and LOOP_BLOCK for the row kernels), if any.
    pub fn small_cases(self) -> Vec<(Vec<usize>, Option<usize>)> {
        match self {
            Shipped::VectorAdd => vec![(vec![3000], None), (vec![1024], None), (vec![17], Some(16))],
            Shipped::Softmax | Shipped::RmsNorm => {
                vec![(vec![6, 100], None), (vec![3, 256], None), (vec![4, 300], Some(64)), (vec![1, 1], None)]
            }
        }
    }

    /// The shape the GPU benchmark times.
    pub fn bench_shape(self) -> Vec<usize> {
        match self {
            Shipped::VectorAdd => vec![1 << 27],
            Shipped::Softmax | Shipped::RmsNorm => vec![32768, 4096],
        }
    }

    /// Builds fresh random inputs for `shape` with the output filled with NaN; `block`
    /// overrides the tile widths as in [`Shipped::small_cases`].
    pub fn case(self, shape: &[usize], block: Option<usize>, rng: &mut impl Rng) -> Case {
        let mut consts = self.consts_for(shape);
        if let Some(b) = block {
            let names: &[&str] = match self {
                Shipped::VectorAdd => &["BLOCK"],
                Shipped::Softmax | Shipped::RmsNorm => &["BLOCK", "LOOP_BLOCK"],
            };
            consts = names.iter().map(|n| (n.to_string(), ConstValue::Int(b as i64))).collect();
        }
        let mut random = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            HostTensor::from_f64(DType::BF16, shape, (0..n).map(|_| rng.random_range(-3.0..3.0)).collect())
        };
        let poisoned = |shape: &[usize]| HostTensor::filled(DType::BF16, shape, f64::NAN);
        let (args, output) = match self {
            Shipped::VectorAdd => (
                vec![
                    ArgValue::Tensor(random(shape)),
                    ArgValue::Tensor(random(shape)),
                    ArgValue::Tensor(poisoned(shape)),
                ],
                2,
            ),
            Shipped::Softmax => (vec![ArgValue::Tensor(random(shape)), ArgValue::Tensor(poisoned(shape))], 1),
            Shipped::RmsNorm => {
                let cols = shape.last().copied().unwrap_or(1);
                (
                    vec![
                        ArgValue::Tensor(random(shape)),
                        ArgValue::Tensor(random(&[cols])),
                        ArgValue::Tensor(poisoned(shape)),
                        ArgValue::F32(RMSNORM_EPS),
                    ],
                    2,
                )
            }
        };
        Case { shape: shape.to_vec(), consts, args, output }
    }

    /// The f64 reference of the case's output, from its (rounded) inputs.
    pub fn reference(self, case: &Case) -> Vec<f64> {
        let tensor = |i: usize| match &case.args[i] {
            ArgValue::Tensor(t) => t.data.as_slice(),
            _ => &[],
        };
        let cols = case.shape.last().copied().unwrap_or(1);
        match self {
            Shipped::VectorAdd => reference::vector_add(tensor(0), tensor(1)),
            Shipped::Softmax => reference::softmax_rows(tensor(0), cols),
            Shipped::RmsNorm => reference::rmsnorm_rows(tensor(0), tensor(1), RMSNORM_EPS as f64),
        }
    }

    /// The fewest bytes a run must move through device memory: each input read
    /// once, the output written once.
    pub fn bytes_moved(self, shape: &[usize]) -> u64 {
        let n: u64 = shape.iter().map(|&d| d as u64).product();
        let cols = shape.last().copied().unwrap_or(1) as u64;
        let elem = DType::BF16.size_bytes() as u64;
        match self {
            Shipped::VectorAdd => 3 * n * elem,
            Shipped::Softmax => 2 * n * elem,
            Shipped::RmsNorm => (2 * n + cols) * elem,
        }
    }

    /// Relative L2 error allowed against the f64 reference: bf16 outputs.
    pub fn tolerance(self) -> f64 {
        1e-2
    }
}
