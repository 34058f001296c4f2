//! The vertical-slash kernels as a launch plan: the buffers they share and the launches in
//! order, with nothing read back in between (no host synchronisation). [`launches`] gives
//! the launches and the scratch buffers for a shape; [`plan`] adds host buffers for given
//! inputs, which the interpreter runs here and the GPU tests upload. The device runner
//! (`crate::gpu::vertical_slash::run_on_device`) allocates the same scratch on the device
//! around the caller's q, k, v and o, and launches the same list.

use super::reference::Selection;
use super::{input_shape, VerticalSlashError, VerticalSlashParams, FORCED_SLASHES, FORCED_VERTICALS, MAX_LAST_Q};
use crate::attention::AttentionShape;
use crate::sparse::index::{query_blocks, SparseIndex};
use crate::sparse::key_step::{key_step, target_consts};
use crate::sparse::local::query_blocks::cu_seqlens;
use crate::sparse::{AttentionInputs, SparseOutput};
use sparsefill_compiler::codegen::MmaLowering;
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::lower_source;
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_runtime::Lane;

use super::overlap::{self, HeadChunk};

/// The attention kernel, after attention.tile and query_block.tile for their
/// `fold_tile` and `finish_rows` helpers.
pub const ATTEND_SOURCE: &str = concat!(
    include_str!("../../../kernels/attention.tile"),
    include_str!("../../../kernels/query_block.tile"),
    include_str!("../../../kernels/sparse_vertical_slash.tile")
);
pub const ATTEND_KERNEL: &str = "sparse_vertical_slash";
/// The attention kernel of [`Walk::Pairs`], after the other attention kernel's file for
/// its `slash_keep`.
pub const PAIRS_SOURCE: &str = concat!(
    include_str!("../../../kernels/attention.tile"),
    include_str!("../../../kernels/query_block.tile"),
    include_str!("../../../kernels/sparse_vertical_slash.tile"),
    include_str!("../../../kernels/sparse_vertical_slash_pairs.tile")
);
pub const PAIRS_KERNEL: &str = "sparse_vertical_slash_pairs";

/// Refuses launches (`kernels`, the names they run) that hold the pairs walk off sm_90a,
/// before anything compiles: there its stages do not fit a block's shared memory (229,376
/// bytes at head dim 128 where sm_80 allows 166,912), which the compiler would report
/// without naming the walk or the way out.
pub fn check_walk_target<'a>(kernels: impl IntoIterator<Item = &'a str>, arch: Arch) -> Result<(), VerticalSlashError> {
    match kernels.into_iter().any(|k| k == PAIRS_KERNEL) && arch != Arch::Sm90a {
        true => Err(VerticalSlashError::PairsOffSm90a { arch }),
        false => Ok(()),
    }
}

/// How the attention walks the index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Walk {
    /// One 64-row query block a program (`sparse_vertical_slash`), on every target.
    #[default]
    Blocks,
    /// Two adjacent blocks a program, a warp group each, over one stream of the two
    /// blocks' slash tiles, which `vs_pair_union` builds after the conversion
    /// (`sparse_vertical_slash_pairs`). Its walk takes 64-key steps, which fit the
    /// registers only with wgmma: sm_90a with aligned q, k, v and o.
    Pairs,
}
/// The estimation kernels, after attention.tile for its `softmax_step` helper.
pub const ESTIMATE_SOURCE: &str = concat!(
    include_str!("../../../kernels/attention.tile"),
    include_str!("../../../kernels/estimate_vertical_slash.tile")
);
pub const TOPK_SOURCE: &str = include_str!("../../../kernels/topk.tile");
/// The launches of the index conversion, the last of the estimate: each chosen diagonal's
/// range, then the block lists.
pub const CONVERSION_KERNELS: [&str; 4] = ["vs_chain_stops", "vs_chain", "vs_hops", "vs_convert"];

/// Ranges `vs_convert` takes from one row of `vs_hops`: both launches get it as their `C`,
/// and the hop rows hold this many openers and the one after them, so that the two
/// kernels and the buffer agree (`vs_convert` reading past a row would read 0, a valid
/// opener).
pub const CHAIN_HOPS: usize = 32;

/// Key columns per gathered chunk in the attention kernel.
const COLUMN_CHUNK: usize = 64;

/// Keys per `vs_column_scores` program (its `BN`), and diagonals per `vs_diagonal_scores` program.
pub const SCORE_KEYS: usize = 64;

/// Diagonal partials per `vs_column_scores` program: its tile of [`MAX_LAST_Q`] rows by
/// [`SCORE_KEYS`] keys crosses `MAX_LAST_Q + SCORE_KEYS - 1` diagonals, one bin more
/// keeps the count a power of two (the last bin stays 0).
pub const SLASH_PARTIALS: usize = MAX_LAST_Q + SCORE_KEYS;

/// Key tiles (of 64) per `vs_row_stats` program: enough chunks that all heads and
/// sequences together make about this many programs, a few per SM of a large GPU.
const ROW_STATS_PROGRAMS: usize = 1024;

/// The keys per `vs_row_stats` program for sequences up to `longest` tokens, `heads`
/// query heads and `batch` sequences: a multiple of 64, so that chunks hold whole tiles,
/// and at least one tile.
pub fn key_chunk(longest: usize, heads: usize, batch: usize) -> usize {
    let tiles = longest.div_ceil(64);
    64 * (tiles * heads * batch).div_ceil(ROW_STATS_PROGRAMS).max(1)
}

/// A tensor the launches share. Inputs and outputs of the pattern, and what the estimator
/// passes between its kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Buffer {
    Q,
    K,
    V,
    CuSeqlens,
    /// `[B, H, NC, 64]` f32: each estimation row's softmax max (log2 units) and sum over
    /// each chunk of [`key_chunk`] keys, NC chunks covering the longest sequence.
    ChunkMax,
    ChunkSum,
    /// `[B, H, 64]` f32: each estimation row's softmax max (log2 units) and sum.
    RowMax,
    RowSum,
    /// `[B, H, S]` f32, S the longest length: scores per column and per diagonal distance.
    VerticalScores,
    SlashScores,
    /// `[B, H, ceil(S / 64) · 128]` f32: per `vs_column_scores` program `j` (keys `64 j ..
    /// 64 j + 64`), the sums of its probability tile along each diagonal: bin `t` of
    /// program `j` at `128 j + t` holds diagonal `len - 64 j - 127 + t` ([`SLASH_PARTIALS`]),
    /// zeros for programs past the sequence's end. `vs_diagonal_scores` adds them up.
    SlashPartials,
    /// `[B, H]` f32, `[B, H, 2]` i32 and `[B, H, 2, ceil(S / BLOCK)]` i32, BLOCK the
    /// [`topk_block`]: the vertical selection's threshold, its count and the ties it takes
    /// at the threshold, and per block of scores the candidates above the threshold and at
    /// it (`topk_threshold` writes them, `topk_write` reads them). The slash selection has
    /// its own, so that the two can run at the same time. In two levels ([`topk_chunk`])
    /// they are the second level's, S the length of its row of candidates and BLOCK that
    /// length's [`topk_block`].
    VerticalThreshold,
    VerticalWanted,
    VerticalTallies,
    SlashThreshold,
    SlashWanted,
    SlashTallies,
    /// `[B, H, min(size, S)]` i32 and `[B, H]` i32: the chosen positions, ascending, and their count.
    Verticals,
    VerticalCount,
    Slashes,
    SlashCount,
    /// `[B, H, min(slash_size, S)]` i32: per entry of the slash list, the highest entry at
    /// or below it that can close a range of the index conversion (-1: none;
    /// `vs_chain_stops` writes it, `vs_chain` jumps along it).
    SlashStop,
    /// `[B, H, min(slash_size, S)]` i32 each, per chosen diagonal as the opener of a range
    /// of the index conversion: the entry that closes the range (-1: none) and the range's
    /// width in tiles (`vs_chain` writes them, `vs_convert` follows them).
    SlashClose,
    SlashWidth,
    /// `[B, H, min(slash_size, S), CHAIN_HOPS + 1]` i32: per entry that can close a range,
    /// the openers of the ranges that follow it along `SlashClose` ([`CHAIN_HOPS`]),
    /// `vs_hops` writes them and `vs_convert` takes a row at a time.
    SlashHops,
    /// The other scratch of a selection in two levels ([`topk_chunk`]): the vertical
    /// selection's or the slash selection's, each its own so that the two can run at the
    /// same time.
    Topk(Pick, TopkScratch),
    BlockCount,
    BlockOffset,
    ColumnCount,
    ColumnIndex,
    O,
    Lse,
    /// `[B, H, NP]` i32 and `[B, H, NP, 2 NNZ_S]` i32 twice, NP = ceil(NB / 2): per pair of
    /// adjacent query blocks, the union of their tile lists, and which of them lists each
    /// entry (`vs_pair_union`, [`super::pairs`]; launched with [`Walk::Pairs`]).
    PairCount,
    PairOffset,
    PairOwner,
}

/// The selection a [`Buffer::Topk`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pick {
    Vertical,
    Slash,
}

/// The scratch of a two-level selection of k from rows of S scores ([`topk_chunk`]), cut
/// into NCH = ceil(S / CH) chunks of CH, each giving up to KC = min(k, CH) candidates in
/// SC slots: KC rounded up to a multiple of [`CANDIDATE_TILE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TopkScratch {
    /// `[B, H · NCH, CH]` f32: the scores, chunk `j` of head `h` as row `h · NCH + j`,
    /// -inf past the row (`topk_chunks`).
    Chunks,
    /// `[B, H · NCH, KC]` i32 and `[B, H · NCH]` i32: each chunk's picks, as positions in
    /// the chunk, ascending, and their count.
    ChunkIndex,
    ChunkCount,
    /// `[B, H · NCH]` f32, `[B, H · NCH, 2]` i32 and `[B, H · NCH, 2, ceil(CH / BLOCK)]`
    /// i32, BLOCK the [`topk_block`] of CH: the first level's threshold, wanted and tallies.
    ChunkThreshold,
    ChunkWanted,
    ChunkTallies,
    /// `[B, H, NCH · SC]` f32 and i32: the chunks' picks in order, chunk `j`'s from slot
    /// `j · SC`, as scores and as positions in the row; -inf and -1 past a chunk's count
    /// (`topk_candidates`).
    Candidates,
    CandidatePositions,
    /// `[B, H, min(k, S)]` i32: the second level's picks as candidate slots, ascending
    /// (`topk_positions` maps them to the list).
    CandidateIndex,
}

/// One launch argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    Buffer(Buffer),
    F32(f32),
    I32(i32),
}

/// One kernel launch: the source, the kernel in it, its specialization and arguments,
/// and the stream it goes on on a GPU (the lane only lets it overlap launches that take
/// none of its buffers: `sparsefill_runtime::lanes`; the list order is a valid serial one).
#[derive(Clone, Debug)]
pub struct Launch {
    pub source: &'static str,
    pub kernel: &'static str,
    pub consts: Vec<(String, ConstValue)>,
    pub args: Vec<Arg>,
    pub lane: Lane,
    /// The heads it covers: all of them, or a chunk whose part of each buffer it takes
    /// ([`super::overlap`]).
    pub heads: HeadChunk,
}

impl Launch {
    /// The buffers the launch takes, in argument order.
    pub fn buffers(&self) -> Vec<Buffer> {
        self.args
            .iter()
            .filter_map(|a| match *a {
                Arg::Buffer(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    /// What the launch takes, as `sparsefill_runtime::lanes` orders launches by: each
    /// buffer with the chunk of heads it views (chunks of one buffer are disjoint).
    pub fn keys(&self) -> Vec<(Buffer, HeadChunk)> {
        self.buffers().into_iter().map(|b| (b, self.heads)).collect()
    }
}

/// The launches of the pattern for one shape, and the buffers they write besides o: lse,
/// the estimator's intermediates and the index, each with its dtype and dims. Every one
/// starts poisoned: floats NaN, i32 -1 (what `DeviceTensor::poison` writes).
#[derive(Clone, Debug)]
pub struct Launches {
    pub scratch: Vec<(Buffer, DType, Vec<usize>)>,
    pub estimate: Vec<Launch>,
    pub attend: Launch,
}

/// The buffers (initial contents: the inputs, outputs poisoned) and the launches.
#[derive(Clone, Debug)]
pub struct Plan {
    pub buffers: Vec<(Buffer, HostTensor)>,
    pub estimate: Vec<Launch>,
    pub attend: Launch,
}

impl Plan {
    pub fn buffer(&self, which: Buffer) -> Option<&HostTensor> {
        self.buffers.iter().find(|(b, _)| *b == which).map(|(_, t)| t)
    }

    pub fn buffer_mut(&mut self, which: Buffer) -> Option<&mut HostTensor> {
        self.buffers.iter_mut().find(|(b, _)| *b == which).map(|(_, t)| t)
    }

    /// Row `[seq, head, ..]` of a `[B, H, N]` buffer (scores or a selection).
    pub fn row(&self, which: Buffer, seq: usize, head: usize) -> Option<&[f64]> {
        let t = self.buffer(which)?;
        let (heads, n) = (*t.shape.get(1)?, *t.shape.get(2)?);
        t.data.get((seq * heads + head) * n..(seq * heads + head + 1) * n)
    }

    /// One head's chosen columns and diagonals, as the selection left them; `None` if a
    /// count is missing, negative (unwritten) or past its list.
    pub fn selection(&self, seq: usize, head: usize) -> Option<Selection> {
        let list = |which: Buffer, count: Buffer| -> Option<Vec<usize>> {
            let counts = self.buffer(count)?;
            let n = *counts.data.get(seq * counts.shape.get(1)? + head)?;
            let row = self.row(which, seq, head)?;
            (n >= 0.0).then(|| row.get(..n as usize).map(|r| r.iter().map(|&x| x as usize).collect()))?
        };
        Some(Selection {
            verticals: list(Buffer::Verticals, Buffer::VerticalCount)?,
            slashes: list(Buffer::Slashes, Buffer::SlashCount)?,
        })
    }

    /// The four index tensors as the estimator left them.
    pub fn index(&self) -> Option<SparseIndex> {
        Some(SparseIndex {
            block_count: self.buffer(Buffer::BlockCount)?.clone(),
            block_offset: self.buffer(Buffer::BlockOffset)?.clone(),
            column_count: self.buffer(Buffer::ColumnCount)?.clone(),
            column_index: self.buffer(Buffer::ColumnIndex)?.clone(),
        })
    }
}

/// The attention launch over the index buffers.
fn attend_launch(head_dim: usize, scale: f32) -> Launch {
    use Buffer::*;
    let args = [Q, K, V, CuSeqlens, BlockCount, BlockOffset, ColumnCount, ColumnIndex, O, Lse];
    attention_launch((ATTEND_SOURCE, ATTEND_KERNEL), &args, head_dim, scale)
}

/// An attention kernel's launch over `buffers`, then the scale; its column step and head
/// dim as consts.
fn attention_launch(
    (source, kernel): (&'static str, &'static str),
    buffers: &[Buffer],
    head_dim: usize,
    scale: f32,
) -> Launch {
    Launch {
        source,
        kernel,
        consts: vec![int_const("BN", COLUMN_CHUNK), int_const("D", head_dim)],
        args: buffers.iter().copied().map(Arg::Buffer).chain([Arg::F32(scale)]).collect(),
        lane: Lane::Main,
        heads: HeadChunk::ALL,
    }
}

/// The attention launch of [`Walk::Pairs`] over the columns and the pair union.
fn pairs_launch(head_dim: usize, scale: f32) -> Launch {
    use Buffer::*;
    let args = [Q, K, V, CuSeqlens, ColumnCount, ColumnIndex, PairCount, PairOffset, PairOwner, O, Lse];
    attention_launch((PAIRS_SOURCE, PAIRS_KERNEL), &args, head_dim, scale)
}

/// The attention launch's tensors whose `aligned` contract ([`key_step`]'s `aligned`)
/// decides its key step: the ones its 64-key loop copies with TMA or stores whole.
pub const STEP_TENSORS: [Buffer; 4] = [Buffer::Q, Buffer::K, Buffer::V, Buffer::O];

/// Key columns per gathered step of the attention kernel (its `cs`) for `head_dim`.
pub fn column_step(head_dim: usize, arch: Arch, mma: MmaLowering, aligned: bool) -> usize {
    match head_dim {
        0..=64 => COLUMN_CHUNK,
        _ => COLUMN_CHUNK * key_step(arch, mma, aligned) / 64,
    }
}

/// Scores per `topk_write` program: about 32 programs a row, from 64 up to
/// 4096, so a short row is still split and a long one does not run a program per
/// handful of scores.
pub fn topk_block(longest: usize) -> usize {
    longest.div_ceil(32).next_power_of_two().clamp(64, 4096)
}

/// The `ROW` of `topk_threshold` for rows of `len` scores: the row in registers, `len`
/// rounded up to a power of two, up to [`TOPK_ROW_MAX`]; 0 (the row streamed at every
/// counting pass) past it.
pub fn topk_row(len: usize) -> usize {
    let row = len.next_power_of_two();
    if row <= TOPK_ROW_MAX {
        row
    } else {
        0
    }
}

/// The longest row `topk_threshold` holds in registers: 64 scores a thread of its 16
/// warps (127 registers, no spill, on sm_90a).
pub const TOPK_ROW_MAX: usize = 32768;

/// Scores a chunk of a two-level selection holds at least ([`topk_chunk`]).
pub const TOPK_MIN_CHUNK: usize = 16384;

/// The `TILE` of `topk_candidates`: a chunk's slots among the candidates are a whole
/// number of them, so that no store of one chunk's reaches another's.
pub const CANDIDATE_TILE: usize = 64;

/// The chunk size CH of a selection of `k` from rows of `longest` scores, or `None` to
/// select in one level: CH = max(16384, 4 k rounded up to a power of two), in two levels
/// only when a row holds two chunks or more (with one, the second level would redo the
/// first). `topk_threshold` takes one program a row for its ~37 counting passes, so a few
/// long rows leave most SMs idle; cut into chunks, the first level takes a program a
/// chunk, and the second counts over KC = k candidates of every CH ≥ 4 k scores, a
/// quarter of the row or less. The floor of 16384 keeps each chunk program two of the
/// threshold's 8192-score counting tiles, so that its fixed costs (a program, its
/// bisection's reductions) stay small beside the passes.
///
/// Only for fewer than [`TOPK_TWO_LEVEL_ROWS`] rows (sequences × heads): with more, the
/// rows already spread over the SMs, and the second level's launches and the first
/// level's compaction of every row cost what the shorter passes save. Measured on the
/// H200, each launch timed alone, two levels in session 18's round 3 and one level in its
/// round 2 (separate calls; vertical and slash selections): 4 rows of 512K, 0.43 and 0.79
/// ms against 1.49 and 1.49; 32 rows of 128K, 0.48 and 0.59 against 0.49 and 0.54; 32
/// rows of 32K (verticals only), 0.26 against 0.16. In one call (round 5) the 32K
/// estimate took 0.95 ms with two levels for the verticals and 0.91–0.92 with one.
pub fn topk_chunk(k: usize, longest: usize, rows: usize) -> Option<usize> {
    let ch = k.saturating_mul(4).next_power_of_two().max(TOPK_MIN_CHUNK);
    (rows < TOPK_TWO_LEVEL_ROWS && longest >= 2 * ch).then_some(ch)
}

/// Rows (sequences × heads) from which a selection stays in one level ([`topk_chunk`]).
pub const TOPK_TWO_LEVEL_ROWS: usize = 16;

/// How the selections cut long rows into chunks ([`launches_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TopkChunks {
    /// [`topk_chunk`]'s rule, as shipped.
    #[default]
    Auto,
    /// Chunks of this many scores whenever a row is longer: the interpreter's short rows
    /// through two levels, and chunks smaller than k, which the rule never makes.
    Fixed(usize),
}

impl TopkChunks {
    /// The chunk size for a selection of `k` from `rows` rows of `longest` scores; `None`:
    /// one level.
    pub fn chunk(self, k: usize, longest: usize, rows: usize) -> Option<usize> {
        match self {
            TopkChunks::Auto => topk_chunk(k, longest, rows),
            TopkChunks::Fixed(ch) => (ch > 0 && longest > ch).then_some(ch),
        }
    }
}

fn int_const(name: &str, value: usize) -> (String, ConstValue) {
    (name.to_string(), ConstValue::Int(value as i64))
}

/// A host tensor poisoned as the plan's outputs start: floats NaN, i32 -1.
fn poisoned(dtype: DType, dims: &[usize]) -> HostTensor {
    let value = if dtype == DType::I32 { -1.0 } else { f64::NAN };
    HostTensor::filled(dtype, dims, value)
}

/// The input buffers and the poisoned o.
fn io_buffers(inputs: &AttentionInputs, shape: &AttentionShape) -> Vec<(Buffer, HostTensor)> {
    vec![
        (Buffer::Q, inputs.q.clone()),
        (Buffer::K, inputs.k.clone()),
        (Buffer::V, inputs.v.clone()),
        (Buffer::CuSeqlens, cu_seqlens(shape)),
        (Buffer::O, poisoned(DType::BF16, &[shape.tokens(), shape.heads, shape.head_dim])),
    ]
}

/// The launch plan of the whole pattern for `inputs`: the host buffers (the inputs, then
/// [`Launches::scratch`] poisoned) and the launches.
pub fn plan(inputs: &AttentionInputs, params: &VerticalSlashParams) -> Result<Plan, VerticalSlashError> {
    plan_with(inputs, params, TopkChunks::Auto)
}

/// [`plan`] with the selections' rows cut into `chunks`.
pub fn plan_with(
    inputs: &AttentionInputs,
    params: &VerticalSlashParams,
    chunks: TopkChunks,
) -> Result<Plan, VerticalSlashError> {
    plan_walking(inputs, params, chunks, Walk::Blocks)
}

/// [`plan_with`] with the attention walking the index as `walk` says.
pub fn plan_walking(
    inputs: &AttentionInputs,
    params: &VerticalSlashParams,
    chunks: TopkChunks,
    walk: Walk,
) -> Result<Plan, VerticalSlashError> {
    let shape = input_shape(inputs)?;
    let Launches { scratch, estimate, attend } = launches_walking(&shape, params, chunks, walk)?;
    let mut buffers = io_buffers(inputs, &shape);
    buffers.extend(scratch.into_iter().map(|(buffer, dtype, dims)| (buffer, poisoned(dtype, &dims))));
    Ok(Plan { buffers, estimate, attend })
}

/// The launches of the whole pattern on a checked `shape`: estimation (row statistics per
/// key chunk and their combination, column scores with diagonal partials, their sums per
/// diagonal, the two selections, the conversion), then attention, with the scratch
/// buffers they write.
pub fn launches(shape: &AttentionShape, params: &VerticalSlashParams) -> Result<Launches, VerticalSlashError> {
    launches_with(shape, params, TopkChunks::Auto)
}

/// [`launches_with`] with the attention walking the index as `walk` says: for
/// [`Walk::Pairs`], the pair union's launch and buffers follow the conversion.
pub fn launches_walking(
    shape: &AttentionShape,
    params: &VerticalSlashParams,
    topk_chunks: TopkChunks,
    walk: Walk,
) -> Result<Launches, VerticalSlashError> {
    let mut launches = launches_with(shape, params, topk_chunks)?;
    if walk == Walk::Pairs {
        let (batch, heads) = (shape.seqlens.len(), shape.heads);
        let np = super::pairs::pairs(query_blocks(&shape.seqlens));
        let nnz_p = 2 * params.tile_capacity(&shape.seqlens);
        launches.scratch.extend([
            (Buffer::PairCount, DType::I32, vec![batch, heads, np]),
            (Buffer::PairOffset, DType::I32, vec![batch, heads, np, nnz_p]),
            (Buffer::PairOwner, DType::I32, vec![batch, heads, np, nnz_p]),
        ]);
        launches.estimate.push(super::pairs::launch(super::pairs::PAIR_CHUNK));
        launches.attend = pairs_launch(shape.head_dim, shape.scale());
    }
    Ok(launches)
}

/// [`launches`] with the selections' rows cut into `chunks`.
pub fn launches_with(
    shape: &AttentionShape,
    params: &VerticalSlashParams,
    topk_chunks: TopkChunks,
) -> Result<Launches, VerticalSlashError> {
    use Buffer::*;
    params.validate()?;
    let (batch, heads, d) = (shape.seqlens.len(), shape.heads, shape.head_dim);
    let longest = shape.seqlens.iter().copied().max().unwrap_or(0);
    let (nv, ns) = (params.column_capacity(&shape.seqlens), params.slash_size.min(longest));
    let blocks = query_blocks(&shape.seqlens);
    let nnz_s = params.tile_capacity(&shape.seqlens);
    let chunk = key_chunk(longest, heads, batch);
    let chunks = longest.div_ceil(chunk).max(1);
    let (float, int) = (DType::F32, DType::I32);
    let scratch = vec![
        (Lse, float, vec![heads, shape.tokens()]),
        (ChunkMax, float, vec![batch, heads, chunks, MAX_LAST_Q]),
        (ChunkSum, float, vec![batch, heads, chunks, MAX_LAST_Q]),
        (RowMax, float, vec![batch, heads, MAX_LAST_Q]),
        (RowSum, float, vec![batch, heads, MAX_LAST_Q]),
        (VerticalScores, float, vec![batch, heads, longest]),
        (SlashScores, float, vec![batch, heads, longest]),
        (SlashPartials, float, vec![batch, heads, longest.div_ceil(SCORE_KEYS) * SLASH_PARTIALS]),
    ];
    let rows = [batch, heads, longest];
    let vertical = Selector {
        pick: Pick::Vertical,
        scores: VerticalScores,
        k: params.vertical_size,
        list: [Verticals, VerticalCount],
        last: [VerticalThreshold, VerticalWanted, VerticalTallies],
        lane: Lane::Side,
    };
    let slash = Selector {
        pick: Pick::Slash,
        scores: SlashScores,
        k: params.slash_size,
        list: [Slashes, SlashCount],
        last: [SlashThreshold, SlashWanted, SlashTallies],
        lane: Lane::Main,
    };
    let (vertical_scratch, vertical_pick) = vertical.select(rows, nv, topk_chunks);
    let (slash_scratch, slash_pick) = slash.select(rows, ns, topk_chunks);
    let scratch = scratch.into_iter().chain(vertical_scratch).chain(slash_scratch).chain([
        (Verticals, int, vec![batch, heads, nv]),
        (VerticalCount, int, vec![batch, heads]),
        (Slashes, int, vec![batch, heads, ns]),
        (SlashCount, int, vec![batch, heads]),
        (SlashStop, int, vec![batch, heads, ns]),
        (SlashClose, int, vec![batch, heads, ns]),
        (SlashWidth, int, vec![batch, heads, ns]),
        (SlashHops, int, vec![batch, heads, ns, CHAIN_HOPS + 1]),
        (BlockCount, int, vec![batch, heads, blocks]),
        (BlockOffset, int, vec![batch, heads, blocks, nnz_s]),
        (ColumnCount, int, vec![batch, heads, blocks]),
        (ColumnIndex, int, vec![batch, heads, blocks, nv]),
    ]);
    let scratch = scratch.collect();
    let (scale, last_q) = (Arg::F32(shape.scale()), Arg::I32(params.last_q as i32));
    let specialized = vec![int_const("BN", SCORE_KEYS), int_const("D", d), int_const("LQ", MAX_LAST_Q)];
    let estimator = |kernel, mut args: Vec<Arg>, tail: &[Arg]| {
        args.extend_from_slice(tail);
        Launch {
            source: ESTIMATE_SOURCE,
            kernel,
            consts: specialized.clone(),
            args,
            lane: Lane::Main,
            heads: HeadChunk::ALL,
        }
    };
    let bufs = |list: &[Buffer]| list.iter().copied().map(Arg::Buffer).collect::<Vec<_>>();
    let forced = |n: usize| Arg::I32(n as i32);
    // chunk <= 64 * ceil(longest / 64), and validated lengths fit in i32.
    let chunk_arg = Arg::I32(chunk as i32);
    let scores = vec![
        estimator("vs_row_stats", bufs(&[Q, K, CuSeqlens, ChunkMax, ChunkSum]), &[scale, last_q, chunk_arg]),
        Launch {
            source: ESTIMATE_SOURCE,
            kernel: "vs_combine_stats",
            consts: vec![int_const("LQ", MAX_LAST_Q)],
            args: bufs(&[ChunkMax, ChunkSum, RowMax, RowSum]),
            lane: Lane::Main,
            heads: HeadChunk::ALL,
        },
        estimator(
            "vs_column_scores",
            bufs(&[Q, K, CuSeqlens, RowMax, RowSum, VerticalScores, SlashPartials]),
            &[scale, last_q, forced(FORCED_VERTICALS)],
        ),
    ];
    let diagonal_sums = Launch {
        source: ESTIMATE_SOURCE,
        kernel: "vs_diagonal_scores",
        consts: vec![int_const("BN", SCORE_KEYS), int_const("LQ", MAX_LAST_Q)],
        args: bufs(&[CuSeqlens, SlashPartials, SlashScores]).into_iter().chain([forced(FORCED_SLASHES)]).collect(),
        lane: Lane::Main,
        heads: HeadChunk::ALL,
    };
    let convert = vec![
        Launch {
            source: ESTIMATE_SOURCE,
            kernel: CONVERSION_KERNELS[0],
            consts: vec![],
            args: bufs(&[Slashes, SlashCount, SlashStop]),
            lane: Lane::Main,
            heads: HeadChunk::ALL,
        },
        Launch {
            source: ESTIMATE_SOURCE,
            kernel: CONVERSION_KERNELS[1],
            consts: vec![],
            args: bufs(&[Slashes, SlashCount, SlashStop, SlashClose, SlashWidth]),
            lane: Lane::Main,
            heads: HeadChunk::ALL,
        },
        Launch {
            source: ESTIMATE_SOURCE,
            kernel: CONVERSION_KERNELS[2],
            consts: vec![int_const("C", CHAIN_HOPS)],
            args: bufs(&[Slashes, SlashCount, SlashClose, SlashHops]),
            lane: Lane::Main,
            heads: HeadChunk::ALL,
        },
        Launch {
            source: ESTIMATE_SOURCE,
            kernel: CONVERSION_KERNELS[3],
            consts: vec![int_const("C", CHAIN_HOPS)],
            args: bufs(&[
                CuSeqlens,
                Verticals,
                VerticalCount,
                Slashes,
                SlashCount,
                SlashWidth,
                SlashHops,
                BlockCount,
                BlockOffset,
                ColumnCount,
                ColumnIndex,
            ]),
            lane: Lane::Main,
            heads: HeadChunk::ALL,
        },
    ];
    // The vertical selection goes on the side lane as soon as its scores are there, beside
    // the diagonal sums, the slash selection and vs_chain: each selection's threshold is one
    // program a row (a few dozen on a GPU of a hundred or more SMs; a chunk a row in two
    // levels, still short of filling it at 4 heads), so the two run side by side.
    // vs_convert takes both lists, so it waits for both.
    let estimate =
        scores.into_iter().chain(vertical_pick).chain([diagonal_sums]).chain(slash_pick).chain(convert).collect();
    Ok(Launches { scratch, estimate, attend: attend_launch(d, shape.scale()) })
}

/// A scratch buffer: which, its dtype and dims.
type Scratch = (Buffer, DType, Vec<usize>);

/// One selection: its scores, how many it keeps, its list and count, the threshold,
/// wanted and tallies of its only or last level, and its lane.
struct Selector {
    pick: Pick,
    scores: Buffer,
    k: usize,
    list: [Buffer; 2],
    last: [Buffer; 3],
    lane: Lane,
}

impl Selector {
    /// The selection's launches for `[batch, heads, longest]` scores into a list of
    /// `capacity`, and its scratch besides the list and count: one level, or two when
    /// `chunks` cuts the rows ([`topk_chunk`]; the exactness argument is in topk.tile).
    fn select(
        &self,
        [batch, heads, longest]: [usize; 3],
        capacity: usize,
        chunks: TopkChunks,
    ) -> (Vec<Scratch>, Vec<Launch>) {
        let (float, int) = (DType::F32, DType::I32);
        let [list, count] = self.list;
        let [threshold, wanted, tallies] = self.last;
        let last_scratch = |len: usize| {
            vec![
                (threshold, float, vec![batch, heads]),
                (wanted, int, vec![batch, heads, 2]),
                (tallies, int, vec![batch, heads, 2, len.div_ceil(topk_block(len)).max(1)]),
            ]
        };
        let Some(ch) = chunks.chunk(self.k, longest, batch * heads) else {
            let launches = self.pair(longest, self.scores, self.k, [list, count, threshold, wanted, tallies]);
            return (last_scratch(longest), launches.to_vec());
        };
        let part = |which| Buffer::Topk(self.pick, which);
        use TopkScratch::*;
        let (nch, kc) = (longest.div_ceil(ch), self.k.min(ch));
        let rows = heads * nch;
        let candidates = nch * kc.next_multiple_of(CANDIDATE_TILE);
        let mut scratch = last_scratch(candidates);
        scratch.extend([
            (part(Chunks), float, vec![batch, rows, ch]),
            (part(ChunkIndex), int, vec![batch, rows, kc]),
            (part(ChunkCount), int, vec![batch, rows]),
            (part(ChunkThreshold), float, vec![batch, rows]),
            (part(ChunkWanted), int, vec![batch, rows, 2]),
            (part(ChunkTallies), int, vec![batch, rows, 2, ch.div_ceil(topk_block(ch))]),
            (part(Candidates), float, vec![batch, heads, candidates]),
            (part(CandidatePositions), int, vec![batch, heads, candidates]),
            (part(CandidateIndex), int, vec![batch, heads, capacity]),
        ]);
        let first = [part(ChunkIndex), part(ChunkCount), part(ChunkThreshold), part(ChunkWanted), part(ChunkTallies)];
        let launches = [self.launch("topk_chunks", vec![], &[self.scores, part(Chunks)])]
            .into_iter()
            .chain(self.pair(ch, part(Chunks), kc, first))
            .chain([self.launch(
                "topk_candidates",
                vec![int_const("TILE", CANDIDATE_TILE)],
                &[part(Chunks), part(ChunkIndex), part(ChunkCount), part(Candidates), part(CandidatePositions)],
            )])
            .chain(self.pair(
                candidates,
                part(Candidates),
                self.k,
                [part(CandidateIndex), count, threshold, wanted, tallies],
            ))
            .chain([self.launch(
                "topk_positions",
                vec![],
                &[part(CandidatePositions), part(CandidateIndex), count, list],
            )])
            .collect();
        (scratch, launches)
    }

    fn launch(&self, kernel: &'static str, consts: Vec<(String, ConstValue)>, buffers: &[Buffer]) -> Launch {
        let args = buffers.iter().copied().map(Arg::Buffer).collect();
        Launch { source: TOPK_SOURCE, kernel, consts, args, lane: self.lane, heads: HeadChunk::ALL }
    }

    /// `topk_threshold` and `topk_write` selecting `k` of the rows of `scores`, each
    /// `len` long, into `index` and `count`, with their `threshold`, `wanted` and `tallies`.
    fn pair(&self, len: usize, scores: Buffer, k: usize, buffers: [Buffer; 5]) -> [Launch; 2] {
        let [index, count, threshold, wanted, tallies] = buffers;
        let consts = vec![int_const("BLOCK", topk_block(len))];
        let mut threshold_consts = consts.clone();
        threshold_consts.push(int_const("ROW", topk_row(len)));
        let mut first =
            self.launch("topk_threshold", threshold_consts, &[scores, index, count, threshold, wanted, tallies]);
        // validate() bounds the sizes by i32::MAX.
        first.args.insert(1, Arg::I32(k as i32));
        [first, self.launch("topk_write", consts, &[scores, threshold, wanted, tallies, index])]
    }
}

/// Runs one launch on the interpreter over `buffers`, which it updates in place.
pub fn run_launch(launch: &Launch, buffers: &mut [(Buffer, HostTensor)]) -> Result<(), VerticalSlashError> {
    let kernel = launch.kernel;
    let ir = lower_source(launch.source, Some(kernel), &launch.consts)
        .map_err(|source| VerticalSlashError::Compile { kernel, source })?;
    // Move each buffer into the argument list and back, rather than copying it; a chunk
    // of heads takes a copy of its part of each buffer and puts it back.
    let mut taken = Vec::new();
    let mut args = Vec::with_capacity(launch.args.len());
    for arg in &launch.args {
        args.push(match *arg {
            Arg::Buffer(which) => {
                let at = buffers
                    .iter()
                    .position(|(b, _)| *b == which)
                    .ok_or(VerticalSlashError::MissingBuffer { kernel, buffer: which })?;
                let tensor = &mut buffers[at].1;
                let part = overlap::head_range(which, &tensor.shape, launch.heads);
                let value = match &part {
                    Some((axis, range)) => overlap::take_range(tensor, *axis, range.clone()),
                    None => std::mem::replace(tensor, HostTensor::zeros(DType::I32, &[0])),
                };
                taken.push((at, part));
                ArgValue::Tensor(value)
            }
            Arg::F32(x) => ArgValue::F32(x),
            Arg::I32(x) => ArgValue::I32(x),
        });
    }
    let result = interp::run(&ir, &mut args);
    let mut tensors = args.into_iter().filter_map(|a| match a {
        ArgValue::Tensor(t) => Some(t),
        _ => None,
    });
    for (at, part) in taken {
        if let Some(t) = tensors.next() {
            match part {
                Some((axis, range)) => overlap::put_range(&mut buffers[at].1, axis, range, &t),
                None => buffers[at].1 = t,
            }
        }
    }
    result.map_err(|source| VerticalSlashError::Interp { kernel, source })
}

/// The outputs of a run: o, lse and the index, by name.
fn output(buffers: Vec<(Buffer, HostTensor)>) -> SparseOutput {
    let mut out = SparseOutput {
        o: HostTensor::zeros(DType::BF16, &[0]),
        lse: HostTensor::zeros(DType::F32, &[0]),
        index: vec![],
    };
    let names = [
        (Buffer::BlockCount, crate::sparse::index::BLOCK_COUNT),
        (Buffer::BlockOffset, crate::sparse::index::BLOCK_OFFSET),
        (Buffer::ColumnCount, crate::sparse::index::COLUMN_COUNT),
        (Buffer::ColumnIndex, crate::sparse::index::COLUMN_INDEX),
    ];
    for (which, t) in buffers {
        match which {
            Buffer::O => out.o = t,
            Buffer::Lse => out.lse = t,
            _ => {
                if let Some((_, name)) = names.iter().find(|(b, _)| *b == which) {
                    out.index.push((name.to_string(), t));
                }
            }
        }
    }
    out
}

/// The whole pattern on the interpreter: estimation, index conversion and attention. The
/// index the estimator built is validated before the attention runs.
pub fn run_interp(inputs: &AttentionInputs, params: &VerticalSlashParams) -> Result<SparseOutput, VerticalSlashError> {
    let mut plan = plan(inputs, params)?;
    for launch in &plan.estimate {
        run_launch(launch, &mut plan.buffers)?;
    }
    let index =
        plan.index().ok_or(VerticalSlashError::MissingBuffer { kernel: ATTEND_KERNEL, buffer: Buffer::BlockCount })?;
    index.validate(&inputs.seqlens, inputs.q.shape[1])?;
    run_launch(&plan.attend, &mut plan.buffers)?;
    Ok(output(plan.buffers))
}

/// Sparse attention with a given index on the interpreter. The index is validated first,
/// so a malformed one is an error before anything runs.
pub fn attend_interp(inputs: &AttentionInputs, index: &SparseIndex) -> Result<SparseOutput, VerticalSlashError> {
    attend_interp_as(inputs, index, Arch::Sm80, MmaLowering::MmaSync)
}

/// [`attend_interp`] of the kernel specialized as the GPU runners launch it on `arch` with
/// `mma` on packed (aligned) tensors ([`target_consts`]), so the interpreter checks each
/// target's key steps; the 32-key step of unaligned ones is sm_80's.
pub fn attend_interp_as(
    inputs: &AttentionInputs,
    index: &SparseIndex,
    arch: Arch,
    mma: MmaLowering,
) -> Result<SparseOutput, VerticalSlashError> {
    let shape = input_shape(inputs)?;
    index.validate(&shape.seqlens, shape.heads)?;
    let mut buffers = io_buffers(inputs, &shape);
    let index = index.clone();
    buffers.extend([
        (Buffer::Lse, poisoned(DType::F32, &[shape.heads, shape.tokens()])),
        (Buffer::BlockCount, index.block_count),
        (Buffer::BlockOffset, index.block_offset),
        (Buffer::ColumnCount, index.column_count),
        (Buffer::ColumnIndex, index.column_index),
    ]);
    let mut launch = attend_launch(shape.head_dim, shape.scale());
    launch.consts = target_consts(launch.kernel, &launch.consts, arch, mma, true);
    run_launch(&launch, &mut buffers)?;
    Ok(output(buffers))
}

/// [`attend_interp`] of [`Walk::Pairs`]: the pair union of the index, then the pairs'
/// attention kernel, both on the interpreter.
pub fn attend_pairs_interp(inputs: &AttentionInputs, index: &SparseIndex) -> Result<SparseOutput, VerticalSlashError> {
    let shape = input_shape(inputs)?;
    index.validate(&shape.seqlens, shape.heads)?;
    let mut buffers = io_buffers(inputs, &shape);
    buffers.retain(|(b, _)| *b != Buffer::CuSeqlens);
    buffers.extend(super::pairs::buffers(index, &shape.seqlens));
    let index = index.clone();
    buffers.extend([
        (Buffer::Lse, poisoned(DType::F32, &[shape.heads, shape.tokens()])),
        (Buffer::ColumnCount, index.column_count),
        (Buffer::ColumnIndex, index.column_index),
    ]);
    run_launch(&super::pairs::launch(super::pairs::PAIR_CHUNK), &mut buffers)?;
    run_launch(&pairs_launch(shape.head_dim, shape.scale()), &mut buffers)?;
    Ok(output(buffers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> AttentionInputs {
        let t = |heads: usize| HostTensor::zeros(DType::BF16, &[100, heads, 64]);
        AttentionInputs { q: t(2), k: t(1), v: t(1), seqlens: vec![100] }
    }

    const PARAMS: VerticalSlashParams = VerticalSlashParams { vertical_size: 8, slash_size: 8, last_q: 64 };

    fn host_plan() -> Plan {
        plan(&inputs(), &PARAMS).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn topk_blocks_split_a_128k_row_32_ways() {
        assert_eq!(topk_block(131072), 4096);
    }

    #[test]
    fn topk_blocks_are_at_most_4096() {
        assert_eq!(topk_block(524288), 4096);
    }

    #[test]
    fn topk_blocks_of_a_short_row_are_one_chunk() {
        assert_eq!(topk_block(300), 64);
    }

    #[test]
    fn a_host_plan_holds_the_inputs_o_and_the_scratch_of_its_launches() {
        use Buffer::*;
        let shape = input_shape(&inputs()).unwrap_or_else(|e| panic!("{e}"));
        let scratch = launches(&shape, &PARAMS).unwrap_or_else(|e| panic!("{e}")).scratch;
        let expected: Vec<Buffer> = [Q, K, V, CuSeqlens, O].into_iter().chain(scratch.iter().map(|s| s.0)).collect();
        assert_eq!(host_plan().buffers.iter().map(|(b, _)| *b).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn float_scratch_starts_as_nan_and_integer_scratch_as_minus_one() {
        let plan = host_plan();
        let (lse, count) = (plan.buffer(Buffer::Lse), plan.buffer(Buffer::BlockCount));
        let poisoned = |t: Option<&HostTensor>, ok: fn(f64) -> bool| t.is_some_and(|t| t.data.iter().all(|&x| ok(x)));
        assert!(poisoned(lse, f64::is_nan) && poisoned(count, |x| x == -1.0));
    }

    #[test]
    fn lse_is_heads_by_tokens() {
        let shape = input_shape(&inputs()).unwrap_or_else(|e| panic!("{e}"));
        let scratch = launches(&shape, &PARAMS).unwrap_or_else(|e| panic!("{e}")).scratch;
        assert_eq!(scratch.first(), Some(&(Buffer::Lse, DType::F32, vec![2, 100])));
    }

    /// 100 tokens are two 64-key programs of 128 diagonal partials each.
    #[test]
    fn slash_partials_hold_128_bins_per_64_keys() {
        let shape = input_shape(&inputs()).unwrap_or_else(|e| panic!("{e}"));
        let scratch = launches(&shape, &PARAMS).unwrap_or_else(|e| panic!("{e}")).scratch;
        let partials = scratch.into_iter().find(|s| s.0 == Buffer::SlashPartials);
        assert_eq!(partials, Some((Buffer::SlashPartials, DType::F32, vec![1, 2, 256])));
    }

    /// `vs_hops` writes rows of `C + 1` openers and `vs_convert` reads `C` and the one after:
    /// both get `C` from the plan, and the hop buffer's rows hold `C + 1`.
    #[test]
    fn the_chain_launches_and_the_hop_rows_agree_on_their_width() {
        let plan = host_plan();
        let c_of = |kernel: &str| {
            let launch = plan.estimate.iter().find(|l| l.kernel == kernel).unwrap_or_else(|| panic!("no {kernel}"));
            launch.consts.iter().find(|(name, _)| name == "C").map(|(_, v)| v.clone())
        };
        let hops = Some(ConstValue::Int(CHAIN_HOPS as i64));
        assert_eq!((c_of("vs_hops"), c_of("vs_convert")), (hops.clone(), hops));
        let rows = plan.buffer(Buffer::SlashHops).map(|t| t.shape.last().copied());
        assert_eq!(rows, Some(Some(CHAIN_HOPS + 1)));
    }

    /// The estimation's launches as `sparsefill_runtime::lanes` orders them on a GPU, the
    /// selections' rows cut into `chunks`.
    fn lane_schedule(chunks: TopkChunks) -> String {
        use sparsefill_runtime::lanes::{schedule, Step};
        let estimate = plan_with(&inputs(), &PARAMS, chunks).unwrap_or_else(|e| panic!("{e}")).estimate;
        let lanes: Vec<(Lane, Vec<Buffer>)> = estimate.iter().map(|l| (l.lane, l.buffers())).collect();
        let name = |at: usize| estimate.get(at).map_or("?", |l| l.kernel);
        let steps = schedule(&lanes).into_iter().map(|s| match s {
            Step::Fork => "fork".to_string(),
            Step::Join => "join".to_string(),
            Step::Launch { at, lane: Lane::Main } => name(at).to_string(),
            Step::Launch { at, lane: Lane::Side } => format!("side:{}", name(at)),
        });
        steps.collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_vertical_selection_runs_beside_the_slash_side_until_the_conversion() {
        assert_eq!(
            lane_schedule(TopkChunks::Auto),
            "vs_row_stats vs_combine_stats vs_column_scores fork side:topk_threshold side:topk_write \
             vs_diagonal_scores topk_threshold topk_write vs_chain_stops vs_chain vs_hops join vs_convert"
        );
    }

    /// In two levels too, every launch of the vertical selection stays on the side lane.
    #[test]
    fn the_vertical_selection_in_two_levels_runs_beside_the_slash_side_until_the_conversion() {
        assert_eq!(
            lane_schedule(TopkChunks::Fixed(32)),
            "vs_row_stats vs_combine_stats vs_column_scores fork side:topk_chunks side:topk_threshold \
             side:topk_write side:topk_candidates side:topk_threshold side:topk_write side:topk_positions \
             vs_diagonal_scores topk_chunks topk_threshold topk_write topk_candidates topk_threshold topk_write \
             topk_positions vs_chain_stops vs_chain vs_hops join vs_convert"
        );
    }

    /// The chunks of 100 scores in 32s: 4 a head, the last one of 4; 8 candidate slots a
    /// chunk, rounded up to 64.
    #[test]
    fn two_level_scratch_holds_the_chunks_and_their_candidates() {
        let shape = input_shape(&inputs()).unwrap_or_else(|e| panic!("{e}"));
        let scratch = launches_with(&shape, &PARAMS, TopkChunks::Fixed(32)).unwrap_or_else(|e| panic!("{e}")).scratch;
        let dims = |which| scratch.iter().find(|s| s.0 == Buffer::Topk(Pick::Slash, which)).map(|s| s.2.clone());
        assert_eq!(dims(TopkScratch::Chunks), Some(vec![1, 8, 32]));
        assert_eq!(dims(TopkScratch::Candidates), Some(vec![1, 2, 256]));
        assert_eq!(dims(TopkScratch::CandidateIndex), Some(vec![1, 2, 8]));
    }
}
