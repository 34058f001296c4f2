//! Checks launch arguments against a kernel's parameters. The interpreter and the
//! GPU runtime both call [`validate`], so a bad argument fails the same way on
//! either backend, before anything runs.

use crate::ir::{DType, Kernel, Param};
use std::collections::HashMap;

/// What a backend knows about one argument without touching its data.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgDesc {
    Tensor { dtype: DType, shape: Vec<usize> },
    Scalar { dtype: DType },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("kernel `{kernel}` takes {expected} arguments ({names}); got {got}")]
    Count { kernel: String, expected: usize, got: usize, names: String },
    #[error("argument `{param}` must be a tensor<{dtype}> of rank {rank}; got a scalar")]
    ExpectedTensor { param: String, dtype: DType, rank: usize },
    #[error("argument `{param}` must be a {dtype} scalar; got a tensor")]
    ExpectedScalar { param: String, dtype: DType },
    #[error("argument `{param}` must have dtype {expected}; got {got}")]
    DType { param: String, expected: DType, got: DType },
    #[error("argument `{param}` must have rank {expected} ([{dims}]); got rank {got} (shape {shape:?})")]
    Rank { param: String, expected: usize, got: usize, dims: String, shape: Vec<usize> },
    #[error("dimension `{dim}` of `{param}` is {got}, but `{first_param}` has {dim} = {first}")]
    DimMismatch { dim: String, param: String, got: usize, first_param: String, first: usize },
    #[error("dimension `{dim}` of `{param}` is {got}, but the kernel was specialized with {dim} = {expected}")]
    ConstDim { dim: String, param: String, got: usize, expected: u32 },
    #[error("dimension `{dim}` of `{param}` is {got}, larger than the supported maximum {max} (sizes are 32-bit)")]
    DimTooLarge { dim: String, param: String, got: usize, max: usize },
}

/// Validates `args` against `kernel.params`: count, kind, dtype, rank, agreement of
/// same-named dimensions, and dimensions fixed by const parameters.
pub fn validate(kernel: &Kernel, args: &[ArgDesc]) -> Result<(), ArgError> {
    if args.len() != kernel.params.len() {
        return Err(ArgError::Count {
            kernel: kernel.name.clone(),
            expected: kernel.params.len(),
            got: args.len(),
            names: kernel.params.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        });
    }
    let mut seen: HashMap<&str, (&str, usize)> = HashMap::new();
    for (param, arg) in kernel.params.iter().zip(args) {
        match (param, arg) {
            (Param::Tensor { name, dtype, dims, const_dims, .. }, ArgDesc::Tensor { dtype: got, shape }) => {
                if got != dtype {
                    return Err(ArgError::DType { param: name.clone(), expected: *dtype, got: *got });
                }
                if shape.len() != dims.len() {
                    return Err(ArgError::Rank {
                        param: name.clone(),
                        expected: dims.len(),
                        got: shape.len(),
                        dims: dims.join(", "),
                        shape: shape.clone(),
                    });
                }
                for ((dim, fixed), &size) in dims.iter().zip(const_dims).zip(shape) {
                    if size > i32::MAX as usize {
                        return Err(ArgError::DimTooLarge {
                            dim: dim.clone(),
                            param: name.clone(),
                            got: size,
                            max: i32::MAX as usize,
                        });
                    }
                    if let Some(expected) = fixed {
                        if size != *expected as usize {
                            return Err(ArgError::ConstDim {
                                dim: dim.clone(),
                                param: name.clone(),
                                got: size,
                                expected: *expected,
                            });
                        }
                    }
                    match seen.get(dim.as_str()) {
                        Some(&(first_param, first)) if first != size => {
                            return Err(ArgError::DimMismatch {
                                dim: dim.clone(),
                                param: name.clone(),
                                got: size,
                                first_param: first_param.to_string(),
                                first,
                            });
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(dim, (name, size));
                        }
                    }
                }
            }
            (Param::Tensor { name, dtype, dims, .. }, ArgDesc::Scalar { .. }) => {
                return Err(ArgError::ExpectedTensor { param: name.clone(), dtype: *dtype, rank: dims.len() });
            }
            (Param::Scalar { name, dtype }, ArgDesc::Tensor { .. }) => {
                return Err(ArgError::ExpectedScalar { param: name.clone(), dtype: *dtype });
            }
            (Param::Scalar { name, dtype }, ArgDesc::Scalar { dtype: got }) => {
                if got != dtype {
                    return Err(ArgError::DType { param: name.clone(), expected: *dtype, got: *got });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::builder::KernelBuilder;

    fn kernel() -> Kernel {
        let mut b = KernelBuilder::new("k", 4);
        b.tensor_param("x", DType::BF16, &["N", "D"]);
        b.tensor_param("o", DType::BF16, &["N", "D"]);
        b.scalar_param("eps", DType::F32);
        b.finish()
    }

    fn t(dtype: DType, shape: &[usize]) -> ArgDesc {
        ArgDesc::Tensor { dtype, shape: shape.to_vec() }
    }

    fn check(args: &[ArgDesc], expect: &str) {
        let got = match validate(&kernel(), args) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn accepts_matching_args() {
        check(&[t(DType::BF16, &[4, 8]), t(DType::BF16, &[4, 8]), ArgDesc::Scalar { dtype: DType::F32 }], "ok");
    }

    #[test]
    fn rejects_wrong_count() {
        check(&[t(DType::BF16, &[4, 8])], "kernel `k` takes 3 arguments (x, o, eps); got 1");
    }

    #[test]
    fn rejects_wrong_dtype() {
        check(
            &[t(DType::F32, &[4, 8]), t(DType::BF16, &[4, 8]), ArgDesc::Scalar { dtype: DType::F32 }],
            "argument `x` must have dtype bf16; got f32",
        );
    }

    #[test]
    fn rejects_wrong_rank() {
        check(
            &[t(DType::BF16, &[32]), t(DType::BF16, &[4, 8]), ArgDesc::Scalar { dtype: DType::F32 }],
            "argument `x` must have rank 2 ([N, D]); got rank 1 (shape [32])",
        );
    }

    #[test]
    fn rejects_disagreeing_dims() {
        check(
            &[t(DType::BF16, &[4, 8]), t(DType::BF16, &[4, 16]), ArgDesc::Scalar { dtype: DType::F32 }],
            "dimension `D` of `o` is 16, but `x` has D = 8",
        );
    }

    #[test]
    fn rejects_scalar_for_tensor() {
        check(
            &[ArgDesc::Scalar { dtype: DType::F32 }, t(DType::BF16, &[4, 8]), ArgDesc::Scalar { dtype: DType::F32 }],
            "argument `x` must be a tensor<bf16> of rank 2; got a scalar",
        );
    }

    #[test]
    fn rejects_tensor_for_scalar() {
        check(
            &[t(DType::BF16, &[4, 8]), t(DType::BF16, &[4, 8]), t(DType::F32, &[1])],
            "argument `eps` must be a f32 scalar; got a tensor",
        );
    }

    #[test]
    fn rejects_const_dim_mismatch() {
        let mut b = KernelBuilder::new("k", 4);
        b.add_param(Param::Tensor {
            name: "x".into(),
            dtype: DType::F32,
            dims: vec!["N".into(), "D".into()],
            const_dims: vec![None, Some(64)],
            aligned: false,
        });
        let k = b.finish();
        let err = validate(&k, &[t(DType::F32, &[2, 32])]).unwrap_err();
        assert_eq!(err.to_string(), "dimension `D` of `x` is 32, but the kernel was specialized with D = 64");
    }
}
