//! Per-event waveform features: baseline, polarity-corrected peak height, leading-edge
//! start time, and the charge integrated in a window. Events are independent, so the work
//! is spread over all cores in chunks (rayon); everything stays in flat vectors.

use rayon::prelude::*;

use super::config::{BaselineMethod, Digitizer, Polarity, PulseConfig};
use super::data::Waveforms;

/// Features of every event of one channel (index = event index in the [`Waveforms`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Baseline in ADC counts.
    pub baseline: Vec<f32>,
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
pub fn baseline(samples: &[f32], method: BaselineMethod, n: usize) -> f32 {
    let head = &samples[..n.min(samples.len()).max(usize::from(!samples.is_empty()))];
    if head.is_empty() {
        return 0.0;
    }
    match method {
        BaselineMethod::Mean => {
            (head.iter().map(|&v| f64::from(v)).sum::<f64>() / head.len() as f64) as f32
        }
        BaselineMethod::Median => {
            let mut v = head.to_vec();
            let mid = v.len() / 2;
            let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
            let upper = *m;
            if v.len() % 2 == 1 {
                upper
            } else {
                let lower = v[..mid].iter().copied().fold(f32::NEG_INFINITY, f32::max);
                0.5 * (lower + upper)
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

/// Baseline, peak and leading edge of every event.
pub fn features(w: &Waveforms, cfg: &PulseConfig, dig: &Digitizer) -> Features {
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
    let s = sign(cfg.polarity);
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
                let b = baseline(ev, cfg.baseline, cfg.baseline_samples);
                let mut best = f32::NEG_INFINITY;
                let mut best_i = 0usize;
                let mut prev = 0.0f32;
                let mut start = f32::NAN;
                for (i, &x) in ev.iter().enumerate() {
                    let v = s * (x - b);
                    if v > best {
                        best = v;
                        best_i = i;
                    }
                    if start.is_nan() && v >= thr && i > 0 {
                        // Linear interpolation between the samples around the crossing.
                        let frac = if v > prev {
                            (thr - prev) / (v - prev)
                        } else {
                            0.0
                        };
                        start = (i - 1) as f32 + frac.clamp(0.0, 1.0);
                    }
                    prev = v;
                }
                bl[k] = b;
                amp[k] = best * mv;
                pk[k] = best_i as u32;
                st[k] = start;
            }
        });
    f
}

/// Integrates each event over `[start, start + length)` samples (clipped to the record),
/// polarity-corrected and baseline-subtracted, in pC. `starts[i] = None` skips event `i`
/// (its charge is NaN). Returns the charges and how many windows had to be clipped.
pub fn integrate(
    w: &Waveforms,
    baselines: &[f32],
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
            let b = f64::from(baselines[i]);
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
        let f = features(&w, &cfg, &dig);
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

    #[test]
    fn mode_prefers_most_frequent() {
        assert_eq!(mode([1.2, 5.0, 5.1, 4.9, f32::NAN].into_iter()), Some(5));
        assert_eq!(mode(std::iter::empty()), None);
    }
}
