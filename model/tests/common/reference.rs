//! A straightforward f64 forward pass, written from the Hugging Face modeling code rather than from the
//! executor: it reads `config.json` and the safetensors files itself, computes the whole sequence at once
//! with explicit causal softmax attention, and shares no code with the crate under test.

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::collections::HashMap;
use std::f64::consts::PI;
use std::path::Path;

type Matrix = Vec<Vec<f64>>;

pub struct Reference {
    config: Value,
    tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Reference {
    pub fn load(dir: &Path) -> Reference {
        let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        let mut tensors = HashMap::new();
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let st = SafeTensors::deserialize(&bytes).unwrap();
            for (name, view) in st.tensors() {
                let data = view.data();
                let values: Vec<f64> = match view.dtype() {
                    Dtype::BF16 => data.chunks(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
                    Dtype::F16 => data.chunks(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
                    Dtype::F32 => data.chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect(),
                    other => panic!("unexpected dtype {other:?}"),
                };
                tensors.insert(name, (view.shape().to_vec(), values));
            }
        }
        Reference { config, tensors }
    }

    fn int(&self, key: &str) -> usize {
        self.config[key].as_u64().unwrap() as usize
    }

    fn vector(&self, name: &str) -> &[f64] {
        &self.tensors.get(name).unwrap_or_else(|| panic!("no tensor {name}")).1
    }

    /// `x · Wᵀ (+ b)` for a `[out, in]` weight.
    fn linear(&self, x: &Matrix, name: &str, bias: bool) -> Matrix {
        let (shape, w) = &self.tensors[&format!("{name}.weight")];
        let (out, inp) = (shape[0], shape[1]);
        let b = bias.then(|| self.vector(&format!("{name}.bias")));
        x.iter()
            .map(|row| {
                (0..out)
                    .map(|o| (0..inp).map(|i| row[i] * w[o * inp + i]).sum::<f64>() + b.map_or(0.0, |b| b[o]))
                    .collect()
            })
            .collect()
    }

    fn rms_norm(&self, x: &Matrix, name: &str) -> Matrix {
        let w = self.vector(name);
        let eps = self.config["rms_norm_eps"].as_f64().unwrap();
        x.iter()
            .map(|row| {
                let variance = row.iter().map(|v| v * v).sum::<f64>() / row.len() as f64;
                row.iter().zip(w).map(|(v, w)| w * v / (variance + eps).sqrt()).collect()
            })
            .collect()
    }

    /// transformers' `_compute_default_rope_parameters` and `_compute_llama3_parameters`.
    fn inv_freq(&self, dim: usize) -> Vec<f64> {
        let base = self.config["rope_theta"].as_f64().unwrap();
        let inv: Vec<f64> = (0..dim).step_by(2).map(|i| 1.0 / base.powf(i as f64 / dim as f64)).collect();
        let scaling = &self.config["rope_scaling"];
        let kind = scaling.get("rope_type").and_then(Value::as_str);
        if kind != Some("llama3") {
            return inv;
        }
        let factor = scaling["factor"].as_f64().unwrap();
        let low = scaling["low_freq_factor"].as_f64().unwrap();
        let high = scaling["high_freq_factor"].as_f64().unwrap();
        let old = scaling["original_max_position_embeddings"].as_f64().unwrap();
        let (low_wavelen, high_wavelen) = (old / low, old / high);
        inv.iter()
            .map(|&f| {
                let wavelen = 2.0 * PI / f;
                let llama = if wavelen > low_wavelen { f / factor } else { f };
                let smooth = (old / wavelen - low) / (high - low);
                let smoothed = (1.0 - smooth) * llama / factor + smooth * llama;
                let medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
                if medium {
                    smoothed
                } else {
                    llama
                }
            })
            .collect()
    }

    /// `q * cos + rotate_half(q) * sin` on every head of every row.
    fn apply_rope(&self, x: &mut Matrix, head_dim: usize) {
        let inv = self.inv_freq(head_dim);
        for (pos, row) in x.iter_mut().enumerate() {
            for head in row.chunks_mut(head_dim) {
                let original = head.to_vec();
                for i in 0..head_dim {
                    let angle = pos as f64 * inv[i % (head_dim / 2)];
                    let rotated =
                        if i < head_dim / 2 { -original[i + head_dim / 2] } else { original[i - head_dim / 2] };
                    head[i] = original[i] * angle.cos() + rotated * angle.sin();
                }
            }
        }
    }

    /// Last-token logits of `tokens`.
    pub fn logits(&self, tokens: &[u32]) -> Vec<f64> {
        let arch = self.config["architectures"][0].as_str().unwrap();
        let qkv_bias = arch == "Qwen2ForCausalLM" || self.config["attention_bias"].as_bool() == Some(true);
        let o_bias = arch == "LlamaForCausalLM" && qkv_bias;
        let window = if arch == "MistralForCausalLM" { self.config["sliding_window"].as_u64() } else { None };
        let heads = self.int("num_attention_heads");
        let kv_heads = self.int("num_key_value_heads");
        let head_dim = self.int("head_dim");
        let hidden = self.int("hidden_size");
        let (_, embed) = &self.tensors["model.embed_tokens.weight"];
        let mut x: Matrix =
            tokens.iter().map(|&t| embed[t as usize * hidden..(t as usize + 1) * hidden].to_vec()).collect();
        let n = tokens.len();
        for l in 0..self.int("num_hidden_layers") {
            let p = format!("model.layers.{l}");
            let h = self.rms_norm(&x, &format!("{p}.input_layernorm.weight"));
            let mut q = self.linear(&h, &format!("{p}.self_attn.q_proj"), qkv_bias);
            let mut k = self.linear(&h, &format!("{p}.self_attn.k_proj"), qkv_bias);
            let v = self.linear(&h, &format!("{p}.self_attn.v_proj"), qkv_bias);
            self.apply_rope(&mut q, head_dim);
            self.apply_rope(&mut k, head_dim);
            let mut attn = vec![vec![0.0; heads * head_dim]; n];
            for i in 0..n {
                for hq in 0..heads {
                    let hk = hq / (heads / kv_heads);
                    let qv = &q[i][hq * head_dim..(hq + 1) * head_dim];
                    let visible: Vec<usize> =
                        (0..=i).filter(|&j| window.is_none_or(|w| (i - j) < w as usize)).collect();
                    let scores: Vec<f64> = visible
                        .iter()
                        .map(|&j| {
                            let kv = &k[j][hk * head_dim..(hk + 1) * head_dim];
                            qv.iter().zip(kv).map(|(a, b)| a * b).sum::<f64>() / (head_dim as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let denom: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                    for (s, &j) in scores.iter().zip(&visible) {
                        let weight = (s - max).exp() / denom;
                        for d in 0..head_dim {
                            attn[i][hq * head_dim + d] += weight * v[j][hk * head_dim + d];
                        }
                    }
                }
            }
            let o = self.linear(&attn, &format!("{p}.self_attn.o_proj"), o_bias);
            for (row, add) in x.iter_mut().zip(&o) {
                row.iter_mut().zip(add).for_each(|(a, b)| *a += b);
            }
            let h = self.rms_norm(&x, &format!("{p}.post_attention_layernorm.weight"));
            let gate = self.linear(&h, &format!("{p}.mlp.gate_proj"), false);
            let up = self.linear(&h, &format!("{p}.mlp.up_proj"), false);
            let act: Matrix = gate
                .iter()
                .zip(&up)
                .map(|(g, u)| g.iter().zip(u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect())
                .collect();
            let down = self.linear(&act, &format!("{p}.mlp.down_proj"), false);
            for (row, add) in x.iter_mut().zip(&down) {
                row.iter_mut().zip(add).for_each(|(a, b)| *a += b);
            }
        }
        let last = self.rms_norm(&vec![x[n - 1].clone()], "model.norm.weight");
        let head =
            if self.config["tie_word_embeddings"].as_bool() == Some(true) { "model.embed_tokens" } else { "lm_head" };
        self.linear(&last, head, false).remove(0)
    }
}
