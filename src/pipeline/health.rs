//! Health with reasons: every figure a point has (gain, χ²/ndf, SPE resolution,
//! peak-to-valley, occupancy, dark rate, TTS, relative efficiency) judged against its own
//! warn/poor band, one [`Check`] per criterion, and the point's verdict the worst of them —
//! so a cell says *which* criterion made it poor and the value against its band, not only
//! that it is.
//!
//! Why a band per criterion with two edges: a bench wants "look at this" (warning) apart
//! from "this tube fails" (poor), and a figure with an error is called poor only when the
//! poor edge is excluded at the configured confidence (the gain's rule, applied to every
//! figure that has an error, such as a Poisson dark rate from a few counts). The defaults
//! and where they come from are in [`super::config::HealthRange`].

use serde::{Deserialize, Serialize};

use super::config::{Band, HealthRange};
use super::figures::Figures;
use super::fit::{Param, Status};
use super::point::{Health, judge};

/// What a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    Gain,
    Chi2Ndf,
    Resolution,
    PeakToValley,
    Occupancy,
    DarkRate,
    Tts,
    RelativeEfficiency,
}

impl Criterion {
    /// Every criterion, in the order a reason lists them.
    pub const ALL: [Criterion; 8] = [
        Criterion::Gain,
        Criterion::Chi2Ndf,
        Criterion::Resolution,
        Criterion::PeakToValley,
        Criterion::Occupancy,
        Criterion::DarkRate,
        Criterion::Tts,
        Criterion::RelativeEfficiency,
    ];

    /// The operator's words for it (`"dark rate"`), which start each reason.
    pub fn label(self) -> &'static str {
        match self {
            Criterion::Gain => "gain",
            Criterion::Chi2Ndf => "fit χ²/ndf",
            Criterion::Resolution => "SPE resolution σ1/Q1",
            Criterion::PeakToValley => "peak-to-valley",
            Criterion::Occupancy => "occupancy μ",
            Criterion::DarkRate => "dark rate",
            Criterion::Tts => "TTS (FWHM)",
            Criterion::RelativeEfficiency => "relative efficiency",
        }
    }

    /// Unit the value is shown in (empty for ratios).
    pub fn unit(self) -> &'static str {
        match self {
            Criterion::DarkRate => "Hz",
            Criterion::Tts => "ns",
            _ => "",
        }
    }
}

/// One criterion judged: the value (± error) against its band, the verdict and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub criterion: Criterion,
    /// `None` only for the gain of a point without one.
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub error: Option<f64>,
    /// The band as text (`"warn > 1e4, poor > 3e4"`).
    pub band: String,
    pub verdict: Health,
    /// One line: criterion, value, band and verdict (`"dark rate 3.1e5 ± 2e4 Hz above the
    /// poor limit 3e4 Hz by 14σ"`).
    pub text: String,
}

/// Every check of a point, worst verdict first among equals in [`Criterion::ALL`] order.
pub fn assess(
    status: Status,
    gain: Option<f64>,
    gain_err: Option<f64>,
    chi2_ndf: Option<f64>,
    mu: Option<&Param>,
    figures: &Figures,
    h: &HealthRange,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let (verdict, text) = judge(status, gain, gain_err, chi2_ndf, h);
    checks.push(Check {
        criterion: Criterion::Gain,
        value: gain,
        error: gain_err,
        band: format!("healthy {:.3e} … {:.3e}", h.gain_min, h.gain_max),
        verdict,
        text,
    });
    if status != Status::Ok {
        // No fit: the gain check says why; the other figures come from the fit or are
        // meaningless without one (a pedestal-only point has no SPE resolution).
        return checks;
    }
    let chi2_band = Band {
        warn_max: Some(h.max_chi2_ndf),
        ..Band::default()
    };
    let k = h.confidence_sigma;
    let mut push = |c: Criterion, p: Option<Param>, band: &Band| {
        if let Some(p) = p.filter(|p| p.value.is_finite()) {
            checks.push(check(c, p, band, k));
        }
    };
    push(
        Criterion::Chi2Ndf,
        chi2_ndf.map(|v| Param {
            value: v,
            error: None,
        }),
        &chi2_band,
    );
    push(Criterion::Resolution, figures.spe_resolution, &h.resolution);
    push(
        Criterion::PeakToValley,
        figures.peak_to_valley_model.map(|v| Param {
            value: v,
            error: None,
        }),
        &h.peak_to_valley,
    );
    push(Criterion::Occupancy, mu.cloned(), &h.occupancy);
    push(
        Criterion::DarkRate,
        figures.darkness.as_ref().map(|d| d.rate_hz),
        &h.dark_rate_hz,
    );
    push(
        Criterion::Tts,
        figures
            .timing
            .as_ref()
            .and_then(|t| t.tts_fwhm_ns)
            .map(|v| Param {
                value: v,
                error: None,
            }),
        &h.tts_fwhm_ns,
    );
    push(
        Criterion::RelativeEfficiency,
        figures.relative_efficiency,
        &h.relative_efficiency,
    );
    checks
}

/// A dark run's checks (a darkness check's point: no light, no gain): its dark rate against
/// the `dark_rate_hz` band, or a warning that none could be counted.
pub fn assess_dark(figures: &Figures, h: &HealthRange) -> Vec<Check> {
    match figures.darkness.as_ref().map(|d| d.rate_hz) {
        Some(p) if p.value.is_finite() => vec![check(
            Criterion::DarkRate,
            p,
            &h.dark_rate_hz,
            h.confidence_sigma,
        )],
        _ => vec![Check {
            criterion: Criterion::DarkRate,
            value: None,
            error: None,
            band: h.dark_rate_hz.describe("Hz"),
            verdict: Health::Warning,
            text: "no dark rate: the dark run has no records to count pulses in".into(),
        }],
    }
}

/// The point's verdict (the worst check) and its reason: every check that is not healthy,
/// worst first; the gain's own words when all are healthy.
pub fn verdict(checks: &[Check]) -> (Health, String) {
    let worst = checks
        .iter()
        .map(|c| c.verdict)
        .max_by_key(|h| rank(*h))
        .unwrap_or(Health::Warning);
    if worst == Health::Healthy {
        let gain = checks
            .iter()
            .find(|c| c.criterion == Criterion::Gain)
            .or_else(|| checks.first())
            .map_or_else(String::new, |c| c.text.clone());
        return (Health::Healthy, gain);
    }
    let mut bad: Vec<&Check> = checks
        .iter()
        .filter(|c| c.verdict != Health::Healthy)
        .collect();
    bad.sort_by_key(|c| std::cmp::Reverse(rank(c.verdict)));
    let reason = bad
        .iter()
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    (worst, reason)
}

fn rank(h: Health) -> u8 {
    match h {
        Health::Healthy => 0,
        Health::Warning => 1,
        Health::Poor => 2,
    }
}

/// One figure against its band. Poor when outside the poor band by more than `k` errors
/// (or at all when it has no error); warning when outside the poor band by less than that,
/// or outside the warn band by more than one error (so that a rate from a handful of counts
/// does not flicker to a warning); healthy otherwise.
fn check(c: Criterion, p: Param, band: &Band, k: f64) -> Check {
    let v = p.value;
    let err = p.error.filter(|e| e.is_finite() && *e > 0.0);
    let unit = c.unit();
    let sp = if unit.is_empty() { "" } else { " " };
    let num = |x: f64| fmt(x);
    let pm = err.map_or(String::new(), |e| format!(" ± {}", num(e)));
    let shown = format!("{} {}{pm}{sp}{unit}", c.label(), num(v));
    let below = |edge: Option<f64>| edge.filter(|e| v < *e);
    let above = |edge: Option<f64>| edge.filter(|e| v > *e);
    let by = |edge: f64| err.map(|e| (v - edge).abs() / e);
    let (verdict, text) = if let Some((side, edge)) = below(band.poor_min)
        .map(|e| ("below", e))
        .or_else(|| above(band.poor_max).map(|e| ("above", e)))
    {
        match by(edge) {
            Some(n) if n <= k => (
                Health::Warning,
                format!(
                    "{shown} {side} the poor limit {}{sp}{unit} by {n:.1}σ: within {k}σ, not excluded",
                    num(edge)
                ),
            ),
            Some(n) => (
                Health::Poor,
                format!(
                    "{shown} {side} the poor limit {}{sp}{unit} by {n:.1}σ",
                    num(edge)
                ),
            ),
            None => (
                Health::Poor,
                format!("{shown} {side} the poor limit {}{sp}{unit}", num(edge)),
            ),
        }
    } else if let Some((side, edge)) = below(band.warn_min)
        .map(|e| ("below", e))
        .or_else(|| above(band.warn_max).map(|e| ("above", e)))
        .filter(|(_, edge)| by(*edge).is_none_or(|n| n > 1.0))
    {
        (
            Health::Warning,
            format!("{shown} {side} the warning limit {}{sp}{unit}", num(edge)),
        )
    } else {
        (Health::Healthy, format!("{shown} inside its band"))
    };
    Check {
        criterion: c,
        value: Some(v),
        error: err,
        band: band.describe(unit),
        verdict,
        text,
    }
}

/// Three significant digits, scientific beyond 1e4 or below 1e-2.
fn fmt(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-2..1e4).contains(&a) {
        format!("{x:.2e}")
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;
    use crate::pipeline::timing::Darkness;

    fn p(value: f64, error: Option<f64>) -> Param {
        Param { value, error }
    }

    fn figures(dark_hz: f64, dark_err: f64) -> Figures {
        Figures {
            spe_resolution: Some(p(0.31, Some(0.01))),
            peak_to_valley_model: Some(4.5),
            darkness: Some(Darkness {
                threshold_mv: 1.0,
                threshold_pe: Some(0.25),
                pulses: 10,
                live_s: 1e-3,
                rate_hz: p(dark_hz, Some(dark_err)),
                noise_mv: None,
            }),
            ..Figures::default()
        }
    }

    fn run(gain: f64, f: &Figures) -> (Health, String, Vec<Check>) {
        let h = HealthRange::default();
        let checks = assess(
            Status::Ok,
            Some(gain),
            Some(0.005 * gain),
            Some(1.1),
            Some(&p(0.9, Some(0.02))),
            f,
            &h,
        );
        let (v, r) = verdict(&checks);
        (v, r, checks)
    }

    #[test]
    fn a_normal_point_is_healthy_in_every_criterion() {
        let (v, reason, checks) = run(1.02e7, &figures(5000.0, 1800.0));
        assert_eq!(v, Health::Healthy, "{reason} {checks:?}");
        assert!(reason.starts_with("gain"), "{reason}");
        assert_eq!(checks.len(), 6, "{checks:?}");
    }

    #[test]
    fn a_light_leak_is_poor_for_its_dark_rate_and_says_so() {
        let (v, reason, checks) = run(1.02e7, &figures(300_000.0, 19_000.0));
        assert_eq!(v, Health::Poor);
        assert!(
            reason.starts_with("dark rate 3.00e5 ± 1.90e4 Hz above the poor limit"),
            "{reason}"
        );
        let dark = checks
            .iter()
            .find(|c| c.criterion == Criterion::DarkRate)
            .unwrap();
        assert_eq!(dark.verdict, Health::Poor);
        assert!(dark.band.contains("poor >"), "{}", dark.band);
    }

    #[test]
    fn a_few_dark_counts_over_the_limit_are_a_warning_not_poor() {
        // 40 kHz ± 20 kHz (4 counts): over the poor limit, but not by 2σ.
        let (v, reason, _) = run(1.02e7, &figures(40_000.0, 20_000.0));
        assert_eq!(v, Health::Warning, "{reason}");
        assert!(reason.contains("not excluded"), "{reason}");
        // 12 kHz ± 4 kHz is over the warning limit by less than its error: healthy.
        let (v, reason, _) = run(1.02e7, &figures(12_000.0, 4_000.0));
        assert_eq!(v, Health::Healthy, "{reason}");
    }

    #[test]
    fn a_weak_spot_says_gain() {
        let (v, reason, _) = run(0.7e7, &figures(5000.0, 1800.0));
        assert_eq!(v, Health::Poor);
        assert!(reason.starts_with("gain 7.0000e6"), "{reason}");
    }

    #[test]
    fn both_reasons_are_listed_worst_first() {
        let mut f = figures(5000.0, 1800.0);
        f.spe_resolution = Some(p(0.55, Some(0.01)));
        let (v, reason, _) = run(0.7e7, &f);
        assert_eq!(v, Health::Poor);
        let (g, r) = (
            reason.find("gain").unwrap(),
            reason.find("SPE resolution").unwrap(),
        );
        assert!(g < r, "{reason}");
        assert!(reason.contains("warning limit 0.500"), "{reason}");
    }

    #[test]
    fn a_failed_fit_is_judged_by_the_gain_check_alone() {
        let h = HealthRange::default();
        let checks = assess(
            Status::NoSignal,
            None,
            None,
            None,
            None,
            &figures(1e6, 1.0),
            &h,
        );
        assert_eq!(checks.len(), 1);
        assert_eq!(verdict(&checks).0, Health::Warning);
    }
}
