//! Masked tile loads and stores on contiguous row-major host tensors.

/// One index of a tensor access with its operand already read. Positions are i64 so
/// that `start + i` never wraps: a position past `i32::MAX` is simply out of range.
#[derive(Clone, Debug)]
pub(super) enum Access {
    Point(i64),
    Range {
        start: i64,
        len: u32,
    },
    /// The values of a gather index tile, in tile order.
    Gather(Vec<i64>),
}

impl Access {
    /// Length of the tile dimension this access makes; a point makes none (1).
    fn len(&self) -> usize {
        match self {
            Access::Point(_) => 1,
            Access::Range { len, .. } => *len as usize,
            Access::Gather(positions) => positions.len(),
        }
    }

    /// Tensor position of tile index `i` along this access (`i < self.len()`).
    fn position(&self, i: usize) -> i64 {
        match self {
            Access::Point(p) => *p,
            Access::Range { start, .. } => start + i as i64,
            Access::Gather(positions) => positions[i],
        }
    }

    /// In-range stretches of this access along a dimension of `size`, as
    /// (first tile index, first tensor position, count).
    fn runs(&self, size: usize) -> Vec<(usize, i64, usize)> {
        let size = size as i64;
        match *self {
            // The in-range part of a range is one interval.
            Access::Range { start, len } => {
                let lo = (-start).clamp(0, i64::from(len));
                let hi = (size - start).clamp(0, i64::from(len));
                if lo < hi {
                    vec![(lo as usize, start + lo, (hi - lo) as usize)]
                } else {
                    Vec::new()
                }
            }
            _ => (0..self.len())
                .map(|i| (i, self.position(i)))
                .filter(|&(_, p)| (0..size).contains(&p))
                .map(|(i, p)| (i, p, 1))
                .collect(),
        }
    }
}

/// `count` consecutive tile elements from `tile`, which live at tensor offsets
/// `tensor + i * stride`.
struct Run {
    tile: usize,
    tensor: usize,
    count: usize,
    stride: usize,
}

/// Number of elements of the tile an access produces or consumes.
fn tile_len(accesses: &[Access]) -> usize {
    accesses.iter().map(Access::len).product()
}

/// Calls `f` for every run of in-range elements. `accesses` has one entry per
/// dimension of `shape` (the caller checks). A point out of range masks everything.
fn for_each_run(shape: &[usize], accesses: &[Access], mut f: impl FnMut(Run)) {
    let mut strides = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let in_range = |pos: i64, d: usize| pos >= 0 && pos < shape[d] as i64;
    let mut base = 0usize;
    // (tensor dimension, access) of each tile dimension, in order.
    let mut axes = Vec::new();
    for (d, access) in accesses.iter().enumerate() {
        match *access {
            Access::Point(p) if !in_range(p, d) => return,
            Access::Point(p) => base += p as usize * strides[d],
            _ => axes.push((d, access)),
        }
    }
    let Some((&(d, inner), outer)) = axes.split_last() else {
        f(Run { tile: 0, tensor: base, count: 1, stride: 1 });
        return;
    };
    // The innermost dimension's in-range stretches are the same for every row.
    let row_runs = inner.runs(shape[d]);
    if row_runs.is_empty() {
        return;
    }
    let rows: usize = outer.iter().map(|(_, a)| a.len()).product();
    let mut index = vec![0usize; outer.len()];
    for row in 0..rows {
        let mut row_base = base;
        let mut row_in_range = true;
        for (&(od, a), &i) in outer.iter().zip(&index) {
            let p = a.position(i);
            row_in_range &= in_range(p, od);
            if row_in_range {
                row_base += p as usize * strides[od];
            }
        }
        if row_in_range {
            for &(t, p, count) in &row_runs {
                let tensor = row_base + p as usize * strides[d];
                f(Run { tile: row * inner.len() + t, tensor, count, stride: strides[d] });
            }
        }
        for (i, (_, a)) in index.iter_mut().zip(outer).rev() {
            *i += 1;
            if *i < a.len() {
                break;
            }
            *i = 0;
        }
    }
}

/// Reads a tile; out-of-range elements read 0.
pub(super) fn load(shape: &[usize], data: &[f64], accesses: &[Access]) -> Vec<f64> {
    let mut out = vec![0.0; tile_len(accesses)];
    for_each_run(shape, accesses, |r| {
        let dst = &mut out[r.tile..r.tile + r.count];
        if r.stride == 1 {
            dst.copy_from_slice(&data[r.tensor..r.tensor + r.count]);
        } else {
            for (i, x) in dst.iter_mut().enumerate() {
                *x = data[r.tensor + i * r.stride];
            }
        }
    });
    out
}

/// Writes `value` (of `tile_len(accesses)` elements); out-of-range elements are skipped.
pub(super) fn store(shape: &[usize], data: &mut [f64], accesses: &[Access], value: &[f64]) {
    for_each_run(shape, accesses, |r| {
        let src = &value[r.tile..r.tile + r.count];
        if r.stride == 1 {
            data[r.tensor..r.tensor + r.count].copy_from_slice(src);
        } else {
            for (i, &x) in src.iter().enumerate() {
                data[r.tensor + i * r.stride] = x;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x4 tensor holding 0..12.
    fn load_3x4(accesses: &[Access]) -> Vec<f64> {
        let data: Vec<f64> = (0..12).map(f64::from).collect();
        load(&[3, 4], &data, accesses)
    }

    #[test]
    fn load_clips_both_dimensions() {
        let got = load_3x4(&[Access::Range { start: 2, len: 2 }, Access::Range { start: -1, len: 4 }]);
        assert_eq!(got, vec![0.0, 8.0, 9.0, 10.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn load_all_points_reads_one_element() {
        assert_eq!(load_3x4(&[Access::Point(2), Access::Point(3)]), vec![11.0]);
    }

    #[test]
    fn gather_picks_rows_in_index_order() {
        let got = load_3x4(&[Access::Gather(vec![2, 0]), Access::Range { start: 1, len: 2 }]);
        assert_eq!(got, vec![9.0, 10.0, 1.0, 2.0]);
    }

    #[test]
    fn gather_out_of_range_rows_read_zero() {
        let got = load_3x4(&[Access::Gather(vec![-1, 1, 3, 7]), Access::Point(0)]);
        assert_eq!(got, vec![0.0, 4.0, 0.0, 0.0]);
    }

    #[test]
    fn gather_along_the_last_dimension_reads_single_elements() {
        let got = load_3x4(&[Access::Point(1), Access::Gather(vec![3, -2, 0, 4])]);
        assert_eq!(got, vec![7.0, 0.0, 4.0, 0.0]);
    }

    #[test]
    fn gather_after_an_out_of_range_row_reads_zero() {
        let got = load_3x4(&[Access::Range { start: 2, len: 2 }, Access::Gather(vec![0, 3])]);
        assert_eq!(got, vec![8.0, 11.0, 0.0, 0.0]);
    }

    #[test]
    fn store_skips_out_of_range_rows() {
        let mut data = vec![0.0; 12];
        store(&[3, 4], &mut data, &[Access::Range { start: 2, len: 2 }, Access::Point(0)], &[7.0, 8.0]);
        assert_eq!(data, vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 0.0, 0.0, 0.0]);
    }
}
