//! Block-sparse attention (MInference's third pattern): Q and K mean-pooled over
//! 64-token blocks, each pair of blocks scored by the dot product of their means, and
//! each query block attending to its diagonal block and its `top_k - 1` best-scored
//! earlier blocks. Ties: a higher score first, then the lower block index.
//!
//! The index is `block_count [B, H, NB]` and `block_index [B, H, NB, top_k]` (i32, key
//! block numbers local to the sequence, ascending, -1 past the count; NB = blocks of the
//! longest sequence). It is estimated on the device by `kernels/estimate_block.tile` and
//! on the host by [`estimate_host`], the reference; `kernels/sparse_block.tile` attends
//! over it. A caller's own index is validated before any launch ([`BlockIndex::validate`]).
//! With the `gpu` feature, `crate::gpu::block_sparse` runs the same estimator and kernel on
//! tensors already on the device; the GPU branches here upload and call it.

use super::local::query_blocks::{self, Backend, RunError, BLOCK};
use super::{AttentionInputs, SparseOutput};
use crate::attention::{AttentionShape, KeyMask};
use crate::config::PatternKind;
use sparsefill_compiler::codegen::MmaLowering;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use std::cmp::Ordering;
use thiserror::Error;

pub const SOURCE: &str = concat!(
    include_str!("../../kernels/attention.tile"),
    include_str!("../../kernels/query_block.tile"),
    include_str!("../../kernels/sparse_block.tile"),
);
pub const KERNEL: &str = "sparse_block";
pub const ESTIMATOR_SOURCE: &str = include_str!("../../kernels/estimate_block.tile");
pub const POOL_KERNEL: &str = "pool_blocks";
pub const SELECT_KERNEL: &str = "select_blocks";

/// The estimator keeps each query block's list in a register tile of the next power of
/// two of `top_k`; this bounds it.
pub const MAX_TOP_K: u32 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSparseParams {
    /// Key blocks per query block, the diagonal included.
    pub top_k: u32,
}

impl BlockSparseParams {
    /// The parameters of a configured head (`config::PatternKind`), if it is block-sparse.
    pub fn from_pattern(kind: &PatternKind) -> Option<BlockSparseParams> {
        match *kind {
            PatternKind::BlockSparse { top_k } => Some(BlockSparseParams { top_k }),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), BlockSparseError> {
        if !(1..=MAX_TOP_K).contains(&self.top_k) {
            return Err(BlockSparseError::TopK { got: self.top_k, max: MAX_TOP_K });
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum BlockSparseError {
    #[error("top_k must be from 1 (the diagonal block) to {max}; got {got}")]
    TopK { got: u32, max: u32 },
    #[error("the estimator's chunk must be a power of two from 1 to {max}; got {got}")]
    Chunk { got: usize, max: usize },
    #[error(transparent)]
    Index(#[from] BlockIndexError),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Why an index is refused before a launch. Positions are `[b, h, qb]` for
/// `block_count` and `[b, h, qb, i]` for `block_index`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BlockIndexError {
    #[error("`{tensor}` must be i32; got {got:?}")]
    DType { tensor: &'static str, got: DType },
    #[error("`{tensor}` must have shape {expected} for {sequences} sequences of {heads} heads; got {got:?}")]
    Shape { tensor: &'static str, expected: String, got: Vec<usize>, sequences: usize, heads: usize },
    #[error("`{tensor}` holds {len} elements, but its shape {shape:?} needs {expected}")]
    Length { tensor: &'static str, shape: Vec<usize>, len: usize, expected: usize },
    #[error(
        "{tensor}{position:?} = {value} is outside 0 ..= {capacity}, the capacity of block_index's last dimension"
    )]
    CountPastCapacity { tensor: &'static str, position: [usize; 3], value: i64, capacity: usize },
    #[error("{tensor}{position:?} = {value} is out of range: query block {query_block} may list key blocks 0 to {query_block} (causal)")]
    OutOfRange { tensor: &'static str, position: [usize; 4], value: i64, query_block: usize },
    #[error("{tensor}{position:?} = {value} does not follow the entry before it ({previous}); each query block's list must be strictly increasing")]
    Unsorted { tensor: &'static str, position: [usize; 4], value: i64, previous: i64 },
}

/// A block-sparse index: `count [B, H, NB]` and `index [B, H, NB, K]`, both i32.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockIndex {
    pub count: HostTensor,
    pub index: HostTensor,
}

impl BlockIndex {
    /// Every query block listing nothing: the estimator's state before it runs.
    fn empty(shape: &AttentionShape, capacity: usize) -> BlockIndex {
        let (b, h, nb) = (shape.seqlens.len(), shape.heads, query_blocks::max_blocks(shape));
        BlockIndex {
            count: HostTensor::zeros(DType::I32, &[b, h, nb]),
            index: HostTensor::filled(DType::I32, &[b, h, nb, capacity], -1.0),
        }
    }

    /// An index of `capacity` entries per query block whose list for `(b, h, qb)` is
    /// `lists(b, h, qb)`, stored as given (entries past the capacity are dropped, the
    /// count is kept) so that [`BlockIndex::validate`] judges it.
    pub fn from_lists(
        shape: &AttentionShape,
        capacity: usize,
        lists: impl Fn(usize, usize, usize) -> Vec<i32>,
    ) -> Self {
        let mut out = BlockIndex::empty(shape, capacity);
        let (heads, nb) = (shape.heads, query_blocks::max_blocks(shape));
        for b in 0..shape.seqlens.len() {
            for h in 0..heads {
                for qb in 0..nb {
                    let list = lists(b, h, qb);
                    let row = (b * heads + h) * nb + qb;
                    out.count.data[row] = list.len() as f64;
                    for (slot, &kb) in out.index.data[row * capacity..][..capacity].iter_mut().zip(&list) {
                        *slot = f64::from(kb);
                    }
                }
            }
        }
        out
    }

    /// The list of query block `qb` of sequence `b`, head `h`, as stored: empty where
    /// the tensors have no such row (call [`BlockIndex::validate`] for the reason).
    pub fn blocks(&self, b: usize, h: usize, qb: usize) -> &[f64] {
        let (Some(&heads), Some(&nb), Some(&cap)) =
            (self.count.shape.get(1), self.count.shape.get(2), self.index.shape.get(3))
        else {
            return &[];
        };
        let row = (b * heads + h) * nb + qb;
        let count = self.count.data.get(row).map_or(0, |&c| (c.max(0.0) as usize).min(cap));
        self.index.data.get(row * cap..row * cap + count).unwrap_or(&[])
    }

    /// Whether the two indices list the same blocks for every query block of `shape`'s
    /// sequences (entries past the counts aside); the error names the first that differs.
    pub fn same_lists(&self, expected: &BlockIndex, shape: &AttentionShape) -> Result<(), String> {
        for (b, &len) in shape.seqlens.iter().enumerate() {
            for h in 0..shape.heads {
                for qb in 0..len.div_ceil(BLOCK) {
                    let (g, e) = (self.blocks(b, h, qb), expected.blocks(b, h, qb));
                    if g != e {
                        return Err(format!("query block [{b}, {h}, {qb}]: got {g:?}, expected {e:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the index keeps key `at.key` for query `at.query`: its block is listed
    /// for the query's block, and it is not in the query's future.
    pub fn keeps(&self, at: KeyMask) -> bool {
        let key_block = (at.key / BLOCK) as f64;
        at.key <= at.query && self.blocks(at.seq, at.head, at.query / BLOCK).contains(&key_block)
    }

    /// Checks dtypes and shapes against the inputs, then, for every query block inside
    /// its sequence: the count is within the capacity K, and the listed blocks are in
    /// `0 ..= qb` and strictly increasing. Query blocks past a sequence's end are never
    /// read, so their entries are not checked.
    pub fn validate(&self, shape: &AttentionShape) -> Result<(), BlockIndexError> {
        let (sequences, heads, nb) = (shape.seqlens.len(), shape.heads, query_blocks::max_blocks(shape));
        let shape_error = |tensor, expected: String, got: &[usize]| BlockIndexError::Shape {
            tensor,
            expected,
            got: got.to_vec(),
            sequences,
            heads,
        };
        for (tensor, t) in [("block_count", &self.count), ("block_index", &self.index)] {
            if t.dtype != DType::I32 {
                return Err(BlockIndexError::DType { tensor, got: t.dtype });
            }
        }
        if self.count.shape != [sequences, heads, nb] {
            return Err(shape_error("block_count", format!("[{sequences}, {heads}, {nb}]"), &self.count.shape));
        }
        if self.index.shape.len() != 4 || self.index.shape[..3] != [sequences, heads, nb] {
            return Err(shape_error("block_index", format!("[{sequences}, {heads}, {nb}, K]"), &self.index.shape));
        }
        for (tensor, t) in [("block_count", &self.count), ("block_index", &self.index)] {
            let expected = t.shape.iter().product();
            if t.data.len() != expected {
                return Err(BlockIndexError::Length { tensor, shape: t.shape.clone(), len: t.data.len(), expected });
            }
        }
        let capacity = self.index.shape[3];
        for (b, &len) in shape.seqlens.iter().enumerate() {
            for h in 0..heads {
                for qb in 0..len.div_ceil(BLOCK) {
                    self.validate_row([b, h, qb], capacity)?;
                }
            }
        }
        Ok(())
    }

    fn validate_row(&self, [b, h, qb]: [usize; 3], capacity: usize) -> Result<(), BlockIndexError> {
        let row = (b * self.count.shape[1] + h) * self.count.shape[2] + qb;
        let count = self.count.data[row] as i64;
        if count < 0 || count as usize > capacity {
            let tensor = "block_count";
            return Err(BlockIndexError::CountPastCapacity { tensor, position: [b, h, qb], value: count, capacity });
        }
        let mut previous = None;
        for (i, &entry) in self.index.data[row * capacity..][..count as usize].iter().enumerate() {
            let (value, position, tensor) = (entry as i64, [b, h, qb, i], "block_index");
            if value < 0 || value as usize > qb {
                return Err(BlockIndexError::OutOfRange { tensor, position, value, query_block: qb });
            }
            if let Some(previous) = previous.filter(|&p| value <= p) {
                return Err(BlockIndexError::Unsorted { tensor, position, value, previous });
            }
            previous = Some(value);
        }
        Ok(())
    }

    /// The tensors by the names the kernels and the CLI use.
    pub fn named(&self) -> Vec<(String, HostTensor)> {
        vec![("block_count".to_string(), self.count.clone()), ("block_index".to_string(), self.index.clone())]
    }
}

/// Mean of every 64-row block of every sequence of `x [T, HX, D]`, as
/// `[B][HX][NB][D]`; a ragged last block averages only its rows, blocks past a
/// sequence's end are 0.
fn pool(x: &HostTensor, shape: &AttentionShape) -> Vec<f64> {
    let (hx, d, nb) = (x.shape[1], x.shape[2], query_blocks::max_blocks(shape));
    let cu = shape.cu_seqlens();
    let mut pooled = vec![0.0; shape.seqlens.len() * hx * nb * d];
    for (b, &len) in shape.seqlens.iter().enumerate() {
        for h in 0..hx {
            for blk in 0..len.div_ceil(BLOCK) {
                let rows = blk * BLOCK..len.min((blk + 1) * BLOCK);
                let out = &mut pooled[((b * hx + h) * nb + blk) * d..][..d];
                for r in rows.clone() {
                    let at = ((cu[b] + r) * hx + h) * d;
                    out.iter_mut().zip(&x.data[at..at + d]).for_each(|(o, v)| *o += v);
                }
                out.iter_mut().for_each(|o| *o /= rows.len() as f64);
            }
        }
    }
    pooled
}

/// Block scores of the host reference: `score(b, h, qb, kb)` is the dot product of the
/// pooled means of query block qb (head h) and key block kb (h's key/value head), in f64.
#[derive(Clone, Debug)]
pub struct BlockScores {
    shape: AttentionShape,
    nb: usize,
    q: Vec<f64>,
    k: Vec<f64>,
}

impl BlockScores {
    pub fn new(inputs: &AttentionInputs) -> Result<BlockScores, RunError> {
        let shape = query_blocks::validate(inputs)?;
        let (q, k) = (pool(&inputs.q, &shape), pool(&inputs.k, &shape));
        Ok(BlockScores { nb: query_blocks::max_blocks(&shape), shape, q, k })
    }

    pub fn score(&self, b: usize, h: usize, qb: usize, kb: usize) -> f64 {
        let (s, d) = (&self.shape, self.shape.head_dim);
        let hk = h / (s.heads / s.kv_heads);
        let qv = &self.q[((b * s.heads + h) * self.nb + qb) * d..][..d];
        let kv = &self.k[((b * s.kv_heads + hk) * self.nb + kb) * d..][..d];
        qv.iter().zip(kv).map(|(a, c)| a * c).sum()
    }

    /// The causal top-`top_k` index: for each query block, the diagonal and the
    /// `top_k - 1` best earlier blocks (higher score first, then lower index; a NaN score
    /// ranks as -inf), ascending.
    pub fn select(&self, top_k: usize) -> BlockIndex {
        let mut out = BlockIndex::empty(&self.shape, top_k);
        let heads = self.shape.heads;
        for (b, &len) in self.shape.seqlens.iter().enumerate() {
            for h in 0..heads {
                for qb in 0..len.div_ceil(BLOCK) {
                    // A NaN score ranks as -inf, as on the kernel, so the order stays total.
                    let score =
                        |kb| Some(self.score(b, h, qb, kb)).filter(|s| !s.is_nan()).unwrap_or(f64::NEG_INFINITY);
                    let mut ranked: Vec<(usize, f64)> = (0..qb).map(|kb| (kb, score(kb))).collect();
                    ranked.sort_by(|x, y| y.1.partial_cmp(&x.1).unwrap_or(Ordering::Equal).then(x.0.cmp(&y.0)));
                    let mut kept: Vec<usize> = ranked.iter().take(top_k.saturating_sub(1)).map(|r| r.0).collect();
                    kept.sort_unstable();
                    kept.push(qb);
                    let row = (b * heads + h) * self.nb + qb;
                    out.count.data[row] = kept.len() as f64;
                    for (slot, kb) in out.index.data[row * top_k..].iter_mut().zip(kept) {
                        *slot = kb as f64;
                    }
                }
            }
        }
        out
    }
}

/// The host reference estimator.
pub fn estimate_host(inputs: &AttentionInputs, params: &BlockSparseParams) -> Result<BlockIndex, BlockSparseError> {
    params.validate()?;
    Ok(BlockScores::new(inputs)?.select(params.top_k as usize))
}

/// Candidate blocks `select_blocks` scores per step (its const `CH`).
pub const CHUNK: usize = 64;

fn int(v: usize) -> ConstValue {
    ConstValue::Int(v as i64)
}

/// The specialization of `pool_blocks` for head dim `head_dim`.
pub fn pool_consts(head_dim: usize) -> Vec<(String, ConstValue)> {
    vec![("BLOCK".to_string(), int(BLOCK)), ("D".to_string(), int(head_dim))]
}

/// The specialization of `select_blocks`: its list tile holds the next power of two of
/// `top_k` entries.
pub fn select_consts(head_dim: usize, top_k: usize, chunk: usize) -> Vec<(String, ConstValue)> {
    let list = top_k.next_power_of_two();
    vec![
        ("BLOCK".to_string(), int(BLOCK)),
        ("D".to_string(), int(head_dim)),
        ("CH".to_string(), int(chunk)),
        ("KT".to_string(), int(list)),
    ]
}

/// The estimator of `kernels/estimate_block.tile` on the interpreter: pool q, pool k,
/// select.
pub fn estimate_interp(inputs: &AttentionInputs, params: &BlockSparseParams) -> Result<BlockIndex, BlockSparseError> {
    estimate(&Backend::Interp, inputs, params, CHUNK)
}

/// The checks of the estimator's parameters, on the host and on the device.
pub(crate) fn check_estimate(params: &BlockSparseParams, chunk: usize) -> Result<(), BlockSparseError> {
    params.validate()?;
    if !chunk.is_power_of_two() || chunk > CHUNK {
        return Err(BlockSparseError::Chunk { got: chunk, max: CHUNK });
    }
    Ok(())
}

/// The `.tile` estimator on `backend`, scoring `chunk` candidate blocks per step
/// ([`CHUNK`] normally; small chunks take the multi-chunk paths at the short lengths
/// the interpreter can afford). On a GPU the inputs are uploaded and the device estimator
/// runs (`crate::gpu::block_sparse::estimate_uploaded`).
pub fn estimate(
    backend: &Backend,
    inputs: &AttentionInputs,
    params: &BlockSparseParams,
    chunk: usize,
) -> Result<BlockIndex, BlockSparseError> {
    check_estimate(params, chunk)?;
    let shape = query_blocks::validate(inputs).map_err(RunError::from)?;
    match backend {
        Backend::Interp => estimate_on_interp(inputs, &shape, params, chunk),
        #[cfg(feature = "gpu")]
        Backend::Gpu { gpu, cache } => {
            crate::gpu::block_sparse::estimate_uploaded(gpu, cache, inputs, &shape, params, chunk)
        }
        // A build without the feature opens no GPU, so no caller reaches this; it stays an error.
        #[cfg(not(feature = "gpu"))]
        Backend::Gpu { .. } => Err(RunError::NoGpuBuild.into()),
    }
}

/// The estimator's launches on the interpreter, over checked inputs.
fn estimate_on_interp(
    inputs: &AttentionInputs,
    shape: &AttentionShape,
    params: &BlockSparseParams,
    chunk: usize,
) -> Result<BlockIndex, BlockSparseError> {
    let backend = Backend::Interp;
    let (b, nb, d) = (shape.seqlens.len(), query_blocks::max_blocks(shape), shape.head_dim);
    let pooled = |x: &HostTensor| -> Result<HostTensor, RunError> {
        let args = vec![
            ArgValue::Tensor(x.clone()),
            ArgValue::Tensor(query_blocks::cu_seqlens(shape)),
            ArgValue::Tensor(HostTensor::filled(DType::F32, &[b, x.shape[1], nb, d], f64::NAN)),
        ];
        let mut out = backend.run(POOL_KERNEL, ESTIMATOR_SOURCE, &pool_consts(d), args, &[2])?;
        out.pop().ok_or(RunError::MissingOutput { kernel: POOL_KERNEL, index: 2 })
    };
    let top_k = params.top_k as usize;
    // Poisoned: the kernel writes every count and every entry.
    let args = vec![
        ArgValue::Tensor(pooled(&inputs.q)?),
        ArgValue::Tensor(pooled(&inputs.k)?),
        ArgValue::Tensor(query_blocks::cu_seqlens(shape)),
        ArgValue::Tensor(HostTensor::filled(DType::I32, &[b, shape.heads, nb], -7.0)),
        ArgValue::Tensor(HostTensor::filled(DType::I32, &[b, shape.heads, nb, top_k], -7.0)),
    ];
    let consts = select_consts(d, top_k, chunk);
    let mut out = backend.run(SELECT_KERNEL, ESTIMATOR_SOURCE, &consts, args, &[3, 4])?.into_iter();
    match (out.next(), out.next()) {
        (Some(count), Some(index)) => Ok(BlockIndex { count, index }),
        _ => Err(RunError::MissingOutput { kernel: SELECT_KERNEL, index: 4 }.into()),
    }
}

/// Runs the attention kernel on `backend` over a caller's index, after validating it.
pub fn run_with_index(
    backend: &Backend,
    inputs: &AttentionInputs,
    index: &BlockIndex,
) -> Result<SparseOutput, BlockSparseError> {
    let (shape, own) = checked_args(inputs, index)?;
    Ok(query_blocks::run_attention(backend, KERNEL, SOURCE, inputs, &shape, own, index.named())?)
}

/// The inputs' shape and the kernel's own arguments (the index), after checking both.
fn checked_args(
    inputs: &AttentionInputs,
    index: &BlockIndex,
) -> Result<(AttentionShape, Vec<ArgValue>), BlockSparseError> {
    let shape = query_blocks::validate(inputs).map_err(RunError::from)?;
    index.validate(&shape)?;
    Ok((shape, vec![ArgValue::Tensor(index.count.clone()), ArgValue::Tensor(index.index.clone())]))
}

/// [`run_with_index`] on the interpreter.
pub fn run_interp_with_index(inputs: &AttentionInputs, index: &BlockIndex) -> Result<SparseOutput, BlockSparseError> {
    run_with_index(&Backend::Interp, inputs, index)
}

/// [`run_interp_with_index`] of the kernel specialized as the GPU runners launch it on
/// `arch` with `mma` on packed (aligned) tensors ([`query_blocks::target_consts`]), so the
/// interpreter checks each target's key step.
pub fn run_interp_with_index_as(
    inputs: &AttentionInputs,
    index: &BlockIndex,
    arch: Arch,
    mma: MmaLowering,
) -> Result<SparseOutput, BlockSparseError> {
    let (shape, own) = checked_args(inputs, index)?;
    let consts = query_blocks::target_consts(KERNEL, shape.head_dim, arch, mma, true);
    Ok(query_blocks::run_interp_as(KERNEL, SOURCE, inputs, &shape, own, index.named(), &consts)?)
}

/// The whole pattern on the interpreter: the `.tile` estimator, then the kernel over
/// its index. The output carries `block_count` and `block_index`.
pub fn run_interp(inputs: &AttentionInputs, params: &BlockSparseParams) -> Result<SparseOutput, BlockSparseError> {
    let index = estimate_interp(inputs, params)?;
    run_interp_with_index(inputs, &index)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sequences (150 and 60 tokens: 3 and 1 blocks), 2 heads.
    fn shape() -> AttentionShape {
        AttentionShape { seqlens: vec![150, 60], heads: 2, kv_heads: 1, head_dim: 16, causal: true }
    }

    /// Every block lists its diagonal only, except sequence 0, head 1, block 2: `last`.
    fn index_with(last: Vec<i32>, capacity: usize) -> BlockIndex {
        BlockIndex::from_lists(&shape(), capacity, |b, h, qb| match (b, h, qb) {
            (0, 1, 2) => last.clone(),
            (0, _, _) | (1, _, 0) => vec![qb as i32],
            _ => Vec::new(),
        })
    }

    #[test]
    fn equal_lists_are_the_same_whatever_lies_past_the_counts() {
        let mut other = index_with(vec![0, 2], 3);
        other.index.data[2] = 7.0;
        assert_eq!(other.same_lists(&index_with(vec![0, 2], 3), &shape()), Ok(()));
    }

    #[test]
    fn a_differing_list_names_its_query_block() {
        assert_eq!(
            index_with(vec![1, 2], 3).same_lists(&index_with(vec![0, 2], 3), &shape()),
            Err("query block [0, 1, 2]: got [1.0, 2.0], expected [0.0, 2.0]".to_string())
        );
    }

    #[test]
    fn a_valid_index_passes() {
        assert_eq!(index_with(vec![0, 2], 3).validate(&shape()), Ok(()));
    }

    #[test]
    fn an_entry_past_the_diagonal_is_rejected() {
        let err = index_with(vec![1, 3], 3).validate(&shape()).err();
        let tensor = "block_index";
        assert_eq!(err, Some(BlockIndexError::OutOfRange { tensor, position: [0, 1, 2, 1], value: 3, query_block: 2 }));
    }

    #[test]
    fn a_negative_entry_is_rejected() {
        let err = index_with(vec![-1, 2], 3).validate(&shape()).err();
        let tensor = "block_index";
        assert_eq!(
            err,
            Some(BlockIndexError::OutOfRange { tensor, position: [0, 1, 2, 0], value: -1, query_block: 2 })
        );
    }

    #[test]
    fn an_unsorted_list_is_rejected() {
        let err = index_with(vec![2, 0], 3).validate(&shape()).err();
        let tensor = "block_index";
        assert_eq!(err, Some(BlockIndexError::Unsorted { tensor, position: [0, 1, 2, 1], value: 0, previous: 2 }));
    }

    #[test]
    fn a_repeated_block_is_rejected() {
        let err = index_with(vec![1, 1], 3).validate(&shape()).err();
        let tensor = "block_index";
        assert_eq!(err, Some(BlockIndexError::Unsorted { tensor, position: [0, 1, 2, 1], value: 1, previous: 1 }));
    }

    #[test]
    fn a_count_past_capacity_is_rejected() {
        let err = index_with(vec![0, 1, 2], 2).validate(&shape()).err();
        let tensor = "block_count";
        assert_eq!(
            err,
            Some(BlockIndexError::CountPastCapacity { tensor, position: [0, 1, 2], value: 3, capacity: 2 })
        );
    }

    #[test]
    fn a_negative_count_is_rejected() {
        let mut index = index_with(vec![2], 3);
        index.count.data[2] = -4.0; // [0, 0, 2]
        let err = index.validate(&shape()).err();
        let tensor = "block_count";
        assert_eq!(
            err,
            Some(BlockIndexError::CountPastCapacity { tensor, position: [0, 0, 2], value: -4, capacity: 3 })
        );
    }

    #[test]
    fn blocks_past_a_sequence_are_not_checked() {
        let mut index = index_with(vec![2], 3);
        index.count.data[3 * 2 + 1] = 99.0; // [1, 0, 1]: sequence 1 has one block
        assert_eq!(index.validate(&shape()), Ok(()));
    }

    #[test]
    fn a_float_index_is_rejected() {
        let mut index = index_with(vec![2], 3);
        index.index.dtype = DType::F32;
        let err = index.validate(&shape()).err();
        assert_eq!(err, Some(BlockIndexError::DType { tensor: "block_index", got: DType::F32 }));
    }

    #[test]
    fn a_count_for_too_few_heads_is_rejected() {
        let mut index = index_with(vec![2], 3);
        index.count = HostTensor::zeros(DType::I32, &[2, 1, 3]);
        let err = index.validate(&shape()).err();
        let expected = "[2, 2, 3]".to_string();
        let got = vec![2, 1, 3];
        assert_eq!(err, Some(BlockIndexError::Shape { tensor: "block_count", expected, got, sequences: 2, heads: 2 }));
    }

    #[test]
    fn an_index_of_rank_3_is_rejected() {
        let mut index = index_with(vec![2], 3);
        index.index = HostTensor::zeros(DType::I32, &[2, 2, 3]);
        let err = index.validate(&shape()).err();
        assert!(matches!(err, Some(BlockIndexError::Shape { tensor: "block_index", .. })), "{err:?}");
    }

    #[test]
    fn data_shorter_than_the_shape_is_rejected() {
        let mut index = index_with(vec![2], 3);
        index.index.data.pop();
        let err = index.validate(&shape()).err();
        let (tensor, shape) = ("block_index", vec![2, 2, 3, 3]);
        assert_eq!(err, Some(BlockIndexError::Length { tensor, shape, len: 35, expected: 36 }));
    }

    #[test]
    fn errors_name_the_tensor_position_and_value() {
        let err =
            BlockIndexError::OutOfRange { tensor: "block_index", position: [0, 1, 2, 1], value: 3, query_block: 2 };
        assert_eq!(
            err.to_string(),
            "block_index[0, 1, 2, 1] = 3 is out of range: query block 2 may list key blocks 0 to 2 (causal)"
        );
    }

    #[test]
    fn keeps_listed_blocks_at_or_before_the_query() {
        let index = index_with(vec![0, 2], 3);
        let at = |query, key| KeyMask { seq: 0, head: 1, query, key, len: 150 };
        let kept: Vec<usize> = (0..150).filter(|&j| index.keeps(at(130, j))).collect();
        assert_eq!(kept, (0..64).chain(128..=130).collect::<Vec<_>>());
    }

    #[test]
    fn keeps_nothing_for_a_position_outside_the_tensors() {
        let index = index_with(vec![0, 2], 3);
        assert!(!index.keeps(KeyMask { seq: 5, head: 0, query: 3, key: 1, len: 10 }));
    }

    #[test]
    fn a_configured_block_sparse_head_gives_its_top_k() {
        let kind = PatternKind::BlockSparse { top_k: 12 };
        assert_eq!(BlockSparseParams::from_pattern(&kind), Some(BlockSparseParams { top_k: 12 }));
    }

    #[test]
    fn a_configured_dense_head_is_not_block_sparse() {
        assert_eq!(BlockSparseParams::from_pattern(&PatternKind::Dense), None);
    }

    #[test]
    fn top_k_zero_is_rejected() {
        let err = BlockSparseParams { top_k: 0 }.validate().err();
        assert!(matches!(err, Some(BlockSparseError::TopK { got: 0, max: MAX_TOP_K })), "{err:?}");
    }

    #[test]
    fn top_k_past_the_estimator_tile_is_rejected() {
        let err = BlockSparseParams { top_k: MAX_TOP_K + 1 }.validate().err();
        assert!(matches!(err, Some(BlockSparseError::TopK { .. })), "{err:?}");
    }
}
