//! Small random-weight checkpoints in Hugging Face layout, written from Rust: what the tests, examples and
//! CLI tests load (CI has no Python and downloads nothing). `scripts/make_checkpoint.py` writes the same
//! layout with torch for comparisons against transformers.

mod structured;
mod tokenizer;

pub use structured::{heavy_ids, structured_sample, HEAVY_TOKENS};
pub use tokenizer::{tokenizer_json, BOS_ID, EOS_ID, VOCAB as TOKENIZER_VOCAB};

use crate::checkpoint::{INDEX_FILE, SINGLE_FILE};
use crate::config::{Architecture, ConfigError, ModelConfig, WeightDType};
use crate::rope::RopeScaling;
use crate::tokenizer::TOKENIZER_FILE;
use crate::weights::Weights;
use half::{bf16, f16};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SyntheticError {
    #[error("the synthetic spec does not make a valid config: {0}")]
    Config(#[from] ConfigError),
    #[error("shards must be at least 1 and at most the tensor count ({tensors}); got {shards}")]
    Shards { shards: usize, tensors: usize },
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot write `{}`: {source}", path.display())]
    Safetensors { path: PathBuf, source: safetensors::SafeTensorError },
    #[error("cannot build a structured layer 0: {reason}")]
    Structure { reason: &'static str },
    #[error("a structured layer 0 rewrites {name}, which this config has no tensor for")]
    MissingTensor { name: &'static str },
}

/// The hyper-parameters of a synthetic checkpoint; start from a `tiny_*` preset and change fields.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticSpec {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub max_positions: usize,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub tie_word_embeddings: bool,
    /// LLaMA's `attention_bias`; Qwen2 always has q/k/v biases.
    pub attention_bias: bool,
    /// Mistral's `sliding_window`.
    pub sliding_window: Option<usize>,
    pub dtype: WeightDType,
    /// Files the weights are split over; more than one writes `model.safetensors.index.json`.
    pub shards: usize,
    pub seed: u64,
    /// Layer 0's heads built to show long-context structure (local with a sink, heavy columns, token
    /// matching) instead of random; the `structured` module describes how. Off in the `tiny_*` presets.
    pub structured: bool,
}

impl SyntheticSpec {
    /// Two layers, grouped-query attention (4 query heads on 2 key/value heads), Llama-3 RoPE scaling with
    /// a short original context so that every band of the scaling is used, two shards.
    pub fn tiny_llama() -> SyntheticSpec {
        SyntheticSpec {
            architecture: Architecture::Llama,
            vocab_size: TOKENIZER_VOCAB + 11,
            hidden_size: 64,
            intermediate_size: 160,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            max_positions: 256,
            rope_theta: 10_000.0,
            rope_scaling: RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_positions: 64.0,
            },
            tie_word_embeddings: false,
            attention_bias: false,
            sliding_window: None,
            dtype: WeightDType::BF16,
            shards: 2,
            seed: 1,
            structured: false,
        }
    }

    /// tiny_llama with a structured layer 0 (see `structured`): heads of 32 dims, so that RoPE has fast
    /// pairs for locality and slow ones for token matching; a vocabulary of 4096, so that random filler
    /// rarely matches by chance; 2048 positions for long samples ([`structured_sample`]).
    pub fn structured_llama() -> SyntheticSpec {
        SyntheticSpec {
            vocab_size: 4096,
            hidden_size: 128,
            intermediate_size: 256,
            max_positions: 2048,
            structured: true,
            seed: 4,
            ..SyntheticSpec::tiny_llama()
        }
    }

    /// Qwen2: q/k/v biases, tied embeddings, one file.
    pub fn tiny_qwen2() -> SyntheticSpec {
        SyntheticSpec {
            architecture: Architecture::Qwen2,
            num_kv_heads: 1,
            rope_theta: 1_000_000.0,
            rope_scaling: RopeScaling::None,
            tie_word_embeddings: true,
            shards: 1,
            seed: 2,
            ..SyntheticSpec::tiny_llama()
        }
    }

    /// Mistral: a sliding window shorter than the test prompts.
    pub fn tiny_mistral() -> SyntheticSpec {
        SyntheticSpec {
            architecture: Architecture::Mistral,
            rope_scaling: RopeScaling::None,
            sliding_window: Some(8),
            shards: 3,
            seed: 3,
            ..SyntheticSpec::tiny_llama()
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads.max(1)
    }

    /// The `config.json` transformers would write for this model.
    pub fn config_json(&self) -> Value {
        let mut config = json!({
            "architectures": [self.architecture.hf_name()],
            "model_type": self.architecture.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim(),
            "hidden_act": "silu",
            "max_position_embeddings": self.max_positions,
            "rms_norm_eps": 1e-5,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling_json(self.rope_scaling),
            "tie_word_embeddings": self.tie_word_embeddings,
            "torch_dtype": self.dtype.torch_name(),
            "bos_token_id": BOS_ID,
            "eos_token_id": EOS_ID,
            "initializer_range": 0.02,
        });
        let extra = match self.architecture {
            Architecture::Llama => json!({"attention_bias": self.attention_bias, "mlp_bias": false}),
            Architecture::Qwen2 => json!({"use_sliding_window": false, "sliding_window": null}),
            Architecture::Mistral => json!({"sliding_window": self.sliding_window}),
        };
        if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        config
    }

    /// The config as the loader reads it.
    pub fn model_config(&self) -> Result<ModelConfig, ConfigError> {
        ModelConfig::parse(&self.config_json().to_string(), Path::new("config.json"))
    }
}

fn rope_scaling_json(scaling: RopeScaling) -> Value {
    match scaling {
        RopeScaling::None => Value::Null,
        RopeScaling::Linear { factor } => json!({"rope_type": "linear", "factor": factor}),
        RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_positions } => json!({
            "rope_type": "llama3",
            "factor": factor,
            "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor,
            "original_max_position_embeddings": original_max_positions,
        }),
    }
}

/// One tensor to write: its name, shape and values.
struct Tensor {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// Random values scaled so that activations stay of order one through the layers: projections by
/// `1 / sqrt(fan_in)`, norm weights near 1, biases small.
fn random_tensor(rng: &mut StdRng, name: &str, shape: &[usize]) -> Tensor {
    let count = shape.iter().product();
    let uniform = |rng: &mut StdRng, center: f32, half_width: f32| center + rng.random_range(-half_width..half_width);
    let values = if name.ends_with("norm.weight") {
        (0..count).map(|_| uniform(rng, 1.0, 0.2)).collect()
    } else if name.ends_with(".bias") {
        (0..count).map(|_| uniform(rng, 0.0, 0.2)).collect()
    } else if name == "model.embed_tokens.weight" {
        (0..count).map(|_| uniform(rng, 0.0, 1.0)).collect()
    } else {
        let fan_in = *shape.last().unwrap_or(&1) as f32;
        (0..count).map(|_| uniform(rng, 0.0, (3.0 / fan_in).sqrt())).collect()
    };
    Tensor { name: name.to_owned(), shape: shape.to_vec(), values }
}

fn encode(values: &[f32], dtype: WeightDType) -> (Dtype, Vec<u8>) {
    match dtype {
        WeightDType::BF16 => (Dtype::BF16, values.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect()),
        WeightDType::F16 => (Dtype::F16, values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect()),
        WeightDType::F32 => (Dtype::F32, values.iter().flat_map(|v| v.to_le_bytes()).collect()),
    }
}

fn write_json(path: PathBuf, value: &Value) -> Result<(), SyntheticError> {
    std::fs::write(&path, format!("{value:#}\n")).map_err(|source| SyntheticError::Write { path, source })
}

/// Every weight of `spec`'s checkpoint, in [`Weights::build`] order: random, then layer 0 structured when
/// `spec.structured` asks for it.
fn draw_tensors(spec: &SyntheticSpec) -> Result<Vec<Tensor>, SyntheticError> {
    let config = spec.model_config()?;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut tensors = Vec::new();
    Weights::build(&config, |name, shape| -> Result<(), SyntheticError> {
        tensors.push(random_tensor(&mut rng, name, shape));
        Ok(())
    })?;
    if spec.structured {
        structured::structure(&mut tensors, &config, spec.seed)?;
    }
    Ok(tensors)
}

/// Writes `config.json`, the weights (sharded with an index when `spec.shards > 1`) and `tokenizer.json`
/// into `dir`, which must exist. Returns the config as the loader reads it.
pub fn write_checkpoint(dir: &Path, spec: &SyntheticSpec) -> Result<ModelConfig, SyntheticError> {
    let config = spec.model_config()?;
    let tensors = draw_tensors(spec)?;
    if spec.shards == 0 || spec.shards > tensors.len() {
        return Err(SyntheticError::Shards { shards: spec.shards, tensors: tensors.len() });
    }
    write_json(dir.join("config.json"), &spec.config_json())?;
    write_json(dir.join(TOKENIZER_FILE), &tokenizer_json())?;
    let mut weight_map = serde_json::Map::new();
    let mut total_size = 0;
    for shard in 0..spec.shards {
        let part = &tensors[shard * tensors.len() / spec.shards..(shard + 1) * tensors.len() / spec.shards];
        let file = match spec.shards {
            1 => SINGLE_FILE.to_owned(),
            n => format!("model-{:05}-of-{n:05}.safetensors", shard + 1),
        };
        let encoded: Vec<_> = part.iter().map(|t| (t, encode(&t.values, spec.dtype))).collect();
        let path = dir.join(&file);
        let safetensors_error = |source| SyntheticError::Safetensors { path: path.clone(), source };
        let views = encoded
            .iter()
            .map(|(t, (dtype, bytes))| Ok((t.name.as_str(), TensorView::new(*dtype, t.shape.clone(), bytes)?)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(safetensors_error)?;
        // transformers refuses safetensors files whose metadata lacks the framework tag.
        let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
        safetensors::serialize_to_file(views, Some(metadata), &path).map_err(safetensors_error)?;
        for (tensor, (_, bytes)) in &encoded {
            weight_map.insert(tensor.name.clone(), json!(file));
            total_size += bytes.len();
        }
    }
    if spec.shards > 1 {
        write_json(dir.join(INDEX_FILE), &json!({"metadata": {"total_size": total_size}, "weight_map": weight_map}))?;
    }
    Ok(config)
}
