//! Kernel-level tests: IR built with `KernelBuilder`, run, and checked against
//! hand-computed values or f64 references.

use super::*;
use crate::ir::builder::KernelBuilder;
use crate::ir::{DType, Index, Type, ValueId};
use crate::tensor::HostTensor;

mod bin_sum;
mod control;
mod errors;
mod gather;
mod grid;
mod groups;
mod kernels;
mod memory;
mod ops;
mod scan;

/// Sets a grid of one program.
fn single_program(b: &mut KernelBuilder) {
    b.grid(|b| {
        let one = b.const_i32(1);
        [one, one, one]
    });
}

/// `[0 .. len]` along every dimension of `shape`.
fn whole(b: &mut KernelBuilder, shape: &[u32]) -> Vec<Index> {
    let zero = b.const_i32(0);
    shape.iter().map(|&len| Index::Range { start: zero, len }).collect()
}

fn tensor(dtype: DType, data: &[f64]) -> HostTensor {
    HostTensor::from_f64(dtype, &[data.len()], data.to_vec())
}

/// Loads each input whole as one tile, applies `f`, and stores its result into a
/// NaN-poisoned output of the result's type (shape `[1]` for a scalar result).
fn eval_tiles(
    inputs: &[HostTensor],
    f: impl FnOnce(&mut KernelBuilder, &[ValueId]) -> ValueId,
) -> Result<HostTensor, InterpError> {
    let mut b = KernelBuilder::new("tiles", 1);
    let params: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let dims: Vec<String> = (0..t.shape.len()).map(|d| format!("D{i}_{d}")).collect();
            b.tensor_param(&format!("in{i}"), t.dtype, &dims.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect();
    single_program(&mut b);
    let tiles: Vec<ValueId> = params
        .iter()
        .zip(inputs)
        .map(|(&p, t)| {
            let shape: Vec<u32> = t.shape.iter().map(|&d| d as u32).collect();
            let indices = whole(&mut b, &shape);
            b.load(p, indices)
        })
        .collect();
    let result = f(&mut b, &tiles);
    let ty: Type = b.value_type(result).clone();
    let out_shape: Vec<usize> = if ty.is_scalar() { vec![1] } else { ty.shape.iter().map(|&d| d as usize).collect() };
    let out_dims: Vec<String> = (0..out_shape.len()).map(|d| format!("O{d}")).collect();
    let out = b.tensor_param("out", ty.dtype, &out_dims.iter().map(String::as_str).collect::<Vec<_>>());
    let indices = if ty.is_scalar() {
        let zero = b.const_i32(0);
        vec![Index::Point(zero)]
    } else {
        whole(&mut b, &ty.shape)
    };
    b.store(out, indices, result);
    let kernel = b.finish();
    let mut args: Vec<ArgValue> = inputs.iter().cloned().map(ArgValue::Tensor).collect();
    args.push(ArgValue::Tensor(HostTensor::filled(ty.dtype, &out_shape, f64::NAN)));
    run(&kernel, &mut args)?;
    match args.pop() {
        Some(ArgValue::Tensor(t)) => Ok(t),
        other => panic!("the output argument changed kind: {other:?}"),
    }
}

/// Values as a reader writes them by hand: integers without a fraction, bools as
/// `true`/`false`, floats in Rust's shortest round-trip form.
fn render(t: &HostTensor) -> String {
    let items: Vec<String> = t
        .data
        .iter()
        .map(|&x| match t.dtype {
            DType::Bool => (x != 0.0).to_string(),
            DType::I32 => (x as i64).to_string(),
            DType::F16 | DType::BF16 | DType::F32 => format!("{x:?}"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn render_result(result: Result<HostTensor, InterpError>) -> String {
    match result {
        Ok(t) => render(&t),
        Err(e) => format!("error: {e}"),
    }
}

fn check(actual: String, expected: &str) {
    assert_eq!(actual, expected);
}
