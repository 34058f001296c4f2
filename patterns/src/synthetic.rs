//! Seeded synthetic long-context q, k, v with the structure real attention heads show,
//! so that benchmarks estimate realistic sparse indices (random q/k make every key
//! about as likely as every other, and vertical-slash nearly dense).
//!
//! Each query head owns a set of features, weighted by its [`HeadKnobs`]; the model and
//! the knobs are documented in docs/synthetic.md. Vectors are generated after RoPE
//! (what an attention kernel reads), in the dense kernel's packed layout, rounded to bf16.
//!
//! Every random number is a hash of (seed, stream, sequence, head, position, dimension),
//! so any token row can be generated on its own: rows are filled in parallel and the
//! result depends only on the seed, never on the thread count.

use super::attention::{AttentionShape, ShapeError};
use super::sparse::AttentionInputs;
use half::bf16;
use rand::SeedableRng;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::{round_to, HostTensor};
use thiserror::Error;

/// How strongly one query head shows each structure. Strengths are in logits, the
/// units the softmax sees (`q · k / sqrt(D)`): a key with a strength-`x` feature scores
/// about `x` above a featureless one. A strength of 0 turns the feature off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadKnobs {
    /// RoPE locality: the logit a query gives its own position through a content vector
    /// that q and k share, rotated by RoPE; it fades over `window` tokens.
    pub local: f64,
    /// Tokens over which the shared content stays correlated (at least 1).
    pub window: usize,
    /// Leading keys of every sequence that act as attention sinks.
    pub sinks: usize,
    /// Logit of a sink key for every query.
    pub sink: f64,
    /// Keys per sequence, at seeded random positions after the sinks, with a large
    /// projection on a direction every query of the head shares (vertical lines).
    pub heavy_columns: usize,
    /// Logit of a heavy key for every query.
    pub heavy: f64,
    /// Repeated segments: query t matches key t − offset (a slash at that distance).
    /// `None` turns repeats off.
    pub repeat_offset: Option<usize>,
    /// Logit of a matching (query, key) pair of the repeated segments.
    pub repeat: f64,
    /// Standard deviation of the random part of every logit.
    pub noise: f64,
    /// Distance decay: the exponent `a` of a power law `p(d) ∝ d^(−a)` that the head's
    /// attention follows over distances from [`DECAY_START`] to tens of thousands of
    /// tokens (a slowly varying content shared by q and k at geometric scales). Not a
    /// logit: [`HeadKnobs::for_length`] leaves it alone. 0 turns it off.
    pub decay: f64,
}

/// The shortest scale of the distance decay, in tokens: nearer keys are the `local`
/// feature's and the vertical-slash estimator's forced diagonals' business.
pub const DECAY_START: usize = 64;

impl HeadKnobs {
    /// No structure: scores are noise only (a head with no preferred keys).
    pub const DIFFUSE: HeadKnobs = HeadKnobs {
        local: 0.0,
        window: 1,
        sinks: 0,
        sink: 0.0,
        heavy_columns: 0,
        heavy: 0.0,
        repeat_offset: None,
        repeat: 0.0,
        noise: 1.0,
        decay: 0.0,
    };

    /// A local head: attention mostly within a few dozen tokens, then a power-law tail.
    pub const LOCAL: HeadKnobs = HeadKnobs { local: 6.0, window: 32, decay: 1.5, ..HeadKnobs::DIFFUSE };

    /// An A-shape head: sinks plus the local window (MInference's "stream_llm").
    pub const A_SHAPE: HeadKnobs = HeadKnobs { sinks: 4, sink: 8.0, ..HeadKnobs::LOCAL };

    /// A vertical-slash head: sinks, heavy columns, a local diagonal and the slashes of
    /// a segment repeated at distance 1024.
    pub const VERTICAL_SLASH: HeadKnobs = HeadKnobs {
        local: 4.0,
        window: 16,
        sinks: 4,
        sink: 6.0,
        heavy_columns: 64,
        heavy: 5.0,
        repeat_offset: Some(1024),
        repeat: 6.0,
        noise: 1.0,
        decay: 1.5,
    };

    /// Knobs for `heads` heads cycling through vertical-slash, A-shape, local and
    /// vertical-slash with a shorter repeat, so that one layer mixes patterns.
    pub fn mixed(heads: usize) -> Vec<HeadKnobs> {
        let short_repeat = HeadKnobs { repeat_offset: Some(256), ..HeadKnobs::VERTICAL_SLASH };
        let cycle = [HeadKnobs::VERTICAL_SLASH, HeadKnobs::A_SHAPE, HeadKnobs::LOCAL, short_repeat];
        (0..heads).map(|h| cycle[h % cycle.len()]).collect()
    }

    /// These knobs with every feature strength raised by `ln(B(len) / B(256))` when
    /// `len` is longer than 256 tokens, where `B(n) = Σ_{d<n} (1 + d / DECAY_START)^(−decay)`
    /// is the background mass a query sees over `n` keys. A feature's share of the mass
    /// is about `keys · e^strength / (keys · e^strength + B(len))`: raising the logit by
    /// the log of the background's growth keeps the share the presets have at 256
    /// tokens. Without decay `B(n) = n` and the lift is `ln(len / 256)`; with a decay
    /// steeper than 1 the background converges and the lift stays below a logit.
    pub fn for_length(self, len: usize) -> HeadKnobs {
        let background =
            |n: usize| -> f64 { (0..n).map(|d| (1.0 + d as f64 / DECAY_START as f64).powf(-self.decay)).sum() };
        let lift = if len > 256 && self.decay.is_finite() { (background(len) / background(256)).ln() } else { 0.0 };
        let up = |x: f64| if x > 0.0 { x + lift } else { x };
        HeadKnobs { local: up(self.local), sink: up(self.sink), heavy: up(self.heavy), repeat: up(self.repeat), ..self }
    }

    fn check(&self, head: usize) -> Result<(), SyntheticError> {
        let strengths = [
            ("local", self.local),
            ("sink", self.sink),
            ("heavy", self.heavy),
            ("repeat", self.repeat),
            ("noise", self.noise),
            ("decay", self.decay),
        ];
        for (knob, value) in strengths {
            if !(value.is_finite() && value >= 0.0) {
                return Err(SyntheticError::Strength { head, knob, value });
            }
        }
        if self.window == 0 {
            return Err(SyntheticError::Window { head });
        }
        if self.repeat_offset == Some(0) {
            return Err(SyntheticError::RepeatOffset { head });
        }
        Ok(())
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum SyntheticError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("the generator needs at least one query head; got heads 0")]
    NoHeads,
    #[error("the generator needs one HeadKnobs per query head: {heads} heads, {knobs} knobs given")]
    KnobCount { heads: usize, knobs: usize },
    #[error("head {head}: knob `{knob}` must be finite and >= 0; got {value}")]
    Strength { head: usize, knob: &'static str, value: f64 },
    #[error("head {head}: `window` must be at least 1 token; got 0")]
    Window { head: usize },
    #[error("head {head}: `repeat_offset` must be at least 1 token (use None to turn repeats off); got 0")]
    RepeatOffset { head: usize },
    #[error("rope_base must be a finite number > 1; got {0}")]
    RopeBase(f64),
}

/// The generator: a shape (`causal` is ignored: the vectors do not depend on it), one
/// [`HeadKnobs`] per query head, RoPE's base and a seed.
#[derive(Clone, Debug)]
pub struct Synthetic {
    shape: AttentionShape,
    knobs: Vec<HeadKnobs>,
    seed: u64,
    /// `heavy[seq][head]`: sorted positions, local to the sequence.
    heavy: Vec<Vec<Vec<usize>>>,
    /// Per query head, the unit directions its sinks and heavy keys share with its
    /// queries, inside the focused block.
    sink_dir: Vec<Vec<f64>>,
    heavy_dir: Vec<Vec<f64>>,
    /// Per kv head, the key-side amplitude of each shared feature: noise, local content
    /// per window, repeat codes per offset, decay content. The heads of a GQA group
    /// share their keys' features and differ in how strongly their queries read them.
    key_amp: Vec<KeyAmplitudes>,
    /// RoPE's frequencies, one per pair of dimensions (i, i + D/2): LLaMA's rotate_half.
    theta: Vec<f64>,
    blocks: Blocks,
}

/// Disjoint blocks of the head dimensions, one per kind of feature, so that features of
/// different kinds do not meet in `q · k` (module docs: "Cross-talk"). Blocks are sets
/// of RoPE pairs `(i, i + D/2)`; sizes are shares of D (D is 16 to 128).
#[derive(Clone, Debug)]
struct Blocks {
    /// Local content and repeat codes: pairs `0 .. D/4` (half the dims, RoPE's fastest).
    content: Vec<usize>,
    /// Query and key noise: pairs `D/4 .. 5D/16`.
    noise: Vec<usize>,
    /// Sink and heavy directions: pairs `5D/16 .. 3D/8`.
    focused: Vec<usize>,
    /// Decay scales, one pair each: pairs `3D/8 .. D/2` (RoPE's slowest).
    decay_pairs: Vec<usize>,
}

impl Blocks {
    fn new(d: usize) -> Blocks {
        let half = d / 2;
        let dims = |pairs: std::ops::Range<usize>| pairs.clone().chain(pairs.map(|p| p + half)).collect::<Vec<_>>();
        Blocks {
            content: dims(0..d / 4),
            noise: dims(d / 4..5 * d / 16),
            focused: dims(5 * d / 16..3 * d / 8),
            decay_pairs: (3 * d / 8..half).collect(),
        }
    }
}

/// One kv head's key-side amplitudes (0: no query head of the group uses the feature).
#[derive(Clone, Debug, Default)]
struct KeyAmplitudes {
    noise: f64,
    /// `(window, amplitude)` per distinct window of the group's local heads.
    local: Vec<(usize, f64)>,
    /// `(repeat_offset, amplitude)` per distinct offset of the group's repeat heads.
    repeat: Vec<(usize, f64)>,
    /// Per decay scale (every scale has the same strength).
    decay: f64,
}

/// Packed `q [T, H, D]`, `k`, `v [T, HKV, D]` in any element type.
#[derive(Clone, Debug, PartialEq)]
pub struct Packed<E> {
    pub q: Vec<E>,
    pub k: Vec<E>,
    pub v: Vec<E>,
}

/// LLaMA's RoPE base.
pub const ROPE_BASE: f64 = 10000.0;

/// Independent random streams, one per kind of random number.
#[derive(Clone, Copy)]
enum Stream {
    Direction = 1,
    Heavy = 2,
    Content = 3,
    Match = 4,
    QueryNoise = 5,
    KeyNoise = 6,
    Value = 7,
    Decay = 8,
}

impl Synthetic {
    pub fn new(shape: &AttentionShape, knobs: Vec<HeadKnobs>, seed: u64) -> Result<Synthetic, SyntheticError> {
        Synthetic::with_rope_base(shape, knobs, ROPE_BASE, seed)
    }

    pub fn with_rope_base(
        shape: &AttentionShape,
        knobs: Vec<HeadKnobs>,
        rope_base: f64,
        seed: u64,
    ) -> Result<Synthetic, SyntheticError> {
        shape.validate()?;
        if shape.heads == 0 {
            return Err(SyntheticError::NoHeads);
        }
        if knobs.len() != shape.heads {
            return Err(SyntheticError::KnobCount { heads: shape.heads, knobs: knobs.len() });
        }
        for (head, k) in knobs.iter().enumerate() {
            k.check(head)?;
        }
        if !(rope_base.is_finite() && rope_base > 1.0) {
            return Err(SyntheticError::RopeBase(rope_base));
        }
        let d = shape.head_dim;
        let blocks = Blocks::new(d);
        let root_d = (d as f64).sqrt();
        let direction = |which: u64, head: usize| {
            let mut out = vec![0.0; d];
            for &c in &blocks.focused {
                out[c] = unit(hash(&[seed, Stream::Direction as u64, which, head as u64, c as u64]));
            }
            let norm = out.iter().map(|x| x * x).sum::<f64>().sqrt();
            out.into_iter().map(|x| x / norm).collect::<Vec<f64>>()
        };
        // Key amplitudes from the group's largest strength, for a feature spread over
        // `n` unit-variance dims: q and k amplitudes γ, β score γ·β·n/√D when matched.
        let group = shape.heads / shape.kv_heads;
        let key_amp = knobs
            .chunks(group)
            .map(|g| {
                let amp = |x: f64, n: usize| (x * root_d / n as f64).sqrt();
                let n_content = blocks.content.len();
                let mut local: Vec<(usize, f64)> = Vec::new();
                let mut repeat: Vec<(usize, f64)> = Vec::new();
                for k in g {
                    if k.local > 0.0 && !local.iter().any(|&(w, _)| w == k.window) {
                        let max = g.iter().filter(|o| o.window == k.window).map(|o| o.local).fold(0.0, f64::max);
                        local.push((k.window, amp(max, n_content)));
                    }
                    if let (Some(offset), true) = (k.repeat_offset, k.repeat > 0.0) {
                        if !repeat.iter().any(|&(o, _)| o == offset) {
                            let max = g
                                .iter()
                                .filter(|o| o.repeat_offset == Some(offset))
                                .map(|o| o.repeat)
                                .fold(0.0, f64::max);
                            repeat.push((offset, amp(max, n_content)));
                        }
                    }
                }
                // Noise: a random logit of standard deviation γ·β·√n/√D.
                let noise_max = g.iter().map(|k| k.noise).fold(0.0, f64::max);
                let n_noise = blocks.noise.len() as f64;
                KeyAmplitudes {
                    noise: (noise_max * root_d / n_noise.sqrt()).sqrt(),
                    local,
                    repeat,
                    decay: amp(g.iter().map(|k| k.decay).fold(0.0, f64::max) * std::f64::consts::LN_2, 2),
                }
            })
            .collect();
        let heavy = shape
            .seqlens
            .iter()
            .enumerate()
            .map(|(seq, &len)| {
                knobs.iter().enumerate().map(|(head, k)| heavy_positions(seed, seq, head, len, k)).collect()
            })
            .collect();
        Ok(Synthetic {
            shape: shape.clone(),
            sink_dir: (0..shape.heads).map(|h| direction(0, h)).collect(),
            heavy_dir: (0..shape.heads).map(|h| direction(1, h)).collect(),
            key_amp,
            theta: (0..d / 2).map(|i| rope_base.powf(-2.0 * i as f64 / d as f64)).collect(),
            knobs,
            seed,
            heavy,
            blocks,
        })
    }

    pub fn shape(&self) -> &AttentionShape {
        &self.shape
    }

    pub fn knobs(&self) -> &[HeadKnobs] {
        &self.knobs
    }

    /// The heavy key positions (local to sequence `seq`) of query head `head`, sorted;
    /// empty for a sequence or head that does not exist.
    pub fn heavy_columns(&self, seq: usize, head: usize) -> &[usize] {
        self.heavy.get(seq).and_then(|h| h.get(head)).map_or(&[], Vec::as_slice)
    }

    /// bf16 `q`, `k`, `v` as the sparse patterns take them.
    pub fn inputs(&self) -> AttentionInputs {
        let packed = self.generate(|x| round_to(DType::BF16, x));
        let (t, s) = (self.shape.tokens(), &self.shape);
        let tensor =
            |heads: usize, data: Vec<f64>| HostTensor { dtype: DType::BF16, shape: vec![t, heads, s.head_dim], data };
        AttentionInputs {
            q: tensor(s.heads, packed.q),
            k: tensor(s.kv_heads, packed.k),
            v: tensor(s.kv_heads, packed.v),
            seqlens: s.seqlens.clone(),
        }
    }

    /// The same values as [`Synthetic::inputs`] in 2-byte bf16, for long contexts whose
    /// f64 host tensors would not fit in memory.
    pub fn packed_bf16(&self) -> Packed<bf16> {
        self.generate(bf16::from_f64)
    }

    /// Fills every token row, rows split over threads in contiguous chunks.
    fn generate<E: Copy + Default + Send>(&self, convert: impl Fn(f64) -> E + Sync) -> Packed<E> {
        let s = &self.shape;
        let (t, d) = (s.tokens(), s.head_dim);
        let (q_row, kv_row) = (s.heads * d, s.kv_heads * d);
        let mut out = Packed {
            q: vec![E::default(); t * q_row],
            k: vec![E::default(); t * kv_row],
            v: vec![E::default(); t * kv_row],
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let rows_per_chunk = t.div_ceil(threads).max(1);
        let cu = s.cu_seqlens();
        std::thread::scope(|scope| {
            let chunks = out
                .q
                .chunks_mut(rows_per_chunk * q_row)
                .zip(out.k.chunks_mut(rows_per_chunk * kv_row))
                .zip(out.v.chunks_mut(rows_per_chunk * kv_row));
            for (i, ((q, k), v)) in chunks.enumerate() {
                let (cu, convert) = (&cu, &convert);
                scope.spawn(move || {
                    let mut rows = RowBuffers::new(s.heads, s.kv_heads, d);
                    for local in 0..q.len() / q_row {
                        let row = i * rows_per_chunk + local;
                        let seq = cu.partition_point(|&c| c <= row) - 1;
                        self.fill_row(seq, row - cu[seq], &mut rows);
                        let store =
                            |dst: &mut [E], src: &[f64]| dst.iter_mut().zip(src).for_each(|(o, &x)| *o = convert(x));
                        store(&mut q[local * q_row..][..q_row], &rows.q);
                        store(&mut k[local * kv_row..][..kv_row], &rows.k);
                        store(&mut v[local * kv_row..][..kv_row], &rows.v);
                    }
                });
            }
        });
        out
    }

    /// One token's q, k and v rows (every head), in f64 before rounding.
    fn fill_row(&self, seq: usize, pos: usize, rows: &mut RowBuffers) {
        let s = &self.shape;
        let d = s.head_dim;
        let group = s.heads / s.kv_heads;
        for (i, theta) in self.theta.iter().enumerate() {
            (rows.sin[i], rows.cos[i]) = (pos as f64 * theta).sin_cos();
        }
        rows.q.fill(0.0);
        rows.k.fill(0.0);
        let root_d = (d as f64).sqrt();
        let b = &self.blocks;
        // A feature carried with amplitude sqrt(x * sqrt(D)) on a unit vector scores x
        // after the 1/sqrt(D) scale; the query amplitude of a shared key feature of
        // amplitude β spread over n dims is x·sqrt(D) / (n·β).
        let focused = |x: f64| (x * root_d).sqrt();
        let reader = |x: f64, beta: f64, n: usize| if beta > 0.0 { x * root_d / (n as f64 * beta) } else { 0.0 };
        for hk in 0..s.kv_heads {
            let amp = &self.key_amp[hk];
            let heads = hk * group..(hk + 1) * group;
            let (krow, qrows) = (&mut rows.k[hk * d..][..d], &mut rows.q[heads.start * d..heads.end * d]);
            // Noise: per query head and per kv head, in its own block.
            let key_noise = hash(&[self.seed, Stream::KeyNoise as u64, seq as u64, hk as u64, pos as u64]);
            for &c in &b.noise {
                krow[c] = amp.noise * unit(mix(key_noise, c as u64));
            }
            for (i, h) in heads.clone().enumerate() {
                // γ·β·sqrt(n)/sqrt(D) = noise: the standard deviation of the noise logit.
                let n = (b.noise.len() as f64).sqrt();
                let a = if amp.noise > 0.0 { self.knobs[h].noise * root_d / (n * amp.noise) } else { 0.0 };
                let noise = hash(&[self.seed, Stream::QueryNoise as u64, seq as u64, h as u64, pos as u64]);
                for &c in &b.noise {
                    qrows[i * d + c] = a * unit(mix(noise, c as u64));
                }
            }
            // RoPE locality: one content per window, shared by the group's keys.
            for &(window, beta) in &amp.local {
                self.content(seq, hk, window, pos, &b.content, &mut rows.content);
                rotate(&mut rows.content, &rows.cos, &rows.sin);
                add_scaled(krow, &rows.content, beta);
                for (i, h) in heads.clone().enumerate() {
                    let kn = &self.knobs[h];
                    if kn.local > 0.0 && kn.window == window {
                        add_scaled(&mut qrows[i * d..][..d], &rows.content, reader(kn.local, beta, b.content.len()));
                    }
                }
            }
            // Repeated segments: the text repeats every offset + 1 tokens and a key
            // carries the token before it (as induction heads' keys do): query t's token
            // equals key (t − offset)'s previous token, and never key t's own.
            for &(offset, beta) in &amp.repeat {
                let period = offset as i64 + 1;
                let at = |p: i64| {
                    hash(&[
                        self.seed,
                        Stream::Match as u64,
                        seq as u64,
                        hk as u64,
                        offset as u64,
                        p.rem_euclid(period) as u64,
                    ])
                };
                let (q_token, k_token) = (at(pos as i64), at(pos as i64 - 1));
                for &c in &b.content {
                    krow[c] += beta * unit(mix(k_token, c as u64));
                }
                for (i, h) in heads.clone().enumerate() {
                    let kn = &self.knobs[h];
                    if kn.repeat > 0.0 && kn.repeat_offset == Some(offset) {
                        let a = reader(kn.repeat, beta, b.content.len());
                        for &c in &b.content {
                            qrows[i * d + c] += a * unit(mix(q_token, c as u64));
                        }
                    }
                }
            }
            // Distance decay: per scale W_j = DECAY_START · 2^j, a unit direction in one
            // RoPE pair that drifts to a new random direction every W_j tokens. q · k
            // at distance d keeps the scales longer than d: a logit that falls by
            // a·ln 2 per doubling of the distance, a power law d^(−a).
            if amp.decay > 0.0 {
                for (j, &pair) in b.decay_pairs.iter().enumerate() {
                    let (x, y) = self.drift(seq, hk, j, pos);
                    let dims = [pair, pair + d / 2];
                    krow[dims[0]] += amp.decay * x;
                    krow[dims[1]] += amp.decay * y;
                    for (i, h) in heads.clone().enumerate() {
                        let a = reader(self.knobs[h].decay * std::f64::consts::LN_2, amp.decay, 2);
                        qrows[i * d + dims[0]] += a * x;
                        qrows[i * d + dims[1]] += a * y;
                    }
                }
            }
            for (i, h) in heads.clone().enumerate() {
                let kn = &self.knobs[h];
                let qh = &mut qrows[i * d..][..d];
                if kn.sinks > 0 && kn.sink > 0.0 {
                    let a = focused(kn.sink);
                    add_scaled(qh, &self.sink_dir[h], a);
                    if pos < kn.sinks {
                        add_scaled(krow, &self.sink_dir[h], a);
                    }
                }
                if kn.heavy_columns > 0 && kn.heavy > 0.0 {
                    let a = focused(kn.heavy);
                    add_scaled(qh, &self.heavy_dir[h], a);
                    if self.heavy[seq][h].binary_search(&pos).is_ok() {
                        add_scaled(krow, &self.heavy_dir[h], a);
                    }
                }
            }
            let value = hash(&[self.seed, Stream::Value as u64, seq as u64, hk as u64, pos as u64]);
            for c in 0..d {
                rows.v[hk * d + c] = unit(mix(value, c as u64));
            }
        }
    }

    /// The slowly varying content vector of kv head `hk` at `pos` on the dims `dims`
    /// (zero elsewhere): unit-variance entries interpolated between independent anchors
    /// `window` tokens apart.
    fn content(&self, seq: usize, hk: usize, window: usize, pos: usize, dims: &[usize], out: &mut [f64]) {
        let (j, f) = ((pos / window) as u64, (pos % window) as f64 / window as f64);
        let anchor = |j: u64| hash(&[self.seed, Stream::Content as u64, seq as u64, hk as u64, window as u64, j]);
        let (a, b) = (anchor(j), anchor(j + 1));
        // Rescaled so that the variance stays 1 between the anchors.
        let norm = ((1.0 - f).powi(2) + f * f).sqrt();
        out.fill(0.0);
        for &c in dims {
            out[c] = ((1.0 - f) * unit(mix(a, c as u64)) + f * unit(mix(b, c as u64))) / norm;
        }
    }

    /// Decay scale `j`'s direction at `pos`: sqrt(2) times a unit 2-vector whose angle
    /// moves linearly from one random anchor angle to the next over DECAY_START · 2^j
    /// tokens. Its norm is fixed, so a query scores every scale it shares with a key at
    /// the full strength, and an unrelated pair scores 0 on average.
    fn drift(&self, seq: usize, hk: usize, j: usize, pos: usize) -> (f64, f64) {
        let window = DECAY_START << j;
        let (n, f) = ((pos / window) as u64, (pos % window) as f64 / window as f64);
        let angle = |n: u64| {
            let h = hash(&[self.seed, Stream::Decay as u64, seq as u64, hk as u64, j as u64, n]);
            std::f64::consts::PI * (h >> 11) as f64 / (1u64 << 52) as f64
        };
        let (a0, a1) = (angle(n), angle(n + 1));
        // The shorter way round, so that the direction moves at most half a turn.
        let mut delta = (a1 - a0).rem_euclid(std::f64::consts::TAU);
        if delta > std::f64::consts::PI {
            delta -= std::f64::consts::TAU;
        }
        let (y, x) = (a0 + f * delta).sin_cos();
        (std::f64::consts::SQRT_2 * x, std::f64::consts::SQRT_2 * y)
    }
}

/// Scratch rows for one token, reused across tokens.
struct RowBuffers {
    q: Vec<f64>,
    k: Vec<f64>,
    v: Vec<f64>,
    content: Vec<f64>,
    cos: Vec<f64>,
    sin: Vec<f64>,
}

impl RowBuffers {
    fn new(heads: usize, kv_heads: usize, d: usize) -> RowBuffers {
        RowBuffers {
            q: vec![0.0; heads * d],
            k: vec![0.0; kv_heads * d],
            v: vec![0.0; kv_heads * d],
            content: vec![0.0; d],
            cos: vec![0.0; d / 2],
            sin: vec![0.0; d / 2],
        }
    }
}

fn add_scaled(dst: &mut [f64], src: &[f64], a: f64) {
    dst.iter_mut().zip(src).for_each(|(x, y)| *x += a * y);
}

fn rotate(x: &mut [f64], cos: &[f64], sin: &[f64]) {
    let half = x.len() / 2;
    for i in 0..half {
        let (a, b) = (x[i], x[i + half]);
        x[i] = a * cos[i] - b * sin[i];
        x[i + half] = a * sin[i] + b * cos[i];
    }
}

/// `count` distinct positions after the sinks of a `len`-token sequence (all of them
/// if fewer are left), sorted.
fn heavy_positions(seed: u64, seq: usize, head: usize, len: usize, knobs: &HeadKnobs) -> Vec<usize> {
    if knobs.heavy_columns == 0 || knobs.heavy == 0.0 {
        return Vec::new();
    }
    let first = knobs.sinks.min(len);
    let available = len - first;
    let mut rng = rand::rngs::StdRng::seed_from_u64(hash(&[seed, Stream::Heavy as u64, seq as u64, head as u64]));
    let mut picked: Vec<usize> = rand::seq::index::sample(&mut rng, available, knobs.heavy_columns.min(available))
        .into_iter()
        .map(|i| first + i)
        .collect();
    picked.sort_unstable();
    picked
}

/// SplitMix64's finalizer: a bijective mix whose outputs pass as independent uniform bits.
fn mix(h: u64, x: u64) -> u64 {
    let mut z = (h ^ x).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0, |h, &p| mix(h, p))
}

/// Uniform on [−√3, √3): mean 0 and variance 1, which is all the features need.
fn unit(h: u64) -> f64 {
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    (2.0 * u - 1.0) * 3f64.sqrt()
}
