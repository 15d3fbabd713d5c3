//! The analysis configuration (TOML). Every field has the R12860 bench's default
//! (DESIGN.md "Processing defaults"), so an empty file — or none — is a valid config, and
//! a lab overrides only what differs on its bench.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::fit::Model;

/// The whole analysis configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    pub digitizer: Digitizer,
    pub channels: Channels,
    /// Pulse finding on the PMT channel.
    pub pmt: PulseConfig,
    /// Pulse finding on the trigger channel (baseline settings shared with `pmt`).
    pub trigger: TriggerConfig,
    /// Pulse finding on the SiPM pick-off channel (checked, not used in the fit).
    pub pickoff: TriggerConfig,
    pub window: WindowConfig,
    pub fit: FitConfig,
    pub seed: SeedSelection,
    pub health: HealthRange,
    pub scan: ScanConfig,
    pub darkness: DarknessConfig,
    pub reference: ReferenceConfig,
}

/// Pulse counting on the reference sensor's channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceConfig {
    /// `auto` (default): the sign most pulses have, else positive (the bench's ch1).
    pub polarity: PolaritySetting,
    /// A pulse counts above this height in mV (about half a SiPM photoelectron).
    pub threshold_mv: f64,
    /// Width of the window around the light's arrival a pulse must start in, in ns.
    pub window_ns: f64,
}

impl Default for ReferenceConfig {
    fn default() -> Self {
        ReferenceConfig {
            polarity: PolaritySetting::Auto,
            threshold_mv: 5.0,
            window_ns: 40.0,
        }
    }
}

/// Dark-pulse counting in the pre-trigger part of every record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DarknessConfig {
    /// Threshold in photoelectrons of the fitted SPE pulse height (the usual 0.25 PE).
    pub threshold_pe: f64,
    /// Threshold in mV where there is no SPE fit to scale by (a dark run, no light);
    /// `None`: the PMT pulse threshold (`pmt.threshold_mv`).
    pub threshold_mv: Option<f64>,
}

impl Default for DarknessConfig {
    fn default() -> Self {
        DarknessConfig {
            threshold_pe: 0.25,
            threshold_mv: None,
        }
    }
}

/// Digitizer and front-end constants that turn ADC counts into millivolts and pC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Digitizer {
    /// ADC resolution in bits.
    pub bits: u32,
    /// Full-scale input range in volts peak-to-peak.
    pub vpp: f64,
    /// Sampling period in ns (2 ns = 500 MS/s).
    pub sample_ns: f64,
    /// Input impedance in ohm.
    pub impedance_ohm: f64,
    /// Gain of an amplifier between PMT and digitizer; charges are divided by it.
    pub amplifier_gain: f64,
    /// Samples per event for header-off WaveDump ASCII files (headers give it otherwise).
    pub record_length: Option<usize>,
}

impl Default for Digitizer {
    fn default() -> Self {
        Digitizer {
            bits: 14,
            vpp: 2.0,
            sample_ns: 2.0,
            impedance_ohm: 50.0,
            amplifier_gain: 1.0,
            record_length: None,
        }
    }
}

impl Digitizer {
    /// Millivolts per ADC count.
    pub fn mv_per_adc(&self) -> f64 {
        self.vpp * 1000.0 / f64::from(1u32 << self.bits.min(31))
    }

    /// pC per (ADC count × sample), including the amplifier: mV·ns/Ω = pC.
    pub fn pc_per_adc_sample(&self) -> f64 {
        self.mv_per_adc() * self.sample_ns / self.impedance_ohm / self.amplifier_gain
    }
}

/// Which WaveDump channel plays which role in a scan point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Channels {
    /// Laser / signal-generator trigger channel, if recorded.
    pub trigger: Option<u32>,
    /// SiPM pick-off channel, if recorded (read for completeness, not used in the fit).
    pub pickoff: Option<u32>,
    /// The PMT channel.
    pub pmt: u32,
    /// A reference sensor (SiPM or reference PMT) seeing the same light, if there is one:
    /// counted into its own occupancy per point and used for the PMT's relative efficiency
    /// (see `pipeline::reference`). May be the pick-off channel.
    pub reference: Option<u32>,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            trigger: Some(0),
            pickoff: Some(1),
            pmt: 2,
            reference: None,
        }
    }
}

/// Signal polarity on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    Negative,
    Positive,
}

impl Polarity {
    /// `negative` / `positive`, as configs and messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Polarity::Negative => "negative",
            Polarity::Positive => "positive",
        }
    }

    /// The other sign.
    pub fn flip(self) -> Polarity {
        match self {
            Polarity::Negative => Polarity::Positive,
            Polarity::Positive => Polarity::Negative,
        }
    }
}

impl std::fmt::Display for Polarity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel's configured polarity: a fixed sign, or `auto` (the default) — found from
/// the data (the sign of the pulses over threshold), falling back to the bench's
/// convention for the channel's role when the data show none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PolaritySetting {
    #[default]
    Auto,
    Negative,
    Positive,
}

impl PolaritySetting {
    /// The fixed sign, or `None` for `auto`.
    pub fn fixed(self) -> Option<Polarity> {
        match self {
            PolaritySetting::Auto => None,
            PolaritySetting::Negative => Some(Polarity::Negative),
            PolaritySetting::Positive => Some(Polarity::Positive),
        }
    }

    /// `auto` / `negative` / `positive`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolaritySetting::Auto => "auto",
            PolaritySetting::Negative => "negative",
            PolaritySetting::Positive => "positive",
        }
    }

    /// Every setting, in the order a form lists them.
    pub const ALL: [PolaritySetting; 3] = [
        PolaritySetting::Auto,
        PolaritySetting::Negative,
        PolaritySetting::Positive,
    ];
}

impl std::str::FromStr for PolaritySetting {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| format!("unknown polarity '{s}': use auto, negative or positive"))
    }
}

/// The bench's polarity for the PMT channel (DESIGN.md "Processing defaults").
pub const PMT_CONVENTION: Polarity = Polarity::Negative;
/// The bench's polarity for the trigger (ch0) and the SiPM pick-off (ch1).
pub const TRIGGER_CONVENTION: Polarity = Polarity::Positive;

/// How the baseline is estimated from the first samples of each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineMethod {
    Mean,
    Median,
}

/// Baseline and leading-edge pulse finding on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PulseConfig {
    /// `auto` (default): from the data, else negative (the bench's PMT convention).
    pub polarity: PolaritySetting,
    pub baseline: BaselineMethod,
    /// Samples from the start of the record used for the baseline.
    pub baseline_samples: usize,
    /// Leading-edge threshold in mV above the baseline (after polarity correction).
    pub threshold_mv: f64,
}

impl Default for PulseConfig {
    fn default() -> Self {
        PulseConfig {
            polarity: PolaritySetting::Auto,
            baseline: BaselineMethod::Mean,
            baseline_samples: 40,
            threshold_mv: 3.0,
        }
    }
}

/// Pulse finding on the trigger (or pick-off) channel: its own polarity and threshold; the
/// baseline is estimated as on the PMT channel. The bench's trigger and pick-off pulses
/// are positive, with a leading edge at 100 mV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriggerConfig {
    /// `auto` (default): from the data, else positive (the bench's convention).
    pub polarity: PolaritySetting,
    /// Leading-edge threshold in mV (the bench's trigger channels use 100 mV).
    pub threshold_mv: f64,
}

impl Default for TriggerConfig {
    fn default() -> Self {
        TriggerConfig {
            polarity: PolaritySetting::Auto,
            threshold_mv: 100.0,
        }
    }
}

impl AnalysisConfig {
    /// The pulse-finding settings for the trigger channel.
    pub fn trigger_pulse(&self) -> PulseConfig {
        PulseConfig {
            polarity: self.trigger.polarity,
            threshold_mv: self.trigger.threshold_mv,
            ..self.pmt.clone()
        }
    }

    /// The pulse-finding settings for the pick-off channel.
    pub fn pickoff_pulse(&self) -> PulseConfig {
        PulseConfig {
            polarity: self.pickoff.polarity,
            threshold_mv: self.pickoff.threshold_mv,
            ..self.pmt.clone()
        }
    }
}

/// Where the charge window sits in each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowMode {
    /// At the transit time, found from the data: relative to the trigger channel's pulse
    /// when there is one, else at a fixed sample; every event is integrated (pedestal
    /// included). The default.
    Auto,
    /// At the fixed sample `start` in every event.
    Fixed,
    /// Relative to the PMT pulse's own start; events without a pulse are not integrated
    /// (the old Pyrate behaviour).
    Pulse,
    /// Relative to the trigger pulse plus `delay_ns`.
    Trigger,
}

/// The charge-integration window: `[anchor − pre, anchor − pre + length)` samples, where
/// the anchor is given by the mode (for `fixed`, the anchor is `start`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowConfig {
    pub mode: WindowMode,
    /// Samples before the anchor.
    pub pre: usize,
    /// Window length in samples.
    pub length: usize,
    /// Anchor sample for `fixed` mode (ignored otherwise).
    pub start: usize,
    /// Delay of the PMT pulse after the trigger pulse, for `trigger` mode.
    pub delay_ns: f64,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            mode: WindowMode::Auto,
            pre: 10,
            length: 60,
            start: 0,
            delay_ns: 325.0,
        }
    }
}

/// Fit settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    pub model: Model,
    /// Number of histogram bins (automatic when absent).
    pub bins: Option<usize>,
    /// Histogram range in the charge unit (automatic when absent).
    pub range: Option<[f64; 2]>,
    /// Fewest events a fit is attempted with.
    pub min_events: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            model: Model::default(),
            bins: None,
            range: None,
            min_events: 200,
        }
    }
}

/// The old analysis's event selection, used by the `seed-compatible` model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedSelection {
    pub q_min_pc: f64,
    pub q_max_pc: f64,
    pub dt_min_ns: f64,
    pub dt_max_ns: f64,
}

impl Default for SeedSelection {
    fn default() -> Self {
        SeedSelection {
            q_min_pc: 0.5,
            q_max_pc: 4.5,
            dt_min_ns: 321.0,
            dt_max_ns: 330.0,
        }
    }
}

/// The gain range a point must fall in to be called healthy, and how sure the verdict
/// must be: a point is *healthy* when its gain lies inside the band, *poor* only when
/// the band is excluded at `confidence_sigma` standard deviations of the gain, and
/// *warning* in between — and whenever the fit itself is poor (χ²/ndf above
/// `max_chi2_ndf`, or no gain).
///
/// Every other figure has its own [`Band`] (see `pipeline::health`). The defaults are for
/// the Hamamatsu R12860 (Hyper-Kamiokande's 50 cm box-and-line tube), from the figures its
/// datasheet and the Hyper-K PMT papers quote as typical — dark rate ≈ 4 kHz at 0.25 PE
/// (Hyper-K asks for ≤ 8 kHz on average), TTS ≈ 2.7 ns FWHM, peak-to-valley ≈ 3–4, SPE
/// resolution ≈ 30–35 % — with room for a bench's trigger jitter and laser width: a
/// typical tube is healthy, a tube at the edge of its specification is a warning, and poor
/// means clearly outside it (a light leak, a broken dynode, no SPE peak). The relative
/// efficiency (PMT / reference occupancy) depends on the bench's geometry, so it has no
/// default band. Edit them per tube type in the profile's analysis settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthRange {
    pub gain_min: f64,
    pub gain_max: f64,
    /// Standard deviations by which a figure must miss its poor limit to be called poor.
    pub confidence_sigma: f64,
    /// Above this χ²/ndf the fit does not describe the spectrum: a warning.
    pub max_chi2_ndf: f64,
    /// σ1/Q1 of the fully amplified SPE peak.
    pub resolution: Band,
    /// Peak-to-valley ratio of the fitted model.
    pub peak_to_valley: Band,
    /// Mean photoelectrons per trigger from the fit: outside it the SPE fit is not reliable
    /// (too little light, or no longer the single-photoelectron regime).
    pub occupancy: Band,
    /// Dark rate in Hz at the `[darkness]` threshold.
    pub dark_rate_hz: Band,
    /// Transit-time spread, FWHM of the prompt peak in ns.
    pub tts_fwhm_ns: Band,
    /// PMT occupancy / reference-sensor occupancy.
    pub relative_efficiency: Band,
}

impl Default for HealthRange {
    fn default() -> Self {
        HealthRange {
            gain_min: 0.999e7,
            gain_max: 1.049e7,
            confidence_sigma: 2.0,
            max_chi2_ndf: 5.0,
            resolution: Band {
                warn_max: Some(0.5),
                poor_max: Some(0.7),
                ..Band::default()
            },
            peak_to_valley: Band {
                warn_min: Some(2.0),
                poor_min: Some(1.2),
                ..Band::default()
            },
            occupancy: Band {
                warn_min: Some(0.02),
                warn_max: Some(3.0),
                ..Band::default()
            },
            dark_rate_hz: Band {
                warn_max: Some(10_000.0),
                poor_max: Some(30_000.0),
                ..Band::default()
            },
            tts_fwhm_ns: Band {
                warn_max: Some(4.5),
                poor_max: Some(7.0),
                ..Band::default()
            },
            relative_efficiency: Band::default(),
        }
    }
}

impl HealthRange {
    /// True when `gain` lies inside the range.
    pub fn contains(&self, gain: f64) -> bool {
        gain >= self.gain_min && gain <= self.gain_max
    }

    /// The bands by name, as the TOML spells them.
    pub fn bands(&self) -> [(&'static str, &Band); 6] {
        [
            ("resolution", &self.resolution),
            ("peak_to_valley", &self.peak_to_valley),
            ("occupancy", &self.occupancy),
            ("dark_rate_hz", &self.dark_rate_hz),
            ("tts_fwhm_ns", &self.tts_fwhm_ns),
            ("relative_efficiency", &self.relative_efficiency),
        ]
    }
}

/// Limits of one figure: outside `warn_*` a warning, outside `poor_*` poor (when the limit
/// is excluded at the configured confidence). Any limit may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Band {
    pub warn_min: Option<f64>,
    pub warn_max: Option<f64>,
    pub poor_min: Option<f64>,
    pub poor_max: Option<f64>,
}

impl std::str::FromStr for Band {
    type Err = String;

    /// Reads what [`Band::text`] writes: `"warn > 1e4, poor > 3e4"` (any of `warn <`,
    /// `warn >`, `poor <`, `poor >`, comma-separated, each once); empty or `"no limits"`
    /// for none. Whether the limits make sense is [`AnalysisConfig::validate`]'s question.
    fn from_str(text: &str) -> std::result::Result<Band, String> {
        let text = text.trim();
        let mut band = Band::default();
        if text.is_empty() || text.eq_ignore_ascii_case("no limits") {
            return Ok(band);
        }
        for part in text.split(',') {
            let part = part.trim();
            let bad = || {
                format!(
                    "{part:?} is not a limit: write \"warn < X\", \"warn > X\", \"poor < X\" \
                     or \"poor > X\", separated by commas (empty: no limits)"
                )
            };
            let lower = part.to_ascii_lowercase();
            let (level, rest) = if let Some(r) = lower.strip_prefix("warn") {
                ("warn", r)
            } else if let Some(r) = lower.strip_prefix("poor") {
                ("poor", r)
            } else {
                return Err(bad());
            };
            let rest = rest.trim_start();
            let (op, number) = if let Some(n) = rest.strip_prefix('<') {
                ('<', n)
            } else if let Some(n) = rest.strip_prefix('>') {
                ('>', n)
            } else {
                return Err(bad());
            };
            let value: f64 = number.trim().parse().map_err(|_| bad())?;
            if !value.is_finite() {
                return Err(bad());
            }
            let slot = match (level, op) {
                ("warn", '<') => &mut band.warn_min,
                ("warn", _) => &mut band.warn_max,
                (_, '<') => &mut band.poor_min,
                _ => &mut band.poor_max,
            };
            if slot.is_some() {
                return Err(format!("\"{level} {op}\" is given twice"));
            }
            *slot = Some(value);
        }
        Ok(band)
    }
}

impl Band {
    /// The limits as [`Band`]'s `FromStr` reads them back: `"warn > 10000, poor > 30000"`,
    /// or `"no limits"`.
    pub fn text(&self) -> String {
        self.describe("")
    }

    /// `"warn > 1e4 Hz, poor > 3e4 Hz"`, or `"no limits"`.
    pub fn describe(&self, unit: &str) -> String {
        let sp = if unit.is_empty() { "" } else { " " };
        let parts: Vec<String> = [
            ("warn <", self.warn_min),
            ("warn >", self.warn_max),
            ("poor <", self.poor_min),
            ("poor >", self.poor_max),
        ]
        .iter()
        .filter_map(|(what, v)| v.map(|v| format!("{what} {v}{sp}{unit}")))
        .collect();
        if parts.is_empty() {
            "no limits".to_string()
        } else {
            parts.join(", ")
        }
    }

    /// Why the band makes no sense, if it does not: limits must be numbers, each minimum
    /// below its maximum, and the poor limits outside the warning ones.
    fn problem(&self) -> Option<String> {
        let all = [self.warn_min, self.warn_max, self.poor_min, self.poor_max];
        if all.iter().flatten().any(|v| !v.is_finite()) {
            return Some("limits must be finite numbers".into());
        }
        let lt = |a: Option<f64>, b: Option<f64>| matches!((a, b), (Some(a), Some(b)) if a > b);
        if lt(self.warn_min, self.warn_max) || lt(self.poor_min, self.poor_max) {
            return Some("a minimum is above its maximum".into());
        }
        if lt(self.poor_min, self.warn_min) || lt(self.warn_max, self.poor_max) {
            return Some("the poor limits must lie outside the warning limits".into());
        }
        None
    }
}

/// What a scan consists of, for `process --watch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Points the scan has; `--watch` exits once this many are processed.
    pub points: usize,
    /// Seconds a point's files must keep the same size before they are read.
    pub settle_secs: f64,
    /// Only points of this kind belong to the scan (`surface` or `hv`); absent: every
    /// point found. The monitor always sets it: a tube's HV check and its surface scan
    /// share the `<SN>/` directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::pipeline::scan::PointKind>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            points: 21,
            settle_secs: 2.0,
            kind: None,
        }
    }
}

impl AnalysisConfig {
    /// Parses a TOML document; unknown keys are errors so a typo never goes unnoticed.
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: AnalysisConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Checks the values are physically meaningful.
    pub fn validate(&self) -> Result<()> {
        let d = &self.digitizer;
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if !(1..=24).contains(&d.bits) {
            return bad("digitizer.bits must be between 1 and 24");
        }
        for (name, v) in [
            ("digitizer.vpp", d.vpp),
            ("digitizer.sample_ns", d.sample_ns),
            ("digitizer.impedance_ohm", d.impedance_ohm),
            ("digitizer.amplifier_gain", d.amplifier_gain),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(&format!("{name} must be a positive number, got {v}"));
            }
        }
        if self.window.length == 0 {
            return bad("window.length must be at least 1 sample");
        }
        if self.pmt.baseline_samples == 0 {
            return bad("baseline_samples must be at least 1");
        }
        if let Some(b) = self.fit.bins
            && !(5..=100_000).contains(&b)
        {
            return bad("fit.bins must be between 5 and 100000");
        }
        if let Some([lo, hi]) = self.fit.range
            && !(lo.is_finite() && hi.is_finite() && hi > lo)
        {
            return bad("fit.range must be [low, high] with low < high");
        }
        let h = &self.health;
        if !(h.gain_min.is_finite() && h.gain_max.is_finite() && h.gain_min < h.gain_max) {
            return bad("health.gain_min must be below health.gain_max");
        }
        if !(h.confidence_sigma.is_finite() && h.confidence_sigma >= 0.0) {
            return bad("health.confidence_sigma must be a number ≥ 0");
        }
        if !(h.max_chi2_ndf.is_finite() && h.max_chi2_ndf > 0.0) {
            return bad("health.max_chi2_ndf must be a positive number");
        }
        let r = &self.reference;
        if !(r.threshold_mv.is_finite() && r.threshold_mv > 0.0) {
            return bad("reference.threshold_mv must be a positive number of mV");
        }
        if !(r.window_ns.is_finite() && r.window_ns > 0.0 && r.window_ns < 1e6) {
            return bad("reference.window_ns must be a positive number of ns");
        }
        for (name, band) in h.bands() {
            if let Some(why) = band.problem() {
                return bad(&format!("health.{name}: {why}"));
            }
        }
        for (name, t) in [
            ("pmt.threshold_mv", self.pmt.threshold_mv),
            ("trigger.threshold_mv", self.trigger.threshold_mv),
            ("pickoff.threshold_mv", self.pickoff.threshold_mv),
        ] {
            if !(t.is_finite() && t > 0.0) {
                return bad(&format!("{name} must be a positive number of mV, got {t}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_band_reads_back_what_it_writes_and_names_a_bad_limit() {
        let b: Band = "warn > 1e4, poor > 3e4".parse().expect("a band");
        assert_eq!(b.warn_max, Some(1e4));
        assert_eq!(b.poor_max, Some(3e4));
        assert_eq!(b.text().parse::<Band>(), Ok(b.clone()));
        let two: Band = "Poor< 0.5 ,warn <0.8".parse().expect("a band");
        assert_eq!((two.poor_min, two.warn_min), (Some(0.5), Some(0.8)));
        assert_eq!("".parse::<Band>(), Ok(Band::default()));
        assert_eq!("no limits".parse::<Band>(), Ok(Band::default()));
        assert_eq!(Band::default().text(), "no limits");
        let e = "warn 3".parse::<Band>().expect_err("no comparison");
        assert!(e.contains("\"warn 3\" is not a limit"), "{e}");
        assert!("warn > x".parse::<Band>().is_err());
        assert!(
            "warn > 1, warn > 2"
                .parse::<Band>()
                .expect_err("twice")
                .contains("twice")
        );
    }

    #[test]
    fn empty_toml_is_bench_defaults() {
        let cfg = AnalysisConfig::from_toml("").expect("parse");
        assert_eq!(cfg, AnalysisConfig::default());
        // 1 ADC·sample = 4.883 fC on the bench (data/README.md).
        assert!((cfg.digitizer.pc_per_adc_sample() - 4.8828e-3).abs() < 1e-6);
    }

    #[test]
    fn overrides_and_typos() {
        let cfg = AnalysisConfig::from_toml("[fit]\nmodel = \"bellamy\"\n[digitizer]\nbits = 12\n")
            .expect("parse");
        assert_eq!(cfg.fit.model, Model::Bellamy);
        assert_eq!(cfg.digitizer.bits, 12);
        let err = AnalysisConfig::from_toml("[fit]\nmodle = \"bellamy\"\n").expect_err("typo");
        assert!(err.to_string().contains("modle"), "{err}");
    }

    #[test]
    fn polarity_is_auto_by_default_and_settable_per_channel() {
        let cfg = AnalysisConfig::default();
        for p in [cfg.pmt.polarity, cfg.trigger.polarity, cfg.pickoff.polarity] {
            assert_eq!(p, PolaritySetting::Auto);
        }
        assert_eq!(cfg.trigger.threshold_mv, 100.0);
        assert_eq!(cfg.pickoff.threshold_mv, 100.0);
        assert_eq!(cfg.pmt.threshold_mv, 3.0);
        let cfg = AnalysisConfig::from_toml(
            "[trigger]\npolarity = \"negative\"\n[pickoff]\npolarity = \"positive\"\nthreshold_mv = 50\n",
        )
        .expect("parse");
        assert_eq!(cfg.trigger.polarity, PolaritySetting::Negative);
        assert_eq!(cfg.pickoff.threshold_mv, 50.0);
        assert_eq!("auto".parse::<PolaritySetting>(), Ok(PolaritySetting::Auto));
        assert!("up".parse::<PolaritySetting>().is_err());
        assert!(AnalysisConfig::from_toml("[health]\nconfidence_sigma = -1\n").is_err());
    }
}
