//! bench.md: one table per run, the card in the heading, our rows per length followed
//! by the peers' rows when peers.json was merged, and notes for every failure.

use super::super::table::Table;
use super::peers::{Peer, Peers};
use super::results::{causal_tiles, tile_flops, Report, Stage, DENSE, FLEX_BLOCK};
use super::sweep::{CANDIDATE_TURNS, RUNS_PER_TURN};

/// Milliseconds with three significant-ish digits for short times.
pub fn ms(x: f64) -> String {
    if x < 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.2}")
    }
}

fn ratio(x: Option<f64>) -> String {
    x.map_or("-".into(), |r| format!("{r:.2}x"))
}

pub fn render(report: &Report, peers: Option<&Peers>) -> String {
    let mut out = format!("# sparsefill bench on {}\n\n", report.card);
    out += &format!(
        "- {}, {}, driver {}; {}; commit {}\n",
        report.card,
        report.arch,
        report.driver,
        report.date,
        report.commit.as_deref().unwrap_or("unknown")
    );
    out += &format!("- command: `{}`\n", report.command);
    out += &format!(
        "- one sequence, kv heads = H/4, D {}, bf16, causal; synthetic inputs ({} knobs); CUDA-event medians of {} runs after {} warm-up{}\n",
        report.head_dim,
        report.knobs,
        report.iters,
        report.warmup,
        match report.settle_ms {
            0 => String::new(),
            ms => format!(" and {ms} ms of untimed runs (the GPU at its sustained clocks)"),
        }
    );
    out += "- density: computed 64×64 tiles / causal tiles; TFLOP/s: the attention stage on the tiles it computes; \
            vs our dense: our dense total / this total\n";
    out +=
        "- total: the stages' launches back to back, timed as one range; est, index and attn: each stage timed apart\n";
    if let Some(p) = peers {
        out += &format!(
            "- peers (peers.json, same run): torch {} on {}: SDPA dense causal, and FlexAttention over the {FLEX_BLOCK}×{FLEX_BLOCK} \
             blocks covering our pattern's mask (density there: covered blocks / causal blocks){}\n",
            p.torch,
            p.card,
            match p.settle_ms {
                0 => String::new(),
                ms => format!("; timed after {ms} ms of untimed calls"),
            }
        );
    }
    let mut header = vec![
        "S",
        "H",
        "pattern",
        "density",
        "est ms",
        "index ms",
        "attn ms",
        "total ms",
        "attn TFLOP/s",
        "vs our dense",
    ];
    if peers.is_some() {
        header.push("vs SDPA cuDNN");
    }
    header.push("check");
    let mut table = Table::new(&header);
    let mut notes = Vec::new();
    for length in &report.lengths {
        let theirs = peers.and_then(|p| p.length(length.len));
        if peers.is_some() && theirs.is_none() {
            notes.push(format!("S={}: peers.json has no numbers for this length", length.len));
        }
        let cudnn = theirs.and_then(|t| t.cudnn.ms.as_ref().ok().copied());
        let vs_cudnn = |total: f64| cudnn.map(|c| c / total);
        for run in &length.runs {
            let name = if run.pattern == DENSE { "dense (ours)".to_string() } else { run.pattern.clone() };
            let mut cells = vec![length.len.to_string(), length.heads.to_string(), name];
            match &run.result {
                Ok(t) => {
                    let stage = |s: &Option<Stage>| s.as_ref().map_or("-".into(), |s| ms(s.ms));
                    cells.extend([
                        format!("{:.4}", t.density()),
                        stage(&t.estimation),
                        stage(&t.index),
                        ms(t.attention.ms),
                        ms(t.total_ms()),
                        format!("{:.0}", t.attention_tflops(report.head_dim)),
                        ratio(length.speedup(t.total_ms())),
                    ]);
                    if peers.is_some() {
                        cells.push(ratio(vs_cudnn(t.total_ms())));
                    }
                    if t.chunks > 1 {
                        notes.push(format!(
                            "S={} {}: total in {} chunks of heads, each chunk's estimation beside the attention of the \
                             chunk before (est, index and attn: the launches in one piece)",
                            length.len, run.pattern, t.chunks
                        ));
                    }
                    cells.push(match &t.check {
                        Ok(rows) => format!("ok ({rows} rows)"),
                        Err(e) => {
                            notes.push(format!("S={} {}: check failed: {e}", length.len, run.pattern));
                            "FAILED".into()
                        }
                    });
                }
                Err(e) => {
                    notes.push(format!("S={} {}: did not run: {e}", length.len, run.pattern));
                    cells.push("did not run (see notes)".into());
                }
            }
            table.row(cells);
        }
        if let Some(theirs) = theirs {
            let dense_tiles = causal_tiles(length.len, length.heads);
            let mut peer_row = |name: String, peer: &Peer, density: f64, flops: f64| {
                let mut cells = vec![length.len.to_string(), length.heads.to_string(), name.clone()];
                match &peer.ms {
                    Ok(x) => cells.extend([
                        format!("{density:.4}"),
                        "-".into(),
                        "-".into(),
                        ms(*x),
                        ms(*x),
                        format!("{:.0}", flops / (x * 1e9)),
                        ratio(length.speedup(*x)),
                        ratio(vs_cudnn(*x)),
                        "-".into(),
                    ]),
                    Err(e) => {
                        notes.push(format!("S={} {name}: failed: {}", length.len, first_line(e)));
                        cells.push("failed (see notes)".into());
                    }
                }
                if let Some(note) = &peer.note {
                    notes.push(format!("S={} {name}: {note}", length.len));
                }
                table.row(cells);
            };
            let dense_flops = tile_flops(dense_tiles, report.head_dim);
            peer_row("SDPA cuDNN (torch)".into(), &theirs.cudnn, 1.0, dense_flops);
            peer_row("SDPA flash (torch)".into(), &theirs.flash, 1.0, dense_flops);
            for run in &length.runs {
                let (Some(peer), Ok(Some(cover))) = (theirs.flex(&run.pattern), run.result.as_ref().map(|t| &t.cover))
                else {
                    continue;
                };
                let density = cover.blocks_set as f64 / cover.causal_blocks as f64;
                let flops = flex_flops(cover.blocks_set, report.head_dim);
                peer_row(format!("Flex over {} (torch)", run.pattern), peer, density, flops);
            }
        }
    }
    out += "\n";
    out += &table.render();
    out += &candidates(report, &mut notes);
    if !notes.is_empty() {
        out += "\nNotes:\n\n";
        for note in notes {
            out += &format!("- {note}\n");
        }
    }
    out
}

/// The `--candidate` table, if a run has one: the candidate's launch against the shipped
/// one it replaces, timed in turns in one process.
fn candidates(report: &Report, notes: &mut Vec<String>) -> String {
    let mut table =
        Table::new(&["S", "H", "pattern", "candidate", "shipped ms", "candidate ms", "candidate / shipped", "check"]);
    let mut any = false;
    for length in &report.lengths {
        for run in &length.runs {
            let Ok(t) = run.result.as_ref() else { continue };
            for c in [&t.candidate, &t.overlap].into_iter().flatten() {
                any = true;
                let check = match &c.check {
                    Ok(rows) => format!("ok ({rows} rows)"),
                    Err(e) => {
                        notes.push(format!("S={} {} candidate {}: check failed: {e}", length.len, run.pattern, c.file));
                        "FAILED".into()
                    }
                };
                table.row(vec![
                    length.len.to_string(),
                    length.heads.to_string(),
                    run.pattern.clone(),
                    format!("`{}`", c.file),
                    ms(c.shipped_ms),
                    ms(c.candidate_ms),
                    format!("{:.3}", c.candidate_ms / c.shipped_ms),
                    check,
                ]);
            }
        }
    }
    if any {
        format!("\nCandidates, each timed in turns with the shipped launches it replaces ({} turns of {} runs, medians; a kernel against the shipped kernel, the launches in chunks of heads against the estimation, index and attention in one piece):\n\n{}", CANDIDATE_TURNS, RUNS_PER_TURN, table.render())
    } else {
        String::new()
    }
}

/// Flex computes every causal key of each covered 128×128 block: 4 · 128 · 128 · D each.
pub fn flex_flops(blocks: usize, head_dim: usize) -> f64 {
    blocks as f64 * 4.0 * (FLEX_BLOCK * FLEX_BLOCK * head_dim) as f64
}

/// A peer's error can hold a traceback: the table notes keep its first line.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
