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
    invert(&h, np).or_else(|| {
        // A background weight w at its boundary (w → 0) leaves its slope α undetermined:
        // the Hessian is singular in (w, α) only. Then the other parameters' errors come
        // from the Hessian without those two, and w and α get no error.
        let iw = np.checked_sub(2)?;
        if kind.names().get(iw) != Some(&"w") || p[iw] >= 0.02 {
            return None;
        }
        let k = np - 2;
        let h = &h;
        let sub: Vec<f64> = (0..k)
            .flat_map(|r| (0..k).map(move |c| h[r * np + c]))
            .collect();
        let inv = invert(&sub, k)?;
        let mut cov = vec![f64::NAN; np * np];
        for r in 0..k {
            cov[r * np..r * np + k].copy_from_slice(&inv[r * k..(r + 1) * k]);
        }
        Some(cov)
    })
}

/// Inverse of a symmetric positive-definite `n × n` matrix (row-major), if it is one.
fn invert(h: &[f64], n: usize) -> Option<Vec<f64>> {
    let m = nalgebra::DMatrix::from_row_slice(n, n, h);
    let inv = m.cholesky()?.inverse();
    // Column-major storage of a symmetric matrix reads the same as row-major.
    let cov: Vec<f64> = inv.iter().copied().collect();
    cov.iter().all(|v| v.is_finite()).then_some(cov)
}
