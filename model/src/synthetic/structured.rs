//! Layer 0 of a random-weight checkpoint built so that its heads, computed by the real forward pass, show
//! the structure real long-context heads have, and the token samples that bring it out (docs/search.md,
//! "Structured checkpoints").
//!
//! Everything but the embedding table and layer 0's `q_proj` and `k_proj` stays random. The embedding
//! table reserves three hidden dims besides random content: a shared offset `c` that every token has, a
//! sink direction that only BOS has and a heavy direction that only the [`heavy_ids`] have. RMSNorm keeps
//! them (scaled by each token's rms), and layer 0's projections read them into chosen RoPE pairs. Roles
//! go by kv group, since the query heads of a group share its keys:
//!
//! - Even kv groups are positional. Their keys carry `c` on the local pairs (wavelengths 64 to 4096
//!   tokens), BOS's direction on the slowest pair and the heavy one on the next slowest. The group's even
//!   query heads read `c` on the local pairs and against BOS's pair: a logit that fades with the distance,
//!   as the pairs' rotations stop agreeing, plus a sink on BOS (an A-shape head). Its odd query heads read
//!   `c` against the heavy and BOS pairs: every query attends to the heavy tokens wherever they are
//!   (vertical lines).
//! - Odd kv groups match tokens. Keys and queries carry the same random map of the content dims on the
//!   slow pairs (wavelengths of 1500 tokens and more, which barely turn over a sample), so `q_i · k_j` is
//!   large where token `i` equals token `j`: diagonals at `d, 2d, ...` on text repeated with period `d`,
//!   one diagonal per copied paragraph. Their keys also carry the heavy direction, and the odd query heads
//!   read it: matching plus vertical lines.
//!
//! Strengths are logits, what the softmax sees after the `1 / sqrt(head_dim)` scale, for a token of
//! typical rms.

use super::{SyntheticError, Tensor, BOS_ID, EOS_ID};
use crate::config::ModelConfig;
use crate::rope::Rope;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::ops::Range;

/// Hidden dims reserved in the embedding table: the shared offset, BOS's sink direction, the heavy one.
const C_DIM: usize = 0;
const SINK_DIM: usize = 1;
const HEAVY_DIM: usize = 2;
const CONTENT: usize = 3;

/// The embedding's shared offset and the sink and heavy directions' size, against random content in
/// (-1, 1) (rms 0.58): large enough that RMSNorm leaves every token a clear `c`.
const C_OFFSET: f32 = 4.0;
const SINK_OFFSET: f32 = 6.0;

/// Logits: the local peak (at distance 0), BOS's sink, a heavy token, a token matching itself.
const LOCAL: f64 = 10.0;
const SINK: f64 = 8.0;
const HEAVY: f64 = 9.0;
const MATCH: f64 = 12.0;

/// Token ids that carry the heavy direction: the last few of the vocabulary.
pub const HEAVY_TOKENS: usize = 4;

/// The heavy token ids of a vocabulary of `vocab`.
pub fn heavy_ids(vocab: usize) -> Range<u32> {
    let end = vocab as u32;
    end.saturating_sub(HEAVY_TOKENS as u32)..end
}

/// What a structured checkpoint needs of its config.
pub(super) fn check(config: &ModelConfig) -> Result<(), SyntheticError> {
    let reason = if config.head_dim < 8 {
        "head_dim must be at least 8 (four RoPE pairs)"
    } else if config.hidden_size < 16 {
        "hidden_size must be at least 16 (three reserved dims and content)"
    } else if config.vocab_size < super::TOKENIZER_VOCAB + HEAVY_TOKENS {
        "vocab_size must leave room for the heavy tokens after the tokenizer's ids"
    } else {
        return Ok(());
    };
    Err(SyntheticError::Structure { reason })
}

/// Rewrites the embedding table and layer 0's `q_proj` and `k_proj` among `tensors` (the random ones
/// [`super::write_checkpoint`] drew) to give layer 0 the structure the module describes.
pub(super) fn structure(tensors: &mut [Tensor], config: &ModelConfig, seed: u64) -> Result<(), SyntheticError> {
    check(config)?;
    let hidden = config.hidden_size;
    let embed = tensor(tensors, "model.embed_tokens.weight")?;
    shape_embeddings(&mut embed.values, hidden, config.vocab_size);
    let typical = Typical::of(&embed.values, hidden, config.vocab_size);
    let norm = tensor(tensors, "model.layers.0.input_layernorm.weight")?.values.clone();
    let design = Design::new(config, typical)?;
    // A stream of its own: the random tensors stay those of the same spec without the structure.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x005e_ed0f_1a7e);
    let matching = design.matching_map(&mut rng);
    let q = tensor(tensors, "model.layers.0.self_attn.q_proj.weight")?;
    design.queries(&mut q.values, &matching);
    fold_norm(&mut q.values, &norm);
    let k = tensor(tensors, "model.layers.0.self_attn.k_proj.weight")?;
    design.keys(&mut k.values, &matching);
    fold_norm(&mut k.values, &norm);
    Ok(())
}

fn tensor<'a>(tensors: &'a mut [Tensor], name: &'static str) -> Result<&'a mut Tensor, SyntheticError> {
    tensors.iter_mut().find(|t| t.name == name).ok_or(SyntheticError::MissingTensor { name })
}

/// Every token gets `c`, BOS the sink direction and the heavy ids the heavy one; the reserved dims carry
/// nothing else.
fn shape_embeddings(values: &mut [f32], hidden: usize, vocab: usize) {
    let heavy = heavy_ids(vocab);
    for (id, row) in values.chunks_exact_mut(hidden).enumerate() {
        let id = id as u32;
        row[C_DIM] = C_OFFSET;
        row[SINK_DIM] = if id == BOS_ID { SINK_OFFSET } else { 0.0 };
        row[HEAVY_DIM] = if heavy.contains(&id) { SINK_OFFSET } else { 0.0 };
    }
}

/// Layer 0's input norm scales every hidden dim by its weight; dividing the projections' columns by it
/// makes the projections see the bare `x / rms(x)` the design is written for, while the norm stays random.
fn fold_norm(values: &mut [f32], norm: &[f32]) {
    for row in values.chunks_exact_mut(norm.len()) {
        for (w, g) in row.iter_mut().zip(norm) {
            *w /= g;
        }
    }
}

/// Sizes after RMSNorm, averaged over the ordinary tokens: the reserved dims are sized against these.
#[derive(Clone, Copy, Debug)]
struct Typical {
    /// `c`'s component.
    c: f64,
    /// BOS's and the heavy tokens' component along their direction.
    sink: f64,
    /// The mean square of one content dim.
    content_square: f64,
}

impl Typical {
    fn of(embed: &[f32], hidden: usize, vocab: usize) -> Typical {
        let rms = |row: &[f32]| (row.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / hidden as f64).sqrt();
        let rows: Vec<&[f32]> = embed.chunks_exact(hidden).collect();
        let ordinary: Vec<&[f32]> =
            rows.iter().enumerate().filter(|(id, _)| is_ordinary(*id as u32, vocab)).map(|(_, r)| *r).collect();
        let n = ordinary.len().max(1) as f64;
        let c = ordinary.iter().map(|r| f64::from(r[C_DIM]) / rms(r)).sum::<f64>() / n;
        let content_square = ordinary
            .iter()
            .map(|r| r[CONTENT..].iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / rms(r).powi(2))
            .sum::<f64>()
            / (n * (hidden - CONTENT) as f64);
        let bos = rows.get(BOS_ID as usize).map_or(1.0, |r| f64::from(r[SINK_DIM]) / rms(r));
        Typical { c, sink: bos, content_square }
    }
}

/// Tokens that are neither special nor heavy: the filler of a sample.
fn is_ordinary(id: u32, vocab: usize) -> bool {
    id != BOS_ID && id != EOS_ID && !heavy_ids(vocab).contains(&id)
}

/// What a query head does, by its kv group and its place in the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A logit that fades over a few hundred tokens, plus a sink on BOS.
    Local,
    /// The heavy tokens, wherever they are, plus BOS.
    Heavy,
    /// Tokens equal to the query's.
    Matching,
    /// Tokens equal to the query's, plus the heavy tokens.
    MatchingHeavy,
}

fn role(head: usize, group_size: usize) -> Role {
    let group = head / group_size;
    match (group % 2, head % 2) {
        (0, 0) => Role::Local,
        (0, _) => Role::Heavy,
        (_, 0) => Role::Matching,
        _ => Role::MatchingHeavy,
    }
}

/// RoPE pairs whose wavelength (`2π / inv_freq`, in tokens) is in this range carry the local logit: they
/// turn enough over a few hundred tokens to fade, and the faster ones, whose sum comes back at scattered
/// distances, are left out.
const LOCAL_WAVELENGTHS: Range<f64> = 64.0..4096.0;
/// Pairs at least this slow carry the matching map: over the few hundred tokens between repeats they
/// turn by less than half a radian.
const MATCHING_WAVELENGTH: f64 = 1500.0;

struct Design<'a> {
    config: &'a ModelConfig,
    typical: Typical,
    local_pairs: Vec<usize>,
    matching_pairs: Vec<usize>,
}

impl Design<'_> {
    fn new<'a>(config: &'a ModelConfig, typical: Typical) -> Result<Design<'a>, SyntheticError> {
        let rope = Rope::new(config.head_dim, config.rope_theta, config.rope_scaling);
        let wavelength = |p: usize| 2.0 * std::f64::consts::PI / f64::from(rope.inv_freq[p]);
        // The two slowest pairs are BOS's and the heavy tokens'.
        let free = 0..rope.inv_freq.len().saturating_sub(2);
        let local_pairs: Vec<usize> = free.clone().filter(|&p| LOCAL_WAVELENGTHS.contains(&wavelength(p))).collect();
        let matching_pairs: Vec<usize> = free.filter(|&p| wavelength(p) >= MATCHING_WAVELENGTH).collect();
        if local_pairs.len() < 2 || matching_pairs.len() < 2 {
            return Err(SyntheticError::Structure {
                reason: "RoPE needs two pairs of wavelengths 64 to 4096 tokens and two slower than 1500 besides the \
                         slowest two (raise head_dim or rope_theta)",
            });
        }
        Ok(Design { config, typical, local_pairs, matching_pairs })
    }

    fn pairs(&self) -> usize {
        self.config.head_dim / 2
    }

    fn sink_pair(&self) -> usize {
        self.pairs() - 1
    }

    fn heavy_pair(&self) -> usize {
        self.pairs() - 2
    }

    /// `q · k` that scores `logit` after the softmax scale.
    fn product(&self, logit: f64) -> f64 {
        logit * (self.config.head_dim as f64).sqrt()
    }

    /// What the query and the key each put on `c` in one local pair: equal shares, so that at distance 0
    /// the pairs add up to [`LOCAL`] and further away their rotations disagree.
    fn local_weight(&self) -> f64 {
        (self.product(LOCAL) / self.local_pairs.len() as f64).sqrt() / self.typical.c
    }

    /// The matching map: for each matching pair's two dims, random weights over the content dims, scaled
    /// so that a token's image has [`MATCH`]'s product as squared length.
    fn matching_map(&self, rng: &mut StdRng) -> Vec<Vec<f32>> {
        let hidden = self.config.hidden_size;
        let dims = 2 * self.matching_pairs.len();
        // E|M h|² = dims · (hidden - CONTENT) · var(w) · content_square; var of U(-a, a) is a²/3.
        let var = self.product(MATCH) / (dims * (hidden - CONTENT)) as f64 / self.typical.content_square;
        let half_width = (3.0 * var).sqrt() as f32;
        (0..dims)
            .map(|_| {
                let mut row = vec![0.0; hidden];
                for w in &mut row[CONTENT..] {
                    *w = rng.random_range(-half_width..half_width);
                }
                row
            })
            .collect()
    }

    /// The head dims the matching map's rows go to, in its order: both dims of each matching pair.
    fn matching_dims(&self) -> Vec<usize> {
        let half = self.pairs();
        self.matching_pairs.iter().flat_map(|&p| [p, p + half]).collect()
    }

    fn queries(&self, q: &mut [f32], matching: &[Vec<f32>]) {
        let (hidden, d) = (self.config.hidden_size, self.config.head_dim);
        let group_size = self.config.num_heads / self.config.num_kv_heads.max(1);
        // A query reads `c`, which every token has, against the key's own direction.
        let against = |logit: f64| self.product(logit).sqrt() / self.typical.c;
        for head in 0..self.config.num_heads {
            let rows = &mut q[head * d * hidden..(head + 1) * d * hidden];
            clear_reserved(rows, hidden);
            let role = role(head, group_size);
            let mut set = |dim: usize, col: usize, value: f64| rows[dim * hidden + col] = value as f32;
            match role {
                Role::Local => {
                    for &p in &self.local_pairs {
                        set(p, C_DIM, self.local_weight());
                    }
                    set(self.sink_pair(), C_DIM, against(SINK));
                }
                Role::Heavy => {
                    set(self.heavy_pair(), C_DIM, against(HEAVY));
                    set(self.sink_pair(), C_DIM, against(SINK));
                }
                Role::Matching | Role::MatchingHeavy => {
                    if role == Role::MatchingHeavy {
                        set(self.heavy_pair(), C_DIM, against(HEAVY));
                    }
                    put_map(rows, hidden, &self.matching_dims(), matching);
                }
            }
        }
    }

    fn keys(&self, k: &mut [f32], matching: &[Vec<f32>]) {
        let (hidden, d) = (self.config.hidden_size, self.config.head_dim);
        // A key reads its own direction, against the query's `c`.
        let own = |logit: f64| self.product(logit).sqrt() / self.typical.sink;
        for kv in 0..self.config.num_kv_heads {
            let rows = &mut k[kv * d * hidden..(kv + 1) * d * hidden];
            clear_reserved(rows, hidden);
            let mut set = |dim: usize, col: usize, value: f64| rows[dim * hidden + col] = value as f32;
            set(self.heavy_pair(), HEAVY_DIM, own(HEAVY));
            if kv % 2 == 0 {
                for &p in &self.local_pairs {
                    set(p, C_DIM, self.local_weight());
                }
                set(self.sink_pair(), SINK_DIM, own(SINK));
            } else {
                put_map(rows, hidden, &self.matching_dims(), matching);
            }
        }
    }
}

/// Writes the matching map's rows into a head's `rows` at `dims`.
fn put_map(rows: &mut [f32], hidden: usize, dims: &[usize], map: &[Vec<f32>]) {
    for (&dim, weights) in dims.iter().zip(map) {
        rows[dim * hidden..(dim + 1) * hidden].copy_from_slice(weights);
    }
}

/// The random weights on the reserved dims would turn `c` into a fixed random vector that RoPE rotates,
/// a positional bias of its own: only the design reads them.
fn clear_reserved(rows: &mut [f32], hidden: usize) {
    for row in rows.chunks_exact_mut(hidden) {
        row[..CONTENT].fill(0.0);
    }
}

/// What one section of a sample holds.
#[derive(Clone, Copy, Debug)]
enum Section {
    /// Random tokens.
    Filler,
    /// A random segment of this period, repeated.
    Period(usize),
    /// The paragraphs of the section at this index, shuffled: copies at irregular distances.
    Copies(usize),
}

/// The sections of a sample, in order, each a quarter of it. The periods are multiples of the last one, so
/// the diagonals of the last section, which the vertical-slash estimator sees (it reads the last 64
/// queries), hold the others' too; the copies' diagonals differ from paragraph to paragraph.
const SECTIONS: [Section; 4] = [Section::Filler, Section::Period(64), Section::Copies(0), Section::Period(32)];
/// Tokens per copied paragraph.
const PARAGRAPH: usize = 48;
/// One token in this many is a heavy one.
const HEAVY_EVERY: u64 = 48;

/// `len` tokens that bring out a structured checkpoint's layer 0 (vocabulary `vocab`): BOS, then the four
/// `SECTIONS`, with heavy tokens at scattered positions. Deterministic from `seed`.
pub fn structured_sample(len: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ordinary: Vec<u32> = (0..vocab as u32).filter(|&id| is_ordinary(id, vocab)).collect();
    let mut tokens = Vec::with_capacity(len);
    tokens.extend((len > 0).then_some(BOS_ID));
    let size = len.saturating_sub(1).div_ceil(SECTIONS.len());
    let mut starts = Vec::with_capacity(SECTIONS.len());
    for section in SECTIONS {
        let take = size.min(len - tokens.len());
        starts.push(tokens.len());
        let body = match section {
            Section::Filler => random_tokens(&mut rng, &ordinary, take),
            Section::Period(period) => {
                let segment = random_tokens(&mut rng, &ordinary, period.min(take));
                segment.iter().copied().cycle().take(take).collect()
            }
            Section::Copies(from) => {
                let source = starts.get(from).map_or(&tokens[..0], |&s| &tokens[s..(s + size).min(tokens.len())]);
                shuffled_paragraphs(&mut rng, source, take)
            }
        };
        tokens.extend(body);
    }
    let heavy = heavy_ids(vocab);
    for token in tokens.iter_mut().skip(1) {
        if !heavy.is_empty() && rng.random_range(0..HEAVY_EVERY) == 0 {
            *token = rng.random_range(heavy.clone());
        }
    }
    tokens
}

fn random_tokens(rng: &mut StdRng, ids: &[u32], count: usize) -> Vec<u32> {
    (0..count).filter_map(|_| ids.get(rng.random_range(0..ids.len().max(1))).copied()).collect()
}

/// `count` tokens made of `source`'s paragraphs of [`PARAGRAPH`] tokens in random order (each used once
/// before any is used again).
fn shuffled_paragraphs(rng: &mut StdRng, source: &[u32], count: usize) -> Vec<u32> {
    let paragraphs: Vec<&[u32]> = source.chunks(PARAGRAPH).collect();
    let mut out = Vec::with_capacity(count);
    while out.len() < count && !paragraphs.is_empty() {
        let mut order: Vec<usize> = (0..paragraphs.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        for i in order {
            out.extend(paragraphs[i].iter().take(count - out.len()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{draw_tensors, SyntheticSpec};

    const LEN: usize = 1025;

    #[test]
    fn a_sample_is_deterministic_from_its_seed() {
        assert_eq!(structured_sample(LEN, 4096, 3), structured_sample(LEN, 4096, 3));
    }

    #[test]
    fn a_sample_starts_with_bos_and_has_the_asked_length() {
        let sample = structured_sample(LEN, 4096, 3);
        assert_eq!((sample.len(), sample[0]), (LEN, BOS_ID));
    }

    #[test]
    fn the_periodic_section_repeats_itself() {
        // The second quarter, 257 .. 513, repeats with period 64 (heavy tokens aside).
        let sample = structured_sample(LEN, 4096, 3);
        let heavy = heavy_ids(4096);
        let repeats = (257 + 64..513).filter(|&i| !heavy.contains(&sample[i]) && !heavy.contains(&sample[i - 64]));
        assert!(repeats.clone().count() > 150 && repeats.into_iter().all(|i| sample[i] == sample[i - 64]));
    }

    #[test]
    fn heavy_tokens_are_scattered_over_the_sample() {
        let sample = structured_sample(LEN, 4096, 3);
        let at: Vec<usize> = (0..LEN).filter(|&i| heavy_ids(4096).contains(&sample[i])).collect();
        // One in 48 on average: about 21, in every quarter.
        assert!((10..40).contains(&at.len()) && (0..4).all(|q| at.iter().any(|i| i / 256 == q)), "{at:?}");
    }

    #[test]
    fn only_the_embedding_and_layer_zeros_q_and_k_change() {
        let structured = SyntheticSpec::structured_llama();
        let random = SyntheticSpec { structured: false, ..structured.clone() };
        let (a, b) = (draw_tensors(&structured).unwrap(), draw_tensors(&random).unwrap());
        let changed: Vec<&str> =
            a.iter().zip(&b).filter(|(x, y)| x.values != y.values).map(|(x, _)| x.name.as_str()).collect();
        let expected = [
            "model.embed_tokens.weight",
            "model.layers.0.self_attn.q_proj.weight",
            "model.layers.0.self_attn.k_proj.weight",
        ];
        assert_eq!(changed, expected);
    }

    #[test]
    fn heads_too_small_for_the_design_are_refused() {
        // 8 dims a head: four RoPE pairs, two of them reserved.
        let spec = SyntheticSpec { hidden_size: 32, ..SyntheticSpec::structured_llama() };
        let err = draw_tensors(&spec).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("cannot build a structured layer 0: RoPE needs"), "{err}");
    }
}
