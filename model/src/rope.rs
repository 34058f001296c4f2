//! Rotary position embeddings: the per-pair inverse frequencies, including Llama-3's rescaling of long
//! wavelengths, computed once on the host and shared by every backend.
//!
//! Pairs are split halves (`rotate_half` in transformers): element `i` rotates with element `i + head_dim / 2`.

use std::f64::consts::PI;

/// `rope_scaling` from `config.json`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Every frequency divided by `factor` (position interpolation).
    Linear {
        factor: f64,
    },
    /// Llama 3.1: long wavelengths divided by `factor`, short ones kept, a smooth blend between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_positions: f64,
    },
}

/// The inverse frequency of each rotated pair, `head_dim / 2` of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Rope {
    pub head_dim: usize,
    /// Rounded to f32 as transformers keeps them, so that backends rotate by the same angles.
    pub inv_freq: Vec<f32>,
}

impl Rope {
    pub fn new(head_dim: usize, theta: f64, scaling: RopeScaling) -> Rope {
        let half = head_dim / 2;
        let inv_freq = (0..half)
            .map(|i| {
                let base = 1.0 / theta.powf((2 * i) as f64 / head_dim as f64);
                scaled(base, scaling) as f32
            })
            .collect();
        Rope { head_dim, inv_freq }
    }

    /// `(cos, sin)` of every pair's angle at positions `0 .. positions`, row-major `[positions, head_dim / 2]`
    /// f32 in little-endian bytes, as a device upload takes them: the angles of [`Rope::rotate`], computed
    /// in f64 and rounded once, for a device to rotate by.
    ///
    /// A 128K-token pre-fill needs 262144 positions: 16.8M f64 `sin_cos`, over a second on one core
    /// of the dev machine, and the first pre-fill pays for it. The positions are split over the
    /// cores, and each thread writes the bytes itself; every entry is computed as it would be alone,
    /// so the tables do not depend on the split.
    pub fn tables_le_bytes(&self, positions: usize) -> (Vec<u8>, Vec<u8>) {
        const F32_BYTES: usize = 4;
        let pairs = self.inv_freq.len();
        let mut cos = vec![0u8; positions * pairs * F32_BYTES];
        let mut sin = vec![0u8; positions * pairs * F32_BYTES];
        if pairs == 0 {
            return (cos, sin);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        // At least 4096 positions a thread: below that a thread costs more than it saves.
        let rows_per_thread = positions.div_ceil(threads).max(4096);
        let row_bytes = pairs * F32_BYTES;
        let fill = |first: usize, cos: &mut [u8], sin: &mut [u8]| {
            for (row, (cos, sin)) in cos.chunks_mut(row_bytes).zip(sin.chunks_mut(row_bytes)).enumerate() {
                let p = (first + row) as f64;
                let entries = cos.chunks_exact_mut(F32_BYTES).zip(sin.chunks_exact_mut(F32_BYTES));
                for ((c, s), &freq) in entries.zip(&self.inv_freq) {
                    let (sine, cosine) = (p * freq as f64).sin_cos();
                    c.copy_from_slice(&(cosine as f32).to_le_bytes());
                    s.copy_from_slice(&(sine as f32).to_le_bytes());
                }
            }
        };
        std::thread::scope(|scope| {
            let chunk = rows_per_thread * row_bytes;
            for (i, (cos, sin)) in cos.chunks_mut(chunk).zip(sin.chunks_mut(chunk)).enumerate() {
                let fill = &fill;
                scope.spawn(move || fill(i * rows_per_thread, cos, sin));
            }
        });
        (cos, sin)
    }

    /// Rotates one head's vector (length `head_dim`) to position `position`, in place.
    pub fn rotate(&self, x: &mut [f32], position: usize) {
        let half = self.head_dim / 2;
        let (first, second) = x.split_at_mut(half);
        for ((a, b), &freq) in first.iter_mut().zip(second.iter_mut()).zip(&self.inv_freq) {
            let (sin, cos) = (position as f64 * freq as f64).sin_cos();
            let (x1, x2) = (*a as f64, *b as f64);
            *a = (x1 * cos - x2 * sin) as f32;
            *b = (x2 * cos + x1 * sin) as f32;
        }
    }
}

fn scaled(inv_freq: f64, scaling: RopeScaling) -> f64 {
    match scaling {
        RopeScaling::None => inv_freq,
        RopeScaling::Linear { factor } => inv_freq / factor,
        RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_positions } => {
            let wavelen = 2.0 * PI / inv_freq;
            let low_freq_wavelen = original_max_positions / low_freq_factor;
            let high_freq_wavelen = original_max_positions / high_freq_factor;
            if wavelen < high_freq_wavelen {
                inv_freq
            } else if wavelen > low_freq_wavelen {
                inv_freq / factor
            } else {
                let smooth =
                    (original_max_positions / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA3: RopeScaling = RopeScaling::Llama3 {
        factor: 8.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_positions: 8192.0,
    };

    fn unscaled(head_dim: usize, theta: f64) -> Vec<f32> {
        Rope::new(head_dim, theta, RopeScaling::None).inv_freq
    }

    #[test]
    fn unscaled_frequencies_follow_theta_powers() {
        let freq = unscaled(8, 10_000.0);
        let expected = [1.0, 0.1, 0.01, 0.001];
        assert!(freq.iter().zip(expected).all(|(f, e)| (*f as f64 - e).abs() < 1e-7 * e), "{freq:?}");
    }

    #[test]
    fn linear_scaling_divides_every_frequency() {
        let scaled = Rope::new(16, 500_000.0, RopeScaling::Linear { factor: 4.0 }).inv_freq;
        assert!(scaled.iter().zip(unscaled(16, 500_000.0)).all(|(s, u)| (s * 4.0 - u).abs() <= 1e-7 * u));
    }

    #[test]
    fn llama3_keeps_short_wavelengths() {
        // Pair 0 has wavelength 2π, far below 8192 / 4.
        let scaled = Rope::new(128, 500_000.0, LLAMA3).inv_freq;
        assert_eq!(scaled[0], unscaled(128, 500_000.0)[0]);
    }

    #[test]
    fn llama3_divides_long_wavelengths_by_factor() {
        // The last pair's wavelength (2π·500000^(126/128) ≈ 2.5M) is above 8192 / 1.
        let scaled = Rope::new(128, 500_000.0, LLAMA3).inv_freq;
        let plain = unscaled(128, 500_000.0);
        assert!((scaled[63] * 8.0 - plain[63]).abs() <= 1e-6 * plain[63]);
    }

    #[test]
    fn llama3_blends_between_the_two_bands() {
        let scaled = Rope::new(128, 500_000.0, LLAMA3).inv_freq;
        let plain = unscaled(128, 500_000.0);
        let medium = (0..64)
            .find(|&i| {
                let wavelen = 2.0 * PI / plain[i] as f64;
                (2048.0..=8192.0).contains(&wavelen)
            })
            .unwrap();
        assert!(scaled[medium] < plain[medium] && scaled[medium] > plain[medium] / 8.0);
    }

    /// Entry `at` of a little-endian f32 table.
    fn entry(table: &[u8], at: usize) -> f32 {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&table[4 * at..4 * at + 4]);
        f32::from_le_bytes(bytes)
    }

    #[test]
    fn tables_hold_each_positions_angles() {
        let rope = Rope::new(4, 10_000.0, RopeScaling::None);
        let (cos, sin) = rope.tables_le_bytes(3);
        // Row 2, pair 1: angle 2 · 0.01.
        let angle = 2.0 * rope.inv_freq[1] as f64;
        assert!((angle - 0.02).abs() < 1e-9);
        assert_eq!((cos.len(), entry(&cos, 5), entry(&sin, 5)), (24, angle.cos() as f32, angle.sin() as f32));
    }

    #[test]
    fn tables_split_over_threads_equal_each_entry_computed_alone() {
        // 10000 positions span several threads' rows (4096 at least each).
        let rope = Rope::new(8, 500_000.0, RopeScaling::None);
        let (cos, sin) = rope.tables_le_bytes(10_000);
        let pairs = rope.inv_freq.len();
        for p in [0, 1, 4095, 4096, 8191, 8192, 9999] {
            for (i, &freq) in rope.inv_freq.iter().enumerate() {
                let (s, c) = (p as f64 * freq as f64).sin_cos();
                let at = p * pairs + i;
                assert_eq!((entry(&cos, at), entry(&sin, at)), (c as f32, s as f32), "position {p}, pair {i}");
            }
        }
    }

    #[test]
    fn rotation_at_position_zero_is_identity() {
        let rope = Rope::new(4, 10_000.0, RopeScaling::None);
        let mut x = [0.3, -1.5, 2.0, 0.25];
        rope.rotate(&mut x, 0);
        assert_eq!(x, [0.3, -1.5, 2.0, 0.25]);
    }

    #[test]
    fn rotation_pairs_split_halves() {
        // Pair 0 has frequency 1: at position 1 it turns (1, 0) by one radian.
        let rope = Rope::new(4, 10_000.0, RopeScaling::None);
        let mut x = [1.0, 0.0, 0.0, 0.0];
        rope.rotate(&mut x, 1);
        let expected = [1f64.cos(), 0.0, 1f64.sin(), 0.0];
        assert!(x.iter().zip(expected).all(|(a, e)| (*a as f64 - e).abs() < 1e-6), "{x:?}");
    }
}
