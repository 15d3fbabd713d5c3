//! A realistic simulator of the R12860 bench: three-channel WaveDump ASCII points (trigger,
//! SiPM pick-off, PMT — positive, positive and negative pulses, as the bench's own
//! configuration declares them) with a known truth, so the whole pipeline can be tested end to end
//! and `process --watch` can be exercised against a scan that plays out in real time.
//!
//! Physics: per event the number of photoelectrons is Poisson(λ); each PE's charge is a
//! Gaussian N(Q1, σ1) truncated at 0, or with a small probability an under-amplified
//! charge of 0.2–0.4 Q1 (a photoelectron that missed the first dynode). Each PE gives a
//! negative bi-exponential pulse whose sampled sum equals its charge exactly, at the
//! transit time after the trigger pulse with the PMT's transit-time spread. Dark pulses
//! (R12860 20": ~6 kHz) land anywhere in the record. Gaussian electronics noise, integer
//! ADC quantisation and clipping to the ADC range finish the waveform.
//!
//! Reproducibility: everything is drawn from ChaCha8 generators whose seeds derive from
//! (seed, point index, chunk index), so a scan is bit-identical for a seed no matter how
//! many threads rayon uses.
//!
//! Why this file is over 600 lines: one waveform model (SPE shape, dark pulses, TTS,
//! noise, the three channels) and the writers of the bench's layout, plus their unit
//! tests; split, each part would need the whole parameter set anyway.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::E_PC;
use super::data::Waveforms;
use super::error::{Error, Result};
use super::output::write_atomic;
use super::scan::{PointLabel, channel_file_name, point_dir_name};
use super::serial::Serial;

/// Everything the simulator needs for one point (a scan varies gain and occupancy per
/// point around these values, see [`SimParams::for_point`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimParams {
    /// PMT gain (Q1 of the Gaussian SPE / e) at the pole and nominal HV.
    pub gain: f64,
    /// Mean photoelectrons per event (λ).
    pub occupancy: f64,
    /// Events per point.
    pub events: usize,
    /// Samples per event.
    pub record_len: usize,
    /// Sampling period in ns.
    pub sample_ns: f64,
    /// ADC resolution in bits.
    pub bits: u32,
    /// Full-scale range in volts peak-to-peak.
    pub vpp: f64,
    /// Input impedance in ohm.
    pub impedance_ohm: f64,
    /// Baseline in ADC counts, plus a small offset per channel (ch0, ch1, ch2).
    pub baseline_adc: f64,
    pub channel_offsets_adc: [f64; 3],
    /// Electronics noise σ in mV on every channel.
    pub noise_mv: f64,
    /// SPE resolution σ1/Q1.
    pub spe_resolution: f64,
    /// Fraction of photoelectrons that are under-amplified, and their charge range in
    /// units of Q1 (the shape's support for `uniform`, its mean the range's middle for
    /// the other shapes).
    pub underamp_fraction: f64,
    pub underamp_range: [f64; 2],
    /// How the under-amplified charges are distributed.
    pub underamp_shape: UnderampShape,
    /// Dark-count rate in Hz (pulses anywhere in the record).
    pub dark_rate_hz: f64,
    /// Trigger (square pulse on ch0): start, jitter σ, width, height (positive on the
    /// bench, whose configuration declares ch0 `polarity: pos`; negative for a NIM level).
    pub trigger_ns: f64,
    pub trigger_jitter_ns: f64,
    pub trigger_width_ns: f64,
    pub trigger_mv: f64,
    /// SiPM pick-off (ch1): delay after the trigger and peak height (positive on the bench).
    pub pickoff_delay_ns: f64,
    pub pickoff_mv: f64,
    /// PMT transit time after the trigger pulse's start, and its spread σ (TTS).
    pub transit_ns: f64,
    pub tts_ns: f64,
    /// Fraction of the light's photoelectrons that arrive late (elastically scattered
    /// off the first dynode), delayed uniformly within `late_delay_ns` after the transit.
    /// 0 by default, so older simulations keep their random streams.
    pub late_fraction: f64,
    pub late_delay_ns: [f64; 2],
    /// Bi-exponential PMT pulse: rise and fall time constants in ns.
    pub rise_ns: f64,
    pub fall_ns: f64,
    /// Nominal HV of the tube; an HV point's gain scales as (V/nominal)^7 around it.
    pub hv_nominal: f64,
    /// Extra gain factors for single points, by label (`theta10_phi90` → 0.7): a weak
    /// spot on the photocathode, for demos and tests of the "poor" verdict.
    pub gain_factors: std::collections::BTreeMap<String, f64>,
    /// Dark-rate factors for single points, by label (`theta10_phi90` → 50): a light
    /// leak while that point was taken.
    pub dark_factors: std::collections::BTreeMap<String, f64>,
    /// A reference sensor on ch1 instead of the pick-off: a SiPM seeing this mean number
    /// of photoelectrons per trigger (Poisson), each a positive pulse of `reference_mv`
    /// (10 % spread) — `None` keeps the bench's pick-off pulse.
    pub reference_occupancy: Option<f64>,
    pub reference_mv: f64,
    /// The light source's intensity at this point, relative to nominal: scales both the
    /// PMT's and the reference's occupancy (a drifting laser).
    pub intensity: f64,
    /// The source's drift over a scan: its intensity falls linearly by this fraction from
    /// the first point to the last (see [`SimParams::for_scan_point`]).
    pub intensity_drift: f64,
}

/// The charge distribution of under-amplified photoelectrons (in units of Q1). Real tubes
/// differ, and a fit is checked against each: photoelectrons that skip the first dynode
/// give a peak well below Q1 (`uniform` over the range), inelastic scattering a continuum
/// down to zero charge (`exponential`, the shape of Bellamy et al. and of PMTCalib), or a
/// broad hump in between (`hump`, a Gamma of shape 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnderampShape {
    #[default]
    Uniform,
    Exponential,
    Hump,
}

impl std::str::FromStr for UnderampShape {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "uniform" => Ok(Self::Uniform),
            "exponential" => Ok(Self::Exponential),
            "hump" => Ok(Self::Hump),
            _ => Err(format!(
                "unknown under-amplified shape '{s}': use uniform, exponential or hump"
            )),
        }
    }
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            gain: 1e7,
            occupancy: 1.0,
            events: 4000,
            record_len: 520,
            sample_ns: 2.0,
            bits: 14,
            vpp: 2.0,
            impedance_ohm: 50.0,
            baseline_adc: 8000.0,
            channel_offsets_adc: [12.0, -21.0, 7.0],
            noise_mv: 0.4,
            spe_resolution: 0.3,
            underamp_fraction: 0.04,
            underamp_range: [0.2, 0.4],
            underamp_shape: UnderampShape::Uniform,
            dark_rate_hz: 6000.0,
            trigger_ns: 100.0,
            trigger_jitter_ns: 0.2,
            trigger_width_ns: 20.0,
            trigger_mv: 800.0,
            pickoff_delay_ns: 12.0,
            pickoff_mv: 300.0,
            transit_ns: 325.0,
            tts_ns: 1.3,
            late_fraction: 0.0,
            late_delay_ns: [20.0, 80.0],
            // τr 1.5 ns / τf 5 ns: ~3 ns 10–90 % rise, ~11 ns 90–10 % fall, peak ≈ 9.5 mV
            // at gain 1e7 — what an R12860 pulse looks like on the bench.
            rise_ns: 1.5,
            fall_ns: 5.0,
            hv_nominal: 1500.0,
            gain_factors: std::collections::BTreeMap::new(),
            dark_factors: std::collections::BTreeMap::new(),
            reference_occupancy: None,
            reference_mv: 20.0,
            intensity: 1.0,
            intensity_drift: 0.0,
        }
    }
}

/// Exponent of gain against HV: 10 dynodes × ~0.7 per stage.
const HV_EXPONENT: f64 = 7.0;
/// WaveDump trigger-time-tag ticks between events (1 kHz laser, 8 ns ticks).
const TTT_STEP: u64 = 125_000;
/// Events per rayon task (each with its own derived seed).
const CHUNK: usize = 256;

impl SimParams {
    /// Millivolts per ADC count.
    pub fn mv_per_adc(&self) -> f64 {
        self.vpp * 1000.0 / f64::from(1u32 << self.bits.min(31))
    }

    /// pC per ADC count × sample (mV·ns/Ω).
    pub fn pc_per_adc_sample(&self) -> f64 {
        self.mv_per_adc() * self.sample_ns / self.impedance_ohm
    }

    /// Q1 (mean of the Gaussian SPE) in ADC·samples: gain 1e7 ≈ 328.
    pub fn q1_adc_samples(&self) -> f64 {
        self.gain * E_PC / self.pc_per_adc_sample()
    }

    /// Mean charge of one photoelectron in ADC·samples, over the truncated Gaussian and
    /// the under-amplified part.
    pub fn mean_spe_adc_samples(&self) -> f64 {
        let q1 = self.q1_adc_samples();
        let s1 = self.spe_resolution * q1;
        let gauss = if s1 > 0.0 {
            // Mean of N(q1, s1) truncated to q > 0.
            let a = -q1 / s1;
            q1 + s1 * norm_pdf(a) / norm_sf(a)
        } else {
            q1
        };
        let [lo, hi] = self.underamp_range;
        let f = self.underamp_fraction.clamp(0.0, 1.0);
        // Every shape has the range's middle as its mean.
        (1.0 - f) * gauss + f * 0.5 * (lo + hi) * q1
    }

    /// Checks the values can be simulated (and fit in memory: a point is held whole).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Input(format!("simulation parameters: {m}")));
        let positive = [
            ("gain", self.gain),
            ("sample_ns", self.sample_ns),
            ("vpp", self.vpp),
            ("impedance_ohm", self.impedance_ohm),
            ("rise_ns", self.rise_ns),
            ("fall_ns", self.fall_ns),
            ("hv_nominal", self.hv_nominal),
        ];
        let non_negative = [
            ("occupancy", self.occupancy),
            ("noise_mv", self.noise_mv),
            ("spe_resolution", self.spe_resolution),
            ("dark_rate_hz", self.dark_rate_hz),
            ("tts_ns", self.tts_ns),
            ("trigger_jitter_ns", self.trigger_jitter_ns),
            ("trigger_width_ns", self.trigger_width_ns),
        ];
        let finite = [
            ("baseline_adc", self.baseline_adc),
            ("trigger_ns", self.trigger_ns),
            ("trigger_mv", self.trigger_mv),
            ("pickoff_delay_ns", self.pickoff_delay_ns),
            ("pickoff_mv", self.pickoff_mv),
            ("transit_ns", self.transit_ns),
        ];
        if let Some((n, v)) = positive.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return bad(format!("{n} must be a positive number, got {v}"));
        }
        if let Some((n, v)) = non_negative
            .iter()
            .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
        {
            return bad(format!("{n} must be a number ≥ 0, got {v}"));
        }
        if let Some((n, v)) = finite.iter().find(|(_, v)| !v.is_finite()) {
            return bad(format!("{n} must be a finite number, got {v}"));
        }
        if !(1..=16).contains(&self.bits) {
            return bad(format!("bits must be 1–16, got {}", self.bits));
        }
        if self.record_len == 0
            || self.events == 0
            || self.events.saturating_mul(self.record_len) > 200_000_000
        {
            return bad("events and record_len must be ≥ 1, events × record_len ≤ 2e8".into());
        }
        if self.rise_ns == self.fall_ns {
            return bad("rise_ns and fall_ns must differ (bi-exponential pulse)".into());
        }
        if self.occupancy > 100.0 || self.dark_rate_hz > 1e9 {
            return bad("occupancy ≤ 100 and dark_rate_hz ≤ 1e9 (a photon-counting regime)".into());
        }
        let [lo, hi] = self.underamp_range;
        // Written so that NaN fails every comparison.
        let [dlo, dhi] = self.late_delay_ns;
        if !(0.0..=1.0).contains(&self.late_fraction)
            || dlo.is_nan()
            || dhi.is_nan()
            || dlo < 0.0
            || dlo > dhi
            || dhi >= 1e4
        {
            return bad("late_fraction must be in [0, 1], late_delay_ns 0 ≤ lo ≤ hi < 1e4".into());
        }
        let range_ok = 0.0 < lo && lo <= hi && hi.is_finite();
        if !range_ok || !(0.0..=1.0).contains(&self.underamp_fraction) {
            return bad("underamp_fraction must be in [0, 1], underamp_range 0 < lo ≤ hi".into());
        }
        if let Some((l, f)) = self
            .gain_factors
            .iter()
            .find(|(_, f)| !(f.is_finite() && **f > 0.0 && **f <= 100.0))
        {
            return bad(format!(
                "the gain factor of {l} must be in (0, 100], got {f}"
            ));
        }
        if let Some((l, f)) = self
            .dark_factors
            .iter()
            .find(|(_, f)| !(f.is_finite() && **f >= 0.0 && **f <= 1e4))
        {
            return bad(format!(
                "the dark-rate factor of {l} must be in [0, 1e4], got {f}"
            ));
        }
        if self
            .reference_occupancy
            .is_some_and(|r| !(r.is_finite() && (0.0..=100.0).contains(&r)))
            || !(self.reference_mv.is_finite() && self.reference_mv > 0.0)
        {
            return bad("reference_occupancy must be in [0, 100], reference_mv > 0".into());
        }
        let intensity_ok = self.intensity.is_finite()
            && self.intensity > 0.0
            && self.intensity <= 100.0
            && (0.0..1.0).contains(&self.intensity_drift);
        if !intensity_ok {
            return bad("intensity must be in (0, 100], intensity_drift in [0, 1)".into());
        }
        Ok(())
    }

    /// The parameters at one scan point: the gain varies smoothly over the photocathode
    /// (+5 % at the pole to −5 % at the equator, and ±1 % with φ off the pole) and the
    /// occupancy falls slightly with θ (the laser spot grows on the tilted surface); an HV
    /// point's gain follows (V/nominal)^7.
    pub fn for_point(&self, label: &PointLabel) -> SimParams {
        let mut p = self.clone();
        match *label {
            PointLabel::Surface { theta, phi } => {
                let (t, f) = (theta.to_radians(), phi.to_radians());
                p.gain = self.gain * (1.0 + 0.05 * (2.0 * t).cos() + 0.01 * t.sin() * f.sin());
                p.occupancy = self.occupancy * (1.0 - 0.1 * (1.0 - t.cos()));
            }
            PointLabel::Hv { volts } => {
                p.gain = self.gain * (volts / self.hv_nominal).max(0.0).powf(HV_EXPONENT);
            }
            // A dark run: no light reaches the tube (nor the reference), only dark pulses.
            PointLabel::Dark { .. } => p.occupancy = 0.0,
        }
        if let Some(f) = self.gain_factors.get(&label.label()) {
            p.gain *= f;
        }
        if let Some(f) = self.dark_factors.get(&label.label()) {
            p.dark_rate_hz *= f;
        }
        p.occupancy *= self.intensity;
        p.reference_occupancy = self.reference_occupancy.map(|r| r * self.intensity);
        if matches!(label, PointLabel::Dark { .. }) {
            p.reference_occupancy = p.reference_occupancy.map(|_| 0.0);
        }
        p
    }

    /// [`SimParams::for_point`] for point `index` of a scan of `count` points, with the
    /// source's intensity drifted by `intensity_drift × index / (count − 1)`.
    pub fn for_scan_point(&self, label: &PointLabel, index: usize, count: usize) -> SimParams {
        let mut base = self.clone();
        if count > 1 {
            base.intensity *= 1.0 - self.intensity_drift * index as f64 / (count - 1) as f64;
        }
        base.for_point(label)
    }
}

/// What a point really is, for comparing the pipeline's answer against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointTruth {
    /// Point label (`theta30_phi90`, `hv1500`).
    pub label: String,
    pub theta: Option<f64>,
    pub phi: Option<f64>,
    pub hv: Option<f64>,
    /// Gain = Q1 of the Gaussian SPE / e (the standard definition a fit reports).
    pub gain: f64,
    /// Mean photoelectrons per event.
    pub occupancy: f64,
    pub events: usize,
    /// Mean SPE charge / e, including the truncation and the under-amplified part.
    pub mean_spe_gain: f64,
    /// Dark rate in Hz at this point (light leaks included).
    #[serde(default)]
    pub dark_rate_hz: f64,
    /// The reference sensor's occupancy, where one was simulated.
    #[serde(default)]
    pub reference_occupancy: Option<f64>,
    /// The source's intensity relative to nominal.
    #[serde(default)]
    pub intensity: f64,
}

impl PointTruth {
    /// The truth of a point simulated with `p` (already [`SimParams::for_point`]).
    pub fn new(label: &PointLabel, p: &SimParams) -> Self {
        PointTruth {
            label: label.label(),
            theta: label.theta(),
            phi: label.phi(),
            hv: label.hv(),
            gain: p.gain,
            occupancy: p.occupancy,
            events: p.events,
            mean_spe_gain: p.mean_spe_adc_samples() * p.pc_per_adc_sample() / E_PC,
            dark_rate_hz: p.dark_rate_hz,
            reference_occupancy: p.reference_occupancy,
            intensity: p.intensity,
        }
    }
}

/// The content of `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanTruth {
    pub serial: String,
    pub seed: u64,
    /// When the simulation started (RFC 3339, UTC).
    pub created: String,
    pub params: SimParams,
    pub points: Vec<PointTruth>,
}

/// Standard normal density.
fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal survival function 1 − Φ(x) (Abramowitz–Stegun 7.1.26 for erfc,
/// |error| < 1.5e-7: plenty for a truth that the fit's statistics never resolve).
fn norm_sf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * erfc
    } else {
        1.0 - 0.5 * erfc
    }
}

/// A seed for sub-stream `index` of `seed` (SplitMix64 finaliser), so points and chunks
/// get independent, reproducible streams.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// Adds `scale · (e^{−t/τf} − e^{−t/τr})` for t = sample time − `t0` ≥ 0 to `buf`.
fn add_biexp(buf: &mut [f64], dt: f64, t0: f64, scale: f64, rise: f64, fall: f64) {
    let k0 = (t0 / dt).ceil().max(0.0) as usize;
    // Beyond 14 fall times the pulse is below 1e-6 of its peak.
    let k_end = (((t0 + 14.0 * fall.max(rise)) / dt).ceil().max(0.0) as usize).min(buf.len());
    for (k, v) in buf.iter_mut().enumerate().take(k_end).skip(k0) {
        let t = k as f64 * dt - t0;
        *v += scale * ((-t / fall).exp() - (-t / rise).exp());
    }
}

/// Sum over all samples k·dt ≥ t0 of the unit bi-exponential: the factor that makes a
/// pulse's sampled sum equal its charge exactly (geometric series, any sub-sample phase).
fn biexp_sample_sum(dt: f64, t0: f64, rise: f64, fall: f64) -> f64 {
    let delta = (t0 / dt).ceil().max(0.0) * dt - t0;
    let series = |tau: f64| (-delta / tau).exp() / (1.0 - (-dt / tau).exp());
    series(fall) - series(rise)
}

/// Peak of the unit bi-exponential, to scale a pulse to a given height.
fn biexp_peak(rise: f64, fall: f64) -> f64 {
    let tp = (fall / rise).ln() * rise * fall / (fall - rise);
    (-tp / fall).exp() - (-tp / rise).exp()
}

/// One standard-normal draw.
fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Draws one photoelectron's charge in ADC·samples.
fn spe_charge(p: &SimParams, q1: f64, rng: &mut ChaCha8Rng) -> f64 {
    if p.underamp_fraction > 0.0 && rng.random::<f64>() < p.underamp_fraction {
        let [lo, hi] = p.underamp_range;
        let mean = 0.5 * (lo + hi);
        return q1
            * match p.underamp_shape {
                UnderampShape::Uniform => lo + (hi - lo) * rng.random::<f64>(),
                // Inverse CDF; 1 − u lies in (0, 1], so the logarithm is finite.
                UnderampShape::Exponential => -mean * (1.0 - rng.random::<f64>()).ln(),
                // Gamma(2): the sum of two exponentials of half the mean.
                UnderampShape::Hump => {
                    -0.5 * mean
                        * ((1.0 - rng.random::<f64>()).ln() + (1.0 - rng.random::<f64>()).ln())
                }
            };
    }
    let s1 = p.spe_resolution * q1;
    for _ in 0..1000 {
        let q = q1 + s1 * gauss(rng);
        if q > 0.0 {
            return q;
        }
    }
    // Only reachable with an absurd resolution; a positive charge keeps the physics sane.
    q1
}

/// Draws a Poisson count; λ = 0 (which rand_distr refuses) is simply no count.
fn poisson(lambda: f64, rng: &mut ChaCha8Rng) -> u64 {
    match Poisson::new(lambda) {
        Ok(d) => {
            let n: f64 = d.sample(rng);
            n as u64
        }
        Err(_) => 0,
    }
}

/// Simulates events `[first, first + n)` into three sample buffers (ch0, ch1, ch2).
fn simulate_chunk(p: &SimParams, n: usize, seed: u64) -> [Vec<f32>; 3] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = p.record_len;
    let dt = p.sample_ns;
    let mv = p.mv_per_adc();
    let max_adc = f64::from((1u32 << p.bits.min(31)) - 1);
    let noise_adc = p.noise_mv / mv;
    let q1 = p.q1_adc_samples();
    let record_ns = len as f64 * dt;
    // Dark pulses may start a little before the record and still reach into it.
    let dark_span_ns = record_ns + 10.0 * p.fall_ns;
    let dark_lambda = p.dark_rate_hz * dark_span_ns * 1e-9;
    let (pick_rise, pick_fall) = (1.0, 15.0);
    let pick_scale = p.pickoff_mv / mv / biexp_peak(pick_rise, pick_fall);

    let mut out: [Vec<f32>; 3] = std::array::from_fn(|_| Vec::with_capacity(n * len));
    let mut buf = vec![0.0f64; len];
    for _ in 0..n {
        let t_trig = p.trigger_ns + p.trigger_jitter_ns * gauss(&mut rng);
        for (ch, o) in out.iter_mut().enumerate() {
            buf.fill(0.0);
            match ch {
                0 => {
                    // Square pulse with one-sample linear edges, like a NIM level.
                    let h = p.trigger_mv / mv;
                    for (k, v) in buf.iter_mut().enumerate() {
                        let t = k as f64 * dt;
                        let up = ((t - t_trig) / dt).clamp(0.0, 1.0);
                        let down = ((t_trig + p.trigger_width_ns - t) / dt).clamp(0.0, 1.0);
                        *v = h * up.min(down);
                    }
                }
                1 => match p.reference_occupancy {
                    None => {
                        let amp: f64 = 1.0 + 0.1 * gauss(&mut rng);
                        let t0 = t_trig + p.pickoff_delay_ns;
                        add_biexp(&mut buf, dt, t0, pick_scale * amp, pick_rise, pick_fall);
                    }
                    Some(r) => {
                        // A SiPM: each photoelectron one pulse of the same height (10 %
                        // spread), of the pick-off's sign.
                        let one = p.reference_mv.copysign(p.pickoff_mv)
                            / mv
                            / biexp_peak(pick_rise, pick_fall);
                        for _ in 0..poisson(r, &mut rng) {
                            let amp: f64 = 1.0 + 0.1 * gauss(&mut rng);
                            let t0 = t_trig + p.pickoff_delay_ns + 0.3 * gauss(&mut rng);
                            add_biexp(&mut buf, dt, t0, one * amp, pick_rise, pick_fall);
                        }
                    }
                },
                _ => {
                    let n_pe = poisson(p.occupancy, &mut rng);
                    let n_dark = poisson(dark_lambda, &mut rng);
                    for i in 0..n_pe + n_dark {
                        let q = spe_charge(p, q1, &mut rng);
                        let t0 = if i < n_pe {
                            let mut t = t_trig + p.transit_ns + p.tts_ns * gauss(&mut rng);
                            if p.late_fraction > 0.0 && rng.random::<f64>() < p.late_fraction {
                                let [a, b] = p.late_delay_ns;
                                t += a + (b - a) * rng.random::<f64>();
                            }
                            t
                        } else {
                            rng.random::<f64>() * dark_span_ns - 10.0 * p.fall_ns
                        };
                        let norm = biexp_sample_sum(dt, t0, p.rise_ns, p.fall_ns);
                        add_biexp(&mut buf, dt, t0, -q / norm, p.rise_ns, p.fall_ns);
                    }
                }
            }
            let base = p.baseline_adc + p.channel_offsets_adc[ch];
            for &v in &buf {
                let noise = if noise_adc > 0.0 {
                    noise_adc * gauss(&mut rng)
                } else {
                    0.0
                };
                o.push((base + v + noise).round().clamp(0.0, max_adc) as f32);
            }
        }
    }
    out
}

/// Simulates one point in memory: `[trigger ch0, pick-off ch1, PMT ch2]`, deterministic
/// for a seed. Event chunks run in parallel, each from its own derived seed. Parameters
/// are used as given (see [`SimParams::for_point`] for a scan point's variation); invalid
/// ones are caught by [`SimParams::validate`], which the scan functions call.
pub fn simulate_point(params: &SimParams, seed: u64) -> [Waveforms; 3] {
    let n = params.events;
    let chunks: Vec<[Vec<f32>; 3]> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let m = CHUNK.min(n - c * CHUNK);
            simulate_chunk(params, m, derive_seed(seed, c as u64))
        })
        .collect();
    std::array::from_fn(|ch| {
        let mut w = Waveforms::new(
            PathBuf::from(format!("simulated ch{ch}")),
            params.record_len,
        );
        w.channel = Some(ch as u32);
        w.samples = Vec::with_capacity(n * params.record_len);
        for c in &chunks {
            w.samples.extend_from_slice(&c[ch]);
        }
        w.event_numbers = (0..n as u64).collect();
        // The 31-bit WaveDump trigger time tag wraps; emulate it.
        w.trigger_times = (0..n as u64).map(|i| (i * TTT_STEP) % (1 << 31)).collect();
        w
    })
}

/// Appends the decimal digits of `v` (faster than `write!` for millions of samples).
fn push_u32(out: &mut Vec<u8>, mut v: u32) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Writes one channel as WaveDump ASCII: per event the 7-line header, then one integer
/// sample per line. Samples are rounded and clamped to ≥ 0 (ADC counts).
pub fn write_wavedump_ascii(path: &Path, w: &Waveforms) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let ch = w.channel.unwrap_or(0);
    let mut line = Vec::with_capacity(w.record_len * 6 + 256);
    for (i, samples) in w.iter().enumerate() {
        line.clear();
        let ev = w.event_numbers.get(i).copied().unwrap_or(i as u64);
        let ttt = w.trigger_times.get(i).copied().unwrap_or(0);
        // "BoardID:  0" with two spaces is what WaveDump itself writes.
        write!(
            line,
            "Record Length: {}\nBoardID:  0\nChannel: {ch}\nEvent Number: {ev}\nPattern: 0x0000\nTrigger Time Stamp: {ttt}\nDC offset (DAC): 0x1999\n",
            w.record_len
        )
        .map_err(|e| Error::io(path, e))?;
        for &s in samples {
            push_u32(&mut line, s.round().clamp(0.0, u32::MAX as f32) as u32);
            line.push(b'\n');
        }
        out.write_all(&line).map_err(|e| Error::io(path, e))?;
    }
    out.flush().map_err(|e| Error::io(path, e))?;
    Ok(())
}

/// Writes a point as the bench does, `<dir>/wavesave_<label>/wave<ch>save_<label>.txt`,
/// where `dir` holds the point directories (`<scan>/<SN>`). The files are written into
/// `<dir>/.wavesave_<label>.tmp` and the directory is renamed into place, so a watcher
/// sees all of a point's files at once or none. A previous point of the same name is
/// replaced.
pub fn write_point(dir: &Path, label: &PointLabel, waves: &[Waveforms; 3]) -> Result<()> {
    let name = point_dir_name(label);
    let fin = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    if tmp.exists() {
        // Left over from an interrupted run.
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    waves.par_iter().enumerate().try_for_each(|(i, w)| {
        let ch = w.channel.unwrap_or(i as u32);
        write_wavedump_ascii(&tmp.join(channel_file_name(ch, label)), w)
    })?;
    if fin.exists() {
        // rename() cannot replace a non-empty directory: move the old one aside first.
        let old = dir.join(format!(".{name}.old"));
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        std::fs::rename(&fin, &old).map_err(|e| Error::io(&fin, e))?;
        std::fs::rename(&tmp, &fin).map_err(|e| Error::io(&fin, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    } else {
        std::fs::rename(&tmp, &fin).map_err(|e| Error::io(&fin, e))?;
    }
    Ok(())
}

/// Simulates a whole scan into `out_dir`: `truth.json` at `<out_dir>/truth.json`, the
/// points under `<out_dir>/<SN>/` in the bench layout, in the order given.
///
/// `truth.json` is written (atomically) before the first point: the truth is known
/// analytically up front, and a watcher then never sees a point without it. Point `i`
/// uses the seed `derive_seed(seed, i)`. With an `interval`, points are spaced that far
/// apart (the time spent simulating counts towards it), so the scan plays out in real time.
/// `progress(k)` is called after the k-th point is in place.
pub fn simulate_scan(
    out_dir: &Path,
    serial: &Serial,
    params: &SimParams,
    points: &[PointLabel],
    seed: u64,
    interval: Option<Duration>,
    mut progress: impl FnMut(usize),
) -> Result<Vec<PointTruth>> {
    params.validate()?;
    let per_point: Vec<SimParams> = points
        .iter()
        .enumerate()
        .map(|(i, l)| params.for_scan_point(l, i, points.len()))
        .collect();
    let truth: Vec<PointTruth> = points
        .iter()
        .zip(&per_point)
        .map(|(l, p)| PointTruth::new(l, p))
        .collect();
    let doc = ScanTruth {
        serial: serial.to_string(),
        seed,
        created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        params: params.clone(),
        points: truth.clone(),
    };
    let json =
        serde_json::to_vec_pretty(&doc).map_err(|e| Error::Input(format!("truth.json: {e}")))?;
    write_atomic(&out_dir.join("truth.json"), &json)?;

    let dir = out_dir.join(serial.as_str());
    let mut next = Instant::now();
    for (i, (label, p)) in points.iter().zip(&per_point).enumerate() {
        if let Some(iv) = interval
            && i > 0
        {
            next += iv;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        let waves = simulate_point(p, derive_seed(seed, i as u64));
        write_point(&dir, label, &waves)?;
        progress(i + 1);
    }
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_units_match_the_bench() {
        let p = SimParams::default();
        assert!((p.pc_per_adc_sample() - 4.8828e-3).abs() < 1e-6);
        assert!(
            (p.q1_adc_samples() - 328.1).abs() < 0.2,
            "{}",
            p.q1_adc_samples()
        );
        // Truncation is negligible at σ1/Q1 = 0.3; under-amplified PEs pull the mean down.
        let m = p.mean_spe_adc_samples() / p.q1_adc_samples();
        assert!((m - (0.96 + 0.04 * 0.3)).abs() < 1e-3, "{m}");
        assert!((norm_sf(0.0) - 0.5).abs() < 1e-7 && (norm_sf(1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn pulse_sum_is_exact_for_any_phase() {
        let mut buf = vec![0.0; 200];
        for t0 in [10.0, 10.3, 11.7, 12.0] {
            buf.fill(0.0);
            let norm = biexp_sample_sum(2.0, t0, 1.5, 5.0);
            add_biexp(&mut buf, 2.0, t0, 328.0 / norm, 1.5, 5.0);
            let s: f64 = buf.iter().sum();
            assert!((s - 328.0).abs() < 1e-3, "t0 {t0}: {s}");
        }
    }
}
