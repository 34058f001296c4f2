//! f64 references of the shipped kernels, computed from the (already rounded) inputs.

/// `a + b`.
pub fn vector_add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Softmax of each row of a row-major `[rows, cols]` matrix.
pub fn softmax_rows(x: &[f64], cols: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| v / s));
    }
    out
}

/// `x * rsqrt(mean(x²) + eps) * w` for each row of a row-major `[rows, cols]` matrix.
pub fn rmsnorm_rows(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let cols = w.len();
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let ms = row.iter().map(|v| v * v).sum::<f64>() / cols as f64;
        let inv = 1.0 / (ms + eps).sqrt();
        out.extend(row.iter().zip(w).map(|(v, g)| v * inv * g));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one() {
        let out = softmax_rows(&[1.0, 2.0, 3.0, -1.0, 0.0, 1.0], 3);
        assert!((out[..3].iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((out[3..].iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rmsnorm_of_constant_row_is_weight() {
        let out = rmsnorm_rows(&[2.0, 2.0], &[0.5, 3.0], 0.0);
        assert_eq!(out, vec![0.5, 3.0]);
    }
}
