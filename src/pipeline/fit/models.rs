//! The spectrum models, evaluated on a histogram in *bin units* (bin `i` is centred at
//! `u = i + 0.5`, width 1), so the minimiser sees parameters of order 1–1000 whatever the
//! charge unit (V·s at 1e-11 or ADC·samples at 1e3). Expected counts per bin are the
//! model density at the bin centre (bins are narrow against every width we fit).
//!
//! Every model returns analytic derivatives with its expectation (forward mode, one pass
//! over the bins), which the minimiser and the covariance use.

use std::f64::consts::{PI, SQRT_2};

/// How a parameter is mapped to the unconstrained space the minimiser works in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Transform {
    /// Any real value.
    Free,
    /// Strictly positive: p = exp(θ).
    Positive,
    /// In (0, 1): p = 1 / (1 + exp(−θ)).
    Unit,
    /// In (lo, hi): p = lo + (hi − lo) / (1 + exp(−θ)).
    Between(f64, f64),
}

impl Transform {
    pub fn to_param(self, t: f64) -> f64 {
        let logistic = |t: f64| 1.0 / (1.0 + (-t).clamp(-700.0, 700.0).exp());
        match self {
            Transform::Free => t,
            Transform::Positive => t.clamp(-700.0, 700.0).exp(),
            Transform::Unit => logistic(t),
            Transform::Between(lo, hi) => lo + (hi - lo) * logistic(t),
        }
    }

    pub fn to_internal(self, p: f64) -> f64 {
        let logit = |u: f64| {
            let u = u.clamp(1e-12, 1.0 - 1e-12);
            (u / (1.0 - u)).ln()
        };
        match self {
            Transform::Free => p,
            Transform::Positive => p.max(1e-300).ln(),
            Transform::Unit => logit(p),
            Transform::Between(lo, hi) => logit((p - lo) / (hi - lo)),
        }
    }

    /// dp/dθ expressed through p.
    pub fn derivative(self, p: f64) -> f64 {
        match self {
            Transform::Free => 1.0,
            Transform::Positive => p,
            Transform::Unit => p * (1.0 - p),
            Transform::Between(lo, hi) => (p - lo) * (hi - p) / (hi - lo),
        }
    }
}

/// Upper bound of the under-amplified fraction of photoelectrons. Large-area PMTs show
/// 5–30 %; a fit that wants more is using the component for something else (pedestal
/// shape, background), and that is what breaks the gain-versus-HV power law.
pub(super) const UA_MAX_FRACTION: f64 = 0.4;
/// Width of the half-normal prior on the under-amplified fraction w, ½(w / 0.2)² in −ln L
/// (`minimize::ua_fraction_prior`): what large-area PMTs show (5–30 %, 87 % of the prior
/// below 0.3). With ~300 under-amplified photoelectrons (occupancy 0.1, 20,000 events) the
/// likelihood alone cannot tell a narrow component from a broad one of 40 % at mean 0.6 Q1
/// that takes the fully amplified peak's low side (2·ln L within 0.3–3.4 of each other),
/// and the broad one, chosen in a quarter of such points, reads Q1 +4 … +8 %: +1.3 % on
/// average (BENCHMARKS.md "Accuracy"). The prior costs a component of 40 % 4 in 2·ln L
/// (3.6 more than one of 13 %). On the real spectra (the UZH LED run, 860,000
/// photoelectrons; the DT5742 tubes) no Q1 moves. It shapes the component's estimate
/// only: whether a component is kept is decided on the likelihood alone (`minimize`).
pub(super) const UA_FRACTION_PRIOR: f64 = 0.2;
/// Range of the under-amplified component's mean, in units of Q1: below the fully
/// amplified peak, never a second one.
pub(super) const UA_MEAN: (f64, f64) = (0.05, 0.6);
/// Range of its Gamma shape: from 2 (a broad hump that vanishes at zero charge — an
/// under-amplified photoelectron is still multiplied by the later dynodes; with shape 1,
/// the exponential, the fit put photoelectrons of ~zero charge into the pedestal and read
/// the UZH occupancy 7 % above the LED-on/off value, which does not move for thresholds
/// −50 … 50) to 30 (a peak of ~18 % relative width).
pub(super) const UA_SHAPE: (f64, f64) = (2.0, 30.0);

/// The internal model kinds (the public [`super::Model`] plus the pedestal-only reference).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    /// A single Gaussian: the "no signal" hypothesis.
    Pedestal,
    /// 1PE + 2PE Gaussians with μ2 = 2μ1 (no pedestal; events are pre-selected). The
    /// means are absolute charges, so the model needs where charge zero lies in bin
    /// units (`origin`); the other models' q0 absorbs it.
    Seed {
        origin: f64,
    },
    PoissonGauss,
    Bellamy,
    /// Pedestal ⊛ Σₙ P(n; μ) · SPE^{⊛n}, the SPE a fully amplified Gaussian N(Q1, σ1)
    /// (truncated at 0) of weight 1 − w and an under-amplified Gamma component of mean
    /// r·Q1 and shape a of weight w, and the pedestal's weight κ relative to the Poisson
    /// zero term (1 unless the spectrum asks otherwise): see [`super::compound`].
    Underamp,
}

const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// Components are evaluated within this many standard deviations of their mean.
const REACH: f64 = 9.0;

impl Kind {
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Kind::Pedestal => &["norm", "q0", "sigma0"],
            Kind::Seed { .. } => &["norm", "frac1", "q1", "sigma1", "sigma2"],
            Kind::PoissonGauss => &["norm", "q0", "sigma0", "q1", "sigma1", "mu"],
            Kind::Bellamy => &["norm", "q0", "sigma0", "q1", "sigma1", "mu", "w", "alpha"],
            Kind::Underamp => &[
                "norm",
                "q0",
                "sigma0",
                "q1",
                "sigma1",
                "mu",
                "ua_fraction",
                "ua_mean",
                "ua_shape",
                "pedestal_ratio",
            ],
        }
    }

    pub fn transforms(self) -> &'static [Transform] {
        use Transform::*;
        match self {
            Kind::Pedestal => &[Positive, Free, Positive],
            Kind::Seed { .. } => &[Positive, Unit, Positive, Positive, Positive],
            Kind::PoissonGauss => &[Positive, Free, Positive, Positive, Positive, Positive],
            Kind::Bellamy => &[
                Positive, Free, Positive, Positive, Positive, Positive, Unit, Positive,
            ],
            Kind::Underamp => &[
                Positive,
                Free,
                Positive,
                Positive,
                Positive,
                Positive,
                Between(0.0, UA_MAX_FRACTION),
                Between(UA_MEAN.0, UA_MEAN.1),
                Between(UA_SHAPE.0, UA_SHAPE.1),
                Positive,
            ],
        }
    }

    /// Expected counts per bin into `nu` (length = bins) and, when `jac` is given, their
    /// derivatives: `jac[i * npar + j] = ∂ν_i/∂p_j`. Both are overwritten.
    pub fn eval(self, p: &[f64], nu: &mut [f64], mut jac: Option<&mut [f64]>) {
        nu.fill(0.0);
        if let Some(j) = jac.as_deref_mut() {
            j.fill(0.0);
        }
        match self {
            Kind::Pedestal => {
                gauss_into(nu, jac, 3, p[0], p[1], p[2], &[(1, 1.0)], &[(2, 1.0)]);
            }
            Kind::Seed { origin } => {
                let (n, f, q1, s1, s2) = (p[0], p[1], p[2], p[3], p[4]);
                // ∂/∂frac of N·f·G1 is N·G1; of N·(1−f)·G2 it is −N·G2: handled by
                // scaling the "norm" column contributions below.
                let mut tmp = vec![0.0; nu.len()];
                let mut jac1 = jac.as_ref().map(|_| vec![0.0; nu.len() * 5]);
                gauss_into(
                    &mut tmp,
                    jac1.as_deref_mut(),
                    5,
                    n * f,
                    origin + q1,
                    s1,
                    &[(2, 1.0)],
                    &[(3, 1.0)],
                );
                let mut tmp2 = vec![0.0; nu.len()];
                let mut jac2 = jac.as_ref().map(|_| vec![0.0; nu.len() * 5]);
                gauss_into(
                    &mut tmp2,
                    jac2.as_deref_mut(),
                    5,
                    n * (1.0 - f),
                    origin + 2.0 * q1,
                    s2,
                    &[(2, 2.0)],
                    &[(4, 1.0)],
                );
                for i in 0..nu.len() {
                    nu[i] = tmp[i] + tmp2[i];
                }
                if let (Some(j), Some(j1), Some(j2)) = (jac, jac1, jac2) {
                    for i in 0..nu.len() {
                        let r = i * 5;
                        j[r] = nu[i] / n;
                        j[r + 1] = tmp[i] / f.max(1e-300) - tmp2[i] / (1.0 - f).max(1e-300);
                        for c in 2..5 {
                            j[r + c] = j1[r + c] + j2[r + c];
                        }
                    }
                }
            }
            Kind::PoissonGauss => poisson_gauss(p, nu, jac),
            Kind::Bellamy => bellamy(p, nu, jac),
            Kind::Underamp => super::compound::eval(p, nu, jac),
        }
    }

    /// Named components (counts per unit u) at the continuous positions `u`, for plots.
    pub fn components(self, p: &[f64], u: &[f64]) -> Vec<(String, Vec<f64>)> {
        let g = |norm: f64, m: f64, s: f64| -> Vec<f64> {
            u.iter()
                .map(|&x| {
                    let z = (x - m) / s;
                    norm * INV_SQRT_2PI / s * (-0.5 * z * z).exp()
                })
                .collect()
        };
        match self {
            Kind::Pedestal => vec![("pedestal".into(), g(p[0], p[1], p[2]))],
            Kind::Seed { origin } => vec![
                ("1 PE".into(), g(p[0] * p[1], origin + p[2], p[3])),
                (
                    "2 PE".into(),
                    g(p[0] * (1.0 - p[1]), origin + 2.0 * p[2], p[4]),
                ),
            ],
            Kind::Underamp => {
                // Computed at the bin centres, interpolated linearly to `u`.
                let bins = u.last().map_or(0, |x| x.round().max(0.0) as usize);
                super::compound::components(p, bins)
                    .into_iter()
                    .map(|(name, c)| {
                        let at = |x: f64| {
                            let t = (x - 0.5).clamp(0.0, (bins.max(1) - 1) as f64);
                            let i = (t.floor() as usize).min(bins.saturating_sub(2));
                            let f = t - i as f64;
                            let a = c.get(i).copied().unwrap_or(0.0);
                            let b = c.get(i + 1).copied().unwrap_or(a);
                            a + f * (b - a)
                        };
                        (name, u.iter().map(|&x| at(x)).collect())
                    })
                    .collect()
            }
            Kind::PoissonGauss | Kind::Bellamy => {
                let (n, q0, s0, q1, s1, mu) = (p[0], p[1], p[2], p[3], p[4], p[5]);
                let (w, alpha) = if self == Kind::Bellamy {
                    (p[6], p[7])
                } else {
                    (0.0, 1.0)
                };
                let shift = if self == Kind::Bellamy {
                    w / alpha
                } else {
                    0.0
                };
                let mut out = Vec::new();
                let p0 = (-mu).exp();
                out.push(("pedestal".into(), g(n * p0 * (1.0 - w), q0, s0)));
                if self == Kind::Bellamy {
                    let bg = u
                        .iter()
                        .map(|&x| n * p0 * w * emg(x, q0, s0, alpha))
                        .collect();
                    out.push(("background".into(), bg));
                }
                let mut pn = p0;
                for k in 1..=max_pe(mu) {
                    pn *= mu / k as f64;
                    // Components below 0.1 % of the events are invisible on the plot.
                    if pn < 1e-3 && k > 2 {
                        break;
                    }
                    let sk = (s0 * s0 + k as f64 * s1 * s1).sqrt();
                    out.push((format!("{k} PE"), g(n * pn, q0 + shift + k as f64 * q1, sk)));
                }
                out
            }
        }
    }
}

/// Highest number of photoelectrons worth summing for occupancy `mu`.
pub(super) fn max_pe(mu: f64) -> usize {
    let mu = mu.clamp(0.0, 50.0);
    ((mu + 6.0 * mu.sqrt() + 4.0).ceil() as usize).clamp(3, 80)
}

/// Adds `norm · N(u; mean, sd)` to `nu` for bin centres `u = i + 0.5`, and its derivatives
/// to `jac` (row stride `npar`): `mean_cols` lists (column, ∂mean/∂p) and `sd_cols`
/// lists (column, ∂sd/∂p); the norm column 0 gets ν/norm.
// The bin index drives ν, the Jacobian row and the bin centre at once.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn gauss_into(
    nu: &mut [f64],
    mut jac: Option<&mut [f64]>,
    npar: usize,
    norm: f64,
    mean: f64,
    sd: f64,
    mean_cols: &[(usize, f64)],
    sd_cols: &[(usize, f64)],
) {
    let (lo, hi) = bin_range(mean, sd, nu.len());
    let c = norm * INV_SQRT_2PI / sd;
    for i in lo..hi {
        let z = (i as f64 + 0.5 - mean) / sd;
        let a = c * (-0.5 * z * z).exp();
        nu[i] += a;
        if let Some(j) = jac.as_deref_mut() {
            let r = i * npar;
            j[r] += a / norm.max(1e-300);
            for &(col, dm) in mean_cols {
                j[r + col] += a * z / sd * dm;
            }
            for &(col, ds) in sd_cols {
                j[r + col] += a * (z * z - 1.0) / sd * ds;
            }
        }
    }
}

/// Bins `[lo, hi)` within REACH standard deviations of `mean`.
fn bin_range(mean: f64, sd: f64, bins: usize) -> (usize, usize) {
    let lo = (mean - REACH * sd).floor().max(0.0);
    let hi = (mean + REACH * sd).ceil() + 1.0;
    let lo = if lo.is_finite() { lo as usize } else { 0 }.min(bins);
    let hi = if hi.is_finite() {
        hi.max(0.0) as usize
    } else {
        bins
    }
    .min(bins);
    (lo, hi.max(lo))
}

/// Pedestal + Σₙ P(n; μ) N(q0 + n q1, √(s0² + n s1²)), with analytic derivatives.
#[allow(clippy::needless_range_loop)] // i drives ν, the Jacobian row and the bin centre
fn poisson_gauss(p: &[f64], nu: &mut [f64], mut jac: Option<&mut [f64]>) {
    const NP: usize = 6;
    let (n, q0, s0, q1, s1, mu) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    let mut pn = (-mu).exp();
    for k in 0..=max_pe(mu) {
        if k > 0 {
            pn *= mu / k as f64;
        }
        let kf = k as f64;
        let var = s0 * s0 + kf * s1 * s1;
        let sd = var.sqrt();
        let mean = q0 + kf * q1;
        let (lo, hi) = bin_range(mean, sd, nu.len());
        let c = n * pn * INV_SQRT_2PI / sd;
        // ∂P_k/∂μ = P_k (k/μ − 1)
        let dmu = kf / mu.max(1e-300) - 1.0;
        for i in lo..hi {
            let z = (i as f64 + 0.5 - mean) / sd;
            let a = c * (-0.5 * z * z).exp();
            nu[i] += a;
            if let Some(j) = jac.as_deref_mut() {
                let r = i * NP;
                let dm = a * z / sd;
                // ∂a/∂var = a (z² − 1) / (2 var)
                let dv = a * (z * z - 1.0) / (2.0 * var);
                j[r] += a / n.max(1e-300);
                j[r + 1] += dm;
                j[r + 2] += dv * 2.0 * s0;
                j[r + 3] += dm * kf;
                j[r + 4] += dv * 2.0 * kf * s1;
                j[r + 5] += a * dmu;
            }
        }
    }
}

/// Bellamy et al.: the pedestal carries an exponential background of weight w and slope
/// α (smeared by the pedestal noise: an exponentially modified Gaussian), and the n ≥ 1
/// peaks are shifted by its mean w/α. Analytic derivatives, as for poisson-gauss.
#[allow(clippy::needless_range_loop)] // i drives ν, the Jacobian row and the bin centre
fn bellamy(p: &[f64], nu: &mut [f64], mut jac: Option<&mut [f64]>) {
    const NP: usize = 8;
    let (n, q0, s0, q1, s1, mu, w, alpha) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
    let p0 = (-mu).exp();
    // Pedestal Gaussian, weight (1 − w).
    let (lo, hi) = bin_range(q0, s0, nu.len());
    let c0 = n * p0 * (1.0 - w) * INV_SQRT_2PI / s0;
    for i in lo..hi {
        let z = (i as f64 + 0.5 - q0) / s0;
        let a = c0 * (-0.5 * z * z).exp();
        nu[i] += a;
        if let Some(j) = jac.as_deref_mut() {
            let r = i * NP;
            j[r] += a / n;
            j[r + 1] += a * z / s0;
            j[r + 2] += a * (z * z - 1.0) / s0;
            j[r + 5] -= a;
            j[r + 6] -= a / (1.0 - w).max(1e-300);
        }
    }
    // Exponential background on the pedestal, weight w.
    let start = (q0 - REACH * s0).floor().max(0.0) as usize;
    for i in start..nu.len() {
        let x = i as f64 + 0.5;
        let (e, d) = emg_with_derivatives(x, q0, s0, alpha);
        let a = n * p0 * w * e;
        nu[i] += a;
        if let Some(j) = jac.as_deref_mut() {
            let r = i * NP;
            let c = n * p0 * w;
            j[r] += a / n;
            j[r + 1] += c * d[0];
            j[r + 2] += c * d[1];
            j[r + 5] -= a;
            j[r + 6] += n * p0 * e;
            j[r + 7] += c * d[2];
        }
    }
    // n ≥ 1 photoelectrons, shifted by the background's mean w/α.
    let shift = w / alpha;
    let mut pn = p0;
    for k in 1..=max_pe(mu) {
        pn *= mu / k as f64;
        let kf = k as f64;
        let var = s0 * s0 + kf * s1 * s1;
        let sd = var.sqrt();
        let mean = q0 + shift + kf * q1;
        let (lo, hi) = bin_range(mean, sd, nu.len());
        let c = n * pn * INV_SQRT_2PI / sd;
        let dmu = kf / mu.max(1e-300) - 1.0;
        for i in lo..hi {
            let z = (i as f64 + 0.5 - mean) / sd;
            let a = c * (-0.5 * z * z).exp();
            nu[i] += a;
            if let Some(j) = jac.as_deref_mut() {
                let r = i * NP;
                let dm = a * z / sd;
                let dv = a * (z * z - 1.0) / (2.0 * var);
                j[r] += a / n;
                j[r + 1] += dm;
                j[r + 2] += dv * 2.0 * s0;
                j[r + 3] += dm * kf;
                j[r + 4] += dv * 2.0 * kf * s1;
                j[r + 5] += a * dmu;
                j[r + 6] += dm / alpha;
                j[r + 7] -= dm * w / (alpha * alpha);
            }
        }
    }
}

/// [`emg`] and its derivatives with respect to (q0, s0, α), through
/// d ln erfc(z)/dz = −R(z), R = 2 e^(−z²) / (√π erfc z), evaluated without overflow.
fn emg_with_derivatives(x: f64, q0: f64, s0: f64, alpha: f64) -> (f64, [f64; 3]) {
    let e = emg(x, q0, s0, alpha);
    if e == 0.0 {
        return (0.0, [0.0; 3]);
    }
    let z = (q0 + alpha * s0 * s0 - x) / (s0 * SQRT_2);
    let r = if z < 25.0 {
        2.0 / PI.sqrt() * (-z * z).exp() / libm::erfc(z).max(1e-300)
    } else {
        // From the asymptotic series of erfc: R ≈ 2z (1 + 1/(2z²)).
        2.0 * z + 1.0 / z
    };
    let d = q0 - x;
    let dq0 = alpha - r / (s0 * SQRT_2);
    let ds0 = alpha * alpha * s0 - r * (alpha / SQRT_2 - d / (s0 * s0 * SQRT_2));
    let dalpha = 1.0 / alpha + d + alpha * s0 * s0 - r * s0 / SQRT_2;
    (e, [e * dq0, e * ds0, e * dalpha])
}

/// Density of an exponential (slope α, starting at q0) convolved with N(0, s0):
/// α/2 · exp(α(q0 − x) + α²s0²/2) · erfc((q0 + α s0² − x) / (s0 √2)), computed in logs so
/// that neither factor overflows.
pub(super) fn emg(x: f64, q0: f64, s0: f64, alpha: f64) -> f64 {
    let z = (q0 + alpha * s0 * s0 - x) / (s0 * SQRT_2);
    let ln_erfc = if z < 25.0 {
        libm::erfc(z).max(1e-300).ln()
    } else {
        // Asymptotic: erfc z ≈ exp(−z²) / (z √π) · (1 − 1/(2z²)).
        -z * z - (z * PI.sqrt()).ln() + (1.0 - 0.5 / (z * z)).ln()
    };
    let ln = (0.5 * alpha).ln() + alpha * (q0 - x) + 0.5 * alpha * alpha * s0 * s0 + ln_erfc;
    if ln < -700.0 { 0.0 } else { ln.exp() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_jacobian(kind: Kind, p: &[f64], bins: usize) {
        let np = p.len();
        let mut nu = vec![0.0; bins];
        let mut jac = vec![0.0; bins * np];
        kind.eval(p, &mut nu, Some(&mut jac));
        for c in 0..np {
            let h = 1e-6 * p[c].abs().max(1e-3);
            let (mut a, mut b) = (p.to_vec(), p.to_vec());
            a[c] += h;
            b[c] -= h;
            let (mut na, mut nb) = (vec![0.0; bins], vec![0.0; bins]);
            kind.eval(&a, &mut na, None);
            kind.eval(&b, &mut nb, None);
            for i in 0..bins {
                let fd = (na[i] - nb[i]) / (2.0 * h);
                let an = jac[i * np + c];
                assert!(
                    (fd - an).abs() <= 1e-5 * (1.0 + fd.abs().max(an.abs())),
                    "{kind:?} d nu[{i}]/d p[{c}]: analytic {an}, numeric {fd}"
                );
            }
        }
    }

    #[test]
    fn analytic_jacobians_match_finite_differences() {
        check_jacobian(Kind::Pedestal, &[1000.0, 20.0, 3.0], 80);
        check_jacobian(
            Kind::Seed { origin: -3.0 },
            &[1000.0, 0.7, 30.0, 8.0, 12.0],
            120,
        );
        check_jacobian(
            Kind::PoissonGauss,
            &[1000.0, 20.0, 3.0, 25.0, 7.0, 1.3],
            200,
        );
        for (w, a) in [(0.12, 8.0), (1e-9, 2.0), (0.3, 1.0)] {
            check_jacobian(
                Kind::Underamp,
                &[1000.0, 20.0, 3.0, 25.0, 7.0, 1.3, w, 0.3, a, 1.4],
                200,
            );
        }
    }

    #[test]
    fn models_are_normalised() {
        let bins = 2000;
        for (kind, p) in [
            (
                Kind::PoissonGauss,
                vec![1000.0, 100.0, 5.0, 40.0, 12.0, 2.0],
            ),
            (
                Kind::Bellamy,
                vec![1000.0, 100.0, 5.0, 40.0, 12.0, 2.0, 0.2, 0.05],
            ),
            (
                Kind::Seed { origin: 0.0 },
                vec![1000.0, 0.6, 100.0, 20.0, 30.0],
            ),
            (
                Kind::Underamp,
                vec![1000.0, 100.0, 5.0, 40.0, 12.0, 2.0, 0.2, 0.3, 5.0, 1.0],
            ),
        ] {
            let mut nu = vec![0.0; bins];
            kind.eval(&p, &mut nu, None);
            let total: f64 = nu.iter().sum();
            assert!((total - 1000.0).abs() < 1.0, "{kind:?}: {total}");
        }
    }

    /// With no under-amplified photoelectrons the compound model is poisson-gauss (up to
    /// its truncation of the SPE at 0, negligible here).
    #[test]
    fn compound_model_without_underamplification_is_poisson_gauss() {
        for (s0, mu) in [(3.0, 1.3), (1.0, 1.0), (1.7, 0.97)] {
            let bins = 150;
            let pg = [20_000.0, 30.0, s0, 20.0, 4.0, mu];
            let mut a = vec![0.0; bins];
            Kind::PoissonGauss.eval(&pg, &mut a, None);
            let mut ua = pg.to_vec();
            ua.extend([1e-12, 0.3, 10.0, 1.0]);
            let mut b = vec![0.0; bins];
            Kind::Underamp.eval(&ua, &mut b, None);
            for i in 0..bins {
                assert!(
                    (a[i] - b[i]).abs() <= 0.01 + 1e-3 * a[i],
                    "σ0 {s0}: bin {i}: poisson-gauss {} compound {}",
                    a[i],
                    b[i]
                );
            }
        }
    }

    #[test]
    fn emg_is_a_density_and_never_overflows() {
        let total: f64 = (0..40000)
            .map(|i| emg(i as f64 * 0.01 - 50.0, 0.0, 2.0, 0.1) * 0.01)
            .sum();
        assert!((total - 1.0).abs() < 1e-3, "{total}");
        assert!(emg(-1e4, 0.0, 0.01, 50.0).is_finite());
        assert!(emg(1e4, 0.0, 0.01, 50.0).is_finite());
    }
}
