//! Which parts of `bench-kernels` run: `--only memory,gemm,attention` (any of them), all
//! when not given. Its own file so that a test (tests/bench_parts.rs) can include it:
//! the bench binaries have no test harness.

#[derive(Debug, PartialEq, Eq)]
pub struct Parts {
    pub memory: bool,
    pub gemm: bool,
    pub attention: bool,
}

impl Parts {
    pub const KNOWN: [&'static str; 3] = ["memory", "gemm", "attention"];

    /// The parts `--only`'s value names, or every part without one; an unknown name is an
    /// error naming it and the parts.
    pub fn parse(only: Option<&str>) -> Result<Parts, String> {
        let Some(list) = only else {
            return Ok(Parts { memory: true, gemm: true, attention: true });
        };
        let names: Vec<&str> = list.split(',').map(str::trim).collect();
        if let Some(bad) = names.iter().find(|n| !Self::KNOWN.contains(n)) {
            return Err(format!("--only: unknown part `{bad}`; the parts are {}", Self::KNOWN.join(", ")));
        }
        let has = |part: &str| names.contains(&part);
        Ok(Parts { memory: has("memory"), gemm: has("gemm"), attention: has("attention") })
    }
}
