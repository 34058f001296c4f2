//! Dense FlashAttention forward (kernels/attention.tile): its f64 reference and the
//! builder of its inputs, shared by the interpreter tests and the GPU tests.
//!
//! Layout (packed variable-length, as flash-attention's `varlen` API): q, o are
//! `[T, H, D]`, k, v are `[T, HKV, D]`, every sequence concatenated along T, with
//! `cu_seqlens` the `B + 1` prefix sums of the lengths; lse is `[H, T]`, natural log.

use crate::accuracy::compare;
use rand::Rng;
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::{round_to, HostTensor};
use thiserror::Error;

pub const SOURCE: &str = include_str!("../kernels/attention.tile");
pub const PATH: &str = "patterns/kernels/attention.tile";

/// Positions of the kernel's arguments.
pub const Q: usize = 0;
pub const K: usize = 1;
pub const V: usize = 2;
pub const CU_SEQLENS: usize = 3;
pub const O: usize = 4;
pub const LSE: usize = 5;
pub const MAX_SEQLEN: usize = 7;

/// The element types attention.tile's `DT` (q, k, v and o) may take: `dot`'s operand types.
pub const DTYPES: [DType; 2] = [DType::BF16, DType::F16];

/// The key tile (`BN`) for a launch of attention.tile on `arch`, with the default 128
/// query rows, when q, k, v and o all meet the `aligned` contract or not
/// (docs/perf/2026-11-28-h200-aligned.md, H200): 128 on sm_90a with aligned inputs
/// (1.09-1.26x SDPA flash at 8K-128K, against 0.96-1.16x at 64), else 64. The unaligned
/// variant spills at 128 on sm_90a, and 128 spills on sm_80, so no launch that follows
/// this runs a spilling specialization. Every contiguous allocation with a head dim that
/// is a multiple of 8 is aligned, whatever the length does to `lse`.
pub fn block_n(arch: Arch, aligned: bool) -> usize {
    match (arch, aligned) {
        (Arch::Sm90a, true) => 128,
        _ => 64,
    }
}

/// The tensors that a launch on contiguous q, k, v and o with a head dim that is a multiple
/// of 8 passes aligned; `lse` is too when the packed length is a multiple of 4.
pub const ALIGNED_ON_CONTIGUOUS: [&str; 5] = ["q", "k", "v", "cu_seqlens", "o"];

/// What one attention call computes; the kernel's specialization follows from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    pub seqlens: Vec<usize>,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub causal: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ShapeError {
    #[error("an attention call needs at least one sequence; got none")]
    NoSequences,
    #[error("sequence {index} has length 0; every sequence needs at least one token")]
    EmptySequence { index: usize },
    #[error("the sequences hold {total} tokens in all; at most {max} fit the kernel's i32 offsets")]
    TooManyTokens { total: usize, max: usize },
    #[error("kv_heads must be at least 1 and divide heads (grouped-query attention); got heads {heads}, kv_heads {kv_heads}")]
    HeadsNotGrouped { heads: usize, kv_heads: usize },
    #[error("head_dim must be a power of two from 16 to 128 (a dot operand dimension); got {0}")]
    HeadDim(usize),
    #[error("the query/key block must be a power of two from 16 to 128 (a dot operand dimension); got {0}")]
    Block(usize),
    #[error("q, k, v and o must be bf16 or f16 (dot operand types); got {0}")]
    DType(DType),
    #[error("row {row} is out of range; the sequences hold {tokens} tokens")]
    Row { row: usize, tokens: usize },
    #[error("argument {index} of an attention case must be the tensor the case built; it is missing or a scalar")]
    NotATensor { index: usize },
    #[error("output `{name}` must have shape {expected:?}; got {got:?}")]
    OutputShape { name: &'static str, expected: Vec<usize>, got: Vec<usize> },
    #[error("`{name}` must be a rank-{rank} tensor; got shape {got:?}")]
    Rank { name: &'static str, rank: usize, got: Vec<usize> },
    #[error("q has {heads} heads and k/v {kv_heads}; the kv head count must divide the query head count (grouped-query attention)")]
    HeadsNotDivisible { heads: usize, kv_heads: usize },
    #[error("cu_seqlens must start at 0; got cu_seqlens[0] = {0}")]
    CuSeqlensStart(i64),
    #[error("cu_seqlens must increase: cu_seqlens[{index}] = {next} is not above cu_seqlens[{prev_index}] = {prev}", prev_index = index - 1)]
    CuSeqlensNotIncreasing { index: usize, prev: i64, next: i64 },
    #[error("cu_seqlens ends at {last}, past the {tokens} tokens q, k and v hold")]
    CuSeqlensPastTensor { last: i64, tokens: usize },
    #[error(
        "max_seqlen is {max_seqlen}, but sequence {index} has {len} tokens; programs past max_seqlen would never run"
    )]
    MaxSeqlenTooSmall { max_seqlen: i64, index: usize, len: usize },
}

impl AttentionShape {
    /// The largest i32 `cu_seqlens` entry the kernel can index with.
    const MAX_TOKENS: usize = i32::MAX as usize;

    pub fn validate(&self) -> Result<(), ShapeError> {
        if self.seqlens.is_empty() {
            return Err(ShapeError::NoSequences);
        }
        if let Some(index) = self.seqlens.iter().position(|&n| n == 0) {
            return Err(ShapeError::EmptySequence { index });
        }
        let total = self.seqlens.iter().sum::<usize>();
        if total > Self::MAX_TOKENS {
            return Err(ShapeError::TooManyTokens { total, max: Self::MAX_TOKENS });
        }
        if self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return Err(ShapeError::HeadsNotGrouped { heads: self.heads, kv_heads: self.kv_heads });
        }
        if !is_dot_dim(self.head_dim) {
            return Err(ShapeError::HeadDim(self.head_dim));
        }
        Ok(())
    }

    pub fn tokens(&self) -> usize {
        self.seqlens.iter().sum()
    }

    /// `[0, n0, n0 + n1, ...]`.
    pub fn cu_seqlens(&self) -> Vec<usize> {
        let mut cu = vec![0];
        cu.extend(self.seqlens.iter().scan(0, |end, &n| {
            *end += n;
            Some(*end)
        }));
        cu
    }

    /// The usual softmax scale, 1 / sqrt(head_dim).
    pub fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

fn is_dot_dim(n: usize) -> bool {
    n.is_power_of_two() && (16..=128).contains(&n)
}

/// Which (query, key) pair a reference mask is asked about: the sequence and query head,
/// and positions local to the sequence (`0 .. len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyMask {
    pub seq: usize,
    pub head: usize,
    pub query: usize,
    pub key: usize,
    pub len: usize,
}

impl KeyMask {
    /// Whether the key is at or before the query (the causal mask keeps it).
    pub fn is_causal_visible(&self) -> bool {
        self.key <= self.query
    }
}

/// Checks attention.tile's arguments for what the kernel cannot check itself, before a
/// launch: the kv head count divides the query head count, `cu_seqlens` starts at 0,
/// increases strictly and stays inside q/k/v, and `max_seqlen` covers every sequence.
/// (Dimension mismatches between q, k, v, o and lse — a head dim that differs — are
/// rejected by every launch against the kernel's declared dimensions.)
pub fn check_args(args: &[ArgValue]) -> Result<(), ShapeError> {
    let tensor = |index: usize| match args.get(index) {
        Some(ArgValue::Tensor(t)) => Ok(t),
        _ => Err(ShapeError::NotATensor { index }),
    };
    let (q, k, cu) = (tensor(Q)?, tensor(K)?, tensor(CU_SEQLENS)?);
    for (name, t, rank) in [("q", q, 3), ("k", k, 3), ("cu_seqlens", cu, 1)] {
        if t.shape.len() != rank {
            return Err(ShapeError::Rank { name, rank, got: t.shape.clone() });
        }
    }
    let (heads, kv_heads) = (q.shape[1], k.shape[1]);
    if kv_heads == 0 || heads % kv_heads != 0 {
        return Err(ShapeError::HeadsNotDivisible { heads, kv_heads });
    }
    let tokens = q.shape[0];
    // An i32 tensor holds integers; the host copy keeps them as f64.
    let cu: Vec<i64> = cu.data.iter().map(|&x| x as i64).collect();
    match cu.first() {
        Some(&first) if first != 0 => return Err(ShapeError::CuSeqlensStart(first)),
        None => return Err(ShapeError::NoSequences),
        _ => {}
    }
    for (index, pair) in cu.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(ShapeError::CuSeqlensNotIncreasing { index: index + 1, prev: pair[0], next: pair[1] });
        }
    }
    let last = cu.last().copied().unwrap_or(0);
    if last > tokens as i64 {
        return Err(ShapeError::CuSeqlensPastTensor { last, tokens });
    }
    if let Some(ArgValue::I32(max_seqlen)) = args.get(MAX_SEQLEN) {
        for (index, pair) in cu.windows(2).enumerate() {
            let len = (pair[1] - pair[0]) as usize;
            if len as i64 > i64::from(*max_seqlen) {
                return Err(ShapeError::MaxSeqlenTooSmall { max_seqlen: i64::from(*max_seqlen), index, len });
            }
        }
    }
    Ok(())
}

/// One run of the kernel: its specialization and arguments, o and lse poisoned with NaN.
#[derive(Clone, Debug)]
pub struct AttentionCase {
    pub shape: AttentionShape,
    pub consts: Vec<(String, ConstValue)>,
    pub args: Vec<ArgValue>,
}

/// Builds random bf16 q, k, v (uniform in [-2, 2]) for `shape`, with BM = BN = `block`.
pub fn case(shape: &AttentionShape, block: usize, rng: &mut impl Rng) -> Result<AttentionCase, ShapeError> {
    case_in(shape, block, DType::BF16, rng)
}

/// [`case`] with q, k, v and o in `dtype` (the kernel's `DT`, one of [`DTYPES`]): the
/// random inputs are rounded to it, so the f64 reference sees what the kernel reads.
pub fn case_in(
    shape: &AttentionShape,
    block: usize,
    dtype: DType,
    rng: &mut impl Rng,
) -> Result<AttentionCase, ShapeError> {
    shape.validate()?;
    if !is_dot_dim(block) {
        return Err(ShapeError::Block(block));
    }
    if !DTYPES.contains(&dtype) {
        return Err(ShapeError::DType(dtype));
    }
    let (t, d) = (shape.tokens(), shape.head_dim);
    let mut random = |heads: usize| crate::random::uniform(dtype, &[t, heads, d], -2.0..2.0, rng);
    let (q, k, v) = (random(shape.heads), random(shape.kv_heads), random(shape.kv_heads));
    let cu = shape.cu_seqlens();
    let cu_seqlens = HostTensor::from_f64(DType::I32, &[cu.len()], cu.iter().map(|&c| c as f64).collect());
    let max_seqlen = shape.seqlens.iter().copied().max().unwrap_or(0);
    let int = |v: usize| ConstValue::Int(v as i64);
    let consts = vec![
        ("BM".to_string(), int(block)),
        ("BN".to_string(), int(block)),
        ("D".to_string(), int(d)),
        ("CAUSAL".to_string(), ConstValue::Bool(shape.causal)),
        ("DT".to_string(), ConstValue::DType(dtype)),
    ];
    let args = vec![
        ArgValue::Tensor(q),
        ArgValue::Tensor(k),
        ArgValue::Tensor(v),
        ArgValue::Tensor(cu_seqlens),
        ArgValue::Tensor(HostTensor::filled(dtype, &[t, shape.heads, d], f64::NAN)),
        ArgValue::Tensor(HostTensor::filled(DType::F32, &[shape.heads, t], f64::NAN)),
        ArgValue::F32(shape.scale()),
        // validate() bounds every length by i32::MAX.
        ArgValue::I32(max_seqlen as i32),
    ];
    Ok(AttentionCase { shape: shape.clone(), consts, args })
}

/// Attention outputs for a list of token rows: `o[r][h][..]` flattened as
/// `[rows, H, D]` and `lse[r][h]` as `[rows, H]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RowOutputs {
    pub o: Vec<f64>,
    pub lse: Vec<f64>,
}

impl AttentionCase {
    fn tensor(&self, index: usize) -> Result<&HostTensor, ShapeError> {
        match self.args.get(index) {
            Some(ArgValue::Tensor(t)) => Ok(t),
            _ => Err(ShapeError::NotATensor { index }),
        }
    }

    fn tensor_mut(&mut self, index: usize) -> Result<&mut HostTensor, ShapeError> {
        match self.args.get_mut(index) {
            Some(ArgValue::Tensor(t)) => Ok(t),
            _ => Err(ShapeError::NotATensor { index }),
        }
    }

    /// Gives each row's scores a trend along the keys, for tests of the online softmax's
    /// rescale: q moves up by 2 (from [-2, 2] to [0, 4]) and key t of each sequence gains
    /// `rise · t / len` in every component, so a row's scores climb (fall, for a negative
    /// rise) by about 2 · D · rise · scale · log2 e log2 units over a sequence. Inputs stay
    /// rounded to their dtype.
    pub fn ramp_scores(&mut self, rise: f64) -> Result<(), ShapeError> {
        let cu = self.shape.cu_seqlens();
        let q = self.tensor_mut(Q)?;
        let dtype = q.dtype;
        for x in &mut q.data {
            *x = round_to(dtype, *x + 2.0);
        }
        let k = self.tensor_mut(K)?;
        let per_token = k.shape.iter().skip(1).product::<usize>();
        for pair in cu.windows(2) {
            let (start, len) = (pair[0], pair[1] - pair[0]);
            for t in 0..len {
                let lift = rise * t as f64 / len as f64;
                for x in &mut k.data[(start + t) * per_token..(start + t + 1) * per_token] {
                    *x = round_to(dtype, *x + lift);
                }
            }
        }
        Ok(())
    }

    /// The f64 reference at token rows `rows`, from the rounded inputs.
    pub fn reference(&self, rows: &[usize]) -> Result<RowOutputs, ShapeError> {
        let causal = self.shape.causal;
        self.reference_masked(rows, |at| !causal || at.is_causal_visible())
    }

    /// The f64 reference at token rows `rows` where each row attends only to the keys
    /// `mask` keeps: the sparse patterns' oracle, "dense attention with the same mask".
    /// `mask` sees positions local to the row's sequence; a row whose mask keeps no key
    /// gets `o = 0` and `lse = -inf` (what a kernel that computes no tile writes).
    pub fn reference_masked(&self, rows: &[usize], mask: impl Fn(KeyMask) -> bool) -> Result<RowOutputs, ShapeError> {
        let s = &self.shape;
        check_rows(s, rows)?;
        let (q, k, v) = (self.tensor(Q)?, self.tensor(K)?, self.tensor(V)?);
        let (d, group) = (s.head_dim, s.heads / s.kv_heads);
        let scale = s.scale() as f64;
        let cu = s.cu_seqlens();
        let mut out = RowOutputs { o: Vec::with_capacity(rows.len() * s.heads * d), lse: Vec::new() };
        for &row in rows {
            // The sequence holding `row`: the last start at or before it.
            let seq = cu.partition_point(|&c| c <= row) - 1;
            let start = cu[seq];
            let len = cu[seq + 1] - start;
            for h in 0..s.heads {
                let hk = h / group;
                let qv = &q.data[(row * s.heads + h) * d..][..d];
                let key = |j: usize| (j * s.kv_heads + hk) * d;
                let keys: Vec<usize> = (start..start + len)
                    .filter(|&j| mask(KeyMask { seq, head: h, query: row - start, key: j - start, len }))
                    .collect();
                let scores: Vec<f64> = keys
                    .iter()
                    .map(|&j| scale * qv.iter().zip(&k.data[key(j)..][..d]).map(|(a, b)| a * b).sum::<f64>())
                    .collect();
                let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|x| (x - m).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..d {
                    let weighted: f64 = keys.iter().zip(&weights).map(|(&j, w)| w * v.data[key(j) + c]).sum();
                    out.o.push(if keys.is_empty() { 0.0 } else { weighted / total });
                }
                out.lse.push(if keys.is_empty() { f64::NEG_INFINITY } else { m + total.ln() });
            }
        }
        Ok(out)
    }

    /// The kernel's outputs (read from the o and lse arguments) at token rows `rows`,
    /// in [`RowOutputs`]' layout.
    pub fn outputs(&self, rows: &[usize]) -> Result<RowOutputs, ShapeError> {
        let (o, lse) = (self.tensor(O)?, self.tensor(LSE)?);
        gather(&self.shape, o, lse, rows)
    }
}

/// Rows `rows` of kernel outputs `o [T, H, D]` and `lse [H, T]`, in [`RowOutputs`]' layout.
/// The tensors must have the shape's sizes (as downloaded after a launch of its case).
pub fn gather(
    shape: &AttentionShape,
    o: &HostTensor,
    lse: &HostTensor,
    rows: &[usize],
) -> Result<RowOutputs, ShapeError> {
    check_rows(shape, rows)?;
    let (h, d, t) = (shape.heads, shape.head_dim, shape.tokens());
    for (name, tensor, expected) in [("o", o, vec![t, h, d]), ("lse", lse, vec![h, t])] {
        if tensor.shape != expected || tensor.data.len() != expected.iter().product::<usize>() {
            return Err(ShapeError::OutputShape { name, expected, got: tensor.shape.clone() });
        }
    }
    Ok(RowOutputs {
        o: rows.iter().flat_map(|&r| o.data[r * h * d..][..h * d].iter().copied()).collect(),
        lse: rows.iter().flat_map(|&r| (0..h).map(move |head| lse.data[head * t + r])).collect(),
    })
}

fn check_rows(shape: &AttentionShape, rows: &[usize]) -> Result<(), ShapeError> {
    let tokens = shape.tokens();
    match rows.iter().find(|&&row| row >= tokens) {
        Some(&row) => Err(ShapeError::Row { row, tokens }),
        None => Ok(()),
    }
}

/// Relative L2 error allowed on `o`, bf16 or f16 (bf16, the coarser, sets it).
pub const O_TOLERANCE: f64 = 1e-2;
/// Absolute error allowed on `lse`, relative to its largest magnitude.
pub const LSE_TOLERANCE: f64 = 1e-3;

/// Checks kernel outputs against the reference rows: `o` within [`O_TOLERANCE`] (relative
/// L2) and `lse` within [`LSE_TOLERANCE`] of its largest magnitude. A NaN left in either
/// (an unwritten element) fails. The error says which output failed and by how much.
pub fn check_outputs(got: &RowOutputs, expected: &RowOutputs) -> Result<(), String> {
    let o = compare(&HostTensor::from_f64(DType::F32, &[got.o.len()], got.o.clone()), &expected.o);
    if !o.passes(O_TOLERANCE) {
        return Err(format!("o {o}"));
    }
    let lse = compare(&HostTensor::from_f64(DType::F32, &[got.lse.len()], got.lse.clone()), &expected.lse);
    let largest = expected.lse.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if lse.non_finite != 0 || lse.max_abs > LSE_TOLERANCE * largest {
        return Err(format!("lse {lse}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tile_is_128_only_on_aligned_sm_90a_inputs() {
        let tiles = [(Arch::Sm90a, true), (Arch::Sm90a, false), (Arch::Sm80, true)].map(|(a, al)| block_n(a, al));
        assert_eq!(tiles, [128, 64, 64]);
    }
    use rand::SeedableRng;

    fn shape(seqlens: &[usize], heads: usize, kv_heads: usize, head_dim: usize) -> AttentionShape {
        AttentionShape { seqlens: seqlens.to_vec(), heads, kv_heads, head_dim, causal: true }
    }

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn cu_seqlens_are_prefix_sums() {
        assert_eq!(shape(&[5, 70, 1], 1, 1, 64).cu_seqlens(), vec![0, 5, 75, 76]);
    }

    #[test]
    fn kv_heads_must_divide_heads() {
        assert_eq!(shape(&[4], 6, 4, 64).validate(), Err(ShapeError::HeadsNotGrouped { heads: 6, kv_heads: 4 }));
    }

    #[test]
    fn zero_kv_heads_is_rejected() {
        assert_eq!(shape(&[4], 6, 0, 64).validate(), Err(ShapeError::HeadsNotGrouped { heads: 6, kv_heads: 0 }));
    }

    #[test]
    fn empty_sequence_is_rejected() {
        assert_eq!(shape(&[4, 0], 2, 1, 64).validate(), Err(ShapeError::EmptySequence { index: 1 }));
    }

    #[test]
    fn no_sequences_is_rejected() {
        assert_eq!(shape(&[], 2, 1, 64).validate(), Err(ShapeError::NoSequences));
    }

    #[test]
    fn head_dim_must_fit_dot() {
        assert_eq!(shape(&[4], 2, 1, 96).validate(), Err(ShapeError::HeadDim(96)));
    }

    #[test]
    fn block_must_fit_dot() {
        let err = case(&shape(&[4], 2, 1, 64), 8, &mut rng()).err();
        assert_eq!(err, Some(ShapeError::Block(8)));
    }

    #[test]
    fn dtype_must_be_a_dot_operand_type() {
        let err = case_in(&shape(&[4], 2, 1, 64), 16, DType::F32, &mut rng()).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("q, k, v and o must be bf16 or f16 (dot operand types); got f32".into())
        );
    }

    #[test]
    fn a_ramp_lifts_q_by_2_and_key_t_by_rise_t_over_len() {
        let mut c = case(&shape(&[4, 2], 2, 1, 16), 16, &mut rng()).unwrap();
        let (q0, k0) = (c.tensor(Q).unwrap().clone(), c.tensor(K).unwrap().clone());
        c.ramp_scores(-0.5).unwrap();
        let (q, k) = (c.tensor(Q).unwrap(), c.tensor(K).unwrap());
        let lifted = |before: &HostTensor, after: &HostTensor, at: usize| after.data[at] - before.data[at];
        // Token 3 is key t = 3 of the first sequence (len 4), token 5 key t = 1 of the second (len 2).
        let per_token = 16;
        let got = [lifted(&q0, q, 0), lifted(&k0, k, 3 * per_token), lifted(&k0, k, 5 * per_token)];
        let expected = [2.0, -0.5 * 3.0 / 4.0, -0.5 * 1.0 / 2.0];
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 0.02, "lifted by {got:?}, expected about {expected:?}");
        }
    }

    #[test]
    fn a_ramp_of_a_case_whose_k_is_not_a_tensor_is_an_error() {
        let mut c = case(&shape(&[4], 2, 1, 16), 16, &mut rng()).unwrap();
        c.args[K] = ArgValue::F32(1.0);
        assert_eq!(c.ramp_scores(1.0), Err(ShapeError::NotATensor { index: K }));
    }

    #[test]
    fn f16_case_rounds_inputs_to_f16_and_specializes_dt() {
        let c = case_in(&shape(&[3, 2], 2, 1, 16), 16, DType::F16, &mut rng()).unwrap();
        let dtypes: Vec<DType> = [Q, K, V, O].iter().map(|&i| c.tensor(i).unwrap().dtype).collect();
        assert_eq!(dtypes, [DType::F16; 4]);
        // Every input is an f16 value, and some are not bf16 values (8 significant bits
        // against 11), so the rounding really is f16's.
        let q = &c.tensor(Q).unwrap().data;
        assert!(q.iter().all(|&x| round_to(DType::F16, x) == x));
        assert!(q.iter().any(|&x| round_to(DType::BF16, x) != x));
        assert!(c.consts.contains(&("DT".to_string(), ConstValue::DType(DType::F16))));
    }

    #[test]
    fn error_names_the_constraint_and_values() {
        let err = ShapeError::HeadsNotGrouped { heads: 6, kv_heads: 4 };
        assert_eq!(
            err.to_string(),
            "kv_heads must be at least 1 and divide heads (grouped-query attention); got heads 6, kv_heads 4"
        );
    }

    #[test]
    fn case_poisons_outputs() {
        let c = case(&shape(&[3, 2], 2, 1, 16), 16, &mut rng()).unwrap();
        assert!(c.tensor(O).unwrap().data.iter().chain(&c.tensor(LSE).unwrap().data).all(|x| x.is_nan()));
    }

    /// The first token of a causal sequence attends only to itself: o is its value row
    /// and lse its own scaled score.
    #[test]
    fn first_causal_token_copies_its_value() {
        let c = case(&shape(&[3, 2], 2, 1, 16), 16, &mut rng()).unwrap();
        let r = c.reference(&[3]).unwrap();
        let (k, v) = (c.tensor(K).unwrap(), c.tensor(V).unwrap());
        let q = &c.tensor(Q).unwrap().data[3 * 2 * 16..][..16];
        let score = c.shape.scale() as f64 * q.iter().zip(&k.data[3 * 16..][..16]).map(|(a, b)| a * b).sum::<f64>();
        assert_eq!((&r.o[..16], r.lse[0]), (&v.data[3 * 16..][..16], score));
    }

    /// Equal keys give equal weights: o is the mean of the sequence's values, lse is
    /// the common score plus ln(len).
    #[test]
    fn equal_keys_average_the_values() {
        let mut c = case(&AttentionShape { causal: false, ..shape(&[4], 1, 1, 16) }, 16, &mut rng()).unwrap();
        if let ArgValue::Tensor(k) = &mut c.args[K] {
            k.data.fill(0.0);
        }
        let r = c.reference(&[2]).unwrap();
        let v = &c.tensor(V).unwrap().data;
        let mean: f64 = (0..4).map(|j| v[j * 16 + 5]).sum::<f64>() / 4.0;
        assert!((r.o[5] - mean).abs() < 1e-12 && (r.lse[0] - 4f64.ln()).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn gqa_maps_query_heads_to_their_kv_group() {
        let mut c = case(&AttentionShape { causal: false, ..shape(&[2], 4, 2, 16) }, 16, &mut rng()).unwrap();
        // Give kv head 1 constant values 3: query heads 2 and 3 (its group) output 3.
        if let ArgValue::Tensor(v) = &mut c.args[V] {
            for j in 0..2 {
                v.data[(j * 2 + 1) * 16..][..16].fill(3.0);
            }
        }
        let r = c.reference(&[1]).unwrap();
        assert!(r.o[2 * 16..].iter().all(|&x| (x - 3.0).abs() < 1e-12) && r.o[16] != 3.0, "{:?}", r.o);
    }

    #[test]
    fn reference_rejects_rows_past_the_end() {
        let c = case(&shape(&[3, 2], 2, 1, 16), 16, &mut rng()).unwrap();
        assert_eq!(c.reference(&[5]).err(), Some(ShapeError::Row { row: 5, tokens: 5 }));
    }

    #[test]
    fn gather_rejects_a_wrong_output_shape() {
        let s = shape(&[3], 2, 1, 16);
        let o = HostTensor::zeros(DType::F32, &[3, 2, 8]);
        let lse = HostTensor::zeros(DType::F32, &[2, 3]);
        let err = gather(&s, &o, &lse, &[0]).err();
        assert_eq!(err, Some(ShapeError::OutputShape { name: "o", expected: vec![3, 2, 16], got: vec![3, 2, 8] }));
    }

    #[test]
    fn gather_reads_o_rows_and_lse_columns() {
        let s = shape(&[3], 2, 1, 16);
        let o = HostTensor::from_f64(DType::F32, &[3, 2, 16], (0..96).map(f64::from).collect());
        let lse = HostTensor::from_f64(DType::F32, &[2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let g = gather(&s, &o, &lse, &[2]).unwrap();
        assert_eq!((g.o[0], g.o[31], g.lse.clone()), (64.0, 95.0, vec![2.0, 5.0]));
    }
}
