//! Which attention each layer's heads run during pre-fill: a per-head pattern config
//! (`sparsefill_patterns::config`) used from a configurable prompt length on, dense attention below it
//! and always during decode.

use crate::config::ModelConfig;
use sparsefill_patterns::config::{HeadConfig, ModelConfig as PatternConfig};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PatternsError {
    #[error("the pattern config has {config} layers but the model has {model} (num_hidden_layers)")]
    Layers { config: usize, model: usize },
    #[error("the pattern config has {config} heads per layer but the model has {model} (num_attention_heads)")]
    Heads { config: usize, model: usize },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Patterns {
    config: Option<PatternConfig>,
    dense_below: usize,
}

impl Patterns {
    /// Dense attention in every head.
    pub fn dense() -> Patterns {
        Patterns { config: None, dense_below: 0 }
    }

    /// `config`'s patterns for prompts of at least `dense_below` tokens; shorter prompts run dense, where
    /// sparse attention saves too little to pay for estimating its index.
    pub fn sparse(config: PatternConfig, dense_below: usize) -> Patterns {
        Patterns { config: Some(config), dense_below }
    }

    pub fn config(&self) -> Option<&PatternConfig> {
        self.config.as_ref()
    }

    pub fn dense_below(&self) -> usize {
        self.dense_below
    }

    /// The config must have one entry per layer and per query head of the model.
    pub fn check(&self, model: &ModelConfig) -> Result<(), PatternsError> {
        let Some(config) = &self.config else { return Ok(()) };
        if config.num_layers() != model.num_layers {
            return Err(PatternsError::Layers { config: config.num_layers(), model: model.num_layers });
        }
        if config.num_heads() != model.num_heads {
            return Err(PatternsError::Heads { config: config.num_heads(), model: model.num_heads });
        }
        Ok(())
    }

    /// The heads of `layer` for a pre-fill of `tokens` tokens, or `None` for dense attention.
    pub fn for_layer(&self, layer: usize, tokens: usize) -> Option<&[HeadConfig]> {
        let config = self.config.as_ref().filter(|_| tokens >= self.dense_below)?;
        config.layers().get(layer).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::SyntheticSpec;
    use sparsefill_patterns::config::PatternKind;

    fn config(layers: usize, heads: usize) -> PatternConfig {
        let head = HeadConfig { pattern: PatternKind::AShape { n_init: 4, n_local: 16 }, score: None };
        PatternConfig::new(vec![vec![head; heads]; layers]).unwrap()
    }

    fn model() -> ModelConfig {
        SyntheticSpec::tiny_llama().model_config().unwrap()
    }

    #[test]
    fn matching_config_passes() {
        let m = model();
        assert_eq!(Patterns::sparse(config(m.num_layers, m.num_heads), 16).check(&m), Ok(()));
    }

    #[test]
    fn layer_count_mismatch_names_both_counts() {
        let m = model();
        let error = Patterns::sparse(config(m.num_layers + 1, m.num_heads), 16).check(&m).unwrap_err();
        assert_eq!(error, PatternsError::Layers { config: m.num_layers + 1, model: m.num_layers });
    }

    #[test]
    fn kv_head_count_is_not_enough() {
        // A config per key/value head would silently mis-assign patterns under GQA.
        let m = model();
        let error = Patterns::sparse(config(m.num_layers, m.num_kv_heads), 16).check(&m).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the pattern config has {} heads per layer but the model has {} (num_attention_heads)",
                m.num_kv_heads, m.num_heads
            )
        );
    }

    #[test]
    fn short_prompts_run_dense() {
        assert_eq!(Patterns::sparse(config(2, 4), 100).for_layer(0, 99), None);
    }

    #[test]
    fn long_prompts_get_the_layer_heads() {
        assert_eq!(Patterns::sparse(config(2, 4), 100).for_layer(1, 100).map(<[_]>::len), Some(4));
    }
}
