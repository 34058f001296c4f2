//! Offline, kernel-aware pattern search (MInference's Algorithm 1): for every head, candidates of each
//! pattern family sized to the same kernel cost, scored by recall on one sample, the best one kept.
//!
//! The sample runs through the model once ([`Model::prefill_observed`]); each layer's post-RoPE q, k, v are
//! searched as they come, heads in parallel, so only one layer's activations are held at a time. The
//! search is backend-generic: the model may run on any [`Backend`]; scoring is on the host.
//! docs/search.md describes the cost model, the scoring and the synthetic-structure mode.

mod candidates;
mod output;
mod score;

pub use candidates::{Family, Fitted, HeadData, Plan};
pub use output::{pattern_json, write_config, OutputFormat};
pub use score::{score_rows, ScoredRow};

use crate::backend::Backend;
use crate::executor::{LayerQkv, Model};
use crate::patterns::Patterns;
use crate::ModelError;
use serde_json::{json, Value};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::attention::AttentionShape;
use sparsefill_patterns::config::{ConfigError, HeadConfig, ModelConfig as PatternConfig, PatternKind};
use sparsefill_patterns::sparse::AttentionInputs;
use sparsefill_patterns::synthetic::{HeadKnobs, Synthetic, SyntheticError};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use thiserror::Error;

/// The kernel cost every candidate is sized to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// What this pattern costs on each head (for vertical-slash and block-sparse, on that head's sample).
    Pattern(PatternKind),
    /// This share of dense causal attention's tiles, in (0, 1].
    Density(f64),
}

impl Target {
    /// MInference's usual reference: A-shape with 1K sinks and a 4K window.
    pub const DEFAULT: Target = Target::Pattern(PatternKind::AShape { n_init: 1024, n_local: 4096 });
}

/// Where the searched q, k, v come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QkSource {
    /// The model's own, captured during the sample's pre-fill.
    Model,
    /// `patterns::synthetic` heads with mixed structure ([`synthetic_inputs`]) in place of the captured ones,
    /// for checkpoints without long-context structure (random weights): the pre-fill still runs, but what
    /// is searched is the generator's, not the model's.
    Synthetic { seed: u64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    pub target: Target,
    /// Evenly spaced rows scored besides the last 64 ([`score_rows`]).
    pub score_rows: usize,
    pub qk: QkSource,
    /// Only families MInference's format can hold (no tri-shape).
    pub minference_only: bool,
}

impl Default for SearchOptions {
    fn default() -> SearchOptions {
        SearchOptions { target: Target::DEFAULT, score_rows: 128, qk: QkSource::Model, minference_only: false }
    }
}

#[derive(Debug, Error)]
pub enum SearchError {
    #[error("the sample is empty; the search needs at least one token")]
    EmptySample,
    #[error("the sample has {tokens} tokens but the model takes at most {max} (max_position_embeddings)")]
    SampleTooLong { tokens: usize, max: usize },
    #[error("target density must be above 0 and at most 1 (dense); got {got}")]
    Density { got: f64 },
    #[error("target pattern {pattern}: {source}")]
    TargetPattern { pattern: &'static str, source: Box<SearchError> },
    #[error("layer {layer}, head {head}: no candidate fits the target of {target:.1} tiles; the cheapest, {cheapest}, costs {cost} (raise the target)")]
    Unmeetable { layer: usize, head: usize, target: f64, cheapest: String, cost: usize },
    #[error("{0}")]
    Pattern(Box<dyn std::error::Error + Send + Sync>),
    #[error("synthetic q/k: {0}")]
    Synthetic(#[from] SyntheticError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("MInference's format has no {pattern} pattern (layer {layer}, head {head}); write ours instead")]
    NotMinference { layer: usize, head: usize, pattern: &'static str },
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl SearchError {
    fn pattern(error: impl std::error::Error + Send + Sync + 'static) -> SearchError {
        SearchError::Pattern(Box::new(error))
    }
}

/// A family's pattern on one head, sized to the target, with its cost and recall.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub pattern: PatternKind,
    pub cost: usize,
    pub recall: f64,
}

/// One head's search: the target it was sized to, every family's candidate (`None` where even the family's
/// smallest pattern costs more than the target) and the reference pattern's own score when there is one.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadResult {
    pub target_cost: f64,
    pub candidates: Vec<Option<Candidate>>,
    pub reference: Option<Candidate>,
    /// The candidate kept: the highest recall, then the lower cost, then the earlier family.
    pub chosen: Candidate,
    /// Its family, an index into `candidates`.
    pub chosen_family: usize,
}

/// Searches one head (`data` holds its q, k, v) against `target`.
pub fn search_head(
    data: &HeadData,
    target: &Target,
    families: &[Family],
    rows: &[ScoredRow],
    (layer, head): (usize, usize),
) -> Result<HeadResult, SearchError> {
    let len = data.tokens();
    let score = |plan: &Plan| rows.iter().map(|r| plan.recall(r, len)).sum::<f64>() / rows.len().max(1) as f64;
    let (target_cost, reference) = match target {
        Target::Density(f) => (f * Plan::Dense.cost(len) as f64, None),
        Target::Pattern(kind) => {
            let plan =
                data.plan(kind).map_err(|e| SearchError::TargetPattern { pattern: kind.name(), source: e.into() })?;
            let cost = plan.cost(len);
            (cost as f64, Some(Candidate { pattern: *kind, cost, recall: score(&plan) }))
        }
    };
    let mut candidates = Vec::with_capacity(families.len());
    for family in families {
        candidates.push(match data.fit(family, target_cost)? {
            Some(Fitted { pattern, cost }) => Some(Candidate { pattern, cost, recall: score(&data.plan(&pattern)?) }),
            None => None,
        });
    }
    let better = |a: &Candidate, b: &Candidate| a.recall > b.recall || (a.recall == b.recall && a.cost < b.cost);
    let mut chosen: Option<(usize, Candidate)> = None;
    for (i, c) in candidates.iter().enumerate() {
        if let Some(c) = c {
            if chosen.is_none_or(|(_, best)| better(c, &best)) {
                chosen = Some((i, *c));
            }
        }
    }
    match chosen {
        Some((chosen_family, chosen)) => Ok(HeadResult { target_cost, candidates, reference, chosen, chosen_family }),
        None => {
            let mut cheapest: Option<(String, usize)> = None;
            for family in families {
                let cost = data.smallest(family)?.cost;
                if cheapest.as_ref().is_none_or(|(_, c)| cost < *c) {
                    cheapest = Some((family.to_string(), cost));
                }
            }
            let (cheapest, cost) = cheapest.unwrap_or_default();
            Err(SearchError::Unmeetable { layer, head, target: target_cost, cheapest, cost })
        }
    }
}

/// Query head `head` of `inputs` with its key/value head, as a one-head input.
fn one_head(inputs: &AttentionInputs, head: usize) -> AttentionInputs {
    let (t, h, d) = (inputs.q.shape[0], inputs.q.shape[1], inputs.q.shape[2]);
    let kv_heads = inputs.k.shape[1];
    let pick = |x: &HostTensor, heads: usize, which: usize| HostTensor {
        dtype: x.dtype,
        shape: vec![t, 1, d],
        data: (0..t).flat_map(|row| x.data[(row * heads + which) * d..][..d].iter().copied()).collect(),
    };
    let kv = head / (h / kv_heads);
    AttentionInputs {
        q: pick(&inputs.q, h, head),
        k: pick(&inputs.k, kv_heads, kv),
        v: pick(&inputs.v, kv_heads, kv),
        seqlens: inputs.seqlens.clone(),
    }
}

/// Searches every head of one layer's `inputs` (one sequence), heads spread over the host's threads.
pub fn search_layer(
    layer: usize,
    inputs: &AttentionInputs,
    options: &SearchOptions,
    families: &[Family],
) -> Result<Vec<HeadResult>, SearchError> {
    let heads = inputs.q.shape[1];
    let positions = score_rows(inputs.q.shape[0], options.score_rows);
    let run = |head: usize| -> Result<HeadResult, SearchError> {
        let data = HeadData::new(one_head(inputs, head))?;
        let rows: Vec<ScoredRow> = positions.iter().map(|&p| ScoredRow::new(&data.inputs, p)).collect();
        search_head(&data, &options.target, families, &rows, (layer, head))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(heads.max(1));
    let results: Vec<Vec<Result<HeadResult, SearchError>>> = std::thread::scope(|scope| {
        let run = &run;
        let workers: Vec<_> = (0..threads)
            .map(|w| scope.spawn(move || (w..heads).step_by(threads).map(run).collect::<Vec<_>>()))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    // Worker w ran heads w, w + threads, ...: put them back in head order.
    let mut ordered: Vec<Option<Result<HeadResult, SearchError>>> = (0..heads).map(|_| None).collect();
    for (w, part) in results.into_iter().enumerate() {
        for (i, result) in part.into_iter().enumerate() {
            ordered[w + i * threads] = Some(result);
        }
    }
    ordered.into_iter().flatten().collect()
}

/// The layer's q, k, v as the patterns take them: bf16 (what the kernels read), packed `[T, H, D]`.
fn captured_inputs(qkv: &LayerQkv<'_>, heads: usize, kv_heads: usize, head_dim: usize) -> AttentionInputs {
    let t = qkv.q.len() / (heads * head_dim).max(1);
    let tensor = |values: &[f32], h: usize| {
        HostTensor::from_f64(DType::BF16, &[t, h, head_dim], values.iter().map(|&x| f64::from(x)).collect())
    };
    AttentionInputs {
        q: tensor(qkv.q, heads),
        k: tensor(qkv.k, kv_heads),
        v: tensor(qkv.v, kv_heads),
        seqlens: vec![t],
    }
}

/// The synthetic q, k, v the search uses for `layer` in [`QkSource::Synthetic`] mode: `HeadKnobs::mixed`
/// (vertical-slash, A-shape, local, short-repeat vertical-slash) rotated by the layer so that layers differ,
/// scaled to the length, seeded by `seed + layer`.
pub fn synthetic_inputs(layer: usize, shape: &AttentionShape, seed: u64) -> Result<AttentionInputs, SyntheticError> {
    let len = shape.seqlens.iter().copied().max().unwrap_or(0);
    let mut knobs = HeadKnobs::mixed(shape.heads + layer);
    knobs.drain(..layer);
    let knobs = knobs.into_iter().map(|k| k.for_length(len)).collect();
    Ok(Synthetic::new(shape, knobs, seed.wrapping_add(layer as u64))?.inputs())
}

/// How far a search has got: reported after each layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchProgress {
    pub layers_done: usize,
    pub layers: usize,
    pub elapsed: Duration,
}

impl SearchProgress {
    /// The time the remaining layers should take at the pace so far.
    pub fn eta(&self) -> Duration {
        let left = self.layers.saturating_sub(self.layers_done) as u32;
        self.elapsed / self.layers_done.max(1) as u32 * left
    }
}

/// A whole model's search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchResult {
    pub families: Vec<Family>,
    pub options: SearchOptions,
    pub tokens: usize,
    pub rows: usize,
    /// Layer-major, one per query head.
    pub heads: Vec<Vec<HeadResult>>,
}

/// Runs `tokens` through `model` and searches every layer's heads.
pub fn search<B: Backend>(
    model: &mut Model<B>,
    tokens: &[u32],
    options: &SearchOptions,
    progress: &mut dyn FnMut(SearchProgress),
) -> Result<SearchResult, SearchError> {
    let check = check_options(options, tokens.len(), model.config().max_positions)?;
    let families = Family::defaults(check, options.minference_only);
    let c = model.config();
    let (layers, heads, kv_heads, head_dim) = (c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim);
    let shape = AttentionShape { seqlens: vec![tokens.len()], heads, kv_heads, head_dim, causal: true };
    shape.validate().map_err(SearchError::pattern)?;
    let started = Instant::now();
    let mut found: Vec<Vec<HeadResult>> = Vec::with_capacity(layers);
    // The observer cannot stop the pre-fill; after a failure it only skips the remaining layers' work.
    let mut failure: Option<SearchError> = None;
    model.prefill_observed(tokens, &Patterns::dense(), &mut |qkv| {
        if failure.is_some() {
            return;
        }
        let inputs = match options.qk {
            QkSource::Model => Ok(captured_inputs(&qkv, heads, kv_heads, head_dim)),
            QkSource::Synthetic { seed } => synthetic_inputs(qkv.layer, &shape, seed).map_err(SearchError::from),
        };
        match inputs.and_then(|inputs| search_layer(qkv.layer, &inputs, options, &families)) {
            Ok(layer) => found.push(layer),
            Err(e) => failure = Some(e),
        }
        progress(SearchProgress { layers_done: qkv.layer + 1, layers, elapsed: started.elapsed() });
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let rows = score_rows(tokens.len(), options.score_rows).len();
    Ok(SearchResult { families, options: options.clone(), tokens: tokens.len(), rows, heads: found })
}

/// Checks what can be checked before the pre-fill; returns the target pattern's sinks, if it has any.
fn check_options(options: &SearchOptions, tokens: usize, max: usize) -> Result<Option<u32>, SearchError> {
    if tokens == 0 {
        return Err(SearchError::EmptySample);
    }
    if tokens > max {
        return Err(SearchError::SampleTooLong { tokens, max });
    }
    match options.target {
        Target::Density(got) if !(got > 0.0 && got <= 1.0) => Err(SearchError::Density { got }),
        Target::Density(_) => Ok(None),
        Target::Pattern(PatternKind::AShape { n_init, .. } | PatternKind::TriShape { n_init, .. }) => Ok(Some(n_init)),
        Target::Pattern(_) => Ok(None),
    }
}

/// Means over every head of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub target_cost: f64,
    pub searched: Mean,
    /// The target pattern in every head (`None` for a density target).
    pub reference: Option<Mean>,
    /// Each family in every head, in [`SearchResult::families`] order; `None` where it could not meet the
    /// target at some head.
    pub fixed: Vec<Option<Mean>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mean {
    pub recall: f64,
    pub cost: f64,
}

impl Mean {
    fn of<'a>(candidates: impl Iterator<Item = &'a Candidate>) -> Mean {
        let (n, recall, cost) =
            candidates.fold((0usize, 0.0, 0.0), |(n, r, c), x| (n + 1, r + x.recall, c + x.cost as f64));
        let n = n.max(1) as f64;
        Mean { recall: recall / n, cost: cost / n }
    }
}

impl Summary {
    /// The family with the highest mean recall among those that met the target everywhere.
    pub fn best_fixed(&self) -> Option<(usize, Mean)> {
        let feasible = self.fixed.iter().enumerate().filter_map(|(i, m)| m.map(|m| (i, m)));
        feasible.fold(None, |best: Option<(usize, Mean)>, (i, m)| match best {
            Some((_, b)) if b.recall >= m.recall => best,
            _ => Some((i, m)),
        })
    }
}

impl SearchResult {
    fn all(&self) -> impl Iterator<Item = &HeadResult> {
        self.heads.iter().flatten()
    }

    /// The chosen pattern of every head, its recall as the score.
    pub fn config(&self) -> Result<PatternConfig, ConfigError> {
        let head = |h: &HeadResult| HeadConfig { pattern: h.chosen.pattern, score: Some(h.chosen.recall) };
        PatternConfig::new(self.heads.iter().map(|layer| layer.iter().map(head).collect()).collect())
    }

    pub fn summary(&self) -> Summary {
        let chosen: Vec<Candidate> = self.all().map(|h| h.chosen).collect();
        let references: Option<Vec<Candidate>> = self.all().map(|h| h.reference).collect();
        let fixed = (0..self.families.len())
            .map(|f| self.all().map(|h| h.candidates[f]).collect::<Option<Vec<_>>>().map(|c| Mean::of(c.iter())))
            .collect();
        let heads = self.all().count().max(1) as f64;
        Summary {
            target_cost: self.all().map(|h| h.target_cost).sum::<f64>() / heads,
            searched: Mean::of(chosen.iter()),
            reference: references.map(|r| Mean::of(r.iter())),
            fixed,
        }
    }

    /// The side report: the summary, then every head's candidates.
    pub fn report_json(&self) -> Value {
        let summary = self.summary();
        let mean = |m: Option<Mean>| m.map_or(Value::Null, |m| json!({"mean_recall": m.recall, "mean_cost": m.cost}));
        let candidate =
            |c: &Candidate| json!({"pattern": output::pattern_json(&c.pattern), "cost": c.cost, "recall": c.recall});
        let fixed: Vec<Value> = self
            .families
            .iter()
            .zip(&summary.fixed)
            .map(|(f, m)| json!({"family": f.to_string(), "mean": mean(*m)}))
            .collect();
        let best = summary.best_fixed().map_or(
            Value::Null,
            |(i, m)| json!({"family": self.families[i].to_string(), "mean_recall": m.recall, "mean_cost": m.cost}),
        );
        let head = |h: &HeadResult| {
            let candidates: Vec<Value> = self
                .families
                .iter()
                .zip(&h.candidates)
                .map(|(f, c)| json!({"family": f.to_string(), "fitted": c.as_ref().map(candidate)}))
                .collect();
            json!({
                "target_cost": h.target_cost,
                "chosen": self.families[h.chosen_family].to_string(),
                "reference": h.reference.as_ref().map(candidate),
                "candidates": candidates,
            })
        };
        json!({
            "format": "sparsefill-search-report/1",
            "tokens": self.tokens,
            "score_rows": self.rows,
            "qk": match self.options.qk {
                QkSource::Model => json!("model"),
                QkSource::Synthetic { seed } => json!({"synthetic_seed": seed}),
            },
            "target": match self.options.target {
                Target::Pattern(kind) => json!({"pattern": output::pattern_json(&kind)}),
                Target::Density(d) => json!({"density": d}),
            },
            "summary": {
                "mean_target_cost": summary.target_cost,
                "searched": mean(Some(summary.searched)),
                "reference": mean(summary.reference),
                "fixed": fixed,
                "best_fixed": best,
            },
            "layers": self.heads.iter().map(|layer| layer.iter().map(head).collect::<Vec<_>>()).collect::<Vec<_>>(),
        })
    }
}
