//! SPE fits of a charge spectrum and the gain that follows from them.
//!
//! Four models share one binned Poisson-likelihood machinery (`minimize`):
//! - `poisson-gauss-ua` (the default): pedestal ⊛ Σₙ P(n; μ)·SPE^{⊛n} (computed by DFT,
//!   `compound`) with an SPE that is a fully amplified Gaussian N(Q1, σ1) plus an
//!   under-amplified Gamma component (fraction w ≤ 40 %, mean r·Q1 with r ≤ 0.6, shape
//!   2 … 30): the gain stays Q1/e of the fully amplified peak, and the mean SPE charge
//!   (under-amplified part included) is reported beside it as `mean_spe`;
//! - `seed-compatible`: the old analysis — 1PE + 2PE Gaussians with μ2 = 2μ1 on the
//!   events the old cuts select (the cuts themselves are applied in [`crate::pipeline::point`]);
//! - `poisson-gauss`: pedestal + Σₙ P(n; μ)·N(Q0 + n·Q1, √(σ0² + n·σ1²)) on the full spectrum;
//! - `bellamy`: the same plus the exponential background of Bellamy et al., NIM A 339 (1994) 468.
//!
//! Errors come from the inverse Hessian of −ln L at the minimum. Pedestal-only spectra are
//! recognised and reported as `no_signal`, never as a number.

mod compound;
mod covariance;
mod minimize;
mod models;
mod seed;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;

pub use minimize::{DEFAULT_MIN_EVENTS, PEDESTAL_REACH, fit_histogram, fit_histogram_with};

/// The fit model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    SeedCompatible,
    /// Pedestal plus Poisson-weighted Gaussian photoelectron peaks.
    PoissonGauss,
    Bellamy,
    /// Poisson-Gauss with an under-amplified SPE component (and the pedestal's own weight
    /// where the spectrum asks for it): the default.
    #[default]
    #[serde(rename = "poisson-gauss-ua")]
    PoissonGaussUa,
}

impl Model {
    /// All models, in the order the UI lists them.
    pub const ALL: [Model; 4] = [
        Model::PoissonGaussUa,
        Model::PoissonGauss,
        Model::Bellamy,
        Model::SeedCompatible,
    ];

    /// The name used in configs, JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::SeedCompatible => "seed-compatible",
            Model::PoissonGauss => "poisson-gauss",
            Model::Bellamy => "bellamy",
            Model::PoissonGaussUa => "poisson-gauss-ua",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown model '{s}': use one of poisson-gauss-ua, poisson-gauss, bellamy, \
                     seed-compatible"
                )
            })
    }
}

/// Outcome of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Converged with a valid covariance; the gain is meaningful.
    Ok,
    /// The spectrum is pedestal only: there is no SPE signal to measure.
    NoSignal,
    /// Too few events (or bins) for a fit.
    InsufficientData,
    /// The minimiser did not converge or the covariance is not positive definite.
    FitFailed,
    /// There is a signal, but the SPE cannot be separated from the pedestal (low gain,
    /// broad pedestal): no gain can be measured from this spectrum.
    Unresolved,
}

impl Status {
    /// The name used in JSON and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NoSignal => "no_signal",
            Status::InsufficientData => "insufficient_data",
            Status::FitFailed => "fit_failed",
            Status::Unresolved => "unresolved",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit of parameter `name` when charges are in `charge_unit`.
pub fn param_unit(name: &str, charge_unit: &str) -> String {
    match name {
        "q0" | "sigma0" | "q1" | "sigma1" | "sigma2" | "mean_spe" => charge_unit.to_string(),
        "alpha" => format!("1/({charge_unit})"),
        "ua_mean" => "Q1".to_string(),
        _ => String::new(),
    }
}

/// A fitted parameter with its (1σ) error; `error` is `None` for fixed or derived values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub value: f64,
    pub error: Option<f64>,
}

/// The fitted model evaluated on a fine grid, in expected counts per histogram bin, for
/// plotting: the total and each named component (pedestal, 1 PE, 2 PE, …, background).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FitCurve {
    pub x: Vec<f64>,
    pub total: Vec<f64>,
    pub components: Vec<(String, Vec<f64>)>,
    /// Model expectation per histogram bin (same length as the fitted histogram's counts).
    pub per_bin: Vec<f64>,
}

/// Result of fitting one spectrum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitResult {
    pub status: Status,
    pub model: Model,
    /// Parameters by name: `q0`, `sigma0`, `q1`, `sigma1`, `mu` (and `w`, `alpha` for
    /// `bellamy`), in the histogram's charge unit.
    pub params: BTreeMap<String, Param>,
    /// The likelihood-ratio χ² at the minimum (Baker–Cousins: 2·Σ n·ln(n/ν) − (n − ν)
    /// over the fitted bins).
    pub chi2: Option<f64>,
    pub ndf: Option<u32>,
    /// What χ² averages over Poisson fluctuations of the fitted model (≈ ndf where every
    /// bin is well filled; see `minimize::expected_deviance`); the error scale compares
    /// χ² with it.
    #[serde(default)]
    pub chi2_expected: Option<f64>,
    /// Why the status is not `ok`, in words for the operator.
    pub message: Option<String>,
    /// Histogram range the fit used.
    pub range: [f64; 2],
    /// Minimiser iterations (all L-BFGS rounds).
    pub iterations: u64,
    /// Histogram entries below the fit range (far under the pedestal: outliers).
    pub excluded: u64,
    /// Factor the Hessian errors were multiplied by: √(χ²/ndf) when that exceeds 1 (the
    /// model does not describe the spectrum to its statistical precision), else 1.
    #[serde(default = "one")]
    pub error_scale: f64,
    /// Remarks on the fit for the operator (a parameter at its bound, a component left
    /// out); `point` passes them on as warnings.
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(skip)]
    pub curve: Option<FitCurve>,
}

impl FitResult {
    /// A result without a fit (status explains why).
    pub fn without_fit(status: Status, model: Model, hist: &Histogram, message: String) -> Self {
        FitResult {
            status,
            model,
            params: BTreeMap::new(),
            chi2: None,
            ndf: None,
            chi2_expected: None,
            message: Some(message),
            range: [hist.lo, hist.hi()],
            iterations: 0,
            excluded: 0,
            error_scale: 1.0,
            notes: Vec::new(),
            curve: None,
        }
    }

    /// The mean SPE charge (relative to the pedestal), under-amplified part included,
    /// when the fit is `ok`: `mean_spe` where the model has it, else Q1.
    pub fn mean_spe(&self) -> Option<Param> {
        (self.status == Status::Ok)
            .then(|| {
                self.params
                    .get("mean_spe")
                    .or_else(|| self.params.get("q1"))
                    .copied()
            })
            .flatten()
    }

    /// The SPE charge Q1 (relative to the pedestal) when the fit is `ok`.
    pub fn q1(&self) -> Option<Param> {
        (self.status == Status::Ok)
            .then(|| self.params.get("q1").copied())
            .flatten()
    }
}

/// Standard normal CDF Φ(x).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

fn one() -> f64 {
    1.0
}

/// Fits `hist` with `model`. Never panics; all failures come back as a status.
pub fn fit(hist: &Histogram, model: Model) -> FitResult {
    fit_histogram(hist, model)
}
