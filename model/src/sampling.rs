//! Choosing the next token from logits: greedy (argmax), or temperature with nucleus (top-p) sampling
//! from a seeded generator, so that a run can be repeated exactly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use thiserror::Error;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    Greedy,
    /// Softmax of `logits / temperature`, restricted to the most likely tokens whose probabilities first
    /// reach `top_p`.
    Random {
        temperature: f32,
        top_p: f32,
        seed: u64,
    },
}

#[derive(Debug, Error, PartialEq)]
pub enum SamplingError {
    #[error("temperature must be a finite number above 0; got {0} (use greedy sampling for temperature 0)")]
    Temperature(f32),
    #[error("top_p must be in (0, 1]; got {0}")]
    TopP(f32),
    #[error("cannot sample from {count} logits: none is a finite number")]
    NoFiniteLogit { count: usize },
}

pub struct Sampler {
    sampling: Sampling,
    rng: StdRng,
    /// Reused between draws: (probability, token) of the current candidates.
    candidates: Vec<(f64, u32)>,
}

impl Sampler {
    pub fn new(sampling: Sampling) -> Result<Sampler, SamplingError> {
        let seed = match sampling {
            Sampling::Greedy => 0,
            Sampling::Random { temperature, top_p, seed } => {
                if !(temperature.is_finite() && temperature > 0.0) {
                    return Err(SamplingError::Temperature(temperature));
                }
                if !(top_p > 0.0 && top_p <= 1.0) {
                    return Err(SamplingError::TopP(top_p));
                }
                seed
            }
        };
        Ok(Sampler { sampling, rng: StdRng::seed_from_u64(seed), candidates: Vec::new() })
    }

    pub fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// The next token. Non-finite logits are never chosen; ties go to the lowest token id, as `argmax` does.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32, SamplingError> {
        let no_finite = || SamplingError::NoFiniteLogit { count: logits.len() };
        let (best, max) = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .fold(None, |best: Option<(usize, f32)>, (i, &l)| match best {
                Some((_, m)) if m >= l => best,
                _ => Some((i, l)),
            })
            .ok_or_else(no_finite)?;
        let Sampling::Random { temperature, top_p, .. } = self.sampling else {
            return Ok(best as u32);
        };
        self.candidates.clear();
        self.candidates.extend(logits.iter().enumerate().filter(|(_, l)| l.is_finite()).map(|(i, &l)| {
            let p = ((l as f64 - max as f64) / temperature as f64).exp();
            (p, i as u32)
        }));
        let total: f64 = self.candidates.iter().map(|c| c.0).sum();
        // Most likely first, ties by token id, so the nucleus does not depend on the sort's stability.
        self.candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut kept = 0;
        let mut mass = 0.0;
        for (p, _) in &self.candidates {
            kept += 1;
            mass += p;
            if mass >= top_p as f64 * total {
                break;
            }
        }
        let mut draw = self.rng.random::<f64>() * mass;
        for &(p, token) in &self.candidates[..kept] {
            if draw < p {
                return Ok(token);
            }
            draw -= p;
        }
        // Rounding can leave `draw` a hair above the last candidate's share.
        Ok(self.candidates[kept - 1].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(temperature: f32, top_p: f32, seed: u64) -> Sampler {
        Sampler::new(Sampling::Random { temperature, top_p, seed }).unwrap()
    }

    #[test]
    fn greedy_picks_the_largest_logit() {
        assert_eq!(Sampler::new(Sampling::Greedy).unwrap().sample(&[0.5, 3.0, -1.0, 2.9]), Ok(1));
    }

    #[test]
    fn greedy_breaks_ties_by_lowest_id() {
        assert_eq!(Sampler::new(Sampling::Greedy).unwrap().sample(&[1.0, 4.0, 4.0]), Ok(1));
    }

    #[test]
    fn greedy_skips_nan() {
        assert_eq!(Sampler::new(Sampling::Greedy).unwrap().sample(&[f32::NAN, -2.0, -3.0]), Ok(1));
    }

    #[test]
    fn all_nan_logits_are_an_error() {
        let error = Sampler::new(Sampling::Greedy).unwrap().sample(&[f32::NAN, f32::NAN]).unwrap_err();
        assert_eq!(error.to_string(), "cannot sample from 2 logits: none is a finite number");
    }

    #[test]
    fn zero_temperature_is_rejected() {
        let error = Sampler::new(Sampling::Random { temperature: 0.0, top_p: 0.9, seed: 1 }).err();
        assert_eq!(error, Some(SamplingError::Temperature(0.0)));
    }

    #[test]
    fn top_p_above_one_is_rejected() {
        let error = Sampler::new(Sampling::Random { temperature: 1.0, top_p: 1.5, seed: 1 }).err();
        assert_eq!(error, Some(SamplingError::TopP(1.5)));
    }

    fn draws(seed: u64, logits: &[f32]) -> Vec<u32> {
        let mut sampler = random(1.0, 1.0, seed);
        (0..20).map(|_| sampler.sample(logits).unwrap()).collect()
    }

    #[test]
    fn same_seed_gives_same_tokens() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
        assert_eq!(draws(7, &logits), draws(7, &logits));
    }

    #[test]
    fn different_seeds_give_different_tokens() {
        assert_ne!(draws(1, &[0.0; 64]), draws(2, &[0.0; 64]));
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // Probabilities ≈ [0.665, 0.245, 0.090]: top_p 0.6 keeps only token 0.
        let mut sampler = random(1.0, 0.6, 3);
        let tokens: Vec<_> = (0..200).map(|_| sampler.sample(&[2.0, 1.0, 0.0]).unwrap()).collect();
        assert!(tokens.iter().all(|&t| t == 0), "{tokens:?}");
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        // Temperature 2 halves the logits: probabilities ∝ [e^1, e^0] ≈ [0.731, 0.269].
        let mut sampler = random(2.0, 1.0, 11);
        let n = 20_000;
        let zeros = (0..n).filter(|_| sampler.sample(&[2.0, 0.0]).unwrap() == 0).count();
        let expected = 1.0 / (1.0 + (-1f64).exp());
        assert!((zeros as f64 / n as f64 - expected).abs() < 0.015, "{zeros}");
    }

    #[test]
    fn low_temperature_concentrates_on_the_argmax() {
        let mut sampler = random(0.01, 1.0, 5);
        let tokens: Vec<_> = (0..100).map(|_| sampler.sample(&[1.0, 1.5, 1.2]).unwrap()).collect();
        assert!(tokens.iter().all(|&t| t == 1), "{tokens:?}");
    }
}
