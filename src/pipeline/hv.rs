//! The HV check's fit: gain (or Q1) against high voltage as a power law, and the voltage
//! that gives the target gain with an honest uncertainty. Pure numbers in, numbers out;
//! the CLI (`pmtwatch hv-fit`) and the monitor gather the points and draw the plot.
//!
//! Model: `ln G = a + b·ln V` (a dynode chain: G ∝ V^b, b ≈ 0.7 × dynodes), fitted by
//! weighted least squares with weights `1/σ²`, `σ = σ_G/G` (the relative gain error is the
//! error of `ln G`). Internally the line is centred on the weighted mean of `ln V`, where
//! the intercept and the slope are uncorrelated; `a`, `b` and their covariance are also
//! given in the plain form.
//!
//! Uncertainty of the voltage at the target, `ln V_t = ln V̄ + (ln G_t − ȳ)/b`, by linear
//! propagation of the covariance: `σ(ln V_t)² = (σ_ȳ² + (ln V_t − ln V̄)²·σ_b²) / b²`.
//! When the points scatter more than their errors allow — `χ²/ndf > 1` with a χ²
//! probability below [`SCALE_BELOW_P`] (5 %) — every statistical error is multiplied by
//! the PDG scale factor `S = √(χ²/ndf)` (the errors are taken as understated by a common
//! factor). Below that the errors are kept: with 3 degrees of freedom a χ²/ndf of 1.5
//! is what honest errors give one time in five, and scaling whenever `χ²/ndf > 1` made
//! the stated 1σ cover the truth 73 % of the time in simulation instead of 68 %.
//! A systematic part is stated separately: a relative gain-model uncertainty `s`
//! (default [`DEFAULT_GAIN_SYST`]) common to all points moves `a` by `ln(1+s)` and
//! the voltage by `V_t·s/b`; it is not in `hv_at_target_err`.
//!
//! Each point's error is its own (the SPE fit's) with a per-point relative uncertainty
//! `point_syst` (default [`DEFAULT_POINT_SYST`]) added in quadrature.
//!
//! Robustness: a point that failed upstream, has no signal or no usable value is excluded
//! with its reason; then, while at least four points remain, the worst point — the one
//! whose removal leaves the best fit of the others — is compared with the power law of
//! the others and excluded if it lies more than `outlier_sigma` (5) standard deviations
//! off (its error and the law's at that voltage combined), one at a time. Nothing is dropped without
//! an [`Exclusion`] saying why; fewer than three points give no fit and say so.
//!
//! Why this file is over 600 lines: about 160 of them are its unit tests; the fit, its
//! exclusions and its warnings are one procedure and read best together.

use serde::{Deserialize, Serialize};

/// Scale the errors by `√(χ²/ndf)` only when the χ² probability is below this.
pub const SCALE_BELOW_P: f64 = 0.05;

/// Default per-point relative uncertainty added in quadrature to each point's own error
/// (1 %): the scatter of real points about a pure power law beyond the SPE fits'
/// statistical errors (on the DT5742 bench data those errors are 0.2–0.3 % while clean
/// tubes scatter by 1–2 % about the law). Without it good points are called outliers.
/// Set it to 0 for data that follow the law exactly (simulations).
pub const DEFAULT_POINT_SYST: f64 = 0.01;

/// Default relative gain-model systematic (2 %): a typical spread of the SPE gain between
/// fit models and fit ranges on bench data. Set it from your own model comparison.
pub const DEFAULT_GAIN_SYST: f64 = 0.02;

/// One voltage of an HV check as the fit receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct HvInput {
    /// Supply voltage in volts.
    pub volts: f64,
    /// Gain (or Q1) and its 1σ error; `None` when the point has none.
    pub value: Option<f64>,
    pub error: Option<f64>,
    /// Why the point is unusable, when it failed upstream (no signal, failed fit …).
    pub problem: Option<(ExclusionKind, String)>,
    /// Where the point came from (a file or directory), for messages.
    pub source: String,
}

/// Why a point is not in the fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionKind {
    /// The point's processing failed (fit failed, too little data, unreadable).
    Failed,
    /// The spectrum is pedestal only.
    NoSignal,
    /// No positive value with a positive, finite error.
    NoValue,
    /// More than `outlier_sigma` off the power law of the other points.
    Outlier,
}

impl ExclusionKind {
    /// The kind in words, for one-line summaries.
    pub fn words(self) -> &'static str {
        match self {
            ExclusionKind::Failed => "failed",
            ExclusionKind::NoSignal => "no signal",
            ExclusionKind::NoValue => "no value",
            ExclusionKind::Outlier => "off the power law",
        }
    }
}

/// A point left out of the fit, with the reason in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exclusion {
    pub volts: f64,
    pub kind: ExclusionKind,
    pub reason: String,
}

/// Settings of the fit.
#[derive(Debug, Clone, PartialEq)]
pub struct HvFitOptions {
    /// Target gain (or Q1, in the points' unit).
    pub target: f64,
    /// Exclude a point this many σ off the power law of the others.
    pub outlier_sigma: f64,
    /// Plausible slopes for a dynode chain; outside: a warning.
    pub slope_range: (f64, f64),
    /// Relative gain-model systematic, see [`DEFAULT_GAIN_SYST`].
    pub gain_syst: f64,
    /// Per-point relative uncertainty, see [`DEFAULT_POINT_SYST`].
    pub point_syst: f64,
}

impl Default for HvFitOptions {
    fn default() -> Self {
        HvFitOptions {
            target: 1e7,
            outlier_sigma: 5.0,
            slope_range: (4.0, 12.0),
            gain_syst: DEFAULT_GAIN_SYST,
            point_syst: DEFAULT_POINT_SYST,
        }
    }
}

/// A fitted power law `ln G = a + b·ln V`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerLaw {
    /// Intercept and slope of `ln G` against `ln V`.
    pub a: f64,
    pub b: f64,
    /// Covariance of (a, b), already multiplied by `scale_factor²`.
    pub cov: [[f64; 2]; 2],
    /// Weighted mean of `ln V`; at it the intercept `y_ref` is uncorrelated with b.
    pub x_ref: f64,
    pub y_ref: f64,
    /// Variances of `y_ref` and b without the scale factor.
    pub var_y_ref: f64,
    pub var_b: f64,
    pub chi2: f64,
    pub ndf: u32,
    /// Scale factor applied to the statistical errors: `√(χ²/ndf)` when the χ² is
    /// improbable (see the module header), else 1.
    pub scale_factor: f64,
}

impl PowerLaw {
    /// `ln G` at voltage `v` and its (scaled) 1σ error: the fit line and its band.
    pub fn ln_value_at(&self, v: f64) -> (f64, f64) {
        let dx = v.ln() - self.x_ref;
        let var = self.var_y_ref + dx * dx * self.var_b;
        (self.y_ref + self.b * dx, var.sqrt() * self.scale_factor)
    }

    /// The voltage at which the law reaches `target`, with its scaled 1σ error (V);
    /// `None` when the slope is not positive.
    pub fn volts_at(&self, target: f64) -> Option<(f64, f64)> {
        if !(self.b > 0.0 && target > 0.0) {
            return None;
        }
        let dx = (target.ln() - self.y_ref) / self.b;
        let v = (self.x_ref + dx).exp();
        let var_x = (self.var_y_ref + dx * dx * self.var_b) / (self.b * self.b);
        Some((v, v * var_x.sqrt() * self.scale_factor))
            .filter(|(v, e)| v.is_finite() && e.is_finite())
    }
}

/// A point as the fit saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HvPointOut {
    pub volts: f64,
    pub value: Option<f64>,
    pub error: Option<f64>,
    /// In the final fit.
    pub used: bool,
    /// Why not, when not.
    pub excluded: Option<Exclusion>,
    pub source: String,
}

/// The result of an HV fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HvFit {
    pub target: f64,
    pub points: Vec<HvPointOut>,
    pub exclusions: Vec<Exclusion>,
    /// `None` when fewer than three points remain.
    pub fit: Option<PowerLaw>,
    /// The exponent b (gain ∝ V^b) and its scaled error.
    pub slope: Option<f64>,
    pub slope_err: Option<f64>,
    /// The voltage for the target and its statistical 1σ (scaled), systematic and total.
    pub hv_at_target: Option<f64>,
    pub hv_at_target_err: Option<f64>,
    pub hv_at_target_err_syst: Option<f64>,
    pub hv_at_target_err_total: Option<f64>,
    pub gain_syst: f64,
    /// The per-point relative uncertainty that was added to each point's error.
    pub point_syst: f64,
    pub warnings: Vec<String>,
}

/// The χ² survival function `P(χ²_k > x)` for integer `k` (closed forms: a finite sum
/// for even `k`, erfc plus a finite sum for odd `k`).
pub fn chi2_sf(x: f64, k: u32) -> f64 {
    if x.is_nan() || x <= 0.0 || k == 0 {
        return 1.0;
    }
    let h = 0.5 * x;
    if k % 2 == 0 {
        let (mut sum, mut term) = (0.0, 1.0);
        for i in 0..k / 2 {
            sum += term;
            term *= h / f64::from(i + 1);
        }
        return ((-h).exp() * sum).clamp(0.0, 1.0);
    }
    let (mut sum, mut term) = (0.0, 1.0);
    for i in 0..(k - 1) / 2 {
        sum += term;
        term *= x / f64::from(2 * i + 3);
    }
    let tail = (2.0 * x / std::f64::consts::PI).sqrt() * (-h).exp() * sum;
    (libm::erfc(h.sqrt()) + tail).clamp(0.0, 1.0)
}

/// Weighted least squares of `y` on `x` with errors `s` (at least two distinct x).
fn wls(pts: &[(f64, f64, f64)]) -> Option<PowerLaw> {
    let w: Vec<f64> = pts.iter().map(|p| 1.0 / (p.2 * p.2)).collect();
    let sw: f64 = w.iter().sum();
    let xr = pts.iter().zip(&w).map(|(p, w)| w * p.0).sum::<f64>() / sw;
    let yr = pts.iter().zip(&w).map(|(p, w)| w * p.1).sum::<f64>() / sw;
    let sxx: f64 = pts
        .iter()
        .zip(&w)
        .map(|(p, w)| w * (p.0 - xr).powi(2))
        .sum();
    let sxy: f64 = pts
        .iter()
        .zip(&w)
        .map(|(p, w)| w * (p.0 - xr) * (p.1 - yr))
        .sum();
    if !(sw.is_finite() && sxx.is_finite() && sxx > 0.0) {
        return None;
    }
    let b = sxy / sxx;
    let chi2: f64 = pts
        .iter()
        .zip(&w)
        .map(|(p, w)| w * (p.1 - yr - b * (p.0 - xr)).powi(2))
        .sum();
    let ndf = pts.len().saturating_sub(2) as u32;
    let scale = if ndf > 0 && chi2_sf(chi2, ndf) < SCALE_BELOW_P {
        (chi2 / f64::from(ndf)).sqrt().max(1.0)
    } else {
        1.0
    };
    let (var_y_ref, var_b) = (1.0 / sw, 1.0 / sxx);
    let s2 = scale * scale;
    let a = yr - b * xr;
    let cov = [
        [(var_y_ref + xr * xr * var_b) * s2, -xr * var_b * s2],
        [-xr * var_b * s2, var_b * s2],
    ];
    Some(PowerLaw {
        a,
        b,
        cov,
        x_ref: xr,
        y_ref: yr,
        var_y_ref,
        var_b,
        chi2,
        ndf,
        scale_factor: scale,
    })
}

/// `(ln V, ln value, σ of ln value)` of a usable point, `point_syst` added to σ.
fn log_point(p: &HvInput, point_syst: f64) -> Option<(f64, f64, f64)> {
    let (v, e) = (p.value?, p.error?);
    (p.volts > 0.0 && v > 0.0 && e > 0.0 && v.is_finite() && e.is_finite() && p.volts.is_finite())
        .then(|| (p.volts.ln(), v.ln(), (e / v).hypot(point_syst)))
}

/// Fits the power law to `inputs` as described in the module header.
pub fn fit_hv(inputs: &[HvInput], opts: &HvFitOptions) -> HvFit {
    let ps = if opts.point_syst.is_finite() {
        opts.point_syst.max(0.0)
    } else {
        0.0
    };
    let mut excl: Vec<Option<Exclusion>> = vec![None; inputs.len()];
    let mut warnings = Vec::new();
    for (i, p) in inputs.iter().enumerate() {
        if let Some((kind, reason)) = &p.problem {
            excl[i] = Some(Exclusion {
                volts: p.volts,
                kind: *kind,
                reason: reason.clone(),
            });
        } else if log_point(p, 0.0).is_none() {
            excl[i] = Some(Exclusion {
                volts: p.volts,
                kind: ExclusionKind::NoValue,
                reason: match (p.value, p.error) {
                    (None, _) => "no value".to_string(),
                    (Some(_), None) => "no error on the value: it cannot be weighted".to_string(),
                    (Some(v), Some(e)) => format!("unusable value {v:e} ± {e:e}"),
                },
            });
        }
    }
    // Outliers, worst first, one at a time, while the others still make a fit.
    loop {
        let used: Vec<usize> = (0..inputs.len()).filter(|&i| excl[i].is_none()).collect();
        if used.len() < 4 {
            break;
        }
        // The candidate is the point whose removal leaves the best fit of the others (the
        // smallest χ²): judging each point by its own deviation instead would blame an
        // edge point that a bad neighbour pulled the line away from.
        let mut worst: Option<(usize, f64, f64, f64, f64)> = None;
        for &i in &used {
            let others: Vec<_> = used
                .iter()
                .filter(|&&j| j != i)
                .filter_map(|&j| log_point(&inputs[j], ps))
                .collect();
            let (Some(law), Some((_, y, s))) = (wls(&others), log_point(&inputs[i], ps)) else {
                continue;
            };
            let (pred, pred_err) = law.ln_value_at(inputs[i].volts);
            let z = (y - pred) / (s * s + pred_err * pred_err).sqrt();
            if z.is_finite() && worst.is_none_or(|w| law.chi2 < w.4) {
                worst = Some((i, z, y, pred, law.chi2));
            }
        }
        match worst {
            Some((i, z, y, pred, _)) if z.abs() > opts.outlier_sigma => {
                excl[i] = Some(Exclusion {
                    volts: inputs[i].volts,
                    kind: ExclusionKind::Outlier,
                    reason: format!(
                        "{:.1}σ off the power law of the other points ({:.3e}, expected {:.3e})",
                        z.abs(),
                        y.exp(),
                        pred.exp()
                    ),
                });
            }
            _ => break,
        }
    }
    let used: Vec<usize> = (0..inputs.len()).filter(|&i| excl[i].is_none()).collect();
    let fit = if used.len() >= 3 {
        let pts: Vec<_> = used
            .iter()
            .filter_map(|&i| log_point(&inputs[i], ps))
            .collect();
        wls(&pts)
    } else {
        None
    };
    if used.len() < 3 {
        warnings.push(format!(
            "too few points: {} of {} usable, at least 3 are needed for a fit",
            used.len(),
            inputs.len()
        ));
    } else if used.len() == 3 && inputs.len() > 3 {
        warnings.push(format!(
            "only 3 of {} points remain: the power law is barely tested (1 degree of freedom)",
            inputs.len()
        ));
    }
    let mut out = HvFit {
        target: opts.target,
        points: Vec::new(),
        exclusions: excl.iter().flatten().cloned().collect(),
        fit: fit.clone(),
        slope: None,
        slope_err: None,
        hv_at_target: None,
        hv_at_target_err: None,
        hv_at_target_err_syst: None,
        hv_at_target_err_total: None,
        gain_syst: opts.gain_syst,
        point_syst: ps,
        warnings,
    };
    out.points = inputs
        .iter()
        .zip(&excl)
        .map(|(p, e)| HvPointOut {
            volts: p.volts,
            value: p.value,
            error: p.error,
            used: e.is_none(),
            excluded: e.clone(),
            source: p.source.clone(),
        })
        .collect();
    let Some(law) = fit else {
        return out;
    };
    out.slope = Some(law.b);
    out.slope_err = Some(law.cov[1][1].sqrt());
    let (lo, hi) = opts.slope_range;
    if !(lo..=hi).contains(&law.b) {
        out.warnings.push(format!(
            "implausible slope {:.2}: a dynode chain gives {lo}–{hi} (gain ∝ V^slope); \
             check the points and their voltages",
            law.b
        ));
    }
    if law.scale_factor > 1.0 {
        out.warnings.push(format!(
            "the points scatter more than their errors (χ²/ndf = {:.1}/{}): errors scaled by {:.2}",
            law.chi2, law.ndf, law.scale_factor
        ));
    }
    match law.volts_at(opts.target) {
        Some((v, err)) => {
            let syst = v * opts.gain_syst.max(0.0) / law.b;
            out.hv_at_target = Some(v);
            out.hv_at_target_err = Some(err);
            out.hv_at_target_err_syst = Some(syst);
            out.hv_at_target_err_total = Some(err.hypot(syst));
            let vs: Vec<f64> = used.iter().map(|&i| inputs[i].volts).collect();
            let vmin = vs.iter().copied().fold(f64::INFINITY, f64::min);
            let vmax = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if v < vmin || v > vmax {
                let by = if v < vmin { vmin - v } else { v - vmax };
                out.warnings.push(format!(
                    "extrapolation: the target's voltage {v:.0} V lies {by:.0} V outside the \
                     fitted range {vmin:.0}–{vmax:.0} V"
                ));
            }
        }
        None => out.warnings.push(format!(
            "no voltage for the target: the fitted slope {:.2} does not rise with voltage",
            law.b
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on `G = 1e7·(V/v0)^b` with relative error `rel`, shifted by `pulls[i]` σ.
    fn points(b: f64, v0: f64, volts: &[f64], rel: f64, pulls: &[f64]) -> Vec<HvInput> {
        volts
            .iter()
            .zip(pulls)
            .map(|(&v, &z)| {
                let g = 1e7 * (v / v0).powf(b) * (rel * z).exp();
                HvInput {
                    volts: v,
                    value: Some(g),
                    error: Some(rel * g),
                    problem: None,
                    source: format!("hv{v}"),
                }
            })
            .collect()
    }

    /// Options for points that follow the law exactly (no per-point model scatter).
    fn exact() -> HvFitOptions {
        HvFitOptions {
            point_syst: 0.0,
            ..Default::default()
        }
    }

    const VOLTS: [f64; 5] = [1400.0, 1450.0, 1500.0, 1550.0, 1600.0];
    const PULLS: [f64; 5] = [0.3, -0.8, 0.5, 1.1, -0.6];

    #[test]
    fn exact_power_law_is_recovered() {
        let pts = points(7.0, 1520.0, &VOLTS, 0.01, &[0.0; 5]);
        let f = fit_hv(&pts, &exact());
        let law = f.fit.as_ref().expect("fit");
        assert!((law.b - 7.0).abs() < 1e-9 && law.chi2 < 1e-12 && law.scale_factor == 1.0);
        let v = f.hv_at_target.expect("voltage");
        assert!((v - 1520.0).abs() < 1e-6, "{v}");
        // 1 % per point on five points: a fraction of a per cent / slope in voltage.
        let e = f.hv_at_target_err.expect("error");
        assert!(e > 0.5 && e < 3.0, "{e}");
        let syst = f.hv_at_target_err_syst.expect("syst");
        assert!((syst - 1520.0 * 0.02 / 7.0).abs() < 1e-6);
        assert!(f.warnings.is_empty() && f.exclusions.is_empty(), "{f:?}");
        // Plain-form covariance agrees with the centred one: var(ln G) at x_ref.
        let x = law.x_ref;
        let var = law.cov[0][0] + 2.0 * x * law.cov[0][1] + x * x * law.cov[1][1];
        assert!((var - law.var_y_ref).abs() < 1e-9 * law.var_y_ref.max(1e-30));
    }

    #[test]
    fn chi2_probabilities() {
        // Tabulated: P(χ²₁ > 3.841) = P(χ²₂ > 5.991) = P(χ²₃ > 7.815) = 0.05.
        for (x, k) in [(3.841, 1), (5.991, 2), (7.815, 3), (9.488, 4)] {
            assert!(
                (chi2_sf(x, k) - 0.05).abs() < 2e-4,
                "{x} {k}: {}",
                chi2_sf(x, k)
            );
        }
        assert_eq!(chi2_sf(0.0, 3), 1.0);
    }

    #[test]
    fn scatter_beyond_the_errors_scales_them() {
        let tight = fit_hv(&points(7.0, 1500.0, &VOLTS, 0.01, &PULLS), &exact());
        let pulls3: Vec<f64> = PULLS.iter().map(|p| p * 3.0).collect();
        let wide = fit_hv(&points(7.0, 1500.0, &VOLTS, 0.01, &pulls3), &exact());
        let (t, w) = (tight.fit.expect("fit"), wide.fit.expect("fit"));
        assert!(
            w.scale_factor > 1.0 && (w.scale_factor / t.scale_factor.max(1.0) - 3.0).abs() < 1.0
        );
        assert!(wide.hv_at_target_err > tight.hv_at_target_err);
    }

    #[test]
    fn no_signal_point_is_excluded_with_its_reason() {
        let mut pts = points(7.0, 1500.0, &VOLTS, 0.01, &PULLS);
        pts[0].value = None;
        pts[0].error = None;
        pts[0].problem = Some((ExclusionKind::NoSignal, "no_signal: pedestal only".into()));
        let f = fit_hv(&pts, &exact());
        assert_eq!(f.exclusions.len(), 1);
        assert_eq!(f.exclusions[0].kind, ExclusionKind::NoSignal);
        assert_eq!(f.points.iter().filter(|p| p.used).count(), 4);
        assert!((f.hv_at_target.expect("v") - 1500.0).abs() < 10.0);
    }

    #[test]
    fn a_point_far_off_the_law_is_excluded_worst_first() {
        let mut pulls = PULLS;
        pulls[3] = 12.0;
        let f = fit_hv(&points(8.0, 1500.0, &VOLTS, 0.01, &pulls), &exact());
        assert_eq!(f.exclusions.len(), 1, "{:?}", f.exclusions);
        let e = &f.exclusions[0];
        assert_eq!((e.kind, e.volts), (ExclusionKind::Outlier, 1550.0));
        assert!(e.reason.contains("σ off the power law"), "{}", e.reason);
        assert!((f.slope.expect("slope") - 8.0).abs() < 0.2);
        // A 3σ point stays in.
        pulls[3] = 3.0;
        let f = fit_hv(&points(8.0, 1500.0, &VOLTS, 0.01, &pulls), &exact());
        assert!(f.exclusions.is_empty());
    }

    #[test]
    fn too_few_points_give_no_fit_and_say_so() {
        let mut pts = points(7.0, 1500.0, &VOLTS, 0.01, &PULLS);
        for p in &mut pts[..3] {
            p.problem = Some((ExclusionKind::Failed, "fit_failed".into()));
        }
        let f = fit_hv(&pts, &exact());
        assert!(f.fit.is_none() && f.hv_at_target.is_none());
        assert!(
            f.warnings.iter().any(|w| w.contains("too few points")),
            "{:?}",
            f.warnings
        );
        assert_eq!(f.exclusions.len(), 3);
    }

    #[test]
    fn extrapolation_and_implausible_slope_are_warned() {
        let f = fit_hv(&points(7.0, 1700.0, &VOLTS, 0.01, &PULLS), &exact());
        assert!(
            f.warnings.iter().any(|w| w.contains("extrapolation")),
            "{:?}",
            f.warnings
        );
        assert!((f.hv_at_target.expect("v") - 1700.0).abs() < 20.0);
        let f = fit_hv(&points(2.5, 1500.0, &VOLTS, 0.01, &PULLS), &exact());
        assert!(
            f.warnings.iter().any(|w| w.contains("implausible slope")),
            "{:?}",
            f.warnings
        );
        let f = fit_hv(&points(-3.0, 1500.0, &VOLTS, 0.01, &PULLS), &exact());
        assert!(f.hv_at_target.is_none());
        assert!(
            f.warnings.iter().any(|w| w.contains("no voltage")),
            "{:?}",
            f.warnings
        );
    }

    #[test]
    fn unusable_values_are_not_dropped_silently() {
        let mut pts = points(7.0, 1500.0, &VOLTS, 0.01, &PULLS);
        pts[2].error = None;
        pts[4].value = Some(-1.0);
        let f = fit_hv(&pts, &exact());
        assert_eq!(f.exclusions.len(), 2);
        assert!(
            f.exclusions
                .iter()
                .all(|e| e.kind == ExclusionKind::NoValue)
        );
        assert!(f.fit.is_some());
    }
}
