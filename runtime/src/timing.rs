//! GPU-side timing with CUDA events, for benchmarks: the time between two events on
//! the stream measures the device work of one iteration, not host overhead.

use cudarc::driver::sys::CUevent_flags;

use crate::driver::During;
use crate::error::RuntimeError;
use crate::gpu::Gpu;

/// How long the benchmarks run their work untimed before they time it (`--settle-ms`'s
/// default). A card that sat idle runs its first few hundred milliseconds of load about
/// 11–15% faster than it sustains (an H200: docs/perf/2026-11-29-h200-session21.md, round 3);
/// after this, timings see the clocks a long pre-fill runs at.
pub const SETTLE_MS: u64 = 2000;

impl Gpu {
    /// Runs `work` untimed, waiting for the GPU after each run, until `ms` milliseconds
    /// have passed (not at all for 0), so that the timings after it see the GPU at the
    /// clocks it sustains under load ([`SETTLE_MS`]).
    pub fn settle(&self, ms: u64, mut work: impl FnMut() -> Result<(), RuntimeError>) -> Result<(), RuntimeError> {
        if ms == 0 {
            return Ok(());
        }
        let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        loop {
            work()?;
            self.synchronize()?;
            if std::time::Instant::now() >= until {
                return Ok(());
            }
        }
    }

    /// Runs `work` `warmup` times untimed, then `iters` times between events; returns
    /// each timed iteration's device time in milliseconds. `work` should only queue
    /// work on this GPU's stream (launches), not synchronize.
    pub fn time_ms(
        &self,
        warmup: usize,
        iters: usize,
        mut work: impl FnMut() -> Result<(), RuntimeError>,
    ) -> Result<Vec<f32>, RuntimeError> {
        for _ in 0..warmup {
            work()?;
        }
        let mut marks = Vec::with_capacity(iters);
        for _ in 0..iters {
            let start = self.ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).during("cuEventCreate")?;
            let end = self.ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).during("cuEventCreate")?;
            start.record(&self.stream).during("cuEventRecord")?;
            work()?;
            end.record(&self.stream).during("cuEventRecord")?;
            marks.push((start, end));
        }
        self.synchronize()?;
        marks.iter().map(|(start, end)| start.elapsed_ms(end).during("cuEventElapsedTime")).collect()
    }
}

/// The median of `samples` (mean of the middle two for an even count); `None` if empty.
pub fn median(samples: &[f32]) -> Option<f32> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f32::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_count_is_the_middle() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn median_of_even_count_averages_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn median_of_nothing_is_none() {
        assert_eq!(median(&[]), None);
    }
}
