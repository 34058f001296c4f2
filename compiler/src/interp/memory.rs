//! Masked tile loads and stores on contiguous row-major host tensors.

/// One index of a tensor access with its scalar operand already read. Positions are
/// i64 so that `start + i` never wraps: a position past `i32::MAX` is simply out of range.
#[derive(Clone, Copy, Debug)]
pub(super) enum Access {
    Point(i64),
    Range { start: i64, len: u32 },
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
    accesses.iter().map(|a| if let Access::Range { len, .. } = a { *len as usize } else { 1 }).product()
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
    // (start, len, tensor dimension) of each range, in tile-dimension order.
    let mut ranges = Vec::new();
    for (d, access) in accesses.iter().enumerate() {
        match *access {
            Access::Point(p) if !in_range(p, d) => return,
            Access::Point(p) => base += p as usize * strides[d],
            Access::Range { start, len } => ranges.push((start, len as i64, d)),
        }
    }
    let Some((&(start, len, d), outer)) = ranges.split_last() else {
        f(Run { tile: 0, tensor: base, count: 1, stride: 1 });
        return;
    };
    // The innermost range's in-range part is the same interval for every row.
    let lo = (-start).clamp(0, len);
    let hi = (shape[d] as i64 - start).clamp(0, len);
    if lo >= hi {
        return;
    }
    let rows: usize = outer.iter().map(|&(_, len, _)| len as usize).product();
    let mut index = vec![0i64; outer.len()];
    for row in 0..rows {
        let mut tensor = base + (start + lo) as usize * strides[d];
        let mut row_in_range = true;
        for (&(s, _, od), &i) in outer.iter().zip(&index) {
            row_in_range &= in_range(s + i, od);
            if row_in_range {
                tensor += (s + i) as usize * strides[od];
            }
        }
        if row_in_range {
            f(Run { tile: row * len as usize + lo as usize, tensor, count: (hi - lo) as usize, stride: strides[d] });
        }
        for (i, &(_, len, _)) in index.iter_mut().zip(outer).rev() {
            *i += 1;
            if *i < len {
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
    fn store_skips_out_of_range_rows() {
        let mut data = vec![0.0; 12];
        store(&[3, 4], &mut data, &[Access::Range { start: 2, len: 2 }, Access::Point(0)], &[7.0, 8.0]);
        assert_eq!(data, vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 0.0, 0.0, 0.0]);
    }
}
