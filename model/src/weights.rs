//! The named weights of a model, in Hugging Face's naming, with the shape each must have.
//!
//! [`Weights::build`] is the one list of tensors: loading calls it with a closure that reads and uploads,
//! and the synthetic checkpoint writer with one that records names and shapes.

use crate::config::ModelConfig;

pub struct LayerWeights<T> {
    pub input_norm: T,
    pub q: T,
    pub k: T,
    pub v: T,
    pub o: T,
    pub q_bias: Option<T>,
    pub k_bias: Option<T>,
    pub v_bias: Option<T>,
    pub o_bias: Option<T>,
    pub post_attention_norm: T,
    pub gate: T,
    pub up: T,
    pub down: T,
}

pub struct Weights<T> {
    pub embed: T,
    pub layers: Vec<LayerWeights<T>>,
    pub norm: T,
    /// `None` when the output projection is tied to the embedding table.
    pub lm_head: Option<T>,
}

impl<T> Weights<T> {
    /// Asks `get(name, shape)` for every tensor the executor reads, embedding first.
    pub fn build<E>(
        config: &ModelConfig,
        mut get: impl FnMut(&str, &[usize]) -> Result<T, E>,
    ) -> Result<Weights<T>, E> {
        let (hidden, q, kv) = (config.hidden_size, config.q_width(), config.kv_width());
        let embed = get("model.embed_tokens.weight", &[config.vocab_size, hidden])?;
        let mut layers = Vec::with_capacity(config.num_layers);
        for i in 0..config.num_layers {
            let attn = |part: &str| format!("model.layers.{i}.self_attn.{part}");
            let mlp = |part: &str| format!("model.layers.{i}.mlp.{part}.weight");
            let mut bias = |on: bool, part: &str, len: usize| -> Result<Option<T>, E> {
                if on {
                    get(&attn(&format!("{part}.bias")), &[len]).map(Some)
                } else {
                    Ok(None)
                }
            };
            let q_bias = bias(config.qkv_bias, "q_proj", q)?;
            let k_bias = bias(config.qkv_bias, "k_proj", kv)?;
            let v_bias = bias(config.qkv_bias, "v_proj", kv)?;
            let o_bias = bias(config.o_bias, "o_proj", hidden)?;
            layers.push(LayerWeights {
                input_norm: get(&format!("model.layers.{i}.input_layernorm.weight"), &[hidden])?,
                q: get(&attn("q_proj.weight"), &[q, hidden])?,
                k: get(&attn("k_proj.weight"), &[kv, hidden])?,
                v: get(&attn("v_proj.weight"), &[kv, hidden])?,
                o: get(&attn("o_proj.weight"), &[hidden, q])?,
                q_bias,
                k_bias,
                v_bias,
                o_bias,
                post_attention_norm: get(&format!("model.layers.{i}.post_attention_layernorm.weight"), &[hidden])?,
                gate: get(&mlp("gate_proj"), &[config.intermediate_size, hidden])?,
                up: get(&mlp("up_proj"), &[config.intermediate_size, hidden])?,
                down: get(&mlp("down_proj"), &[hidden, config.intermediate_size])?,
            });
        }
        let norm = get("model.norm.weight", &[hidden])?;
        let lm_head = match config.tie_word_embeddings {
            true => None,
            false => Some(get("lm_head.weight", &[config.vocab_size, hidden])?),
        };
        Ok(Weights { embed, layers, norm, lm_head })
    }

    /// The output projection: `lm_head`, or the embedding table when tied.
    pub fn output(&self) -> &T {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }
}
