//! Attention recall and output error against dense attention: hand-checkable cases,
//! the dense kernel on the interpreter (recall 1 from its lse), and every rejected input.

use sparsefill_patterns::{attention, recall, sparse};

use attention::{AttentionShape, KeyMask, ShapeError};
use rand::SeedableRng;
use recall::{dense_case, DenseReference, HeadRecall, Recall, RecallError};
use sparse::local::query_blocks::{self, InputError};
use sparse::AttentionInputs;
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::lower_source;
use sparsefill_compiler::tensor::HostTensor;

fn shape(seqlens: &[usize], heads: usize, kv_heads: usize, head_dim: usize) -> AttentionShape {
    AttentionShape { seqlens: seqlens.to_vec(), heads, kv_heads, head_dim, causal: true }
}

/// Fresh random bf16 inputs (uniform in [-2, 2]).
fn random_inputs(shape: &AttentionShape, seed: u64) -> AttentionInputs {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    query_blocks::random_inputs(shape, &mut rng).unwrap_or_else(|e| panic!("{e}")).1
}

fn ragged() -> AttentionInputs {
    random_inputs(&shape(&[7, 20], 4, 2, 16), 11)
}

fn all_rows(inputs: &AttentionInputs) -> DenseReference {
    DenseReference::all_rows(inputs).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_mask_keeping_every_key_has_recall_one() {
    let recall = all_rows(&ragged()).mask_recall(|_| true).unwrap();
    assert!(recall.kept.iter().all(|&x| x == 1.0), "{:?}", recall.kept);
}

#[test]
fn a_mask_keeping_no_key_has_recall_zero() {
    let recall = all_rows(&ragged()).mask_recall(|_| false).unwrap();
    assert!(recall.kept.iter().all(|&x| x == 0.0), "{:?}", recall.kept);
}

#[test]
fn recall_has_one_value_per_row_and_head() {
    let recall = all_rows(&ragged()).mask_recall(|at| at.key == 0).unwrap();
    assert_eq!(recall.kept.len(), 27 * 4);
}

/// The first row of each sequence sees only its own key, so keeping key 0 keeps it all.
#[test]
fn the_first_row_of_a_sequence_keeps_everything_with_key_zero() {
    let recall = all_rows(&ragged()).mask_recall(|at| at.key == 0).unwrap();
    assert!((0..4).all(|h| recall.get(7, h) == Some(1.0)), "{:?}", &recall.kept[28..32]);
}

/// Two keys, one query: with q1 = 2·e0, k0 = 0, k1 = 2·e0 and D = 16 the scaled scores
/// are 0 and 4/4 = 1, so keeping key 0 keeps 1 / (1 + e) of the mass.
#[test]
fn two_key_recall_matches_the_hand_computation() {
    let mut q = vec![0.0; 2 * 16];
    q[16] = 2.0;
    let mut k = vec![0.0; 2 * 16];
    k[16] = 2.0;
    let t = |data: Vec<f64>| HostTensor::from_f64(DType::BF16, &[2, 1, 16], data);
    let inputs = AttentionInputs { q: t(q), k: t(k), v: t(vec![0.5; 32]), seqlens: vec![2] };
    let recall = DenseReference::new(&inputs, &[1]).unwrap().mask_recall(|at| at.key == 0).unwrap();
    let expected = 1.0 / (1.0 + std::f64::consts::E);
    assert!((recall.kept[0] - expected).abs() < 1e-12, "{} vs {expected}", recall.kept[0]);
}

/// Recall is measured against causal attention: keys after the query never count, even
/// when the mask keeps them.
#[test]
fn keys_after_the_query_do_not_count() {
    let reference = all_rows(&ragged());
    let with_future = reference.mask_recall(|at| at.key == 0 || at.key > at.query).unwrap();
    let without = reference.mask_recall(|at| at.key == 0).unwrap();
    assert_eq!(with_future, without);
}

#[test]
fn per_head_summary_is_mean_and_min() {
    let recall = Recall { heads: 2, rows: vec![0, 1, 2], kept: vec![1.0, 0.5, 0.4, 0.25, 0.7, 1.0] };
    let expected = [HeadRecall { mean: 0.7, min: 0.4 }, HeadRecall { mean: 0.5833333333333334, min: 0.25 }];
    let got = recall.per_head();
    assert!(got.iter().zip(&expected).all(|(g, e)| (g.mean - e.mean).abs() < 1e-12 && g.min == e.min), "{got:?}");
}

#[test]
fn per_head_summary_shows_a_nan() {
    let recall = Recall { heads: 1, rows: vec![0, 1], kept: vec![0.5, f64::NAN] };
    let summary = recall.per_head()[0];
    assert!(summary.mean.is_nan() && summary.min.is_nan(), "{summary:?}");
}

fn run_dense_kernel(inputs: &AttentionInputs) -> attention::AttentionCase {
    let mut case = dense_case(inputs).unwrap_or_else(|e| panic!("{e}"));
    let ir = lower_source(attention::SOURCE, None, &case.consts).unwrap_or_else(|e| panic!("{e}"));
    interp::run(&ir, &mut case.args).unwrap_or_else(|e| panic!("{e}"));
    case
}

fn output(case: &attention::AttentionCase, index: usize) -> HostTensor {
    match &case.args[index] {
        ArgValue::Tensor(t) => t.clone(),
        other => panic!("argument {index} is {other:?}"),
    }
}

/// dense_case builds a case the dense kernel runs, and its outputs match the reference.
#[test]
fn the_dense_case_runs_on_the_interpreter_and_matches_the_reference() {
    let inputs = ragged();
    let case = run_dense_kernel(&inputs);
    let rows: Vec<usize> = (0..27).collect();
    let expected = case.reference(&rows).unwrap();
    attention::check_outputs(&case.outputs(&rows).unwrap(), &expected).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn dense_case_poisons_its_outputs() {
    let case = dense_case(&ragged()).unwrap();
    let (o, lse) = (output(&case, attention::O), output(&case, attention::LSE));
    assert!(o.data.iter().chain(&lse.data).all(|x| x.is_nan()));
}

/// The dense kernel keeps every key: its lse gives recall 1 up to f32 rounding.
#[test]
fn the_dense_kernels_lse_has_recall_one() {
    let inputs = ragged();
    let case = run_dense_kernel(&inputs);
    let recall = all_rows(&inputs).lse_recall(&output(&case, attention::LSE)).unwrap();
    assert!(recall.kept.iter().all(|x| (x - 1.0).abs() < 1e-5), "{:?}", recall.kept);
}

/// A pattern's lse and its mask give the same recall: lse is ln Σ over the kept keys.
#[test]
fn recall_from_lse_equals_recall_from_the_mask() {
    let inputs = ragged();
    let keep = |at: KeyMask| at.key.is_multiple_of(3) || at.key == at.query;
    let case = dense_case(&inputs).unwrap();
    let rows: Vec<usize> = (0..27).collect();
    let masked = case.reference_masked(&rows, |at| at.is_causal_visible() && keep(at)).unwrap();
    // masked.lse is [rows, H]; a kernel writes [H, T].
    let lse: Vec<f64> =
        (0..4).flat_map(|h| rows.iter().map(move |&r| (r, h))).map(|(r, h)| masked.lse[r * 4 + h]).collect();
    let reference = all_rows(&inputs);
    let from_lse = reference.lse_recall(&HostTensor::from_f64(DType::F32, &[4, 27], lse)).unwrap();
    let from_mask = reference.mask_recall(keep).unwrap();
    let worst = from_lse.kept.iter().zip(&from_mask.kept).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-5, "largest difference {worst}");
}

/// A few rows only: the recall of a row is the same as when every row is measured.
#[test]
fn measuring_some_rows_gives_those_rows_recall() {
    let inputs = ragged();
    let keep = |at: KeyMask| at.key + 2 >= at.query;
    let some = DenseReference::new(&inputs, &[3, 19]).unwrap().mask_recall(keep).unwrap();
    let every = all_rows(&inputs).mask_recall(keep).unwrap();
    assert_eq!(some.kept, [&every.kept[12..16], &every.kept[76..80]].concat());
}

fn dense_o(inputs: &AttentionInputs) -> HostTensor {
    let reference = all_rows(inputs);
    let t = inputs.seqlens.iter().sum::<usize>();
    HostTensor { dtype: DType::F32, shape: vec![t, 4, 16], data: reference.outputs().o.clone() }
}

#[test]
fn the_dense_output_has_no_error() {
    let inputs = ragged();
    let error = all_rows(&inputs).output_error(&dense_o(&inputs)).unwrap();
    assert_eq!((error.total.rel_l2, error.total.non_finite), (0.0, 0));
}

#[test]
fn output_error_is_attributed_to_the_head_that_differs() {
    let inputs = ragged();
    let mut o = dense_o(&inputs);
    for row in 0..27 {
        o.data[(row * 4 + 1) * 16 + 3] += 0.25;
    }
    let error = all_rows(&inputs).output_error(&o).unwrap();
    let rel: Vec<f64> = error.per_head.iter().map(|a| a.rel_l2).collect();
    assert!(rel[0] == 0.0 && rel[1] > 0.01 && rel[2] == 0.0 && rel[3] == 0.0, "{rel:?}");
}

#[test]
fn an_unwritten_output_row_is_counted() {
    let inputs = ragged();
    let mut o = dense_o(&inputs);
    o.data[5 * 64..6 * 64].fill(f64::NAN);
    let error = all_rows(&inputs).output_error(&o).unwrap();
    assert_eq!(error.total.non_finite, 64);
}

/// Inputs are checked as every sparse pattern checks them.
#[test]
fn k_with_another_head_dim_is_rejected() {
    let mut inputs = ragged();
    inputs.k = HostTensor::zeros(DType::BF16, &[27, 2, 32]);
    assert!(matches!(dense_case(&inputs), Err(RecallError::Input(InputError::KvShape { name: "k", .. }))));
}

#[test]
fn q_rows_that_do_not_match_the_lengths_are_rejected() {
    let mut inputs = ragged();
    inputs.seqlens = vec![7, 21];
    assert_eq!(dense_case(&inputs).err(), Some(RecallError::Input(InputError::Tokens { sum: 28, tokens: 27 })));
}

#[test]
fn heads_that_kv_heads_do_not_divide_are_rejected() {
    let mut inputs = ragged();
    inputs.q = HostTensor::zeros(DType::BF16, &[27, 3, 16]);
    let err = dense_case(&inputs).err();
    assert_eq!(err, Some(RecallError::Input(InputError::Shape(ShapeError::HeadsNotGrouped { heads: 3, kv_heads: 2 }))));
}

#[test]
fn f32_inputs_are_rejected() {
    let mut inputs = ragged();
    inputs.v = HostTensor::zeros(DType::F32, &[27, 2, 16]);
    assert!(matches!(dense_case(&inputs), Err(RecallError::Input(InputError::DType { name: "v", .. }))));
}

#[test]
fn an_lse_of_another_shape_is_rejected() {
    let lse = HostTensor::zeros(DType::F32, &[27, 4]);
    let err = all_rows(&ragged()).lse_recall(&lse).err();
    assert_eq!(err, Some(RecallError::OutputShape { name: "lse", expected: vec![4, 27], got: vec![27, 4] }));
}

#[test]
fn an_o_of_another_shape_is_rejected() {
    let o = HostTensor::zeros(DType::F32, &[27, 4, 8]);
    let err = all_rows(&ragged()).output_error(&o).err();
    assert_eq!(err, Some(RecallError::OutputShape { name: "o", expected: vec![27, 4, 16], got: vec![27, 4, 8] }));
}

#[test]
fn no_rows_is_rejected() {
    assert_eq!(DenseReference::new(&ragged(), &[]).err(), Some(RecallError::NoRows));
}

#[test]
fn a_row_past_the_end_is_rejected() {
    let err = DenseReference::new(&ragged(), &[27]).err();
    assert_eq!(err, Some(RecallError::Shape(ShapeError::Row { row: 27, tokens: 27 })));
}
