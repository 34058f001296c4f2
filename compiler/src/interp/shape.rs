//! Ops that rearrange or combine elements by position: `arange`, `broadcast`,
//! reductions, `bin_sum`, `trans` and `dot`. Shapes are checked by the caller: each `data` has exactly
//! `shape.iter().product()` elements.

use crate::ir::{DType, ReduceOp};
use crate::tensor::round_to;

pub(super) fn arange(start: i32, len: u32) -> Vec<f64> {
    // `len` fits in i32: tiles are capped far below 2^31 elements.
    (0..len as i32).map(|i| f64::from(start.wrapping_add(i))).collect()
}

/// Repeats the size-1 dimensions of `src_shape` up to `dst_shape` (same rank). The
/// caller checks that every source dimension is 1 or equal to the destination's.
pub(super) fn broadcast(src_shape: &[u32], dst_shape: &[u32], data: &[f64]) -> Vec<f64> {
    let rank = dst_shape.len();
    // Row-major source strides, with 0 along broadcast dimensions so that they repeat.
    let mut strides = vec![0usize; rank];
    let mut stride = 1usize;
    for d in (0..rank).rev() {
        if src_shape[d] != 1 {
            strides[d] = stride;
        }
        stride *= src_shape[d] as usize;
    }
    let total: usize = dst_shape.iter().map(|&d| d as usize).product();
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0u32; rank];
    let mut offset = 0usize;
    for _ in 0..total {
        out.push(data[offset]);
        for d in (0..rank).rev() {
            index[d] += 1;
            offset += strides[d];
            if index[d] < dst_shape[d] {
                break;
            }
            offset -= strides[d] * index[d] as usize;
            index[d] = 0;
        }
    }
    out
}

/// `[m, n]` → `[n, m]`; exact.
pub(super) fn transpose([m, n]: [u32; 2], data: &[f64]) -> Vec<f64> {
    let (m, n) = (m as usize, n as usize);
    (0..n * m).map(|i| data[(i % m) * n + i / m]).collect()
}

/// `[m, k] @ [k, n]` with every product summed in f64 and rounded once to f32. The GPU
/// instead rounds its f32 accumulator after every 16-wide k-step of `mma.sync` (in an
/// unspecified order inside the step), so results agree to f32 accumulation error, not
/// bit for bit; compare with a tolerance that grows with k.
pub(super) fn matmul([m, k, n]: [u32; 3], a: &[f64], b: &[f64]) -> Vec<f64> {
    let (m, k, n) = (m as usize, k as usize, n as usize);
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let sum: f64 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            out.push(round_to(DType::F32, sum));
        }
    }
    out
}

/// Reduces along `axis` (the caller checks `axis < shape.len()` and `shape[axis] >= 1`).
/// Float sums accumulate in f64 and round once; i32 sums wrap; max/min ignore NaN
/// unless every element is NaN, like PTX `max.f32`.
pub(super) fn reduce(op: ReduceOp, dtype: DType, shape: &[u32], axis: usize, data: &[f64]) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().map(|&d| d as usize).product();
    let len = shape[axis] as usize;
    let inner: usize = shape[axis + 1..].iter().map(|&d| d as usize).product();
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let lane = (0..len).map(|k| data[(o * len + k) * inner + i]);
            let value = match op {
                ReduceOp::Sum if dtype == DType::I32 => {
                    // At most 2^24 terms of magnitude at most 2^31: the i64 sum is exact.
                    let sum: i64 = lane.map(|x| x as i64).sum();
                    f64::from(sum as i32)
                }
                ReduceOp::Sum => round_to(dtype, lane.sum()),
                ReduceOp::Max => lane.reduce(f64::max).unwrap_or(f64::NAN),
                ReduceOp::Min => lane.reduce(f64::min).unwrap_or(f64::NAN),
            };
            out.push(value);
        }
    }
    out
}

/// Inclusive scan along `axis`, the shape kept: element `k` of each lane combines its
/// elements `0 ..= k` as [`reduce`] combines a whole lane (i32 sums wrap, float sums
/// accumulate in f64 and round once, so the GPU's f32 tree agrees within rounding).
pub(super) fn scan(op: ReduceOp, dtype: DType, shape: &[u32], axis: usize, data: &[f64]) -> Vec<f64> {
    let len = shape[axis] as usize;
    let inner: usize = shape[axis + 1..].iter().map(|&d| d as usize).product();
    let mut out = data.to_vec();
    for o in 0..data.len() / (len * inner).max(1) {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let mut acc = data[at(0)];
            for k in 1..len {
                let x = data[at(k)];
                acc = match op {
                    ReduceOp::Sum => acc + x,
                    ReduceOp::Max => acc.max(x),
                    ReduceOp::Min => acc.min(x),
                };
                out[at(k)] = match (op, dtype) {
                    (ReduceOp::Sum, DType::I32) => f64::from(acc as i64 as i32),
                    (ReduceOp::Sum, _) => round_to(dtype, acc),
                    _ => acc,
                };
            }
        }
    }
    out
}

/// `bin_sum`: `n` sums of `dtype` (f32 or i32), element `k` of `values` added to sum
/// `bins[k]`; bins outside `0..n` are dropped. An f32 sum accumulates in f64 and rounds
/// once; the GPU adds in f32 in whatever order its atomics land, so compare with a
/// tolerance. An i32 sum wraps, as the GPU's integer atomics do, and is exact.
pub(super) fn bin_sum(dtype: DType, n: u32, values: &[f64], bins: &[f64]) -> Vec<f64> {
    let mut sums = vec![0.0; n as usize];
    for (&x, &bin) in values.iter().zip(bins) {
        // i32 bins are held exactly; a negative one or one past the end is dropped.
        if bin >= 0.0 && bin < f64::from(n) {
            // At most 2^20 terms of magnitude at most 2^31: an i32 sum stays exact in f64.
            sums[bin as usize] += x;
        }
    }
    sums.into_iter()
        .map(|s| if dtype == DType::I32 { f64::from(s as i64 as i32) } else { round_to(dtype, s) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_repeats_a_middle_dimension() {
        let got = broadcast(&[2, 1, 2], &[2, 3, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(got, vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 3.0, 4.0]);
    }

    #[test]
    fn reduce_middle_axis_of_rank_3() {
        let data: Vec<f64> = (0..8).map(f64::from).collect();
        assert_eq!(reduce(ReduceOp::Sum, DType::F32, &[2, 2, 2], 1, &data), vec![2.0, 4.0, 10.0, 12.0]);
    }

    #[test]
    fn scan_sums_each_lane_of_the_axis() {
        let data: Vec<f64> = (0..8).map(f64::from).collect();
        assert_eq!(
            scan(ReduceOp::Sum, DType::F32, &[2, 2, 2], 1, &data),
            vec![0.0, 1.0, 2.0, 4.0, 4.0, 5.0, 10.0, 12.0]
        );
    }

    #[test]
    fn scan_max_keeps_the_running_maximum() {
        assert_eq!(scan(ReduceOp::Max, DType::I32, &[4], 0, &[2.0, -1.0, 5.0, 3.0]), vec![2.0, 2.0, 5.0, 5.0]);
    }

    #[test]
    fn scan_of_i32_wraps() {
        let data = [f64::from(i32::MAX), 1.0];
        assert_eq!(scan(ReduceOp::Sum, DType::I32, &[2], 0, &data), vec![f64::from(i32::MAX), f64::from(i32::MIN)]);
    }

    #[test]
    fn bin_sum_adds_each_element_to_its_bin() {
        assert_eq!(bin_sum(DType::F32, 4, &[1.0, 2.0, 3.0, 4.0], &[3.0, 0.0, 3.0, 1.0]), vec![2.0, 4.0, 0.0, 4.0]);
    }

    #[test]
    fn bin_sum_drops_bins_out_of_range() {
        assert_eq!(bin_sum(DType::F32, 2, &[1.0, 2.0, 4.0], &[-1.0, 2.0, 1.0]), vec![0.0, 4.0]);
    }

    #[test]
    fn max_of_all_nan_is_nan() {
        assert!(reduce(ReduceOp::Max, DType::F32, &[2], 0, &[f64::NAN, f64::NAN])[0].is_nan());
    }
}
