//! The vertical-slash kernels as a launch plan: the buffers they share and the launches in
//! order, with nothing read back in between (no host synchronisation). The interpreter
//! runs a plan here; the GPU tests upload the same buffers and launch the same list.

use super::reference::Selection;
use super::{input_shape, VerticalSlashError, VerticalSlashParams, FORCED_SLASHES, FORCED_VERTICALS, MAX_LAST_Q};
use crate::sparse::index::{query_blocks, SparseIndex};
use crate::sparse::{AttentionInputs, SparseOutput};
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::lower_source;
use sparsefill_compiler::tensor::HostTensor;

/// The attention kernel, after attention.tile and query_block.tile for their
/// `fold_tile` and `finish_rows` helpers.
pub const ATTEND_SOURCE: &str = concat!(
    include_str!("../../../kernels/attention.tile"),
    include_str!("../../../kernels/query_block.tile"),
    include_str!("../../../kernels/sparse_vertical_slash.tile")
);
pub const ATTEND_KERNEL: &str = "sparse_vertical_slash";
/// The estimation kernels, after attention.tile for its `softmax_step` helper.
pub const ESTIMATE_SOURCE: &str = concat!(
    include_str!("../../../kernels/attention.tile"),
    include_str!("../../../kernels/estimate_vertical_slash.tile")
);
pub const TOPK_SOURCE: &str = include_str!("../../../kernels/topk.tile");

/// Key columns per gathered chunk in the attention kernel.
const COLUMN_CHUNK: usize = 64;

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
    /// `[B, H, min(size, S)]` i32 and `[B, H]` i32: the chosen positions, ascending, and their count.
    Verticals,
    VerticalCount,
    Slashes,
    SlashCount,
    BlockCount,
    BlockOffset,
    ColumnCount,
    ColumnIndex,
    O,
    Lse,
}

/// One launch argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    Buffer(Buffer),
    F32(f32),
    I32(i32),
}

/// One kernel launch: the source, the kernel in it, its specialization and arguments.
#[derive(Clone, Debug)]
pub struct Launch {
    pub source: &'static str,
    pub kernel: &'static str,
    pub consts: Vec<(String, ConstValue)>,
    pub args: Vec<Arg>,
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
    Launch {
        source: ATTEND_SOURCE,
        kernel: ATTEND_KERNEL,
        consts: vec![int_const("BN", COLUMN_CHUNK), int_const("D", head_dim)],
        args: args.into_iter().map(Arg::Buffer).chain([Arg::F32(scale)]).collect(),
    }
}

fn int_const(name: &str, value: usize) -> (String, ConstValue) {
    (name.to_string(), ConstValue::Int(value as i64))
}

/// The input buffers and the poisoned outputs: o with NaN, lse with NaN.
fn io_buffers(inputs: &AttentionInputs, heads: usize, head_dim: usize) -> Vec<(Buffer, HostTensor)> {
    let tokens: usize = inputs.seqlens.iter().sum();
    let cu: Vec<f64> = std::iter::once(0.0)
        .chain(inputs.seqlens.iter().scan(0usize, |end, &n| {
            *end += n;
            Some(*end as f64)
        }))
        .collect();
    vec![
        (Buffer::Q, inputs.q.clone()),
        (Buffer::K, inputs.k.clone()),
        (Buffer::V, inputs.v.clone()),
        (Buffer::CuSeqlens, HostTensor::from_f64(DType::I32, &[cu.len()], cu)),
        (Buffer::O, HostTensor::filled(DType::BF16, &[tokens, heads, head_dim], f64::NAN)),
        (Buffer::Lse, HostTensor::filled(DType::F32, &[heads, tokens], f64::NAN)),
    ]
}

/// The launch plan of the whole pattern: estimation (row statistics per key chunk and
/// their combination, column and diagonal scores, the two selections, the conversion),
/// then attention. Every intermediate and
/// output buffer is poisoned: floats with NaN, i32 with -1.
pub fn plan(inputs: &AttentionInputs, params: &VerticalSlashParams) -> Result<Plan, VerticalSlashError> {
    use Buffer::*;
    params.validate()?;
    let shape = input_shape(inputs)?;
    let (batch, heads, d) = (shape.seqlens.len(), shape.heads, shape.head_dim);
    let longest = shape.seqlens.iter().copied().max().unwrap_or(0);
    let (nv, ns) = (params.column_capacity(&shape.seqlens), params.slash_size.min(longest));
    let blocks = query_blocks(&shape.seqlens);
    let nnz_s = params.tile_capacity(&shape.seqlens);
    let float = |dims: &[usize]| HostTensor::filled(DType::F32, dims, f64::NAN);
    let int = |dims: &[usize]| HostTensor::filled(DType::I32, dims, -1.0);
    let chunk = key_chunk(longest, heads, batch);
    let chunks = longest.div_ceil(chunk).max(1);
    let mut buffers = io_buffers(inputs, heads, d);
    buffers.extend([
        (ChunkMax, float(&[batch, heads, chunks, MAX_LAST_Q])),
        (ChunkSum, float(&[batch, heads, chunks, MAX_LAST_Q])),
        (RowMax, float(&[batch, heads, MAX_LAST_Q])),
        (RowSum, float(&[batch, heads, MAX_LAST_Q])),
        (VerticalScores, float(&[batch, heads, longest])),
        (SlashScores, float(&[batch, heads, longest])),
        (Verticals, int(&[batch, heads, nv])),
        (VerticalCount, int(&[batch, heads])),
        (Slashes, int(&[batch, heads, ns])),
        (SlashCount, int(&[batch, heads])),
        (BlockCount, int(&[batch, heads, blocks])),
        (BlockOffset, int(&[batch, heads, blocks, nnz_s])),
        (ColumnCount, int(&[batch, heads, blocks])),
        (ColumnIndex, int(&[batch, heads, blocks, nv])),
    ]);
    let (scale, last_q) = (Arg::F32(shape.scale()), Arg::I32(params.last_q as i32));
    let specialized = vec![int_const("BN", 64), int_const("D", d), int_const("LQ", MAX_LAST_Q)];
    let estimator = |kernel, mut args: Vec<Arg>, tail: &[Arg]| {
        args.extend_from_slice(tail);
        Launch { source: ESTIMATE_SOURCE, kernel, consts: specialized.clone(), args }
    };
    let bufs = |list: &[Buffer]| list.iter().copied().map(Arg::Buffer).collect::<Vec<_>>();
    let forced = |n: usize| Arg::I32(n as i32);
    let topk = |scores, size: usize, index, count| Launch {
        source: TOPK_SOURCE,
        kernel: "topk",
        consts: vec![],
        // validate() bounds the sizes by i32::MAX.
        args: vec![Arg::Buffer(scores), Arg::I32(size as i32), Arg::Buffer(index), Arg::Buffer(count)],
    };
    // chunk <= 64 * ceil(longest / 64), and validated lengths fit in i32.
    let chunk_arg = Arg::I32(chunk as i32);
    let estimate = vec![
        estimator("vs_row_stats", bufs(&[Q, K, CuSeqlens, ChunkMax, ChunkSum]), &[scale, last_q, chunk_arg]),
        Launch {
            source: ESTIMATE_SOURCE,
            kernel: "vs_combine_stats",
            consts: vec![int_const("LQ", MAX_LAST_Q)],
            args: bufs(&[ChunkMax, ChunkSum, RowMax, RowSum]),
        },
        estimator(
            "vs_column_scores",
            bufs(&[Q, K, CuSeqlens, RowMax, RowSum, VerticalScores]),
            &[scale, last_q, forced(FORCED_VERTICALS)],
        ),
        estimator(
            "vs_diagonal_scores",
            bufs(&[Q, K, CuSeqlens, RowMax, RowSum, SlashScores]),
            &[scale, last_q, forced(FORCED_SLASHES)],
        ),
        topk(VerticalScores, params.vertical_size, Verticals, VerticalCount),
        topk(SlashScores, params.slash_size, Slashes, SlashCount),
        Launch {
            source: ESTIMATE_SOURCE,
            kernel: "vs_convert",
            consts: vec![],
            args: bufs(&[
                CuSeqlens,
                Verticals,
                VerticalCount,
                Slashes,
                SlashCount,
                BlockCount,
                BlockOffset,
                ColumnCount,
                ColumnIndex,
            ]),
        },
    ];
    Ok(Plan { buffers, estimate, attend: attend_launch(d, shape.scale()) })
}

/// Runs one launch on the interpreter over `buffers`, which it updates in place.
pub fn run_launch(launch: &Launch, buffers: &mut [(Buffer, HostTensor)]) -> Result<(), VerticalSlashError> {
    let kernel = launch.kernel;
    let ir = lower_source(launch.source, Some(kernel), &launch.consts)
        .map_err(|source| VerticalSlashError::Compile { kernel, source })?;
    // Move each buffer into the argument list and back, rather than copying it.
    let mut taken = Vec::new();
    let mut args = Vec::with_capacity(launch.args.len());
    for arg in &launch.args {
        args.push(match *arg {
            Arg::Buffer(which) => {
                let at = buffers
                    .iter()
                    .position(|(b, _)| *b == which)
                    .ok_or(VerticalSlashError::MissingBuffer { kernel, buffer: which })?;
                taken.push(at);
                ArgValue::Tensor(std::mem::replace(&mut buffers[at].1, HostTensor::zeros(DType::I32, &[0])))
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
    for at in taken {
        if let Some(t) = tensors.next() {
            buffers[at].1 = t;
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
    let shape = input_shape(inputs)?;
    index.validate(&shape.seqlens, shape.heads)?;
    let mut buffers = io_buffers(inputs, shape.heads, shape.head_dim);
    let index = index.clone();
    buffers.extend([
        (Buffer::BlockCount, index.block_count),
        (Buffer::BlockOffset, index.block_offset),
        (Buffer::ColumnCount, index.column_count),
        (Buffer::ColumnIndex, index.column_index),
    ]);
    run_launch(&attend_launch(shape.head_dim, shape.scale()), &mut buffers)?;
    Ok(output(buffers))
}
