//! Writing a searched config: our format (through `sparsefill_patterns::config`) or MInference's per-layer
//! array, `[{"0": [pattern, vertical_or_init, slash_or_local, score], ...}, ...]`, which its loader and ours
//! both read back.

use super::SearchError;
use serde_json::{json, Map, Value};
use sparsefill_patterns::config::{ModelConfig as PatternConfig, PatternKind};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Ours,
    Minference,
}

/// A pattern as a head object of our format (`{"pattern": "a_shape", "n_init": 64, "n_local": 192}`), so
/// that a reader can deserialize it as a `PatternKind`.
pub fn pattern_json(kind: &PatternKind) -> Value {
    let fields = match *kind {
        PatternKind::Dense => json!({}),
        PatternKind::AShape { n_init, n_local } => json!({"n_init": n_init, "n_local": n_local}),
        PatternKind::TriShape { n_init, n_local, n_last } => {
            json!({"n_init": n_init, "n_local": n_local, "n_last": n_last})
        }
        PatternKind::VerticalSlash { vertical, slash } => json!({"vertical": vertical, "slash": slash}),
        PatternKind::BlockSparse { top_k } => json!({"top_k": top_k}),
        PatternKind::Strided { stride, n_local } => json!({"stride": stride, "n_local": n_local}),
    };
    let mut object = Map::new();
    object.insert("pattern".into(), kind.name().into());
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    Value::Object(object)
}

/// MInference's document for `config`; a head whose pattern MInference has no name for is an error.
pub fn minference_json(config: &PatternConfig) -> Result<String, SearchError> {
    let mut layers = Vec::with_capacity(config.num_layers());
    for (layer, heads) in config.layers().iter().enumerate() {
        let mut entries = Map::new();
        for (head, h) in heads.iter().enumerate() {
            let score = h.score.unwrap_or(1.0);
            let entry = match h.pattern {
                PatternKind::VerticalSlash { vertical, slash } => json!(["vertical_and_slash", vertical, slash, score]),
                PatternKind::AShape { n_init, n_local } => json!(["stream_llm", n_init, n_local, score]),
                // MInference leaves the second number of a block-sparse entry unused.
                PatternKind::BlockSparse { top_k } => json!(["block_sparse", top_k, 0, score]),
                other => return Err(SearchError::NotMinference { layer, head, pattern: other.name() }),
            };
            entries.insert(head.to_string(), entry);
        }
        layers.push(Value::Object(entries));
    }
    Ok(format!("{:#}\n", Value::Array(layers)))
}

/// Writes `config` to `path` in `format`.
pub fn write_config(config: &PatternConfig, format: OutputFormat, path: &Path) -> Result<(), SearchError> {
    match format {
        OutputFormat::Ours => Ok(config.save(path)?),
        OutputFormat::Minference => std::fs::write(path, minference_json(config)?)
            .map_err(|source| SearchError::Write { path: path.to_owned(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_patterns::config::HeadConfig;

    fn config(patterns: &[PatternKind]) -> PatternConfig {
        let heads = patterns.iter().map(|&pattern| HeadConfig { pattern, score: Some(0.5) }).collect();
        PatternConfig::new(vec![heads]).unwrap()
    }

    #[test]
    fn minference_document_reads_back_through_its_importer() {
        let written = config(&[
            PatternKind::VerticalSlash { vertical: 30, slash: 180 },
            PatternKind::AShape { n_init: 64, n_local: 512 },
            PatternKind::BlockSparse { top_k: 7 },
        ]);
        let text = minference_json(&written).unwrap();
        assert_eq!(PatternConfig::from_minference_json(&text).unwrap(), written);
    }

    #[test]
    fn tri_shape_has_no_minference_name() {
        let err = minference_json(&config(&[PatternKind::TriShape { n_init: 64, n_local: 64, n_last: 64 }]));
        assert_eq!(
            err.err().map(|e| e.to_string()),
            Some("MInference's format has no tri_shape pattern (layer 0, head 0); write ours instead".into())
        );
    }

    #[test]
    fn pattern_objects_deserialize_as_patterns() {
        let kind = PatternKind::TriShape { n_init: 1, n_local: 2, n_last: 3 };
        assert_eq!(serde_json::from_value::<PatternKind>(pattern_json(&kind)).unwrap(), kind);
    }
}
