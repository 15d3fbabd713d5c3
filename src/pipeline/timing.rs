//! Timing and darkness of a point from its waveforms: the PMT pulse time relative to the
//! trigger (constant fraction of each pulse's own height, so the time does not walk with
//! the amplitude), the transit-time peak with its spread (TTS as σ of a Gaussian fitted to
//! the prompt peak over a flat background, and the FWHM), the fractions of pre- and late
//! pulses, and dark pulses counted in the pre-trigger part of every record, as a rate in Hz
//! with its Poisson error.
//!
//! Why these definitions: they are the ones PMT test facilities certify (JUNO, IceCube,
//! Hyper-K: TTS σ and FWHM of the prompt peak, late-pulse fraction, dark rate at 0.25 PE)
//! and each can be computed from data the bench already writes (PMT channel and trigger
//! channel) without a second run. Pure functions on arrays; `spectrum` and `point` call
//! them.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::config::{Digitizer, Polarity};
use super::data::Waveforms;
use super::fit::Param;
use super::waveform::Features;

/// Constant fraction of the pulse's own peak height its time is taken at.
pub const CFD_FRACTION: f32 = 0.3;

/// Fewest timed pulses for a transit-time fit.
const MIN_TIMED: usize = 50;

/// Pulses further than this before or after the prompt peak are not pre/late pulses of the
/// tube but unrelated (dark) pulses.
const AFTER_WINDOW_NS: f64 = 100.0;

/// The transit-time distribution of a point (times relative to the trigger's leading edge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// How the PMT time was taken (`"constant fraction 30 %"`).
    pub method: String,
    /// Events with both a PMT pulse and a trigger time.
    pub timed: usize,
    /// Prompt-peak position (Gaussian mean) in ns after the trigger.
    pub transit_ns: Param,
    /// TTS: σ of the Gaussian fitted to the prompt peak, in ns.
    pub tts_sigma_ns: Param,
    /// Full width at half maximum of the prompt peak (background subtracted), in ns.
    pub tts_fwhm_ns: Option<f64>,
    /// Fraction of timed pulses 3σ … 100 ns after / before the prompt peak, flat
    /// background (dark pulses) subtracted.
    pub late_fraction: Param,
    pub pre_fraction: Param,
    /// Flat background under the peak, in pulses per ns (dark pulses, estimated from the
    /// times well before the peak).
    pub background_per_ns: f64,
    /// The times around the peak as a histogram, for the review panel's plot.
    #[serde(default)]
    pub histogram: Option<TimeHistogram>,
}

/// Pulse times in bins: `counts[i]` pulses in `[start_ns + i·bin_ns, start_ns + (i+1)·bin_ns)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeHistogram {
    pub start_ns: f64,
    pub bin_ns: f64,
    pub counts: Vec<u32>,
}

/// Shown range of the timing histogram around the prompt peak: 30 ns before (pre-pulses,
/// dark background) to 90 ns after (late pulses).
const HIST_BEFORE_NS: f64 = 30.0;
const HIST_AFTER_NS: f64 = 90.0;
const HIST_BIN_NS: f64 = 0.5;

/// Darkness of a point: pulses in the pre-trigger part of the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Darkness {
    /// Threshold in mV, and in photoelectrons of the fitted SPE height (`None` for a run
    /// without an SPE fit, counted at a threshold in mV).
    pub threshold_mv: f64,
    pub threshold_pe: Option<f64>,
    /// Pulses counted and the record time searched (s).
    pub pulses: u64,
    pub live_s: f64,
    /// Rate in Hz with its Poisson error (√n / t; 1/t when nothing was counted).
    pub rate_hz: Param,
    /// RMS noise of the baseline in mV: the threshold is never below
    /// [`NOISE_FLOOR_SIGMA`] times it, so that at a low gain, where 0.25 PE sinks towards
    /// the noise, noise is not counted as dark pulses.
    #[serde(default)]
    pub noise_mv: Option<f64>,
}

/// The dark-pulse threshold's floor in units of the baseline's RMS noise (5σ: ~150 Hz of
/// noise crossings at 500 MS/s for Gaussian noise).
pub const NOISE_FLOOR_SIGMA: f64 = 5.0;

/// Median over events (at most 2000, spread over the run) of the RMS of the first `n`
/// samples about the event's baseline, in mV; `None` without events.
pub fn noise_rms_mv(w: &Waveforms, baselines: &[f64], n: usize, dig: &Digitizer) -> Option<f64> {
    let events = w.events().min(baselines.len());
    let step = (events / 2000).max(1);
    let mut rms: Vec<f64> = (0..events)
        .step_by(step)
        .filter_map(|i| {
            let ev = w.event(i);
            let part = &ev[..n.min(ev.len())];
            (part.len() >= 2).then(|| {
                let b = baselines[i];
                let ss: f64 = part.iter().map(|&x| (f64::from(x) - b).powi(2)).sum();
                (ss / part.len() as f64).sqrt() * dig.mv_per_adc()
            })
        })
        .collect();
    if rms.is_empty() {
        return None;
    }
    let k = rms.len() / 2;
    Some(*rms.select_nth_unstable_by(k, f64::total_cmp).1)
}

/// What `point` needs after the fit to count dark pulses: which part of each record is
/// before the charge window, and the event baselines and polarity.
#[derive(Debug, Clone)]
pub struct DarkInputs {
    /// Index of the PMT channel among the point's waveforms.
    pub pmt: usize,
    pub polarity: Polarity,
    pub baselines: Vec<f64>,
    /// First sample of the charge window per event (`None`: event not used).
    pub region_end: Vec<Option<i64>>,
    /// mV of pulse height per pC of charge (median over the in-window pulses), to turn
    /// the fitted SPE charge into an SPE height.
    pub mv_per_pc: Option<f64>,
}

fn sign(p: Polarity) -> f32 {
    match p {
        Polarity::Negative => -1.0,
        Polarity::Positive => 1.0,
    }
}

/// Constant-fraction time (in samples, interpolated) of each event's largest pulse: walking
/// back from the peak to where the pulse falls below `fraction` of its height. NaN where
/// the event has no pulse over threshold (`f.start` NaN).
pub fn cfd_times(
    w: &Waveforms,
    f: &Features,
    polarity: Polarity,
    fraction: f32,
    dig: &Digitizer,
) -> Vec<f32> {
    let s = sign(polarity);
    let mv = dig.mv_per_adc() as f32;
    (0..w.events().min(f.start.len()))
        .into_par_iter()
        .with_min_len(512)
        .map(|i| {
            if !f.start[i].is_finite() || mv <= 0.0 {
                return f32::NAN;
            }
            let ev = w.event(i);
            let b = f.baseline[i] as f32;
            let level = fraction * f.amplitude_mv[i] / mv;
            let mut k = f.peak_sample[i] as usize;
            if k >= ev.len() {
                return f32::NAN;
            }
            while k > 0 && s * (ev[k - 1] - b) >= level {
                k -= 1;
            }
            if k == 0 {
                return f32::NAN; // the pulse runs into the start of the record
            }
            let (lo, hi) = (s * (ev[k - 1] - b), s * (ev[k] - b));
            let frac = if hi > lo {
                (level - lo) / (hi - lo)
            } else {
                0.0
            };
            (k - 1) as f32 + frac.clamp(0.0, 1.0)
        })
        .collect()
}

/// The transit-time peak of `dt_ns` (PMT time − trigger time, one per timed event):
/// Gaussian σ by iterated moments within ±2.5σ of the peak with the flat background
/// subtracted and the truncation corrected; `None` with fewer than [`MIN_TIMED`] times or
/// no peak. `smooth_ns` is the least width of the kernel the FWHM is taken on: half a
/// sample period, so that interpolated times, which cluster at some phases of the sampling
/// clock, do not make spikes that pass for the maximum.
pub fn transit_time(dt_ns: &[f64], method: &str, smooth_ns: f64) -> Option<Timing> {
    let mut t: Vec<f64> = dt_ns.iter().copied().filter(|x| x.is_finite()).collect();
    if t.len() < MIN_TIMED {
        return None;
    }
    t.sort_by(f64::total_cmp);
    let n = t.len();
    let count = |lo: f64, hi: f64| t.partition_point(|&x| x < hi) - t.partition_point(|&x| x < lo);

    // Coarse peak: the densest 2 ns (sliding over the sorted times).
    let mut mu = t[0];
    let mut best = 0usize;
    let mut j = 0usize;
    for i in 0..n {
        while t[i] - t[j] > 2.0 {
            j += 1;
        }
        if i + 1 - j > best {
            best = i + 1 - j;
            mu = 0.5 * (t[i] + t[j]);
        }
    }
    let mut sigma = 1.0f64;
    // Flat background density from the times 20 … 200 ns before the peak (pre-pulses are
    // rare; late pulses would bias a right sideband).
    let side = |mu: f64| {
        let (lo, hi) = (mu - 200.0, mu - 20.0);
        let span = (hi - lo).min(mu - t[0]).max(0.0);
        if span < 10.0 {
            0.0
        } else {
            count(hi - span, hi) as f64 / span
        }
    };
    const K: f64 = 2.5;
    // Variance of a unit Gaussian truncated at ±K.
    let phi = (-0.5 * K * K).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let trunc_var = 1.0 - 2.0 * K * phi / libm_erf(K / std::f64::consts::SQRT_2);
    let mut bg = 0.0;
    let mut n_sig = 0.0;
    for _ in 0..50 {
        bg = side(mu);
        let (lo, hi) = (mu - K * sigma, mu + K * sigma);
        let a = t.partition_point(|&x| x < lo);
        let b = t.partition_point(|&x| x < hi);
        let inside = &t[a..b];
        let n_bg = bg * 2.0 * K * sigma;
        n_sig = inside.len() as f64 - n_bg;
        if n_sig < 10.0 {
            return None;
        }
        let centre = 0.5 * (lo + hi);
        let s1: f64 = inside.iter().sum();
        let new_mu = (s1 - n_bg * centre) / n_sig;
        let s2: f64 = inside.iter().map(|x| (x - new_mu).powi(2)).sum();
        // A flat background over ±Kσ has variance (Kσ)²/3 about the centre.
        let var = (s2 - n_bg * ((K * sigma).powi(2) / 3.0 + (centre - new_mu).powi(2))) / n_sig;
        let new_sigma = (var.max(1e-6) / trunc_var).sqrt().max(0.05);
        let done = (new_mu - mu).abs() < 1e-4 && (new_sigma - sigma).abs() < 1e-4;
        mu = new_mu;
        sigma = new_sigma;
        if done {
            break;
        }
    }
    // Errors of a Gaussian's mean and σ from n_sig entries.
    let mu_err = sigma / n_sig.sqrt();
    let sigma_err = sigma / (2.0 * n_sig).sqrt();

    // FWHM of the background-subtracted peak, smoothed by a Gaussian kernel of width h
    // (σ/2, at least `smooth_ns`), the kernel's width then taken out in quadrature: exact
    // for a Gaussian peak, close for the near-Gaussian prompt peak of a PMT.
    let h = (sigma / 2.0).max(smooth_ns).max(1e-3);
    let bw = sigma.min(h) / 4.0;
    let raw: Vec<f64> = (-160..160)
        .map(|k| {
            let lo = mu + f64::from(k) * bw;
            count(lo, lo + bw) as f64 - bg * bw
        })
        .collect();
    let bins = gaussian_smooth(&raw, h / bw);
    let fwhm = fwhm(&bins, bw).map(|f| (f * f - (2.354_820_045 * h).powi(2)).max(0.0).sqrt());
    let histogram = {
        let start = mu - HIST_BEFORE_NS;
        let nbins = ((HIST_BEFORE_NS + HIST_AFTER_NS) / HIST_BIN_NS) as usize;
        let counts = (0..nbins)
            .map(|i| {
                let lo = start + i as f64 * HIST_BIN_NS;
                u32::try_from(count(lo, lo + HIST_BIN_NS)).unwrap_or(u32::MAX)
            })
            .collect();
        TimeHistogram {
            start_ns: start,
            bin_ns: HIST_BIN_NS,
            counts,
        }
    };

    let frac = |lo: f64, hi: f64| {
        let raw = count(lo, hi) as f64 - bg * (hi - lo);
        let p = (raw / n as f64).max(0.0);
        Param {
            value: p,
            error: Some((count(lo, hi).max(1) as f64).sqrt() / n as f64),
        }
    };
    let gap = 3.0 * sigma;
    Some(Timing {
        method: method.to_string(),
        timed: n,
        transit_ns: Param {
            value: mu,
            error: Some(mu_err),
        },
        tts_sigma_ns: Param {
            value: sigma,
            error: Some(sigma_err),
        },
        tts_fwhm_ns: fwhm,
        late_fraction: frac(mu + gap, mu + gap.max(AFTER_WINDOW_NS)),
        pre_fraction: frac(mu - gap.max(AFTER_WINDOW_NS), mu - gap),
        background_per_ns: bg,
        histogram: Some(histogram),
    })
}

/// `y` convolved with a normalised Gaussian of σ = `width` bins (cut at ±3σ; edges use the
/// part of the kernel inside the range).
fn gaussian_smooth(y: &[f64], width: f64) -> Vec<f64> {
    let r = (3.0 * width).ceil().max(1.0) as isize;
    let kernel: Vec<f64> = (-r..=r)
        .map(|k| (-0.5 * (k as f64 / width).powi(2)).exp())
        .collect();
    (0..y.len() as isize)
        .map(|i| {
            let (mut sum, mut norm) = (0.0, 0.0);
            for (j, w) in (-r..=r).zip(&kernel) {
                if let Some(v) = usize::try_from(i + j).ok().and_then(|k| y.get(k)) {
                    sum += w * v;
                    norm += w;
                }
            }
            sum / norm
        })
        .collect()
}

/// Width at half the maximum of `y` (bins of width `bw`), with linear interpolation at
/// both edges; `None` when the peak does not fall to half on both sides.
fn fwhm(y: &[f64], bw: f64) -> Option<f64> {
    let (imax, &ymax) = y.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    if ymax <= 0.0 {
        return None;
    }
    let half = 0.5 * ymax;
    let left = (0..imax).rev().find(|&i| y[i] < half)?;
    let right = (imax + 1..y.len()).find(|&i| y[i] < half)?;
    let xl = left as f64 + (half - y[left]) / (y[left + 1] - y[left]);
    let xr = right as f64 - (half - y[right]) / (y[right - 1] - y[right]);
    Some((xr - xl) * bw)
}

/// erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7): only used for a fixed constant.
fn libm_erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    if x < 0.0 { -y } else { y }
}

/// Counts pulses crossing `threshold_mv` (upward; re-armed when the signal falls below
/// half of it) in samples `1 .. region_end[i]` of each event, and the time searched.
pub fn count_dark(w: &Waveforms, d: &DarkInputs, threshold_mv: f64, dig: &Digitizer) -> (u64, f64) {
    let s = sign(d.polarity);
    let thr = (threshold_mv / dig.mv_per_adc()) as f32;
    let rearm = 0.5 * thr;
    let (pulses, samples) = (0..w.events().min(d.baselines.len()).min(d.region_end.len()))
        .into_par_iter()
        .with_min_len(512)
        .map(|i| {
            let Some(end) = d.region_end[i] else {
                return (0u64, 0u64);
            };
            let ev = w.event(i);
            let end = end.clamp(0, ev.len() as i64) as usize;
            if end < 2 {
                return (0, 0);
            }
            let b = d.baselines[i] as f32;
            let mut armed = s * (ev[0] - b) < rearm;
            let mut n = 0u64;
            for &x in &ev[1..end] {
                let v = s * (x - b);
                if armed && v >= thr {
                    n += 1;
                    armed = false;
                } else if !armed && v < rearm {
                    armed = true;
                }
            }
            (n, (end - 1) as u64)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    (pulses, samples as f64 * dig.sample_ns * 1e-9)
}

/// The dark rate from a count over `live_s` seconds.
pub fn dark_rate(
    pulses: u64,
    live_s: f64,
    threshold_mv: f64,
    threshold_pe: Option<f64>,
) -> Option<Darkness> {
    (live_s > 0.0).then(|| Darkness {
        threshold_mv,
        threshold_pe,
        pulses,
        live_s,
        rate_hz: Param {
            value: pulses as f64 / live_s,
            error: Some((pulses.max(1) as f64).sqrt() / live_s),
        },
        noise_mv: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn erf_constant_is_right() {
        assert!((libm_erf(2.5 / std::f64::consts::SQRT_2) - 0.987_580_669).abs() < 1e-6);
    }

    #[test]
    fn transit_time_recovers_sigma_over_a_flat_background_with_late_pulses() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let g = Normal::new(60.0, 1.3).unwrap();
        let mut t: Vec<f64> = (0..20_000).map(|_| g.sample(&mut rng)).collect();
        // 4 % late pulses 20–80 ns after the peak, flat background over ±400 ns.
        t.extend((0..800).map(|_| 60.0 + 20.0 + 60.0 * rng.random::<f64>()));
        t.extend((0..4_000).map(|_| -340.0 + 800.0 * rng.random::<f64>()));
        let r = transit_time(&t, "test", 0.0).unwrap();
        assert!((r.transit_ns.value - 60.0).abs() < 0.05, "{r:?}");
        assert!((r.tts_sigma_ns.value / 1.3 - 1.0).abs() < 0.03, "{r:?}");
        let fwhm = r.tts_fwhm_ns.unwrap();
        assert!((fwhm / (2.3548 * 1.3) - 1.0).abs() < 0.05, "{r:?}");
        let late = r.late_fraction.value;
        assert!((late - 800.0 / t.len() as f64).abs() < 0.006, "{r:?}");
        assert!(r.pre_fraction.value < 0.004, "{r:?}");
        assert!((r.background_per_ns - 5.0).abs() < 1.0, "{r:?}");
    }

    #[test]
    fn fwhm_is_not_fooled_by_times_clustered_at_sampling_phases() {
        // Interpolated times on a 2 ns clock bunch at some phases: a comb of spikes 2 ns
        // apart under the Gaussian. Smoothed at half a sample, the FWHM stays the peak's.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let g = Normal::new(60.0, 1.3).unwrap();
        let t: Vec<f64> = (0..20_000)
            .map(|_| {
                let x: f64 = g.sample(&mut rng);
                let snapped = (x / 2.0).round() * 2.0;
                snapped + 0.6 * (x - snapped) + 0.2 * (rng.random::<f64>() - 0.5)
            })
            .collect();
        let r = transit_time(&t, "test", 1.0).unwrap();
        let sigma = r.tts_sigma_ns.value;
        let fwhm = r.tts_fwhm_ns.unwrap();
        assert!((fwhm / (2.3548 * sigma) - 1.0).abs() < 0.12, "{r:?}");
        let h = r.histogram.as_ref().unwrap();
        assert_eq!(h.counts.len(), 240);
        let shown: u32 = h.counts.iter().sum();
        assert!(shown as usize > 19_000, "{shown}");
    }

    #[test]
    fn too_few_times_give_no_timing_not_a_panic() {
        assert!(transit_time(&[], "x", 0.0).is_none());
        assert!(transit_time(&[1.0; 10], "x", 0.0).is_none());
        assert!(transit_time(&[f64::NAN; 100], "x", 0.0).is_none());
        // All equal: a zero-width peak is reported with the floor width, not NaN.
        let r = transit_time(&[5.0; 100], "x", 0.0).unwrap();
        assert!(r.tts_sigma_ns.value.is_finite());
    }

    #[test]
    fn dark_rate_error_is_poisson() {
        let d = dark_rate(100, 0.01, 2.0, Some(0.25)).unwrap();
        assert_eq!(d.rate_hz.value, 10_000.0);
        assert!((d.rate_hz.error.unwrap() - 1000.0).abs() < 1e-9);
        assert!(dark_rate(0, 0.0, 2.0, None).is_none());
        assert_eq!(
            dark_rate(0, 1.0, 2.0, None).unwrap().rate_hz.error,
            Some(1.0)
        );
    }
}
