//! The vertical-slash pattern on the GPU: the whole launch plan (estimation, selection,
//! index conversion, attention) queued with no host synchronisation in between, then
//! every step checked on its own GPU inputs (patterns::sparse::vertical_slash::check):
//! scores against the f64 reference within a tolerance, the selections and the index
//! exactly against the host top-k and conversion, o/lse against dense attention under
//! the index's mask. Every buffer the kernels write starts poisoned (NaN, -1).
//! Runs only with `--features gpu`, on the GPU machine.

use rand::seq::IndexedRandom;
use rand::SeedableRng;
use sparsefill_compiler::target::Arch;
use sparsefill_patterns::attention::{self, AttentionCase, AttentionShape};
use sparsefill_patterns::gpu::vertical_slash::{PlanGpuError, PlanOnGpu};
use sparsefill_patterns::sparse::vertical_slash::plan::{self, Buffer, TopkChunks, Walk};
use sparsefill_patterns::sparse::vertical_slash::{check, VerticalSlashParams};
use sparsefill_runtime::{median, CacheConfig, Gpu, KernelCache};

const SEQLENS: [usize; 3] = [1000, 3000, 17];
/// Rows checked per sequence besides its first and last 64: the f64 reference costs O(len) a row.
const ROW_SAMPLE: usize = 128;
/// Relative tolerance of the scores: the GPU sums in another order and uses `ex2.approx`.
const SCORE_TOLERANCE: f64 = 1e-4;

/// The GPU and its kernel cache, as every test here opens them.
fn open() -> (Gpu, KernelCache) {
    let gpu = Gpu::new(0).expect("a GPU is present on the GPU machine");
    let cache = KernelCache::new(CacheConfig::from_env(gpu.arch()));
    (gpu, cache)
}

fn check_on_gpu(head_dim: usize, seed: u64) {
    check_on_gpu_with(head_dim, TopkChunks::Auto, seed, |_| ());
}

fn check_on_gpu_with(head_dim: usize, chunks: TopkChunks, seed: u64, shape_inputs: impl FnOnce(&mut AttentionCase)) {
    check_walk_on_gpu(Walk::Blocks, head_dim, chunks, seed, shape_inputs);
}

/// The whole plan, its attention walking the index as `walk` says, on `seed`'s random
/// inputs, which `shape_inputs` may change first.
fn check_walk_on_gpu(
    walk: Walk,
    head_dim: usize,
    chunks: TopkChunks,
    seed: u64,
    shape_inputs: impl FnOnce(&mut AttentionCase),
) {
    let shape = AttentionShape { seqlens: SEQLENS.to_vec(), heads: 8, kv_heads: 2, head_dim, causal: true };
    let params = VerticalSlashParams { vertical_size: 200, slash_size: 300, last_q: 64 };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut case = attention::case(&shape, 64, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    shape_inputs(&mut case);
    let inputs = check::inputs_of(&case).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan::plan_walking(&inputs, &params, chunks, walk).unwrap_or_else(|e| panic!("{e}"));
    let two_levels = plan.estimate.iter().any(|l| l.kernel == "topk_candidates");
    assert_eq!(two_levels, chunks != TopkChunks::Auto, "the selections' levels with {chunks:?}");
    let (gpu, cache) = open();
    if walk == Walk::Pairs && cache.arch() != Arch::Sm90a {
        // Off sm_90a (SPARSEFILL_ARCH=sm_80) the plan refuses the walk before compiling.
        let err = PlanOnGpu::new(&gpu, &cache, &plan).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--vs-walk pairs") && err.contains("sm_90a only"), "{err}");
        return;
    }
    let on = PlanOnGpu::new(&gpu, &cache, &plan).unwrap_or_else(|e| panic!("{e}"));
    on.launch_all(0..on.launches().len()).unwrap_or_else(|e| panic!("{e}"));
    let run = on.downloaded(&plan).unwrap_or_else(|e| panic!("{e}"));

    check::scores(&run, &inputs, &params, SCORE_TOLERANCE).unwrap_or_else(|e| panic!("D {head_dim}: {e}"));
    check::selections(&run, &params, &SEQLENS, shape.heads).unwrap_or_else(|e| panic!("D {head_dim}: {e}"));
    let index = check::conversion(&run, &params, &SEQLENS, shape.heads).unwrap_or_else(|e| panic!("D {head_dim}: {e}"));

    let (o, lse) = (run.buffer(Buffer::O).expect("o"), run.buffer(Buffer::Lse).expect("lse"));
    explain_unwritten(&run, &shape, o, lse);
    let rows = checked_rows(&mut rng);
    let expected = case.reference_masked(&rows, |at| index.keeps(at)).unwrap_or_else(|e| panic!("{e}"));
    let got = attention::gather(&shape, o, lse, &rows).unwrap_or_else(|e| panic!("{e}"));
    attention::check_outputs(&got, &expected).unwrap_or_else(|e| panic!("D {head_dim}: {e}"));
    let all: Vec<usize> = (0..shape.tokens()).collect();
    let every = attention::gather(&shape, o, lse, &all).unwrap_or_else(|e| panic!("{e}"));
    assert!(every.o.iter().chain(&every.lse).all(|x| x.is_finite()), "D {head_dim}: a row was not written");
}

/// Prints, for up to 24 (row, head)s whose o or lse is not finite, where the row lies:
/// its sequence, block (and so warp group of a pair), and the lists the walk read for it.
fn explain_unwritten(
    run: &plan::Plan,
    shape: &AttentionShape,
    o: &sparsefill_compiler::tensor::HostTensor,
    lse: &sparsefill_compiler::tensor::HostTensor,
) {
    let (h, d) = (shape.heads, shape.head_dim);
    let at = |b: Buffer, idx: &[usize]| -> f64 {
        let Some(t) = run.buffer(b) else { return f64::NAN };
        let mut flat = 0;
        for (k, &i) in idx.iter().enumerate() {
            flat = flat * t.shape[k] + i;
        }
        t.data.get(flat).copied().unwrap_or(f64::NAN)
    };
    let mut shown = 0;
    let mut bad = 0;
    let mut start = 0;
    for (seq, &len) in shape.seqlens.iter().enumerate() {
        for r in 0..len {
            for head in 0..h {
                let t = start + r;
                let o_bad = o.data[(t * h + head) * d..][..d].iter().any(|x| !x.is_finite());
                let l = lse.data[head * shape.tokens() + t];
                if !o_bad && !l.is_nan() {
                    continue;
                }
                bad += 1;
                if shown < 24 {
                    shown += 1;
                    let i = r / 64;
                    eprintln!(
                        "unwritten: seq {seq} (len {len}) row {r} head {head}: block {i} (group {}), tiles {}, columns {}, pair count {}, lse {l}",
                        i % 2,
                        at(Buffer::BlockCount, &[seq, head, i]),
                        at(Buffer::ColumnCount, &[seq, head, i]),
                        at(Buffer::PairCount, &[seq, head, i / 2]),
                    );
                }
            }
        }
        start += len;
    }
    if bad > 0 {
        eprintln!("{bad} (row, head)s with o or lse not finite");
    }
}

/// Every sequence's first and last 64 rows and a random sample of the rest.
fn checked_rows(rng: &mut impl rand::Rng) -> Vec<usize> {
    let mut rows = Vec::new();
    let mut start = 0;
    for &len in &SEQLENS {
        let (head, tail) = (start + len.min(64), (start + len).saturating_sub(64).max(start + len.min(64)));
        let middle: Vec<usize> = (head..tail).collect();
        rows.extend(start..head);
        rows.extend(middle.choose_multiple(rng, ROW_SAMPLE));
        rows.extend(tail..start + len);
        start += len;
    }
    rows
}

#[test]
fn vertical_slash_head_dim_128_matches_the_host_step_by_step() {
    check_on_gpu(128, 1);
}

#[test]
fn vertical_slash_head_dim_64_matches_the_host_step_by_step() {
    check_on_gpu(64, 2);
}

/// Two blocks a program (`sparse_vertical_slash_pairs`, two warp groups sharing the
/// producer's copies of the pair union's tiles) after the GPU's own estimate.
#[test]
fn vertical_slash_pairs_head_dim_128_match_the_host_step_by_step() {
    check_walk_on_gpu(Walk::Pairs, 128, TopkChunks::Auto, 5, |_| ());
}

#[test]
fn vertical_slash_pairs_head_dim_64_match_the_host_step_by_step() {
    check_walk_on_gpu(Walk::Pairs, 64, TopkChunks::Auto, 6, |_| ());
}

/// The pairs' walk rescaling past its local tiles (see the blocks' test below).
#[test]
fn vertical_slash_pairs_rescaling_past_their_local_tiles_match_the_host_step_by_step() {
    check_walk_on_gpu(Walk::Pairs, 128, TopkChunks::Auto, 7, |case| {
        case.ramp_scores(-0.5).unwrap_or_else(|e| panic!("{e}"))
    });
}

/// The selections in two levels (chunks of 512 scores, where the shipped rule keeps these
/// short rows in one) equal the host top-k on the GPU's own scores.
#[test]
fn vertical_slash_selecting_in_two_levels_matches_the_host_step_by_step() {
    check_on_gpu_with(128, TopkChunks::Fixed(512), 3, |_| ());
}

/// With q positive and the keys falling (`AttentionCase::ramp_scores`), a row's scores drop by about 16
/// log2 units along its sequence, so the walk's first unmasked tiles (the farthest keys)
/// pass the running max of its masked local tiles by more than the lagging softmax's
/// margin (8): the warps holding those rows rescale an accumulator that holds values,
/// behind the vote of codegen::rescale. A warp that skipped that rescale would count the
/// local tiles up to 2^16 times over.
#[test]
fn vertical_slash_rescaling_past_its_local_tiles_matches_the_host_step_by_step() {
    check_on_gpu_with(128, TopkChunks::Auto, 4, |case| case.ramp_scores(-0.5).unwrap_or_else(|e| panic!("{e}")));
}

/// Device time of estimation (scores, selection, conversion) and of attention on one 32K
/// sequence, 8 heads, head dim 128, MInference's (1000, 6096); the index must be valid and
/// equal the host conversion of the GPU's selection.
#[test]
fn vertical_slash_timing_at_32k() {
    let shape = AttentionShape { seqlens: vec![32768], heads: 8, kv_heads: 8, head_dim: 128, causal: true };
    let params = VerticalSlashParams::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let case = attention::case(&shape, 64, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let inputs = check::inputs_of(&case).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan::plan(&inputs, &params).unwrap_or_else(|e| panic!("{e}"));
    let (gpu, cache) = open();
    let on = PlanOnGpu::new(&gpu, &cache, &plan).unwrap_or_else(|e| panic!("{e}"));
    let time = |launches: std::ops::Range<usize>| {
        let samples = on.time_ms(launches, 1, 5).unwrap_or_else(|e| panic!("timing: {e}"));
        median(&samples).unwrap_or(f32::NAN)
    };
    let estimate_ms = time(on.estimation());
    let attend_ms = time(on.attention()..on.attention() + 1);
    let run = on.downloaded(&plan).unwrap_or_else(|e| panic!("{e}"));
    let index = check::conversion(&run, &params, &shape.seqlens, shape.heads).unwrap_or_else(|e| panic!("{e}"));
    let density = index.density(&shape.seqlens, shape.heads);
    eprintln!(
        "vertical-slash 32K x 8 heads, D 128 (1000, 6096): estimate {estimate_ms:.3} ms, attention {attend_ms:.3} ms, \
         density {density:.3}"
    );
}

/// The plan in `chunks` chunks of heads, each chunk's estimation on the side stream beside
/// the chunk before's attention, leaves every buffer (scores, selections, index, o, lse)
/// equal bit for bit to the plan in one piece on the same inputs, since only the order
/// changes, except the diagonal sums: `vs_column_scores` adds them with f32 shared-memory
/// atomics, in whatever order they land (so two runs of the plan in one piece differ
/// there too), and they must agree within a few f32 roundings.
fn check_chunked_on_gpu(chunks: usize, seed: u64) {
    let shape = AttentionShape { seqlens: SEQLENS.to_vec(), heads: 8, kv_heads: 2, head_dim: 128, causal: true };
    let params = VerticalSlashParams { vertical_size: 200, slash_size: 300, last_q: 64 };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let case = attention::case(&shape, 64, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let inputs = check::inputs_of(&case).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan::plan(&inputs, &params).unwrap_or_else(|e| panic!("{e}"));
    let (gpu, cache) = open();
    let run = |on: PlanOnGpu| {
        on.launch_all(0..on.launches().len()).unwrap_or_else(|e| panic!("{e}"));
        on.downloaded(&plan).unwrap_or_else(|e| panic!("{e}"))
    };
    let whole = run(PlanOnGpu::new(&gpu, &cache, &plan).unwrap_or_else(|e| panic!("{e}")));
    let chunked = run(PlanOnGpu::chunked(&gpu, &cache, &plan, chunks).unwrap_or_else(|e| panic!("{e}")));
    for ((which, a), (_, b)) in whole.buffers.iter().zip(&chunked.buffers) {
        let atomic = matches!(which, Buffer::SlashPartials | Buffer::SlashScores);
        let same = |x: f64, y: f64| match atomic {
            true => x.to_bits() == y.to_bits() || (x - y).abs() <= 1e-6 * x.abs().max(y.abs()),
            false => x.to_bits() == y.to_bits(),
        };
        let differ = a.data.iter().zip(&b.data).filter(|&(&x, &y)| !same(x, y)).count();
        assert_eq!(differ, 0, "{which:?}: {differ} of {} elements differ in {chunks} chunks", a.data.len());
    }
    let o = chunked.buffer(Buffer::O).expect("o");
    assert!(o.data.iter().all(|x| x.is_finite()), "{chunks} chunks: a row of o was not written");
}

#[test]
fn vertical_slash_in_chunks_of_whole_groups_equals_the_plan_in_one_piece() {
    check_chunked_on_gpu(2, 11);
}

#[test]
fn vertical_slash_in_chunks_inside_a_group_equals_the_plan_in_one_piece() {
    check_chunked_on_gpu(8, 12);
}

#[test]
fn a_chunk_count_that_splits_a_group_is_refused_before_any_upload() {
    let shape = AttentionShape { seqlens: vec![100], heads: 6, kv_heads: 3, head_dim: 64, causal: true };
    let params = VerticalSlashParams { vertical_size: 8, slash_size: 8, last_q: 64 };
    let case = attention::case(&shape, 64, &mut rand::rngs::StdRng::seed_from_u64(5)).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan::plan(&check::inputs_of(&case).unwrap_or_else(|e| panic!("{e}")), &params)
        .unwrap_or_else(|e| panic!("{e}"));
    let (gpu, cache) = open();
    let err = PlanOnGpu::chunked(&gpu, &cache, &plan, 2).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("2 chunks of heads do not fit 6 heads on 3 kv heads"), "{err}");
}

/// Launch positions past the plan are an error, not a panic or a stray launch.
#[test]
fn a_launch_past_the_plan_is_an_error() {
    let shape = AttentionShape { seqlens: vec![100], heads: 2, kv_heads: 1, head_dim: 64, causal: true };
    let params = VerticalSlashParams { vertical_size: 8, slash_size: 8, last_q: 64 };
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let case = attention::case(&shape, 64, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let inputs = check::inputs_of(&case).unwrap_or_else(|e| panic!("{e}"));
    let plan = plan::plan(&inputs, &params).unwrap_or_else(|e| panic!("{e}"));
    let (gpu, cache) = open();
    let on = PlanOnGpu::new(&gpu, &cache, &plan).unwrap_or_else(|e| panic!("{e}"));
    let past = on.launches().len();
    let err = on.launch(past).map(|_| ()).unwrap_err();
    assert!(matches!(err, PlanGpuError::NoLaunch { at, count } if at == past && count == past), "{err}");
}
