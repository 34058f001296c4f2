//! Per-head sparse-pattern configuration: which attention pattern each (layer, head) of a model runs.
//!
//! Our own format is versioned JSON (`{"format": "sparsefill-patterns/1", "layers": [[head, ...], ...]}`);
//! MInference's published per-model files can be imported too, and [`ModelConfig::load`]
//! tells the two apart by their top-level shape.

mod minference;

use crate::sparse::dispatch::{check_params, DispatchError};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use minference::MINFERENCE_PATTERNS;

/// The `format` tag our files carry; a future incompatible layout bumps the number.
pub const FORMAT: &str = "sparsefill-patterns/1";

/// The largest count a pattern field can hold where it is parsed from text (`--pattern`,
/// MInference's JSON): the kernels take every count as an i32. Each pattern's own check
/// ([`check_params`]) then names its field's range.
pub const MAX_COUNT: u32 = i32::MAX as u32;

/// The `pattern` names our format accepts, in [`PatternKind`] order.
pub const PATTERNS: [&str; 6] = ["dense", "a_shape", "tri_shape", "vertical_slash", "block_sparse", "strided"];

/// The attention pattern one head runs; counts are in tokens, except `top_k`, which counts blocks per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "pattern", rename_all = "snake_case", deny_unknown_fields)]
pub enum PatternKind {
    Dense,
    /// Sink tokens plus a sliding local window (MInference's "stream_llm").
    AShape {
        n_init: u32,
        n_local: u32,
    },
    /// A-shape plus dense attention for the last `n_last` query rows.
    TriShape {
        n_init: u32,
        n_local: u32,
        n_last: u32,
    },
    VerticalSlash {
        vertical: u32,
        slash: u32,
    },
    BlockSparse {
        top_k: u32,
    },
    /// Every `stride`-th 64-key block plus a window of `n_local` keys (ours, not MInference's:
    /// the worked example of docs/patterns.md).
    Strided {
        stride: u32,
        n_local: u32,
    },
}

/// One head's pattern and, when it came from a search such as MInference's, how well it matched dense attention.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadConfig {
    pub pattern: PatternKind,
    pub score: Option<f64>,
}

/// Patterns for every head of a model, layer-major. Construction checks that there is at least one layer,
/// every layer has the same non-zero head count and every score is finite, so consumers can index freely.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    layers: Vec<Vec<HeadConfig>>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("malformed JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("expected a {FORMAT} object with a \"format\" field or a MInference per-layer array; got {found}")]
    UnknownDocument { found: &'static str },
    #[error("unsupported format {found}; supported: \"{FORMAT}\"")]
    UnsupportedFormat { found: String },
    #[error("document does not match the {FORMAT} layout: {0}")]
    Layout(#[source] serde_json::Error),
    #[error("expected a MInference config (a JSON array with one object per layer); got {found}")]
    NotLayerList { found: &'static str },
    #[error("the config has no layers; at least one is required")]
    NoLayers,
    #[error("layer {layer} has no heads; at least one is required")]
    NoHeads { layer: usize },
    #[error("layer {layer} has a head count of {found} but layer 0 has {expected}; all layers must have the same head count")]
    HeadCountMismatch { layer: usize, found: usize, expected: usize },
    #[error("layer {layer}: expected an object mapping head index to entry; got {found}")]
    LayerNotObject { layer: usize, found: &'static str },
    #[error("layer {layer}: head key {key:?} is not a head index (expected \"0\", \"1\", ...)")]
    BadHeadKey { layer: usize, key: String },
    #[error("layer {layer} has heads {}: head {missing} is missing", join(present))]
    MissingHead { layer: usize, present: Vec<usize>, missing: usize },
    #[error("layer {layer}, head {head}: unknown pattern {name}; known: {}", known.join(", "))]
    UnknownPattern { layer: usize, head: usize, name: String, known: &'static [&'static str] },
    #[error("layer {layer}, head {head}: expected [pattern, vertical_or_init, slash_or_local, score]; got {found}")]
    EntryShape { layer: usize, head: usize, found: String },
    #[error("layer {layer}, head {head}: {field} must be a whole number in 0..={max}; got {value}", max = MAX_COUNT)]
    BadCount { layer: usize, head: usize, field: &'static str, value: String },
    #[error("layer {layer}, head {head}: score must be a finite number; got {value}")]
    BadScore { layer: usize, head: usize, value: String },
    #[error("layer {layer}, head {head}: {source}")]
    Head { layer: usize, head: usize, source: serde_json::Error },
    #[error("layer {layer}, head {head}: {source}")]
    Params { layer: usize, head: usize, source: DispatchError },
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("`{}`: {source}", path.display())]
    InFile { path: PathBuf, source: Box<ConfigError> },
}

fn join(indices: &[usize]) -> String {
    indices.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}

/// The JSON type of `value`, for messages that say what was found instead of what was expected.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl PatternKind {
    /// One pattern object (`{"pattern": NAME, FIELD: COUNT, ...}`), with no key but `pattern` and the
    /// pattern's own fields: `deny_unknown_fields` does not reach `dense`, the unit variant of an internally
    /// tagged enum, so the derived `Deserialize` alone would take `{"pattern": "dense", "foo": 1}`.
    pub fn from_value(value: Value) -> Result<PatternKind, serde_json::Error> {
        let kind = PatternKind::deserialize(&value)?;
        let fields = kind.fields();
        let unknown = value
            .as_object()
            .and_then(|keys| keys.keys().find(|&key| key != "pattern" && !fields.iter().any(|(name, _)| key == name)));
        let Some(key) = unknown else {
            return Ok(kind);
        };
        let takes = match &fields[..] {
            [] => "no fields".to_string(),
            _ => fields.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(", "),
        };
        Err(de::Error::custom(format_args!("unknown field `{key}`; `{}` takes {takes}", kind.name())))
    }

    /// The name our format stores in the `pattern` field.
    pub fn name(&self) -> &'static str {
        match self {
            PatternKind::Dense => PATTERNS[0],
            PatternKind::AShape { .. } => PATTERNS[1],
            PatternKind::TriShape { .. } => PATTERNS[2],
            PatternKind::VerticalSlash { .. } => PATTERNS[3],
            PatternKind::BlockSparse { .. } => PATTERNS[4],
            PatternKind::Strided { .. } => PATTERNS[5],
        }
    }

    /// Built by hand rather than through `Serialize` so that writing cannot fail; the round-trip tests keep it in
    /// step with the derived `Deserialize`.
    fn fields(&self) -> Vec<(&'static str, u32)> {
        match *self {
            PatternKind::Dense => vec![],
            PatternKind::AShape { n_init, n_local } => vec![("n_init", n_init), ("n_local", n_local)],
            PatternKind::TriShape { n_init, n_local, n_last } => {
                vec![("n_init", n_init), ("n_local", n_local), ("n_last", n_last)]
            }
            PatternKind::VerticalSlash { vertical, slash } => vec![("vertical", vertical), ("slash", slash)],
            PatternKind::BlockSparse { top_k } => vec![("top_k", top_k)],
            PatternKind::Strided { stride, n_local } => vec![("stride", stride), ("n_local", n_local)],
        }
    }
}

impl HeadConfig {
    fn to_value(self) -> Value {
        let mut object = Map::new();
        object.insert("pattern".into(), self.pattern.name().into());
        for (name, count) in self.pattern.fields() {
            object.insert(name.into(), count.into());
        }
        if let Some(score) = self.score {
            object.insert("score".into(), score.into());
        }
        Value::Object(object)
    }

    fn from_value(layer: usize, head: usize, mut value: Value) -> Result<HeadConfig, ConfigError> {
        let at = |source| ConfigError::Head { layer, head, source };
        let score = match value.as_object_mut().and_then(|fields| fields.remove("score")) {
            Some(score) => Some(f64::deserialize(score).map_err(at)?),
            None => None,
        };
        if let Some(name) = value.get("pattern").and_then(Value::as_str) {
            if !PATTERNS.contains(&name) {
                return Err(ConfigError::UnknownPattern { layer, head, name: format!("{name:?}"), known: &PATTERNS });
            }
        }
        let pattern = PatternKind::from_value(value).map_err(at)?;
        Ok(HeadConfig { pattern, score })
    }
}

impl ModelConfig {
    pub fn new(layers: Vec<Vec<HeadConfig>>) -> Result<ModelConfig, ConfigError> {
        let expected = layers.first().ok_or(ConfigError::NoLayers)?.len();
        for (layer, heads) in layers.iter().enumerate() {
            if heads.is_empty() {
                return Err(ConfigError::NoHeads { layer });
            }
            if heads.len() != expected {
                return Err(ConfigError::HeadCountMismatch { layer, found: heads.len(), expected });
            }
            if let Some((head, score)) =
                heads.iter().enumerate().find_map(|(h, c)| c.score.filter(|s| !s.is_finite()).map(|s| (h, s)))
            {
                return Err(ConfigError::BadScore { layer, head, value: score.to_string() });
            }
            for (head, config) in heads.iter().enumerate() {
                check_params(&config.pattern).map_err(|source| ConfigError::Params { layer, head, source })?;
            }
        }
        Ok(ModelConfig { layers })
    }

    pub fn layers(&self) -> &[Vec<HeadConfig>] {
        &self.layers
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Every layer has this many heads (checked at construction).
    pub fn num_heads(&self) -> usize {
        self.layers[0].len()
    }

    pub fn head(&self, layer: usize, head: usize) -> Option<&HeadConfig> {
        self.layers.get(layer)?.get(head)
    }

    /// Parses our format only; use [`ModelConfig::parse`] to accept MInference's as well.
    pub fn from_json(text: &str) -> Result<ModelConfig, ConfigError> {
        Self::from_ours(parse_json(text)?)
    }

    pub fn from_minference_json(text: &str) -> Result<ModelConfig, ConfigError> {
        ModelConfig::new(minference::import(parse_json(text)?)?)
    }

    /// Parses either format: a top-level array is MInference's, an object with `format` is ours.
    pub fn parse(text: &str) -> Result<ModelConfig, ConfigError> {
        match parse_json(text)? {
            document @ Value::Array(_) => ModelConfig::new(minference::import(document)?),
            document @ Value::Object(_) if document.get("format").is_some() => Self::from_ours(document),
            other => Err(ConfigError::UnknownDocument { found: json_kind(&other) }),
        }
    }

    pub fn to_json(&self) -> String {
        let layers = self.layers.iter().map(|heads| heads.iter().map(|h| h.to_value()).collect()).collect();
        let mut document = Map::new();
        document.insert("format".into(), FORMAT.into());
        document.insert("layers".into(), Value::Array(layers));
        format!("{:#}\n", Value::Object(document))
    }

    /// Reads a file in either format (see [`ModelConfig::parse`]); errors name the path.
    pub fn load(path: impl AsRef<Path>) -> Result<ModelConfig, ConfigError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        ModelConfig::parse(&text).map_err(|source| ConfigError::InFile { path: path.to_owned(), source: source.into() })
    }

    /// Writes our format.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ConfigError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|source| ConfigError::Write { path: path.to_owned(), source })
    }

    fn from_ours(mut document: Value) -> Result<ModelConfig, ConfigError> {
        // The version is checked before anything else so that a newer layout reports its version, not a
        // confusing schema mismatch.
        match document.get("format") {
            Some(Value::String(format)) if format == FORMAT => {}
            Some(other) => return Err(ConfigError::UnsupportedFormat { found: other.to_string() }),
            None => return Err(ConfigError::UnsupportedFormat { found: "none (no \"format\" field)".into() }),
        }
        if let Some(fields) = document.as_object_mut() {
            fields.remove("format");
        }
        let raw = RawLayers::deserialize(document).map_err(ConfigError::Layout)?;
        let layers = raw
            .layers
            .into_iter()
            .enumerate()
            .map(|(layer, heads)| {
                heads.into_iter().enumerate().map(|(head, value)| HeadConfig::from_value(layer, head, value)).collect()
            })
            .collect::<Result<_, _>>()?;
        ModelConfig::new(layers)
    }
}

/// Our document once `format` is checked and removed; heads stay raw so their errors can name their position.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayers {
    layers: Vec<Vec<Value>>,
}

/// Both formats are read through here, so neither takes a repeated key.
fn parse_json(text: &str) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map(|UniqueKeys(value)| value).map_err(ConfigError::Json)
}

/// A JSON value none of whose objects repeats a key. `Value` itself keeps a repeated key's last value, so
/// `{"n_local": 1, "n_local": 128}` would run with 128 and a MInference layer listing head "0" twice would
/// load one of them, with no word about the other.
struct UniqueKeys(Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UniqueKeys, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor).map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(UniqueKeys(value)) = items.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            // Refused before its value is read, so serde_json's position points at the repeated key.
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{key}` (keys must be unique within an object)"
                )));
            }
            let UniqueKeys(value) = entries.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pattern: PatternKind, score: Option<f64>) -> HeadConfig {
        HeadConfig { pattern, score }
    }

    fn every_pattern() -> ModelConfig {
        let heads = vec![
            head(PatternKind::Dense, None),
            head(PatternKind::AShape { n_init: 64, n_local: 1024 }, Some(0.5)),
            head(PatternKind::TriShape { n_init: 64, n_local: 1024, n_last: 64 }, None),
            head(PatternKind::VerticalSlash { vertical: 1000, slash: 6096 }, Some(0.9816)),
            head(PatternKind::BlockSparse { top_k: crate::sparse::block_sparse::MAX_TOP_K }, Some(1.0)),
            head(PatternKind::Strided { stride: 4, n_local: 256 }, None),
        ];
        ModelConfig::new(vec![heads.clone(), heads.into_iter().rev().collect()]).unwrap()
    }

    fn err(text: &str) -> String {
        ModelConfig::from_json(text).unwrap_err().to_string()
    }

    fn one_head(head: &str) -> String {
        format!(r#"{{"format": "{FORMAT}", "layers": [[{{"pattern": "dense"}}, {head}]]}}"#)
    }

    #[test]
    fn every_pattern_round_trips_through_our_json() {
        let config = every_pattern();
        assert_eq!(ModelConfig::from_json(&config.to_json()).unwrap(), config);
    }

    #[test]
    fn written_json_names_format_and_fields() {
        let config = ModelConfig::new(vec![vec![head(PatternKind::VerticalSlash { vertical: 3, slash: 4 }, None)]]);
        let compact: Value = serde_json::from_str(&config.unwrap().to_json()).unwrap();
        assert_eq!(
            compact.to_string(),
            r#"{"format":"sparsefill-patterns/1","layers":[[{"pattern":"vertical_slash","slash":4,"vertical":3}]]}"#
        );
    }

    #[test]
    fn pattern_names_match_their_kinds() {
        let names: Vec<_> = every_pattern().layers()[0].iter().map(|h| h.pattern.name()).collect();
        assert_eq!(names, PATTERNS);
    }

    #[test]
    fn parse_detects_our_format() {
        assert_eq!(ModelConfig::parse(&every_pattern().to_json()).unwrap(), every_pattern());
    }

    #[test]
    fn accessors_index_layer_then_head() {
        let config = every_pattern();
        assert_eq!(
            (config.num_layers(), config.num_heads(), config.head(1, 0).map(|h| h.pattern)),
            (2, 6, Some(PatternKind::Strided { stride: 4, n_local: 256 }))
        );
    }

    #[test]
    fn unknown_pattern_lists_ours() {
        assert_eq!(
            err(&one_head(r#"{"pattern": "diagonal"}"#)),
            "layer 0, head 1: unknown pattern \"diagonal\"; known: dense, a_shape, tri_shape, vertical_slash, \
             block_sparse, strided"
        );
    }

    #[test]
    fn negative_count_names_head() {
        assert_eq!(
            err(&one_head(r#"{"pattern": "block_sparse", "top_k": -3}"#)),
            "layer 0, head 1: invalid value: integer `-3`, expected u32"
        );
    }

    #[test]
    fn missing_count_names_field() {
        assert_eq!(
            err(&one_head(r#"{"pattern": "a_shape", "n_init": 4}"#)),
            "layer 0, head 1: missing field `n_local`"
        );
    }

    #[test]
    fn misspelled_field_is_rejected() {
        assert!(
            err(&one_head(r#"{"pattern": "block_sparse", "top_k": 3, "topk": 4}"#)).contains("unknown field `topk`")
        );
    }

    #[test]
    fn non_numeric_score_names_head() {
        assert_eq!(
            err(&one_head(r#"{"pattern": "dense", "score": "high"}"#)),
            "layer 0, head 1: invalid type: string \"high\", expected f64"
        );
    }

    #[test]
    fn unsupported_version_names_supported_one() {
        assert_eq!(
            err(r#"{"format": "sparsefill-patterns/2", "layers": []}"#),
            "unsupported format \"sparsefill-patterns/2\"; supported: \"sparsefill-patterns/1\""
        );
    }

    #[test]
    fn missing_format_is_unsupported() {
        assert_eq!(
            err(r#"{"layers": []}"#),
            "unsupported format none (no \"format\" field); supported: \"sparsefill-patterns/1\""
        );
    }

    #[test]
    fn malformed_json_gives_line_and_column() {
        assert_eq!(
            err("{\"format\": \"sparsefill-patterns/1\",\n \"layers\": [[}"),
            "malformed JSON: expected value at line 2 column 14"
        );
    }

    #[test]
    fn layers_must_be_nested_arrays() {
        assert_eq!(
            err(r#"{"format": "sparsefill-patterns/1", "layers": {}}"#),
            "document does not match the sparsefill-patterns/1 layout: invalid type: map, expected a sequence"
        );
    }

    #[test]
    fn empty_layer_list_is_rejected() {
        assert_eq!(
            err(r#"{"format": "sparsefill-patterns/1", "layers": []}"#),
            "the config has no layers; at least one is required"
        );
    }

    #[test]
    fn layer_without_heads_is_rejected() {
        assert_eq!(
            err(r#"{"format": "sparsefill-patterns/1", "layers": [[{"pattern": "dense"}], []]}"#),
            "layer 1 has no heads; at least one is required"
        );
    }

    #[test]
    fn layers_with_different_head_counts_are_rejected() {
        assert_eq!(
            err(
                r#"{"format": "sparsefill-patterns/1", "layers": [[{"pattern": "dense"}], [{"pattern": "dense"}, {"pattern": "dense"}]]}"#
            ),
            "layer 1 has a head count of 2 but layer 0 has 1; all layers must have the same head count"
        );
    }

    #[test]
    fn non_finite_score_is_rejected_at_construction() {
        let error = ModelConfig::new(vec![vec![head(PatternKind::Dense, Some(f64::NAN))]]).unwrap_err();
        assert_eq!(error.to_string(), "layer 0, head 0: score must be a finite number; got NaN");
    }

    #[test]
    fn invalid_parameters_are_refused_at_construction_naming_layer_and_head() {
        let heads = vec![head(PatternKind::Dense, None), head(PatternKind::Strided { stride: 0, n_local: 4 }, None)];
        let error = ModelConfig::new(vec![vec![head(PatternKind::Dense, None); 2], heads]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "layer 1, head 1: pattern `strided`: stride must be at least 1 block (1 is dense causal attention); got 0"
        );
    }

    #[test]
    fn invalid_parameters_in_our_format_are_refused_at_load() {
        assert_eq!(
            err(&one_head(r#"{"pattern": "a_shape", "n_init": 0, "n_local": 0}"#)),
            "layer 0, head 1: pattern `a_shape`: n_local must be at least 1 (the window holds the query itself); got 0"
        );
    }

    #[test]
    fn dense_with_a_field_is_rejected() {
        assert_eq!(
            err(&one_head(r#"{"pattern": "dense", "foo": "bar"}"#)),
            "layer 0, head 1: unknown field `foo`; `dense` takes no fields"
        );
    }

    #[test]
    fn from_value_rejects_a_field_of_dense() {
        let error = PatternKind::from_value(serde_json::json!({"pattern": "dense", "x": 1})).unwrap_err();
        assert_eq!(error.to_string(), "unknown field `x`; `dense` takes no fields");
    }

    #[test]
    fn duplicate_head_field_is_rejected() {
        assert_eq!(
            err(&one_head(r#"{"pattern": "a_shape", "n_init": 0, "n_local": 1, "n_local": 128}"#)),
            "malformed JSON: duplicate key `n_local` (keys must be unique within an object) at line 1 column 129"
        );
    }

    #[test]
    fn duplicate_top_level_key_is_rejected() {
        let text = format!(r#"{{"format": "{FORMAT}", "layers": [[{{"pattern": "dense"}}]], "layers": []}}"#);
        assert!(err(&text).starts_with("malformed JSON: duplicate key `layers`"), "{}", err(&text));
    }

    #[test]
    fn parse_rejects_documents_of_neither_format() {
        assert_eq!(
            ModelConfig::parse("42").unwrap_err().to_string(),
            "expected a sparsefill-patterns/1 object with a \"format\" field or a MInference per-layer array; \
             got a number"
        );
    }
}
