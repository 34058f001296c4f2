//! Comparing a kernel's output with its f64 reference.

use sparsefill_compiler::tensor::HostTensor;
use std::fmt;

/// How far an output is from its reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// ‖out − ref‖₂ / ‖ref‖₂ over the elements that are finite in the reference.
    pub rel_l2: f64,
    pub max_abs: f64,
    /// Elements that are NaN or infinite in the output where the reference is finite:
    /// an unwritten (poisoned) element shows up here.
    pub non_finite: usize,
}

impl Accuracy {
    pub fn passes(&self, tolerance: f64) -> bool {
        self.non_finite == 0 && self.rel_l2 <= tolerance
    }
}

impl fmt::Display for Accuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rel_l2 {:.2e}, max_abs {:.2e}", self.rel_l2, self.max_abs)?;
        if self.non_finite > 0 {
            write!(f, ", {} non-finite", self.non_finite)?;
        }
        Ok(())
    }
}

/// Compares `out` with `reference`; both hold the same number of elements.
pub fn compare(out: &HostTensor, reference: &[f64]) -> Accuracy {
    let (mut diff2, mut ref2, mut max_abs, mut non_finite) = (0.0, 0.0, 0.0f64, 0);
    for (&o, &r) in out.data.iter().zip(reference) {
        if !r.is_finite() {
            continue;
        }
        if !o.is_finite() {
            non_finite += 1;
            continue;
        }
        let d = o - r;
        diff2 += d * d;
        ref2 += r * r;
        max_abs = max_abs.max(d.abs());
    }
    if out.data.len() != reference.len() {
        non_finite += out.data.len().abs_diff(reference.len());
    }
    let rel_l2 = if ref2 > 0.0 { (diff2 / ref2).sqrt() } else { diff2.sqrt() };
    Accuracy { rel_l2, max_abs, non_finite }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_compiler::ir::DType;

    #[test]
    fn identical_is_exact() {
        let t = HostTensor::from_f64(DType::F32, &[3], vec![1.0, -2.0, 3.0]);
        assert_eq!(compare(&t, &[1.0, -2.0, 3.0]), Accuracy { rel_l2: 0.0, max_abs: 0.0, non_finite: 0 });
    }

    #[test]
    fn poisoned_element_is_counted() {
        let t = HostTensor::from_f64(DType::F32, &[3], vec![1.0, f64::NAN, 3.0]);
        assert!(!compare(&t, &[1.0, 2.0, 3.0]).passes(1.0));
    }

    #[test]
    fn relative_error_is_l2() {
        let t = HostTensor::from_f64(DType::F32, &[2], vec![3.0, 4.5]);
        let acc = compare(&t, &[3.0, 4.0]);
        assert!((acc.rel_l2 - 0.1).abs() < 1e-12, "{acc}");
    }
}
