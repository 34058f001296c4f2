//! The vertical-slash pattern (MInference): each head keeps a few whole key columns
//! ("verticals") and a few diagonals ("slashes"), chosen per head from its own Q/K.
//!
//! # Estimation
//! For sequence `b` (length `n`), query head `h` and its key/value head:
//!
//! 1. The last `lq = min(last_q, n)` queries `r = n - lq .. n` score every key `c <= r`
//!    (causal, so the corner `c > r` is masked) with `scale · q_r · k_c`, `scale = 1/√D`,
//!    and each row is softmaxed: `p[r, c]`.
//! 2. Vertical scores `V[c] = Σ_r p[r, c]` for `c = 0 .. n`; slash scores
//!    `S[d] = Σ_r p[r, r - d]` for the diagonal at distance `d = 0 .. n` (`d = 0` is the
//!    main diagonal; rows with `r < d` add nothing).
//! 3. Forced: `V[c] = +inf` for the first [`FORCED_VERTICALS`] = 30 columns, `S[d] = +inf`
//!    for the [`FORCED_SLASHES`] = 100 nearest diagonals (MInference's conventions).
//! 4. Top-k: the `min(vertical_size, n)` best columns and the `min(slash_size, n)` best
//!    diagonals. **Tie rule**: a larger score first, then a lower index (the lower column,
//!    the nearer diagonal). So with `slash_size >= 1` the main diagonal is always chosen,
//!    and every row sees its own key. Scores that are NaN or `-inf` are never chosen.
//!    Both lists are kept ascending (column position, diagonal distance).
//!
//! Unlike MInference, sizes are not raised to at least 30 verticals and 50 slashes:
//! the caller's sizes are used as given (clamped to `n`).
//!
//! # Index conversion
//! Query block `i` holds rows `m0 = 64 i .. m0 + 64`; it sees keys below its causal limit
//! `L = min(n, m0 + 64)` (see [`super::index`]).
//!
//! - A chosen diagonal `d < m0 + 64` crosses the block on keys `m0 - d .. m0 - d + 64`,
//!   so it gives the slash tile starting at `t = max(m0 - d, 0)`. Diagonals `d >= m0 + 64`
//!   miss the block.
//! - Tiles are merged in ascending `t` into ranges, as MInference's
//!   `convert_vertical_slash_indexes` does: the first tile opens a range `[t, t + 64)`; a
//!   later tile ending at `e = t + 64` with `e > end + 64` closes the range and opens
//!   `[t, e)`; with `end < e <= end + 64` it extends the range by 64 keys; otherwise it
//!   adds nothing. Each range `[s, end)` becomes the tiles `s, s + 64, .., end - 64`, and
//!   tiles starting at or past `L` (wholly masked) are dropped.
//! - `block_offset` lists those tile starts; `column_index` the chosen columns `v < L`
//!   that no range covers.
//! - Away from the clamp at key 0 (which only a block's first range holds), tile starts
//!   are `m0 - d`, so whether an entry closes a range and the range's width depend on
//!   distances alone: `vs_chain` finds, once per head, the range each chosen diagonal
//!   would open, and `vs_convert` walks each block's first range and follows those from
//!   there. Only an entry more than a tile from the next farther one can close a range,
//!   so `vs_chain` jumps from one such entry to the next (`vs_chain_stops` lists them),
//!   taking the runs between them whole. `vs_hops` lays out each such entry's next
//!   [`plan::CHAIN_HOPS`] openers along the chain in a row, so that `vs_convert` takes a
//!   block's chained ranges a row at a time.
//!
//! Capacities: `NNZ_S = min(slash_size, NB)` (each diagonal adds at most one tile; tiles
//! of a block are disjoint and start below `m0 + 64`), `NNZ_V = min(vertical_size,
//! max_seqlen)`.
//!
//! # Kernels
//! `patterns/kernels/estimate_vertical_slash.tile` (softmax statistics per key chunk and
//! their combination, scores, index conversion), `patterns/kernels/topk.tile` (selection)
//! and `patterns/kernels/sparse_vertical_slash.tile` (the attention), all launched on
//! device data with no host synchronisation in between ([`plan`]). [`reference`](mod@reference) is the
//! host reference of every estimation step; [`check`] compares a run with it step by step.
//! [`pairs`] unites the tile lists of adjacent query blocks two by two
//! (`patterns/kernels/pair_union.tile`) for `sparse_vertical_slash_pairs`, which runs a
//! pair of blocks a program; the plan launches both with [`plan::Walk::Pairs`].
//!
//! # Known costs
//! Estimates at 128K tokens, 32 heads (8 kv heads), head dim 128, (1000, 6096), on a
//! 132-SM H200 (~1.7 GHz), before and after issue 4; not measured unless noted:
//!
//! | step | before | after |
//! |---|---|---|
//! | `vs_row_stats` | 32 programs on 32 SMs, 2048 key tiles each in sequence (~1.5K cycles a tile): ~2 ms | 32 key chunks × 32 heads = 1024 programs over every SM ([`plan::key_chunk`]): ~0.3 ms, plus `vs_combine_stats` (32 programs, 32 × 64 × 2 floats each): ~10 µs |
//! | `vs_column_scores` | 65536 programs, one 64×64×128 `dot` each: ~0.3 ms | 16 key tiles a program since session 30 (4096 programs, the query tile loaded once each), plus each tile's diagonal partials with `bin_sum`: 4096 shared-memory f32 atomic adds a program, 32 a thread, masked ones skipped (a CAS loop on sm_80 and sm_90: `ATOMS.CAST.SPIN` in ptxas 13's SASS; up to 4 lanes of a warp on one diagonal), and 512 bytes stored: ~0.2–1 ms more |
//! | `vs_diagonal_scores` | 65536 programs, 64 rows × 64 × 128 FMAs on CUDA cores each (34 G FMAs and as many bf16 conversions; 1 MB of gathered keys a program through L1): ~3–5 ms (measured later: 12.5 of the estimate's 18.2 ms) | a combine: 65536 programs, 128 gathered floats each (34 MB of partials written by `vs_column_scores`, read about twice): ~0.05 ms |
//! | `topk` (×2) | up to ~280 counting passes over a 512 KB row, 4 warps with 8 KB in flight (latency-bound, ~40 µs a pass): ~10 ms a launch | ≤ ~37 passes (geometric probes while the bounds are far apart), 16 warps, per-lane counts reduced once a pass (~10 µs a pass), then 2048 compaction chunks (~0.5K cycles each): ~1 ms a launch (measured later with ncu, 8 heads: 2.8 and 3.3 ms, one SM a row); then split in two: `topk_threshold` (the passes, and per-block tallies) and `topk_write` (the compaction, ~32 programs a row); then, for fewer than 16 rows of two chunks or more ([`plan::topk_chunk`]: CH = max(16384, 4k rounded up to a power of two)), exact in two levels: both kernels over the rows cut into chunks (a `topk_threshold` program a chunk: 32 × 4 heads for the verticals at 512K), then over the chunks' top min(k, CH) in order (≤ a quarter of the row), with a copy, a gather and a position map around them: at 512K, 4 heads, 0.43 and 0.79 ms a selection (session 18, round 3) where one level took 1.49 and 1.49 (round 2, another call) |
//! | `vs_convert` | 65536 one-warp programs, each nv + ns + 3 ≈ 7100 serial steps of ~30 instructions with a dependent load: ~14 G warp-instructions, ~15 ms | 64-entry chunks: ~ns/64 + nv/64 + 2R steps a block (R ranges, tens to hundreds), ~150 instructions each: ~2 G warp-instructions, ~2 ms (measured later: 5.1 ms); then the first range walked by chunks and the others followed through `vs_chain`'s closes, C at a time into lanes, each batch's tiles and verticals placed a lane a range (bisections, [C, C] prefix sums and selects) instead of a C-ary search per range (R ≈ 75 a block at 128K) |
//!
//! So about 30 ms before and about 5 ms after, against 0.5–1 s of sparse attention.
//! Measured on the H200 at 128K, 32 heads, 1000/6096 (session 16, round 4,
//! docs/perf/2026-11-29-h200-session16.md), each launch timed alone: `vs_row_stats`
//! 0.27 ms, `vs_combine_stats` 0.02, `vs_column_scores` 0.95, `vs_diagonal_scores` 0.04,
//! `topk_threshold` 0.32 + 0.32, `topk_write` 0.16 + 0.26, `vs_chain_stops` 0.05,
//! `vs_chain` 0.04, `vs_convert` 2.26; as stages (the vertical selection on the side
//! stream, beside the diagonal sums and the slash selection) 3.72 ms of the pattern's 66.7
//! (5.6%). `vs_convert` took 5.1 ms with a scan of the verticals per range and a walk over
//! every chosen diagonal (sessions 9–13), 3.4 ms with the searches alone, 2.0 ms with a
//! C-ary search per range followed one a step, 1.77 ms with the ranges followed C at a time
//! (session 18, round 1, timed in turns: 0.89× at 128K, 0.67× at 512K, 1.02× at 32K), and
//! 1.41 ms with its steps nested three deep, so that a finished walk stops skipping groups
//! (session 20, round 5, timed in turns: 0.80× at 128K, 0.79× at 32K, 0.91× at 512K).
//! Three launches that wait on their loads with few warps an SM now take fewer registers
//! for more programs (the kernel option `occupancy(N)`; session 21, round 1, timed in
//! turns at 32K / 128K / 512K): `vs_convert` 0.89 / 0.90 / 0.92× (24 programs an SM
//! instead of 16), `vs_column_scores` 0.95 / 0.94 / 0.94× (5 instead of 4), `vs_row_stats`
//! 0.82 / 0.86× at 32K / 128K (4 instead of 3). ncu at 32K (round 1): a quarter of
//! `vs_convert`'s samples follow the chain (two dependent loads a range), and a third place
//! a batch of ranges' tiles and columns with [C, C] prefix sums. With scans and scatter
//! stores in the language (session 22), `vs_convert` scatters each range's tiles and
//! columns to the slots a `cumsum` gives: its session-start source took 1.37 / 1.54 / 1.55×
//! its time at 32K / 128K / 512K (round 1; 0.184 / 0.819 / 1.01 ms now), and ncu puts a
//! third of its samples in the chain now. `topk_write` ranks and scatters its picks the
//! same way, 1024 scores a step: the 64-score chunks with [64, 64] prefix counts took 2.9 /
//! 5.3× its time at 32K / 128K (0.022 / 0.027 ms now).
//! `vs_column_scores` walking four key tiles a program was 1.24–1.27× slower than one a
//! program (session 20, round 6): its producer warpgroup halved the warps an SM. With
//! `occupancy(4)` (four programs an SM, producers included) the walk took 0.852× the time
//! of one tile a program with four tiles, 0.825× with eight and 0.809× with sixteen, which
//! ship (session 30, round 1, in turns at 32K).
//! `vs_column_scores` took 1.98 ms with a division per element and one bin per diagonal,
//! where up to four lanes of a warp collide in the compare-and-swap loops ptxas makes of
//! shared-memory f32 adds (`ATOMS.CAST.SPIN`); writing the swaps out, eight elements' in
//! flight together, took it twice as long (session 23, rounds 1–2: 0.51 against 0.24 ms
//! at 32K). `topk_threshold` at 512K (1.26 ms, 4 heads) was bound by one SM a row; a row of
//! up to 32K scores is now held in registers through its passes ([`plan::topk_row`]): 0.097
//! → 0.064 ms a launch at 32K, 0.083–0.113 → 0.059–0.072 for the 512K chunks (session 23,
//! round 1). Session 22's chain patch (`vs_chain` storing the next opener's distance so
//! that `vs_convert` follows each range with one dependent load) left `vs_convert` at
//! 0.98–1.00× its time (session 23, round 2) and was dropped. The instructions were the
//! cost: with `vs_hops` laying out 32 openers of the chain a row, `vs_convert` takes a
//! block's chained ranges with one load (and its steps nested 16 × 8 × 8): 0.228 → 0.186
//! ms at 32K, 1.038 → 0.654 at 128K, 1.30 → 0.73 at 512K, `vs_hops` 0.02 ms (session 24,
//! round 1). A diagonal sum without atomics (a `diag_sum` builtin reading each diagonal
//! back from shared memory row by row) made `vs_column_scores` 1.25× slower (session 24,
//! round 3) and was dropped; so did fixed-point sums in two i32 words through an i32
//! `bin_sum` (native adds, exact, but three conversions an element): 1.22× (session 25,
//! round 1).
//! The GPU test `vertical_slash_timing_at_32k` times the whole estimate.

pub mod check;
pub mod overlap;
pub mod pairs;
pub mod plan;
pub mod reference;

use super::index::IndexError;
use super::local::query_blocks::{self, InputError};
use crate::attention::AttentionShape;
use sparsefill_compiler::interp::InterpError;
use sparsefill_compiler::CompileError;
use thiserror::Error;

pub use plan::{attend_interp, run_interp};

/// Columns whose vertical score is forced to `+inf`.
pub const FORCED_VERTICALS: usize = 30;
/// Nearest diagonals whose slash score is forced to `+inf`.
pub const FORCED_SLASHES: usize = 100;
/// The most estimation queries: they form one 64-row tile.
pub const MAX_LAST_Q: usize = 64;

/// How many verticals and slashes a head keeps, and how many of the last queries estimate them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerticalSlashParams {
    pub vertical_size: usize,
    pub slash_size: usize,
    pub last_q: usize,
}

impl Default for VerticalSlashParams {
    /// MInference's most common configuration, (1000, 6096) with 64 estimation queries.
    fn default() -> Self {
        VerticalSlashParams { vertical_size: 1000, slash_size: 6096, last_q: 64 }
    }
}

#[derive(Debug, Error)]
pub enum VerticalSlashError {
    #[error(
        "the pairs walk (`sparse_vertical_slash_pairs`, `--vs-walk pairs`) runs on sm_90a only, not {arch}: \
         its two warp groups' stages need more shared memory than an {arch} block has; the blocks walk, \
         the default, runs on every target"
    )]
    PairsOffSm90a { arch: sparsefill_compiler::target::Arch },
    // Named both ways: configs and `--pattern` write `vertical` and `slash`, the Rust API these fields.
    #[error("vertical_size (a pattern config's `vertical`) must be from 1 to {max} (an i32 count); got {got}")]
    VerticalSize { got: usize, max: usize },
    #[error(
        "slash_size (a pattern config's `slash`) must be from 1 to {max} (an i32 count; the main diagonal keeps \
         each row's own key); got {got}"
    )]
    SlashSize { got: usize, max: usize },
    #[error("last_q must be from 1 to {MAX_LAST_Q} (the estimation queries form one tile); got {0}")]
    LastQ(usize),
    #[error(transparent)]
    Inputs(#[from] InputError),
    #[error("sparse index: {0}")]
    Index(#[from] IndexError),
    #[error("`{kernel}` takes the buffer {buffer:?}, which the launch plan does not hold")]
    MissingBuffer { kernel: &'static str, buffer: plan::Buffer },
    #[error("compiling `{kernel}`: {source}")]
    Compile { kernel: &'static str, source: CompileError },
    #[error("running `{kernel}` on the interpreter: {source}")]
    Interp { kernel: &'static str, source: InterpError },
    #[error(
        "{chunks} chunks of heads do not fit {heads} heads on {kv_heads} kv heads: the count must divide the heads, \
         and either divide the kv heads or be a multiple of them (whole GQA groups a chunk, or chunks inside a group)"
    )]
    HeadChunks { chunks: usize, heads: usize, kv_heads: usize },
}

impl VerticalSlashParams {
    const MAX_SIZE: usize = i32::MAX as usize;

    pub fn validate(&self) -> Result<(), VerticalSlashError> {
        let max = Self::MAX_SIZE;
        if !(1..=max).contains(&self.vertical_size) {
            return Err(VerticalSlashError::VerticalSize { got: self.vertical_size, max });
        }
        if !(1..=max).contains(&self.slash_size) {
            return Err(VerticalSlashError::SlashSize { got: self.slash_size, max });
        }
        if !(1..=MAX_LAST_Q).contains(&self.last_q) {
            return Err(VerticalSlashError::LastQ(self.last_q));
        }
        Ok(())
    }

    /// Tile capacity of `block_offset`: `min(slash_size, NB)`.
    pub fn tile_capacity(&self, seqlens: &[usize]) -> usize {
        self.slash_size.min(super::index::query_blocks(seqlens))
    }

    /// Column capacity of `column_index`: `min(vertical_size, max_seqlen)`.
    pub fn column_capacity(&self, seqlens: &[usize]) -> usize {
        self.vertical_size.min(seqlens.iter().copied().max().unwrap_or(0))
    }
}

/// The attention shape of `inputs` (causal), after checking dtypes, shapes and lengths: the
/// checks every query-block pattern makes ([`query_blocks::validate`]).
pub fn input_shape(inputs: &super::AttentionInputs) -> Result<AttentionShape, VerticalSlashError> {
    Ok(query_blocks::validate(inputs)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::ShapeError;
    use crate::sparse::AttentionInputs;
    use sparsefill_compiler::ir::DType;
    use sparsefill_compiler::tensor::HostTensor;

    fn params(vertical_size: usize, slash_size: usize, last_q: usize) -> VerticalSlashParams {
        VerticalSlashParams { vertical_size, slash_size, last_q }
    }

    fn inputs(q: &[usize], k: &[usize], seqlens: &[usize]) -> AttentionInputs {
        AttentionInputs {
            q: HostTensor::zeros(DType::BF16, q),
            k: HostTensor::zeros(DType::BF16, k),
            v: HostTensor::zeros(DType::BF16, k),
            seqlens: seqlens.to_vec(),
        }
    }

    #[test]
    fn default_params_are_valid() {
        assert!(VerticalSlashParams::default().validate().is_ok());
    }

    #[test]
    fn zero_verticals_are_rejected() {
        let err = params(0, 8, 64).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "vertical_size (a pattern config's `vertical`) must be from 1 to 2147483647 (an i32 count); got 0"
        );
    }

    #[test]
    fn zero_slashes_name_the_config_field() {
        let err = params(8, 0, 64).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "slash_size (a pattern config's `slash`) must be from 1 to 2147483647 (an i32 count; the main diagonal \
             keeps each row's own key); got 0"
        );
    }

    #[test]
    fn zero_slashes_are_rejected() {
        assert!(matches!(params(8, 0, 64).validate(), Err(VerticalSlashError::SlashSize { got: 0, .. })));
    }

    #[test]
    fn sizes_past_i32_are_rejected() {
        let too_big = i32::MAX as usize + 1;
        assert!(matches!(params(too_big, 8, 64).validate(), Err(VerticalSlashError::VerticalSize { .. })));
    }

    #[test]
    fn last_q_past_one_tile_is_rejected() {
        assert!(matches!(params(8, 8, 65).validate(), Err(VerticalSlashError::LastQ(65))));
    }

    #[test]
    fn zero_last_q_is_rejected() {
        assert!(matches!(params(8, 8, 0).validate(), Err(VerticalSlashError::LastQ(0))));
    }

    #[test]
    fn capacities_are_clamped_to_the_blocks_and_the_length() {
        let p = params(1000, 6096, 64);
        assert_eq!((p.tile_capacity(&[100, 300]), p.column_capacity(&[100, 300])), (5, 300));
    }

    #[test]
    fn consistent_inputs_give_their_shape() {
        let shape = input_shape(&inputs(&[30, 4, 64], &[30, 2, 64], &[10, 20])).unwrap();
        assert_eq!((shape.heads, shape.kv_heads, shape.head_dim, shape.seqlens), (4, 2, 64, vec![10, 20]));
    }

    #[test]
    fn f32_inputs_are_rejected() {
        let mut i = inputs(&[30, 4, 64], &[30, 2, 64], &[30]);
        i.k.dtype = DType::F32;
        assert!(matches!(input_shape(&i), Err(VerticalSlashError::Inputs(InputError::DType { name: "k", .. }))));
    }

    #[test]
    fn a_rank_2_q_is_rejected() {
        let err = input_shape(&inputs(&[30, 64], &[30, 2, 64], &[30])).unwrap_err();
        assert_eq!(err.to_string(), "`q` must have 3 dimensions [T, heads, head_dim]; got shape [30, 64]");
    }

    #[test]
    fn v_unlike_k_is_rejected() {
        let mut i = inputs(&[30, 4, 64], &[30, 2, 64], &[30]);
        i.v = HostTensor::zeros(DType::BF16, &[30, 1, 64]);
        assert!(matches!(input_shape(&i), Err(VerticalSlashError::Inputs(InputError::VShape { .. }))));
    }

    #[test]
    fn seqlens_that_miss_tokens_are_rejected() {
        let err = input_shape(&inputs(&[30, 4, 64], &[30, 2, 64], &[10, 10])).unwrap_err();
        assert!(matches!(err, VerticalSlashError::Inputs(InputError::Tokens { sum: 20, tokens: 30 })));
    }

    #[test]
    fn ungrouped_heads_are_rejected() {
        let err = input_shape(&inputs(&[30, 3, 64], &[30, 2, 64], &[30])).unwrap_err();
        let grouping = ShapeError::HeadsNotGrouped { heads: 3, kv_heads: 2 };
        assert!(matches!(err, VerticalSlashError::Inputs(InputError::Shape(e)) if e == grouping));
    }
}
