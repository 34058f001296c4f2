//! The vertical-slash plan in chunks of heads (`vertical_slash::overlap`) on the
//! interpreter: every buffer it leaves (scores, selections, index, o, lse) equals, bit for
//! bit, what the plan in one piece leaves on the same fresh random inputs, on ragged
//! sequences with grouped-query heads, chunks of whole GQA groups and chunks inside one,
//! in one-level and two-level selections. Also the order the lanes give the chunks.

use rand::SeedableRng;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::{self, AttentionShape};
use sparsefill_patterns::sparse::vertical_slash::overlap::{self, HeadChunk};
use sparsefill_patterns::sparse::vertical_slash::plan::{self, Buffer, Launch, TopkChunks};
use sparsefill_patterns::sparse::vertical_slash::{check, VerticalSlashError, VerticalSlashParams};
use sparsefill_runtime::lanes::{schedule, Step};
use sparsefill_runtime::Lane;

type Rng64 = rand::rngs::StdRng;

const PARAMS: VerticalSlashParams = VerticalSlashParams { vertical_size: 40, slash_size: 110, last_q: 64 };

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The buffers after running `launches` in order on the interpreter over `buffers`.
fn run(launches: &[Launch], mut buffers: Vec<(Buffer, HostTensor)>) -> Vec<(Buffer, HostTensor)> {
    for launch in launches {
        ok(plan::run_launch(launch, &mut buffers));
    }
    buffers
}

/// The plan for `heads` query heads over `kv_heads` on ragged sequences, in one piece and
/// in `chunks`: every buffer equal bit for bit (NaN equal to NaN, so a buffer left
/// poisoned in one and written in the other differs).
fn check_chunks(heads: usize, kv_heads: usize, chunks: usize, topk: TopkChunks, seed: u64) {
    let shape = AttentionShape { seqlens: vec![300, 77, 20], heads, kv_heads, head_dim: 64, causal: true };
    let case = ok(attention::case(&shape, 64, &mut Rng64::seed_from_u64(seed)));
    let inputs = ok(check::inputs_of(&case));
    let whole = ok(plan::plan_with(&inputs, &PARAMS, topk));
    let one_piece =
        run(&whole.estimate.iter().chain([&whole.attend]).cloned().collect::<Vec<_>>(), whole.buffers.clone());
    ok(overlap::check_chunks(chunks, heads, kv_heads));
    let chunked = run(&overlap::overlapped(&whole.estimate, &whole.attend, chunks), whole.buffers.clone());
    for ((which, a), (_, b)) in one_piece.iter().zip(&chunked) {
        let same = a.shape == b.shape && a.data.iter().zip(&b.data).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{which:?} differs between the whole plan and {chunks} chunks");
    }
    // The attention wrote every row: o holds no poison.
    let o = chunked.iter().find(|(b, _)| *b == Buffer::O).map(|(_, t)| t);
    assert!(o.is_some_and(|o| o.data.iter().all(|x| x.is_finite())), "o left unwritten");
}

#[test]
fn chunks_of_whole_groups_leave_the_whole_plans_buffers() {
    check_chunks(4, 2, 2, TopkChunks::Auto, 1);
}

#[test]
fn chunks_inside_a_group_leave_the_whole_plans_buffers() {
    check_chunks(4, 2, 4, TopkChunks::Auto, 2);
}

#[test]
fn chunks_over_two_level_selections_leave_the_whole_plans_buffers() {
    check_chunks(4, 1, 2, TopkChunks::Fixed(32), 3);
}

#[test]
fn one_chunk_is_the_whole_plan() {
    check_chunks(2, 1, 1, TopkChunks::Auto, 4);
}

#[test]
fn chunks_that_split_a_group_unevenly_are_refused() {
    let refused = overlap::check_chunks(4, 12, 3);
    assert!(matches!(refused, Err(VerticalSlashError::HeadChunks { chunks: 4, heads: 12, kv_heads: 3 })));
}

/// The overlapped launches of a small plan in `chunks`, as the lanes order them: each
/// launch `kernel@chunk`, a side one `side:kernel@chunk`.
fn overlapped_schedule(chunks: usize) -> Vec<String> {
    let shape = AttentionShape { seqlens: vec![100], heads: 2, kv_heads: 1, head_dim: 64, causal: true };
    let case = ok(attention::case(&shape, 64, &mut Rng64::seed_from_u64(5)));
    let whole = ok(plan::plan(&ok(check::inputs_of(&case)), &PARAMS));
    let launches = overlap::overlapped(&whole.estimate, &whole.attend, chunks);
    let keyed: Vec<(Lane, Vec<(Buffer, HeadChunk)>)> = launches.iter().map(|l| (l.lane, l.keys())).collect();
    let name = |at: usize| launches.get(at).map_or("?".to_string(), |l| format!("{}@{}", l.kernel, l.heads.at()));
    schedule(&keyed)
        .into_iter()
        .map(|s| match s {
            Step::Fork => "fork".to_string(),
            Step::Join => "join".to_string(),
            Step::Launch { at, lane: Lane::Main } => name(at),
            Step::Launch { at, lane: Lane::Side } => format!("side:{}", name(at)),
        })
        .collect()
}

/// Chunk 1's estimation goes on the side lane, queued after chunk 0's attention with no
/// fork in between (it waits for nothing on the main stream), and chunk 1's attention
/// joins it.
#[test]
fn the_next_chunks_estimation_runs_beside_this_chunks_attention() {
    let steps = overlapped_schedule(2);
    let attend0 = steps.iter().position(|s| s == "sparse_vertical_slash@0");
    let first_side1 = steps.iter().position(|s| s.starts_with("side:") && s.ends_with("@1"));
    let attend1 = steps.iter().position(|s| s == "sparse_vertical_slash@1");
    let (Some(attend0), Some(first_side1), Some(attend1)) = (attend0, first_side1, attend1) else {
        panic!("missing launches: {steps:?}")
    };
    assert_eq!(steps[attend0 + 1], steps[first_side1], "nothing between chunk 0's attention and chunk 1's estimate");
    assert_eq!(steps[attend1 - 1], "join", "{steps:?}");
    let chunk1 = &steps[first_side1..attend1 - 1];
    assert!(chunk1.iter().all(|s| s.starts_with("side:") && s.ends_with("@1")), "{chunk1:?}");
}
