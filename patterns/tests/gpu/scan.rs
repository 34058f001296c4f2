//! Scans and scatter stores on the GPU against the interpreter (the reference
//! semantics), on fresh random inputs with every output poisoned first: a scan along
//! registers, lanes and warps of a blocked tile, along both axes of a `dot`'s
//! accumulator, over one warp, and a compaction (scan, then scatter) over many
//! programs. The inputs are multiples of 2^-10 (f32) and small integers (bf16), so every
//! sum and product is exact in f32 whatever its grouping, and the GPU must agree with
//! the interpreter bit for bit.

use rand::SeedableRng;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::DType;

use super::exact::{assert_exact, both, poisoned, random};

/// A [4096] tile over 4 warps: 32 registers a thread, so the axis crosses registers,
/// lanes and warps.
const BLOCKED: &str = r#"kernel blocked(xi: tensor<i32>[M], xf: tensor<f32>[M], si: tensor<i32>[M],
    sf: tensor<f32>[M], mx: tensor<f32>[M], mn: tensor<i32>[M]) grid(1) warps(4) {
    let a = xi[0 .. 4096];
    let f = xf[0 .. 4096];
    si[0 .. 4096] = cumsum(a, axis: 0);
    sf[0 .. 4096] = cumsum(f, axis: 0);
    mx[0 .. 4096] = cummax(f, axis: 0);
    mn[0 .. 4096] = cummin(a, axis: 0);
}
"#;

/// A [64, 64] product in the mma accumulator layout, scanned along its rows and columns.
const PRODUCT: &str = r#"kernel product(a: tensor<bf16>[M, D], b: tensor<bf16>[N, D], rows: tensor<f32>[M, N],
    cols: tensor<f32>[M, N], ranks: tensor<i32>[M, N]) grid(1) warps(4) {
    let s = dot(a[0 .. 64, 0 .. 64], trans(b[0 .. 64, 0 .. 64]));
    rows[0 .. 64, 0 .. 64] = cumsum(s, axis: 1);
    cols[0 .. 64, 0 .. 64] = cummin(s, axis: 0);
    ranks[0 .. 64, 0 .. 64] = cumsum(cast<i32>(s > 0.0), axis: 0);
}
"#;

/// The positive entries of each 64-wide block, packed at its front by a scan and a
/// scatter (docs/language.md), one warp a program as vs_convert runs.
const COMPACT: &str = r#"kernel compact(x: tensor<f32>[N], o: tensor<f32>[N], counts: tensor<i32>[B]) grid(B) warps(1) {
    let i = program_id(0);
    let v = x[i * 64 .. i * 64 + 64];
    let keep = v > 0.0;
    let slot = cumsum(cast<i32>(keep), axis: 0) - 1;
    o[where(keep, i * 64 + slot, -1)] = v;
    counts[i] = sum(cast<i32>(keep), axis: 0);
}
"#;

#[test]
fn scans_of_a_blocked_tile_match_the_interpreter() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(41);
    let args = vec![
        ArgValue::Tensor(random(DType::I32, &[4096], &mut rng)),
        ArgValue::Tensor(random(DType::F32, &[4096], &mut rng)),
        ArgValue::Tensor(poisoned(DType::I32, &[4096])),
        ArgValue::Tensor(poisoned(DType::F32, &[4096])),
        ArgValue::Tensor(poisoned(DType::F32, &[4096])),
        ArgValue::Tensor(poisoned(DType::I32, &[4096])),
    ];
    let out = both(BLOCKED, args, &[2, 3, 4, 5]);
    out.iter().for_each(assert_exact);
}

#[test]
fn scans_of_a_product_match_the_interpreter() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let args = vec![
        ArgValue::Tensor(random(DType::BF16, &[64, 64], &mut rng)),
        ArgValue::Tensor(random(DType::BF16, &[64, 64], &mut rng)),
        ArgValue::Tensor(poisoned(DType::F32, &[64, 64])),
        ArgValue::Tensor(poisoned(DType::F32, &[64, 64])),
        ArgValue::Tensor(poisoned(DType::I32, &[64, 64])),
    ];
    let out = both(PRODUCT, args, &[2, 3, 4]);
    out.iter().for_each(assert_exact);
}

#[test]
fn a_compaction_by_scan_and_scatter_matches_the_interpreter() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(43);
    let blocks = 300;
    let args = vec![
        ArgValue::Tensor(random(DType::F32, &[blocks * 64], &mut rng)),
        ArgValue::Tensor(poisoned(DType::F32, &[blocks * 64])),
        ArgValue::Tensor(poisoned(DType::I32, &[blocks])),
    ];
    let out = both(COMPACT, args, &[1, 2]);
    // Slots past each block's count stay poisoned on both sides: NaN compares by bits.
    out.iter().for_each(assert_exact);
}
