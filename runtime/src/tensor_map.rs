//! TMA tensor maps ([`sparsefill_compiler::abi::TensorMap`]) encoded at launch from the
//! tensor argument they describe: the geometry is worked out and checked here, so a
//! tensor TMA cannot describe is an error naming the value, and only then does the
//! driver encode it (`cuTensorMapEncodeTiled`).
//!
//! Maps list axes innermost first, with byte strides for every axis but the innermost.
//! A launch only reaches this with arguments that meet the `aligned` contract
//! ([`crate::layout::Layout::check_aligned`]), which is what TMA asks of the base
//! address and the strides; an axis of one element is never stepped along, so its
//! stride is replaced by one TMA accepts.

use cudarc::driver::sys;
use sparsefill_compiler::abi::TensorMap;
use sparsefill_compiler::ir::DType;

use crate::layout::Layout;

/// TMA's limits: sides of a box, sizes of an axis, byte strides.
const MAX_BOX: u32 = 256;
const MAX_DIM: u64 = 1 << 32;
const MAX_STRIDE_BYTES: u64 = 1 << 40;
/// The innermost box side, in bytes, of the 128-byte swizzle.
const SWIZZLE_BYTES: u64 = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorMapError {
    #[error("the map has {map} box sides but the tensor has rank {rank}")]
    Rank { map: usize, rank: usize },
    #[error("tensors of {dtype} take no tensor map; supported: bf16 and f16")]
    DType { dtype: DType },
    #[error("dimension {axis} has {size} elements; a tensor map takes 1 to 2^32")]
    Size { axis: usize, size: usize },
    #[error("dimension {axis} has a stride of {bytes} bytes; a tensor map takes multiples of 16 below 2^40")]
    Stride { axis: usize, bytes: u64 },
    #[error(
        "box side {side} on dimension {axis}; a tensor map takes 1 to {MAX_BOX}, and {SWIZZLE_BYTES} bytes on the last"
    )]
    Box { axis: usize, side: u32 },
}

/// What `cuTensorMapEncodeTiled` takes, innermost axis first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub data_type: sys::CUtensorMapDataType,
    pub dims: Vec<u64>,
    /// Byte strides of every axis but the innermost.
    pub strides: Vec<u64>,
    pub box_dims: Vec<u32>,
}

/// The geometry of `map` over a `dtype` tensor laid out as `layout`.
pub fn geometry(map: &TensorMap, layout: &Layout, dtype: DType) -> Result<Geometry, TensorMapError> {
    let rank = layout.shape.len();
    if map.box_dims.len() != rank || rank == 0 {
        return Err(TensorMapError::Rank { map: map.box_dims.len(), rank });
    }
    let data_type = match dtype {
        DType::BF16 => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
        DType::F16 => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
        dtype => return Err(TensorMapError::DType { dtype }),
    };
    let element = dtype.size_bytes() as u64;
    for (axis, &size) in layout.shape.iter().enumerate() {
        if size == 0 || size as u64 > MAX_DIM {
            return Err(TensorMapError::Size { axis, size });
        }
    }
    for (axis, &side) in map.box_dims.iter().enumerate() {
        let innermost_ok = axis + 1 != rank || u64::from(side) * element == SWIZZLE_BYTES;
        if side == 0 || side > MAX_BOX || !innermost_ok {
            return Err(TensorMapError::Box { axis, side });
        }
    }
    // From the innermost axis outwards: each stride in bytes, and the extent it covers.
    let mut strides = Vec::with_capacity(rank - 1);
    let mut extent = (layout.shape[rank - 1] as u64 * element).next_multiple_of(16);
    for axis in (0..rank - 1).rev() {
        let size = layout.shape[axis] as u64;
        let bytes = match size {
            // Never stepped along: any stride reads the same, so take the packed one.
            1 => extent,
            _ => layout.strides[axis] as u64 * element,
        };
        if bytes == 0 || !bytes.is_multiple_of(16) || bytes >= MAX_STRIDE_BYTES {
            return Err(TensorMapError::Stride { axis, bytes });
        }
        strides.push(bytes);
        extent = extent.max(bytes.saturating_mul(size));
    }
    Ok(Geometry {
        data_type,
        dims: layout.shape.iter().rev().map(|&s| s as u64).collect(),
        strides,
        box_dims: map.box_dims.iter().rev().copied().collect(),
    })
}

/// Encodes `geometry` over the tensor at `address` (16-byte aligned) with the 128-byte
/// swizzle and zeros read outside the tensor.
pub fn encode(geometry: &Geometry, address: u64) -> Result<sys::CUtensorMap, sys::CUresult> {
    let mut map = sys::CUtensorMap { opaque: [0; 16] };
    let element_strides = vec![1u32; geometry.dims.len()];
    // SAFETY: every array holds `rank` entries (strides `rank - 1`), `map` is a
    // 64-byte-aligned CUtensorMap the call writes, and the driver only records `address`.
    let result = unsafe {
        sys::cuTensorMapEncodeTiled(
            &mut map,
            geometry.data_type,
            geometry.dims.len() as u32,
            address as *mut std::ffi::c_void,
            geometry.dims.as_ptr(),
            geometry.strides.as_ptr(),
            geometry.box_dims.as_ptr(),
            element_strides.as_ptr(),
            sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
            sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    };
    match result {
        sys::CUresult::CUDA_SUCCESS => Ok(map),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(box_dims: &[u32]) -> TensorMap {
        TensorMap { param: 0, box_dims: box_dims.to_vec() }
    }

    fn layout(shape: &[usize], strides: &[usize]) -> Layout {
        Layout { shape: shape.to_vec(), strides: strides.to_vec(), offset: 0 }
    }

    /// Dims, strides and box of a geometry, innermost first.
    type Expected<'a> = (&'a [u64], &'a [u64], &'a [u32]);

    fn check(map: TensorMap, layout: Layout, expected: Result<Expected, &str>) {
        let got = geometry(&map, &layout, DType::BF16);
        match expected {
            Ok((dims, strides, boxes)) => {
                let g = got.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!((g.dims.as_slice(), g.strides.as_slice(), g.box_dims.as_slice()), (dims, strides, boxes));
            }
            Err(message) => assert_eq!(got.map_err(|e| e.to_string()), Err(message.to_string())),
        }
    }

    #[test]
    fn a_row_major_matrix_lists_columns_first() {
        check(map(&[128, 64]), layout(&[1000, 256], &[256, 1]), Ok((&[256, 1000], &[512], &[64, 128])));
    }

    #[test]
    fn a_cache_view_keeps_its_strides() {
        // Keys [T, HKV, D] viewed in a [HKV, capacity, D] cache of capacity 4096.
        let view = layout(&[3000, 8, 128], &[128, 4096 * 128, 1]);
        check(map(&[128, 1, 64]), view, Ok((&[128, 8, 3000], &[4096 * 256, 256], &[64, 1, 128])));
    }

    #[test]
    fn a_one_element_axis_takes_the_packed_stride() {
        check(
            map(&[1, 64, 64]),
            layout(&[1, 64, 128], &[3, 128, 1]),
            Ok((&[128, 64, 1], &[256, 256 * 64], &[64, 64, 1])),
        );
    }

    #[test]
    fn an_empty_axis_is_refused() {
        check(
            map(&[64, 64]),
            layout(&[0, 128], &[128, 1]),
            Err("dimension 0 has 0 elements; a tensor map takes 1 to 2^32"),
        );
    }

    #[test]
    fn a_broadcast_axis_is_refused() {
        check(
            map(&[64, 64]),
            layout(&[64, 128], &[0, 1]),
            Err("dimension 0 has a stride of 0 bytes; a tensor map takes multiples of 16 below 2^40"),
        );
    }

    #[test]
    fn a_stride_off_16_bytes_is_refused() {
        check(
            map(&[64, 64]),
            layout(&[64, 100], &[100, 1]),
            Err("dimension 0 has a stride of 200 bytes; a tensor map takes multiples of 16 below 2^40"),
        );
    }

    #[test]
    fn a_box_wider_than_the_swizzle_is_refused() {
        check(
            map(&[64, 128]),
            layout(&[64, 128], &[128, 1]),
            Err("box side 128 on dimension 1; a tensor map takes 1 to 256, and 128 bytes on the last"),
        );
    }

    #[test]
    fn a_box_taller_than_256_is_refused() {
        check(
            map(&[512, 64]),
            layout(&[1024, 128], &[128, 1]),
            Err("box side 512 on dimension 0; a tensor map takes 1 to 256, and 128 bytes on the last"),
        );
    }

    #[test]
    fn a_rank_mismatch_is_refused() {
        check(map(&[64]), layout(&[64, 128], &[128, 1]), Err("the map has 1 box sides but the tensor has rank 2"));
    }

    #[test]
    fn f32_tensors_take_no_map() {
        let got = geometry(&map(&[64, 32]), &layout(&[64, 32], &[32, 1]), DType::F32).map_err(|e| e.to_string());
        assert_eq!(got, Err("tensors of f32 take no tensor map; supported: bf16 and f16".to_string()));
    }
}
