//! Two lanes for a sequence of launches: the GPU's stream ([`Lane::Main`]) and a second
//! one ([`Lane::Side`]), so that launches that share no buffer can run at the same time
//! (vertical-slash's two selections, each a few dozen programs on a 132-SM card).
//!
//! A launch sequence names each launch's lane and the buffers it takes; [`schedule`] adds
//! the waits that keep every launch after the ones it depends on, judged by shared
//! buffers alone (read or written, so the rule is conservative):
//! - a side launch **forks** (the side stream waits for the main stream's work so far)
//!   when it is the sequence's first side launch (so it follows whatever the caller
//!   queued before: uploads, poisoned outputs, an earlier run), or when it shares a
//!   buffer with a main launch queued since the last fork. A join does not make the next
//!   side launch wait: main launches since the last fork that share nothing with it may
//!   run beside it (the vertical-slash plan in chunks of heads queues one chunk's
//!   estimation on the side right after the chunk before it attends on the main stream);
//! - a main launch **joins** (the main stream waits for the side stream's work so far)
//!   when it shares a buffer with a side launch queued since the last join;
//! - the sequence ends with a join if a side launch is still pending, so that whatever
//!   the caller queues next on the main stream (a download, a timing event) follows
//!   everything.
//!
//! Listed in order, the launches are also a valid serial order: a runner without a second
//! stream (the interpreter) runs them as listed.

use crate::error::RuntimeError;
use crate::gpu::Gpu;

/// Which stream a launch goes on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lane {
    /// The GPU's stream, where uploads, downloads and timing events go.
    #[default]
    Main,
    /// The second stream, which waits for the main one only where [`schedule`] says.
    Side,
}

/// One step of a scheduled launch sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The side stream waits for the work queued on the main stream so far.
    Fork,
    /// Launch `at` of the sequence, on `lane`.
    Launch { at: usize, lane: Lane },
    /// The main stream waits for the work queued on the side stream so far.
    Join,
}

/// The launches of `launches` (each its lane and the buffers it takes) with the forks and
/// joins that order them (see the module documentation).
pub fn schedule<K: PartialEq>(launches: &[(Lane, Vec<K>)]) -> Vec<Step> {
    let mut steps = Vec::with_capacity(launches.len() + 2);
    // Buffers taken on the main lane since the last fork, and on the side lane since the
    // last join; `forked` says whether the sequence has forked yet.
    let mut main_since_fork: Vec<&K> = Vec::new();
    let mut side_since_join: Vec<&K> = Vec::new();
    let mut forked = false;
    let mut side_pending = false;
    let shares = |taken: &[&K], buffers: &[K]| buffers.iter().any(|b| taken.contains(&b));
    for (at, (lane, buffers)) in launches.iter().enumerate() {
        match lane {
            Lane::Side => {
                if !forked || shares(&main_since_fork, buffers) {
                    steps.push(Step::Fork);
                    main_since_fork.clear();
                    forked = true;
                }
                side_since_join.extend(buffers.iter());
                side_pending = true;
            }
            Lane::Main => {
                if shares(&side_since_join, buffers) {
                    steps.push(Step::Join);
                    side_since_join.clear();
                    side_pending = false;
                }
                main_since_fork.extend(buffers.iter());
            }
        }
        steps.push(Step::Launch { at, lane: *lane });
    }
    if side_pending {
        steps.push(Step::Join);
    }
    steps
}

/// Queues `launches` on `gpu` in [`schedule`]'s order, with its forks and joins;
/// `launch(at, lane)` queues launch `at` on `lane` ([`Gpu::launch_on`]), and `waiting`
/// turns a failed fork or join into the caller's error. Stops at the first error, after
/// which the side stream may still hold launches: [`Gpu::synchronize`] waits for both
/// streams.
pub fn queue<K: PartialEq, E>(
    gpu: &Gpu,
    launches: &[(Lane, Vec<K>)],
    mut launch: impl FnMut(usize, Lane) -> Result<(), E>,
    waiting: impl Fn(RuntimeError) -> E,
) -> Result<(), E> {
    for step in schedule(launches) {
        match step {
            Step::Fork => gpu.fork_side().map_err(&waiting)?,
            Step::Join => gpu.join_side().map_err(&waiting)?,
            Step::Launch { at, lane } => launch(at, lane)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    /// `launches` as `lane:buffers` words (`m:ab` a main launch taking buffers a and b),
    /// scheduled and printed a step a word.
    fn check(launches: &str, expected: Expect) {
        let parsed: Vec<(Lane, Vec<char>)> = launches
            .split_whitespace()
            .map(|w| {
                let (lane, buffers) = w.split_once(':').expect("lane:buffers");
                let lane = if lane == "s" { Lane::Side } else { Lane::Main };
                (lane, buffers.chars().collect())
            })
            .collect();
        let printed: Vec<String> = schedule(&parsed)
            .into_iter()
            .map(|s| match s {
                Step::Fork => "fork".to_string(),
                Step::Join => "join".to_string(),
                Step::Launch { at, lane: Lane::Main } => format!("m{at}"),
                Step::Launch { at, lane: Lane::Side } => format!("s{at}"),
            })
            .collect();
        expected.assert_eq(&printed.join(" "));
    }

    #[test]
    fn main_launches_alone_need_no_waits() {
        check("m:ab m:bc m:c", expect!["m0 m1 m2"]);
    }

    #[test]
    fn a_side_launch_forks_and_the_sequence_ends_joined() {
        check("m:ab s:bc", expect!["m0 fork s1 join"]);
    }

    #[test]
    fn side_launches_in_a_row_fork_once() {
        check("s:a s:ab s:b", expect!["fork s0 s1 s2 join"]);
    }

    #[test]
    fn a_main_launch_on_other_buffers_runs_beside_the_side_ones() {
        check("m:a s:ab m:c m:cd", expect!["m0 fork s1 m2 m3 join"]);
    }

    #[test]
    fn a_main_launch_sharing_a_side_buffer_joins_first() {
        check("s:ab m:c m:bc", expect!["fork s0 m1 join m2"]);
    }

    #[test]
    fn a_side_launch_after_a_join_on_other_buffers_does_not_wait_for_the_main_stream() {
        check("s:a m:a s:b", expect!["fork s0 join m1 s2 join"]);
    }

    #[test]
    fn a_side_launch_after_a_join_sharing_a_main_buffer_forks_again() {
        check("s:a m:a s:a", expect!["fork s0 join m1 fork s2 join"]);
    }

    #[test]
    fn chunks_each_estimated_on_the_side_while_the_one_before_attends() {
        // chunk c: estimate e_c on the side writing its index x_c, attention m reading it.
        check("s:aA m:A s:bB m:B s:cC m:C", expect!["fork s0 join m1 s2 join m3 s4 join m5"]);
    }

    #[test]
    fn a_side_launch_sharing_a_later_main_buffer_forks_again() {
        check("s:a m:b s:b", expect!["fork s0 m1 fork s2 join"]);
    }

    #[test]
    fn a_side_launch_on_other_buffers_does_not_wait_for_later_main_launches() {
        check("s:a m:b s:c", expect!["fork s0 m1 s2 join"]);
    }

    #[test]
    fn vertical_slash_selections_overlap_until_the_conversion() {
        // scores V and S; the vertical selection on the side, the slash one and its chain
        // on the main lane, the conversion reading both.
        check("m:V s:Vv s:Vv m:S m:Ss m:s m:vs", expect!["m0 fork s1 s2 m3 m4 m5 join m6"]);
    }

    #[test]
    fn an_empty_sequence_has_no_steps() {
        check("", expect![""]);
    }
}
