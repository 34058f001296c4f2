//! Where a tensor's elements sit in its buffer: shape, strides and offset, all in
//! elements. Strides are unsigned because the kernel ABI passes them as `u64`; 0 is
//! allowed (a broadcast view). Everything here is host arithmetic, checked, so a
//! view that would reach past its buffer is refused before the GPU sees it.

use std::ops::Range;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    /// Index of element `[0, 0, ...]` in the buffer.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("view has {shape_rank} dimensions but {strides_rank} strides; give one stride per dimension")]
    RankMismatch { shape_rank: usize, strides_rank: usize },
    #[error("view (offset {offset}, shape {shape:?}, strides {strides:?}) addresses elements past the largest index a usize holds")]
    Overflow { offset: usize, shape: Vec<usize>, strides: Vec<usize> },
    #[error(
        "view (offset {offset}, shape {shape:?}, strides {strides:?}) reaches element {end} but its buffer holds \
         {capacity} elements; a view must stay inside its allocation"
    )]
    OutOfBounds { offset: usize, shape: Vec<usize>, strides: Vec<usize>, end: usize, capacity: usize },
    #[error(
        "needs a contiguous row-major tensor; got shape {shape:?} with strides {strides:?} (expected {expected:?})"
    )]
    NotContiguous { shape: Vec<usize>, strides: Vec<usize>, expected: Vec<usize> },
}

/// Why a tensor argument does not meet the `aligned` contract a kernel may be compiled
/// with ([`sparsefill_compiler::ir::Param::Tensor`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misalignment {
    #[error("its address {address:#x} is not a multiple of 16 bytes")]
    Address { address: u64 },
    #[error("its last dimension has stride {stride}, not 1 (it is not contiguous)")]
    LastStride { stride: usize },
    #[error("dimension {axis} has stride {stride} elements ({bytes} bytes), not a multiple of 16 bytes")]
    Stride { axis: usize, stride: usize, bytes: usize },
    #[error("dimension {axis} has {size} elements and stride 0 (a broadcast)")]
    Broadcast { axis: usize, size: usize },
    #[error("dimension {axis} is empty")]
    Empty { axis: usize },
}

impl Layout {
    /// Whether a tensor with this layout, its element `[0, ..]` at `address`, meets the
    /// `aligned` contract: a 16-byte-aligned address, a contiguous last dimension, and
    /// every other stride a nonzero multiple of 16 bytes, with no empty dimension (what a
    /// TMA tensor map takes, [`crate::tensor_map`]). Dimensions of one element are never
    /// stepped along, so their strides do not matter.
    pub fn check_aligned(&self, address: u64, element_bytes: usize) -> Result<(), Misalignment> {
        if !address.is_multiple_of(16) {
            return Err(Misalignment::Address { address });
        }
        if let Some(axis) = self.shape.iter().position(|&size| size == 0) {
            return Err(Misalignment::Empty { axis });
        }
        let last = self.shape.len().saturating_sub(1);
        for (axis, (&size, &stride)) in self.shape.iter().zip(&self.strides).enumerate() {
            if size <= 1 {
                continue;
            }
            if stride == 0 {
                return Err(Misalignment::Broadcast { axis, size });
            }
            if axis == last && stride != 1 {
                return Err(Misalignment::LastStride { stride });
            }
            let bytes = stride.saturating_mul(element_bytes);
            if axis != last && bytes % 16 != 0 {
                return Err(Misalignment::Stride { axis, stride, bytes });
            }
        }
        Ok(())
    }

    /// The elements with index `range` along `axis`: the same strides from a later offset;
    /// `None` if there is no such axis or the range runs past it.
    pub fn narrow(&self, axis: usize, range: Range<usize>) -> Option<Layout> {
        let (&len, &stride) = self.shape.get(axis).zip(self.strides.get(axis))?;
        if range.start > range.end || range.end > len {
            return None;
        }
        let mut shape = self.shape.clone();
        shape[axis] = range.len();
        let offset = self.offset.checked_add(range.start.checked_mul(stride)?)?;
        Some(Layout { shape, strides: self.strides.clone(), offset })
    }

    /// Row-major, starting at element 0.
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout { shape: shape.to_vec(), strides: row_major_strides(shape), offset: 0 }
    }

    /// Number of elements, or `None` if it overflows.
    pub fn num_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// Whether the elements are exactly `span()` in row-major order. Strides of size-1
    /// dimensions never matter, and an empty tensor is trivially contiguous.
    pub fn is_contiguous(&self) -> bool {
        if self.shape.contains(&0) {
            return true;
        }
        let expected = row_major_strides(&self.shape);
        self.shape.iter().zip(&self.strides).zip(&expected).all(|((&d, &s), &e)| d == 1 || s == e)
    }

    /// Fails with [`LayoutError::NotContiguous`] unless [`Layout::is_contiguous`].
    pub fn require_contiguous(&self) -> Result<(), LayoutError> {
        if self.is_contiguous() {
            return Ok(());
        }
        Err(LayoutError::NotContiguous {
            shape: self.shape.clone(),
            strides: self.strides.clone(),
            expected: row_major_strides(&self.shape),
        })
    }

    /// The buffer elements `[first, end)` that hold every addressed element; `None` for
    /// a tensor with no elements (it addresses nothing).
    pub fn span(&self) -> Result<Option<Range<usize>>, LayoutError> {
        if self.strides.len() != self.shape.len() {
            return Err(LayoutError::RankMismatch { shape_rank: self.shape.len(), strides_rank: self.strides.len() });
        }
        if self.shape.contains(&0) {
            return Ok(None);
        }
        let last = self
            .shape
            .iter()
            .zip(&self.strides)
            .try_fold(self.offset, |acc, (&d, &s)| (d - 1).checked_mul(s).and_then(|reach| acc.checked_add(reach)));
        match last.and_then(|l| l.checked_add(1)) {
            Some(end) => Ok(Some(self.offset..end)),
            None => Err(self.overflow()),
        }
    }

    /// Checks that every addressed element lies in a buffer of `capacity` elements.
    pub fn check_fits(&self, capacity: usize) -> Result<(), LayoutError> {
        match self.span()? {
            Some(span) if span.end > capacity => Err(LayoutError::OutOfBounds {
                offset: self.offset,
                shape: self.shape.clone(),
                strides: self.strides.clone(),
                end: span.end,
                capacity,
            }),
            _ => Ok(()),
        }
    }

    /// Copies the addressed elements, in row-major order, out of `span_bytes`: the bytes
    /// of `span()` (element `span().start` first), `elem_size` bytes per element.
    /// `None` if the layout is invalid, its byte size overflows, or `span_bytes` is
    /// shorter than the span.
    pub fn gather(&self, elem_size: usize, span_bytes: &[u8]) -> Option<Vec<u8>> {
        let span = match self.span() {
            Ok(Some(span)) => span,
            Ok(None) => return Some(Vec::new()),
            Err(_) => return None,
        };
        if span_bytes.len() < span.len().checked_mul(elem_size)? {
            return None;
        }
        let mut out = Vec::with_capacity(self.num_elements()?.checked_mul(elem_size)?);
        let mut index = vec![0usize; self.shape.len()];
        loop {
            // In bounds: span() proved offset + sum((d-1)*s) fits, and index[k] < shape[k].
            let at: usize =
                index.iter().zip(&self.strides).map(|(&i, &s)| i * s).sum::<usize>() + self.offset - span.start;
            out.extend_from_slice(&span_bytes[at * elem_size..(at + 1) * elem_size]);
            if !advance(&mut index, &self.shape) {
                return Some(out);
            }
        }
    }

    fn overflow(&self) -> LayoutError {
        LayoutError::Overflow { offset: self.offset, shape: self.shape.clone(), strides: self.strides.clone() }
    }
}

pub fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].saturating_mul(shape[i + 1]);
    }
    strides
}

/// Steps a row-major multi-index; false once it wraps past the last element.
fn advance(index: &mut [usize], shape: &[usize]) -> bool {
    for k in (0..index.len()).rev() {
        index[k] += 1;
        if index[k] < shape[k] {
            return true;
        }
        index[k] = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(offset: usize, shape: &[usize], strides: &[usize]) -> Layout {
        Layout { shape: shape.to_vec(), strides: strides.to_vec(), offset }
    }

    fn aligned(layout: &Layout, address: u64, element_bytes: usize) -> String {
        match layout.check_aligned(address, element_bytes) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn narrowing_a_middle_axis_keeps_the_strides_and_moves_the_offset() {
        assert_eq!(view(5, &[3, 8, 4], &[32, 4, 1]).narrow(1, 2..6), Some(view(13, &[3, 4, 4], &[32, 4, 1])));
    }

    #[test]
    fn narrowing_past_an_axis_is_refused() {
        assert_eq!(view(0, &[3, 8], &[8, 1]).narrow(1, 6..9), None);
    }

    #[test]
    fn narrowing_a_missing_axis_is_refused() {
        assert_eq!(view(0, &[3, 8], &[8, 1]).narrow(2, 0..1), None);
    }

    #[test]
    fn contiguous_bf16_rows_of_eight_are_aligned() {
        assert_eq!(aligned(&view(0, &[5, 4, 8], &[32, 8, 1]), 0x1000, 2), "ok");
    }

    #[test]
    fn an_odd_address_breaks_the_contract() {
        assert_eq!(aligned(&view(0, &[4, 8], &[8, 1]), 0x1002, 2), "its address 0x1002 is not a multiple of 16 bytes");
    }

    #[test]
    fn a_strided_last_dimension_breaks_the_contract() {
        assert_eq!(
            aligned(&view(0, &[4, 8], &[16, 2]), 0x1000, 2),
            "its last dimension has stride 2, not 1 (it is not contiguous)"
        );
    }

    #[test]
    fn a_broadcast_dimension_breaks_the_contract() {
        assert_eq!(
            aligned(&view(0, &[4, 8], &[0, 1]), 0x1000, 2),
            "dimension 0 has 4 elements and stride 0 (a broadcast)"
        );
    }

    #[test]
    fn an_empty_dimension_breaks_the_contract() {
        assert_eq!(aligned(&view(0, &[4, 0], &[8, 1]), 0x1000, 2), "dimension 1 is empty");
    }

    #[test]
    fn a_row_stride_off_16_bytes_breaks_the_contract() {
        assert_eq!(
            aligned(&view(0, &[3, 5], &[5, 1]), 0x1000, 4),
            "dimension 0 has stride 5 elements (20 bytes), not a multiple of 16 bytes"
        );
    }

    #[test]
    fn strides_of_single_element_dimensions_do_not_matter() {
        assert_eq!(aligned(&view(0, &[1, 4, 1], &[3, 8, 7]), 0x1000, 2), "ok");
    }

    fn fits(layout: &Layout, capacity: usize) -> String {
        match layout.check_fits(capacity) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn contiguous_strides_are_row_major() {
        assert_eq!(Layout::contiguous(&[2, 3, 4]).strides, vec![12, 4, 1]);
    }

    #[test]
    fn contiguous_tensor_fits_its_exact_buffer() {
        assert_eq!(fits(&Layout::contiguous(&[4, 8]), 32), "ok");
    }

    #[test]
    fn contiguous_tensor_overflows_a_smaller_buffer() {
        assert_eq!(
            fits(&Layout::contiguous(&[4, 8]), 31),
            "view (offset 0, shape [4, 8], strides [8, 1]) reaches element 32 but its buffer holds 31 elements; \
             a view must stay inside its allocation"
        );
    }

    #[test]
    fn offset_counts_toward_the_end() {
        assert_eq!(view(10, &[4], &[1]).span(), Ok(Some(10..14)));
    }

    #[test]
    fn column_view_spans_from_first_to_last_row() {
        assert_eq!(view(3, &[4], &[8]).span(), Ok(Some(3..28)));
    }

    #[test]
    fn broadcast_view_addresses_one_element() {
        assert_eq!(view(5, &[1000, 64], &[0, 0]).span(), Ok(Some(5..6)));
    }

    #[test]
    fn empty_tensor_addresses_nothing() {
        assert_eq!(fits(&view(1 << 40, &[0, 8], &[8, 1]), 0), "ok");
    }

    #[test]
    fn rank_mismatch_is_refused() {
        assert_eq!(
            fits(&view(0, &[2, 2], &[1]), 4),
            "view has 2 dimensions but 1 strides; give one stride per dimension"
        );
    }

    #[test]
    fn huge_strides_overflow_instead_of_wrapping() {
        let layout = view(0, &[3], &[usize::MAX / 2 + 1]);
        assert_eq!(layout.span(), Err(layout.overflow()));
    }

    #[test]
    fn size_one_dims_ignore_their_stride_for_contiguity() {
        assert!(view(0, &[1, 8], &[999, 1]).is_contiguous());
    }

    #[test]
    fn transposed_view_is_not_contiguous() {
        assert_eq!(
            view(0, &[4, 2], &[1, 4]).require_contiguous().unwrap_err().to_string(),
            "needs a contiguous row-major tensor; got shape [4, 2] with strides [1, 4] (expected [2, 1])"
        );
    }

    #[test]
    fn gather_reads_a_transposed_view_in_row_major_order() {
        // Buffer holds [[0, 1, 2], [3, 4, 5]]; the view is its transpose.
        let bytes: Vec<u8> = (0..6).collect();
        assert_eq!(view(0, &[3, 2], &[1, 3]).gather(1, &bytes), Some(vec![0, 3, 1, 4, 2, 5]));
    }

    #[test]
    fn gather_respects_offset_and_element_size() {
        // Two-byte elements 0..8; the view takes elements 5 and 7.
        let span_bytes: Vec<u8> = [5u8, 50, 6, 60, 7, 70].to_vec();
        assert_eq!(view(5, &[2], &[2]).gather(2, &span_bytes), Some(vec![5, 50, 7, 70]));
    }

    #[test]
    fn gather_refuses_a_view_whose_bytes_overflow() {
        assert_eq!(view(0, &[usize::MAX / 2], &[0]).gather(4, &[0u8; 4]), None);
    }

    #[test]
    fn gather_refuses_short_input() {
        assert_eq!(view(0, &[4], &[1]).gather(4, &[0u8; 15]), None);
    }
}
