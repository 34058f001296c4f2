//! Warp specialization ([`crate::codegen::specialize`]): which kernels take a producer
//! warpgroup, what each slice of the body holds, and how the registers are split.

use super::pipeline::GEMM;
use super::{check_assembles_with, check_no_spills, emit_ok_with};
use crate::codegen::specialize::{producer_slice, Split, PRODUCER_REGISTERS, PRODUCER_THREADS};
use crate::codegen::{CodegenOptions, MmaLowering, PingPong, PtxModule, Specialize, REGISTERS_PER_SM};
use crate::ir::{ConstValue, Kernel};
use crate::lower_source;
use crate::target::Arch;

const SPECIALIZED: CodegenOptions = CodegenOptions {
    mma: MmaLowering::Wgmma,
    tma: true,
    decoupled: false,
    pingpong: PingPong::Wide,
    specialize: Specialize::Early,
};
const WHOLE: CodegenOptions = CodegenOptions { specialize: Specialize::Off, ..SPECIALIZED };

const BULK_COPY: &str = "cp.async.bulk.tensor";

fn kernel(source: &str, consts: &[(&str, i64)], aligned: &[&str]) -> Kernel {
    let consts: Vec<(String, ConstValue)> = consts.iter().map(|(n, v)| (n.to_string(), ConstValue::Int(*v))).collect();
    let mut k = lower_source(source, None, &consts).unwrap_or_else(|e| panic!("test kernel does not compile: {e}"));
    for name in aligned {
        assert!(k.set_aligned(name, true), "no tensor `{name}`");
    }
    k
}

/// The pipeline tests' GEMM (one warpgroup, a loop whose product completes a loop later)
/// with `bm` rows and 64-column tiles, which TMA copies where `a` and `b` are aligned.
fn gemm(bm: i64, aligned: &[&str]) -> Kernel {
    kernel(GEMM, &[("BM", bm), ("BK", 64)], aligned)
}

/// The producer's slice of `k` on sm_90a with wgmma, or why there is none.
fn analyze(k: &Kernel) -> Result<crate::codegen::specialize::ProducerSlice, String> {
    let plan = crate::codegen::plan::assign(k).map_err(|e| e.to_string())?;
    let format = crate::codegen::operand_tile::OperandFormat::for_target(Arch::Sm90a, MmaLowering::Wgmma);
    producer_slice(k, &plan.placements, format)
}

fn emit(k: &Kernel, arch: Arch, options: &CodegenOptions) -> PtxModule {
    emit_ok_with(k, arch, options)
}

/// The instructions reachable from `marker` (the first instruction of a slice, its
/// `setmaxnreg`), following branches and fall-throughs between the PTX's labeled blocks.
fn slice_of(ptx: &str, marker: &str) -> Vec<String> {
    let mut blocks: Vec<(Option<String>, Vec<String>)> = vec![(None, Vec::new())];
    for line in ptx.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.strip_suffix(':') {
            Some(label) if label.starts_with("$L") => blocks.push((Some(label.to_string()), Vec::new())),
            _ => blocks.last_mut().map_or((), |b| b.1.push(line.to_string())),
        }
    }
    let start = blocks
        .iter()
        .position(|(_, lines)| lines.iter().any(|l| l.contains(marker)))
        .unwrap_or_else(|| panic!("no `{marker}` in the PTX"));
    let from = blocks[start].1.iter().position(|l| l.contains(marker)).unwrap_or(0);
    let mut seen = vec![false; blocks.len()];
    let mut out = Vec::new();
    let mut work = vec![(start, from)];
    while let Some((b, from)) = work.pop() {
        if std::mem::replace(&mut seen[b], true) && from == 0 {
            continue;
        }
        let lines = &blocks[b].1[from..];
        out.extend(lines.iter().cloned());
        let mut falls_through = true;
        for line in lines {
            if let Some((before, target)) = line.split_once("bra") {
                let target = target.trim_start_matches(".uni").trim().trim_end_matches(';').trim();
                let to = blocks.iter().position(|(l, _)| l.as_deref() == Some(target));
                work.push((to.unwrap_or_else(|| panic!("branch to unknown `{target}`")), 0));
                falls_through &= before.trim().starts_with('@');
            }
            falls_through &= !line.starts_with("ret;");
        }
        if falls_through && b + 1 < blocks.len() {
            work.push((b + 1, 0));
        }
    }
    out
}

fn consumer_slice(ptx: &str) -> Vec<String> {
    slice_of(ptx, "setmaxnreg.inc")
}

fn producer_slice_ptx(ptx: &str) -> Vec<String> {
    slice_of(ptx, "setmaxnreg.dec")
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

/// `bar.sync` instructions of `lines` with the barrier id and count as written.
fn barriers(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("bar.sync"))
        .map(|l| l.trim_start_matches("bar.sync").trim().trim_end_matches(';').split_whitespace().collect())
        .collect()
}

#[test]
fn one_consumer_warpgroup_runs_two_programs_per_sm_at_232_registers() {
    let split = Split::of(128, None);
    assert_eq!(
        split,
        Some(Split { consumer_threads: 128, programs_per_sm: 2, entry_registers: 128, consumer_registers: 232 })
    );
}

#[test]
fn two_consumer_warpgroups_take_240_registers_as_flash_attention_3() {
    let split = Split::of(256, None);
    assert_eq!(
        split,
        Some(Split { consumer_threads: 256, programs_per_sm: 1, entry_registers: 168, consumer_registers: 240 })
    );
}

#[test]
fn a_split_needs_whole_consumer_warpgroups_and_at_most_1024_threads() {
    assert_eq!([Split::of(64, None), Split::of(96, None), Split::of(1024, None)], [None, None, None]);
}

#[test]
fn the_producer_lowers_every_copy_and_the_consumers_none() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &SPECIALIZED).ptx;
    let (consumer, producer) = (consumer_slice(&ptx), producer_slice_ptx(&ptx));
    assert_eq!(
        [count(&consumer, BULK_COPY), count(&producer, BULK_COPY), count(&producer, "wgmma")],
        [0, 2, 0],
        "consumers:\n{}\nproducer:\n{}",
        consumer.join("\n"),
        producer.join("\n")
    );
}

#[test]
fn the_consumers_compute_every_product() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &SPECIALIZED).ptx;
    assert!(count(&consumer_slice(&ptx), "wgmma.mma_async") > 0, "{ptx}");
}

#[test]
fn consumers_sync_among_themselves_on_named_barrier_1() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &SPECIALIZED).ptx;
    let consumer = barriers(&consumer_slice(&ptx));
    let others: Vec<&String> = consumer.iter().filter(|b| b.as_str() != "0").collect();
    assert!(!others.is_empty() && others.iter().all(|b| b.as_str() == "1,128"), "consumer barriers: {consumer:?}");
}

/// The GEMM's loop is the first code that uses shared memory: the producer initializes its
/// barriers before the one CTA barrier both slices meet, at kernel start.
#[test]
fn a_loop_on_fresh_shared_memory_starts_its_copies_at_kernel_start() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &SPECIALIZED).ptx;
    let (consumer, producer) = (consumer_slice(&ptx), producer_slice_ptx(&ptx));
    let zero = |lines: &[String]| barriers(lines).iter().filter(|b| b.as_str() == "0").count();
    assert_eq!(
        [count(&producer, "mbarrier.init"), count(&consumer, "mbarrier.init"), zero(&producer), zero(&consumer)],
        [4, 0, 1, 1],
        "producer:\n{}",
        producer.join("\n")
    );
}

/// Two loops one after the other, the second on the first's released stages.
const TWO_LOOPS: &str = r#"
kernel mm_twice(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N], d: tensor<f32>[M, N]) grid(1) warps(4) {
    let mut x = zeros([64, 64]);
    for k0 in (0 .. K).step_by(64) {
        x = x + dot(a[0 .. 64, k0 .. k0 + 64], b[k0 .. k0 + 64, 0 .. 64]);
    }
    c[0 .. 64, 0 .. 64] = x;
    let mut y = zeros([64, 64]);
    for k0 in (0 .. K).step_by(64) {
        y = y + dot(a[64 .. 128, k0 .. k0 + 64], b[k0 .. k0 + 64, 0 .. 64]);
    }
    d[0 .. 64, 0 .. 64] = y;
}
"#;

/// The second loop reuses shared memory the first (and the store between) used: the
/// consumers initialize its barriers, then meet the producer.
#[test]
fn a_loop_on_reused_shared_memory_meets_the_producer_after_its_barriers_are_initialized() {
    let ptx = emit(&kernel(TWO_LOOPS, &[], &["a", "b"]), Arch::Sm90a, &SPECIALIZED).ptx;
    let (consumer, producer) = (consumer_slice(&ptx), producer_slice_ptx(&ptx));
    let zero = |lines: &[String]| barriers(lines).iter().filter(|b| b.as_str() == "0").count();
    assert_eq!(
        [count(&producer, "mbarrier.init"), count(&consumer, "mbarrier.init"), zero(&producer), zero(&consumer)],
        [4, 4, 2, 2],
        "consumers:\n{}",
        consumer.join("\n")
    );
}

#[test]
fn each_consumer_warp_releases_a_stage_once_per_iteration() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &SPECIALIZED).ptx;
    let consumer = consumer_slice(&ptx);
    assert_eq!(count(&consumer, "mbarrier.arrive.shared::cta.b64"), 1, "{}", consumer.join("\n"));
}

#[test]
fn registers_move_from_the_producer_to_the_consumers() {
    let module = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &SPECIALIZED);
    let ptx = &module.ptx;
    let declared = [".maxntid 256", ".minnctapersm 2"].map(|d| ptx.contains(d));
    let moved = [
        count(&consumer_slice(ptx), "setmaxnreg.inc.sync.aligned.u32 232;"),
        count(&producer_slice_ptx(ptx), "setmaxnreg.dec.sync.aligned.u32 24;"),
    ];
    assert_eq!((module.threads, declared, moved, ptx.contains(".maxnreg")), (256, [true; 2], [1, 1], false));
}

#[test]
fn occupancy_declares_its_programs_and_moves_their_share_of_registers() {
    let mut k = gemm(64, &["a", "b"]);
    k.occupancy = Some(3);
    let module = emit(&k, Arch::Sm90a, &SPECIALIZED);
    let ptx = &module.ptx;
    let moved = [
        count(&consumer_slice(ptx), "setmaxnreg.inc.sync.aligned.u32 136;"),
        count(&producer_slice_ptx(ptx), "setmaxnreg.dec.sync.aligned.u32 24;"),
    ];
    assert_eq!((ptx.contains(".minnctapersm 3"), moved), (true, [1, 1]), "{ptx}");
}

#[test]
fn a_kernel_without_tma_copies_is_lowered_whole() {
    let k = gemm(64, &[]);
    assert_eq!(emit(&k, Arch::Sm90a, &SPECIALIZED), emit(&k, Arch::Sm90a, &WHOLE));
}

#[test]
fn sm_80_lowers_the_kernel_whole() {
    let k = gemm(64, &["a", "b"]);
    assert_eq!(emit(&k, Arch::Sm80, &SPECIALIZED), emit(&k, Arch::Sm80, &WHOLE));
}

/// A GEMM whose rows start at `m0`, which `prelude` defines (from `offsets`, say).
fn gemm_from_row(prelude: &str) -> String {
    format!(
        "kernel mm_offset(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N], offsets: tensor<i32>[L]) grid(1) warps(4) {{
    {prelude}
    let mut acc = zeros([64, 64]);
    for k0 in (0 .. K).step_by(64) {{
        acc = acc + dot(a[m0 .. m0 + 64, k0 .. k0 + 64], b[k0 .. k0 + 64, 0 .. 64]);
    }}
    c[0 .. 64, 0 .. 64] = acc;
}}"
    )
}

/// The rows start where a sum of `offsets` says: the producer would need a reduction.
const ROWS_FROM_A_SUM: &str = "let m0 = sum(offsets[0 .. 16], axis: 0);";

#[test]
fn a_fed_loop_whose_corner_needs_a_reduction_is_not_split() {
    let k = kernel(&gemm_from_row(ROWS_FROM_A_SUM), &[], &["a", "b"]);
    let why = analyze(&k).expect_err("the kernel was split");
    assert!(why.contains("computed by `reduce_sum`"), "{why}");
}

#[test]
fn a_kernel_the_producer_cannot_feed_is_lowered_whole() {
    let k = kernel(&gemm_from_row(ROWS_FROM_A_SUM), &[], &["a", "b"]);
    assert_eq!(emit(&k, Arch::Sm90a, &SPECIALIZED), emit(&k, Arch::Sm90a, &WHOLE));
}

#[test]
fn specialized_gemms_assemble_without_spills_or_serialization() {
    for bm in [64, 128] {
        let reports = check_assembles_with(&gemm(bm, &["a", "b"]), &SPECIALIZED);
        check_no_spills(&reports);
        for (arch, report) in &reports {
            assert_eq!(report.wgmma_stall(), None, "BM {bm} on {arch}");
        }
    }
}

/// The GEMM's loop inside an `if`; with `AFTER`, a tile is stored after the `if`, on shared
/// memory the skipped loop's barriers would still hold.
const LOOP_IN_AN_IF: &str = r#"
kernel mm_if<AFTER: bool = false>(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N], n: i32) grid(1) warps(4) {
    if n > 0 {
        let mut x = zeros([64, 64]);
        for k0 in (0 .. K).step_by(64) {
            x = x + dot(a[0 .. 64, k0 .. k0 + 64], b[k0 .. k0 + 64, 0 .. 64]);
        }
        c[0 .. 64, 0 .. 64] = x;
    }
    if AFTER {
        c[64 .. 128, 0 .. 64] = cast<f32>(trans(a[0 .. 64, 0 .. 64]));
    }
}
"#;

fn loop_in_an_if(after: bool) -> Kernel {
    let consts = [("AFTER".to_string(), ConstValue::Bool(after))];
    let mut k = lower_source(LOOP_IN_AN_IF, None, &consts).unwrap_or_else(|e| panic!("test kernel: {e}"));
    for name in ["a", "b"] {
        assert!(k.set_aligned(name, true), "no tensor `{name}`");
    }
    k
}

/// Who initializes the loop's barriers: [producer, consumers] `mbarrier.init` counts.
fn barrier_inits(k: &Kernel) -> [usize; 2] {
    let ptx = emit(k, Arch::Sm90a, &SPECIALIZED).ptx;
    [count(&producer_slice_ptx(&ptx), "mbarrier.init"), count(&consumer_slice(&ptx), "mbarrier.init")]
}

#[test]
fn a_loop_an_if_may_skip_starts_early_when_nothing_after_uses_shared_memory() {
    assert_eq!(barrier_inits(&loop_in_an_if(false)), [4, 0]);
}

#[test]
fn a_loop_an_if_may_skip_waits_for_the_consumers_when_shared_memory_is_used_after() {
    assert_eq!(barrier_inits(&loop_in_an_if(true)), [0, 4]);
}

#[test]
fn without_early_starts_the_consumers_initialize_every_loop() {
    let producer_only = CodegenOptions { specialize: Specialize::Producer, ..SPECIALIZED };
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &producer_only).ptx;
    let inits = [count(&producer_slice_ptx(&ptx), "mbarrier.init"), count(&consumer_slice(&ptx), "mbarrier.init")];
    assert_eq!(inits, [0, 4]);
}

#[test]
fn specialize_choices_parse_by_name_and_list_them_otherwise() {
    let parsed: Vec<Specialize> =
        ["off", "producer", "early"].iter().map(|n| n.parse().unwrap_or(Specialize::Off)).collect();
    let unknown = "on".parse::<Specialize>().err().unwrap_or_default();
    assert_eq!(
        (parsed, unknown.as_str()),
        (Specialize::ALL.to_vec(), "unknown warp specialization `on`; supported: off, producer, early")
    );
}

#[test]
fn why_a_kernel_gets_no_producer_is_said() {
    use crate::codegen::producer_split;
    let k = gemm(64, &["a", "b"]);
    let why = |arch, options: CodegenOptions| producer_split(&k, arch, &options).err().unwrap_or_default();
    assert_eq!(
        [
            why(Arch::Sm90a, WHOLE),
            why(Arch::Sm80, SPECIALIZED),
            why(Arch::Sm90a, CodegenOptions { tma: false, ..SPECIALIZED }),
            why(Arch::Sm90a, CodegenOptions { mma: MmaLowering::MmaSync, ..SPECIALIZED }),
        ],
        [
            "not asked for (specialize: off)",
            "it takes sm_90a with wgmma and TMA; this is sm_80 with wgmma",
            "it takes sm_90a with wgmma and TMA; this is sm_90a with wgmma, TMA off",
            "it takes sm_90a with wgmma and TMA; this is sm_90a with mma.sync",
        ]
        .map(String::from)
    );
}

#[test]
fn a_kernel_with_a_producer_reports_its_split() {
    let split = crate::codegen::producer_split(&gemm(64, &["a", "b"]), Arch::Sm90a, &SPECIALIZED);
    assert_eq!(split.map(|s| (s.threads(), s.consumer_registers)), Ok((256, 232)));
}

/// A loop whose bound an `if` picks at run time: the producer lowers the `if` for its result.
const BOUND_FROM_AN_IF: &str = r#"
kernel mm_bound(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N], half: bool) grid(1) warps(4) {
    let n = if half { K / 2 } else { K };
    let mut x = zeros([64, 64]);
    for k0 in (0 .. n).step_by(64) {
        x = x + dot(a[0 .. 64, k0 .. k0 + 64], b[k0 .. k0 + 64, 0 .. 64]);
    }
    c[0 .. 64, 0 .. 64] = x;
}
"#;

#[test]
fn a_bound_an_if_picks_is_computed_by_the_producer_too() {
    let k = kernel(BOUND_FROM_AN_IF, &[], &["a", "b"]);
    let slice = analyze(&k).unwrap_or_else(|e| panic!("not split: {e}"));
    let if_results: Vec<_> = k
        .body
        .insts
        .iter()
        .filter(|i| matches!(i.op, crate::ir::Op::If { .. }))
        .flat_map(|i| i.results.clone())
        .collect();
    assert!(!if_results.is_empty() && if_results.iter().all(|r| slice.values.contains(r)), "{if_results:?}");
}

#[test]
fn a_bound_an_if_picks_assembles_without_spills() {
    check_no_spills(&check_assembles_with(&kernel(BOUND_FROM_AN_IF, &[], &["a", "b"]), &SPECIALIZED));
}

/// The rows start where `offsets[0]` says, after the kernel stores into `offsets`.
const ROWS_FROM_A_WRITTEN_TENSOR: &str = "offsets[1] = 0;\n    let m0 = offsets[0];";

#[test]
fn a_fed_loop_whose_corner_is_loaded_from_a_written_tensor_is_not_split() {
    let k = kernel(&gemm_from_row(ROWS_FROM_A_WRITTEN_TENSOR), &[], &["a", "b"]);
    let why = analyze(&k).expect_err("the kernel was split");
    assert!(why.ends_with("loaded from a tensor the kernel also writes"), "{why}");
}

/// A GEMM that stores into `b` before its loop copies tiles of `b`.
const COPIES_A_WRITTEN_TENSOR: &str = r#"
kernel mm_overwrite(a: tensor<bf16>[M, K], b: tensor<bf16>[K, N], c: tensor<f32>[M, N]) grid(1) warps(4) {
    b[0 .. 64, 0 .. 64] = a[0 .. 64, 0 .. 64];
    let mut acc = zeros([64, 64]);
    for k0 in (0 .. K).step_by(64) {
        acc = acc + dot(a[0 .. 64, k0 .. k0 + 64], b[k0 .. k0 + 64, 0 .. 64]);
    }
    c[0 .. 64, 0 .. 64] = acc;
}
"#;

#[test]
fn a_fed_loop_that_copies_a_written_tensor_is_not_split() {
    let k = kernel(COPIES_A_WRITTEN_TENSOR, &[], &["a", "b"]);
    let why = analyze(&k).expect_err("the kernel was split");
    assert!(why.ends_with("loaded from a tensor the kernel also writes"), "{why}");
}

#[test]
fn occupancy_three_gives_the_consumers_what_the_producer_releases() {
    // 80 registers a thread at entry (65536 / 3 / 256, rounded down to 8) hold 20480 for
    // the program: 24 for each producer thread leaves 136 for each consumer thread.
    let split = Split::of(128, Some(3));
    assert_eq!(
        split,
        Some(Split { consumer_threads: 128, programs_per_sm: 3, entry_registers: 80, consumer_registers: 136 })
    );
}

#[test]
fn no_split_asks_setmaxnreg_for_more_registers_than_its_program_holds() {
    for consumer_threads in (128..=1024).step_by(128) {
        for occupancy in [None, Some(1), Some(2), Some(3), Some(4), Some(5), Some(6), Some(7), Some(8)] {
            let Some(split) = Split::of(consumer_threads, occupancy) else { continue };
            let held = split.entry_registers * split.threads();
            let asked = split.consumer_registers * consumer_threads + PRODUCER_REGISTERS * PRODUCER_THREADS;
            assert!(
                asked <= held && held * split.programs_per_sm <= REGISTERS_PER_SM,
                "{consumer_threads} consumers, {occupancy:?}: {split:?} asks {asked} of {held}"
            );
        }
    }
}

#[test]
fn occupancy_below_the_default_keeps_the_default() {
    assert_eq!(Split::of(128, Some(1)), Split::of(128, None));
}

#[test]
fn occupancy_past_the_threads_an_sm_holds_has_no_split() {
    // 9 programs of 256 threads (128 consumers and the producer) are 2304 threads.
    assert_eq!(Split::of(128, Some(9)), None);
}

/// A 64 x 128 product at occupancy(3): `setmaxnreg` gives the consumers 136 registers, but
/// ptxas fits the `wgmma` in the entry's 80 and refuses it (C7602). The error says why
/// and what fits, beside ptxas's own words.
#[test]
fn a_product_too_wide_for_the_entrys_registers_is_refused_with_the_reason() {
    if !crate::codegen::ptxas::available_for_tests("a 64 x 128 product at occupancy(3)") {
        return;
    }
    let mut k = kernel(GEMM, &[("BM", 64), ("BN", 128), ("BK", 64)], &["a", "b"]);
    k.occupancy = Some(3);
    let ptx = emit(&k, Arch::Sm90a, &SPECIALIZED).ptx;
    let message = crate::codegen::ptxas::assemble(&ptx, Arch::Sm90a).map(drop).unwrap_err().to_string();
    assert!(message.contains("C7602") && message.contains("producer warpgroup, 3 programs an SM"), "{message}");
}
