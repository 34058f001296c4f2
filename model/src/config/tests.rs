use super::*;
use crate::synthetic::SyntheticSpec;
use serde_json::json;

const PATH: &str = "ckpt/config.json";

fn parse(value: &Value) -> Result<ModelConfig, ConfigError> {
    ModelConfig::parse(&value.to_string(), Path::new(PATH))
}

/// The tiny LLaMA's config with `field` set to `value` (removed when `value` is `None`).
fn llama_with(field: &str, value: Option<Value>) -> Value {
    let mut config = SyntheticSpec::tiny_llama().config_json();
    if let Some(fields) = config.as_object_mut() {
        match value {
            Some(v) => fields.insert(field.to_owned(), v),
            None => fields.remove(field),
        };
    }
    config
}

fn error(field: &str, value: Option<Value>) -> String {
    parse(&llama_with(field, value)).unwrap_err().to_string()
}

#[test]
fn tiny_llama_config_parses_its_fields() {
    let c = parse(&SyntheticSpec::tiny_llama().config_json()).unwrap();
    assert_eq!(
        (c.architecture, c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim, c.vocab_size),
        (Architecture::Llama, 2, 4, 2, 16, SyntheticSpec::tiny_llama().vocab_size)
    );
}

#[test]
fn llama3_rope_scaling_is_read() {
    let c = parse(&SyntheticSpec::tiny_llama().config_json()).unwrap();
    assert_eq!(
        c.rope_scaling,
        RopeScaling::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_positions: 64.0 }
    );
}

#[test]
fn qwen2_has_qkv_bias_but_no_output_bias() {
    let c = parse(&SyntheticSpec::tiny_qwen2().config_json()).unwrap();
    assert_eq!((c.architecture, c.qkv_bias, c.o_bias, c.tie_word_embeddings), (Architecture::Qwen2, true, false, true));
}

#[test]
fn llama_attention_bias_covers_all_four_projections() {
    let c = parse(&llama_with("attention_bias", Some(json!(true)))).unwrap();
    assert_eq!((c.qkv_bias, c.o_bias), (true, true));
}

#[test]
fn mistral_reads_its_sliding_window() {
    let c = parse(&SyntheticSpec::tiny_mistral().config_json()).unwrap();
    assert_eq!((c.architecture, c.sliding_window), (Architecture::Mistral, Some(8)));
}

#[test]
fn head_dim_defaults_to_hidden_over_heads() {
    assert_eq!(parse(&llama_with("head_dim", None)).unwrap().head_dim, 64 / 4);
}

#[test]
fn kv_heads_default_to_heads() {
    assert_eq!(parse(&llama_with("num_key_value_heads", None)).unwrap().num_kv_heads, 4);
}

#[test]
fn eos_list_is_read() {
    assert_eq!(parse(&llama_with("eos_token_id", Some(json!([5, 9])))).unwrap().eos_token_ids, vec![5, 9]);
}

#[test]
fn model_type_stands_in_for_a_missing_architectures_list() {
    assert_eq!(parse(&llama_with("architectures", None)).unwrap().architecture, Architecture::Llama);
}

#[test]
fn newer_dtype_key_is_read() {
    let mut config = llama_with("torch_dtype", None);
    config["dtype"] = json!("float16");
    assert_eq!(parse(&config).unwrap().dtype, Some(WeightDType::F16));
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let error = ModelConfig::load(dir.path()).unwrap_err().to_string();
    assert!(error.starts_with(&format!("cannot read `{}`", dir.path().join("config.json").display())), "{error}");
}

#[test]
fn malformed_json_names_file_and_position() {
    let error = ModelConfig::parse("{\"hidden_size\": 64,\n \"vocab_size\": }", Path::new(PATH)).unwrap_err();
    assert_eq!(error.to_string(), "`ckpt/config.json`: malformed JSON: expected value at line 2 column 16");
}

#[test]
fn non_object_document_is_rejected() {
    let error = ModelConfig::parse("[1, 2]", Path::new(PATH)).unwrap_err();
    assert_eq!(error.to_string(), "`ckpt/config.json`: expected a JSON object at the top level");
}

#[test]
fn missing_field_names_file_and_field() {
    assert_eq!(error("hidden_size", None), "`ckpt/config.json`: missing field `hidden_size`");
}

#[test]
fn null_required_field_counts_as_missing() {
    assert_eq!(error("vocab_size", Some(Value::Null)), "`ckpt/config.json`: missing field `vocab_size`");
}

#[test]
fn wrongly_typed_field_says_what_was_expected() {
    assert_eq!(
        error("num_hidden_layers", Some(json!("2"))),
        "`ckpt/config.json`: field `num_hidden_layers` must be a positive integer; got \"2\""
    );
}

#[test]
fn zero_heads_are_rejected() {
    assert_eq!(
        error("num_attention_heads", Some(json!(0))),
        "`ckpt/config.json`: field `num_attention_heads` must be a positive integer; got 0"
    );
}

#[test]
fn negative_norm_epsilon_is_rejected() {
    assert_eq!(
        error("rms_norm_eps", Some(json!(-1e-5))),
        "`ckpt/config.json`: field `rms_norm_eps` must be a positive number; got -0.00001"
    );
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    assert_eq!(
        error("architectures", Some(json!(["GPT2LMHeadModel"]))),
        "`ckpt/config.json`: unsupported architecture \"GPT2LMHeadModel\"; supported: LlamaForCausalLM, \
         Qwen2ForCausalLM, MistralForCausalLM"
    );
}

#[test]
fn empty_architectures_list_is_malformed() {
    assert_eq!(
        error("architectures", Some(json!([]))),
        "`ckpt/config.json`: field `architectures` must be a non-empty list of strings; got []"
    );
}

#[test]
fn unsupported_model_type_says_where_it_came_from() {
    let mut config = llama_with("architectures", None);
    config["model_type"] = json!("gemma");
    assert!(parse(&config).unwrap_err().to_string().contains("unsupported architecture \"gemma\" (from model_type"));
}

#[test]
fn heads_must_group_evenly() {
    assert_eq!(
        error("num_key_value_heads", Some(json!(3))),
        "`ckpt/config.json`: num_attention_heads (4) must be a multiple of num_key_value_heads (3)"
    );
}

#[test]
fn odd_head_dim_is_rejected() {
    assert_eq!(
        error("head_dim", Some(json!(15))),
        "`ckpt/config.json`: head_dim must be even for rotary embeddings; got 15"
    );
}

#[test]
fn other_activations_are_unsupported() {
    assert_eq!(
        error("hidden_act", Some(json!("gelu"))),
        "`ckpt/config.json`: field `hidden_act` is \"gelu\"; supported: \"silu\" (SwiGLU)"
    );
}

#[test]
fn mlp_bias_is_unsupported() {
    assert_eq!(error("mlp_bias", Some(json!(true))), "`ckpt/config.json`: field `mlp_bias` is true; supported: false");
}

#[test]
fn integer_dtypes_are_unsupported() {
    assert_eq!(
        error("torch_dtype", Some(json!("int8"))),
        "`ckpt/config.json`: field `torch_dtype` is \"int8\"; supported: bfloat16, float16, float32"
    );
}

#[test]
fn other_rope_types_list_the_supported_ones() {
    assert_eq!(
        error("rope_scaling", Some(json!({"rope_type": "yarn", "factor": 4.0}))),
        "`ckpt/config.json`: field `rope_scaling` is rope_type \"yarn\"; supported: \"default\", \"linear\", \"llama3\""
    );
}

#[test]
fn older_rope_type_key_is_read() {
    let c = parse(&llama_with("rope_scaling", Some(json!({"type": "linear", "factor": 2.0})))).unwrap();
    assert_eq!(c.rope_scaling, RopeScaling::Linear { factor: 2.0 });
}

#[test]
fn llama3_scaling_without_its_original_length_names_the_field() {
    let scaling = json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0});
    assert_eq!(
        error("rope_scaling", Some(scaling)),
        "`ckpt/config.json`: missing field `rope_scaling.original_max_position_embeddings`"
    );
}

#[test]
fn llama3_bands_must_be_ordered() {
    let scaling = json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192});
    assert_eq!(
        error("rope_scaling", Some(scaling)),
        "`ckpt/config.json`: rope_scaling.high_freq_factor (1) must exceed low_freq_factor (4)"
    );
}

#[test]
fn qwen2_sliding_window_is_unsupported() {
    let mut config = SyntheticSpec::tiny_qwen2().config_json();
    config["use_sliding_window"] = json!(true);
    assert_eq!(
        parse(&config).unwrap_err().to_string(),
        "`ckpt/config.json`: field `use_sliding_window` is true; supported: false"
    );
}
