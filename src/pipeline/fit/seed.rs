//! Automatic starting values, read off the histogram (in bin units): the pedestal peak
//! and its width, the pedestal fraction (hence μ = −ln f₀), the SPE peak beyond the
//! valley, and moments for what the peaks cannot tell. A fit that starts close converges
//! in a few dozen iterations and never wanders into a wrong minimum.

use crate::pipeline::histogram::moving_average;

/// Starting values for the Poisson models, in bin units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Start {
    pub norm: f64,
    pub q0: f64,
    pub s0: f64,
    pub q1: f64,
    pub s1: f64,
    pub mu: f64,
}

/// The pedestal: the leftmost clear peak of the smoothed spectrum, with its width from
/// the half maximum on its left flank (the right flank carries the signal).
pub(super) fn pedestal(counts: &[f64]) -> (f64, f64) {
    // The average widens where the counts are few (a sparse histogram: few events in fine
    // bins), so that a fluctuation of a few counts on the pedestal's flank does not stand
    // out as a peak of its own: the window around the highest bin holds ≥ ~150 counts
    // (±1 bin down to 50 counts in the highest bin, at most ±8).
    let raw_max = counts.iter().copied().fold(0.0, f64::max).max(1.0);
    let half = ((150.0 / raw_max - 1.0) / 2.0).ceil().clamp(1.0, 8.0) as usize;
    let s = moving_average(counts, half);
    let max = s.iter().copied().fold(0.0, f64::max);
    let n = s.len();
    let mut peak = s
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    for i in 0..n {
        let left = if i > 0 { s[i - 1] } else { 0.0 };
        let right = if i + 1 < n { s[i + 1] } else { 0.0 };
        if s[i] >= 0.05 * max && s[i] >= left && s[i] > right {
            // Require it to be a real peak: it must stand out over the next few bins.
            let ahead = s[(i + 1)..(i + 6).min(n)]
                .iter()
                .copied()
                .fold(0.0, f64::max);
            if ahead <= s[i] {
                peak = i;
                break;
            }
        }
    }
    let half = 0.5 * s[peak];
    let mut j = peak;
    while j > 0 && s[j] > half {
        j -= 1;
    }
    let hwhm = if s[j] <= half && j < peak {
        // Interpolate the crossing between j and j + 1.
        let frac = (half - s[j]) / (s[j + 1] - s[j]).max(1e-300);
        (peak - j) as f64 - frac
    } else {
        1.0
    };
    let sigma = (hwhm / 1.1774).max(0.5);
    // Refine the centre with a parabola through the logs of the three raw bins around
    // the peak (exact for a Gaussian), so μ from the pedestal fraction is not biased by
    // where the bin edges happen to fall.
    let mut centre = peak as f64 + 0.5;
    if peak > 0 && peak + 1 < n {
        let (a, b, c) = (counts[peak - 1], counts[peak], counts[peak + 1]);
        if a > 0.0 && b > 0.0 && c > 0.0 {
            let (la, lb, lc) = (a.ln(), b.ln(), c.ln());
            let den = la - 2.0 * lb + lc;
            if den < 0.0 {
                centre += (0.5 * (la - lc) / den).clamp(-1.0, 1.0);
            }
        }
    }
    (centre, sigma)
}

/// Starting values for `poisson-gauss` / `bellamy`.
pub(super) fn poisson_start(counts: &[f64]) -> Start {
    let total: f64 = counts.iter().sum();
    let (q0, s0) = pedestal(counts);
    // Pedestal events: twice the events left of the peak (its left flank is nearly free
    // of signal), plus the peak bin itself.
    let ip = (q0.floor().max(0.0) as usize).min(counts.len() - 1);
    let left: f64 = counts[..ip].iter().sum::<f64>() + counts[ip] * (q0 - ip as f64);
    let n_ped = (2.0 * left).min(total);
    let mu = (-(n_ped.max(1.0) / total).ln()).clamp(0.01, 8.0);
    // Moments of the whole spectrum: mean = q0 + μ q1, var = s0² + μ (s1² + q1²).
    let mean = mean_bin(counts);
    let var = counts
        .iter()
        .enumerate()
        .map(|(i, c)| (i as f64 + 0.5 - mean).powi(2) * c)
        .sum::<f64>()
        / total;
    let mut q1 = ((mean - q0) / mu).max(3.0 * s0);
    // A visible SPE peak beyond the valley is a better guide than the moments when the
    // occupancy is low (the moments are pulled by the tail).
    if mu < 1.5
        && let Some(peak) = spe_peak(counts, q0, s0)
        && (0.5 * q1..=1.6 * q1).contains(&(peak - q0))
    {
        q1 = peak - q0;
    }
    let s1_sq = (var - s0 * s0) / mu - q1 * q1;
    let s1 = if s1_sq.is_finite() && s1_sq > 0.0 {
        s1_sq.sqrt()
    } else {
        0.35 * q1
    }
    .clamp(0.15 * q1, 0.7 * q1);
    Start {
        norm: total,
        q0,
        s0,
        q1,
        s1,
        mu,
    }
}

/// The mean bin position of a spectrum (bin centres at i + 0.5).
fn mean_bin(counts: &[f64]) -> f64 {
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| (i as f64 + 0.5) * c)
        .sum::<f64>()
        / counts.iter().sum::<f64>().max(1.0)
}

/// A second start for a spectrum whose moment start has Q1 = `q1`: the SPE bump seen
/// beyond the valley, where it lies outside 0.6–1.6 × `q1` (out of reach of starts scaled
/// from the moment one), as (Q1, μ) with μ from the spectrum's mean. At low occupancy the
/// pedestal count behind the moment start's μ is noise (μ 0.1 read as 0.01 on 20,000
/// events) and its Q1 = mean / μ lands several times too high.
pub(super) fn peak_start(counts: &[f64], q0: f64, s0: f64, q1: f64) -> Option<(f64, f64)> {
    let peak_q1 = spe_peak(counts, q0, s0)? - q0;
    (peak_q1 > 0.0 && !(0.6 * q1..=1.6 * q1).contains(&peak_q1)).then(|| {
        (
            peak_q1,
            ((mean_bin(counts) - q0) / peak_q1).clamp(0.01, 8.0),
        )
    })
}

/// The highest point of the smoothed spectrum beyond the pedestal's valley, if any.
pub(super) fn spe_peak(counts: &[f64], q0: f64, s0: f64) -> Option<f64> {
    let s = moving_average(counts, 2);
    let start = (q0 + 3.0 * s0).ceil() as usize;
    if start + 3 >= s.len() {
        return None;
    }
    // Walk down into the valley first, then take the maximum after it.
    let mut v = start;
    while v + 1 < s.len() && s[v + 1] <= s[v] {
        v += 1;
    }
    let (i, &h) = s[v..]
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    (h > s[v] * 1.1 && h > 0.0).then_some((v + i) as f64 + 0.5)
}

/// Starting values for the 1PE + 2PE Gaussian pair: (norm, frac1, q1, s1, s2), with q1
/// measured from `origin` (the bin-unit position of charge zero).
pub(super) fn seed_start(counts: &[f64], origin: f64) -> [f64; 5] {
    let total: f64 = counts.iter().sum();
    let s = moving_average(counts, 2);
    let peak = s
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0.0, |(i, _)| i as f64 + 0.5);
    let mean = counts
        .iter()
        .enumerate()
        .map(|(i, c)| (i as f64 + 0.5) * c)
        .sum::<f64>()
        / total.max(1.0);
    let q1 = (peak - origin).max(1.0);
    let s1 = (0.3 * q1).max(1.0);
    // mean = q1 (f + 2 (1 − f))  →  f = 2 − mean / q1
    let f = (2.0 - (mean - origin) / q1).clamp(0.3, 0.98);
    [total, f, q1, s1, s1 * 2f64.sqrt()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spectrum(q0: f64, s0: f64, q1: f64, s1: f64, mu: f64, bins: usize) -> Vec<f64> {
        let mut nu = vec![0.0; bins];
        super::super::models::Kind::PoissonGauss.eval(&[1e5, q0, s0, q1, s1, mu], &mut nu, None);
        nu
    }

    #[test]
    fn finds_pedestal_and_spe_at_low_and_high_occupancy() {
        for mu in [0.1, 0.5, 1.0, 2.0] {
            let st = poisson_start(&spectrum(20.0, 3.0, 40.0, 12.0, mu, 300));
            assert!((st.q0 - 20.0).abs() < 1.5, "mu {mu}: q0 {}", st.q0);
            assert!((st.s0 - 3.0).abs() < 1.0, "mu {mu}: s0 {}", st.s0);
            assert!((st.mu / mu - 1.0).abs() < 0.25, "mu {mu}: mu {}", st.mu);
            assert!((st.q1 / 40.0 - 1.0).abs() < 0.3, "mu {mu}: q1 {}", st.q1);
        }
    }
}
