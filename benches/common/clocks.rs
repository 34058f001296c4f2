//! The SM clock and board power while a measurement runs, sampled by `nvidia-smi` in a
//! child process. At sustained load an H200 sits at its board power limit, so its clock is
//! whatever each kernel's power allows (docs/perf/2026-11-30-h200-session25.md, round 3):
//! two kernels timed in turns share one clock, while each timed alone after settling runs
//! at its own, and these samples say which.

use std::io::Read;
use std::process::{Child, Command, Stdio};

/// The `nvidia-smi` query: one line `MHz, W` per sample, every 50 ms.
const QUERY: [&str; 4] = ["--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits", "-lms", "50"];

/// Samples below this many watts are the card idling between launches (the host preparing
/// inputs, a download), not the load being measured.
const LOADED_WATTS: f64 = 300.0;

/// The medians of the samples taken under load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clocks {
    pub mhz: f64,
    pub watts: f64,
    pub samples: usize,
}

/// A running `nvidia-smi` sampling GPU `ordinal`; [`Sampler::stop`] ends it and reads its lines.
pub struct Sampler(Option<Child>);

impl Sampler {
    /// Starts sampling. Without `nvidia-smi` (or if it cannot start) the sampler holds
    /// nothing and [`Sampler::stop`] gives `None`: the measurement itself goes on.
    pub fn start(ordinal: usize) -> Sampler {
        let child = Command::new("nvidia-smi")
            .args(QUERY)
            .arg(format!("--id={ordinal}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Sampler(child)
    }

    /// Stops sampling: the medians of the loaded samples, or `None` if there were none.
    pub fn stop(mut self) -> Option<Clocks> {
        let mut child = self.0.take()?;
        // nvidia-smi samples until killed; its lines so far are in the pipe.
        let _ = child.kill();
        let mut text = String::new();
        child.stdout.take()?.read_to_string(&mut text).ok()?;
        let _ = child.wait();
        loaded_medians(&text)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The medians of the `MHz, W` lines of `text` drawn above [`LOADED_WATTS`]; lines that do
/// not parse (a `[N/A]`, a cut-off last line) are skipped.
pub fn loaded_medians(text: &str) -> Option<Clocks> {
    let (mut mhz, mut watts): (Vec<f64>, Vec<f64>) = text
        .lines()
        .filter_map(|line| {
            let (clock, power) = line.split_once(',')?;
            Some((clock.trim().parse::<f64>().ok()?, power.trim().parse::<f64>().ok()?))
        })
        .filter(|&(_, w)| w > LOADED_WATTS)
        .unzip();
    if mhz.is_empty() {
        return None;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Some(Clocks { mhz: median(&mut mhz), watts: median(&mut watts), samples: mhz.len() })
}
