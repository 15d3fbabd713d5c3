//! Per-event waveform features: baseline, polarity-corrected peak height, leading-edge
//! start time, and the charge integrated in a window. Events are independent, so the work
//! is spread over all cores in chunks (rayon); everything stays in flat vectors.

use rayon::prelude::*;

use super::config::{BaselineMethod, Digitizer, Polarity, PulseConfig};
use super::data::Waveforms;

/// Features of every event of one channel (index = event index in the [`Waveforms`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Baseline in ADC counts, in f64: the charge subtracts it over the whole window, and
    /// an f32 mean of ~8000 counts (ulp 0.0005) moved each charge off the lattice of
    /// values that integer samples give (`histogram::charge_quantum`) by up to 3 %.
    pub baseline: Vec<f64>,
    /// Peak height above the baseline in mV, polarity-corrected (pulses are positive).
    pub amplitude_mv: Vec<f32>,
    /// Sample index of the peak.
    pub peak_sample: Vec<u32>,
    /// Leading-edge threshold crossing in samples (interpolated); NaN when no pulse.
    pub start: Vec<f32>,
}

impl Features {
    /// Number of events with a pulse over threshold.
    pub fn pulses(&self) -> usize {
        self.start.iter().filter(|s| !s.is_nan()).count()
    }
}

/// Baseline of one event from its first `n` samples.
pub fn baseline(samples: &[f32], method: BaselineMethod, n: usize) -> f64 {
    let head = &samples[..n.min(samples.len()).max(usize::from(!samples.is_empty()))];
    if head.is_empty() {
        return 0.0;
    }
    match method {
        BaselineMethod::Mean => head.iter().map(|&v| f64::from(v)).sum::<f64>() / head.len() as f64,
        BaselineMethod::Median => {
            let mut v = head.to_vec();
            let mid = v.len() / 2;
            let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
            let upper = f64::from(*m);
            if v.len() % 2 == 1 {
                upper
            } else {
                let lower = v[..mid].iter().copied().fold(f32::NEG_INFINITY, f32::max);
                0.5 * (f64::from(lower) + upper)
            }
        }
    }
}

fn sign(p: Polarity) -> f32 {
    match p {
        Polarity::Negative => -1.0,
        Polarity::Positive => 1.0,
    }
}

/// The most pulse-like sample: the minimum for negative, the maximum for positive pulses.
/// Eight independent lanes, combined at the end, so that the compiler vectorises the
/// reduction (a single running minimum is a serial dependency chain).
fn extreme(ev: &[f32], polarity: Polarity) -> f32 {
    let Some(&first) = ev.first() else {
        return 0.0;
    };
    let pick = |a: f32, b: f32| match polarity {
        Polarity::Negative => {
            if b < a {
                b
            } else {
                a
            }
        }
        Polarity::Positive => {
            if b > a {
                b
            } else {
                a
            }
        }
    };
    let mut lanes = [first; 8];
    let blocks = ev.chunks_exact(8);
    let tail = blocks.remainder();
    for block in blocks {
        for (l, &x) in lanes.iter_mut().zip(block) {
            *l = pick(*l, x);
        }
    }
    let m = lanes.into_iter().fold(first, pick);
    tail.iter().fold(m, |m, &x| pick(m, x))
}

/// Index of the first sample satisfying `pred`. Blocks of 16 are tested without
/// branches (which vectorises), and only the block that holds the hit is scanned.
fn first_index(ev: &[f32], pred: impl Fn(f32) -> bool) -> Option<usize> {
    const BLOCK: usize = 16;
    let blocks = ev.chunks_exact(BLOCK);
    let tail = blocks.remainder();
    for (n, block) in blocks.enumerate() {
        if block.iter().fold(false, |hit, &x| hit | pred(x)) {
            return block.iter().position(|&x| pred(x)).map(|i| n * BLOCK + i);
        }
    }
    let base = ev.len() - tail.len();
    tail.iter().position(|&x| pred(x)).map(|i| base + i)
}

/// How many events of a channel have a pulse over threshold of either sign, and how high
/// those pulses typically are: what `auto` polarity decides from, and what a message says
/// when a channel's configured polarity finds nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PolarityScan {
    pub events: usize,
    /// Events whose largest excursion from the baseline is upwards and over threshold.
    pub positive: usize,
    /// … downwards and over threshold.
    pub negative: usize,
    /// Median height of those excursions in mV (0 when there are none).
    pub positive_mv: f32,
    pub negative_mv: f32,
    /// The threshold the scan used, in mV.
    pub threshold_mv: f64,
}

impl PolarityScan {
    /// Events with a pulse of sign `p`.
    pub fn count(&self, p: Polarity) -> usize {
        match p {
            Polarity::Positive => self.positive,
            Polarity::Negative => self.negative,
        }
    }

    /// The sign most events' pulses have (negative on a tie).
    pub fn dominant(&self) -> Polarity {
        if self.positive > self.negative {
            Polarity::Positive
        } else {
            Polarity::Negative
        }
    }

    /// "positive pulses of ~800 mV in 5998 of 6000 events".
    pub fn describe(&self, p: Polarity) -> String {
        let (n, h) = match p {
            Polarity::Positive => (self.positive, self.positive_mv),
            Polarity::Negative => (self.negative, self.negative_mv),
        };
        if n == 0 {
            format!(
                "no {p} pulses over {} mV in {} events",
                self.threshold_mv, self.events
            )
        } else {
            format!(
                "{p} pulses of ~{} mV in {n} of {} events",
                round_mv(h),
                self.events
            )
        }
    }
}

/// A pulse height for a message: two significant digits.
fn round_mv(h: f32) -> String {
    let h = f64::from(h);
    if h >= 100.0 {
        format!("{:.0}", (h / 10.0).round() * 10.0)
    } else if h >= 10.0 {
        format!("{h:.0}")
    } else {
        format!("{h:.1}")
    }
}

/// Counts the events whose largest excursion from the baseline (`method` over the first
/// `baseline_samples`) exceeds `threshold_mv`, by sign.
pub fn scan_polarity(
    w: &Waveforms,
    method: BaselineMethod,
    baseline_samples: usize,
    threshold_mv: f64,
    dig: &Digitizer,
) -> PolarityScan {
    let mv = dig.mv_per_adc() as f32;
    let thr = threshold_mv as f32;
    // Per event: +h for a positive pulse of h mV, −h for a negative one, 0 for none.
    let heights: Vec<f32> = (0..w.events())
        .into_par_iter()
        .with_min_len(256)
        .map(|i| {
            let ev = w.event(i);
            if ev.is_empty() {
                return 0.0;
            }
            let b = baseline(ev, method, baseline_samples) as f32;
            let up = (extreme(ev, Polarity::Positive) - b) * mv;
            let down = (b - extreme(ev, Polarity::Negative)) * mv;
            if up >= thr && up >= down {
                up
            } else if down >= thr {
                -down
            } else {
                0.0
            }
        })
        .collect();
    let median = |mut v: Vec<f32>| -> f32 {
        if v.is_empty() {
            return 0.0;
        }
        let mid = v.len() / 2;
        *v.select_nth_unstable_by(mid, f32::total_cmp).1
    };
    let pos: Vec<f32> = heights.iter().copied().filter(|h| *h > 0.0).collect();
    let neg: Vec<f32> = heights.iter().filter(|h| **h < 0.0).map(|h| -h).collect();
    PolarityScan {
        events: w.events(),
        positive: pos.len(),
        negative: neg.len(),
        positive_mv: median(pos),
        negative_mv: median(neg),
        threshold_mv,
    }
}

/// Baseline, peak and leading edge of every event, for pulses of sign `polarity` (the
/// resolved sign: `cfg.polarity` may be `auto`).
pub fn features(w: &Waveforms, cfg: &PulseConfig, polarity: Polarity, dig: &Digitizer) -> Features {
    let n = w.events();
    let mut f = Features {
        baseline: vec![0.0; n],
        amplitude_mv: vec![0.0; n],
        peak_sample: vec![0; n],
        start: vec![f32::NAN; n],
    };
    if n == 0 || w.record_len == 0 {
        return f;
    }
    let s = sign(polarity);
    let mv = dig.mv_per_adc() as f32;
    // Threshold in ADC counts, so the inner loop never multiplies.
    let thr = (cfg.threshold_mv / dig.mv_per_adc()) as f32;
    let chunk = 1024;
    f.baseline
        .par_chunks_mut(chunk)
        .zip(f.amplitude_mv.par_chunks_mut(chunk))
        .zip(f.peak_sample.par_chunks_mut(chunk))
        .zip(f.start.par_chunks_mut(chunk))
        .enumerate()
        .for_each(|(c, (((bl, amp), pk), st))| {
            for k in 0..bl.len() {
                let ev = w.event(c * chunk + k);
                let exact = baseline(ev, cfg.baseline, cfg.baseline_samples);
                let b = exact as f32;
                // The pulse extreme (minimum for negative pulses) is a plain reduction the
                // compiler vectorises; its index and the leading edge are then found by
                // block-wise scans that stop at the hit.
                let ext = extreme(ev, polarity);
                let best = s * (ext - b);
                let best_i = first_index(ev, |x| x == ext).unwrap_or(0);
                // s·(x − b) ≥ thr, as a bound on the raw sample.
                let level = b + s * thr;
                let crossing = match polarity {
                    Polarity::Negative => first_index(&ev[1.min(ev.len())..], |x| x <= level),
                    Polarity::Positive => first_index(&ev[1.min(ev.len())..], |x| x >= level),
                };
                let start = crossing.map_or(f32::NAN, |j| {
                    let (prev, v) = (s * (ev[j] - b), s * (ev[j + 1] - b));
                    // Linear interpolation between the samples around the crossing.
                    let frac = if v > prev {
                        (thr - prev) / (v - prev)
                    } else {
                        0.0
                    };
                    j as f32 + frac.clamp(0.0, 1.0)
                });
                bl[k] = exact;
                amp[k] = best * mv;
                pk[k] = best_i as u32;
                st[k] = start;
            }
        });
    f
}

/// Whether each event holds a pulse of sign `polarity` over `threshold_mv` among its
/// baseline samples: the first `n`, and never at or after its charge window's start
/// (`starts[i]`; `None`: not checked, `false`). Such a pulse (a dark pulse) shifts the
/// baseline, and with it the event's charge by more than a photoelectron's worth.
pub fn pulse_in_baseline(
    w: &Waveforms,
    baselines: &[f64],
    polarity: Polarity,
    n: usize,
    starts: &[Option<i64>],
    threshold_mv: f64,
    dig: &Digitizer,
) -> Vec<bool> {
    let s = sign(polarity);
    let thr = (threshold_mv / dig.mv_per_adc()) as f32;
    (0..w.events())
        .into_par_iter()
        .with_min_len(512)
        .map(|i| {
            let (Some(Some(a)), Some(&b)) = (starts.get(i), baselines.get(i)) else {
                return false;
            };
            let ev = w.event(i);
            let b = b as f32;
            let end = n.min(ev.len()).min((*a).max(0) as usize);
            ev[..end].iter().any(|&x| s * (x - b) >= thr)
        })
        .collect()
}

/// Integrates each event over `[start, start + length)` samples (clipped to the record),
/// polarity-corrected and baseline-subtracted, in pC. `starts[i] = None` skips event `i`
/// (its charge is NaN). Returns the charges and how many windows had to be clipped.
pub fn integrate(
    w: &Waveforms,
    baselines: &[f64],
    polarity: Polarity,
    starts: &[Option<i64>],
    length: usize,
    dig: &Digitizer,
) -> (Vec<f64>, usize) {
    let s = f64::from(sign(polarity));
    let k = dig.pc_per_adc_sample();
    let len = w.record_len as i64;
    let out: Vec<(f64, bool)> = (0..w.events())
        .into_par_iter()
        .with_min_len(512)
        .map(|i| {
            let Some(a) = starts.get(i).copied().flatten() else {
                return (f64::NAN, false);
            };
            let lo = a.clamp(0, len) as usize;
            let hi = (a + length as i64).clamp(0, len) as usize;
            let clipped = lo as i64 != a || hi as i64 != a + length as i64;
            if hi <= lo {
                return (f64::NAN, true);
            }
            let b = baselines[i];
            let sum: f64 = w.event(i)[lo..hi].iter().map(|&x| f64::from(x)).sum();
            (s * (sum - b * (hi - lo) as f64) * k, clipped)
        })
        .collect();
    let clipped = out.iter().filter(|(_, c)| *c).count();
    (out.into_iter().map(|(q, _)| q).collect(), clipped)
}

/// The most frequent value of `values` rounded to whole samples (NaNs ignored).
pub fn mode(values: impl Iterator<Item = f32>) -> Option<i64> {
    let mut counts = std::collections::HashMap::<i64, usize>::new();
    for v in values.filter(|v| v.is_finite()) {
        *counts.entry(v.round() as i64).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(v, c)| (c, -v))
        .map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_event(samples: &[f32]) -> Waveforms {
        let mut w = Waveforms::new("test", samples.len());
        w.push(0, 0, samples);
        w
    }

    #[test]
    fn baseline_mean_and_median() {
        assert_eq!(
            baseline(&[1.0, 2.0, 3.0, 100.0], BaselineMethod::Mean, 3),
            2.0
        );
        assert_eq!(
            baseline(&[4.0, 1.0, 3.0, 2.0], BaselineMethod::Median, 4),
            2.5
        );
        assert_eq!(baseline(&[4.0, 1.0, 3.0], BaselineMethod::Median, 10), 3.0);
        assert_eq!(baseline(&[], BaselineMethod::Median, 10), 0.0);
    }

    #[test]
    fn negative_pulse_features_and_charge() {
        // Baseline 100, a negative pulse of 30 counts at samples 10..13.
        let mut s = vec![100.0f32; 20];
        for (i, d) in [(10, 10.0), (11, 30.0), (12, 20.0)] {
            s[i] = 100.0 - d;
        }
        let w = one_event(&s);
        let dig = Digitizer::default();
        let cfg = PulseConfig {
            baseline_samples: 5,
            threshold_mv: 15.0 * dig.mv_per_adc(),
            ..Default::default()
        };
        let f = features(&w, &cfg, Polarity::Negative, &dig);
        assert_eq!(f.baseline[0], 100.0);
        assert_eq!(f.peak_sample[0], 11);
        assert!((f.amplitude_mv[0] - 30.0 * dig.mv_per_adc() as f32).abs() < 1e-4);
        // Crosses 15 between sample 10 (10) and 11 (30): 10 + 0.25.
        assert!((f.start[0] - 10.25).abs() < 1e-4, "{}", f.start[0]);
        let (q, clipped) = integrate(&w, &f.baseline, Polarity::Negative, &[Some(8)], 10, &dig);
        assert_eq!(clipped, 0);
        assert!((q[0] - 60.0 * dig.pc_per_adc_sample()).abs() < 1e-12);
        let (q, clipped) = integrate(&w, &f.baseline, Polarity::Negative, &[Some(15)], 10, &dig);
        assert_eq!(clipped, 1);
        assert_eq!(q[0], 0.0);
        let (q, _) = integrate(&w, &f.baseline, Polarity::Negative, &[None], 10, &dig);
        assert!(q[0].is_nan());
    }

    /// The block-wise, vectorised scans give exactly what the plain definitions give.
    #[test]
    fn fast_scans_match_the_plain_definitions() {
        // A cheap deterministic generator: every length 0..70 covers block remainders.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 200) as f32
        };
        for len in 0..70 {
            let ev: Vec<f32> = (0..len).map(|_| next()).collect();
            for pol in [Polarity::Negative, Polarity::Positive] {
                let plain = match pol {
                    Polarity::Negative => ev.iter().copied().fold(f32::INFINITY, f32::min),
                    Polarity::Positive => ev.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                };
                let want = if ev.is_empty() { 0.0 } else { plain };
                assert_eq!(extreme(&ev, pol), want, "len {len} {pol:?}");
            }
            for lim in [0.0, 50.0, 150.0, 250.0] {
                assert_eq!(
                    first_index(&ev, |x| x >= lim),
                    ev.iter().position(|&x| x >= lim),
                    "len {len} lim {lim}"
                );
            }
        }
    }

    #[test]
    fn polarity_scan_counts_by_sign() {
        let dig = Digitizer::default();
        let mv = dig.mv_per_adc() as f32;
        let mut w = Waveforms::new("scan", 20);
        for (i, d) in [(0, 900.0f32), (1, 900.0), (2, -900.0), (3, 5.0)] {
            let mut s = vec![8000.0f32; 20];
            s[12] += d / mv;
            w.push(i, 0, &s);
        }
        let scan = scan_polarity(&w, BaselineMethod::Mean, 5, 100.0, &dig);
        assert_eq!((scan.events, scan.positive, scan.negative), (4, 2, 1));
        assert_eq!(scan.dominant(), Polarity::Positive);
        assert!((scan.positive_mv - 900.0).abs() < 1.0, "{scan:?}");
        assert_eq!(
            scan.describe(Polarity::Positive),
            "positive pulses of ~900 mV in 2 of 4 events"
        );
        assert_eq!(
            scan_polarity(&w, BaselineMethod::Mean, 5, 1000.0, &dig).describe(Polarity::Negative),
            "no negative pulses over 1000 mV in 4 events"
        );
    }

    #[test]
    fn mode_prefers_most_frequent() {
        assert_eq!(mode([1.2, 5.0, 5.1, 4.9, f32::NAN].into_iter()), Some(5));
        assert_eq!(mode(std::iter::empty()), None);
    }
}
