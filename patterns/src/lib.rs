//! sparsefill-patterns: kernels written in the `.tile` language, each with an f64
//! reference, input generators and traffic counts so that the interpreter, the GPU
//! tests, the demo and the benchmarks all check the same thing.
//!
//! The sparse attention patterns (A-shape, vertical-slash, block-sparse) land here
//! with the patterns issue; today it holds the foundation's kernels.

pub mod accuracy;
pub mod attention;
pub mod config;
pub mod gemm;
pub mod gpu;
pub mod random;
pub mod recall;
pub mod reference;
pub mod shipped;
pub mod sparse;
pub mod synthetic;

pub use accuracy::{compare, Accuracy};
pub use shipped::Shipped;
