//! The peers' numbers (peers.json, written by benches/peers/sparse_peers.py in the same
//! GPU run from our bench.json): torch SDPA with the cuDNN and flash backends, dense
//! causal, and FlexAttention over each pattern's cover, per length.

use super::json::{self, Field};
use super::results::Report;
use super::BenchError;
use std::path::Path;

pub const FILE: &str = "peers.json";

#[derive(Clone, Debug, PartialEq)]
pub struct Peers {
    pub card: String,
    pub torch: String,
    /// Milliseconds of untimed calls before each timing (0 in peers.json files that
    /// predate it).
    pub settle_ms: u64,
    pub lengths: Vec<PeerLength>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PeerLength {
    pub len: usize,
    pub heads: usize,
    pub cudnn: Peer,
    pub flash: Peer,
    /// FlexAttention over the cover of each of our patterns, by our pattern's name.
    pub flex: Vec<(String, Peer)>,
}

/// One peer's median milliseconds, or why it failed; `note` says how it deviated
/// from the shape we ran (k and v expanded when a backend has no native GQA).
#[derive(Clone, Debug, PartialEq)]
pub struct Peer {
    pub ms: Result<f64, String>,
    pub note: Option<String>,
}

impl Peers {
    /// `dir/peers.json`, checked against the report it extends: every length it names
    /// must be one we measured, with the same heads.
    pub fn load(dir: &Path, report: &Report) -> Result<Peers, BenchError> {
        let path = dir.join(FILE);
        let value = json::read(&path)?;
        let peers = Peers::from_json(&path, &value)?;
        for (i, p) in peers.lengths.iter().enumerate() {
            match report.lengths.iter().find(|l| l.len == p.len) {
                Some(l) if l.heads == p.heads => {}
                found => {
                    let why = match found {
                        Some(l) => format!("is {} but bench.json measured S={} with {} heads", p.heads, l.len, l.heads),
                        None => format!("names S={}, which bench.json did not measure", p.len),
                    };
                    let field =
                        if found.is_some() { format!("lengths[{i}].heads") } else { format!("lengths[{i}].len") };
                    return Err(BenchError::Field { path, field, why });
                }
            }
        }
        Ok(peers)
    }

    pub fn from_json(path: &Path, value: &serde_json::Value) -> Result<Peers, BenchError> {
        let root = Field::root(path, value);
        let lengths = root
            .get("lengths")?
            .items()?
            .iter()
            .map(|l| {
                let flex = l
                    .get("flex")?
                    .items()?
                    .iter()
                    .map(|f| Ok((f.get("pattern")?.str()?.to_string(), peer(f)?)))
                    .collect::<Result<_, BenchError>>()?;
                Ok(PeerLength {
                    len: l.get("len")?.usize()?,
                    heads: l.get("heads")?.usize()?,
                    cudnn: peer(&l.get("sdpa_cudnn")?)?,
                    flash: peer(&l.get("sdpa_flash")?)?,
                    flex,
                })
            })
            .collect::<Result<_, BenchError>>()?;
        Ok(Peers {
            card: root.get("card")?.str()?.to_string(),
            torch: root.get("torch")?.str()?.to_string(),
            settle_ms: root.usize_or("settle_ms", 0)? as u64,
            lengths,
        })
    }

    pub fn length(&self, len: usize) -> Option<&PeerLength> {
        self.lengths.iter().find(|l| l.len == len)
    }
}

impl PeerLength {
    pub fn flex(&self, pattern: &str) -> Option<&Peer> {
        self.flex.iter().find(|(p, _)| p == pattern).map(|(_, peer)| peer)
    }
}

/// `{"ms": x}` (with `"gqa": "expanded"` when k and v were expanded) or `{"error": why}`.
fn peer(f: &Field) -> Result<Peer, BenchError> {
    if let Some(error) = f.opt("error") {
        return Ok(Peer { ms: Err(error.str()?.to_string()), note: None });
    }
    let note = match f.opt("gqa") {
        Some(g) if g.str()? == "expanded" => Some("no native GQA: timed on k, v expanded to every head".to_string()),
        _ => None,
    };
    Ok(Peer { ms: Ok(f.get("ms")?.f64()?), note })
}

#[cfg(test)]
pub mod fixture {
    use super::*;
    use serde_json::json;

    /// peers.json for [`super::super::results::fixture::report`]: SDPA a fixed
    /// fraction of our dense time, Flex over the vertical-slash cover, one failure.
    pub fn json(report: &Report) -> serde_json::Value {
        let lengths: Vec<serde_json::Value> = report
            .lengths
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let dense = l.dense().map(|d| d.total_ms()).unwrap_or(f64::NAN);
                let flex: Vec<serde_json::Value> = l.runs[1..]
                    .iter()
                    .map(|r| json!({ "pattern": r.pattern, "ms": dense * 0.8 }))
                    .collect();
                let flash = if i == 0 { json!({ "ms": dense * 0.9, "gqa": "expanded" }) } else { json!({ "error": "RuntimeError: no kernel" }) };
                json!({ "len": l.len, "heads": l.heads, "sdpa_cudnn": { "ms": dense * 0.6, "gqa": "native" }, "sdpa_flash": flash, "flex": flex })
            })
            .collect();
        json!({ "card": report.card, "torch": "2.9.0", "iters": 3, "settle_ms": 2000, "lengths": lengths })
    }
}

#[cfg(test)]
mod tests {
    use super::super::results::fixture;
    use super::*;

    fn write(dir: &Path, value: &serde_json::Value) {
        std::fs::write(dir.join(FILE), value.to_string()).unwrap_or_else(|e| panic!("{e}"));
    }

    fn load(value: &serde_json::Value) -> Result<Peers, String> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(dir.path(), value);
        Peers::load(dir.path(), &fixture::report())
            .map_err(|e| e.to_string().replace(&dir.path().display().to_string(), "DIR"))
    }

    #[test]
    fn peers_read_back_with_failures_and_notes() {
        let peers = load(&super::fixture::json(&fixture::report())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(peers.lengths.len(), 2);
        assert!(peers.lengths[0].flash.note.is_some() && peers.lengths[0].cudnn.note.is_none());
        assert_eq!(peers.lengths[1].flash.ms, Err("RuntimeError: no kernel".to_string()));
        assert!(peers.length(32768).and_then(|l| l.flex("a_shape:n_init=128,n_local=4096")).is_some());
    }

    #[test]
    fn peers_from_before_settling_read_as_none_and_after_with_theirs() {
        let mut value = super::fixture::json(&fixture::report());
        let settled = load(&value).map(|p| p.settle_ms).map_err(|e| e.to_string());
        value.as_object_mut().map(|m| m.remove("settle_ms"));
        let before = load(&value).map(|p| p.settle_ms).map_err(|e| e.to_string());
        assert_eq!((settled, before), (Ok(2000), Ok(0)));
    }

    #[test]
    fn a_settling_time_that_is_not_a_whole_number_is_named() {
        let mut value = super::fixture::json(&fixture::report());
        value["settle_ms"] = "2s".into();
        let err = load(&value).map(|_| ()).map_err(|e| e.to_string());
        assert!(err.as_ref().is_err_and(|e| e.contains("settle_ms")), "{err:?}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let err = Peers::load(dir.path(), &fixture::report()).map(|_| ()).map_err(|e| e.to_string());
        let expected = format!("cannot read `{}`", dir.path().join(FILE).display());
        assert!(err.as_ref().err().is_some_and(|e| e.starts_with(&expected)), "{err:?}");
    }

    #[test]
    fn a_malformed_field_is_named() {
        let mut value = super::fixture::json(&fixture::report());
        value["lengths"][1]["sdpa_cudnn"]["ms"] = "fast".into();
        assert_eq!(
            load(&value).err(),
            Some("`DIR/peers.json`: field `lengths[1].sdpa_cudnn.ms` must be a number".into())
        );
        let mut value = super::fixture::json(&fixture::report());
        value["lengths"][1].as_object_mut().map(|m| m.remove("flex"));
        assert_eq!(load(&value).err(), Some("`DIR/peers.json`: field `lengths[1].flex` is missing".into()));
    }

    #[test]
    fn heads_other_than_ours_are_refused() {
        let mut value = super::fixture::json(&fixture::report());
        value["lengths"][0]["heads"] = 4.into();
        assert_eq!(
            load(&value).err(),
            Some(
                "`DIR/peers.json`: field `lengths[0].heads` is 4 but bench.json measured S=32768 with 32 heads".into()
            )
        );
    }

    #[test]
    fn text_that_is_not_json_is_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join(FILE), "{ truncated").unwrap_or_else(|e| panic!("{e}"));
        let err = Peers::load(dir.path(), &fixture::report()).map(|_| ()).map_err(|e| e.to_string());
        assert!(err.as_ref().err().is_some_and(|e| e.contains("peers.json` is not JSON")), "{err:?}");
    }
}
