//! The CPU interpreter: Tile IR's reference semantics, and CI's oracle for the GPU
//! back end. What follows is normative; `docs/language.md` links here.
//!
//! # Launch
//! [`run`] validates the arguments with [`crate::args::validate`] (and checks that
//! each host tensor holds as many elements as its shape says), evaluates the grid
//! block to three sizes, then runs one program per grid point in order, axis 0
//! fastest, each mutating tensor arguments in place. A grid size of 0 runs nothing;
//! a negative size is an error. The grid block runs on the host from argument
//! shapes and scalar values only ([`GridArg`]), so `program_id`, `load` and `store`
//! are errors there. Programs run one after another, so a program sees the stores
//! of earlier ones; kernels that depend on that race on the GPU.
//!
//! A kernel of [`crate::ir::Kernel::num_groups`] `G` warp groups runs its body `G`
//! times per program, groups `0..G` in order, each with `group_id` its number and every
//! value fresh (tiles are per group); `group_id` is 0 in a kernel of one group, and an
//! error in the grid block like `program_id`. On the GPU the groups run at once, so a
//! group seeing another's stores, or two groups storing one element (here the later
//! group's store wins), is a race that kernels must not rely on.
//!
//! # Values
//! A value is a tile: a dtype, a shape and its row-major elements; a scalar is a
//! rank-0 tile. Elements are held as f64 and rounded to the dtype (with
//! [`crate::tensor::round_to`]) after every op, so each op rounds once.
//!
//! # Arithmetic
//! - **Floats** (`f32`, `bf16`, `f16`): computed in f64, then rounded to nearest
//!   even in the result dtype. `exp`, `exp2`, `log2`, `sqrt` likewise;
//!   `rsqrt(x) = 1 / sqrt(x)`. IEEE specials propagate (`log2(0) = -inf`,
//!   `x / 0 = ±inf`). The GPU back end may use approximate `ex2`/`lg2`/`rsqrt` and
//!   round bf16/f16 results through f32, so compare against it with tolerances.
//! - **`max`/`min`** on floats ignore NaN like PTX `max.f32`: `max(NaN, x) = x`;
//!   only two NaNs give NaN.
//! - **i32**: wrapping two's complement for `add`, `sub`, `mul`, `neg`, `abs`
//!   (`abs(i32::MIN) = i32::MIN`). `div` truncates toward zero and `rem` takes the
//!   dividend's sign (`i32::MIN / -1` wraps to `i32::MIN`). A zero divisor in any
//!   element, masked ones included, is [`InterpError::DivisionByZero`].
//! - **bool**: `and`, `or`, `not` only.
//! - An op on a dtype outside these lists (`rem` on floats, `exp` on i32, ...) is
//!   [`InterpError::UnsupportedDType`].
//! - **Comparisons**: IEEE; a NaN operand makes every comparison false except `ne`.
//! - **Casts**: float→float rounds to nearest even; float→i32 truncates toward
//!   zero and saturates, NaN giving 0 (PTX `cvt.rzi.s32`); i32→float rounds to
//!   nearest even; bool→number gives 0 or 1; anything→bool is `x != 0` (NaN is true).
//!
//! # Tile ops
//! - `arange(start, len)` is `start + i`, wrapping in i32.
//! - `reduce sum` adds in f64 and rounds once (i32 sums wrap). The GPU adds in a
//!   different order, so float sums agree only within a tolerance. `reduce
//!   max`/`min` ignore NaN as above. Reductions of bool are unsupported.
//! - `bin_sum(x, bins)` into `N` bins: bin `b` is the sum of the elements of the f32 or
//!   i32 tile `x` whose i32 `bins` entry is `b` (0 for an empty bin); elements whose bin
//!   is outside `0..N` are dropped. f32 sums add in f64 and round once; the GPU adds in
//!   f32 in an unspecified order, so the two agree within a tolerance. i32 sums wrap and
//!   agree exactly.
//!
//! # Memory
//! Tensors are contiguous row-major. A `load` reads 0 for every element whose
//! position is outside `[0, dim)` in some dimension; a `Point` index out of range
//! masks the whole tile. A `store` skips such elements. Positions are computed
//! exactly (`start + i` never wraps).
//!
//! # Control flow
//! `for` runs `iv = lower, lower + step, ...` while `iv < upper`; the step must be
//! positive ([`InterpError::NonPositiveStep`], checked even when the loop would not
//! run). The induction variable is computed in i64, so it cannot wrap past
//! `upper`; the loop therefore runs at most 2^32 times and needs no iteration cap.
//! `if` runs one block on a scalar bool.
//!
//! # Errors, not panics
//! Interpretation never panics: IR that [`crate::ir::verify::verify`] would reject
//! (an undefined value, mismatched operand types, a result whose computed type
//! differs from its declared one) is [`InterpError::Malformed`], and tiles larger
//! than 2^24 elements are [`InterpError::TileTooLarge`].

mod elementwise;
mod error;
mod eval;
mod grid;
mod memory;
mod shape;
mod value;

#[cfg(test)]
mod tests;

pub use error::{InterpError, Site};
pub use value::{ArgValue, GridArg};

use crate::args::ArgDesc;
use crate::ir::Kernel;
use eval::{Evaluator, Memory};

/// Evaluates the grid block: the number of programs along each axis. The GPU
/// runtime calls this with [`GridArg`]s built from device tensors' shapes.
pub fn eval_grid(kernel: &Kernel, args: &[GridArg<'_>]) -> Result<[u32; 3], InterpError> {
    let descs: Vec<ArgDesc> = args.iter().map(GridArg::desc).collect();
    crate::args::validate(kernel, &descs)?;
    grid::evaluate(kernel, args)
}

/// Runs every program of the grid, in order (axis 0 fastest), each once per warp group
/// (groups in order), mutating tensor arguments in place. On error, stores of the
/// programs and groups that ran remain.
pub fn run(kernel: &Kernel, args: &mut [ArgValue]) -> Result<(), InterpError> {
    let descs: Vec<ArgDesc> = args.iter().map(ArgValue::desc).collect();
    crate::args::validate(kernel, &descs)?;
    value::check_tensor_lengths(kernel, args)?;
    let grid_args: Vec<GridArg<'_>> = args.iter().map(ArgValue::grid_arg).collect();
    let [nx, ny, nz] = grid::evaluate(kernel, &grid_args)?;
    let mut evaluator = Evaluator::new(kernel, Memory::Data(args));
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                evaluator.program([x, y, z])?;
            }
        }
    }
    Ok(())
}
