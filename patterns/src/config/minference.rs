//! Import of MInference's published per-model pattern files: a JSON array with one object per layer, each
//! mapping a head index ("0", "1", ...) to `[pattern_name, vertical_or_init, slash_or_local, score]`.
//! The published files write counts sometimes as integers and sometimes as floats (`1000.0`), so both are
//! accepted as long as the value is whole.

use super::{json_kind, ConfigError, HeadConfig, PatternKind};
use serde_json::Value;

/// The pattern names MInference's files use.
pub const MINFERENCE_PATTERNS: [&str; 3] = ["vertical_and_slash", "stream_llm", "block_sparse"];

/// Converts a parsed MInference document to our layers; the caller checks layer and head counts.
pub(super) fn import(document: Value) -> Result<Vec<Vec<HeadConfig>>, ConfigError> {
    let Value::Array(layers) = document else {
        return Err(ConfigError::NotLayerList { found: json_kind(&document) });
    };
    layers.into_iter().enumerate().map(|(layer, entries)| import_layer(layer, entries)).collect()
}

fn import_layer(layer: usize, entries: Value) -> Result<Vec<HeadConfig>, ConfigError> {
    let Value::Object(entries) = entries else {
        return Err(ConfigError::LayerNotObject { layer, found: json_kind(&entries) });
    };
    let mut heads = entries
        .into_iter()
        .map(|(key, entry)| Ok((head_index(layer, key)?, entry)))
        .collect::<Result<Vec<_>, ConfigError>>()?;
    heads.sort_by_key(|(head, _)| *head);
    // Keys are canonical and unique, so after sorting the first index that differs from its position is
    // larger than it, and the position itself is the missing head.
    if let Some(missing) = heads.iter().enumerate().position(|(position, (head, _))| position != *head) {
        let present = heads.iter().map(|(head, _)| *head).collect();
        return Err(ConfigError::MissingHead { layer, present, missing });
    }
    heads.into_iter().map(|(head, entry)| import_head(layer, head, entry)).collect()
}

/// Only canonical decimal keys are heads: "01" or "+1" would alias "1" and make the head set ambiguous.
fn head_index(layer: usize, key: String) -> Result<usize, ConfigError> {
    match key.parse::<usize>() {
        Ok(head) if head.to_string() == key => Ok(head),
        _ => Err(ConfigError::BadHeadKey { layer, key }),
    }
}

fn import_head(layer: usize, head: usize, entry: Value) -> Result<HeadConfig, ConfigError> {
    let items = match entry {
        Value::Array(items) => items,
        other => return Err(ConfigError::EntryShape { layer, head, found: json_kind(&other).into() }),
    };
    let [name, first, second, score] = <[Value; 4]>::try_from(items).map_err(|items| ConfigError::EntryShape {
        layer,
        head,
        found: format!("{} elements", items.len()),
    })?;
    let count = |field, value: &Value| {
        whole_count(value).ok_or_else(|| ConfigError::BadCount { layer, head, field, value: value.to_string() })
    };
    let pattern = match name.as_str() {
        Some("vertical_and_slash") => {
            PatternKind::VerticalSlash { vertical: count("vertical", &first)?, slash: count("slash", &second)? }
        }
        Some("stream_llm") => {
            PatternKind::AShape { n_init: count("n_init", &first)?, n_local: count("n_local", &second)? }
        }
        // MInference leaves the second number unused for block-sparse heads.
        Some("block_sparse") => PatternKind::BlockSparse { top_k: count("top_k", &first)? },
        _ => {
            return Err(ConfigError::UnknownPattern {
                layer,
                head,
                name: name.to_string(),
                known: &MINFERENCE_PATTERNS,
            })
        }
    };
    let score = score.as_f64().ok_or_else(|| ConfigError::BadScore { layer, head, value: score.to_string() })?;
    Ok(HeadConfig { pattern, score: Some(score) })
}

fn whole_count(value: &Value) -> Option<u32> {
    if let Some(integer) = value.as_u64() {
        return u32::try_from(integer).ok().filter(|&count| count <= super::MAX_COUNT);
    }
    let float = value.as_f64()?;
    (float.fract() == 0.0 && (0.0..=f64::from(super::MAX_COUNT)).contains(&float)).then_some(float as u32)
}

#[cfg(test)]
mod tests {
    use crate::config::{ModelConfig, PatternKind};

    fn err(text: &str) -> String {
        ModelConfig::from_minference_json(text).unwrap_err().to_string()
    }

    fn pattern(entry: &str) -> PatternKind {
        let config = ModelConfig::from_minference_json(&format!(r#"[{{"0": {entry}}}]"#)).unwrap();
        config.layers()[0][0].pattern
    }

    fn entry_err(entry: &str) -> String {
        err(&format!(r#"[{{"0": ["stream_llm", 1, 2, 1.0], "1": {entry}}}]"#))
    }

    #[test]
    fn vertical_and_slash_maps_to_vertical_slash() {
        assert_eq!(
            pattern(r#"["vertical_and_slash", 1000, 6096, 0.98]"#),
            PatternKind::VerticalSlash { vertical: 1000, slash: 6096 }
        );
    }

    #[test]
    fn stream_llm_maps_to_a_shape() {
        assert_eq!(pattern(r#"["stream_llm", 100, 800, 1.0]"#), PatternKind::AShape { n_init: 100, n_local: 800 });
    }

    #[test]
    fn block_sparse_ignores_second_number() {
        assert_eq!(pattern(r#"["block_sparse", 8, "unused", 0.97]"#), PatternKind::BlockSparse { top_k: 8 });
    }

    #[test]
    fn whole_floats_are_counts() {
        assert_eq!(
            pattern(r#"["vertical_and_slash", 1000.0, 6096.0, 0.9]"#),
            PatternKind::VerticalSlash { vertical: 1000, slash: 6096 }
        );
    }

    #[test]
    fn score_is_kept() {
        let config = ModelConfig::from_minference_json(r#"[{"0": ["stream_llm", 1, 2, 0.25]}]"#).unwrap();
        assert_eq!(config.layers()[0][0].score, Some(0.25));
    }

    #[test]
    fn unknown_pattern_lists_minference_names() {
        assert_eq!(
            entry_err(r#"["a_shape", 1, 2, 1.0]"#),
            "layer 0, head 1: unknown pattern \"a_shape\"; known: vertical_and_slash, stream_llm, block_sparse"
        );
    }

    #[test]
    fn non_string_pattern_is_unknown() {
        assert_eq!(
            entry_err(r#"[7, 1, 2, 1.0]"#),
            "layer 0, head 1: unknown pattern 7; known: vertical_and_slash, stream_llm, block_sparse"
        );
    }

    #[test]
    fn short_entry_reports_arity() {
        assert_eq!(
            err(r#"[{"0": ["stream_llm", 1, 2, 1.0]}, {"0": ["stream_llm", 1, 2, 1.0], "1": ["stream_llm", 1, 2]}]"#),
            "layer 1, head 1: expected [pattern, vertical_or_init, slash_or_local, score]; got 3 elements"
        );
    }

    #[test]
    fn entry_must_be_an_array() {
        assert_eq!(
            entry_err(r#"{"pattern": "stream_llm"}"#),
            "layer 0, head 1: expected [pattern, vertical_or_init, slash_or_local, score]; got an object"
        );
    }

    #[test]
    fn fractional_count_is_rejected() {
        assert_eq!(
            entry_err(r#"["vertical_and_slash", 1000.5, 6096, 1.0]"#),
            "layer 0, head 1: vertical must be a whole number in 0..=2147483647; got 1000.5"
        );
    }

    #[test]
    fn negative_count_is_rejected() {
        assert_eq!(
            entry_err(r#"["stream_llm", 4, -3, 1.0]"#),
            "layer 0, head 1: n_local must be a whole number in 0..=2147483647; got -3"
        );
    }

    #[test]
    fn count_beyond_i32_is_rejected() {
        assert_eq!(
            entry_err(r#"["block_sparse", 2147483648, 0, 1.0]"#),
            "layer 0, head 1: top_k must be a whole number in 0..=2147483647; got 2147483648"
        );
    }

    #[test]
    fn huge_float_count_is_rejected() {
        assert_eq!(
            entry_err(r#"["block_sparse", 1e300, 0, 1.0]"#),
            "layer 0, head 1: top_k must be a whole number in 0..=2147483647; got 1e+300"
        );
    }

    #[test]
    fn string_count_is_rejected() {
        assert_eq!(
            entry_err(r#"["block_sparse", "8", 0, 1.0]"#),
            "layer 0, head 1: top_k must be a whole number in 0..=2147483647; got \"8\""
        );
    }

    #[test]
    fn non_numeric_score_is_rejected() {
        assert_eq!(
            entry_err(r#"["block_sparse", 8, 0, null]"#),
            "layer 0, head 1: score must be a finite number; got null"
        );
    }

    #[test]
    fn heads_may_come_in_any_order() {
        let config = ModelConfig::from_minference_json(
            r#"[{"1": ["block_sparse", 2, 0, 1.0], "0": ["block_sparse", 1, 0, 1.0]}]"#,
        )
        .unwrap();
        assert_eq!(config.layers()[0][1].pattern, PatternKind::BlockSparse { top_k: 2 });
    }

    #[test]
    fn missing_head_is_named() {
        let entry = r#"["block_sparse", 1, 0, 1.0]"#;
        assert_eq!(
            err(&format!(r#"[{{"0": {entry}, "3": {entry}, "1": {entry}}}]"#)),
            "layer 0 has heads 0, 1, 3: head 2 is missing"
        );
    }

    #[test]
    fn non_numeric_head_key_is_rejected() {
        assert_eq!(
            entry_err(r#"["block_sparse", 1, 0, 1.0]}, {"h0": ["block_sparse", 1, 0, 1.0]"#),
            "layer 1: head key \"h0\" is not a head index (expected \"0\", \"1\", ...)"
        );
    }

    #[test]
    fn non_canonical_head_key_is_rejected() {
        assert_eq!(
            err(r#"[{"01": ["block_sparse", 1, 0, 1.0]}]"#),
            "layer 0: head key \"01\" is not a head index (expected \"0\", \"1\", ...)"
        );
    }

    #[test]
    fn layers_with_different_head_counts_are_rejected() {
        assert_eq!(
            entry_err(r#"["block_sparse", 1, 0, 1.0]}, {"0": ["block_sparse", 1, 0, 1.0]"#),
            "layer 1 has a head count of 1 but layer 0 has 2; all layers must have the same head count"
        );
    }

    #[test]
    fn invalid_parameters_are_refused_naming_layer_and_head() {
        assert_eq!(
            entry_err(r#"["block_sparse", 0, 0, 1.0]"#),
            "layer 0, head 1: pattern `block_sparse`: top_k must be from 1 (the diagonal block) to 256; got 0"
        );
    }

    #[test]
    fn duplicate_head_key_is_rejected() {
        assert_eq!(
            err(r#"[{"0": ["block_sparse", 1, 0, 1.0], "0": ["block_sparse", 2, 0, 1.0]}]"#),
            "malformed JSON: duplicate key `0` (keys must be unique within an object) at line 1 column 39"
        );
    }

    #[test]
    fn layer_must_be_an_object() {
        assert_eq!(err(r#"[[]]"#), "layer 0: expected an object mapping head index to entry; got an array");
    }

    #[test]
    fn empty_layer_list_is_rejected() {
        assert_eq!(err("[]"), "the config has no layers; at least one is required");
    }

    #[test]
    fn empty_layer_is_rejected() {
        assert_eq!(err("[{}]"), "layer 0 has no heads; at least one is required");
    }

    #[test]
    fn top_level_must_be_an_array() {
        assert_eq!(
            err(r#"{"0": ["block_sparse", 1, 0, 1.0]}"#),
            "expected a MInference config (a JSON array with one object per layer); got an object"
        );
    }

    #[test]
    fn malformed_json_gives_line_and_column() {
        assert_eq!(
            err("[{\"0\": [\"block_sparse\", 1,\n 0 1.0]}]"),
            "malformed JSON: expected `,` or `]` at line 2 column 4"
        );
    }
}
