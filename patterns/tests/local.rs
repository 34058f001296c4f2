//! A-shape and tri-shape (kernels/sparse_local.tile) on the interpreter against dense
//! attention restricted to the same mask, on fresh random inputs: two ragged sequences
//! (lengths not multiples of 64), 4 query heads sharing 2 key/value heads, head dim 64,
//! outputs poisoned with NaN. Also the strided pattern (sparse::local::strided), and
//! every sparse kernel of this crate through ptxas without spills.

use rand::SeedableRng;
use sparsefill_compiler::codegen::MmaLowering;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::{self, AttentionShape, KeyMask};
use sparsefill_patterns::sparse::local::query_blocks::{self, InputError, RunError};
use sparsefill_patterns::sparse::local::strided::{self, StridedError, StridedParams, StridedParamsError};
use sparsefill_patterns::sparse::local::{self, LocalError, LocalParams, ParamsError};
use sparsefill_patterns::sparse::{AttentionInputs, SparseOutput};
use std::ops::Range;

fn shape(seqlens: &[usize]) -> AttentionShape {
    AttentionShape { seqlens: seqlens.to_vec(), heads: 4, kv_heads: 2, head_dim: 64, causal: true }
}

type Run<'a> = &'a dyn Fn(&AttentionInputs) -> Result<SparseOutput, String>;

/// Runs a pattern on fresh random inputs and compares every row with the reference
/// under `mask`.
fn check(seqlens: &[usize], seed: u64, mask: impl Fn(KeyMask) -> bool, run: Run) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (case, inputs) = query_blocks::random_inputs(&shape(seqlens), &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let out = run(&inputs).unwrap_or_else(|e| panic!("{seqlens:?}: {e}"));
    if let Err(e) = query_blocks::check_rows(&case, &out, mask) {
        panic!("{seqlens:?}: {e}");
    }
}

/// Both specializations: every tile folded masked (KS 32), and sm_90a's on packed
/// tensors, which walks the whole tiles unmasked after the others (KS 64).
fn check_local(seqlens: &[usize], params: LocalParams, seed: u64) {
    check(seqlens, seed, |at| params.keeps(at), &|x| {
        local::run_interp(x, &params).map_err(|e| format!("{params:?}: {e}"))
    });
    check(seqlens, seed, |at| params.keeps(at), &|x| {
        local::run_interp_as(x, &params, Arch::Sm90a, MmaLowering::Wgmma).map_err(|e| format!("{params:?} sm_90a: {e}"))
    });
}

fn check_strided(seqlens: &[usize], params: StridedParams, seed: u64) {
    check(seqlens, seed, |at| params.keeps(at), &|x| {
        strided::run_interp(x, &params).map_err(|e| format!("{params:?}: {e}"))
    });
}

/// One 300-token sequence whose V rows `nan_rows` are NaN: 0 · NaN would poison any row
/// whose program computed a tile holding them, so `rows` staying equal to the
/// reference proves their programs skipped those tiles.
fn check_skips(seed: u64, nan_rows: Range<usize>, rows: &[usize], mask: impl Fn(KeyMask) -> bool, run: Run) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (case, mut inputs) = query_blocks::random_inputs(&shape(&[300]), &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let row = 2 * 64; // v is [T, HKV = 2, D = 64]
    inputs.v.data[nan_rows.start * row..nan_rows.end * row].fill(f64::NAN);
    let out = run(&inputs).unwrap_or_else(|e| panic!("{e}"));
    let expected = case.reference_masked(rows, mask).unwrap_or_else(|e| panic!("{e}"));
    let got = attention::gather(&case.shape, &out.o, &out.lse, rows).unwrap_or_else(|e| panic!("{e}"));
    attention::check_outputs(&got, &expected).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_shape_with_partial_sink_and_window_tiles_matches_reference() {
    check_local(&[300, 130], LocalParams::a_shape(5, 70), 1);
}

#[test]
fn a_shape_with_sinks_across_a_tile_boundary_matches_reference() {
    check_local(&[250, 77], LocalParams::a_shape(100, 30), 2);
}

#[test]
fn a_shape_window_of_one_sees_only_itself_and_sinks() {
    check_local(&[200, 65], LocalParams::a_shape(3, 1), 3);
}

#[test]
fn a_shape_without_sinks_matches_reference() {
    check_local(&[190, 129], LocalParams::a_shape(0, 64), 4);
}

#[test]
fn a_shape_wider_than_the_sequence_is_dense_causal() {
    check_local(&[150, 20], LocalParams::a_shape(0, 1000), 5);
}

/// Sizes at the i32 limit make A-shape dense causal, without overflow in the kernel.
#[test]
fn a_shape_at_the_i32_limit_is_dense_causal() {
    let max = i32::MAX as u32;
    check_local(&[200, 70], LocalParams::tri_shape(max, max, max), 27);
}

#[test]
fn tri_shape_last_queries_across_two_blocks_match_reference() {
    check_local(&[300, 140], LocalParams::tri_shape(5, 40, 70), 6);
}

#[test]
fn tri_shape_longer_than_the_sequence_is_dense_causal() {
    check_local(&[100, 30], LocalParams::tri_shape(2, 3, 500), 7);
}

#[test]
fn one_token_sequences_match_reference() {
    check_local(&[1, 1, 70], LocalParams::tri_shape(1, 2, 1), 8);
}

/// Block 0 needs only tile 0 and block 4 (rows 256..299) tiles 0, 3 and 4, so NaN V
/// rows in tiles 1 and 2 must not reach them.
#[test]
fn tiles_outside_the_pattern_are_never_read() {
    let params = LocalParams::a_shape(5, 10);
    let rows: Vec<usize> = (0..64).chain(256..300).collect();
    check_skips(9, 64..192, &rows, |at| params.keeps(at), &|x| {
        local::run_interp(x, &params).map_err(|e| e.to_string())
    });
    check_skips(9, 64..192, &rows, |at| params.keeps(at), &|x| {
        local::run_interp_as(x, &params, Arch::Sm90a, MmaLowering::Wgmma).map_err(|e| e.to_string())
    });
}

/// Long windows and sinks of whole tiles, as the bench runs A-shape: most tiles of a
/// block are whole, so the sm_90a walk runs many iterations, after a masked first window
/// tile and the diagonal.
#[test]
fn a_shape_with_whole_sink_tiles_and_a_long_window_matches_reference() {
    check_local(&[700, 330], LocalParams::a_shape(128, 300), 28);
}

#[test]
fn empty_window_is_rejected_before_running() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let (_, inputs) = query_blocks::random_inputs(&shape(&[10]), &mut rng).unwrap();
    let err = local::run_interp(&inputs, &LocalParams::a_shape(4, 0)).err();
    assert!(matches!(err, Some(LocalError::Params(ParamsError::EmptyWindow))), "{err:?}");
}

#[test]
fn f32_queries_are_rejected_before_running() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (_, mut inputs) = query_blocks::random_inputs(&shape(&[10]), &mut rng).unwrap();
    inputs.q = HostTensor::zeros(DType::F32, &[10, 4, 64]);
    let err = local::run_interp(&inputs, &LocalParams::a_shape(4, 4)).err();
    assert!(
        matches!(err, Some(LocalError::Run(RunError::Inputs(InputError::DType { name: "q", got: DType::F32 })))),
        "{err:?}"
    );
}

#[test]
fn strided_every_second_block_matches_reference() {
    check_strided(&[300, 200], StridedParams { stride: 2, n_local: 20 }, 21);
}

#[test]
fn strided_with_a_window_across_tiles_matches_reference() {
    check_strided(&[290, 70], StridedParams { stride: 3, n_local: 100 }, 22);
}

/// Only block 0 is strided: counting the strided tiles must not overflow i32.
#[test]
fn strided_with_the_largest_stride_keeps_block_0_and_the_window() {
    check_strided(&[300, 150], StridedParams { stride: i32::MAX as u32, n_local: 30 }, 26);
}

#[test]
fn strided_stride_one_is_dense_causal() {
    check_strided(&[150, 33], StridedParams { stride: 1, n_local: 1 }, 23);
}

/// Block 4 (rows 256..299) with stride 2 and a 10-key window needs tiles 0, 2, 3 and 4,
/// so NaN V rows in tile 1 must not reach it.
#[test]
fn strided_skips_the_blocks_between_strides() {
    let params = StridedParams { stride: 2, n_local: 10 };
    let rows: Vec<usize> = (0..64).chain(256..300).collect();
    check_skips(24, 64..128, &rows, |at| params.keeps(at), &|x| {
        strided::run_interp(x, &params).map_err(|e| e.to_string())
    });
}

#[test]
fn strided_zero_stride_is_rejected_before_running() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(25);
    let (_, inputs) = query_blocks::random_inputs(&shape(&[10]), &mut rng).unwrap();
    let err = strided::run_interp(&inputs, &StridedParams { stride: 0, n_local: 4 }).err();
    assert!(matches!(err, Some(StridedError::Params(StridedParamsError::ZeroStride))), "{err:?}");
}

fn check_assembles_without_spills(kernel: &str, source: &str, arch: Arch) {
    let specializations = [query_blocks::consts(64), query_blocks::consts(128)];
    query_blocks::assert_assembles_without_spills(kernel, source, &specializations, arch);
}

#[test]
fn local_kernel_assembles_without_spills_on_sm80() {
    check_assembles_without_spills(local::KERNEL, local::SOURCE, Arch::Sm80);
}

#[test]
fn local_kernel_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills(local::KERNEL, local::SOURCE, Arch::Sm90a);
}

/// The variants the GPU runners launch on packed inputs: the whole tiles walked, two
/// programs per SM, no spills.
#[test]
fn aligned_local_kernel_fits_two_per_sm_without_spills_on_sm90a() {
    let target = |d| query_blocks::target_consts(local::KERNEL, d, Arch::Sm90a, MmaLowering::Wgmma, true);
    query_blocks::assert_aligned_sm90a_variants_fit(local::KERNEL, local::SOURCE, &[target(64), target(128)]);
}

#[test]
fn strided_kernel_assembles_without_spills_on_sm80() {
    check_assembles_without_spills(strided::KERNEL, strided::SOURCE, Arch::Sm80);
}

#[test]
fn strided_kernel_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills(strided::KERNEL, strided::SOURCE, Arch::Sm90a);
}
