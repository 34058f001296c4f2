//! The executor: a loaded model on a backend, its key/value cache, pre-fill, decode and generation.

use crate::backend::{AttentionCall, Backend, BackendError, CpuBackend, KvShape};
use crate::checkpoint::Checkpoint;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::patterns::Patterns;
use crate::profile::StageTimes;
use crate::rope::Rope;
use crate::sampling::{Sampler, Sampling};
use crate::tokenizer::{Tokenizer, TOKENIZER_FILE};
use crate::weights::{LayerWeights, Weights};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Rows of the MLP computed at once during pre-fill. Its intermediate activations are
    /// `intermediate_size` wide (3.5x the hidden size on Llama 3), so chunking them is what lets a long
    /// prompt's pre-fill fit in memory.
    pub mlp_chunk: NonZeroUsize,
}

/// Rows of the MLP per pre-fill chunk by default: 4096 rows of a 14336-wide Llama-3-8B MLP are 235 MB of
/// bf16 activations for gate and up together, small next to a long prompt's cache.
pub const DEFAULT_MLP_CHUNK: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions { mlp_chunk: DEFAULT_MLP_CHUNK }
    }
}

/// How far a pre-fill has got: reported after each layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrefillProgress {
    pub layers_done: usize,
    pub layers: usize,
    pub tokens: usize,
    pub elapsed: Duration,
}

impl PrefillProgress {
    /// Prompt tokens per second, counting a finished layer as that fraction of the whole pre-fill.
    pub fn tokens_per_second(&self) -> f64 {
        let done = self.tokens as f64 * self.layers_done as f64 / self.layers.max(1) as f64;
        done / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Tokens to generate after the prompt; 0 runs the pre-fill only.
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    /// Generation stops after emitting one of these (the config's `eos_token_id` by default in the CLI).
    pub stop_tokens: Vec<u32>,
    /// Copy the last prompt token's logits to the host into [`Generation::prompt_logits`] (for comparisons
    /// with a reference implementation), instead of running a second pre-fill to get them.
    pub keep_prompt_logits: bool,
    /// Time each stage of the pre-fill into [`Generation::prefill_stages`] (`crate::profile`). The
    /// backend is synchronized around every stage, which makes the pre-fill itself a little slower.
    pub profile: bool,
}

impl GenerateOptions {
    pub fn greedy(max_new_tokens: usize) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens,
            sampling: Sampling::Greedy,
            stop_tokens: vec![],
            keep_prompt_logits: false,
            profile: false,
        }
    }
}

/// What [`Model::generate`] reports while it runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    Prefill(PrefillProgress),
    Token(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// `max_new_tokens` were generated.
    Length,
    /// A stop token was generated (and is included).
    Stop,
    /// The model's maximum positions were reached.
    ContextFull,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    pub prefill: Duration,
    /// From the start of the pre-fill to the first generated token (the pre-fill when none was asked for).
    pub time_to_first_token: Duration,
    /// Time spent producing the tokens after the first.
    pub decode: Duration,
    pub finish: FinishReason,
    /// The last prompt token's logits, when [`GenerateOptions::keep_prompt_logits`] asked for them.
    pub prompt_logits: Option<Vec<f32>>,
    /// The pre-fill's time per stage, when [`GenerateOptions::profile`] asked for it.
    pub prefill_stages: Option<StageTimes>,
}

impl Generation {
    /// Decode throughput over the tokens after the first; `None` when fewer than two were generated.
    pub fn decode_tokens_per_second(&self) -> Option<f64> {
        let decoded = self.tokens.len().checked_sub(1).filter(|&n| n > 0)?;
        Some(decoded as f64 / self.decode.as_secs_f64().max(1e-9))
    }
}

/// One layer's attention inputs during a pre-fill, copied to the host: `q` is `[rows, heads * head_dim]`,
/// `k` and `v` are `[rows, kv_heads * head_dim]`, row-major, after RoPE (what the attention reads).
#[derive(Clone, Copy, Debug)]
pub struct LayerQkv<'a> {
    pub layer: usize,
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
}

/// Receives every layer's [`LayerQkv`] from [`Model::prefill_observed`], in layer order.
pub type Observer<'a> = dyn FnMut(LayerQkv<'_>) + 'a;

/// The cache and how many positions it holds.
struct State<C> {
    cache: C,
    position: usize,
}

pub struct Model<B: Backend> {
    backend: B,
    config: ModelConfig,
    dir: PathBuf,
    weights: Weights<B::Tensor>,
    rope: Rope,
    tokenizer: Option<Tokenizer>,
    options: LoadOptions,
    /// `None` before the first pre-fill, and after a failed step left the cache half-written.
    state: Option<State<B::KvCache>>,
    /// Stage times being collected, while a profiled pre-fill runs.
    profile: Mutex<Option<StageTimes>>,
}

impl Model<CpuBackend> {
    /// Loads a checkpoint directory onto the host backend.
    pub fn load(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Model<CpuBackend>, ModelError> {
        Model::load_on(CpuBackend, dir, options)
    }
}

impl<B: Backend> Model<B> {
    /// Loads `config.json`, the safetensors weights (checked against the config, uploaded to `backend`) and,
    /// when the directory has one, `tokenizer.json`.
    pub fn load_on(backend: B, dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Model<B>, ModelError> {
        let dir = dir.as_ref();
        let config = ModelConfig::load(dir)?;
        let checkpoint = Checkpoint::open(dir)?;
        // Without a dtype in the config, the embedding table's dtype is the one every weight must share.
        let mut dtype = config.dtype;
        let weights = Weights::build(&config, |name, shape| -> Result<B::Tensor, ModelError> {
            let view = checkpoint.tensor(name, shape, dtype)?;
            dtype.get_or_insert(view.dtype);
            Ok(backend.upload(&view)?)
        })?;
        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let tokenizer = match tokenizer_path.is_file() {
            true => Some(Tokenizer::from_file(&tokenizer_path)?),
            false => None,
        };
        let rope = Rope::new(config.head_dim, config.rope_theta, config.rope_scaling);
        Ok(Model {
            backend,
            config,
            dir: dir.to_owned(),
            weights,
            rope,
            tokenizer,
            options: *options,
            state: None,
            profile: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn tokenizer(&self) -> Result<&Tokenizer, ModelError> {
        self.tokenizer.as_ref().ok_or_else(|| ModelError::NoTokenizer { dir: self.dir.clone() })
    }

    /// Positions in the cache: the prompt plus every decoded token.
    pub fn position(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.position)
    }

    /// Runs the prompt through the model into a fresh cache; returns the last token's logits.
    pub fn prefill(&mut self, tokens: &[u32], patterns: &Patterns) -> Result<Vec<f32>, ModelError> {
        let logits = self.prefill_on(tokens, patterns, tokens.len(), &mut |_| {}, None)?;
        Ok(self.backend.to_host(&logits)?)
    }

    /// [`Model::prefill`] that also hands each layer's post-RoPE q, k and v to `observer` (offline analysis
    /// such as the pattern search). The copies to the host are made only here, so a plain pre-fill pays
    /// nothing for the hook.
    pub fn prefill_observed(
        &mut self,
        tokens: &[u32],
        patterns: &Patterns,
        observer: &mut Observer<'_>,
    ) -> Result<Vec<f32>, ModelError> {
        let logits = self.prefill_on(tokens, patterns, tokens.len(), &mut |_| {}, Some(observer))?;
        Ok(self.backend.to_host(&logits)?)
    }

    /// Feeds one token at the next position; returns its logits.
    pub fn decode(&mut self, token: u32) -> Result<Vec<f32>, ModelError> {
        let logits = self.decode_on(token)?;
        Ok(self.backend.to_host(&logits)?)
    }

    /// Pre-fills `prompt`, then samples up to `options.max_new_tokens` tokens, reporting progress and each
    /// token to `on_event` as they come.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        patterns: &Patterns,
        options: &GenerateOptions,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Generation, ModelError> {
        let mut sampler = Sampler::new(options.sampling)?;
        let started = Instant::now();
        let capacity = prompt.len() + options.max_new_tokens;
        *self.profile_slot() = options.profile.then(StageTimes::default);
        let prefilled = self.prefill_on(prompt, patterns, capacity, &mut |p| on_event(Event::Prefill(p)), None);
        let prefill_stages = self.profile_slot().take();
        let mut logits = prefilled?;
        let prefill = started.elapsed();
        let prompt_logits = if options.keep_prompt_logits { Some(self.backend.to_host(&logits)?) } else { None };
        let mut generation = Generation {
            tokens: Vec::with_capacity(options.max_new_tokens),
            prompt_tokens: prompt.len(),
            prefill,
            time_to_first_token: prefill,
            decode: Duration::ZERO,
            finish: FinishReason::Length,
            prompt_logits,
            prefill_stages,
        };
        while generation.tokens.len() < options.max_new_tokens {
            let token = self.backend.sample(&logits, &mut sampler)?;
            if generation.tokens.is_empty() {
                generation.time_to_first_token = started.elapsed();
            }
            generation.tokens.push(token);
            on_event(Event::Token(token));
            if options.stop_tokens.contains(&token) {
                generation.finish = FinishReason::Stop;
                break;
            }
            if generation.tokens.len() == options.max_new_tokens {
                break;
            }
            if self.position() >= self.config.max_positions {
                generation.finish = FinishReason::ContextFull;
                break;
            }
            logits = self.decode_on(token)?;
        }
        generation.decode = started.elapsed().saturating_sub(generation.time_to_first_token);
        Ok(generation)
    }

    fn check_tokens(&self, tokens: &[u32], first_position: usize) -> Result<(), ModelError> {
        let vocab = self.config.vocab_size;
        match tokens.iter().position(|&t| t as usize >= vocab) {
            Some(i) => Err(ModelError::TokenOutOfRange { token: tokens[i], position: first_position + i, vocab }),
            None => Ok(()),
        }
    }

    fn prefill_on(
        &mut self,
        tokens: &[u32],
        patterns: &Patterns,
        capacity: usize,
        progress: &mut dyn FnMut(PrefillProgress),
        observer: Option<&mut Observer<'_>>,
    ) -> Result<B::Tensor, ModelError> {
        patterns.check(&self.config)?;
        if tokens.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        let max = self.config.max_positions;
        if tokens.len() > max {
            return Err(ModelError::PromptTooLong { tokens: tokens.len(), max });
        }
        self.check_tokens(tokens, 0)?;
        self.state = None;
        let c = &self.config;
        let shape = KvShape {
            layers: c.num_layers,
            kv_heads: c.num_kv_heads,
            head_dim: c.head_dim,
            capacity: capacity.min(max),
        };
        let mut state = State { cache: self.backend.new_kv_cache(shape)?, position: 0 };
        let logits = self.forward(&mut state, tokens, Some(patterns), progress, observer)?;
        self.state = Some(state);
        Ok(logits)
    }

    fn decode_on(&mut self, token: u32) -> Result<B::Tensor, ModelError> {
        let Some(state) = &self.state else { return Err(ModelError::NotPrefilled) };
        if state.position >= self.config.max_positions {
            return Err(ModelError::ContextFull { max: self.config.max_positions });
        }
        self.check_tokens(&[token], state.position)?;
        let mut state = self.state.take().ok_or(ModelError::NotPrefilled)?;
        let logits = self.forward(&mut state, &[token], None, &mut |_| {}, None)?;
        self.state = Some(state);
        Ok(logits)
    }

    /// Runs `tokens` at positions `state.position ..` through every layer, appending their keys and values,
    /// and returns the last row's logits. `patterns` is `None` for decode, which is always dense.
    fn forward(
        &self,
        state: &mut State<B::KvCache>,
        tokens: &[u32],
        patterns: Option<&Patterns>,
        progress: &mut dyn FnMut(PrefillProgress),
        mut observer: Option<&mut Observer<'_>>,
    ) -> Result<B::Tensor, ModelError> {
        let (b, c, w) = (&self.backend, &self.config, &self.weights);
        let started = Instant::now();
        let start = state.position;
        let mut x = self.stage("embedding", || b.embed(&w.embed, tokens))?;
        for (l, layer) in w.layers.iter().enumerate() {
            let call = AttentionCall {
                layer: l,
                start,
                heads: c.num_heads,
                kv_heads: c.num_kv_heads,
                head_dim: c.head_dim,
                scale: (1.0 / (c.head_dim as f64).sqrt()) as f32,
                window: c.sliding_window,
                patterns: patterns.and_then(|p| p.for_layer(l, tokens.len())),
            };
            let attended = self.attention_block(&mut x, layer, &mut state.cache, &call, observer.as_deref_mut())?;
            self.mlp_block(&mut x, &attended, layer)?;
            progress(PrefillProgress {
                layers_done: l + 1,
                layers: c.num_layers,
                tokens: tokens.len(),
                elapsed: started.elapsed(),
            });
        }
        state.position += tokens.len();
        self.stage("logits of the last row", || {
            let last = b.slice_rows(&x, tokens.len() - 1..tokens.len())?;
            let last = b.rmsnorm(&last, &w.norm, c.rms_norm_eps)?;
            b.matmul(&last, w.output(), None)
        })
    }

    fn profile_slot(&self) -> MutexGuard<'_, Option<StageTimes>> {
        self.profile.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one stage of the forward pass; while a profiled pre-fill runs, times it between two
    /// synchronizations of the backend (`crate::profile`).
    fn stage<T>(&self, name: &'static str, op: impl FnOnce() -> Result<T, BackendError>) -> Result<T, ModelError> {
        if self.profile_slot().is_none() {
            return Ok(op()?);
        }
        self.backend.synchronize()?;
        let started = Instant::now();
        let value = op()?;
        self.backend.synchronize()?;
        let took = started.elapsed();
        if let Some(times) = self.profile_slot().as_mut() {
            times.add(name, took);
        }
        Ok(value)
    }

    /// The attention block's output (after the o projection), which [`Self::mlp_block`] adds to the
    /// residual stream `x`.
    fn attention_block(
        &self,
        x: &mut B::Tensor,
        layer: &LayerWeights<B::Tensor>,
        cache: &mut B::KvCache,
        call: &AttentionCall<'_>,
        observer: Option<&mut Observer<'_>>,
    ) -> Result<B::Tensor, ModelError> {
        let b = &self.backend;
        let h = self.stage("rmsnorm", || b.rmsnorm(x, &layer.input_norm, self.config.rms_norm_eps))?;
        let (mut q, mut k, v) = self.stage("q, k, v projections", || {
            let q = b.matmul(&h, &layer.q, layer.q_bias.as_ref())?;
            let k = b.matmul(&h, &layer.k, layer.k_bias.as_ref())?;
            Ok((q, k, b.matmul(&h, &layer.v, layer.v_bias.as_ref())?))
        })?;
        drop(h);
        self.stage("rope", || {
            b.rope(&mut q, &self.rope, call.start)?;
            b.rope(&mut k, &self.rope, call.start)
        })?;
        if let Some(observe) = observer {
            let (q, k, v) = (b.to_host(&q)?, b.to_host(&k)?, b.to_host(&v)?);
            observe(LayerQkv { layer: call.layer, q: &q, k: &k, v: &v });
        }
        self.stage("key/value cache append", || b.append_kv(cache, call.layer, &k, &v))?;
        drop((k, v));
        let attention = if call.patterns.is_some() { "attention (per-head patterns)" } else { "attention (dense)" };
        let attended = self.stage(attention, || b.attention(&q, cache, call))?;
        drop(q);
        self.stage("o projection", || b.matmul(&attended, &layer.o, layer.o_bias.as_ref()))
    }

    /// The MLP over `mlp_chunk` rows at a time: each chunk's rows of the attention block's output `attended`
    /// are added into the residual stream together with the norm before the MLP (one pass over the rows), and
    /// the chunk's result is added after it.
    fn mlp_block(
        &self,
        x: &mut B::Tensor,
        attended: &B::Tensor,
        layer: &LayerWeights<B::Tensor>,
    ) -> Result<(), ModelError> {
        let b = &self.backend;
        let rows = b.rows(x);
        let chunk = self.options.mlp_chunk.get();
        let eps = self.config.rms_norm_eps;
        for first in (0..rows).step_by(chunk) {
            let span = first..(first + chunk).min(rows);
            let h = self.stage("residual add + rmsnorm", || {
                b.add_rmsnorm_rows(x, span, attended, &layer.post_attention_norm, eps)
            })?;
            let (gate, up) = self.stage("gate, up projections", || {
                Ok((b.matmul(&h, &layer.gate, None)?, b.matmul(&h, &layer.up, None)?))
            })?;
            let act = self.stage("swiglu", || b.swiglu(&gate, &up))?;
            drop((gate, up));
            let down = self.stage("down projection", || b.matmul(&act, &layer.down, None))?;
            self.stage("residual add", || b.add_rows(x, first, &down))?;
        }
        Ok(())
    }
}
