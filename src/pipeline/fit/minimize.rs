//! The binned Poisson likelihood, its minimisation (argmin's L-BFGS with a More–Thuente
//! line search, on unconstrained parameters), the covariance from the Hessian at the
//! minimum, the `no_signal` decision, and the assembly of a [`FitResult`].
//!
//! −ln L is written in the Baker–Cousins form Σ ν − n + n ln(n/ν), so 2·(−ln L) at the
//! minimum is the likelihood χ² reported with the fit (well-behaved with sparse bins,
//! unlike Pearson's or Neyman's χ²).
//!
//! The `poisson-gauss-ua` fit is staged here (poisson-gauss from several starts, then the
//! under-amplified component with κ = 1 — free, or where that does not pay, of a typical
//! shape with only its fraction free — then a free pedestal weight κ, each kept only
//! where the likelihood asks for it) and shares the likelihood, the Fisher-scoring
//! minimiser and the assembly with the other models.
//!
//! Why this file is over 600 lines: splitting the stages from the `Minimum`/`Problem`
//! machinery they use would only move private helpers into a public-in-crate interface.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::covariance::covariance;
use super::models::{Kind, UA_FRACTION_PRIOR, UA_MAX_FRACTION};
use super::seed;
use super::{FitCurve, FitResult, Model, Param, Status};
use crate::pipeline::histogram::Histogram;

/// Fewest entries a spectrum needs before any fit is tried.
pub const DEFAULT_MIN_EVENTS: usize = 200;
/// A fitted SPE must improve 2·ln L over the pedestal-only model by at least this much.
const MIN_SIGNAL_DELTA: f64 = 25.0;
/// Fewest signal events (μ × entries) a gain is reported from.
const MIN_SIGNAL_EVENTS: f64 = 20.0;
/// The Poisson models' fit range starts this many pedestal widths below the pedestal:
/// below it a Gaussian pedestal holds 3e-5 of its events, while a dark pulse in the
/// baseline samples puts single events anywhere down there — outliers no photoelectron
/// model describes (the compound model, whose SPE is truncated at zero charge, would pay
/// ~100 in 2·ln L for a handful of them and bend every parameter to reach them).
pub const PEDESTAL_REACH: f64 = 4.0;
/// Q1 must stand this many pedestal widths clear of the pedestal.
const MIN_Q1_OVER_SIGMA0: f64 = 2.5;

/// Starting values of the under-amplified component (fraction, mean and width in units
/// of Q1), each tried from the poisson-gauss minimum; the lowest −ln L wins.
const UA_STARTS: [[f64; 3]; 2] = [[0.08, 0.3, 10.0], [0.2, 0.35, 2.5]];

/// Spectra with fewer entries than this, and fewer than [`MIN_BEYOND_PEDESTAL`] of them
/// more than 3σ0 above the pedestal, are `insufficient_data` (nearly empty).
const NEARLY_EMPTY_ENTRIES: f64 = 1000.0;
const MIN_BEYOND_PEDESTAL: f64 = 50.0;

/// How much the under-amplified component must improve 2·ln L over poisson-gauss to be
/// kept: Akaike's penalty for its three parameters, the same that weighs the answers in
/// Q1's error (`widen_by_the_others`), so the component is kept where it outweighs
/// poisson-gauss. With 9 (~1 % false positives) poisson-gauss was kept on too many spectra
/// that had under-amplified photoelectrons and read them low with errors too small
/// (50-seed grid: pull RMS in 0.8–1.2 in 40 of 48 cells with 9, 43 with 6; at occupancy
/// 0.03, |bias| < 1 % in 3 of 12 cells with 9, 9 with 6; BENCHMARKS.md "Accuracy").
const UA_MIN_GAIN: f64 = 6.0;

/// The under-amplified component of typical shape — mean 0.3 Q1 and Gamma shape 6
/// (0.1–0.55 Q1 within ±2σ) — tried with only its fraction free, for Akaike's penalty of
/// one parameter, where the spectrum holds too few under-amplified photoelectrons to pay
/// for the component's shape: at 4,000 events and occupancy 0.1 (~60 of them) the free
/// component seldom paid its three parameters, and poisson-gauss read Q1 −1.4 … −2.3 %
/// low at 10–15 % under-amplified. The real DT5742 spectra, where the free component is
/// well measured, put its mean at 0.15–0.32 Q1.
const UA_TYPICAL: [f64; 2] = [0.3, 6.0];
/// Akaike's penalty for the typical component's one free parameter.
const UA_TYPICAL_GAIN: f64 = 2.0;

/// Largest SPE resolution σ1/Q1 of the fully amplified peak: the cascade's relative
/// variance is ≈ 1/(δ1 − 1) for a first-dynode gain δ1, so σ1/Q1 ≤ 0.71 for any δ1 ≥ 3
/// (real tubes: 0.25–0.5). Beyond it a soft wall (see `Problem::penalty`).
const MAX_SPE_RESOLUTION: f64 = 0.7;

/// Index of κ, the pedestal's weight relative to the Poisson zero term.
const KAPPA: usize = 9;

/// How much a free pedestal weight must improve 2·ln L to be kept (times the fit's
/// χ²/ndf where that exceeds 1): one more parameter, far beyond chance; Poisson spectra
/// keep κ = 1.
const KAPPA_MIN_GAIN: f64 = 25.0;
/// The pedestal's own weight is only tried where the fit with the Poisson zero term has
/// χ²/ndf above this (the DT5742 spectra whose pedestal is not that term; a simulated
/// bench point, whose pedestal is, stays near 1).
const KAPPA_TRY_CHI2: f64 = 1.5;

/// A poisson-gauss minimum as the under-amplified model's with w = 0 and κ = 1: the shape
/// of the absent component (its mean and Gamma shape) at nominal values, without errors.
fn nested_without_ua(pg: Minimum) -> Minimum {
    let np_pg = pg.p.len();
    let np = np_pg + 4;
    let mut p = pg.p;
    p.extend([0.0, 0.3, 10.0, 1.0]);
    let cov = pg.cov.map(|c| {
        let mut full = vec![f64::NAN; np * np];
        for r in 0..np_pg {
            full[r * np..r * np + np_pg].copy_from_slice(&c[r * np_pg..(r + 1) * np_pg]);
        }
        full
    });
    Minimum {
        p,
        nll: pg.nll,
        cov,
        iterations: pg.iterations,
    }
}

/// Adds `weight · (Q1 − other_q1)²` to the variance of Q1 (parameter 3) of `m`: the
/// share of a competing model's answer in an uncertain choice between the two.
fn add_selection_variance(m: &mut Minimum, other_q1: f64, weight: f64) {
    let np = m.p.len();
    let extra = weight * (m.p[3] - other_q1).powi(2);
    if let Some(cov) = m.cov.as_mut()
        && extra.is_finite()
        && cov.len() == np * np
    {
        cov[3 * np + 3] += extra;
    }
}

/// The Akaike weights of candidate minima with their scores (likelihood χ² + 2 per free
/// parameter), and Q1's variance of the one `chosen` widened by the others' share: each
/// one's weight times its squared Q1 difference (Burnham & Anderson, Model Selection
/// and Multimodel Inference, 2002, §4.3.2).
fn widen_by_the_others(candidates: &mut [(Minimum, f64)], chosen: usize) -> Vec<f64> {
    let smin = candidates
        .iter()
        .map(|(_, s)| *s)
        .fold(f64::INFINITY, f64::min);
    let raw: Vec<f64> = candidates
        .iter()
        .map(|(_, s)| (-(s - smin) / 2.0).exp())
        .collect();
    let z: f64 = raw.iter().sum();
    let weights: Vec<f64> = raw.iter().map(|r| r / z).collect();
    let others: Vec<(f64, f64)> = candidates
        .iter()
        .zip(&weights)
        .enumerate()
        .filter(|(i, _)| *i != chosen)
        .map(|(_, ((m, _), w))| (m.p[3], *w))
        .collect();
    if let Some((m, _)) = candidates.get_mut(chosen) {
        for (q1, w) in others {
            add_selection_variance(m, q1, w);
        }
    }
    weights
}

/// The prior on the under-amplified fraction in −ln L, ½(w / [`UA_FRACTION_PRIOR`])², with
/// its derivative and second derivative in w (parameter 6); zero for the other models.
fn ua_fraction_prior(kind: Kind, p: &[f64]) -> (f64, f64, f64) {
    if kind != Kind::Underamp || p.len() < 7 {
        return (0.0, 0.0, 0.0);
    }
    let k = 1.0 / (UA_FRACTION_PRIOR * UA_FRACTION_PRIOR);
    (0.5 * k * p[6] * p[6], k * p[6], k)
}

/// The likelihood χ² (2·(−ln L)) at the minimum `m` of `kind`: its objective less the
/// prior on the under-amplified fraction (the wall on σ1 is zero wherever a fit ends).
fn likelihood_chi2(kind: Kind, m: &Minimum) -> f64 {
    2.0 * (m.nll - ua_fraction_prior(kind, &m.p).0)
}

/// The likelihood of one model on one histogram (bin units).
struct Problem<'a> {
    kind: Kind,
    counts: &'a [f64],
    /// Likelihood evaluations, for the benchmark notes.
    evals: &'a AtomicU64,
    /// Parameters held at their start values (Fisher scoring leaves them alone).
    fixed: &'a [usize],
    /// The SPE width σ1 may reach this many Q1 before the penalty wall.
    wall: f64,
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
            l += self.penalty(p, Some(g), None);
        } else {
            l += self.penalty(p, None, None);
        }
        if l.is_finite() { l } else { f64::MAX / 4.0 }
    }

    /// What the likelihood cannot express, added to −ln L with its gradient (and, with
    /// `hess`, its Hessian, row stride np) in the natural parameters: the prior on the
    /// under-amplified fraction ([`ua_fraction_prior`]), and one physical constraint: the
    /// fully amplified SPE peak of a dynode PMT is no wider than
    /// [`MAX_SPE_RESOLUTION`]·Q1 (a wide Gaussian at the pedestal would otherwise describe
    /// a non-Gaussian pedestal's tails, or a skewed SPE bump pull Q1 far below its peak):
    /// a quadratic wall beyond σ1 = wall·Q1, zero inside.
    fn penalty(
        &self,
        p: &[f64],
        mut grad: Option<&mut [f64]>,
        mut hess: Option<&mut [f64]>,
    ) -> f64 {
        if !matches!(
            self.kind,
            Kind::PoissonGauss | Kind::Bellamy | Kind::Underamp
        ) {
            return 0.0;
        }
        let np = p.len();
        let (prior, d1, d2) = ua_fraction_prior(self.kind, p);
        if d2 > 0.0 {
            if let Some(g) = grad.as_deref_mut() {
                g[6] += d1;
            }
            if let Some(h) = hess.as_deref_mut() {
                h[6 * np + 6] += d2;
            }
        }
        let (q1, s1) = (p[3], p[4]);
        let t = s1 / (q1 * self.wall) - 1.0;
        if t.is_nan() || t <= 0.0 {
            return prior;
        }
        let w = 0.1 * self.scale + 1000.0;
        // In terms of q = wall·Q1: ∂/∂Q1 = wall·∂/∂q.
        let k = self.wall;
        let q = q1 * k;
        if let Some(g) = grad {
            g[4] += 2.0 * w * t / q;
            g[3] -= k * 2.0 * w * t * s1 / (q * q);
        }
        if let Some(h) = hess {
            h[4 * np + 4] += 2.0 * w / (q * q);
            let a = s1 / (q * q);
            h[3 * np + 3] += k * k * 2.0 * w * (a * a + 2.0 * t * s1 / (q * q * q));
            let c = k * 2.0 * w * (-a / q - t / (q * q));
            h[3 * np + 4] += c;
            h[4 * np + 3] += c;
        }
        w * t * t + prior
    }

    fn nll_theta(&self, theta: &[f64]) -> f64 {
        self.nll(&self.params(theta), None)
    }

    /// −ln L, gradient and Fisher information with respect to the natural parameters.
    fn nll_fisher_natural(&self, p: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        self.fisher_with(p, false)
    }

    /// −ln L at internal parameters `theta`, its gradient and the Fisher information
    /// Σ ∂ν ∂νᵀ / ν (the expected Hessian of a Poisson likelihood), both with respect to
    /// `theta` (the transforms' second derivatives are left out: a Gauss–Newton step).
    fn nll_fisher(&self, theta: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        self.fisher_with(theta, true)
    }

    /// [`Self::nll_fisher`] at internal (`internal`) or natural parameters `x`.
    fn fisher_with(&self, x: &[f64], internal: bool) -> (f64, Vec<f64>, Vec<f64>) {
        self.evals.fetch_add(1, Ordering::Relaxed);
        let p = if internal { self.params(x) } else { x.to_vec() };
        let np = p.len();
        let bins = self.counts.len();
        let mut nu = vec![0.0; bins];
        let mut jac = vec![0.0; bins * np];
        self.kind.eval(&p, &mut nu, Some(&mut jac));
        let d: Vec<f64> = if internal {
            self.kind
                .transforms()
                .iter()
                .zip(&p)
                .map(|(t, &v)| t.derivative(v))
                .collect()
        } else {
            vec![1.0; np]
        };
        let mut l = 0.0;
        let mut g = vec![0.0; np];
        let mut f = vec![0.0; np * np];
        let mut row = vec![0.0; np];
        for i in 0..bins {
            let n = self.counts[i];
            let v = nu[i].max(1e-300);
            l += v - n;
            if n > 0.0 {
                l += n * (n / v).ln();
            }
            if nu[i] < 1e-12 {
                continue;
            }
            let r = 1.0 - n / v;
            for j in 0..np {
                row[j] = jac[i * np + j] * d[j];
                g[j] += r * row[j];
            }
            let inv = 1.0 / v;
            for a in 0..np {
                let ra = row[a] * inv;
                if ra == 0.0 {
                    continue;
                }
                for b in a..np {
                    f[a * np + b] += ra * row[b];
                }
            }
        }
        for a in 0..np {
            for b in 0..a {
                f[a * np + b] = f[b * np + a];
            }
        }
        let (mut gp, mut hp) = (vec![0.0; np], vec![0.0; np * np]);
        l += self.penalty(&p, Some(&mut gp), Some(&mut hp));
        for a in 0..np {
            g[a] += gp[a] * d[a];
            for b in 0..np {
                f[a * np + b] += hp[a * np + b] * d[a] * d[b];
            }
        }
        if internal {
            // A fixed parameter: no gradient, and a unit row in F, so its step is zero.
            for &j in self.fixed {
                g[j] = 0.0;
                for k in 0..np {
                    f[j * np + k] = 0.0;
                    f[k * np + j] = 0.0;
                }
                f[j * np + j] = 1.0;
            }
        }
        (if l.is_finite() { l } else { f64::MAX / 4.0 }, g, f)
    }
}

/// Minimises by Fisher scoring with Levenberg–Marquardt damping, in internal parameters:
/// each step solves (F + λ·diag F) δ = −∇ with the Fisher information F, which a binned
/// Poisson likelihood gives for free from the model's Jacobian. Converges in tens of
/// evaluations where a quasi-Newton method needs hundreds on the nine-parameter
/// under-amplified model. Returns the end point, its −ln L and the iterations.
fn fisher_scoring(problem: &Problem, mut theta: Vec<f64>) -> (Vec<f64>, f64, u64) {
    let np = theta.len();
    let mut lambda = 1e-3;
    let (mut nll, mut g, mut f) = problem.nll_fisher(&theta);
    let mut iterations = 0;
    for _ in 0..200 {
        iterations += 1;
        let mut step = None;
        while lambda < 1e12 {
            let mut a = f.clone();
            for j in 0..np {
                a[j * np + j] += lambda * f[j * np + j].max(1e-12) + 1e-12;
            }
            let Some(chol) = nalgebra::DMatrix::from_row_slice(np, np, &a).cholesky() else {
                lambda *= 10.0;
                continue;
            };
            let delta = chol.solve(&nalgebra::DVector::from_iterator(np, g.iter().map(|x| -x)));
            let trial: Vec<f64> = theta.iter().zip(delta.iter()).map(|(t, d)| t + d).collect();
            let c = problem.nll_theta(&trial);
            if c.is_finite() && c <= nll {
                step = Some((trial, c, delta.amax()));
                break;
            }
            lambda *= 10.0;
        }
        let Some((trial, c, size)) = step else {
            break;
        };
        let gain = nll - c;
        theta = trial;
        lambda = (lambda * 0.1).max(1e-9);
        (nll, g, f) = problem.nll_fisher(&theta);
        if gain < 1e-9 * nll.abs().max(1.0) && size < 1e-6 {
            break;
        }
        if gain < 1e-10 {
            break;
        }
    }
    (theta, nll, iterations)
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
    minimize_fixed(kind, counts, p0, &[])
}

/// [`minimize`] with the parameters `fixed` held at their start values (only for the
/// models minimised by Fisher scoring alone: the under-amplified one).
fn minimize_fixed(
    kind: Kind,
    counts: &[f64],
    p0: &[f64],
    fixed: &[usize],
) -> Result<Minimum, String> {
    let scale = counts.iter().sum::<f64>().max(1.0);
    let evals = AtomicU64::new(0);
    let t0 = std::time::Instant::now();
    let problem = || Problem {
        kind,
        counts,
        evals: &evals,
        fixed,
        wall: MAX_SPE_RESOLUTION,
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
    if matches!(kind, Kind::Underamp | Kind::PoissonGauss) {
        let (t, c, it) = fisher_scoring(&problem(), theta.clone());
        iterations += it;
        if c < cost {
            theta = t;
            cost = c;
        }
    }
    // L-BFGS: the minimiser of the other models, and a check after Fisher scoring for
    // poisson-gauss (it stops at once when the gradient is already flat).
    let rounds = match kind {
        Kind::Underamp => 0,
        Kind::PoissonGauss => 1,
        _ => 4,
    };
    for _round in 0..rounds {
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(1e-9)
            .and_then(|s| s.with_tolerance_cost(1e-9 / scale))
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
    let cov = if kind == Kind::Underamp {
        // The under-amplified model's SPE derivatives are numerical: a Hessian by
        // differences of them would be noise. Its Fisher information is exact (from the
        // Jacobian) and is the Hessian's expectation at the minimum.
        let (_, _, f) = problem.nll_fisher_natural(&p);
        super::covariance::from_hessian(&f, &p, kind, fixed)
    } else {
        covariance(&p, problem.kind, |x, g| problem.nll(x, g))
    };
    tracing::debug!(
        ?kind,
        iterations,
        evaluations = evals.load(Ordering::Relaxed),
        ms = t0.elapsed().as_secs_f64() * 1e3,
        nll,
        "minimised"
    );
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
        Model::PoissonGaussUa => Kind::Underamp,
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
    // A nearly empty spectrum (a broken acquisition: a few hundred entries, almost all in
    // the pedestal) is reported as such, not fitted into a number.
    if !matches!(kind, Kind::Seed { .. }) && total < NEARLY_EMPTY_ENTRIES {
        let (q0, s0) = (p0[1] + first as f64, p0[2]);
        let beyond: f64 = h
            .counts
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as f64 + 0.5) > q0 + 3.0 * s0)
            .map(|(_, c)| c)
            .sum();
        if beyond < MIN_BEYOND_PEDESTAL {
            return FitResult::without_fit(
                Status::InsufficientData,
                model,
                h,
                format!(
                    "nearly empty: {total:.0} entries, {beyond:.0} of them beyond the pedestal \
                     (at least {MIN_BEYOND_PEDESTAL:.0} are needed for an SPE fit)"
                ),
            );
        }
    }
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
        // From the SPE bump seen in the data, where the moment start misses it: without
        // it poisson-gauss ran away to μ ≈ 30 with Q1 beyond the histogram at μ 0.1.
        if let Some((q1, mu)) = seed::peak_start(counts, p0[1], p0[2], p0[3]) {
            let mut p = p0.clone();
            p[3] = q1;
            p[4] = 0.3 * q1;
            p[5] = mu;
            starts.push(p);
        }
    }
    // The under-amplified model starts from the poisson-gauss minimum (which it nests
    // at w = 0): first the plain model from its starts, then the full one from there.
    let first_kind = if kind == Kind::Underamp {
        Kind::PoissonGauss
    } else {
        kind
    };
    let mut best: Option<Minimum> = None;
    let mut last_err = String::new();
    for p in &starts {
        match minimize(first_kind, counts, p) {
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
    let mut notes = Vec::new();
    if kind == Kind::Underamp {
        let pg = best.p.clone();
        let ua = free_component(counts, &pg);
        // Akaike compares the likelihoods: the prior on the fraction shapes the
        // component's estimate, it is not evidence against the component (counted here
        // it kept poisson-gauss on a third of the 4,000-event 15 % μ 3 points, which read
        // Q1 ~7 % low each).
        let chi2_pg = 2.0 * best.nll;
        let gain = ua.as_ref().map(|u| chi2_pg - likelihood_chi2(kind, u));
        let free_pays = gain.is_some_and(|g| g >= UA_MIN_GAIN);
        // Where the free component does not pay, the same with its shape held at the
        // typical one and only its fraction free (`UA_TYPICAL`).
        let ua_typical = if free_pays {
            None
        } else {
            let mut typical = pg.clone();
            typical.extend([0.1, UA_TYPICAL[0], UA_TYPICAL[1], 1.0]);
            minimize_fixed(kind, counts, &typical, &[7, 8, KAPPA]).ok()
        };
        let gain_typical = ua_typical
            .as_ref()
            .map(|u| chi2_pg - likelihood_chi2(kind, u));
        let q1_pg = pg[3];
        // Whether the spectrum holds an under-amplified component, and of what shape, is
        // itself uncertain where it only just pays for its parameters, and that choice
        // moves Q1. The free component is kept where it pays its three parameters (with
        // none in the data it would still take a little of the Gaussian's low side — its
        // fraction cannot go below 0 — and push Q1 up); otherwise the typical one where
        // it pays its one; otherwise none. The typical shape is only a stand-in where the
        // spectrum cannot give one: kept where the free one pays too (by the lower
        // Akaike score, tried), it read the 20,000-event 10–15 % cells +0.5 % higher with
        // pull RMS up to 1.45 (the held shape's uncertainty is in no error). The answers
        // the choice weighed share Q1's variance by their Akaike weights.
        let typical_pays = gain_typical.is_some_and(|g| g >= UA_TYPICAL_GAIN);
        // Akaike scores: the likelihood χ² (poisson-gauss's less the gain) plus the penalty.
        let mut candidates = vec![(nested_without_ua(best), chi2_pg)];
        let mut push = |m: Option<Minimum>, g: Option<f64>, penalty: f64| {
            m.zip(g).map(|(m, g)| {
                candidates.push((m, chi2_pg - g + penalty));
                candidates.len() - 1
            })
        };
        let free_at = push(ua, gain, UA_MIN_GAIN);
        let typical_at = push(ua_typical, gain_typical, UA_TYPICAL_GAIN);
        let chosen = if free_pays {
            free_at
        } else if typical_pays {
            typical_at
        } else {
            None
        }
        .unwrap_or(0);
        let weights = widen_by_the_others(&mut candidates, chosen);
        let share = 1.0 - weights[chosen];
        best = candidates.swap_remove(chosen).0;
        let g = |x: Option<f64>| x.unwrap_or(f64::NAN);
        if Some(chosen) == free_at {
            notes.push(format!(
                "under-amplified component: {:.1} % of the photoelectrons, mean {:.2} Q1, \
                 Gamma shape {:.1} (improves 2·ln L by {:.1}); poisson-gauss alone gives Q1 \
                 {:+.2} %, the other answers weighted {share:.3} in Q1's error",
                best.p[6] * 100.0,
                best.p[7],
                best.p[8],
                g(gain),
                (q1_pg / best.p[3] - 1.0) * 100.0,
            ));
        } else if Some(chosen) == typical_at {
            notes.push(format!(
                "under-amplified component of typical shape (mean {} Q1, Gamma shape {}; too \
                 few under-amplified photoelectrons to fit its shape): {:.1} % of the \
                 photoelectrons (improves 2·ln L by {:.1}; with a shape of its own by {:.1}); \
                 poisson-gauss alone gives Q1 {:+.2} %, the other answers weighted {share:.3} \
                 in Q1's error",
                UA_TYPICAL[0],
                UA_TYPICAL[1],
                best.p[6] * 100.0,
                g(gain_typical),
                g(gain),
                (q1_pg / best.p[3] - 1.0) * 100.0,
            ));
        } else {
            notes.push(format!(
                "no under-amplified component found (it improves 2·ln L by {:.1} < \
                 {UA_MIN_GAIN}, of typical shape by {:.1} < {UA_TYPICAL_GAIN}): fitted \
                 without one",
                g(gain),
                g(gain_typical)
            ));
        }
        // The threshold scales with the tied fit's own lack of fit (χ²/ndf, like the PDG
        // scale factor): a spectrum the model describes only to a few per cent (500k
        // events of a real LED run) improves by tens for any extra freedom; a pedestal
        // that is not the Poisson zero term improves it by thousands.
        let ndf = match (
            counts.iter().position(|&c| c > 0.0),
            counts.iter().rposition(|&c| c > 0.0),
        ) {
            (Some(a), Some(b)) => (b + 1 - a).saturating_sub(best.p.len()).max(1),
            _ => 1,
        };
        let tied_chi2_ndf = likelihood_chi2(kind, &best) / ndf as f64;
        // The pedestal's own weight (κ): from the fit so far, and from the SPE bump seen
        // in the data with a pedestal as large as it looks (what a spectrum whose pedestal
        // is not the Poisson zero term needs: the Poisson fits above then read the bump
        // as several photoelectrons).
        // Tried only where the tied fit leaves a lack of fit that a pedestal of its own
        // could explain (χ²/ndf > KAPPA_TRY_CHI2): on a spectrum the tied model already
        // describes, five more compound fits would cost most of a point's time for nothing.
        let free = if tied_chi2_ndf > KAPPA_TRY_CHI2 {
            let mut kstarts = Vec::new();
            let mut from_best = best.p.clone();
            from_best[6] = from_best[6].max(0.05);
            kstarts.push(from_best);
            let mut from_pg = pg.clone();
            from_pg.extend([0.1, 0.3, 3.0, 1.0]);
            kstarts.push(from_pg);
            let (q0, s0) = (p0[1], p0[2]);
            if let Some(peak) = seed::spe_peak(&h.counts, q0 + first as f64, s0) {
                let q1 = peak - first as f64 - q0;
                let ped_frac = (-p0[5]).exp();
                for (mu, a) in [(0.2f64, 3.0), (0.6, 3.0), (0.3, 20.0)] {
                    let kappa = (ped_frac / (-mu).exp()).max(0.05);
                    let norm = total / (1.0 + (kappa - 1.0) * (-mu).exp());
                    kstarts.push(vec![norm, q0, s0, q1, 0.3 * q1, mu, 0.1, 0.3, a, kappa]);
                }
            }
            let mut free: Option<Minimum> = None;
            for st in &kstarts {
                if let Ok(m) = minimize(kind, counts, st)
                    && free.as_ref().is_none_or(|b| m.nll < b.nll)
                {
                    free = Some(m);
                }
            }
            free
        } else {
            None
        };
        let kappa_min = KAPPA_MIN_GAIN * tied_chi2_ndf.max(1.0);
        if let Some(f) = free {
            let g = 2.0 * (best.nll - f.nll);
            if g >= kappa_min {
                notes.push(format!(
                    "the pedestal holds {:.2} × the events a Poisson occupancy of {:.3} gives \
                     it (improves 2·ln L by {g:.0}): fitted with its own weight",
                    f.p[KAPPA], f.p[5]
                ));
                best = f;
            }
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
    let mut r = assemble(
        kind,
        model,
        h,
        (first, span),
        best,
        pedestal_only.map(|m| m.nll),
    );
    r.excluded = excluded.round() as u64;
    r.notes.extend(notes);
    r
}

/// The under-amplified model (κ = 1) with its component free, from the poisson-gauss
/// minimum `pg` and the staged starts around it; the deepest minimum reached, or none
/// where every start fails (poisson-gauss then stands).
fn free_component(counts: &[f64], pg: &[f64]) -> Option<Minimum> {
    let kind = Kind::Underamp;
    let mut ua: Option<Minimum> = None;
    // From the poisson-gauss minimum, and from a fully amplified peak above and
    // narrower than it (poisson-gauss has pulled Q1 down and widened σ1 to cover the
    // under-amplified photoelectrons).
    let mut ua_starts: Vec<Vec<f64>> = Vec::new();
    for extra in UA_STARTS {
        let mut p1 = pg.to_vec();
        p1.extend(extra);
        p1.push(1.0);
        ua_starts.push(p1);
    }
    let mut shifted = pg.to_vec();
    shifted[3] *= 1.08;
    shifted[4] *= 0.8;
    shifted.extend([0.12, 0.3, 20.0, 1.0]);
    ua_starts.push(shifted);
    // A broad low-side shoulder under a narrower peak further up (the UZH LED-on
    // spectrum's deepest minimum, 2·ln L 15 below the nearer one).
    let mut shoulder = pg.to_vec();
    shoulder[3] *= 1.1;
    shoulder[4] *= 0.8;
    shoulder.extend([0.25, 0.55, 2.5, 1.0]);
    ua_starts.push(shoulder);
    for p1 in ua_starts {
        // A start that fails leaves the poisson-gauss minimum to stand.
        if let Ok(m) = minimize_fixed(kind, counts, &p1, &[KAPPA])
            && ua.as_ref().is_none_or(|b| m.nll < b.nll)
        {
            ua = Some(m);
        }
    }
    ua
}

/// Turns a minimum (bin units) into a [`FitResult`] in the histogram's charge unit.
fn assemble(
    kind: Kind,
    model: Model,
    h: &Histogram,
    (first, span): (usize, usize),
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
    let chi2 = likelihood_chi2(kind, &m);
    // Only parameters with an error take a degree of freedom. Held ones do not: where
    // the under-amplified model is poisson-gauss (no component), its three component
    // parameters and the pedestal weight are held, and counting them took 4 from ndf and
    // from ⟨χ²⟩ (χ²/ndf read ~3 % high on a 50,000-event point). Nor does one at a bound
    // where the likelihood no longer sees it (the Gamma shape; see `from_hessian`).
    let fitted = m.cov.as_ref().map_or(np, |c| {
        (0..np)
            .filter(|&j| c.get(j * np + j).is_some_and(|v| v.is_finite() && *v > 0.0))
            .count()
    });
    let ndf = span.saturating_sub(fitted) as u32;
    let mut notes = Vec::new();
    if kind == Kind::Underamp && m.p[6] > UA_MAX_FRACTION * (1.0 - 1e-3) {
        notes.push(format!(
            "the under-amplified fraction is at its limit {UA_MAX_FRACTION}: the spectrum \
             asks for more low-charge events than photoelectrons can physically give (a \
             background, or a pedestal that is not Gaussian); Q1 is from the fully amplified \
             peak with that limit"
        ));
    }
    if matches!(kind, Kind::PoissonGauss | Kind::Bellamy | Kind::Underamp)
        && m.p[4] >= 0.98 * MAX_SPE_RESOLUTION * m.p[3]
    {
        notes.push(format!(
            "the SPE peak is as broad as a dynode PMT's can be (σ1/Q1 = {:.2}, at most \
             {MAX_SPE_RESOLUTION}): the bump is not a Gaussian peak, Q1 is its centre at that \
             width",
            m.p[4] / m.p[3]
        ));
    }
    // Errors from the Hessian assume the model describes the spectrum; where χ² says it
    // does not, they are scaled up by √(χ²/⟨χ²⟩) (the PDG's prescription). ⟨χ²⟩ is what
    // the likelihood-ratio χ² of a Poisson histogram averages when the model is right:
    // ndf for well-filled bins, but 1.05–1.15 per bin of 0.5–5 expected entries (a
    // spectrum's sparse tails), which √(χ²/ndf) read as a lack of fit and so inflated the
    // errors of exact models by ~4 % (50,000-event Gaussian SPE: pull RMS 0.78).
    let mut nu = vec![0.0; h.counts.len()];
    kind.eval(&m.p, &mut nu, None);
    let chi2_expected = nu.get(first..).map_or(0.0, |t| {
        t.iter().map(|&v| expected_deviance(v)).sum::<f64>()
    }) - fitted as f64;
    let error_scale = if chi2_expected > 0.0 && ndf > 0 {
        (chi2 / chi2_expected).sqrt().max(1.0)
    } else {
        1.0
    };
    let mut params = BTreeMap::new();
    for (j, name) in names.iter().enumerate() {
        let (scale, offset) = unit_map(name);
        let err = m
            .cov
            .as_ref()
            .map(|c| c[j * np + j])
            .filter(|v| *v >= 0.0)
            .map(|v| v.sqrt() * scale.abs() * error_scale);
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
    if kind == Kind::Underamp {
        // The mean SPE charge, under-amplified part included: (1 − w)·⟨N(Q1, σ1) truncated
        // at 0⟩ + w·r·Q1, with its error from the covariance (numerical gradient).
        let mean_of = |p: &[f64]| {
            let (q1, s1, wf, r) = (p[3], p[4], p[6], p[7]);
            let a = q1 / s1;
            let pdf = (-0.5 * a * a).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let cdf = super::normal_cdf(a);
            (1.0 - wf) * (q1 + s1 * pdf / cdf.max(1e-300)) + wf * r * q1
        };
        let value = mean_of(&m.p);
        let grad: Vec<f64> = (0..np)
            .map(|j| {
                let h = 1e-6 * m.p[j].abs().max(1e-6);
                let (mut a, mut b) = (m.p.clone(), m.p.clone());
                a[j] += h;
                b[j] -= h;
                (mean_of(&a) - mean_of(&b)) / (2.0 * h)
            })
            .collect();
        let var = m.cov.as_ref().map(|c| {
            let mut v = 0.0;
            for a in 0..np {
                for b in 0..np {
                    let cab = c[a * np + b];
                    if grad[a] != 0.0 && grad[b] != 0.0 && cab.is_finite() {
                        v += grad[a] * grad[b] * cab;
                    }
                }
            }
            v
        });
        params.insert(
            "mean_spe".into(),
            Param {
                value: value * w,
                error: var
                    .filter(|v| *v >= 0.0)
                    .map(|v| v.sqrt() * w * error_scale),
            },
        );
    }

    let curve = curve(kind, h, &m.p);
    let mut result = FitResult {
        status: Status::Ok,
        model,
        params,
        chi2: Some(chi2),
        ndf: Some(ndf),
        chi2_expected: Some(chi2_expected),
        message: None,
        range: [h.lo, h.hi()],
        iterations: m.iterations,
        excluded: 0,
        error_scale,
        notes,
        curve: Some(curve),
    };
    let fail = |r: &mut FitResult, s: Status, msg: String| {
        r.status = s;
        r.message = Some(msg);
    };
    if matches!(kind, Kind::PoissonGauss | Kind::Bellamy | Kind::Underamp) {
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
        } else if let Some(d) = delta
            && d < MIN_SIGNAL_DELTA
        {
            fail(
                &mut result,
                Status::NoSignal,
                format!("an SPE component improves the fit by only Δχ² = {d:.1}: pedestal only"),
            );
        } else if q1 < MIN_Q1_OVER_SIGMA0 * s0 {
            // There is a signal (the pedestal alone does not describe the spectrum), but
            // its SPE peak lies within the pedestal's noise: no gain can be read off.
            fail(
                &mut result,
                Status::Unresolved,
                format!(
                    "pedestal and SPE overlap: the fitted SPE lies {:.2} pedestal widths \
                     (σ₀ = {:.3e} {}) from the pedestal, at least {MIN_Q1_OVER_SIGMA0} are \
                     needed to separate them{}",
                    q1 / s0,
                    s0 * w,
                    h.unit,
                    delta.map_or(String::new(), |d| format!(
                        "; the spectrum is not pedestal only (Δχ² = {d:.0})"
                    ))
                ),
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

/// The mean of one bin's likelihood-ratio χ² term 2·(n·ln(n/ν) − (n − ν)) for n Poisson
/// with mean ν: → 1 for large ν (Wilks), but 1.15 at ν = 1 and → 0 for ν → 0.
fn expected_deviance(nu: f64) -> f64 {
    if nu.is_nan() || nu <= 0.0 {
        return 0.0;
    }
    if nu > 50.0 {
        // Its asymptotic series (exact sum: 1.0033 at ν = 50).
        return 1.0 + 1.0 / (6.0 * nu) + 1.0 / (6.0 * nu * nu);
    }
    let top = (nu + 12.0 * nu.sqrt() + 25.0).ceil() as u32;
    let mut pmf = (-nu).exp();
    // n = 0 contributes 2ν.
    let mut sum = pmf * nu;
    for n in 1..=top {
        let k = f64::from(n);
        pmf *= nu / k;
        sum += pmf * (k * (k / nu).ln() - (k - nu));
    }
    2.0 * sum
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

    #[test]
    fn selection_variance_adds_the_weighted_squared_difference_to_q1_only() {
        let np = 6;
        let mut m = Minimum {
            p: vec![1000.0, 10.0, 2.0, 50.0, 15.0, 1.0],
            nll: 0.0,
            cov: Some(vec![0.0; np * np]),
            iterations: 1,
        };
        m.cov.as_mut().expect("cov")[3 * np + 3] = 1.0;
        add_selection_variance(&mut m, 48.0, 0.25);
        let cov = m.cov.expect("cov");
        assert_eq!(cov[3 * np + 3], 1.0 + 0.25 * 4.0);
        assert_eq!(cov.iter().filter(|&&c| c != 0.0).count(), 1);
        // A non-finite competitor leaves the variance alone.
        let mut n = Minimum {
            p: vec![1.0; np],
            nll: 0.0,
            cov: Some(vec![0.0; np * np]),
            iterations: 1,
        };
        add_selection_variance(&mut n, f64::NAN, 0.5);
        assert!(n.cov.expect("cov").iter().all(|&c| c == 0.0));
    }

    #[test]
    fn the_choice_widens_q1_by_the_others_akaike_weights() {
        let np = 6;
        let at = |q1: f64| {
            let mut cov = vec![0.0; np * np];
            cov[3 * np + 3] = 1.0;
            Minimum {
                p: vec![1000.0, 10.0, 2.0, q1, 15.0, 1.0],
                nll: 0.0,
                cov: Some(cov),
                iterations: 1,
            }
        };
        // Scores 10, 8 and 20: weights ∝ e^−1, 1, e^−6; the third is the one chosen.
        let mut c = vec![(at(48.0), 10.0), (at(50.0), 8.0), (at(60.0), 20.0)];
        let w = widen_by_the_others(&mut c, 2);
        let z = (-1.0f64).exp() + 1.0 + (-6.0f64).exp();
        assert!((w[0] - (-1.0f64).exp() / z).abs() < 1e-12);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let var = c[2].0.cov.as_ref().expect("cov")[3 * np + 3];
        let want = 1.0 + w[0] * 144.0 + w[1] * 100.0;
        assert!((var - want).abs() < 1e-12, "{var} vs {want}");
        // The others are left as they were.
        assert_eq!(c[0].0.cov.as_ref().expect("cov")[3 * np + 3], 1.0);
        assert_eq!(c[1].0.cov.as_ref().expect("cov")[3 * np + 3], 1.0);
    }

    /// A Poisson draw (ChaCha8, `seed`) of expected counts `nu` on unit-width bins from 0.
    fn poisson_draw(nu: &[f64], seed: u64) -> Histogram {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Poisson};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Histogram {
            lo: 0.0,
            width: 1.0,
            counts: nu
                .iter()
                .map(|&m| Poisson::new(m.max(1e-12)).map_or(0.0, |d| d.sample(&mut rng)))
                .collect(),
            unit: "pC".into(),
            outside: 0,
        }
    }

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

    /// The mean of a bin's likelihood-ratio term, against a direct sum (NumPy/SciPy values:
    /// 0.474 at ν 0.1, 1.007 at 0.5, 1.147 at 1, 1.095 at 3, 1.019 at 10) and across the
    /// switch to the asymptotic series at ν = 50.
    #[test]
    fn expected_deviance_of_a_poisson_bin() {
        for (nu, want) in [
            (0.1, 0.474),
            (0.5, 1.007),
            (1.0, 1.147),
            (3.0, 1.095),
            (10.0, 1.019),
        ] {
            let got = expected_deviance(nu);
            assert!((got - want).abs() < 1e-3, "ν {nu}: {got} vs {want}");
        }
        assert_eq!(expected_deviance(0.0), 0.0);
        assert_eq!(expected_deviance(f64::NAN), 0.0);
        let (below, above) = (expected_deviance(50.0), expected_deviance(50.0 + 1e-9));
        assert!((below - above).abs() < 1e-4, "{below} vs {above}");
    }

    /// An exact model on spectra with sparse tails (poisson-gauss, 50,000 events, μ 1, a
    /// 600-bin range): over 12 Poisson draws χ²/ndf averages 0.95 (the nearly empty bins
    /// before the last filled one add less than 1 each, those of 0.5–5 entries more), so
    /// ndf is no yardstick; χ²/⟨χ²⟩ averages 1.005, and the errors are scaled by 1 % on
    /// average (by chance, as any scale factor ≥ 1 does).
    #[test]
    fn an_exact_model_on_a_sparse_spectrum_keeps_its_hessian_errors() {
        let truth = [5e4, 40.0, 4.0, 60.0, 18.0, 1.0];
        let mut nu = vec![0.0; 600];
        Kind::PoissonGauss.eval(&truth, &mut nu, None);
        let (mut by_ndf, mut by_expected, mut scale) = (0.0, 0.0, 0.0);
        let draws = 12;
        for seed in 0..draws {
            let r = fit_histogram(&poisson_draw(&nu, seed), Model::PoissonGauss);
            assert_eq!(r.status, Status::Ok, "seed {seed}: {:?}", r.message);
            let (chi2, ndf) = (r.chi2.expect("χ²"), f64::from(r.ndf.expect("ndf")));
            let expected = r.chi2_expected.expect("⟨χ²⟩");
            by_ndf += chi2 / ndf / draws as f64;
            by_expected += chi2 / expected / draws as f64;
            scale += r.error_scale / draws as f64;
        }
        assert!((by_ndf - 1.0).abs() > 0.04, "χ²/ndf averages {by_ndf}");
        assert!(
            (by_expected - 1.0).abs() < 0.04,
            "χ²/⟨χ²⟩ averages {by_expected}"
        );
        assert!(scale < 1.03, "mean error scale {scale}");
    }

    /// The default model on a Gaussian SPE keeps no under-amplified component and holds
    /// its four extra parameters: ndf is the fitted bins less the six parameters that were
    /// fitted (those with an error), the same as poisson-gauss's, not less all ten.
    #[test]
    fn held_parameters_take_no_degree_of_freedom() {
        let mut nu = vec![0.0; 200];
        Kind::PoissonGauss.eval(&[2e4, 40.0, 4.0, 20.0, 6.0, 1.0], &mut nu, None);
        let h = poisson_draw(&nu, 3);
        let first = h
            .counts
            .iter()
            .position(|&c| c > 0.0)
            .expect("a filled bin");
        let last = h
            .counts
            .iter()
            .rposition(|&c| c > 0.0)
            .expect("a filled bin");
        let ua = fit_histogram(&h, Model::PoissonGaussUa);
        let pg = fit_histogram(&h, Model::PoissonGauss);
        assert_eq!(ua.status, Status::Ok, "{:?}", ua.message);
        assert_eq!(ua.params["ua_fraction"].value, 0.0, "{:?}", ua.notes);
        let fitted = ua.params.values().filter(|p| p.error.is_some()).count();
        // mean_spe is derived, not fitted.
        assert_eq!(fitted - 1, 6, "{:?}", ua.params);
        assert_eq!(ua.ndf, Some((last + 1 - first - 6) as u32));
        assert_eq!(ua.ndf, pg.ndf);
        let (a, b) = (
            ua.chi2_expected.expect("⟨χ²⟩"),
            pg.chi2_expected.expect("⟨χ²⟩"),
        );
        assert!((a - b).abs() < 0.5, "⟨χ²⟩ {a} vs {b}");
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

    /// The staged starts of the free component (`free_component`, from the poisson-gauss
    /// minimum) reach the under-amplified likelihood's deepest minimum on a noisy
    /// spectrum where its shape is weakly fixed (15 % of the photoelectrons in a narrow
    /// hump at 0.3 Q1, μ 3, 20,000 events, as in the accuracy grid's 15 % cells): no start
    /// of a 3 × 3 × 3 × 2 grid over fraction, mean, Gamma shape and Q1 ends more than 0.5
    /// below it (both seeds reach it exactly; from its second or its fourth start alone
    /// seed 3 stops 8.8 or 2.4 above, checked). A Q1 bias of such a cell is then the
    /// likelihood's, not a missed minimum's (BENCHMARKS.md "The 15 % cells"). (Seed 3's
    /// fit keeps the typical shape: the free one improves 2·ln L by less than its two
    /// more parameters cost.)
    #[test]
    fn underamplified_fit_reaches_the_deepest_minimum_of_a_noisy_spectrum() {
        // Bin units: pedestal at 10 (σ0 2.5), Q1 20 (σ1 6), μ 3; hump at 6 of shape 27.
        let truth = [2e4, 10.0, 2.5, 20.0, 6.0, 3.0, 0.15, 0.3, 27.0, 1.0];
        let mut nu = vec![0.0; 320];
        Kind::Underamp.eval(&truth, &mut nu, None);
        for seed in [3_u64, 11] {
            let h = poisson_draw(&nu, seed);
            let r = fit_histogram(&h, Model::PoissonGaussUa);
            assert_eq!(r.status, Status::Ok, "seed {seed}: {:?}", r.message);
            // The same bins for both: nothing trimmed below the pedestal.
            assert_eq!((r.excluded, r.range[0]), (0, 0.0), "seed {seed}");
            assert!(
                r.params["ua_fraction"].value > 0.0,
                "seed {seed}: {:?}",
                r.notes
            );
            let v = |k: &str| r.params[k].value;
            // The free component's stage, from the poisson-gauss minimum of the same bins;
            // its objective is −ln L with the prior on the fraction.
            let pg = fit_histogram(&h, Model::PoissonGauss);
            assert_eq!(pg.status, Status::Ok, "seed {seed}: {:?}", pg.message);
            let pg_p: Vec<f64> = ["norm", "q0", "sigma0", "q1", "sigma1", "mu"]
                .iter()
                .map(|k| pg.params[*k].value)
                .collect();
            let nll = free_component(&h.counts, &pg_p)
                .unwrap_or_else(|| panic!("seed {seed}: no free component"))
                .nll;
            let mut deepest = f64::INFINITY;
            for w in [0.05, 0.15, 0.3] {
                for mean in [0.15, 0.3, 0.5] {
                    for shape in [2.5, 8.0, 30.0] {
                        for f in [0.97, 1.03] {
                            let q1 = v("q1") * f;
                            let p = [
                                v("norm"),
                                v("q0"),
                                v("sigma0"),
                                q1,
                                0.3 * q1,
                                v("mu"),
                                w,
                                mean,
                                shape,
                                1.0,
                            ];
                            if let Ok(m) = minimize_fixed(Kind::Underamp, &h.counts, &p, &[KAPPA]) {
                                deepest = deepest.min(m.nll);
                            }
                        }
                    }
                }
            }
            assert!(deepest.is_finite(), "seed {seed}: no start converged");
            assert!(
                nll - deepest < 0.5,
                "seed {seed}: the fit stopped at −ln L {nll:.3}, a start reaches {deepest:.3}"
            );
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
