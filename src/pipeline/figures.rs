//! Figures that qualify a tube beyond its gain: the SPE resolution σ1/Q1, the
//! peak-to-valley ratio (from the fitted model and from the histogram, both reported), and
//! the model-independent occupancy of Saldanha et al., NIM A 863 (2017) 35, from an LED-on
//! and an LED-off (pedestal-only) spectrum, with the mean SPE charge and SPE resolution it
//! implies — a cross-check of the fit that needs no SPE model at all — with the same count
//! made on the fitted model beside it (the fit's μ also counts photoelectrons inside the
//! pedestal, which no threshold sees, so the count is the like-for-like comparison).
//!
//! Why here and pure: the same numbers go into `result.json`, the tables and the review
//! panel, and they must be reproducible from the files alone. Errors are first-order
//! (delta method): for the fit figures from the parameters' errors (their covariance is not
//! kept, so σ1/Q1's error treats them as independent, which overstates it slightly where
//! they are positively correlated); for the model-independent ones from the sample moments
//! of the two spectra, which are independent of each other, so the propagation is complete.

use serde::{Deserialize, Serialize};

use super::fit::{FitCurve, FitResult, Param, Status, normal_cdf};
use super::histogram::{Histogram, moving_average};
use super::reference::Reference;
use super::timing::{Darkness, Timing};

/// Per-point figures beside the gain; each is `None` where it cannot be computed (no fit,
/// no resolved valley, no LED-off spectrum).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// SPE resolution σ1/Q1 of the fully amplified peak, from the fit.
    #[serde(default)]
    pub spe_resolution: Option<Param>,
    /// Peak-to-valley ratio of the fitted model (peak at the SPE maximum, valley the
    /// minimum between pedestal and SPE peak).
    #[serde(default)]
    pub peak_to_valley_model: Option<f64>,
    /// Peak-to-valley ratio of the histogram itself (lightly smoothed), with its Poisson
    /// error.
    #[serde(default)]
    pub peak_to_valley_hist: Option<Param>,
    /// Model-independent occupancy, where an LED-off spectrum was given.
    #[serde(default)]
    pub model_independent: Option<ModelIndependent>,
    /// Transit time, TTS, pre- and late-pulse fractions (waveforms with a trigger channel).
    #[serde(default)]
    pub timing: Option<Timing>,
    /// Dark pulses in the pre-trigger part of the records (waveform inputs).
    #[serde(default)]
    pub darkness: Option<Darkness>,
    /// The reference sensor's charge and occupancy (a SiPM or reference PMT on its own
    /// channel), where the profile names one.
    #[serde(default)]
    pub reference: Option<Reference>,
    /// The PMT's occupancy counted like the reference's: −ln(fraction of events without a
    /// pulse over threshold in the charge window), model-free (waveform inputs).
    #[serde(default)]
    pub occupancy_counted: Option<Param>,
    /// PMT occupancy / reference occupancy (both counted): what the PMT sees per photon
    /// the reference sees, so a drift of the light source cancels.
    #[serde(default)]
    pub relative_efficiency: Option<Param>,
}

/// The Saldanha et al. estimate from an LED-on and an LED-off spectrum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIndependent {
    /// Charge below which an event counts as "no photoelectron" (the LED-off median by
    /// default: the lowest threshold with most of the statistics, and the least SPE leakage).
    pub threshold: f64,
    /// Mean number of photoelectrons per trigger, λ = −ln(f_on / f_off).
    pub occupancy: Param,
    /// Mean SPE charge (under-amplified part included), (⟨on⟩ − ⟨off⟩) / λ, in the
    /// spectra's unit.
    pub mean_spe: Param,
    /// SPE resolution √Var(ψ) / ⟨ψ⟩, Var(ψ) = (Var(on) − Var(off)) / λ − ⟨ψ⟩²; `None` when
    /// the variance difference is not positive (too few photoelectrons to tell).
    pub spe_resolution: Option<Param>,
    /// Fractions of the LED-on and LED-off entries below the threshold.
    pub fraction_on: f64,
    pub fraction_off: f64,
    /// Entries of the two spectra.
    pub entries_on: f64,
    pub entries_off: f64,
    /// The same count made on the fitted model at the same threshold, where the LED-on
    /// point has an `ok` fit: how the fit compares with the count like for like.
    #[serde(default)]
    pub fit_counted: Option<FitCounted>,
}

/// What an LED-on/off count at `threshold` reads on the fitted model instead of the data:
/// λ_T = −ln(F_model(T) / Φ((T − q0)/σ0)), F_model the fitted spectrum's fraction below T
/// and Φ its pedestal's. The fit's μ counts every photoelectron, also those whose charge
/// lands in the pedestal (an under-amplified photoelectron of a tenth of Q1); a count
/// cannot see those, so λ_T < μ where the fitted SPE reaches down to zero charge, and the
/// mean SPE charge a count implies, μ·⟨SPE⟩ / λ_T, is higher by as much (the product is
/// the spectrum's mean above the pedestal either way). On the UZH LED-on areas the
/// default fit's μ is 1.72, its count at the lab's thresholds 100–200 ADC·samples
/// 1.675–1.639: the lab's own LED-on/off numbers (`tests/processing/figures.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitCounted {
    pub threshold: f64,
    /// λ_T.
    pub occupancy: f64,
    /// μ·⟨SPE⟩ / λ_T, in the spectrum's unit.
    pub mean_spe: f64,
}

/// [`FitCounted`] of an `ok` fit that kept its model curve, at `threshold` (the fit's
/// charge unit); `None` without a curve, a pedestal or μ, or where the threshold leaves
/// nothing of the pedestal below it.
pub fn fit_counted(fit: &FitResult, threshold: f64) -> Option<FitCounted> {
    if fit.status != Status::Ok || !threshold.is_finite() {
        return None;
    }
    let curve = fit.curve.as_ref()?;
    let q0 = fit.params.get("q0")?.value;
    let s0 = fit.params.get("sigma0")?.value;
    let mu = fit.params.get("mu")?.value;
    let mean = fit.mean_spe()?.value;
    let bins = curve.per_bin.len();
    let [lo, hi] = fit.range;
    if bins == 0
        || hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater)
        || s0.is_nan()
        || s0 <= 0.0
    {
        return None;
    }
    let width = (hi - lo) / bins as f64;
    let total: f64 = curve.per_bin.iter().sum();
    // The model's count below the threshold, the bin it falls in taken in proportion.
    let below: f64 = curve
        .per_bin
        .iter()
        .enumerate()
        .map(|(i, &nu)| {
            let a = lo + i as f64 * width;
            nu * ((threshold - a) / width).clamp(0.0, 1.0)
        })
        .sum();
    let f_on = below / total;
    let f_off = normal_cdf((threshold - q0) / s0);
    let lambda = -(f_on / f_off).ln();
    (f_off > 1e-6 && f_on > 0.0 && lambda.is_finite() && lambda > 0.0).then(|| FitCounted {
        threshold,
        occupancy: lambda,
        mean_spe: mu * mean / lambda,
    })
}

/// Fewest entries below the threshold in either spectrum for the estimate to mean anything.
const MIN_BELOW: f64 = 100.0;

/// σ1/Q1 from an `ok` fit that has both; its error by first-order propagation.
pub fn spe_resolution(fit: &FitResult) -> Option<Param> {
    if fit.status != Status::Ok {
        return None;
    }
    let q1 = fit.params.get("q1")?;
    let s1 = fit.params.get("sigma1")?;
    if !(q1.value > 0.0 && s1.value.is_finite() && s1.value >= 0.0) {
        return None;
    }
    let r = s1.value / q1.value;
    let error = match (q1.error, s1.error) {
        (Some(eq), Some(es)) => {
            Some(r * ((es / s1.value).powi(2) + (eq / q1.value).powi(2)).sqrt())
        }
        _ => None,
    }
    .filter(|e| e.is_finite());
    Some(Param { value: r, error })
}

/// Peak-to-valley of the fitted model's total curve: the maximum near the SPE peak
/// (q0 + Q1 ± σ1) over the minimum between the pedestal and that peak.
pub fn peak_to_valley_model(fit: &FitResult) -> Option<f64> {
    let (q0, q1, s1) = spe_geometry(fit)?;
    let curve: &FitCurve = fit.curve.as_ref()?;
    peak_valley(&curve.x, &curve.total, q0, q1, s1).map(|(p, v)| p / v)
}

/// Peak-to-valley of the histogram, smoothed over ±2 bins, with the Poisson error of the
/// two (smoothed) counts.
pub fn peak_to_valley_hist(fit: &FitResult, hist: &Histogram) -> Option<Param> {
    let (q0, q1, s1) = spe_geometry(fit)?;
    let x = hist.centers();
    let half = 2usize;
    let smooth = moving_average(&hist.counts, half);
    let (p, v) = peak_valley(&x, &smooth, q0, q1, s1)?;
    // A smoothed count is a mean of 2·half+1 bins: its variance is its value / (2·half+1).
    let n = (2 * half + 1) as f64;
    let r = p / v;
    let error = r * (1.0 / (p * n) + 1.0 / (v * n)).sqrt();
    Some(Param {
        value: r,
        error: error.is_finite().then_some(error),
    })
}

/// q0, Q1 and σ1 of an `ok` fit, when the SPE peak lies clear of the pedestal.
fn spe_geometry(fit: &FitResult) -> Option<(f64, f64, f64)> {
    if fit.status != Status::Ok {
        return None;
    }
    let q0 = fit.params.get("q0")?.value;
    let q1 = fit.params.get("q1")?.value;
    let s1 = fit.params.get("sigma1")?.value;
    (q0.is_finite() && q1 > 0.0 && s1.is_finite()).then_some((q0, q1, s1.max(0.0)))
}

/// (peak, valley) of `y(x)`: the valley is the minimum strictly between q0 and the peak,
/// the peak the maximum within q0 + Q1 ± max(σ1, Q1/4). `None` without a positive valley
/// (no dip: pedestal and SPE not resolved) or a peak that is not above it.
fn peak_valley(x: &[f64], y: &[f64], q0: f64, q1: f64, s1: f64) -> Option<(f64, f64)> {
    let reach = s1.max(0.25 * q1);
    let centre = q0 + q1;
    let (ip, peak) = x
        .iter()
        .zip(y)
        .enumerate()
        .filter(|(_, (xi, _))| (**xi - centre).abs() <= reach)
        .map(|(i, (_, yi))| (i, *yi))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let xp = x[ip];
    let valley = x
        .iter()
        .zip(y)
        .filter(|(xi, _)| **xi > q0 && **xi < xp)
        .map(|(_, yi)| *yi)
        .min_by(f64::total_cmp)?;
    // The valley must be a dip: lower than the peak, and not the pedestal's own flank
    // falling into the peak (then there is no minimum inside the interval's interior).
    (valley > 0.0 && peak > valley && valley.is_finite() && peak.is_finite())
        .then_some((peak, valley))
}

/// Weighted sample moments used by the model-independent estimate.
struct Moments {
    n: f64,
    /// Fraction below the threshold, mean, variance.
    p: f64,
    m: f64,
    v: f64,
    /// Covariance matrix of (1[x<T], x, (x−m)²) per entry (divide by n for the means').
    cov: [[f64; 3]; 3],
}

impl Moments {
    /// `samples`: (charge, weight) pairs; `below(x, w)`: the weight of that entry below
    /// the threshold (a histogram bin that straddles it contributes its fraction).
    fn of(samples: &[(f64, f64, f64)]) -> Option<Moments> {
        let n: f64 = samples.iter().map(|s| s.1).sum();
        if n <= 0.0 {
            return None;
        }
        let p = samples.iter().map(|s| s.2).sum::<f64>() / n;
        let m = samples.iter().map(|s| s.0 * s.1).sum::<f64>() / n;
        let v = samples.iter().map(|s| (s.0 - m).powi(2) * s.1).sum::<f64>() / n;
        let mut cov = [[0.0; 3]; 3];
        for &(x, w, b) in samples {
            // The indicator's per-entry value is b/w (0, 1, or the straddling fraction).
            let ind = if w > 0.0 { b / w } else { 0.0 };
            let g = [ind - p, x - m, (x - m).powi(2) - v];
            for (i, gi) in g.iter().enumerate() {
                for (j, gj) in g.iter().enumerate() {
                    cov[i][j] += w * gi * gj;
                }
            }
        }
        for row in &mut cov {
            for c in row.iter_mut() {
                *c /= n;
            }
        }
        Some(Moments { n, p, m, v, cov })
    }

    /// Variance of a linear combination `grad · (p, m, v)` of this sample's means.
    fn var(&self, grad: [f64; 3]) -> f64 {
        let mut s = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                s += grad[i] * self.cov[i][j] * grad[j];
            }
        }
        s / self.n
    }
}

/// Per-event charges as (x, 1, below) triples.
fn from_values(values: &[f64], threshold: f64) -> Vec<(f64, f64, f64)> {
    values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| (v, 1.0, if v < threshold { 1.0 } else { 0.0 }))
        .collect()
}

/// A histogram's bins as (centre, count, count below the threshold) triples; the bin that
/// holds the threshold contributes the fraction of its width below it.
fn from_histogram(h: &Histogram, threshold: f64) -> Vec<(f64, f64, f64)> {
    h.counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0.0)
        .map(|(i, &c)| {
            let lo = h.lo + i as f64 * h.width;
            let frac = ((threshold - lo) / h.width).clamp(0.0, 1.0);
            (lo + 0.5 * h.width, c, c * frac)
        })
        .collect()
}

/// Median of finite values (the LED-off pedestal's centre).
fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let k = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    Some(*m)
}

/// Median of a histogram (the bin where the cumulative count crosses half, interpolated).
fn histogram_median(h: &Histogram) -> Option<f64> {
    let total = h.total();
    if total <= 0.0 {
        return None;
    }
    let mut acc = 0.0;
    for (i, &c) in h.counts.iter().enumerate() {
        if c > 0.0 && acc + c >= 0.5 * total {
            let lo = h.lo + i as f64 * h.width;
            return Some(lo + h.width * (0.5 * total - acc) / c);
        }
        acc += c;
    }
    None
}

/// The model-independent estimate from per-event charges of an LED-on and an LED-off run
/// (same charge definition and unit). `threshold`: `None` takes the LED-off median.
pub fn model_independent_values(
    on: &[f64],
    off: &[f64],
    threshold: Option<f64>,
) -> Result<ModelIndependent, String> {
    let t = match threshold {
        Some(t) => t,
        None => median(off).ok_or("the LED-off spectrum has no finite entries")?,
    };
    estimate(&from_values(on, t), &from_values(off, t), t)
}

/// The model-independent estimate from an LED-on and an LED-off histogram (same unit;
/// binning may differ — binning adds the same variance to both, which cancels).
pub fn model_independent_histograms(
    on: &Histogram,
    off: &Histogram,
    threshold: Option<f64>,
) -> Result<ModelIndependent, String> {
    if on.unit != off.unit {
        return Err(format!(
            "the LED-on spectrum is in {} and the LED-off spectrum in {}: give both in one unit",
            on.unit, off.unit
        ));
    }
    let t = match threshold {
        Some(t) => t,
        None => histogram_median(off).ok_or("the LED-off spectrum is empty")?,
    };
    estimate(&from_histogram(on, t), &from_histogram(off, t), t)
}

fn estimate(
    on: &[(f64, f64, f64)],
    off: &[(f64, f64, f64)],
    threshold: f64,
) -> Result<ModelIndependent, String> {
    let a = Moments::of(on).ok_or("the LED-on spectrum is empty")?;
    let b = Moments::of(off).ok_or("the LED-off spectrum is empty")?;
    if a.p * a.n < MIN_BELOW || b.p * b.n < MIN_BELOW {
        return Err(format!(
            "too few entries below the threshold {threshold:.4} (LED-on {:.0}, LED-off {:.0}; \
             need {MIN_BELOW} each): the occupancy is too high for this run length, or the \
             threshold is below the pedestal",
            a.p * a.n,
            b.p * b.n
        ));
    }
    let lambda = (b.p / a.p).ln();
    if lambda.is_nan() || lambda <= 0.0 {
        return Err(format!(
            "the LED-on spectrum has as many entries below the threshold as the LED-off one \
             ({:.4} vs {:.4}): no photoelectrons to count — is the LED on?",
            a.p, b.p
        ));
    }
    let e = (a.m - b.m) / lambda;
    let dv = a.v - b.v;
    let var_spe = dv / lambda - e * e;

    // Gradients with respect to (p, m, v) of the LED-on (a) and LED-off (b) sample.
    let dl_a = [-1.0 / a.p, 0.0, 0.0];
    let dl_b = [1.0 / b.p, 0.0, 0.0];
    let var_lambda = a.var(dl_a) + b.var(dl_b);
    let de = |dl: [f64; 3], dm: f64| [-e / lambda * dl[0], dm / lambda, 0.0];
    let de_a = de(dl_a, 1.0);
    let de_b = de(dl_b, -1.0);
    let var_e = a.var(de_a) + b.var(de_b);

    let spe_resolution = (var_spe > 0.0 && e > 0.0).then(|| {
        let sd = var_spe.sqrt();
        let r = sd / e;
        // V = dv/λ − E²: ∂V = ∂dv/λ − dv/λ² ∂λ − 2E ∂E; R = √V/E: ∂R = ∂V/(2√V E) − √V/E² ∂E.
        let grad = |dl: [f64; 3], dee: [f64; 3], sign: f64| {
            let mut g = [0.0; 3];
            for k in 0..3 {
                let dvv = if k == 2 { sign / lambda } else { 0.0 }
                    - dv / (lambda * lambda) * dl[k]
                    - 2.0 * e * dee[k];
                g[k] = dvv / (2.0 * sd * e) - sd / (e * e) * dee[k];
            }
            g
        };
        let var_r = a.var(grad(dl_a, de_a, 1.0)) + b.var(grad(dl_b, de_b, -1.0));
        Param {
            value: r,
            error: (var_r.is_finite() && var_r >= 0.0).then(|| var_r.sqrt()),
        }
    });
    Ok(ModelIndependent {
        threshold,
        occupancy: Param {
            value: lambda,
            error: Some(var_lambda.sqrt()),
        },
        mean_spe: Param {
            value: e,
            error: Some(var_e.sqrt()),
        },
        spe_resolution,
        fraction_on: a.p,
        fraction_off: b.p,
        entries_on: a.n,
        entries_off: b.n,
        fit_counted: None,
    })
}

/// The fit-based figures of a point (the model-independent part needs an LED-off
/// spectrum; see [`model_independent_histograms`]).
pub fn of_fit(fit: &FitResult, hist: &Histogram) -> Figures {
    Figures {
        spe_resolution: spe_resolution(fit),
        peak_to_valley_model: peak_to_valley_model(fit),
        peak_to_valley_hist: peak_to_valley_hist(fit, hist),
        ..Figures::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal, Poisson};

    /// LED-on/off charges with a known occupancy and a Gaussian SPE of known mean and width.
    fn on_off(lambda: f64, q1: f64, s1: f64, n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let ped = Normal::new(0.0, 10.0).unwrap();
        let spe = Normal::new(q1, s1).unwrap();
        let pois = Poisson::new(lambda).unwrap();
        let on = (0..n)
            .map(|_| {
                let k = pois.sample(&mut rng) as u32;
                ped.sample(&mut rng) + (0..k).map(|_| spe.sample(&mut rng)).sum::<f64>()
            })
            .collect();
        let off = (0..n).map(|_| ped.sample(&mut rng)).collect();
        (on, off)
    }

    #[test]
    fn recovers_a_known_occupancy_mean_and_resolution_within_their_errors() {
        let (on, off) = on_off(0.8, 100.0, 35.0, 200_000, 7);
        let r = model_independent_values(&on, &off, None).unwrap();
        let pull = |p: &Param, truth: f64| (p.value - truth) / p.error.unwrap();
        assert!(pull(&r.occupancy, 0.8).abs() < 4.0, "{r:?}");
        assert!(pull(&r.mean_spe, 100.0).abs() < 4.0, "{r:?}");
        let res = r.spe_resolution.as_ref().unwrap();
        assert!(pull(res, 0.35).abs() < 4.0, "{r:?}");
        // The errors are not absurdly large either.
        assert!(
            r.occupancy.error.unwrap() < 0.01 && res.error.unwrap() < 0.02,
            "{r:?}"
        );
    }

    #[test]
    fn histograms_give_what_the_values_give() {
        let (on, off) = on_off(1.5, 80.0, 30.0, 100_000, 3);
        let v = model_independent_values(&on, &off, Some(0.0)).unwrap();
        let hon = Histogram::fill(&on, -60.0, 800.0, 430, "pC");
        let hoff = Histogram::fill(&off, -60.0, 60.0, 37, "pC");
        let h = model_independent_histograms(&hon, &hoff, Some(0.0)).unwrap();
        assert!(
            (h.occupancy.value - v.occupancy.value).abs() < 0.01,
            "{h:?} {v:?}"
        );
        assert!(
            (h.mean_spe.value / v.mean_spe.value - 1.0).abs() < 0.01,
            "{h:?} {v:?}"
        );
    }

    #[test]
    fn led_off_twice_is_an_error_not_a_number() {
        let (_, off) = on_off(1.0, 100.0, 30.0, 20_000, 1);
        let err = model_independent_values(&off, &off, None).unwrap_err();
        assert!(err.contains("is the LED on"), "{err}");
        let err = model_independent_values(&[], &off, None).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let h = Histogram::fill(&off, -50.0, 50.0, 10, "pC");
        let mut g = h.clone();
        g.unit = "mV*ns".into();
        assert!(
            model_independent_histograms(&h, &g, None)
                .unwrap_err()
                .contains("one unit")
        );
    }

    #[test]
    fn fit_figures_need_an_ok_fit_with_q1_and_sigma1() {
        let h = Histogram::fill(&[0.0, 1.0], -1.0, 2.0, 3, "pC");
        let f = FitResult::without_fit(
            Status::NoSignal,
            super::super::fit::Model::PoissonGauss,
            &h,
            "x".into(),
        );
        assert_eq!(of_fit(&f, &h), Figures::default());
        let mut ok = f.clone();
        ok.status = Status::Ok;
        ok.params.insert(
            "q1".into(),
            Param {
                value: 2.0,
                error: Some(0.02),
            },
        );
        ok.params.insert(
            "sigma1".into(),
            Param {
                value: 0.8,
                error: Some(0.016),
            },
        );
        let r = spe_resolution(&ok).unwrap();
        assert!((r.value - 0.4).abs() < 1e-12);
        assert!(
            (r.error.unwrap() - 0.4 * (0.02f64.powi(2) + 0.01f64.powi(2)).sqrt()).abs() < 1e-12
        );
    }

    #[test]
    fn peak_to_valley_of_a_resolved_spectrum() {
        // Pedestal at 0 (σ 1), SPE at 10 (σ 3): a clear dip near 3–4.
        let x: Vec<f64> = (0..200).map(|i| -5.0 + i as f64 * 0.1).collect();
        let g = |x: f64, m: f64, s: f64, a: f64| a * (-(x - m).powi(2) / (2.0 * s * s)).exp();
        let y: Vec<f64> = x
            .iter()
            .map(|&x| g(x, 0.0, 1.0, 1000.0) + g(x, 10.0, 3.0, 100.0))
            .collect();
        let (p, v) = peak_valley(&x, &y, 0.0, 10.0, 3.0).unwrap();
        assert!((p - 100.0).abs() < 1.0 && v > 1.0 && v < 60.0, "{p} {v}");
        // Unresolved (SPE buried in the pedestal): no valley, no number.
        let y2: Vec<f64> = x
            .iter()
            .map(|&x| g(x, 0.0, 3.0, 1000.0) + g(x, 1.0, 3.0, 10.0))
            .collect();
        assert!(peak_valley(&x, &y2, 0.0, 1.0, 3.0).is_none());
    }
}
