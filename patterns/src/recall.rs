//! How close a sparse pattern is to dense causal attention, in f64:
//!
//! - **recall**: the share of each row's softmax mass that the pattern keeps,
//!   `Σ_kept exp(s) / Σ_causal exp(s)`, per row and summarized per head (mean, min);
//! - **output error**: the relative L2 error of the pattern's `o` against dense `o`.
//!
//! Recall is measured either from a key mask (a closure over [`KeyMask`], the same
//! mask a pattern's test hands to `AttentionCase::reference_masked`) or, for any
//! pattern's output whatever its index format, from its `lse`: a kernel that attends to
//! a key set S writes `lse = ln Σ_S exp(s)`, so its recall is `exp(lse − lse_dense)`.

use super::accuracy::{compare, Accuracy};
use super::attention::{AttentionCase, KeyMask, RowOutputs, ShapeError};
use super::sparse::local::query_blocks::{self, InputError};
use super::sparse::AttentionInputs;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::tensor::HostTensor;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum RecallError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("`{name}` must have shape {expected:?}; got {got:?}")]
    OutputShape { name: &'static str, expected: Vec<usize>, got: Vec<usize> },
    #[error("no rows to measure: recall needs at least one token row")]
    NoRows,
}

/// The dense kernel's case for `inputs` (checked as every sparse pattern checks them):
/// causal, with the outputs poisoned with NaN and BM = BN = the smallest dot block (16
/// to 64) that covers the longest sequence, so short inputs do not pay for a 64-row
/// tile on the interpreter.
pub fn dense_case(inputs: &AttentionInputs) -> Result<AttentionCase, RecallError> {
    let shape = query_blocks::validate(inputs)?;
    let max_seqlen = shape.seqlens.iter().copied().max().unwrap_or(1);
    let block = max_seqlen.next_power_of_two().clamp(16, 64);
    let int = |v: usize| ConstValue::Int(v as i64);
    let consts = vec![
        ("BM".to_string(), int(block)),
        ("BN".to_string(), int(block)),
        ("D".to_string(), int(shape.head_dim)),
        ("CAUSAL".to_string(), ConstValue::Bool(true)),
    ];
    Ok(AttentionCase { args: query_blocks::kernel_args(inputs, &shape, Vec::new()), shape, consts })
}

/// Recall of some token rows, every head: `kept[i * heads + h]` for the i-th row.
#[derive(Clone, Debug, PartialEq)]
pub struct Recall {
    pub heads: usize,
    pub rows: Vec<usize>,
    pub kept: Vec<f64>,
}

/// One head's recall over the measured rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadRecall {
    pub mean: f64,
    pub min: f64,
}

impl Recall {
    /// The recall of the `i`-th measured row at `head`.
    pub fn get(&self, i: usize, head: usize) -> Option<f64> {
        (head < self.heads).then(|| self.kept.get(i * self.heads + head).copied()).flatten()
    }

    /// Mean and minimum over the measured rows, per head (NaN propagates: an unwritten
    /// lse shows up rather than hiding in a minimum).
    pub fn per_head(&self) -> Vec<HeadRecall> {
        (0..self.heads).map(|h| summarize(self.kept.iter().skip(h).step_by(self.heads))).collect()
    }

    /// Mean and minimum over every measured row and head.
    pub fn overall(&self) -> HeadRecall {
        summarize(self.kept.iter())
    }
}

fn summarize<'a>(values: impl Iterator<Item = &'a f64>) -> HeadRecall {
    let (sum, min, n) = values.fold((0.0, f64::INFINITY, 0usize), |(s, m, n), &x| {
        (s + x, if x.is_nan() || m.is_nan() { f64::NAN } else { m.min(x) }, n + 1)
    });
    HeadRecall { mean: sum / n as f64, min }
}

/// How far a pattern's `o` is from dense `o`, over all measured rows and per head.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputError {
    pub total: Accuracy,
    pub per_head: Vec<Accuracy>,
}

/// Dense causal attention at some token rows, in f64, computed once and then compared
/// with any number of patterns.
#[derive(Clone, Debug)]
pub struct DenseReference {
    case: AttentionCase,
    rows: Vec<usize>,
    dense: RowOutputs,
}

impl DenseReference {
    /// The reference at `rows` (token rows of the packed layout).
    pub fn new(inputs: &AttentionInputs, rows: &[usize]) -> Result<DenseReference, RecallError> {
        if rows.is_empty() {
            return Err(RecallError::NoRows);
        }
        let case = dense_case(inputs)?;
        let dense = reference_rows(&case, rows, |at| at.is_causal_visible())?;
        Ok(DenseReference { case, rows: rows.to_vec(), dense })
    }

    /// The reference at every token row.
    pub fn all_rows(inputs: &AttentionInputs) -> Result<DenseReference, RecallError> {
        let rows: Vec<usize> = (0..inputs.seqlens.iter().sum()).collect();
        DenseReference::new(inputs, &rows)
    }

    pub fn rows(&self) -> &[usize] {
        &self.rows
    }

    /// Dense `o` (`[rows, H, D]`) and `lse` (`[rows, H]`) at the measured rows.
    pub fn outputs(&self) -> &RowOutputs {
        &self.dense
    }

    /// Recall of the keys `mask` keeps (intersected with the causal mask). A row whose
    /// mask keeps no key has recall 0.
    pub fn mask_recall(&self, mask: impl Fn(KeyMask) -> bool + Sync) -> Result<Recall, RecallError> {
        let masked = reference_rows(&self.case, &self.rows, |at| at.is_causal_visible() && mask(at))?;
        Ok(self.recall_from(&masked.lse))
    }

    /// Recall of a pattern from the `lse [H, T]` it wrote (natural log, as every
    /// attention kernel here writes it).
    pub fn lse_recall(&self, lse: &HostTensor) -> Result<Recall, RecallError> {
        let (h, t) = (self.case.shape.heads, self.case.shape.tokens());
        expect_shape("lse", lse, &[h, t])?;
        let rows = self.rows.iter().flat_map(|&r| (0..h).map(move |head| lse.data[head * t + r])).collect::<Vec<_>>();
        Ok(self.recall_from(&rows))
    }

    fn recall_from(&self, lse: &[f64]) -> Recall {
        let kept = lse.iter().zip(&self.dense.lse).map(|(l, dense)| (l - dense).exp()).collect();
        Recall { heads: self.case.shape.heads, rows: self.rows.clone(), kept }
    }

    /// Relative L2 error of a pattern's `o [T, H, D]` against dense `o` at the measured
    /// rows: in all and per head.
    pub fn output_error(&self, o: &HostTensor) -> Result<OutputError, RecallError> {
        let s = &self.case.shape;
        let (h, d) = (s.heads, s.head_dim);
        expect_shape("o", o, &[s.tokens(), h, d])?;
        let got: Vec<f64> = self.rows.iter().flat_map(|&r| o.data[r * h * d..][..h * d].iter().copied()).collect();
        let head_part = |values: &[f64], head: usize| -> Vec<f64> {
            values.chunks(h * d).flat_map(|row| row[head * d..][..d].iter().copied()).collect()
        };
        let as_tensor = |values: Vec<f64>| HostTensor { dtype: DType::F32, shape: vec![values.len()], data: values };
        let per_head =
            (0..h).map(|head| compare(&as_tensor(head_part(&got, head)), &head_part(&self.dense.o, head))).collect();
        Ok(OutputError { total: compare(&as_tensor(got), &self.dense.o), per_head })
    }
}

fn expect_shape(name: &'static str, tensor: &HostTensor, expected: &[usize]) -> Result<(), RecallError> {
    if tensor.shape != expected || tensor.data.len() != expected.iter().product::<usize>() {
        return Err(RecallError::OutputShape { name, expected: expected.to_vec(), got: tensor.shape.clone() });
    }
    Ok(())
}

/// `case.reference_masked(rows, mask)` with the rows split over threads: the f64
/// reference costs O(rows · len · H · D).
fn reference_rows(
    case: &AttentionCase,
    rows: &[usize],
    mask: impl Fn(KeyMask) -> bool + Sync,
) -> Result<RowOutputs, ShapeError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = rows.len().div_ceil(threads).max(1);
    let parts: Vec<Result<RowOutputs, ShapeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            rows.chunks(chunk).map(|part| scope.spawn(|| case.reference_masked(part, &mask))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    let mut out = RowOutputs { o: Vec::new(), lse: Vec::new() };
    for part in parts {
        let part = part?;
        out.o.extend(part.o);
        out.lse.extend(part.lse);
    }
    Ok(out)
}
