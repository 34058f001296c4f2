//! Where a pre-fill's time goes: wall time per stage of the forward pass, for
//! `generate --profile` ([`crate::GenerateOptions::profile`]).
//!
//! Each stage is timed between two synchronizations of the backend ([`crate::Backend::synchronize`]),
//! so a stage's time is the device work it queued, not the time to queue it. The synchronizations
//! themselves cost a little, which is why profiling is off unless asked for.

use std::fmt;
use std::time::Duration;

/// One stage: its total time over the pre-fill and how many times it ran.
#[derive(Clone, Debug, PartialEq)]
pub struct StageTime {
    pub stage: &'static str,
    pub total: Duration,
    pub calls: usize,
    /// The first call alone: where it stands far above `total / calls`, the stage paid a
    /// one-time cost (a library's first use, a table built), not a per-call one.
    pub first: Duration,
}

/// Stage times in the order the stages first ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimes {
    stages: Vec<StageTime>,
}

impl StageTimes {
    /// Adds one run of `stage` that took `took`.
    pub fn add(&mut self, stage: &'static str, took: Duration) {
        match self.stages.iter_mut().find(|s| s.stage == stage) {
            Some(s) => {
                s.total += took;
                s.calls += 1;
            }
            None => self.stages.push(StageTime { stage, total: took, calls: 1, first: took }),
        }
    }

    pub fn stages(&self) -> &[StageTime] {
        &self.stages
    }

    /// The sum over every stage.
    pub fn total(&self) -> Duration {
        self.stages.iter().map(|s| s.total).sum()
    }
}

/// A table: stage, milliseconds, calls and share of the staged total, slowest first.
impl fmt::Display for StageTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total().as_secs_f64();
        let mut rows: Vec<&StageTime> = self.stages.iter().collect();
        rows.sort_by_key(|s| std::cmp::Reverse(s.total));
        writeln!(f, "| stage | ms | calls | first call ms | share |")?;
        writeln!(f, "|---|---|---|---|---|")?;
        for s in rows {
            let ms = s.total.as_secs_f64() * 1e3;
            let share = if total > 0.0 { 100.0 * s.total.as_secs_f64() / total } else { 0.0 };
            let first = s.first.as_secs_f64() * 1e3;
            writeln!(f, "| {} | {ms:.1} | {} | {first:.1} | {share:.1}% |", s.stage, s.calls)?;
        }
        write!(f, "| total | {:.1} | | | |", total * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn repeated_stages_add_up_in_first_run_order() {
        let mut t = StageTimes::default();
        t.add("attention", ms(5));
        t.add("mlp", ms(2));
        t.add("attention", ms(7));
        let names: Vec<(&str, Duration, usize, Duration)> =
            t.stages().iter().map(|s| (s.stage, s.total, s.calls, s.first)).collect();
        assert_eq!(names, [("attention", ms(12), 2, ms(5)), ("mlp", ms(2), 1, ms(2))]);
    }

    #[test]
    fn the_table_lists_the_slowest_stage_first_with_its_share() {
        let mut t = StageTimes::default();
        t.add("rope", ms(1));
        t.add("attention", ms(2));
        t.add("attention", ms(1));
        assert_eq!(
            t.to_string(),
            "| stage | ms | calls | first call ms | share |\n|---|---|---|---|---|\n| attention | 3.0 | 2 | 2.0 | 75.0% |\n| rope | 1.0 | 1 | 1.0 | 25.0% |\n| total | 4.0 | | | |"
        );
    }

    #[test]
    fn an_empty_profile_has_a_zero_total() {
        assert_eq!(
            StageTimes::default().to_string(),
            "| stage | ms | calls | first call ms | share |\n|---|---|---|---|---|\n| total | 0.0 | | | |"
        );
    }
}
