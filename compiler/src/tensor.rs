//! Host tensors: contiguous row-major arrays whose elements are kept as f64 values
//! already rounded to the tensor's dtype. The interpreter computes on them, the
//! runtime converts them to and from device bytes, and references compare them.

use crate::ir::DType;
use half::{bf16, f16};

#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Row-major, `shape.iter().product()` elements, each exactly representable in `dtype`.
    pub data: Vec<f64>,
}

/// Rounds `x` to the nearest value of `dtype` (round-to-nearest-even for floats;
/// integers wrap like two's-complement i32; bools become 0 or 1).
pub fn round_to(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        DType::BF16 => bf16::from_f64(x).to_f64(),
        DType::F16 => f16::from_f64(x).to_f64(),
        DType::I32 => {
            if x.is_nan() {
                0.0
            } else {
                (x.trunc() as i64 as i32) as f64
            }
        }
        DType::Bool => {
            if x != 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

impl HostTensor {
    pub fn zeros(dtype: DType, shape: &[usize]) -> HostTensor {
        HostTensor::filled(dtype, shape, 0.0)
    }

    /// Every element `value` (rounded). Use NaN to poison an output before a run.
    pub fn filled(dtype: DType, shape: &[usize], value: f64) -> HostTensor {
        let n = shape.iter().product();
        HostTensor { dtype, shape: shape.to_vec(), data: vec![round_to(dtype, value); n] }
    }

    /// Builds a tensor from values, rounding each to `dtype`. Panics if the count
    /// does not match the shape: callers build `data` from the same shape.
    pub fn from_f64(dtype: DType, shape: &[usize], data: Vec<f64>) -> HostTensor {
        assert_eq!(data.len(), shape.iter().product::<usize>(), "data length must match shape");
        HostTensor { dtype, shape: shape.to_vec(), data: data.into_iter().map(|x| round_to(dtype, x)).collect() }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1; self.shape.len()];
        for i in (0..self.shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.shape[i + 1];
        }
        strides
    }

    /// Little-endian device bytes (bool as one byte 0/1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() * self.dtype.size_bytes());
        for &x in &self.data {
            match self.dtype {
                DType::F32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
                DType::BF16 => out.extend_from_slice(&bf16::from_f64(x).to_le_bytes()),
                DType::F16 => out.extend_from_slice(&f16::from_f64(x).to_le_bytes()),
                DType::I32 => out.extend_from_slice(&(x as i32).to_le_bytes()),
                DType::Bool => out.push((x != 0.0) as u8),
            }
        }
        out
    }

    /// The inverse of [`HostTensor::to_bytes`]; `None` if the byte count is wrong.
    pub fn from_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Option<HostTensor> {
        let n: usize = shape.iter().product();
        let size = dtype.size_bytes();
        if bytes.len() != n * size {
            return None;
        }
        let data = bytes
            .chunks_exact(size)
            .map(|c| match dtype {
                DType::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DType::BF16 => bf16::from_le_bytes([c[0], c[1]]).to_f64(),
                DType::F16 => f16::from_le_bytes([c[0], c[1]]).to_f64(),
                DType::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DType::Bool => (c[0] != 0) as u8 as f64,
            })
            .collect();
        Some(HostTensor { dtype, shape: shape.to_vec(), data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_every_dtype() {
        for dtype in DType::ALL {
            let t = HostTensor::from_f64(dtype, &[2, 3], vec![1.5, -2.25, 0.0, 3.0, 1e3, -7.0]);
            let back = HostTensor::from_bytes(dtype, &[2, 3], &t.to_bytes()).unwrap();
            assert_eq!(t, back, "{dtype}");
        }
    }

    #[test]
    fn from_bytes_rejects_wrong_length() {
        assert!(HostTensor::from_bytes(DType::F32, &[4], &[0u8; 15]).is_none());
    }

    #[test]
    fn round_to_bf16_keeps_8_bits_of_mantissa() {
        assert_eq!(round_to(DType::BF16, 1.0 + 1.0 / 512.0), 1.0);
        assert_eq!(round_to(DType::BF16, 1.0 + 1.0 / 128.0), 1.0 + 1.0 / 128.0);
    }

    #[test]
    fn strides_are_row_major() {
        assert_eq!(HostTensor::zeros(DType::F32, &[2, 3, 4]).strides(), vec![12, 4, 1]);
    }
}
