//! Helpers shared by the model crate's integration tests: tiny checkpoints in temporary directories and
//! the independent f64 reference forward pass.

#![allow(dead_code)]

pub mod reference;

use sparsefill_model::synthetic::{write_checkpoint, SyntheticSpec};
use tempfile::TempDir;

/// A fresh directory holding the checkpoint `spec` describes.
pub fn checkpoint(spec: &SyntheticSpec) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_checkpoint(dir.path(), spec).expect("the synthetic checkpoint is written");
    dir
}

/// `len` token ids drawn from `0..vocab` by a small LCG, so prompts differ with the seed.
pub fn prompt(len: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) % vocab as u64) as u32
        })
        .collect()
}

/// The largest absolute difference, scaled by the largest reference magnitude.
pub fn relative_max_error(got: &[f32], expected: &[f64]) -> f64 {
    assert_eq!(got.len(), expected.len(), "logit counts differ");
    assert!(got.iter().all(|v| v.is_finite()), "non-finite logits");
    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs()));
    got.iter().zip(expected).map(|(g, e)| (*g as f64 - e).abs()).fold(0.0, f64::max) / scale
}

pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as u32
}
