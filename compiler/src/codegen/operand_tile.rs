//! How a `dot` operand tile of 16-bit elements sits in shared memory: one format per
//! target, used by everything that writes operands there (prefetch copies, staged
//! tiles, `dot`'s own staging) and everything that reads them (`ldmatrix`, `wgmma`
//! descriptors).
//!
//! - **Padded rows** (sm_80, and sm_90a with mma.sync): row-major, each row [`PAD`] halves longer than the tile,
//!   so the eight row addresses of one `ldmatrix` matrix fall in eight bank groups. Tiles of
//!   whole 64-element rows use the 128-byte swizzle below instead, which spreads the same
//!   eight rows over eight bank groups without the padding ([`OperandTile::new`]).
//! - **Core matrices** (sm_90a with [`MmaLowering::Wgmma`]): the tile cut into 8x8 core matrices, each 8 rows of 16
//!   bytes in 128 contiguous bytes, the core matrices of an 8-row group side by side:
//!
//!   ```text
//!   offset(r, c) = (r / 8) * group + (c / 8) * 128 + (r % 8) * 16 + (c % 8) * 2,
//!   group = cols / 8 * 128
//!   ```
//!
//!   This is the no-swizzle canonical layout `wgmma` reads through a descriptor, in
//!   either major order (PTX ISA, "Canonical Layouts"): core matrices are `group` bytes
//!   apart along the rows and 128 along the columns ([`OperandTile::core_strides`]).
//!   `ldmatrix` reads it too (one 16-byte core-matrix row per lane). Copies use
//!   [`Layout::core_matrix_copy`](super::layout::Layout::core_matrix_copy), so a 16-byte
//!   store phase writes one whole core matrix without bank conflicts.
//!
//! - **128-byte swizzle** (for tiles whose rows are a multiple of 64 elements, on every
//!   target — [`OperandTile::new`] picks it over core matrices and padded rows):
//!   the tile cut into columns of 64 elements (128 bytes), each column's rows stored one
//!   after another, and in each row the 16-byte chunk index XORed with the row mod 8:
//!
//!   ```text
//!   offset(r, c) = (c / 64) * rows * 128 + r * 128 + ((c % 64 / 8) ^ (r % 8)) * 16 + (c % 8) * 2
//!   ```
//!
//!   This is the canonical `wgmma` layout with 128-byte swizzling in either major order
//!   (PTX ISA, "Canonical Layouts"; the hardware XORs address bits 4-6 with bits 7-9, so
//!   a tile starts on a 1024-byte boundary, [`OperandFormat::alignment`]). Copies use the
//!   blocked layout: a warp reads whole 128-byte rows from global memory, and the eight
//!   chunks of one row land in eight different bank groups.
//!
//! Padded rows and core matrices are linear over disjoint bit fields of the row and the
//! column, so the offset of `(r0 + r, c0 + c)` is the sum of the offsets of `(r0, c0)`
//! and `(r, c)` whenever `r0`, `c0` are multiples of 8 and `r, c < 8` — or more generally
//! whenever the two rows (and the two columns) share no set bit
//! ([`OperandTile::is_additive`]). The swizzle XORs instead: its offsets are computed
//! from whole coordinates.

use inkwell::values::IntValue;

use super::context::Lowerer;
use super::layout::Layout;
use super::{CodegenError, MmaLowering};
use crate::ir::Type;
use crate::target::Arch;

/// Halves of padding after each row of a padded tile.
pub(super) const PAD: u32 = 8;

/// Bytes of one element: operands are bf16 or f16.
const ELEMENT_BYTES: u32 = 2;

/// Bytes of one core matrix: 8 rows of 16 bytes.
const CORE_MATRIX_BYTES: u32 = 128;

/// Elements in one row of a 128-byte swizzle pattern.
const SWIZZLE_ELEMENTS: u32 = 64;

/// Bytes of one 128-byte swizzle pattern: 8 rows of 128 bytes.
pub(super) const SWIZZLE_BYTES: u32 = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OperandFormat {
    PaddedRows,
    CoreMatrices,
    Swizzled128,
}

impl OperandFormat {
    /// Core matrices (or their 128-byte swizzle, by tile: [`OperandTile::new`]) where
    /// `wgmma` reads them, padded rows elsewhere.
    pub fn for_target(arch: Arch, mma: MmaLowering) -> OperandFormat {
        match (arch, mma) {
            (Arch::Sm90a, MmaLowering::Wgmma) => OperandFormat::CoreMatrices,
            _ => OperandFormat::PaddedRows,
        }
    }

    /// Where shared buffers of tiles in this target format must start.
    pub fn alignment(self) -> u64 {
        // Either format holds its 64-element-wide tiles swizzled (`OperandTile::new`).
        u64::from(SWIZZLE_BYTES)
    }
}

/// A `[rows, cols]` operand tile in shared memory, row-major as it is in the tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct OperandTile {
    pub rows: u32,
    pub cols: u32,
    pub format: OperandFormat,
}

impl OperandTile {
    /// A `[rows, cols]` tile in the target's `format`: core matrices and padded rows
    /// become the 128-byte swizzle where rows are whole swizzle rows (a multiple of 64
    /// elements) and the tile has whole patterns (rows a multiple of 8). Every writer and reader of a tile builds
    /// it here, so they agree.
    pub fn new(rows: u32, cols: u32, format: OperandFormat) -> OperandTile {
        let swizzles = cols.is_multiple_of(SWIZZLE_ELEMENTS) && rows.is_multiple_of(8);
        match format {
            OperandFormat::CoreMatrices | OperandFormat::PaddedRows if swizzles => {
                OperandTile::exact(rows, cols, OperandFormat::Swizzled128)
            }
            _ => OperandTile::exact(rows, cols, format),
        }
    }

    /// A tile in exactly `format`.
    pub fn exact(rows: u32, cols: u32, format: OperandFormat) -> OperandTile {
        OperandTile { rows, cols, format }
    }

    /// Whether offsets of disjoint coordinate bits add (module docs).
    pub fn is_additive(&self) -> bool {
        self.format != OperandFormat::Swizzled128
    }

    /// The tile of a rank-2 value of type `ty`.
    pub fn of(ty: &Type, format: OperandFormat) -> Result<OperandTile, CodegenError> {
        match ty.shape.as_slice() {
            &[rows, cols] if ty.dtype.size_bytes() == ELEMENT_BYTES as usize => {
                Ok(OperandTile::new(rows, cols, format))
            }
            _ => Err(CodegenError::InvalidIr(format!("a dot operand in shared memory of type {ty}"))),
        }
    }

    /// Bytes the tile takes, a multiple of 16.
    pub fn bytes(&self) -> u64 {
        let row_elements = match self.format {
            OperandFormat::PaddedRows => self.cols + PAD,
            OperandFormat::CoreMatrices | OperandFormat::Swizzled128 => self.cols,
        };
        (u64::from(self.rows) * u64::from(row_elements) * u64::from(ELEMENT_BYTES)).div_ceil(16) * 16
    }

    /// Byte offset of element `(row, col)` in the tile (module docs).
    pub fn offset(&self, row: u32, col: u32) -> u32 {
        match self.format {
            OperandFormat::PaddedRows => (row * (self.cols + PAD) + col) * ELEMENT_BYTES,
            OperandFormat::CoreMatrices => {
                (row / 8) * self.group_bytes()
                    + (row % 8) * 16
                    + (col / 8) * CORE_MATRIX_BYTES
                    + (col % 8) * ELEMENT_BYTES
            }
            OperandFormat::Swizzled128 => {
                let chunk = (col % SWIZZLE_ELEMENTS / 8) ^ (row % 8);
                (col / SWIZZLE_ELEMENTS) * self.swizzle_column_bytes()
                    + row * 128
                    + chunk * 16
                    + (col % 8) * ELEMENT_BYTES
            }
        }
    }

    /// [`OperandTile::offset`] of run-time coordinates.
    pub fn offset_of<'ctx>(
        &self,
        lw: &Lowerer<'_, 'ctx>,
        row: IntValue<'ctx>,
        col: IntValue<'ctx>,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let b = &lw.builder;
        let bytes = match self.format {
            OperandFormat::PaddedRows => {
                let at = b.build_int_add(b.build_int_mul(row, lw.i32(u64::from(self.cols + PAD)), "")?, col, "")?;
                b.build_int_mul(at, lw.i32(u64::from(ELEMENT_BYTES)), "")?
            }
            OperandFormat::CoreMatrices => {
                let group = b.build_int_mul(
                    b.build_right_shift(row, lw.i32(3), false, "")?,
                    lw.i32(u64::from(self.group_bytes())),
                    "",
                )?;
                let in_group = b.build_left_shift(b.build_and(row, lw.i32(7), "")?, lw.i32(4), "")?;
                let core = b.build_left_shift(b.build_right_shift(col, lw.i32(3), false, "")?, lw.i32(7), "")?;
                let in_core = b.build_left_shift(b.build_and(col, lw.i32(7), "")?, lw.i32(1), "")?;
                let rows = b.build_int_add(group, in_group, "")?;
                b.build_int_add(rows, b.build_int_add(core, in_core, "")?, "")?
            }
            OperandFormat::Swizzled128 => {
                let column = b.build_int_mul(
                    b.build_right_shift(col, lw.i32(6), false, "")?,
                    lw.i32(u64::from(self.swizzle_column_bytes())),
                    "",
                )?;
                let row_bytes = b.build_left_shift(row, lw.i32(7), "")?;
                let chunk = b.build_and(b.build_right_shift(col, lw.i32(3), false, "")?, lw.i32(7), "")?;
                let chunk = b.build_xor(chunk, b.build_and(row, lw.i32(7), "")?, "")?;
                let in_chunk = b.build_left_shift(b.build_and(col, lw.i32(7), "")?, lw.i32(1), "")?;
                let at = b.build_int_add(column, row_bytes, "")?;
                b.build_int_add(at, b.build_or(b.build_left_shift(chunk, lw.i32(4), "")?, in_chunk, "")?, "")?
            }
        };
        Ok(bytes)
    }

    /// The layout that copies the tile in: [`Layout::core_matrix_copy`] for core
    /// matrices, the blocked layout for padded rows.
    pub fn copy_layout(&self, ty: &Type, threads: u32) -> Result<Layout, CodegenError> {
        match self.format {
            OperandFormat::PaddedRows | OperandFormat::Swizzled128 => Layout::blocked(ty, threads),
            OperandFormat::CoreMatrices => Layout::core_matrix_copy(ty, threads),
        }
    }

    /// In core-matrix format, the byte distances between adjacent core matrices
    /// `(down the rows, along the columns)`: a wgmma descriptor's stride and leading
    /// byte offsets for a K-major operand (rows are M or N), swapped for an MN-major one.
    pub fn core_strides(&self) -> Option<(u32, u32)> {
        (self.format == OperandFormat::CoreMatrices).then(|| (self.group_bytes(), CORE_MATRIX_BYTES))
    }

    /// Bytes of one 8-row group of core matrices.
    fn group_bytes(&self) -> u32 {
        self.cols / 8 * CORE_MATRIX_BYTES
    }

    /// In the 128-byte swizzle, the bytes of one 64-element column of the tile: the
    /// distance between swizzle patterns along the rows.
    pub fn swizzle_column_bytes(&self) -> u32 {
        self.rows * 128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(rows: u32, cols: u32) -> OperandTile {
        OperandTile::exact(rows, cols, OperandFormat::CoreMatrices)
    }

    fn swizzled(rows: u32, cols: u32) -> OperandTile {
        OperandTile::exact(rows, cols, OperandFormat::Swizzled128)
    }

    #[test]
    fn padded_rows_are_cols_plus_padding_halves_long() {
        // 32 rows of (32 + 8) halves.
        assert_eq!(OperandTile::new(32, 32, OperandFormat::PaddedRows).bytes(), 2560);
    }

    #[test]
    fn padded_format_swizzles_tiles_of_whole_64_element_rows() {
        // mma.sync reads them with ldmatrix from the same 128-byte swizzle wgmma reads.
        let tile = OperandTile::new(32, 64, OperandFormat::PaddedRows);
        assert_eq!((tile.format, tile.bytes()), (OperandFormat::Swizzled128, 4096));
    }

    #[test]
    fn padded_rows_stay_16_byte_aligned() {
        assert_eq!(OperandTile::new(16, 48, OperandFormat::PaddedRows).offset(1, 0) % 16, 0);
    }

    #[test]
    fn core_matrix_tiles_have_no_padding() {
        assert_eq!(core(64, 128).bytes(), 64 * 128 * 2);
    }

    #[test]
    fn a_core_matrix_is_128_contiguous_bytes() {
        let tile = core(64, 64);
        let offsets: Vec<u32> = (0..8).flat_map(|r| (0..8).map(move |c| tile.offset(r, c))).collect();
        assert_eq!(offsets, (0..64).map(|e| 2 * e).collect::<Vec<_>>());
    }

    #[test]
    fn core_matrices_of_a_row_group_sit_side_by_side() {
        assert_eq!((core(64, 64).offset(0, 8), core(64, 64).offset(8, 0)), (128, 1024));
    }

    #[test]
    fn every_element_of_a_core_matrix_tile_has_its_own_place() {
        let tile = core(32, 32);
        let mut offsets: Vec<u32> = (0..32).flat_map(|r| (0..32).map(move |c| tile.offset(r, c))).collect();
        offsets.sort();
        assert_eq!(offsets, (0..1024).map(|e| 2 * e).collect::<Vec<_>>());
    }

    #[test]
    fn offsets_add_over_disjoint_bits() {
        let tile = core(128, 64);
        assert_eq!(tile.offset(64 + 5, 32 + 3), tile.offset(64, 32) + tile.offset(5, 3));
    }

    #[test]
    fn core_strides_are_the_row_group_and_one_core_matrix() {
        assert_eq!(core(64, 128).core_strides(), Some((2048, 128)));
    }

    #[test]
    fn core_matrix_target_swizzles_whole_128_byte_rows() {
        let format = |rows, cols| OperandTile::new(rows, cols, OperandFormat::CoreMatrices).format;
        assert_eq!(
            [format(64, 64), format(64, 256), format(128, 32), format(4, 64)],
            [
                OperandFormat::Swizzled128,
                OperandFormat::Swizzled128,
                OperandFormat::CoreMatrices,
                OperandFormat::CoreMatrices
            ]
        );
    }

    #[test]
    fn swizzle_xors_the_chunk_with_the_row() {
        // Row 3, chunk 1: stored at chunk 1 ^ 3 = 2 of row 3's 128 bytes.
        assert_eq!(swizzled(64, 64).offset(3, 8), 3 * 128 + 2 * 16);
    }

    #[test]
    fn swizzle_columns_of_64_follow_one_another() {
        assert_eq!(swizzled(32, 128).offset(0, 64), 32 * 128);
    }

    #[test]
    fn every_element_of_a_swizzled_tile_has_its_own_place() {
        let tile = swizzled(16, 128);
        let mut offsets: Vec<u32> = (0..16).flat_map(|r| (0..128).map(move |c| tile.offset(r, c))).collect();
        offsets.sort();
        assert_eq!(offsets, (0..2048).map(|e| 2 * e).collect::<Vec<_>>());
    }

    #[test]
    fn eight_chunks_of_a_swizzled_row_fall_in_eight_bank_groups() {
        let tile = swizzled(64, 256);
        for row in 0..8 {
            let mut groups: Vec<u32> = (0..8).map(|chunk| tile.offset(row, 8 * chunk) % 128 / 16).collect();
            groups.sort();
            assert_eq!(groups, (0..8).collect::<Vec<_>>(), "row {row}");
        }
    }

    #[test]
    fn swizzled_offsets_do_not_add() {
        assert!(!swizzled(64, 64).is_additive() && core(64, 64).is_additive());
    }
}
