//! The default model's asymptotic bias: fits of *expected* spectra (the "Asimov" data set:
//! every bin holds its expectation, no noise) computed here independently of the fit's own
//! transform — the single-photoelectron response on a fine grid, its n-fold convolutions
//! summed with Poisson weights and smeared by the pedestal directly. What such a fit
//! returns is where the fit converges with unlimited statistics: its deviation from the
//! truth is the model's own mismatch to the shape, free of the finite-sample effects that
//! a grid of simulated points mixes in (BENCHMARKS.md, "Accuracy").

use pmtwatch::pipeline::fit::{Model, Status, fit};
use pmtwatch::pipeline::histogram::Histogram;

/// The true under-amplified shapes, in units of Q1 (those of `simulate`).
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Uniform in 0.2–0.4 Q1: the simulator's default.
    Box,
    /// Exponential of mean 0.3 Q1: a continuum down to zero charge.
    Exponential,
}

/// Expected spectrum of `events` events at occupancy `mu`, charges in units of Q1: a
/// Gaussian pedestal N(0, σ0), photoelectrons N(1, σ1) truncated at 0 or, with probability
/// `w`, under-amplified with `shape`. Bins of `width` from −1.
fn expected(mu: f64, w: f64, shape: Shape, events: f64) -> Histogram {
    let (s0, s1) = (0.115, 0.3);
    let step = 0.0025;
    let top = 3.0 + mu + 6.0 * mu.sqrt() + 2.0;
    let n = (top / step) as usize;
    let x = |i: usize| i as f64 * step;
    // Single photoelectron as point masses at x(i) = i·step (each the probability of the
    // cell x(i) ± step/2, the cell at 0 only its positive half), so that convolutions add
    // indices exactly.
    let gauss = |q: f64| (-0.5 * ((q - 1.0) / s1).powi(2)).exp();
    let mut spe: Vec<f64> = (0..n)
        .map(|i| gauss(x(i)) * if i == 0 { 0.5 } else { 1.0 })
        .collect();
    let total: f64 = spe.iter().sum();
    spe.iter_mut().for_each(|v| *v *= (1.0 - w) / total);
    let ua: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = ((x(i) - 0.5 * step).max(0.0), x(i) + 0.5 * step);
            match shape {
                Shape::Box => ((b.min(0.4) - a.max(0.2)).max(0.0)) / 0.2,
                Shape::Exponential => (-a / 0.3).exp() - (-b / 0.3).exp(),
            }
        })
        .collect();
    spe.iter_mut().zip(&ua).for_each(|(s, u)| *s += w * u);
    // Σₙ P(n; μ) f^{⊛n}, n up to where the Poisson tail is negligible.
    let mut sum = vec![0.0; n];
    sum[0] = (-mu).exp();
    let mut power = spe.clone();
    let mut p = (-mu).exp();
    for k in 1..=((mu + 8.0 * mu.sqrt() + 6.0) as usize) {
        p *= mu / k as f64;
        sum.iter_mut().zip(&power).for_each(|(s, f)| *s += p * f);
        let mut next = vec![0.0; n];
        for (i, a) in power.iter().enumerate().filter(|(_, a)| **a > 1e-16) {
            for (j, b) in spe.iter().enumerate().take(n - i) {
                next[i + j] += a * b;
            }
        }
        power = next;
    }
    // The pedestal's smearing, integrated into the histogram's bins.
    let (lo, width) = (-1.0, 0.02);
    let bins = ((top + 1.0) / width) as usize;
    let mut counts = vec![0.0; bins];
    let cdf = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
    for (i, m) in sum.iter().enumerate().filter(|(_, m)| **m > 0.0) {
        let q = x(i);
        let first = (((q - 6.0 * s0) - lo) / width).floor().max(0.0) as usize;
        let last = ((((q + 6.0 * s0) - lo) / width).ceil() as usize).min(bins);
        for (b, c) in counts.iter_mut().enumerate().take(last).skip(first) {
            let (e0, e1) = (lo + b as f64 * width, lo + (b + 1) as f64 * width);
            *c += events * m * (cdf((e1 - q) / s0) - cdf((e0 - q) / s0));
        }
    }
    Histogram {
        lo,
        width,
        counts,
        unit: "pC".into(),
        outside: 0,
    }
}

/// Fits the expected spectrum of 2,000,000 events (statistics enough to keep the
/// component) with the default model and checks that Q1 (in units of the true Q1) lies
/// within `tolerance` of the truth.
fn assert_asymptotic_q1(shape: Shape, w: f64, mu: f64, tolerance: f64) {
    let r = fit(&expected(mu, w, shape, 2e6), Model::default());
    assert_eq!(
        r.status,
        Status::Ok,
        "{shape:?} μ {mu} w {w}: {:?}",
        r.message
    );
    let q1 = r.params.get("q1").expect("q1");
    let (value, err) = (q1.value, q1.error.unwrap_or(f64::NAN));
    eprintln!(
        "{shape:?} w {w} μ {mu}: Q1 {:+.3} % ± {:.3} % (2,000,000 events)",
        (value - 1.0) * 100.0,
        err * 100.0
    );
    assert!(
        (value - 1.0).abs() < tolerance,
        "{shape:?} w {w} μ {mu}: Q1 {value} ± {err}"
    );
}

/// On the simulator's default shape (a box in 0.2–0.4 Q1) the Gamma component reaches the
/// truth: with statistics enough to keep the component (2,000,000 events), the fit of the
/// expected spectrum returns Q1 within 0.2 % at every fraction and occupancy of the grid
/// (measured: +0.01 … +0.05 %). The grid's +1 % at 15 % and 20,000 events (BENCHMARKS.md)
/// is therefore finite-sample bias — seeds whose minimum takes a broad component under the
/// Gaussian's low side — which shrinks with the statistics (+0.3 … +0.5 % at 80,000
/// events), not a mismatch of the model.
#[test]
fn the_default_model_is_asymptotically_unbiased_on_the_box_shape() {
    for w in [0.05, 0.1, 0.15] {
        for mu in [0.1, 0.3, 1.0, 3.0] {
            assert_asymptotic_q1(Shape::Box, w, mu, 0.002);
        }
    }
}

/// An exponential continuum down to zero charge is not a Gamma of shape ≥ 2: the model's
/// own mismatch there is −0.1 … −0.5 % (measured), far less than the −1.4 … −2.3 % of
/// 10-seed cells at 20,000 events (BENCHMARKS.md, "Other shapes"), which is again mostly
/// finite-sample bias. Held within 1 %, so that a change to the model that moves it is seen.
#[test]
fn the_default_models_mismatch_to_an_exponential_continuum_is_small() {
    for (w, mu) in [(0.05, 1.0), (0.15, 0.3), (0.15, 1.0), (0.15, 3.0)] {
        assert_asymptotic_q1(Shape::Exponential, w, mu, 0.01);
    }
}
