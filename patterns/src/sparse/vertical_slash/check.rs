//! Step-by-step checks of a run of the launch plan (on the interpreter or downloaded
//! from a GPU) against the host reference, each step on that step's own inputs from the
//! run, so that the exact steps can be compared exactly:
//!
//! - [`row_stats`] and [`scores`]: against the f64 reference, within a relative tolerance;
//! - [`selections`]: the host top-k of the run's own scores, exactly;
//! - [`conversion`]: the host conversion of the run's own selections, exactly.

use super::plan::{Buffer, Plan};
use super::reference::{self, Selection};
use super::{input_shape, VerticalSlashParams};
use crate::attention::AttentionCase;
use crate::sparse::index::{query_blocks, SparseIndex};
use crate::sparse::AttentionInputs;
use sparsefill_compiler::interp::ArgValue;

/// The inputs of an attention case (its q, k, v and lengths), to run a pattern on them
/// and check it with the case's masked reference.
pub fn inputs_of(case: &AttentionCase) -> Result<AttentionInputs, String> {
    let tensor = |i: usize| match case.args.get(i) {
        Some(ArgValue::Tensor(t)) => Ok(t.clone()),
        _ => Err(format!("argument {i} of the attention case is not a tensor")),
    };
    use crate::attention::{K, Q, V};
    Ok(AttentionInputs { q: tensor(Q)?, k: tensor(K)?, v: tensor(V)?, seqlens: case.shape.seqlens.clone() })
}

/// The run's vertical and slash scores against the f64 reference: -inf past each
/// sequence, the forced entries +inf, the rest within `tolerance` relative (of at least 1e-3).
pub fn scores(
    plan: &Plan,
    inputs: &AttentionInputs,
    params: &VerticalSlashParams,
    tolerance: f64,
) -> Result<(), String> {
    let shape = input_shape(inputs).map_err(|e| e.to_string())?;
    for (b, &len) in shape.seqlens.iter().enumerate() {
        for h in 0..shape.heads {
            let expected = reference::head_sums(inputs, &shape, params.last_q, b, h).forced();
            for (which, exp) in [(Buffer::VerticalScores, &expected.vertical), (Buffer::SlashScores, &expected.slash)] {
                let got = plan.row(which, b, h).ok_or(format!("the run has no {which:?} [{b}, {h}]"))?;
                if let Some(c) = got.iter().skip(len).position(|&x| x != f64::NEG_INFINITY) {
                    return Err(format!(
                        "{which:?} [{b}, {h}, {}] = {}, past the end; expected -inf",
                        len + c,
                        got[len + c]
                    ));
                }
                within(which, [b, h], got, exp, Tolerance { relative: tolerance, floor: 1e-3, exact_zero: false })?;
            }
        }
    }
    Ok(())
}

/// How close a run's value must be to the reference's: `relative` of the reference's
/// magnitude, at least of `floor`; non-finite references exactly, and zeros exactly
/// when `exact_zero`.
struct Tolerance {
    relative: f64,
    floor: f64,
    exact_zero: bool,
}

/// Row `[b, h]` of buffer `which`, `got`, against the reference `expected`.
fn within(which: Buffer, [b, h]: [usize; 2], got: &[f64], expected: &[f64], t: Tolerance) -> Result<(), String> {
    for (at, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let close = if e.is_finite() { (g - e).abs() <= t.relative * e.abs().max(t.floor) } else { g == e };
        if !close || (t.exact_zero && e == 0.0 && g != 0.0) {
            return Err(format!("{which:?} [{b}, {h}, {at}] = {g}; expected {e}"));
        }
    }
    Ok(())
}

/// The run's per-row softmax statistics (`RowMax`, `RowSum`) against the f64 reference:
/// the slots that are not live exactly -inf and 0, the rest within `tolerance` relative.
pub fn row_stats(
    plan: &Plan,
    inputs: &AttentionInputs,
    params: &VerticalSlashParams,
    tolerance: f64,
) -> Result<(), String> {
    let shape = input_shape(inputs).map_err(|e| e.to_string())?;
    for b in 0..shape.seqlens.len() {
        for h in 0..shape.heads {
            let (max, sum) = reference::row_stats(inputs, &shape, params.last_q, b, h);
            for (which, exp) in [(Buffer::RowMax, &max), (Buffer::RowSum, &sum)] {
                let got = plan.row(which, b, h).ok_or(format!("the run has no {which:?} [{b}, {h}]"))?;
                within(which, [b, h], got, exp, Tolerance { relative: tolerance, floor: 1.0, exact_zero: true })?;
            }
        }
    }
    Ok(())
}

/// Each head's selections against the host top-k of the run's own scores.
pub fn selections(plan: &Plan, params: &VerticalSlashParams, seqlens: &[usize], heads: usize) -> Result<(), String> {
    for b in 0..seqlens.len() {
        for h in 0..heads {
            let got = plan.selection(b, h).ok_or(format!("selection [{b}, {h}] was not written"))?;
            let top =
                |which: Buffer, k: usize| plan.row(which, b, h).map(|r| reference::top_k(r, k)).unwrap_or_default();
            let expected = Selection {
                verticals: top(Buffer::VerticalScores, params.vertical_size),
                slashes: top(Buffer::SlashScores, params.slash_size),
            };
            if got != expected {
                return Err(format!("selection [{b}, {h}]: got {got:?}, expected {expected:?}"));
            }
        }
    }
    Ok(())
}

/// The run's index: valid, and equal to the host conversion of the run's own selections.
pub fn conversion(
    plan: &Plan,
    params: &VerticalSlashParams,
    seqlens: &[usize],
    heads: usize,
) -> Result<SparseIndex, String> {
    let chosen: Vec<Selection> = (0..seqlens.len() * heads)
        .map(|at| plan.selection(at / heads, at % heads).ok_or(format!("selection {at} was not written")))
        .collect::<Result<_, _>>()?;
    let expected =
        reference::index_of(seqlens, heads, params, |b, h| chosen[b * heads + h].clone()).map_err(|e| e.to_string())?;
    let got = plan.index().ok_or("the run has no index")?;
    got.validate(seqlens, heads).map_err(|e| e.to_string())?;
    same_lists(&got, &expected, seqlens, heads)?;
    Ok(got)
}

/// Whether two indices hold the same lists in every block (entries past the counts aside).
pub fn same_lists(got: &SparseIndex, expected: &SparseIndex, seqlens: &[usize], heads: usize) -> Result<(), String> {
    for b in 0..seqlens.len() {
        for h in 0..heads {
            for i in 0..query_blocks(seqlens) {
                let (g, e) = (got.lists(b, h, i), expected.lists(b, h, i));
                if g != e {
                    return Err(format!("block [{b}, {h}, {i}]: got {g:?}, expected {e:?}"));
                }
            }
        }
    }
    Ok(())
}
