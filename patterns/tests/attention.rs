//! attention.tile end to end on the CPU: through the front end and the interpreter against
//! the f64 reference on ragged packed sequences with grouped-query heads (outputs poisoned
//! with NaN, so a row left unwritten fails), and through code generation to PTX that uses
//! tensor cores and assembles without spills; in bf16 and in f16 (`DT`).

use rand::SeedableRng;
use sparsefill_compiler::codegen::{ptxas, CodegenOptions, PingPong};
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::print::print_kernel;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_compiler::{compile_ir_with, lower_source};
use sparsefill_patterns::accuracy::{compare, Accuracy};
use sparsefill_patterns::attention::{self, AttentionShape};

/// Interpreter shapes stay tiny: it evaluates every dot element by element.
fn shape(causal: bool) -> AttentionShape {
    AttentionShape { seqlens: vec![5, 70], heads: 4, kv_heads: 2, head_dim: 64, causal }
}

/// Runs the case on the interpreter and compares every row of o and lse with the reference.
fn check_on_interpreter(shape: AttentionShape, block: usize, seed: u64) {
    check_on_interpreter_in(shape, block, DType::BF16, seed);
}

/// [`check_on_interpreter`] with q, k, v and o in `dtype`; returns o's accuracy.
fn check_on_interpreter_in(shape: AttentionShape, block: usize, dtype: DType, seed: u64) -> Accuracy {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut case = attention::case_in(&shape, block, dtype, &mut rng).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
    let ir = lower_source(attention::SOURCE, None, &case.consts).unwrap_or_else(|e| panic!("{:?}: {e}", case.consts));
    interp::run(&ir, &mut case.args).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
    let rows: Vec<usize> = (0..shape.tokens()).collect();
    let expected = case.reference(&rows).unwrap_or_else(|e| panic!("{e}"));
    let got = case.outputs(&rows).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = attention::check_outputs(&got, &expected) {
        panic!("{shape:?} block {block} {dtype}: {e}");
    }
    compare(&HostTensor::from_f64(DType::F32, &[got.o.len()], got.o), &expected.o)
}

#[test]
fn causal_block_16_matches_reference() {
    check_on_interpreter(shape(true), 16, 1);
}

#[test]
fn causal_block_32_matches_reference() {
    check_on_interpreter(shape(true), 32, 2);
}

#[test]
fn non_causal_block_16_matches_reference() {
    check_on_interpreter(shape(false), 16, 3);
}

#[test]
fn non_causal_block_32_matches_reference() {
    check_on_interpreter(shape(false), 32, 4);
}

#[test]
fn one_token_sequences_match_reference() {
    let shape = AttentionShape { seqlens: vec![1, 1, 3], heads: 2, kv_heads: 1, head_dim: 16, causal: true };
    check_on_interpreter(shape, 16, 5);
}

#[test]
fn f16_causal_block_16_matches_reference() {
    check_on_interpreter_in(shape(true), 16, DType::F16, 21);
}

#[test]
fn f16_non_causal_block_32_matches_reference() {
    check_on_interpreter_in(shape(false), 32, DType::F16, 22);
}

#[test]
fn f16_one_token_sequences_match_reference() {
    let shape = AttentionShape { seqlens: vec![1, 1, 3], heads: 2, kv_heads: 1, head_dim: 16, causal: true };
    check_on_interpreter_in(shape, 16, DType::F16, 23);
}

/// f16 keeps 3 more significant bits than bf16, so if the f16 specialization really
/// rounds p and o to f16 (not bf16), its error is several times smaller on the same
/// shape; both runs take one seed, so their inputs differ only in their rounding.
#[test]
fn f16_is_more_accurate_than_bf16() {
    let bf16 = check_on_interpreter_in(shape(true), 16, DType::BF16, 24);
    let f16 = check_on_interpreter_in(shape(true), 16, DType::F16, 24);
    eprintln!("o rel_l2: bf16 {:.2e}, f16 {:.2e}", bf16.rel_l2, f16.rel_l2);
    assert!(f16.rel_l2 * 4.0 < bf16.rel_l2, "bf16 {bf16}, f16 {f16}");
}

#[test]
fn sequences_of_whole_blocks_match_reference() {
    let shape = AttentionShape { seqlens: vec![32, 16], heads: 2, kv_heads: 2, head_dim: 32, causal: true };
    check_on_interpreter(shape, 16, 6);
}

/// The tail block of a sequence overhangs into the rows after it; none of those may be
/// written. With cu_seqlens cut to the first sequence, the second one's rows belong to
/// no sequence and must keep their NaN poison.
#[test]
fn rows_after_the_last_sequence_are_never_written() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut case = attention::case(&shape(true), 16, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    case.args[attention::CU_SEQLENS] = ArgValue::Tensor(HostTensor::from_f64(DType::I32, &[2], vec![0.0, 5.0]));
    let ir = lower_source(attention::SOURCE, None, &case.consts).unwrap_or_else(|e| panic!("{e}"));
    interp::run(&ir, &mut case.args).unwrap_or_else(|e| panic!("{e}"));
    let outside: Vec<usize> = (5..75).collect();
    let got = case.outputs(&outside).unwrap_or_else(|e| panic!("{e}"));
    assert!(got.o.iter().chain(&got.lse).all(|x| x.is_nan()));
}

fn f16_ir() -> String {
    let consts = [("DT".to_string(), ConstValue::DType(DType::F16))];
    let ir = lower_source(attention::SOURCE, None, &consts).unwrap_or_else(|e| panic!("DT f16: {e}"));
    print_kernel(&ir)
}

fn default_ptx(d: usize, causal: bool, arch: Arch) -> String {
    default_ptx_in(d, causal, DType::BF16, arch)
}

fn default_ptx_in(d: usize, causal: bool, dtype: DType, arch: Arch) -> String {
    variant_ptx(d, causal, dtype, arch, None)
}

/// [`default_ptx_in`] (the .tile's default tiles, no contract), or, when `aligned`, what
/// launches on contiguous inputs run: the key tile [`attention::block_n`] picks for `arch`
/// and the `aligned` contract on q, k, v, cu_seqlens, o, and on lse too when `lse_aligned`.
fn variant_ptx(d: usize, causal: bool, dtype: DType, arch: Arch, aligned: Option<bool>) -> String {
    variant_ptx_with(d, causal, dtype, arch, aligned, &CodegenOptions::default())
}

fn variant_ptx_with(
    d: usize,
    causal: bool,
    dtype: DType,
    arch: Arch,
    aligned: Option<bool>,
    options: &CodegenOptions,
) -> String {
    let mut consts = vec![
        ("D".to_string(), ConstValue::Int(d as i64)),
        ("CAUSAL".to_string(), ConstValue::Bool(causal)),
        ("DT".to_string(), ConstValue::DType(dtype)),
    ];
    if aligned.is_some() {
        consts.push(("BN".to_string(), ConstValue::Int(attention::block_n(arch, true) as i64)));
    }
    let mut ir = lower_source(attention::SOURCE, None, &consts).unwrap_or_else(|e| panic!("D {d} {dtype}: {e}"));
    if let Some(lse_aligned) = aligned {
        for name in attention::ALIGNED_ON_CONTIGUOUS {
            assert!(ir.set_aligned(name, true), "attention.tile has no tensor `{name}`");
        }
        ir.set_aligned("lse", lse_aligned);
    }
    compile_ir_with(&ir, arch, options).unwrap_or_else(|e| panic!("D {d} causal {causal} {dtype} for {arch}: {e}")).ptx
}

/// The aligned sm_90a variants with `CodegenOptions::decoupled` (warps release TMA stages
/// on mbarriers; opt-in, not yet run on a GPU) release stages per warp and assemble
/// without spills.
#[test]
fn decoupled_aligned_variants_assemble_without_spills_on_sm90a() {
    if !ptxas::available_for_tests("attention.tile") {
        return;
    }
    let options = CodegenOptions { decoupled: true, ..CodegenOptions::default() };
    for causal in [true, false] {
        let ptx = variant_ptx_with(128, causal, DType::BF16, Arch::Sm90a, Some(true), &options);
        assert!(ptx.contains("mbarrier.arrive.shared::cta.b64"), "causal {causal}: no warp releases a stage");
        let report = ptxas::assemble(&ptx, Arch::Sm90a).unwrap_or_else(|e| panic!("causal {causal}: {e}"));
        assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
    }
}

/// With `CodegenOptions::pingpong`, the aligned sm_90a variants' unmasked loop takes turns
/// between the two warpgroups (named barriers 1 and 2, around the loop's products; the
/// masked loop, whose softmax sits between its products, does not) and still assembles
/// without spills or serialized wgmma.
#[test]
fn pingpong_aligned_variants_take_turns_and_assemble_on_sm90a() {
    if !ptxas::available_for_tests("attention.tile") {
        return;
    }
    let options = CodegenOptions { pingpong: PingPong::All, ..CodegenOptions::default() };
    for causal in [true, false] {
        let ptx = variant_ptx_with(128, causal, DType::BF16, Arch::Sm90a, Some(true), &options);
        // One loop takes turns: the hand-over that opens them and the one in its body.
        assert_eq!(ptx.matches("bar.arrive").count(), 2, "causal {causal}");
        let report = ptxas::assemble(&ptx, Arch::Sm90a).unwrap_or_else(|e| panic!("causal {causal}: {e}"));
        assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
    }
}

/// With `CodegenOptions::specialize` (the default), the aligned sm_90a variants get a producer warpgroup
/// (384 threads at one program per SM, registers moved by `setmaxnreg`) and assemble
/// without spills or serialized wgmma.
#[test]
fn specialized_aligned_variants_take_a_producer_and_assemble_on_sm90a() {
    if !ptxas::available_for_tests("attention.tile") {
        return;
    }
    for causal in [true, false] {
        let ptx = variant_ptx(128, causal, DType::BF16, Arch::Sm90a, Some(true));
        let split = [".maxntid 384", ".minnctapersm 1", "setmaxnreg.inc.sync.aligned.u32 240;", "setmaxnreg.dec"];
        assert_eq!(split.map(|s| ptx.contains(s)), [true; 4], "causal {causal}");
        let report = ptxas::assemble(&ptx, Arch::Sm90a).unwrap_or_else(|e| panic!("causal {causal}: {e}"));
        assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
        assert_eq!(report.wgmma_stall(), None, "causal {causal}");
    }
}

#[test]
fn sm_80_ptx_uses_mma_sync() {
    assert!(default_ptx(128, true, Arch::Sm80).contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
}

#[test]
fn sm_90a_ptx_uses_wgmma_by_default() {
    let ptx = default_ptx(128, true, Arch::Sm90a);
    assert!(ptx.contains("wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16") && !ptx.contains("mma.sync.aligned"));
}

#[test]
fn f16_ptx_uses_f16_tensor_core_instructions_only() {
    let sm80 = default_ptx_in(128, true, DType::F16, Arch::Sm80);
    assert!(sm80.contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32") && !sm80.contains("bf16"));
    let sm90a = default_ptx_in(128, true, DType::F16, Arch::Sm90a);
    assert!(sm90a.contains("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16") && !sm90a.contains("bf16"));
}

/// The f16 specialization keeps lse and the accumulator in f32 and has no bf16 left.
#[test]
fn f16_specialization_is_f16_through() {
    let ir = f16_ir();
    assert!(!ir.contains("bf16"), "{ir}");
    for param in ["%q: tensor<f16>", "%k: tensor<f16>", "%v: tensor<f16>", "%o: tensor<f16>", "%lse: tensor<f32>"] {
        assert!(ir.contains(param), "{param} missing in\n{ir}");
    }
}

/// The shipped specialization for head dim `d`, causal and not, as compiled and as the
/// runtime specializes it for aligned inputs.
fn check_assembles_without_spills(d: usize, arch: Arch) {
    check_assembles_without_spills_in(d, DType::BF16, arch);
}

fn check_assembles_without_spills_in(d: usize, dtype: DType, arch: Arch) {
    if !ptxas::available_for_tests("attention.tile") {
        return;
    }
    let variants = [None, Some(false), Some(true)];
    for (causal, aligned) in [true, false].into_iter().flat_map(|c| variants.map(|a| (c, a))) {
        let report = ptxas::assemble(&variant_ptx(d, causal, dtype, arch, aligned), arch)
            .unwrap_or_else(|e| panic!("D {d} causal {causal} aligned {aligned:?} {dtype} {arch}: {e}"));
        eprintln!(
            "D {d} causal {causal} aligned {aligned:?} {dtype} on {arch}: {} registers, {} bytes shared",
            report.registers, report.shared_bytes
        );
        assert_eq!((report.spill_stores, report.spill_loads, report.stack_bytes), (0, 0, 0), "{}", report.raw);
        // ptxas reports it when it must serialize the kernel's wgmma (C7513 and kin) or wait for a product early (C7517).
        assert_eq!(report.wgmma_stall(), None, "D {d} causal {causal} aligned {aligned:?}");
    }
}

/// The unmasked loop is software-pipelined: a tile's softmax waits for its scores alone,
/// while the previous tile's product with the values still runs.
#[test]
fn softmax_overlaps_the_previous_tiles_product_on_sm90a() {
    for aligned in [None, Some(true)] {
        let ptx = variant_ptx(128, true, DType::BF16, Arch::Sm90a, aligned);
        assert!(ptx.contains("wgmma.wait_group.sync.aligned 1;"), "aligned {aligned:?}: no product left running");
    }
}

#[test]
fn f16_head_dim_64_assembles_without_spills_on_sm80() {
    check_assembles_without_spills_in(64, DType::F16, Arch::Sm80);
}

#[test]
fn f16_head_dim_64_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills_in(64, DType::F16, Arch::Sm90a);
}

#[test]
fn f16_head_dim_128_assembles_without_spills_on_sm80() {
    check_assembles_without_spills_in(128, DType::F16, Arch::Sm80);
}

#[test]
fn f16_head_dim_128_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills_in(128, DType::F16, Arch::Sm90a);
}

#[test]
fn head_dim_64_assembles_without_spills_on_sm80() {
    check_assembles_without_spills(64, Arch::Sm80);
}

#[test]
fn head_dim_64_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills(64, Arch::Sm90a);
}

#[test]
fn head_dim_128_assembles_without_spills_on_sm80() {
    check_assembles_without_spills(128, Arch::Sm80);
}

#[test]
fn head_dim_128_assembles_without_spills_on_sm90a() {
    check_assembles_without_spills(128, Arch::Sm90a);
}

/// K with another head dim than Q is rejected before anything runs, naming both.
#[test]
fn head_dims_that_differ_between_q_and_k_are_rejected() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut case = attention::case(&shape(true), 16, &mut rng).unwrap();
    let ir = lower_source(attention::SOURCE, None, &case.consts).unwrap();
    let tokens = shape(true).tokens();
    case.args[attention::K] = ArgValue::Tensor(HostTensor::zeros(DType::BF16, &[tokens, 2, 32]));
    let err = interp::run(&ir, &mut case.args).unwrap_err();
    assert_eq!(err.to_string(), "dimension `D` of `k` is 32, but the kernel was specialized with D = 64");
}

/// A fresh valid case's arguments, for the argument checks below to break one at a time.
fn valid_args() -> Vec<ArgValue> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    attention::case(&shape(true), 16, &mut rng).unwrap().args
}

fn check_rejected(args: &[ArgValue], expected: &str) {
    assert_eq!(attention::check_args(args).map_err(|e| e.to_string()), Err(expected.to_string()));
}

#[test]
fn valid_arguments_pass_the_checks() {
    assert_eq!(attention::check_args(&valid_args()).map_err(|e| e.to_string()), Ok(()));
}

#[test]
fn kv_heads_that_do_not_divide_the_heads_are_rejected() {
    let mut args = valid_args();
    args[attention::K] = ArgValue::Tensor(HostTensor::zeros(DType::BF16, &[75, 3, 64]));
    check_rejected(
        &args,
        "q has 4 heads and k/v 3; the kv head count must divide the query head count (grouped-query attention)",
    );
}

#[test]
fn cu_seqlens_that_do_not_increase_are_rejected() {
    let mut args = valid_args();
    args[attention::CU_SEQLENS] = ArgValue::Tensor(HostTensor::from_f64(DType::I32, &[3], vec![0.0, 40.0, 40.0]));
    check_rejected(&args, "cu_seqlens must increase: cu_seqlens[2] = 40 is not above cu_seqlens[1] = 40");
}

#[test]
fn cu_seqlens_past_the_tensor_are_rejected() {
    let mut args = valid_args();
    args[attention::CU_SEQLENS] = ArgValue::Tensor(HostTensor::from_f64(DType::I32, &[3], vec![0.0, 5.0, 80.0]));
    check_rejected(&args, "cu_seqlens ends at 80, past the 75 tokens q, k and v hold");
}

#[test]
fn cu_seqlens_not_starting_at_zero_are_rejected() {
    let mut args = valid_args();
    args[attention::CU_SEQLENS] = ArgValue::Tensor(HostTensor::from_f64(DType::I32, &[3], vec![1.0, 5.0, 75.0]));
    check_rejected(&args, "cu_seqlens must start at 0; got cu_seqlens[0] = 1");
}

#[test]
fn max_seqlen_below_a_sequence_is_rejected() {
    let mut args = valid_args();
    args[attention::MAX_SEQLEN] = ArgValue::I32(64);
    check_rejected(&args, "max_seqlen is 64, but sequence 1 has 70 tokens; programs past max_seqlen would never run");
}

/// Eight heads over two kv heads: the launch order interleaves each group of four
/// (`launch_slot`); every row must still be written once.
#[test]
fn gqa_groups_side_by_side_match_reference() {
    let shape = AttentionShape { seqlens: vec![40, 19], heads: 8, kv_heads: 2, head_dim: 16, causal: true };
    check_on_interpreter(shape, 16, 8);
}

/// Six heads in groups of three, not causal (rank order is block order).
#[test]
fn groups_of_three_match_reference() {
    let shape = AttentionShape { seqlens: vec![40, 19], heads: 6, kv_heads: 2, head_dim: 16, causal: false };
    check_on_interpreter(shape, 16, 10);
}

/// A kernel that records, for each (rank, head) that `launch_slot` hands out, the linear
/// launch index of the program that got it.
const LAUNCH_SLOTS: &str = "
kernel launch_slots(slot: tensor<i32>[H, NB], kv: tensor<i32>[HKV]) grid(NB, H) warps(1) {
    let (rank, h) = launch_slot(program_id(0), program_id(1), NB, H, HKV);
    slot[h, rank] = program_id(0) + program_id(1) * NB;
}
";

/// The launch order `launch_slot` gives `heads` heads over `kv_heads` with `blocks`
/// blocks each, as (rank, head) per launch index.
fn launch_order(heads: usize, kv_heads: usize, blocks: usize) -> Vec<(usize, usize)> {
    let source = format!("{}{LAUNCH_SLOTS}", attention::SOURCE);
    let ir = lower_source(&source, Some("launch_slots"), &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut args = vec![
        ArgValue::Tensor(HostTensor::filled(DType::I32, &[heads, blocks], -1.0)),
        ArgValue::Tensor(HostTensor::zeros(DType::I32, &[kv_heads])),
    ];
    interp::run(&ir, &mut args).unwrap_or_else(|e| panic!("{e}"));
    let ArgValue::Tensor(slot) = &args[0] else { panic!("slot is a tensor") };
    let mut order = vec![None; heads * blocks];
    for (at, &launch) in slot.data.iter().enumerate() {
        let launch = usize::try_from(launch as i64).unwrap_or_else(|_| panic!("slot {at} never handed out"));
        assert!(order[launch].replace((at % blocks, at / blocks)).is_none(), "launch {launch} handed out twice");
    }
    order.into_iter().map(|slot| slot.unwrap_or_else(|| panic!("a launch got no slot"))).collect()
}

/// The order the launch follows, written as loops: groups of `width` heads one after
/// the other; in a group, ranks in order, and the group's heads side by side in each rank.
fn groups_of(width: usize, heads: usize, blocks: usize) -> Vec<(usize, usize)> {
    let groups = (0..heads / width).flat_map(|g| (0..blocks).map(move |rank| (g, rank)));
    groups.flat_map(|(g, rank)| (g * width..(g + 1) * width).map(move |h| (rank, h))).collect()
}

#[test]
fn launch_order_runs_the_heads_of_a_gqa_group_side_by_side() {
    assert_eq!(launch_order(8, 2, 5), groups_of(4, 8, 5));
}

#[test]
fn launch_order_runs_groups_of_three() {
    assert_eq!(launch_order(6, 2, 4), groups_of(3, 6, 4));
}

#[test]
fn launch_order_without_gqa_is_head_by_head() {
    assert_eq!(launch_order(4, 4, 3), groups_of(1, 4, 3));
}

#[test]
fn launch_order_with_one_kv_head_interleaves_every_head() {
    assert_eq!(launch_order(16, 1, 3), groups_of(16, 16, 3));
}
