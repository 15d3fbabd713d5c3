//! The binned Poisson likelihood, its minimisation (argmin's L-BFGS with a More–Thuente
//! line search, on unconstrained parameters), the covariance from the Hessian at the
//! minimum, the `no_signal` decision, and the assembly of a [`FitResult`].
//!
//! −ln L is written in the Baker–Cousins form Σ ν − n + n ln(n/ν), so 2·(−ln L) at the
//! minimum is the likelihood χ² reported with the fit (well-behaved with sparse bins,
//! unlike Pearson's or Neyman's χ²).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::covariance::covariance;
use super::models::Kind;
use super::seed;
use super::{FitCurve, FitResult, Model, Param, Status};
use crate::pipeline::histogram::Histogram;

/// Fewest entries a spectrum needs before any fit is tried.
pub const DEFAULT_MIN_EVENTS: usize = 200;
/// A fitted SPE must improve 2·ln L over the pedestal-only model by at least this much.
const MIN_SIGNAL_DELTA: f64 = 25.0;
/// Fewest signal events (μ × entries) a gain is reported from.
const MIN_SIGNAL_EVENTS: f64 = 20.0;
/// The Poisson models' fit range starts this many pedestal widths below the pedestal.
const PEDESTAL_REACH: f64 = 6.0;
/// Q1 must stand this many pedestal widths clear of the pedestal.
const MIN_Q1_OVER_SIGMA0: f64 = 2.5;

/// The likelihood of one model on one histogram (bin units).
struct Problem<'a> {
    kind: Kind,
    counts: &'a [f64],
    /// Likelihood evaluations, for the benchmark notes.
    evals: AtomicU64,
    /// The minimiser sees −ln L / scale (scale = entries), so that gradients are of
    /// order one whatever the statistics and the first L-BFGS step stays sensible.
    scale: f64,
}

impl Problem<'_> {
    fn params(&self, theta: &[f64]) -> Vec<f64> {
        self.kind
            .transforms()
            .iter()
            .zip(theta)
            .map(|(t, &x)| t.to_param(x))
            .collect()
    }

    /// −ln L (Baker–Cousins) at natural parameters `p`, and optionally ∂/∂p.
    fn nll(&self, p: &[f64], grad: Option<&mut [f64]>) -> f64 {
        self.evals.fetch_add(1, Ordering::Relaxed);
        let bins = self.counts.len();
        let np = p.len();
        let mut nu = vec![0.0; bins];
        let want_jac = grad.is_some();
        let mut jac = if want_jac {
            vec![0.0; bins * np]
        } else {
            Vec::new()
        };
        self.kind
            .eval(p, &mut nu, want_jac.then_some(jac.as_mut_slice()));
        let mut l = 0.0;
        for (&n, &v) in self.counts.iter().zip(&nu) {
            let v = v.max(1e-300);
            l += v - n;
            if n > 0.0 {
                l += n * (n / v).ln();
            }
        }
        if let Some(g) = grad {
            g.fill(0.0);
            if want_jac {
                for i in 0..bins {
                    let r = 1.0 - self.counts[i] / nu[i].max(1e-300);
                    for j in 0..np {
                        g[j] += r * jac[i * np + j];
                    }
                }
            }
        }
        if l.is_finite() { l } else { f64::MAX / 4.0 }
    }

    fn nll_theta(&self, theta: &[f64]) -> f64 {
        self.nll(&self.params(theta), None)
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.nll_theta(theta) / self.scale)
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let np = theta.len();
        let mut g = vec![0.0; np];
        let p = self.params(theta);
        self.nll(&p, Some(&mut g));
        for ((gj, t), pj) in g.iter_mut().zip(self.kind.transforms()).zip(&p) {
            *gj *= t.derivative(*pj) / self.scale;
        }
        Ok(g)
    }
}

/// Outcome of one minimisation, in natural parameters (bin units).
struct Minimum {
    p: Vec<f64>,
    nll: f64,
    cov: Option<Vec<f64>>,
    iterations: u64,
}

/// Minimises `kind` on `counts` from natural start values `p0`. L-BFGS is restarted from
/// its best point while that still lowers −ln L (a restart forgets a poor curvature
/// estimate, which is what stalls quasi-Newton methods on these likelihoods).
fn minimize(kind: Kind, counts: &[f64], p0: &[f64]) -> Result<Minimum, String> {
    let scale = counts.iter().sum::<f64>().max(1.0);
    let problem = || Problem {
        kind,
        counts,
        evals: AtomicU64::new(0),
        scale,
    };
    let mut theta: Vec<f64> = kind
        .transforms()
        .iter()
        .zip(p0)
        .map(|(t, &p)| t.to_internal(p))
        .collect();
    let mut cost = problem().nll_theta(&theta);
    let mut iterations = 0;
    for _round in 0..4 {
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(1e-9)
            .and_then(|s| s.with_tolerance_cost(1e-14))
            .map_err(|e| e.to_string())?;
        let res = Executor::new(problem(), solver)
            .configure(|state| state.param(theta.clone()).max_iters(400))
            .run()
            .map_err(|e| format!("minimiser: {e}"))?;
        let state = res.state();
        iterations += state.get_iter();
        let Some(best) = state.get_best_param() else {
            break;
        };
        let c = problem().nll_theta(best);
        let improved = c < cost - 1e-9 * cost.abs().max(1.0);
        if c < cost {
            theta = best.clone();
            cost = c;
        }
        tracing::trace!(?kind, iterations, cost, "L-BFGS round");
        if !improved {
            break;
        }
    }
    let problem = problem();
    let p = problem.params(&theta);
    let nll = problem.nll(&p, None);
    if !nll.is_finite() || p.iter().any(|v| !v.is_finite()) {
        return Err("minimiser ended at a non-finite point".into());
    }
    let cov = covariance(&p, problem.kind, |x, g| problem.nll(x, g));
    Ok(Minimum {
        p,
        nll,
        cov,
        iterations,
    })
}

/// Fits `hist` with `model`; see the module docs of [`super`].
pub fn fit_histogram(hist: &Histogram, model: Model) -> FitResult {
    fit_histogram_with(hist, model, DEFAULT_MIN_EVENTS)
}

/// Like [`fit_histogram`] with an explicit minimum number of entries.
pub fn fit_histogram_with(hist: &Histogram, model: Model, min_events: usize) -> FitResult {
    // Empty bins at both ends carry (almost) no information: they stay in the
    // likelihood (ν there is part of the model) but do not count towards ndf.
    let span = match (
        hist.counts.iter().position(|&c| c > 0.0),
        hist.counts.iter().rposition(|&c| c > 0.0),
    ) {
        (Some(a), Some(b)) => b + 1 - a,
        _ => {
            return FitResult::without_fit(
                Status::InsufficientData,
                model,
                hist,
                "the spectrum is empty".into(),
            );
        }
    };
    let h = hist;
    let total = h.total();
    let kind = match model {
        Model::SeedCompatible => Kind::Seed {
            origin: -h.lo / h.width,
        },
        Model::PoissonGauss => Kind::PoissonGauss,
        Model::Bellamy => Kind::Bellamy,
    };
    let npar = kind.names().len();
    let filled = h.counts.iter().filter(|&&c| c > 0.0).count();
    if total < min_events as f64 || filled < npar + 3 {
        return FitResult::without_fit(
            Status::InsufficientData,
            model,
            h,
            format!(
                "{total:.0} events in {filled} non-empty bins: at least {min_events} events in \
                 {} bins are needed for a fit",
                npar + 3
            ),
        );
    }

    // The Poisson models fit from a few pedestal widths below the pedestal upwards. Far
    // below it there is nothing a PMT makes: only outliers (a dark pulse in the baseline
    // samples drags one event's charge negative), which a Gaussian pedestal would have to
    // bend to explain, at a cost to every other parameter. They are counted, not fitted.
    let (first, p0, pedestal_only) = match kind {
        Kind::Seed { origin } => (0, seed::seed_start(&h.counts, origin).to_vec(), None),
        _ => {
            let st = seed::poisson_start(&h.counts);
            let first = ((st.q0 - PEDESTAL_REACH * st.s0).floor().max(0.0) as usize)
                .min(h.counts.len().saturating_sub(1));
            let q0 = st.q0 - first as f64;
            let mut p0 = vec![st.norm, q0, st.s0, st.q1, st.s1, st.mu];
            if kind == Kind::Bellamy {
                p0.extend([0.1, 2.0 / st.q1]);
            }
            let ped = minimize(Kind::Pedestal, &h.counts[first..], &[st.norm, q0, st.s0]).ok();
            (first, p0, ped)
        }
    };
    let counts = &h.counts[first..];
    let excluded: f64 = h.counts[..first].iter().sum();
    // The moments and peaks behind the start values can mislead (a high occupancy hides
    // the SPE peak; a tail pulls the mean), and a quasi-Newton method finds the minimum
    // nearest its start. A few starts around Q1 cost a millisecond and remove that risk:
    // the lowest −ln L wins.
    let mut starts = vec![p0.clone()];
    if !matches!(kind, Kind::Seed { .. }) {
        for f in [0.75, 1.33] {
            let mut p = p0.clone();
            p[3] *= f;
            p[4] = 0.3 * p[3];
            p[5] /= f;
            starts.push(p);
        }
    }
    let mut best: Option<Minimum> = None;
    let mut last_err = String::new();
    for p in &starts {
        match minimize(kind, counts, p) {
            Ok(m) if best.as_ref().is_none_or(|b| m.nll < b.nll) => best = Some(m),
            Ok(_) => {}
            Err(e) => last_err = e,
        }
    }
    let Some(mut best) = best else {
        return FitResult::without_fit(Status::FitFailed, model, h, last_err);
    };
    // Bellamy is also started from the poisson-gauss minimum: it nests it (w → 0), and a
    // good start matters for its numerical gradient.
    if kind == Kind::Bellamy
        && let Ok(pg) = minimize(Kind::PoissonGauss, counts, &p0[..6])
    {
        let mut p1 = pg.p.clone();
        p1.extend([0.05, 2.0 / pg.p[3]]);
        if let Ok(m) = minimize(kind, counts, &p1)
            && m.nll < best.nll
        {
            best = m;
        }
    }
    // Back to the bins of the whole histogram: q0 is the only positional parameter.
    if first > 0 {
        best.p[1] += first as f64;
    }
    // ndf counts the fitted bins between the first and the last non-empty one.
    let span = match (
        counts.iter().position(|&c| c > 0.0),
        counts.iter().rposition(|&c| c > 0.0),
    ) {
        (Some(a), Some(b)) => b + 1 - a,
        _ => span,
    };
    let mut r = assemble(kind, model, h, span, best, pedestal_only.map(|m| m.nll));
    r.excluded = excluded.round() as u64;
    r
}

/// Turns a minimum (bin units) into a [`FitResult`] in the histogram's charge unit.
fn assemble(
    kind: Kind,
    model: Model,
    h: &Histogram,
    span: usize,
    m: Minimum,
    ped_nll: Option<f64>,
) -> FitResult {
    let names = kind.names();
    let np = names.len();
    let (lo, w) = (h.lo, h.width);
    // How each parameter maps from bin units to charge units: (scale, offset).
    let unit_map = |name: &str| -> (f64, f64) {
        match name {
            "q0" => (w, lo),
            // Seed means are absolute charges already (see Kind::Seed).
            "sigma0" | "q1" | "sigma1" | "sigma2" => (w, 0.0),
            "alpha" => (1.0 / w, 0.0),
            _ => (1.0, 0.0),
        }
    };
    let mut params = BTreeMap::new();
    for (j, name) in names.iter().enumerate() {
        let (scale, offset) = unit_map(name);
        let err = m
            .cov
            .as_ref()
            .map(|c| c[j * np + j])
            .filter(|v| *v >= 0.0)
            .map(|v| v.sqrt() * scale.abs());
        params.insert(
            (*name).to_string(),
            Param {
                value: m.p[j] * scale + offset,
                error: err,
            },
        );
    }
    if matches!(kind, Kind::Seed { .. }) {
        // The old analysis assumes a zero, noiseless pedestal: q0 and sigma0 are reported
        // as fixed zeros (no error) so every model answers the same parameter names. μ
        // follows from the 2PE/1PE ratio under Poisson statistics: P2/P1 = μ/2.
        for name in ["q0", "sigma0"] {
            params.insert(
                name.into(),
                Param {
                    value: 0.0,
                    error: None,
                },
            );
        }
        let f = m.p[1];
        let mu = 2.0 * (1.0 - f) / f;
        let mu_err = m
            .cov
            .as_ref()
            .map(|c| c[np + 1].max(0.0).sqrt() * 2.0 / (f * f));
        params.insert(
            "mu".into(),
            Param {
                value: mu,
                error: mu_err,
            },
        );
    }
    let chi2 = 2.0 * m.nll;
    let ndf = span.saturating_sub(np) as u32;

    let curve = curve(kind, h, &m.p);
    let mut result = FitResult {
        status: Status::Ok,
        model,
        params,
        chi2: Some(chi2),
        ndf: Some(ndf),
        message: None,
        range: [h.lo, h.hi()],
        iterations: m.iterations,
        excluded: 0,
        curve: Some(curve),
    };
    let fail = |r: &mut FitResult, s: Status, msg: String| {
        r.status = s;
        r.message = Some(msg);
    };
    if matches!(kind, Kind::PoissonGauss | Kind::Bellamy) {
        let (n, s0, q1, mu) = (m.p[0], m.p[2], m.p[3], m.p[5]);
        let delta = ped_nll.map(|l0| 2.0 * (l0 - m.nll));
        if mu * n < MIN_SIGNAL_EVENTS {
            fail(
                &mut result,
                Status::NoSignal,
                format!(
                    "only {:.1} photoelectron events (μ = {mu:.2e}): pedestal only",
                    mu * n
                ),
            );
        } else if q1 < MIN_Q1_OVER_SIGMA0 * s0 {
            fail(
                &mut result,
                Status::NoSignal,
                format!(
                    "the fitted SPE ({:.3}σ₀ from the pedestal) is not separated from the pedestal noise",
                    q1 / s0
                ),
            );
        } else if let Some(d) = delta
            && d < MIN_SIGNAL_DELTA
        {
            fail(
                &mut result,
                Status::NoSignal,
                format!("an SPE component improves the fit by only Δχ² = {d:.1}: pedestal only"),
            );
        }
    }
    if result.status == Status::Ok && m.cov.is_none() {
        fail(
            &mut result,
            Status::FitFailed,
            "the likelihood has no clear minimum (Hessian not positive definite)".into(),
        );
    }
    result
}

/// The fitted model on a fine grid and per bin, in expected counts per histogram bin.
fn curve(kind: Kind, h: &Histogram, p: &[f64]) -> FitCurve {
    let bins = h.counts.len();
    let mut per_bin = vec![0.0; bins];
    kind.eval(p, &mut per_bin, None);
    let steps = 600;
    let u: Vec<f64> = (0..=steps)
        .map(|i| i as f64 * bins as f64 / steps as f64)
        .collect();
    let components = kind.components(p, &u);
    let total = (0..u.len())
        .map(|i| components.iter().map(|(_, c)| c[i]).sum())
        .collect();
    FitCurve {
        x: u.iter().map(|&v| h.lo + v * h.width).collect(),
        total,
        components,
        per_bin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected counts of a known spectrum, rounded: a fit must recover the truth closely.
    fn asimov(p: &[f64], bins: usize) -> Histogram {
        let mut nu = vec![0.0; bins];
        Kind::PoissonGauss.eval(p, &mut nu, None);
        Histogram {
            lo: -10.0,
            width: 0.5,
            counts: nu.iter().map(|v| v.round()).collect(),
            unit: "pC".into(),
            outside: 0,
        }
    }

    #[test]
    fn recovers_poisson_gauss_truth() {
        let truth = [1e5, 40.0, 4.0, 60.0, 18.0, 1.2];
        let r = fit_histogram(&asimov(&truth, 500), Model::PoissonGauss);
        assert_eq!(r.status, Status::Ok, "{:?}", r.message);
        let q1 = r.params["q1"].value / 0.5;
        assert!((q1 - 60.0).abs() < 0.3, "q1 = {q1} {r:?}");
        assert!((r.params["mu"].value - 1.2).abs() < 0.01);
        assert!(r.params["q1"].error.is_some_and(|e| e > 0.0));
    }

    #[test]
    fn pedestal_only_is_no_signal() {
        let mut nu = vec![0.0; 200];
        Kind::Pedestal.eval(&[1e5, 100.0, 5.0], &mut nu, None);
        let h = Histogram {
            lo: 0.0,
            width: 1.0,
            counts: nu.iter().map(|v| v.round()).collect(),
            unit: "pC".into(),
            outside: 0,
        };
        for model in [Model::PoissonGauss, Model::Bellamy] {
            let r = fit_histogram(&h, model);
            assert_eq!(r.status, Status::NoSignal, "{model}: {:?}", r);
            assert!(r.q1().is_none());
        }
    }

    #[test]
    fn tiny_spectrum_is_insufficient() {
        let h = Histogram::fill(&[1.0, 2.0, 3.0], 0.0, 4.0, 4, "pC");
        assert_eq!(
            fit_histogram(&h, Model::PoissonGauss).status,
            Status::InsufficientData
        );
        let empty = Histogram::fill(&[], 0.0, 4.0, 4, "pC");
        assert_eq!(
            fit_histogram(&empty, Model::Bellamy).status,
            Status::InsufficientData
        );
    }
}
