//! Which pattern each head runs (`--pattern NAME[:ARGS]` or a per-head `--config`) and
//! running it on the interpreter or a GPU.

use super::sparse::dispatch::{check_params, group_heads, run_pattern, select_heads, DispatchError, HeadGroup};
use super::sparse::local::query_blocks::Backend;
use super::sparse::{AttentionInputs, SparseOutput};
use super::AttnError;
use serde_json::{Map, Value};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_patterns::config::{ModelConfig, PatternKind, MAX_COUNT, PATTERNS};
use std::path::Path;

/// What runs: one pattern for every head, or the heads of one config layer grouped by
/// pattern.
pub struct Plan {
    /// Heads grouped by pattern (one group with no heads listed for `--pattern`: it runs every head).
    groups: Vec<HeadGroup>,
    /// How the plan was given, for the output's metadata.
    source: String,
    /// The head count a config fixes (`None` for one pattern, which fits any count).
    config_heads: Option<(std::path::PathBuf, usize)>,
}

impl Plan {
    pub fn single(spec: &str) -> Result<Plan, AttnError> {
        let kind = parse(spec)?;
        Ok(Plan { groups: vec![HeadGroup { kind, heads: Vec::new() }], source: spec.to_string(), config_heads: None })
    }

    pub fn from_config(path: &Path, layer: usize) -> Result<Plan, AttnError> {
        let config = ModelConfig::load(path)?;
        let layers = config.num_layers();
        let heads = config.layers().get(layer).ok_or(AttnError::Layer { path: path.to_path_buf(), layer, layers })?;
        Ok(Plan {
            groups: group_heads(heads.iter().map(|head| head.pattern)),
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
            return run_pattern(backend, inputs, &only.kind).map_err(|e| dispatch_error(only.kind, e));
        }
        let (t, h, d) = (inputs.q.shape[0], inputs.q.shape[1], inputs.q.shape[2]);
        // Poisoned: a head that no group wrote would show.
        let mut o = HostTensor::filled(DType::BF16, &[t, h, d], f64::NAN);
        let mut lse = HostTensor::filled(DType::F32, &[h, t], f64::NAN);
        let mut index = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            let part = select_heads(inputs, &group.heads)
                .and_then(|selected| run_pattern(backend, &selected, &group.kind))
                .map_err(|e| dispatch_error(group.kind, e))?;
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

/// `NAME[:KEY=VALUE,...]` into a pattern, through the config format's own parser so
/// that the CLI and config files accept the same fields, with its values checked.
pub fn parse(spec: &str) -> Result<PatternKind, AttnError> {
    let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
    if !PATTERNS.contains(&name) {
        return Err(AttnError::UnknownPattern { name: name.to_string() });
    }
    let bad = |why: String| AttnError::PatternArgs { given: spec.to_string(), why };
    let mut fields = Map::new();
    // `NAME` and `NAME:` take no fields; otherwise every comma separates two KEY=VALUE pairs.
    for pair in args.split(',').filter(|_| !args.is_empty()) {
        if pair.is_empty() {
            return Err(bad("an empty KEY=VALUE (two commas in a row, or a comma at an end)".into()));
        }
        let (key, value) = pair.split_once('=').ok_or_else(|| bad(format!("`{pair}` is not KEY=VALUE")))?;
        // Digits only: `parse` would also take a sign.
        let count = Some(value)
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|&count| count <= MAX_COUNT)
            .ok_or_else(|| bad(format!("{key} must be a whole number in 0..={MAX_COUNT}; got `{value}`")))?;
        if key == "pattern" || fields.insert(key.to_string(), count.into()).is_some() {
            return Err(bad(format!("`{key}` is given twice")));
        }
    }
    fields.insert("pattern".to_string(), name.into());
    let kind = PatternKind::from_value(Value::Object(fields)).map_err(|e| bad(e.to_string()))?;
    // The values too, before any input is read or any layer computed.
    check_params(&kind).map_err(|e| dispatch_error(kind, e))?;
    Ok(kind)
}

/// The dispatch's error as the CLI reports it: a pattern's failure names the pattern.
fn dispatch_error(kind: PatternKind, error: DispatchError) -> AttnError {
    match error {
        DispatchError::Pattern { pattern, source } => AttnError::Pattern { pattern, source },
        DispatchError::NoGpuBuild => AttnError::NoGpuBuild,
        other => AttnError::Pattern { pattern: kind.name(), source: Box::new(other) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use sparsefill_patterns::attention::AttentionShape;
    use sparsefill_patterns::sparse::local::query_blocks::random_inputs;

    fn inputs(heads: usize, kv_heads: usize) -> AttentionInputs {
        let shape = AttentionShape { seqlens: vec![70], heads, kv_heads, head_dim: 16, causal: true };
        random_inputs(&shape, &mut StdRng::seed_from_u64(3)).map(|(_, inputs)| inputs).unwrap()
    }

    fn config_plan(kinds: &[PatternKind]) -> Plan {
        Plan { groups: group_heads(kinds.iter().copied()), source: "test".into(), config_heads: None }
    }

    /// Each head of a per-head plan holds exactly what the patterns crate's dispatch gives for its group:
    /// the CLI runs patterns through `run_pattern` and `select_heads`, not a copy of them.
    #[test]
    fn a_per_head_plan_is_the_dispatch_of_each_group() {
        let a_shape = parse("a_shape:n_init=1,n_local=5").unwrap();
        let strided = parse("strided:stride=2,n_local=3").unwrap();
        let kinds = [a_shape, PatternKind::Dense, a_shape, strided];
        let inputs = inputs(4, 2);
        let got = config_plan(&kinds).run(&inputs, &Backend::Interp).unwrap();
        let (t, h, d) = (70, 4, 16);
        for group in group_heads(kinds) {
            let selected = select_heads(&inputs, &group.heads).unwrap();
            let expected = run_pattern(&Backend::Interp, &selected, &group.kind).unwrap();
            let n = group.heads.len();
            for (i, &head) in group.heads.iter().enumerate() {
                for row in 0..t {
                    let o = &got.o.data[(row * h + head) * d..][..d];
                    assert_eq!(o, &expected.o.data[(row * n + i) * d..][..d], "head {head} row {row}");
                }
                assert_eq!(&got.lse.data[head * t..][..t], &expected.lse.data[i * t..][..t], "head {head}");
            }
        }
    }

    /// Only the dispatch's head selection knows this error: it reaching the CLI shows the CLI selects
    /// heads through it.
    #[test]
    fn a_head_past_the_input_is_the_dispatchs_error() {
        let a_shape = parse("a_shape:n_init=1,n_local=5").unwrap();
        let plan = config_plan(&[PatternKind::Dense, a_shape, a_shape]);
        let err = plan.run(&inputs(2, 1), &Backend::Interp).map(|_| ()).unwrap_err();
        let AttnError::Pattern { pattern: "a_shape", source } = &err else { panic!("{err}") };
        let source = source.downcast_ref::<DispatchError>();
        assert!(matches!(source, Some(DispatchError::Head { head: 2, heads: 2 })), "{err}");
    }

    #[test]
    fn a_pattern_failure_keeps_the_patterns_name() {
        let err = Plan::single("a_shape:n_init=1,n_local=0").map(|_| ()).unwrap_err();
        assert!(matches!(err, AttnError::Pattern { pattern: "a_shape", .. }), "{err}");
        assert!(err.to_string().starts_with("pattern `a_shape`: "), "{err}");
        assert!(!err.to_string().contains("pattern `a_shape`: pattern"), "named twice: {err}");
    }

    #[test]
    fn two_commas_in_a_row_are_refused() {
        let err = parse("a_shape:n_init=64,,n_local=64").unwrap_err();
        assert!(err.to_string().contains("an empty KEY=VALUE"), "{err}");
    }

    #[test]
    fn a_trailing_comma_is_refused() {
        let err = parse("a_shape:n_init=64,n_local=64,").unwrap_err();
        assert!(err.to_string().contains("an empty KEY=VALUE"), "{err}");
    }

    #[test]
    fn a_signed_count_is_refused() {
        let err = parse("a_shape:n_init=+64,n_local=64").unwrap_err();
        assert!(err.to_string().contains("n_init must be a whole number in 0..=2147483647; got `+64`"), "{err}");
    }

    /// Past an i32, where every kernel's count ends, at parse: not the u32 range first and
    /// the field's own check after.
    #[test]
    fn a_count_past_an_i32_is_refused_with_the_range_it_takes() {
        let err = parse("vertical_slash:vertical=3000000000,slash=64").unwrap_err();
        assert!(
            err.to_string().contains("vertical must be a whole number in 0..=2147483647; got `3000000000`"),
            "{err}"
        );
    }

    #[test]
    fn a_name_with_an_empty_argument_list_takes_no_fields() {
        assert_eq!(parse("dense:").unwrap(), PatternKind::Dense);
    }

    #[test]
    fn a_gpu_pattern_in_a_build_without_the_gpu_is_the_clis_own_error() {
        let err = dispatch_error(PatternKind::VerticalSlash { vertical: 8, slash: 8 }, DispatchError::NoGpuBuild);
        assert!(matches!(err, AttnError::NoGpuBuild), "{err}");
    }
}
