//! `config.json` of a Hugging Face checkpoint: the architectures we run and their hyper-parameters.
//!
//! Parsed field by field from a `serde_json::Value` rather than through a derived struct, so that every
//! error names the file and the field, and says what was expected and what was found.

use crate::rope::RopeScaling;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The `architectures` entries we can run; anything else is refused up front.
pub const SUPPORTED_ARCHITECTURES: [&str; 3] = ["LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"];

/// The weight dtypes a checkpoint may hold.
pub const SUPPORTED_DTYPES: [&str; 3] = ["bfloat16", "float16", "float32"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
    Mistral,
}

/// The element type of the checkpoint's weights, as `torch_dtype` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightDType {
    BF16,
    F16,
    F32,
}

/// What the executor needs from `config.json`, checked for consistency.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_positions: usize,
    pub tie_word_embeddings: bool,
    /// Biases on the q, k and v projections (always on Qwen2; `attention_bias` on LLaMA).
    pub qkv_bias: bool,
    /// A bias on the output projection (LLaMA's `attention_bias` only; Qwen2 has none).
    pub o_bias: bool,
    /// Mistral's sliding-window attention: a query sees at most this many keys, itself included.
    pub sliding_window: Option<usize>,
    /// `None` when the config does not say; the weights then decide.
    pub dtype: Option<WeightDType>,
    pub eos_token_ids: Vec<u32>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{}`: malformed JSON: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("`{}`: expected a JSON object at the top level", path.display())]
    NotObject { path: PathBuf },
    #[error("`{}`: missing field `{field}`", path.display())]
    MissingField { path: PathBuf, field: &'static str },
    #[error("`{}`: field `{field}` must be {expected}; got {got}", path.display())]
    BadField { path: PathBuf, field: &'static str, expected: &'static str, got: String },
    #[error("`{}`: unsupported architecture {found}; supported: {}", path.display(), SUPPORTED_ARCHITECTURES.join(", "))]
    UnsupportedArchitecture { path: PathBuf, found: String },
    #[error("`{}`: field `{field}` is {got}; supported: {supported}", path.display())]
    Unsupported { path: PathBuf, field: &'static str, got: String, supported: &'static str },
    #[error("`{}`: {why}", path.display())]
    Inconsistent { path: PathBuf, why: String },
}

impl WeightDType {
    pub fn torch_name(self) -> &'static str {
        match self {
            WeightDType::BF16 => SUPPORTED_DTYPES[0],
            WeightDType::F16 => SUPPORTED_DTYPES[1],
            WeightDType::F32 => SUPPORTED_DTYPES[2],
        }
    }

    fn from_torch_name(name: &str) -> Option<WeightDType> {
        match name {
            "bfloat16" => Some(WeightDType::BF16),
            "float16" => Some(WeightDType::F16),
            "float32" => Some(WeightDType::F32),
            _ => None,
        }
    }
}

impl Architecture {
    pub fn hf_name(self) -> &'static str {
        match self {
            Architecture::Llama => SUPPORTED_ARCHITECTURES[0],
            Architecture::Qwen2 => SUPPORTED_ARCHITECTURES[1],
            Architecture::Mistral => SUPPORTED_ARCHITECTURES[2],
        }
    }

    /// The `model_type` transformers writes beside `architectures`.
    pub fn model_type(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Mistral => "mistral",
        }
    }

    fn from_hf_name(name: &str) -> Option<Architecture> {
        [Architecture::Llama, Architecture::Qwen2, Architecture::Mistral].into_iter().find(|a| a.hf_name() == name)
    }

    fn from_model_type(name: &str) -> Option<Architecture> {
        [Architecture::Llama, Architecture::Qwen2, Architecture::Mistral].into_iter().find(|a| a.model_type() == name)
    }
}

impl ModelConfig {
    /// Reads `dir/config.json`.
    pub fn load(dir: &Path) -> Result<ModelConfig, ConfigError> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        ModelConfig::parse(&text, &path)
    }

    /// Parses the text of a `config.json`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<ModelConfig, ConfigError> {
        let document: Value =
            serde_json::from_str(text).map_err(|source| ConfigError::Json { path: path.to_owned(), source })?;
        let Value::Object(fields) = document else {
            return Err(ConfigError::NotObject { path: path.to_owned() });
        };
        Fields { path, fields: &fields }.model_config()
    }

    /// Query heads that share one key/value head.
    pub fn group_size(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }

    pub fn q_width(&self) -> usize {
        self.num_heads * self.head_dim
    }

    pub fn kv_width(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }
}

/// The config's top-level object with the path for messages.
struct Fields<'a> {
    path: &'a Path,
    fields: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn model_config(&self) -> Result<ModelConfig, ConfigError> {
        let architecture = self.architecture()?;
        let hidden_size = self.positive("hidden_size")?;
        let num_heads = self.positive("num_attention_heads")?;
        let num_kv_heads = self.optional_positive("num_key_value_heads")?.unwrap_or(num_heads);
        if !num_heads.is_multiple_of(num_kv_heads) {
            return Err(self.inconsistent(format!(
                "num_attention_heads ({num_heads}) must be a multiple of num_key_value_heads ({num_kv_heads})"
            )));
        }
        let head_dim = match self.optional_positive("head_dim")? {
            Some(d) => d,
            None if hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
            None => {
                return Err(self.inconsistent(format!(
                    "hidden_size ({hidden_size}) must be a multiple of num_attention_heads ({num_heads}) when \
                     head_dim is not given"
                )))
            }
        };
        if !head_dim.is_multiple_of(2) {
            return Err(self.inconsistent(format!("head_dim must be even for rotary embeddings; got {head_dim}")));
        }
        self.check_activation()?;
        if self.optional_bool("mlp_bias")?.unwrap_or(false) {
            return Err(self.unsupported("mlp_bias", "true".into(), "false"));
        }
        let attention_bias = self.optional_bool("attention_bias")?.unwrap_or(false);
        let (qkv_bias, o_bias) = match architecture {
            Architecture::Qwen2 => (true, false),
            Architecture::Llama => (attention_bias, attention_bias),
            Architecture::Mistral => (false, false),
        };
        let max_positions = self.positive("max_position_embeddings")?;
        Ok(ModelConfig {
            architecture,
            vocab_size: self.positive("vocab_size")?,
            hidden_size,
            intermediate_size: self.positive("intermediate_size")?,
            num_layers: self.positive("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: self.positive_float("rms_norm_eps")?,
            rope_theta: self.optional_positive_float("rope_theta")?.unwrap_or(10_000.0),
            rope_scaling: self.rope_scaling()?,
            max_positions,
            tie_word_embeddings: self.optional_bool("tie_word_embeddings")?.unwrap_or(false),
            qkv_bias,
            o_bias,
            sliding_window: self.sliding_window(architecture)?,
            dtype: self.dtype()?,
            eos_token_ids: self.eos_token_ids()?,
        })
    }

    fn get(&self, field: &'static str) -> Option<&Value> {
        self.fields.get(field).filter(|v| !v.is_null())
    }

    fn bad(&self, field: &'static str, expected: &'static str, got: &Value) -> ConfigError {
        ConfigError::BadField { path: self.path.to_owned(), field, expected, got: got.to_string() }
    }

    fn missing(&self, field: &'static str) -> ConfigError {
        ConfigError::MissingField { path: self.path.to_owned(), field }
    }

    fn inconsistent(&self, why: String) -> ConfigError {
        ConfigError::Inconsistent { path: self.path.to_owned(), why }
    }

    fn unsupported(&self, field: &'static str, got: String, supported: &'static str) -> ConfigError {
        ConfigError::Unsupported { path: self.path.to_owned(), field, got, supported }
    }

    fn optional_positive(&self, field: &'static str) -> Result<Option<usize>, ConfigError> {
        let Some(value) = self.get(field) else { return Ok(None) };
        match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(self.bad(field, "a positive integer", value)),
        }
    }

    fn positive(&self, field: &'static str) -> Result<usize, ConfigError> {
        self.optional_positive(field)?.ok_or_else(|| self.missing(field))
    }

    fn optional_positive_float(&self, field: &'static str) -> Result<Option<f64>, ConfigError> {
        let Some(value) = self.get(field) else { return Ok(None) };
        match value.as_f64() {
            Some(x) if x > 0.0 && x.is_finite() => Ok(Some(x)),
            _ => Err(self.bad(field, "a positive number", value)),
        }
    }

    fn positive_float(&self, field: &'static str) -> Result<f64, ConfigError> {
        self.optional_positive_float(field)?.ok_or_else(|| self.missing(field))
    }

    fn optional_bool(&self, field: &'static str) -> Result<Option<bool>, ConfigError> {
        let Some(value) = self.get(field) else { return Ok(None) };
        value.as_bool().map(Some).ok_or_else(|| self.bad(field, "true or false", value))
    }

    fn optional_str(&self, field: &'static str) -> Result<Option<&str>, ConfigError> {
        let Some(value) = self.get(field) else { return Ok(None) };
        value.as_str().map(Some).ok_or_else(|| self.bad(field, "a string", value))
    }

    /// `architectures[0]` decides; `model_type` is the fallback for configs written without the list.
    fn architecture(&self) -> Result<Architecture, ConfigError> {
        let unsupported = |found: String| ConfigError::UnsupportedArchitecture { path: self.path.to_owned(), found };
        if let Some(value) = self.get("architectures") {
            let names = value.as_array().filter(|a| !a.is_empty());
            let Some(first) = names.and_then(|a| a[0].as_str()) else {
                return Err(self.bad("architectures", "a non-empty list of strings", value));
            };
            return Architecture::from_hf_name(first).ok_or_else(|| unsupported(format!("{first:?}")));
        }
        match self.optional_str("model_type")? {
            Some(name) => Architecture::from_model_type(name)
                .ok_or_else(|| unsupported(format!("{name:?} (from model_type; no `architectures` list)"))),
            None => Err(self.missing("architectures")),
        }
    }

    fn check_activation(&self) -> Result<(), ConfigError> {
        match self.optional_str("hidden_act")? {
            None | Some("silu") => Ok(()),
            Some(other) => Err(self.unsupported("hidden_act", format!("{other:?}"), "\"silu\" (SwiGLU)")),
        }
    }

    /// transformers writes `torch_dtype` (older) or `dtype` (newer).
    fn dtype(&self) -> Result<Option<WeightDType>, ConfigError> {
        let field = if self.get("torch_dtype").is_some() { "torch_dtype" } else { "dtype" };
        let Some(name) = self.optional_str(field)? else { return Ok(None) };
        WeightDType::from_torch_name(name)
            .map(Some)
            .ok_or_else(|| self.unsupported(field, format!("{name:?}"), "bfloat16, float16, float32"))
    }

    fn eos_token_ids(&self) -> Result<Vec<u32>, ConfigError> {
        let Some(value) = self.get("eos_token_id") else { return Ok(vec![]) };
        let id = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        let ids = match value {
            Value::Array(items) => items.iter().map(id).collect::<Option<Vec<_>>>(),
            single => id(single).map(|n| vec![n]),
        };
        ids.ok_or_else(|| self.bad("eos_token_id", "a token id or a list of token ids", value))
    }

    fn sliding_window(&self, architecture: Architecture) -> Result<Option<usize>, ConfigError> {
        match architecture {
            Architecture::Mistral => self.optional_positive("sliding_window"),
            // Qwen2's window applies only to some layers (`max_window_layers`), which we do not implement;
            // transformers leaves it off unless `use_sliding_window` is set.
            Architecture::Qwen2 => match self.optional_bool("use_sliding_window")? {
                Some(true) => Err(self.unsupported("use_sliding_window", "true".into(), "false")),
                _ => Ok(None),
            },
            Architecture::Llama => Ok(None),
        }
    }

    fn rope_scaling(&self) -> Result<RopeScaling, ConfigError> {
        let Some(value) = self.get("rope_scaling") else { return Ok(RopeScaling::None) };
        let Value::Object(scaling) = value else {
            return Err(self.bad("rope_scaling", "an object or null", value));
        };
        // transformers accepts the older key `type` as well as `rope_type`.
        let kind = scaling.get("rope_type").or_else(|| scaling.get("type")).and_then(Value::as_str);
        let number = |key: &'static str| -> Result<f64, ConfigError> {
            match scaling.get(key) {
                Some(v) => v.as_f64().filter(|x| *x > 0.0 && x.is_finite()).ok_or_else(|| {
                    self.bad("rope_scaling", "an object whose scaling parameters are positive numbers", value)
                }),
                None => Err(ConfigError::MissingField { path: self.path.to_owned(), field: rope_field(key) }),
            }
        };
        match kind {
            Some("default") => Ok(RopeScaling::None),
            Some("linear") => Ok(RopeScaling::Linear { factor: number("factor")? }),
            Some("llama3") => {
                let (low_freq_factor, high_freq_factor) = (number("low_freq_factor")?, number("high_freq_factor")?);
                if high_freq_factor <= low_freq_factor {
                    return Err(self.inconsistent(format!(
                        "rope_scaling.high_freq_factor ({high_freq_factor}) must exceed low_freq_factor \
                         ({low_freq_factor})"
                    )));
                }
                Ok(RopeScaling::Llama3 {
                    factor: number("factor")?,
                    low_freq_factor,
                    high_freq_factor,
                    original_max_positions: number("original_max_position_embeddings")?,
                })
            }
            Some(other) => Err(self.unsupported(
                "rope_scaling",
                format!("rope_type {other:?}"),
                "\"default\", \"linear\", \"llama3\"",
            )),
            None => Err(ConfigError::MissingField { path: self.path.to_owned(), field: "rope_scaling.rope_type" }),
        }
    }
}

/// The dotted name of a `rope_scaling` parameter, for messages.
fn rope_field(key: &'static str) -> &'static str {
    match key {
        "factor" => "rope_scaling.factor",
        "low_freq_factor" => "rope_scaling.low_freq_factor",
        "high_freq_factor" => "rope_scaling.high_freq_factor",
        _ => "rope_scaling.original_max_position_embeddings",
    }
}

#[cfg(test)]
mod tests;
