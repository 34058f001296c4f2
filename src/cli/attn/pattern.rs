//! Which pattern each head runs (`--pattern NAME[:ARGS]` or a per-head `--config`) and
//! running it on the interpreter or a GPU.

use super::sparse::local::query_blocks::Backend;
use super::sparse::{block_sparse, local, vertical_slash, AttentionInputs, SparseOutput};
use super::{attention, recall, AttnError};
use serde_json::{Map, Value};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::config::{ModelConfig, PatternKind, PATTERNS};
use std::path::Path;

/// Heads that run the same pattern.
struct Group {
    kind: PatternKind,
    heads: Vec<usize>,
}

/// What runs: one pattern for every head, or the heads of one config layer grouped by
/// pattern.
pub struct Plan {
    groups: Vec<Group>,
    /// How the plan was given, for the output's metadata.
    source: String,
    /// The head count a config fixes (`None` for one pattern, which fits any count).
    config_heads: Option<(std::path::PathBuf, usize)>,
}

impl Plan {
    pub fn single(spec: &str) -> Result<Plan, AttnError> {
        let kind = parse(spec)?;
        Ok(Plan { groups: vec![Group { kind, heads: Vec::new() }], source: spec.to_string(), config_heads: None })
    }

    pub fn from_config(path: &Path, layer: usize) -> Result<Plan, AttnError> {
        let config = ModelConfig::load(path)?;
        let layers = config.num_layers();
        let heads = config.layers().get(layer).ok_or(AttnError::Layer { path: path.to_path_buf(), layer, layers })?;
        let mut groups: Vec<Group> = Vec::new();
        for (h, head) in heads.iter().enumerate() {
            match groups.iter_mut().find(|g| g.kind == head.pattern) {
                Some(group) => group.heads.push(h),
                None => groups.push(Group { kind: head.pattern, heads: vec![h] }),
            }
        }
        Ok(Plan {
            groups,
            source: format!("{} layer {layer}", path.display()),
            config_heads: Some((path.to_path_buf(), heads.len())),
        })
    }

    pub fn describe(&self) -> String {
        self.source.clone()
    }

    /// A config's head count must be the input's.
    pub fn check_heads(&self, heads: usize) -> Result<(), AttnError> {
        match &self.config_heads {
            Some((path, config)) if *config != heads => {
                Err(AttnError::ConfigHeads { path: path.clone(), config: *config, heads })
            }
            _ => Ok(()),
        }
    }

    pub fn run(&self, inputs: &AttentionInputs, backend: &Backend) -> Result<SparseOutput, AttnError> {
        if let [only] = &self.groups[..] {
            return run_kind(only.kind, inputs, backend);
        }
        let (t, h, d) = (inputs.q.shape[0], inputs.q.shape[1], inputs.q.shape[2]);
        // Poisoned: a head that no group wrote would show.
        let mut o = HostTensor::filled(DType::BF16, &[t, h, d], f64::NAN);
        let mut lse = HostTensor::filled(DType::F32, &[h, t], f64::NAN);
        let mut index = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            let part = run_kind(group.kind, &select_heads(inputs, &group.heads), backend)?;
            for (i, &head) in group.heads.iter().enumerate() {
                for row in 0..t {
                    o.data[(row * h + head) * d..][..d]
                        .copy_from_slice(&part.o.data[(row * group.heads.len() + i) * d..][..d]);
                }
                lse.data[head * t..][..t].copy_from_slice(&part.lse.data[i * t..][..t]);
            }
            let heads = group.heads.iter().map(|&x| x as f64).collect();
            index.push((format!("group{g}.heads"), HostTensor::from_f64(DType::I32, &[group.heads.len()], heads)));
            index.extend(part.index.into_iter().map(|(name, tensor)| (format!("group{g}.{name}"), tensor)));
        }
        Ok(SparseOutput { o, lse, index })
    }
}

/// The query heads `heads` with, for each, its own copy of its kv head: a group of
/// heads runs as plain multi-head attention whatever GQA groups it cuts across.
fn select_heads(inputs: &AttentionInputs, heads: &[usize]) -> AttentionInputs {
    let (t, h, d) = (inputs.q.shape[0], inputs.q.shape[1], inputs.q.shape[2]);
    let kv_heads = inputs.k.shape[1];
    let group = h / kv_heads;
    let pick = |tensor: &HostTensor, n: usize, head_of: &dyn Fn(usize) -> usize| {
        let data = (0..t)
            .flat_map(|row| {
                heads.iter().flat_map(move |&x| tensor.data[(row * n + head_of(x)) * d..][..d].iter().copied())
            })
            .collect();
        HostTensor { dtype: tensor.dtype, shape: vec![t, heads.len(), d], data }
    };
    AttentionInputs {
        q: pick(&inputs.q, h, &|x| x),
        k: pick(&inputs.k, kv_heads, &|x| x / group),
        v: pick(&inputs.v, kv_heads, &|x| x / group),
        seqlens: inputs.seqlens.clone(),
    }
}

/// `NAME[:KEY=VALUE,...]` into a pattern, through the config format's own parser so
/// that the CLI and config files accept the same fields.
pub fn parse(spec: &str) -> Result<PatternKind, AttnError> {
    let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
    if !PATTERNS.contains(&name) {
        return Err(AttnError::UnknownPattern { name: name.to_string() });
    }
    let bad = |why: String| AttnError::PatternArgs { given: spec.to_string(), why };
    let mut fields = Map::new();
    for pair in args.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| bad(format!("`{pair}` is not KEY=VALUE")))?;
        let count: u32 = value
            .parse()
            .map_err(|_| bad(format!("{key} must be a whole number in 0..={}; got `{value}`", u32::MAX)))?;
        if key == "pattern" || fields.insert(key.to_string(), count.into()).is_some() {
            return Err(bad(format!("`{key}` is given twice")));
        }
    }
    fields.insert("pattern".to_string(), name.into());
    serde_json::from_value(Value::Object(fields)).map_err(|e| bad(e.to_string()))
}

fn run_kind(kind: PatternKind, inputs: &AttentionInputs, backend: &Backend) -> Result<SparseOutput, AttnError> {
    match kind {
        PatternKind::Dense => run_dense(inputs, backend),
        PatternKind::AShape { n_init, n_local } => {
            local::run(backend, inputs, &local::LocalParams::a_shape(n_init, n_local)).map_err(failed("a_shape"))
        }
        PatternKind::TriShape { n_init, n_local, n_last } => {
            local::run(backend, inputs, &local::LocalParams::tri_shape(n_init, n_local, n_last))
                .map_err(failed("tri_shape"))
        }
        PatternKind::VerticalSlash { vertical, slash } => {
            // MInference estimates from the last 64 queries; the config format has no field for it.
            let params = vertical_slash::VerticalSlashParams {
                vertical_size: vertical as usize,
                slash_size: slash as usize,
                ..Default::default()
            };
            match backend {
                Backend::Interp => vertical_slash::run_interp(inputs, &params).map_err(failed("vertical_slash")),
                #[cfg(feature = "gpu")]
                Backend::Gpu { gpu, cache } => {
                    sparsefill_patterns::gpu::vertical_slash::run(gpu, cache, inputs, &params)
                        .map_err(failed("vertical_slash"))
                }
                // open_device gives no GPU to a build without the feature.
                #[cfg(not(feature = "gpu"))]
                Backend::Gpu { .. } => Err(AttnError::NoGpuBuild),
            }
        }
        PatternKind::BlockSparse { top_k } => {
            let params = block_sparse::BlockSparseParams { top_k };
            let index = block_sparse::estimate(backend, inputs, &params, block_sparse::CHUNK)
                .map_err(failed("block_sparse"))?;
            block_sparse::run_with_index(backend, inputs, &index).map_err(failed("block_sparse"))
        }
        PatternKind::Strided { stride, n_local } => {
            local::strided::run(backend, inputs, &local::strided::StridedParams { stride, n_local })
                .map_err(failed("strided"))
        }
    }
}

fn failed<E: std::error::Error + Send + Sync + 'static>(pattern: &'static str) -> impl FnOnce(E) -> AttnError {
    move |e| AttnError::Pattern { pattern, source: Box::new(e) }
}

/// The dense kernel (attention.tile) on `backend`; it uses no index.
fn run_dense(inputs: &AttentionInputs, backend: &Backend) -> Result<SparseOutput, AttnError> {
    let case = recall::dense_case(inputs)?;
    attention::check_args(&case.args).map_err(failed("dense"))?;
    let wanted = [attention::O, attention::LSE];
    let outputs =
        backend.run("attention", attention::SOURCE, &case.consts, case.args, &wanted).map_err(failed("dense"))?;
    match <[HostTensor; 2]>::try_from(outputs) {
        Ok([o, lse]) => Ok(SparseOutput { o, lse, index: Vec::new() }),
        Err(got) => Err(AttnError::Pattern {
            pattern: "dense",
            source: format!("{} outputs instead of o and lse", got.len()).into(),
        }),
    }
}
