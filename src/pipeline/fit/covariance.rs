//! The covariance of fitted parameters: the inverse Hessian of −ln L at the minimum, by
//! central differences of the analytic gradient, with the one degenerate case the models
//! have — a background weight at zero — handled.

use super::models::Kind;

/// Covariance of the natural parameters: the inverse of the Hessian of −ln L, by central
/// differences of the analytic gradient. `None` when the Hessian is not positive definite.
pub(super) fn covariance(
    p: &[f64],
    kind: Kind,
    nll: impl Fn(&[f64], Option<&mut [f64]>) -> f64,
) -> Option<Vec<f64>> {
    let np = p.len();
    let step = |j: usize| 1e-4 * p[j].abs().max(1e-2);
    let mut h = vec![0.0; np * np];
    let mut x = p.to_vec();
    let (mut ga, mut gb) = (vec![0.0; np], vec![0.0; np]);
    for k in 0..np {
        let hk = step(k);
        x[k] = p[k] + hk;
        nll(&x, Some(&mut ga));
        x[k] = p[k] - hk;
        nll(&x, Some(&mut gb));
        x[k] = p[k];
        for j in 0..np {
            h[j * np + k] = (ga[j] - gb[j]) / (2.0 * hk);
        }
    }
    for j in 0..np {
        for k in 0..j {
            let m = 0.5 * (h[j * np + k] + h[k * np + j]);
            h[j * np + k] = m;
            h[k * np + j] = m;
        }
    }
    from_hessian(&h, p, kind, &[])
}

/// The inverse of `h` (the Hessian, or the Fisher information, of −ln L in the natural
/// parameters `p`) without the parameters `fixed` (held in the fit: no error, no
/// correlation), with the degenerate cases handled (below); `None` when even then it is
/// not positive definite.
pub(super) fn from_hessian(h: &[f64], p: &[f64], kind: Kind, fixed: &[usize]) -> Option<Vec<f64>> {
    let np = p.len();
    reduced(h, np, fixed).or_else(|| {
        // A component weight at its boundary (w → 0) leaves that component's shape
        // undetermined: the Hessian is singular in the shape parameters only. Then the
        // other parameters' errors come from the Hessian without those, and the shape
        // gets no error. Bellamy: w and α; under-amplified: its mean and width (its
        // fraction keeps an error: at w = 0 the likelihood still varies with w).
        let mut drop: Vec<usize> = match kind {
            Kind::Bellamy if p[np - 2] < 0.02 => vec![np - 2, np - 1],
            Kind::Underamp if p[6] < 0.02 => vec![7, 8],
            _ => Vec::new(),
        };
        // A bounded parameter pinned at its limit (a fraction at its ceiling) is not at a
        // minimum in that direction: like MINUIT, treat it as fixed for the errors.
        for (j, t) in kind.transforms().iter().enumerate() {
            if let super::models::Transform::Between(lo, hi) = *t {
                let u = (p[j] - lo) / (hi - lo);
                if !(1e-3..=1.0 - 1e-3).contains(&u) && !drop.contains(&j) {
                    drop.push(j);
                }
            }
        }
        if drop.is_empty() {
            return None;
        }
        drop.extend(
            fixed
                .iter()
                .filter(|j| !drop.contains(j))
                .copied()
                .collect::<Vec<_>>(),
        );
        reduced(h, np, &drop)
    })
}

/// The inverse of `h` without the rows and columns `drop` (NaN there).
fn reduced(h: &[f64], np: usize, drop: &[usize]) -> Option<Vec<f64>> {
    if drop.is_empty() {
        return invert(h, np);
    }
    let keep: Vec<usize> = (0..np).filter(|j| !drop.contains(j)).collect();
    let k = keep.len();
    let sub: Vec<f64> = keep
        .iter()
        .flat_map(|&r| keep.iter().map(move |&c| (r, c)))
        .map(|(r, c)| h[r * np + c])
        .collect();
    let inv = invert(&sub, k)?;
    let mut cov = vec![f64::NAN; np * np];
    for (a, &r) in keep.iter().enumerate() {
        for (b, &c) in keep.iter().enumerate() {
            cov[r * np + c] = inv[a * k + b];
        }
    }
    Some(cov)
}

/// Inverse of a symmetric positive-definite `n × n` matrix (row-major), if it is one.
fn invert(h: &[f64], n: usize) -> Option<Vec<f64>> {
    let m = nalgebra::DMatrix::from_row_slice(n, n, h);
    let inv = m.cholesky()?.inverse();
    // Column-major storage of a symmetric matrix reads the same as row-major.
    let cov: Vec<f64> = inv.iter().copied().collect();
    cov.iter().all(|v| v.is_finite()).then_some(cov)
}
