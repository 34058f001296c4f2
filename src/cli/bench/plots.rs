//! The three plots of a run, ours and (when merged) the peers' on the same axes, the
//! card in every title: latency vs length, speedup vs our dense kernel, and TFLOP/s
//! on the tiles each kernel computes.

use super::markdown::flex_flops;
use super::peers::{Peer, PeerLength, Peers};
use super::results::{causal_tiles, tile_flops, LengthRun, Report, Timing, DENSE};
use super::svg::{Chart, Scale, Series};

/// What one plot shows of a measurement.
#[derive(Clone, Copy)]
enum Metric {
    Latency,
    Speedup,
    Tflops,
}

pub fn charts(report: &Report, peers: Option<&Peers>) -> Vec<(&'static str, Chart)> {
    let card = &report.card;
    [
        (
            "latency.svg",
            Metric::Latency,
            format!("End-to-end latency vs length — {card}"),
            "total ms (log)",
            Scale::Log10,
        ),
        (
            "speedup.svg",
            Metric::Speedup,
            format!("Speedup vs our dense kernel — {card}"),
            "our dense ms / ms",
            Scale::Linear,
        ),
        (
            "tflops.svg",
            Metric::Tflops,
            format!("Attention TFLOP/s on computed tiles — {card}"),
            "TFLOP/s",
            Scale::Linear,
        ),
    ]
    .into_iter()
    .map(|(file, metric, title, y_label, y_scale)| {
        let chart = Chart {
            title,
            x_label: "sequence length (tokens, log scale)".into(),
            y_label: y_label.into(),
            x_scale: Scale::Log2,
            y_scale,
            series: series(report, peers, metric),
        };
        (file, chart)
    })
    .collect()
}

fn ours(report: &Report, length: &LengthRun, t: &Timing, metric: Metric) -> Option<f64> {
    match metric {
        Metric::Latency => Some(t.total_ms()),
        Metric::Speedup => length.speedup(t.total_ms()),
        Metric::Tflops => Some(t.attention_tflops(report.head_dim)),
    }
}

/// A peer's value; `flops` is the work it did, for TFLOP/s.
fn theirs(length: &LengthRun, peer: &Peer, flops: f64, metric: Metric) -> Option<f64> {
    let ms = *peer.ms.as_ref().ok()?;
    match metric {
        Metric::Latency => Some(ms),
        Metric::Speedup => length.speedup(ms),
        Metric::Tflops => Some(flops / (ms * 1e9)),
    }
}

fn series(report: &Report, peers: Option<&Peers>, metric: Metric) -> Vec<Series> {
    let mut patterns: Vec<&str> = Vec::new();
    for run in report.lengths.iter().flat_map(|l| &l.runs) {
        if !patterns.contains(&run.pattern.as_str()) {
            patterns.push(&run.pattern);
        }
    }
    let mut out: Vec<Series> = patterns
        .iter()
        .map(|&pattern| {
            let points = report
                .lengths
                .iter()
                .filter_map(|l| {
                    let t = l.runs.iter().find(|r| r.pattern == pattern)?.result.as_ref().ok()?;
                    Some((l.len as f64, ours(report, l, t, metric)?))
                })
                .collect();
            let name = if pattern == DENSE { "dense (ours)".to_string() } else { pattern.to_string() };
            Series { name, points, dashed: false }
        })
        .collect();
    if let Some(peers) = peers {
        out.extend(peer_series(report, peers, &patterns, metric));
    }
    // A pattern that failed at every length has nothing to draw.
    out.retain(|s| !s.points.is_empty());
    out
}

/// A peer's point at one length: (length, value), if it has one.
type Pick<'a> = &'a dyn Fn(&LengthRun, &PeerLength) -> Option<(f64, f64)>;

/// SDPA (cuDNN, flash) and Flex over each pattern's cover, dashed.
fn peer_series(report: &Report, peers: &Peers, patterns: &[&str], metric: Metric) -> Vec<Series> {
    let mut out = Vec::new();
    let peer_series = |name: String, pick: Pick| {
        let points = report.lengths.iter().filter_map(|l| pick(l, peers.length(l.len)?)).collect();
        Series { name, points, dashed: true }
    };
    let dense_flops = |l: &LengthRun| tile_flops(causal_tiles(l.len, l.heads), report.head_dim);
    out.push(peer_series("SDPA cuDNN (torch)".into(), &|l, p| {
        Some((l.len as f64, theirs(l, &p.cudnn, dense_flops(l), metric)?))
    }));
    out.push(peer_series("SDPA flash (torch)".into(), &|l, p| {
        Some((l.len as f64, theirs(l, &p.flash, dense_flops(l), metric)?))
    }));
    for &pattern in patterns.iter().filter(|&&p| p != DENSE) {
        out.push(peer_series(format!("Flex over {pattern} (torch)"), &|l, p| {
            let run = l.runs.iter().find(|r| r.pattern == pattern)?.result.as_ref().ok()?;
            let cover = run.cover.as_ref()?;
            Some((l.len as f64, theirs(l, p.flex(pattern)?, flex_flops(cover.blocks_set, report.head_dim), metric)?))
        }));
    }
    out
}
