//! `diag_sum`: an `[M, N]` f32 tile summed along its diagonals.
//!
//! Element (r, c) lies on diagonal t = r - c + N - 1. The tile goes to shared memory as
//! it is, rows of N + 1 floats above the live buffers, its owners storing each element
//! once; after a barrier every thread adds up the diagonals its result registers hold.
//! A tile larger than [`SCRATCH_BYTES`] goes in passes of as many rows as fit.
//! Row r's element on diagonal t is in column r + N - 1 - t, at r (N + 2) + N - 1 - t:
//! a warp's consecutive diagonals read consecutive floats, so its loads of a row meet no
//! bank conflict. A row the diagonal misses reads a float inside the scratch (its index
//! clamped to 0) and adds 0. The rows go to four partial sums in turn, added at the end,
//! so that the adds do not wait on one another; the order is fixed, and so the sums
//! repeat from run to run.
//!
//! `bin_sum` can bin by diagonal too, but each of its shared-memory adds is a
//! compare-and-swap loop on sm_80 and sm_90, one element after another: without them,
//! `vs_column_scores` took 0.61x its time at 32K (docs/perf/2026-11-29-h200-session24.md,
//! round 1).
//!
//! The scratch follows the stack's rule for every scratch user: it is written only after
//! a barrier (the first one here), so the next op that reserves the same bytes cannot
//! overwrite them while a thread still reads its result.

use super::context::{as_float, Lowerer, Regs};
use super::layout::Layout;
use super::CodegenError;
use crate::ir::{DType, ValueId};
use inkwell::values::{FloatValue, IntValue, PointerValue};
use inkwell::IntPredicate;

const F32_BYTES: u64 = 4;

/// Partial sums a thread keeps over the rows of a diagonal.
const PARTIALS: usize = 4;

/// The most scratch the tile takes at once: a 64 x 64 tile goes in two passes of 32
/// rows (8.3 KB), so that `vs_column_scores` keeps five programs an SM.
const SCRATCH_BYTES: u64 = 16 * 1024;

/// One predicated shared-memory store: `$0` the `.shared` address, `$1` the value, `$2`
/// nonzero when the store happens (the owner of the element; replicas store nothing).
const STORE: &str = "{ .reg .pred p; setp.ne.b32 p, $2, 0; @p st.shared.f32 [$0], $1; }";

impl<'ctx> Lowerer<'_, 'ctx> {
    pub fn diag_sum(
        &mut self,
        value: ValueId,
        result: ValueId,
        out_layout: &Layout,
    ) -> Result<Regs<'ctx>, CodegenError> {
        let (from, to) = (self.ty(value)?, self.ty(result)?);
        let (m, n) = match (&from.shape[..], &to.shape[..]) {
            ([m, n], [len]) if from.dtype == DType::F32 && to.dtype == DType::F32 && m + n == *len => {
                (u64::from(*m), u64::from(*n))
            }
            _ => return Err(CodegenError::InvalidIr(format!("diag_sum of {from} gives {to}, not f32[M + N]"))),
        };
        let layout = self.layout_of(value)?;
        let values = self.get(value)?;
        let rows = rows_per_pass(m, n);
        let base = self.shared.reserve(self.context, self.module, "diag_sum", rows * (n + 1) * F32_BYTES)?;

        let owner = self.is_owner(&layout)?;
        let b = &self.builder;
        let base_address = b.build_ptr_to_int(base, self.context.i32_type(), "")?;
        // Each element's row and column (tile shapes are powers of two).
        let places = (0..values.len())
            .map(|reg| {
                let flat = self.flat_index(&layout, reg)?;
                let b = &self.builder;
                let row = b.build_right_shift(flat, self.i32(u64::from(n.trailing_zeros())), false, "")?;
                Ok((row, b.build_and(flat, self.i32(n - 1), "")?))
            })
            .collect::<Result<Vec<_>, CodegenError>>()?;
        let diagonals =
            (0..out_layout.regs()).map(|reg| self.flat_index(out_layout, reg)).collect::<Result<Vec<_>, _>>()?;
        let zero = as_float(self.zero(DType::F32))?;
        let mut partials = vec![[zero; PARTIALS]; diagonals.len()];
        for pass in 0..m / rows {
            // The previous user of these bytes, or the last pass's readers, may still be reading them.
            self.barrier()?;
            for (&(row, column), &x) in places.iter().zip(&values) {
                let b = &self.builder;
                let in_pass = b.build_int_compare(
                    IntPredicate::EQ,
                    b.build_right_shift(row, self.i32(u64::from(rows.trailing_zeros())), false, "")?,
                    self.i32(pass),
                    "",
                )?;
                let stores = b.build_int_z_extend(b.build_and(owner, in_pass, "")?, self.context.i32_type(), "")?;
                let local = b.build_and(row, self.i32(rows - 1), "")?;
                let at = b.build_int_add(b.build_int_mul(local, self.i32(n + 1), "")?, column, "")?;
                let address = b.build_int_add(base_address, b.build_int_mul(at, self.i32(F32_BYTES), "")?, "")?;
                self.asm_void(STORE, "r,f,r", &[address.into(), x, stores.into()])?;
            }
            self.barrier()?;
            for (&t, sums) in diagonals.iter().zip(&mut partials) {
                self.add_diagonal(base, [pass * rows, rows, n], t, sums)?;
            }
        }
        let b = &self.builder;
        partials
            .into_iter()
            .map(|[p0, p1, p2, p3]| {
                let low = b.build_float_add(p0, p1, "")?;
                let high = b.build_float_add(p2, p3, "")?;
                Ok(b.build_float_add(low, high, "")?.into())
            })
            .collect()
    }

    /// Adds to `sums` (by row, in turn) the elements on diagonal `t` of rows `first ..
    /// first + rows` of an `[M, n]` tile, held at `base` from row `first` on, `n + 1`
    /// floats a row.
    fn add_diagonal(
        &self,
        base: PointerValue<'ctx>,
        [first, rows, n]: [u64; 3],
        t: IntValue<'ctx>,
        sums: &mut [FloatValue<'ctx>; PARTIALS],
    ) -> Result<(), CodegenError> {
        let b = &self.builder;
        let zero = as_float(self.zero(DType::F32))?;
        // Row r's column on the diagonal is r + n - 1 - t; below 0 or from n on it misses.
        let shift = b.build_int_sub(self.i32(n - 1), t, "")?;
        for r in 0..rows {
            let column = b.build_int_add(shift, self.i32(first + r), "")?;
            // Unsigned, so a negative column is outside too.
            let inside = b.build_int_compare(IntPredicate::ULT, column, self.i32(n), "")?;
            let at = b.build_int_add(self.i32(r * (n + 1)), column, "")?;
            let at = b.build_select(inside, at, self.i32(0), "")?.into_int_value();
            let x = self.aligned_load(self.reg_type(DType::F32), self.shared_element(base, DType::F32, at)?, 4)?;
            let x = b.build_select(inside, as_float(x)?, zero, "")?.into_float_value();
            let sum = &mut sums[((first + r) % PARTIALS as u64) as usize];
            *sum = b.build_float_add(*sum, x, "")?;
        }
        Ok(())
    }
}

/// Rows of the tile in shared memory at once: all of them, or as many as
/// [`SCRATCH_BYTES`] hold (a power of two, at least one), the rest in later passes.
fn rows_per_pass(m: u64, n: u64) -> u64 {
    let fit = (SCRATCH_BYTES / ((n + 1) * F32_BYTES)).max(1);
    (1u64 << fit.ilog2()).min(m)
}

#[cfg(test)]
mod tests {
    use super::rows_per_pass;

    #[test]
    fn a_64_by_64_tile_goes_through_shared_memory_in_two_passes() {
        assert_eq!(rows_per_pass(64, 64), 32);
    }

    #[test]
    fn a_small_tile_goes_in_one_pass() {
        assert_eq!(rows_per_pass(8, 16), 8);
    }

    #[test]
    fn a_wide_tile_takes_at_least_a_row_a_pass() {
        assert_eq!(rows_per_pass(4, 1 << 14), 1);
    }
}
