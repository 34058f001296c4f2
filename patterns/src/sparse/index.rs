//! The sparse index tensors the attention kernels consume, MInference's format.
//!
//! Per sequence `b`, query head `h` and 64-row query block `i` (`NB = cdiv(max_seqlen, 64)`
//! blocks; block `i` holds the sequence's rows `64 i .. 64 i + 64`):
//!
//! - `block_count [B, H, NB]` and `block_offset [B, H, NB, NNZ_S]`: the first
//!   `block_count[b, h, i]` entries of `block_offset[b, h, i, ..]` are the start keys of
//!   64-wide key tiles (`start .. start + 64`) the block attends to, strictly ascending and
//!   at least 64 apart, so no two tiles share a key.
//! - `column_count [B, H, NB]` and `column_index [B, H, NB, NNZ_V]`: the first
//!   `column_count[b, h, i]` entries of `column_index[b, h, i, ..]` are single key
//!   positions, strictly ascending, none inside a tile of the same block.
//!
//! Positions are local to the sequence. Every entry lies below the block's causal limit
//! `min(len, 64 i + 64)`: a tile starts at a key some row of the block can see (its tail
//! may reach past the limit; the kernel masks that part), a column is such a key. A block
//! that starts past its sequence's end holds no entries. Entries past a count are unused.
//!
//! Each key is thus counted at most once per block, which is what makes the kernel equal
//! to dense attention under the mask [`SparseIndex::keeps`]: a row sees a key when the key
//! is in a tile or a column of the row's block, at or before the row.
//!
//! [`SparseIndex::validate`] checks all of this on the host, so that a malformed index is
//! an error before any launch instead of a wrong result or an out-of-bounds read.

use crate::attention::KeyMask;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use thiserror::Error;

/// Rows per query block, and the width of a tile.
pub const BLOCK: usize = 64;

pub const BLOCK_COUNT: &str = "block_count";
pub const BLOCK_OFFSET: &str = "block_offset";
pub const COLUMN_COUNT: &str = "column_count";
pub const COLUMN_INDEX: &str = "column_index";

/// One query block's entries: tile starts and columns, both ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockLists {
    pub tiles: Vec<usize>,
    pub columns: Vec<usize>,
}

/// The four index tensors (i32), see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseIndex {
    pub block_count: HostTensor,
    pub block_offset: HostTensor,
    pub column_count: HostTensor,
    pub column_index: HostTensor,
}

#[derive(Debug, Error, PartialEq)]
pub enum IndexError {
    #[error("`{name}` must hold i32 entries; got {got}")]
    DType { name: &'static str, got: DType },
    #[error("`{name}` must have shape {expected} (sequences, heads, query blocks of 64 rows{capacity}); got {got:?}")]
    Shape { name: &'static str, expected: String, capacity: &'static str, got: Vec<usize> },
    #[error("`{name}` holds {len} elements, but its shape {shape:?} needs {expected}")]
    Length { name: &'static str, len: usize, shape: Vec<usize>, expected: usize },
    #[error("`{name}`{at:?} = {count} is out of range: a count must be from 0 to {capacity}, the capacity of `{entries}` (its last dimension)")]
    Count { name: &'static str, at: [usize; 3], count: f64, capacity: usize, entries: &'static str },
    #[error("`{name}`{at:?} = {count}, but query block {block} starts at row {start}, past the end of sequence {seq} (length {len}); a block past its sequence's end must have count 0")]
    BlockPastEnd { name: &'static str, at: [usize; 3], count: f64, block: usize, start: usize, seq: usize, len: usize },
    #[error("`{name}`{at:?} = {value} is out of range: query block {block} of sequence {seq} (length {len}) sees keys 0 to {last}, its causal limit")]
    Entry { name: &'static str, at: [usize; 4], value: f64, block: usize, seq: usize, len: usize, last: usize },
    #[error("`{name}`{at:?} = {value} is not above the entry before it ({previous}); entries must be strictly ascending (sorted, no duplicates)")]
    NotAscending { name: &'static str, at: [usize; 4], value: f64, previous: f64 },
    #[error("`block_offset`{at:?} = {value} starts inside the tile before it (keys {previous} to {previous_last}); tiles are {BLOCK} keys wide and must not overlap")]
    TileOverlap { at: [usize; 4], value: usize, previous: usize, previous_last: usize },
    #[error("`column_index`{at:?} = {value} lies in the tile `block_offset`{tile_at:?} = {tile} (keys {tile} to {tile_last}); a column must not repeat a key that a tile covers")]
    ColumnInTile { at: [usize; 4], value: usize, tile_at: [usize; 4], tile: usize, tile_last: usize },
    #[error("query block {block} of sequence {seq}, head {head}, has {count} {what}; the capacity is {capacity}")]
    OverCapacity { seq: usize, head: usize, block: usize, what: &'static str, count: usize, capacity: usize },
}

/// `cdiv(max(seqlens), 64)`: the query blocks of the longest sequence.
pub fn query_blocks(seqlens: &[usize]) -> usize {
    seqlens.iter().copied().max().unwrap_or(0).div_ceil(BLOCK)
}

/// The keys query block `block` of a sequence of `len` tokens can see: `0 .. limit`
/// (0 for a block past the end).
pub fn causal_limit(len: usize, block: usize) -> usize {
    let start = block * BLOCK;
    if start < len {
        len.min(start + BLOCK)
    } else {
        0
    }
}

impl SparseIndex {
    /// Builds the tensors from each block's lists, `lists(b, h, i)`, with capacities
    /// `nnz_s` tiles and `nnz_v` columns; unused entries are -1. The lists are stored as
    /// given: [`SparseIndex::validate`] is what checks them.
    pub fn from_lists(
        seqlens: &[usize],
        heads: usize,
        nnz_s: usize,
        nnz_v: usize,
        mut lists: impl FnMut(usize, usize, usize) -> BlockLists,
    ) -> Result<SparseIndex, IndexError> {
        let (batch, blocks) = (seqlens.len(), query_blocks(seqlens));
        let counts = [batch, heads, blocks];
        let mut index = SparseIndex {
            block_count: HostTensor::zeros(DType::I32, &counts),
            block_offset: HostTensor::filled(DType::I32, &[batch, heads, blocks, nnz_s], -1.0),
            column_count: HostTensor::zeros(DType::I32, &counts),
            column_index: HostTensor::filled(DType::I32, &[batch, heads, blocks, nnz_v], -1.0),
        };
        for (seq, head, block) in block_positions(batch, heads, blocks) {
            let l = lists(seq, head, block);
            let at = (seq * heads + head) * blocks + block;
            for (what, list, capacity) in [("tiles", &l.tiles, nnz_s), ("columns", &l.columns, nnz_v)] {
                if list.len() > capacity {
                    return Err(IndexError::OverCapacity { seq, head, block, what, count: list.len(), capacity });
                }
            }
            index.block_count.data[at] = l.tiles.len() as f64;
            index.column_count.data[at] = l.columns.len() as f64;
            for (j, &t) in l.tiles.iter().enumerate() {
                index.block_offset.data[at * nnz_s + j] = t as f64;
            }
            for (j, &c) in l.columns.iter().enumerate() {
                index.column_index.data[at * nnz_v + j] = c as f64;
            }
        }
        Ok(index)
    }

    /// The tensors by name, as [`super::SparseOutput::index`] holds them.
    pub fn named(self) -> Vec<(String, HostTensor)> {
        vec![
            (BLOCK_COUNT.to_string(), self.block_count),
            (BLOCK_OFFSET.to_string(), self.block_offset),
            (COLUMN_COUNT.to_string(), self.column_count),
            (COLUMN_INDEX.to_string(), self.column_index),
        ]
    }

    /// Query block `block`'s lists for sequence `seq`, head `head`. Meant for a validated
    /// index; elsewhere counts are clamped to the capacity and negative entries read 0.
    pub fn lists(&self, seq: usize, head: usize, block: usize) -> BlockLists {
        let read = |count: &HostTensor, entries: &HostTensor| -> Vec<usize> {
            let [_, heads, blocks, capacity] = dims4(entries);
            let at = (seq * heads + head) * blocks + block;
            let n = count.data.get(at).map_or(0, |&c| (c.max(0.0) as usize).min(capacity));
            entries
                .data
                .get(at * capacity..at * capacity + n)
                .unwrap_or(&[])
                .iter()
                .map(|&x| x.max(0.0) as usize)
                .collect()
        };
        BlockLists {
            tiles: read(&self.block_count, &self.block_offset),
            columns: read(&self.column_count, &self.column_index),
        }
    }

    /// The mask the index implies: whether the query sees the key (both local to the
    /// sequence). Meant for a validated index.
    pub fn keeps(&self, at: KeyMask) -> bool {
        if at.key > at.query || at.key >= at.len {
            return false;
        }
        let l = self.lists(at.seq, at.head, at.query / BLOCK);
        l.tiles.iter().any(|&t| (t..t + BLOCK).contains(&at.key)) || l.columns.binary_search(&at.key).is_ok()
    }

    /// The share of causal (query, key) pairs the mask keeps, over every head (1 is dense).
    /// Meant for a validated index.
    pub fn density(&self, seqlens: &[usize], heads: usize) -> f64 {
        let (mut kept, mut causal) = (0usize, 0usize);
        for (seq, head, block) in block_positions(seqlens.len(), heads, query_blocks(seqlens)) {
            let l = self.lists(seq, head, block);
            for row in block * BLOCK..causal_limit(seqlens[seq], block) {
                let tiles: usize = l.tiles.iter().map(|&t| (row + 1).saturating_sub(t).min(BLOCK)).sum();
                kept += tiles + l.columns.partition_point(|&c| c <= row);
                causal += row + 1;
            }
        }
        if causal == 0 {
            0.0
        } else {
            kept as f64 / causal as f64
        }
    }

    /// Checks the index against sequences of lengths `seqlens` and `heads` query heads:
    /// dtypes, shapes, counts within capacity and zero past a sequence's end, entries
    /// below the causal limit, ascending, tiles apart and columns outside tiles.
    pub fn validate(&self, seqlens: &[usize], heads: usize) -> Result<(), IndexError> {
        let (batch, blocks) = (seqlens.len(), query_blocks(seqlens));
        let pairs = [
            (BLOCK_COUNT, &self.block_count, BLOCK_OFFSET, &self.block_offset),
            (COLUMN_COUNT, &self.column_count, COLUMN_INDEX, &self.column_index),
        ];
        for (count_name, count, entries_name, entries) in pairs {
            check_tensor(count_name, count, batch, heads, blocks, false)?;
            check_tensor(entries_name, entries, batch, heads, blocks, true)?;
        }
        for (seq, head, block) in block_positions(batch, heads, blocks) {
            let len = seqlens[seq];
            let at = [seq, head, block];
            let tiles = checked_entries((BLOCK_COUNT, &self.block_count), (BLOCK_OFFSET, &self.block_offset), at, len)?;
            for pair in tiles.windows(2) {
                if pair[1].1 < pair[0].1 + BLOCK {
                    let (previous, value) = (pair[0].1, pair[1].1);
                    let at = [seq, head, block, pair[1].0];
                    return Err(IndexError::TileOverlap { at, value, previous, previous_last: previous + BLOCK - 1 });
                }
            }
            let columns =
                checked_entries((COLUMN_COUNT, &self.column_count), (COLUMN_INDEX, &self.column_index), at, len)?;
            for (j, value) in columns {
                // The last tile starting at or before the column is the only one that can hold it.
                let before = tiles.partition_point(|&(_, t)| t <= value);
                if let Some(&(k, tile)) = before.checked_sub(1).map(|p| &tiles[p]) {
                    if value < tile + BLOCK {
                        let (at, tile_at) = ([seq, head, block, j], [seq, head, block, k]);
                        return Err(IndexError::ColumnInTile { at, value, tile_at, tile, tile_last: tile + BLOCK - 1 });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The valid entries of one block of one list, as (position in the list, value), after
/// checking the count, the range and the order. Shapes were checked before.
fn checked_entries(
    (count_name, count): (&'static str, &HostTensor),
    (entries_name, entries): (&'static str, &HostTensor),
    at3: [usize; 3],
    len: usize,
) -> Result<Vec<(usize, usize)>, IndexError> {
    let [seq, head, block] = at3;
    let [_, heads, blocks, capacity] = dims4(entries);
    let flat = (seq * heads + head) * blocks + block;
    let n = count.data[flat];
    if !(n >= 0.0 && n <= capacity as f64) {
        let (name, entries) = (count_name, entries_name);
        return Err(IndexError::Count { name, at: at3, count: n, capacity, entries });
    }
    let start = block * BLOCK;
    if n > 0.0 && start >= len {
        return Err(IndexError::BlockPastEnd { name: count_name, at: at3, count: n, block, start, seq, len });
    }
    let limit = causal_limit(len, block);
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(n as usize);
    for j in 0..n as usize {
        let value = entries.data[flat * capacity + j];
        let at = [seq, head, block, j];
        if !(value >= 0.0 && value < limit as f64) {
            let last = limit - 1;
            return Err(IndexError::Entry { name: entries_name, at, value, block, seq, len, last });
        }
        if let Some(&(_, previous)) = out.last() {
            if value <= previous as f64 {
                return Err(IndexError::NotAscending { name: entries_name, at, value, previous: previous as f64 });
            }
        }
        out.push((j, value as usize));
    }
    Ok(out)
}

/// Every (sequence, head, block), in row-major order.
fn block_positions(batch: usize, heads: usize, blocks: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..batch).flat_map(move |b| (0..heads).flat_map(move |h| (0..blocks).map(move |i| (b, h, i))))
}

/// The four dimensions of an entries tensor (zeros for another rank; validated before use).
fn dims4(t: &HostTensor) -> [usize; 4] {
    match t.shape[..] {
        [b, h, n, c] => [b, h, n, c],
        _ => [0; 4],
    }
}

fn check_tensor(
    name: &'static str,
    t: &HostTensor,
    batch: usize,
    heads: usize,
    blocks: usize,
    entries: bool,
) -> Result<(), IndexError> {
    if t.dtype != DType::I32 {
        return Err(IndexError::DType { name, got: t.dtype });
    }
    let fits = t.shape.len() == 3 + usize::from(entries) && t.shape[..3] == [batch, heads, blocks];
    if !fits {
        let (expected, capacity) = if entries {
            (format!("[{batch}, {heads}, {blocks}, capacity]"), ", capacity")
        } else {
            (format!("[{batch}, {heads}, {blocks}]"), "")
        };
        return Err(IndexError::Shape { name, expected, capacity, got: t.shape.clone() });
    }
    let expected = t.shape.iter().product::<usize>();
    if t.data.len() != expected {
        return Err(IndexError::Length { name, len: t.data.len(), shape: t.shape.clone(), expected });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sequences (100 and 150 tokens: blocks 0..2 and 0..3), two heads, capacity 3 tiles
    /// and 4 columns, every block holding a valid diagonal tile and, from block 1 on, a column.
    fn seqlens() -> Vec<usize> {
        vec![100, 150]
    }

    fn valid() -> SparseIndex {
        let lens = seqlens();
        SparseIndex::from_lists(&lens, 2, 3, 4, |b, _, i| {
            if i * BLOCK >= lens[b] {
                return BlockLists::default();
            }
            let columns = if i > 0 { vec![3] } else { vec![] };
            BlockLists { tiles: vec![i * BLOCK], columns }
        })
        .unwrap()
    }

    fn set(t: &mut HostTensor, at: &[usize], value: f64) {
        let flat = at.iter().zip(t.strides()).map(|(i, s)| i * s).sum::<usize>();
        t.data[flat] = value;
    }

    fn check(index: &SparseIndex) -> Result<(), IndexError> {
        index.validate(&seqlens(), 2)
    }

    /// The out-of-range error for `value` at `at` in `name`.
    fn entry(name: &'static str, at: [usize; 4], value: f64) -> IndexError {
        let (seq, block) = (at[0], at[2]);
        let len = seqlens()[seq];
        IndexError::Entry { name, at, value, block, seq, len, last: causal_limit(len, block) - 1 }
    }

    #[test]
    fn a_valid_index_passes() {
        assert_eq!(check(&valid()), Ok(()));
    }

    #[test]
    fn from_lists_rejects_lists_past_capacity() {
        let err = SparseIndex::from_lists(&[10], 1, 1, 1, |_, _, _| BlockLists { tiles: vec![0], columns: vec![1, 2] });
        let expected = IndexError::OverCapacity { seq: 0, head: 0, block: 0, what: "columns", count: 2, capacity: 1 };
        assert_eq!(err.err(), Some(expected));
    }

    #[test]
    fn a_count_past_capacity_is_rejected() {
        let mut index = valid();
        set(&mut index.block_count, &[1, 0, 2], 4.0);
        let expected =
            IndexError::Count { name: BLOCK_COUNT, at: [1, 0, 2], count: 4.0, capacity: 3, entries: BLOCK_OFFSET };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn a_negative_count_is_rejected() {
        let mut index = valid();
        set(&mut index.column_count, &[0, 1, 0], -1.0);
        let expected =
            IndexError::Count { name: COLUMN_COUNT, at: [0, 1, 0], count: -1.0, capacity: 4, entries: COLUMN_INDEX };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn entries_in_a_block_past_the_end_are_rejected() {
        let mut index = valid();
        set(&mut index.block_count, &[0, 1, 2], 1.0);
        let expected = IndexError::BlockPastEnd {
            name: BLOCK_COUNT,
            at: [0, 1, 2],
            count: 1.0,
            block: 2,
            start: 128,
            seq: 0,
            len: 100,
        };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn a_negative_entry_is_rejected() {
        let mut index = valid();
        set(&mut index.column_index, &[0, 0, 1, 0], -5.0);
        let expected = entry(COLUMN_INDEX, [0, 0, 1, 0], -5.0);
        assert_eq!(check(&index), Err(expected));
    }

    /// Block 1 of a 150-token sequence has rows 64..127: key 128 is after every row.
    #[test]
    fn an_entry_past_the_causal_limit_is_rejected() {
        let mut index = valid();
        set(&mut index.block_offset, &[1, 1, 1, 0], 128.0);
        let expected = entry(BLOCK_OFFSET, [1, 1, 1, 0], 128.0);
        assert_eq!(check(&index), Err(expected));
    }

    /// Block 1 of a 100-token sequence: key 100 is past the sequence's end.
    #[test]
    fn an_entry_past_the_sequence_is_rejected() {
        let mut index = valid();
        set(&mut index.column_index, &[0, 1, 1, 0], 100.0);
        let expected = entry(COLUMN_INDEX, [0, 1, 1, 0], 100.0);
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn unsorted_columns_are_rejected() {
        let mut index = valid();
        set(&mut index.column_count, &[1, 0, 2], 2.0);
        set(&mut index.column_index, &[1, 0, 2, 1], 1.0);
        let expected = IndexError::NotAscending { name: COLUMN_INDEX, at: [1, 0, 2, 1], value: 1.0, previous: 3.0 };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn duplicate_columns_are_rejected() {
        let mut index = valid();
        set(&mut index.column_count, &[1, 0, 2], 2.0);
        set(&mut index.column_index, &[1, 0, 2, 1], 3.0);
        let expected = IndexError::NotAscending { name: COLUMN_INDEX, at: [1, 0, 2, 1], value: 3.0, previous: 3.0 };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn unsorted_tiles_are_rejected() {
        let mut index = valid();
        set(&mut index.block_count, &[1, 1, 2], 2.0);
        set(&mut index.block_offset, &[1, 1, 2, 1], 0.0);
        let expected = IndexError::NotAscending { name: BLOCK_OFFSET, at: [1, 1, 2, 1], value: 0.0, previous: 128.0 };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn overlapping_tiles_are_rejected() {
        let mut index = valid();
        set(&mut index.block_count, &[1, 1, 2], 2.0);
        set(&mut index.block_offset, &[1, 1, 2, 0], 70.0);
        set(&mut index.block_offset, &[1, 1, 2, 1], 133.0);
        let expected = IndexError::TileOverlap { at: [1, 1, 2, 1], value: 133, previous: 70, previous_last: 133 };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn a_column_inside_a_tile_is_rejected() {
        let mut index = valid();
        set(&mut index.column_index, &[0, 0, 1, 0], 64.0);
        let expected =
            IndexError::ColumnInTile { at: [0, 0, 1, 0], value: 64, tile_at: [0, 0, 1, 0], tile: 64, tile_last: 127 };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn a_wrong_dtype_is_rejected() {
        let mut index = valid();
        index.column_count.dtype = DType::F32;
        assert_eq!(check(&index), Err(IndexError::DType { name: COLUMN_COUNT, got: DType::F32 }));
    }

    #[test]
    fn a_wrong_block_count_shape_is_rejected() {
        let mut index = valid();
        index.block_count = HostTensor::zeros(DType::I32, &[2, 2, 2]);
        let expected =
            IndexError::Shape { name: BLOCK_COUNT, expected: "[2, 2, 3]".into(), capacity: "", got: vec![2, 2, 2] };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn an_entries_tensor_of_the_wrong_rank_is_rejected() {
        let mut index = valid();
        index.column_index = HostTensor::zeros(DType::I32, &[2, 2, 3]);
        let expected = IndexError::Shape {
            name: COLUMN_INDEX,
            expected: "[2, 2, 3, capacity]".into(),
            capacity: ", capacity",
            got: vec![2, 2, 3],
        };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn data_shorter_than_the_shape_is_rejected() {
        let mut index = valid();
        index.block_offset.data.pop();
        let expected = IndexError::Length { name: BLOCK_OFFSET, len: 35, shape: vec![2, 2, 3, 3], expected: 36 };
        assert_eq!(check(&index), Err(expected));
    }

    #[test]
    fn errors_name_the_tensor_position_and_value() {
        let err = IndexError::Entry {
            name: COLUMN_INDEX,
            at: [0, 1, 1, 0],
            value: 100.0,
            block: 1,
            seq: 0,
            len: 100,
            last: 99,
        };
        assert_eq!(
            err.to_string(),
            "`column_index`[0, 1, 1, 0] = 100 is out of range: query block 1 of sequence 0 (length 100) sees keys 0 to 99, its causal limit"
        );
    }

    #[test]
    fn keeps_tile_keys_at_or_before_the_query() {
        let index = valid();
        let at = |query, key| KeyMask { seq: 1, head: 0, query, key, len: 150 };
        // Block 1 (rows 64..127) holds the tile at 64 and column 3.
        assert_eq!(
            [at(70, 64), at(70, 70), at(70, 71), at(70, 3), at(70, 4), at(70, 63)].map(|m| index.keeps(m)),
            [true, true, false, true, false, false]
        );
    }

    /// Sequence 0 (100 rows): block 0 keeps its whole causal triangle (2080 pairs), block 1
    /// its tile's triangle (rows 64..99: 666 pairs) and column 3 (36): 2782 of 5050.
    /// Sequence 1 (150 rows) likewise: 2080, 2080 + 64, 253 + 22 (4499) of 11325.
    #[test]
    fn density_counts_the_kept_causal_pairs() {
        let index = valid();
        let expected = (2782.0 + 4499.0) / (5050.0 + 11325.0);
        assert!((index.density(&seqlens(), 2) - expected).abs() < 1e-12, "{}", index.density(&seqlens(), 2));
    }

    #[test]
    fn lists_read_back_what_from_lists_stored() {
        let index = valid();
        assert_eq!(index.lists(1, 1, 2), BlockLists { tiles: vec![128], columns: vec![3] });
    }
}
