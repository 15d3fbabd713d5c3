//! The compound-Poisson spectrum with an arbitrary single-photoelectron (SPE) shape,
//! evaluated through the discrete Fourier transform, in bin units.
//!
//! With N events, occupancy μ, SPE density f₁ and a Gaussian pedestal G(q0, σ0), the
//! spectrum is N · G ⊛ Σₙ P(n; μ) f₁^{⊛n}. In Fourier space the Poisson sum is closed:
//! ν̂ = N · exp(μ(φ − 1)) · Ĝ with φ = DFT(f₁) — the method of PMTCalib (Kalousis et
//! al.): no truncation of the photoelectron sum, any SPE shape, and the derivatives follow
//! exactly (∂ν̂/∂μ = (φ − 1)·ν̂, ∂ν̂/∂θ = N·μ·(∂φ/∂θ)·exp(μ(φ − 1))·Ĝ for an SPE parameter
//! θ, the pedestal's through its sampled derivatives). Everything is sampled on the bin
//! grid (point densities, like the other models), so the discrete convolution is exact.
//!
//! The SPE (the `poisson-gauss-ua` model): a fully amplified Gaussian N(Q1, σ1), truncated
//! at zero charge, of weight 1 − w, plus an under-amplified component of weight w — a Gamma
//! distribution with mean r·Q1 and shape a (a ≥ 2: a broad hump that vanishes at zero
//! charge; large a: a peak at r·Q1, as for photoelectrons that miss the first dynode;
//! the exponential of Kalousis / Bellamy, a = 1, is excluded, see `UA_SHAPE`). Its shape is
//! tied to Q1 and bounded (w ≤ 40 %, r ≤ 0.6), so it cannot turn into a second SPE peak or a
//! description of the pedestal — what breaks the gain-versus-HV power law on real spectra.
//!
//! An optional tenth parameter κ scales the zero-photoelectron (pedestal) term against its
//! Poisson expectation: ν̂ = N · Ĝ · (exp(μ(φ − 1)) + (κ − 1)·e^{−μ}). κ = 1 is the plain
//! compound Poisson; real spectra whose pedestal is not the Poisson zero term (events
//! triggered without light, a pedestal-suppressing trigger, a varying LED) need κ ≠ 1, and
//! otherwise pretend the multi-photoelectron tail that Poisson statistics would demand.

use std::cell::RefCell;
use std::f64::consts::PI;

/// Complex number (only what the transform needs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    #[inline]
    fn mul(self, o: C) -> C {
        C {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    #[inline]
    fn scale(self, k: f64) -> C {
        C {
            re: self.re * k,
            im: self.im * k,
        }
    }
}

thread_local! {
    /// Twiddle factors exp(−2πi k/M), k < M/2, of the last transform size used.
    static TWIDDLES: RefCell<(usize, Vec<C>)> = const { RefCell::new((0, Vec::new())) };
}

/// In-place radix-2 DFT (`inverse`: without the 1/M factor). `buf.len()` is a power of 2.
fn fft(buf: &mut [C], inverse: bool) {
    let n = buf.len();
    if n < 2 {
        return;
    }
    // Bit-reversal permutation.
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            buf.swap(i, j);
        }
    }
    TWIDDLES.with(|t| {
        let mut t = t.borrow_mut();
        if t.0 != n {
            let tw = (0..n / 2)
                .map(|k| {
                    let a = -2.0 * PI * k as f64 / n as f64;
                    C {
                        re: a.cos(),
                        im: a.sin(),
                    }
                })
                .collect();
            *t = (n, tw);
        }
        let tw = &t.1;
        let mut len = 2;
        while len <= n {
            let half = len / 2;
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..half {
                    let mut w = tw[k * step];
                    if inverse {
                        w.im = -w.im;
                    }
                    let a = buf[start + k];
                    let b = buf[start + k + half].mul(w);
                    buf[start + k] = C {
                        re: a.re + b.re,
                        im: a.im + b.im,
                    };
                    buf[start + k + half] = C {
                        re: a.re - b.re,
                        im: a.im - b.im,
                    };
                }
            }
            len <<= 1;
        }
    });
}

/// The transform length for `bins` histogram bins: room for the spectrum and as much
/// again, so that neither the pedestal's left tail nor the multi-photoelectron tail beyond
/// the histogram wraps around onto it.
fn size_for(bins: usize) -> usize {
    (2 * bins + 64).next_power_of_two()
}

/// The SPE on the transform grid, as the probability of each one-bin cell (cell m holds
/// charge offsets m ± 0.5 bins; indices ≥ M/2 are negative offsets, where the SPE is zero),
/// normalised to 1. `s` = [Q1, σ1, w, r, a].
fn spe(s: &[f64; 5], out: &mut [f64]) {
    let [q1, s1, w, r, a] = *s;
    let m = out.len();
    out.fill(0.0);
    let half = m / 2;
    // Fully amplified: N(Q1, σ1) truncated at 0, point density at the cell centres (the
    // cell at 0 holds only its positive half).
    let norm_g = 1.0 / (s1 * (2.0 * PI).sqrt() * super::normal_cdf(q1 / s1).max(1e-300));
    let hi = ((q1 + 12.0 * s1).ceil() as usize).min(half);
    for (i, o) in out.iter_mut().enumerate().take(hi) {
        let x = i as f64;
        let z = (x - q1) / s1;
        let d = norm_g * (-0.5 * z * z).exp();
        *o += (1.0 - w) * if i == 0 { 0.5 * d } else { d };
    }
    // Under-amplified: Gamma(a, θ) with mean r·Q1; the cell at 0 by its integral
    // (the density may not be finite there for a → 1).
    if w > 0.0 {
        let mean = r * q1;
        let theta = mean / a;
        let ln_norm = -libm::lgamma(a) - a * theta.ln();
        let hi = ((mean + 15.0 * mean / a.sqrt() + 10.0 * theta).ceil() as usize).min(half);
        for (i, o) in out.iter_mut().enumerate().take(hi).skip(1) {
            let x = i as f64;
            let ln = ln_norm + (a - 1.0) * x.ln() - x / theta;
            *o += w * ln.exp();
        }
        // ∫₀^½ density ≈ P(a, ½θ⁻¹) by the first term of its series.
        let x0 = 0.5 / theta;
        let first = (a * x0.ln() - x0 - libm::lgamma(a + 1.0)).exp();
        out[0] += w * first.min(1.0);
    }
    let total: f64 = out.iter().sum();
    if total > 0.0 {
        for o in out.iter_mut() {
            *o /= total;
        }
    }
}

/// The pedestal kernel on the transform grid: the Gaussian N(d, σ0) sampled at the
/// signed integer offsets (index ≥ M/2 is offset index − M), with `d` = q0 − ½ so that
/// the convolution lands on the bin centres; with `which` 1 or 2 its derivative with
/// respect to q0 or σ0. Sampled in real space (not the continuous transform cut at the
/// Nyquist frequency, which rings around a pedestal one bin wide), then transformed.
fn pedestal_hat(m: usize, d: f64, s0: f64, which: u8) -> Vec<C> {
    let mut k = vec![C::default(); m];
    let c = 1.0 / (s0 * (2.0 * PI).sqrt());
    // A minimiser's trial step can ask for any σ0 or q0: beyond one transform length the
    // kernel only wraps around, and the integer range must not overflow.
    let span = m as f64;
    let reach = (12.0 * s0).ceil().clamp(0.0, span) as i64 + 2;
    let center = d.round().clamp(-4.0 * span, 4.0 * span) as i64;
    for t in (center - reach)..=(center + reach) {
        let idx = t.rem_euclid(m as i64) as usize;
        let x = t as f64 - d;
        let z = x / s0;
        let g = c * (-0.5 * z * z).exp();
        let v = match which {
            0 => g,
            1 => g * z / s0,
            _ => g * (z * z - 1.0) / s0,
        };
        k[idx].re += v;
    }
    fft(&mut k, false);
    k
}

/// Expected counts per bin of the compound spectrum into `nu` and, with `jac`, their
/// derivatives (`jac[i * np + j] = ∂ν_i/∂p_j`, np = `p.len()`). `p` = [N, q0, σ0, Q1, σ1, μ,
/// w, r, a] and optionally κ (see the module docs; 1 when absent).
pub(super) fn eval(p: &[f64], nu: &mut [f64], jac: Option<&mut [f64]>) {
    let np = p.len();
    let bins = nu.len();
    let m = size_for(bins);
    let (n, q0, s0, mu) = (p[0], p[1], p[2], p[5]);
    let kappa = p.get(9).copied().unwrap_or(1.0);
    let extra = (kappa - 1.0) * (-mu).exp();
    let s = [p[3], p[4], p[6], p[7], p[8]];
    let mut f1 = vec![0.0; m];
    spe(&s, &mut f1);
    let mut phi: Vec<C> = f1.iter().map(|&v| C { re: v, im: 0.0 }).collect();
    fft(&mut phi, false);
    let d = q0 - 0.5;
    let ped = pedestal_hat(m, d, s0, 0);
    // exp(μ(φ − 1)): the Poisson sum of the SPE's powers.
    let e: Vec<C> = phi
        .iter()
        .map(|ph| {
            let (re, im) = (mu * (ph.re - 1.0), mu * ph.im);
            C {
                re: re.exp() * im.cos(),
                im: re.exp() * im.sin(),
            }
        })
        .collect();
    // With κ: exp(μ(φ − 1)) + (κ − 1)·e^{−μ}.
    let ek: Vec<C> = e
        .iter()
        .map(|c| C {
            re: c.re + extra,
            im: c.im,
        })
        .collect();
    let base: Vec<C> = e
        .iter()
        .zip(&ped)
        .map(|(a, b)| a.mul(*b).scale(n))
        .collect();
    let full: Vec<C> = ek
        .iter()
        .zip(&ped)
        .map(|(a, b)| a.mul(*b).scale(n))
        .collect();
    let inv = 1.0 / m as f64;
    let back = |spec: Vec<C>| -> Vec<f64> {
        let mut spec = spec;
        fft(&mut spec, true);
        spec.iter().take(bins).map(|c| c.re * inv).collect()
    };
    // Far from every component the transform leaves round-off (~1e-13 of the total),
    // possibly negative: a floor far below one count keeps −ln L finite there.
    let floor = 1e-12 * n.abs().max(1.0);
    let values: Vec<f64> = back(full).into_iter().map(|v| v.max(floor)).collect();
    nu.copy_from_slice(&values);
    let Some(jac) = jac else {
        return;
    };
    jac.fill(0.0);
    let mut set = |col: usize, vals: &[f64]| {
        for (i, v) in vals.iter().enumerate() {
            jac[i * np + col] = *v;
        }
    };
    let norm_col: Vec<f64> = values.iter().map(|v| v / n.max(1e-300)).collect();
    set(0, &norm_col);
    // q0 and σ0: the pedestal kernel's derivatives; μ: × (φ − 1), less the κ term's.
    for (col, which) in [(1, 1u8), (2, 2u8)] {
        let dk = pedestal_hat(m, d, s0, which);
        set(
            col,
            &back(
                ek.iter()
                    .zip(&dk)
                    .map(|(a, b)| a.mul(*b).scale(n))
                    .collect(),
            ),
        );
    }
    let times = |g: &dyn Fn(usize) -> C| -> Vec<C> {
        base.iter().enumerate().map(|(k, b)| b.mul(g(k))).collect()
    };
    let mut dmu = back(times(&|k| C {
        re: phi[k].re - 1.0,
        im: phi[k].im,
    }));
    if np > 9 {
        // ∂/∂κ = N·e^{−μ}·G; the κ term's ∂/∂μ is −(κ − 1)·N·e^{−μ}·G.
        let g = back(ped.iter().map(|c| c.scale(n * (-mu).exp())).collect());
        for (v, gi) in dmu.iter_mut().zip(&g) {
            *v -= (kappa - 1.0) * gi;
        }
        set(9, &g);
    }
    set(5, &dmu);
    // SPE parameters: ∂φ/∂θ from central differences of the (cheap) SPE cells.
    for (col, idx) in [(3, 0), (4, 1), (6, 2), (7, 3), (8, 4)] {
        let h = 1e-5 * s[idx].abs().max(1e-4);
        let (mut up, mut down) = (s, s);
        up[idx] += h;
        down[idx] -= h;
        let (mut fu, mut fd) = (vec![0.0; m], vec![0.0; m]);
        spe(&up, &mut fu);
        spe(&down, &mut fd);
        let mut dphi: Vec<C> = fu
            .iter()
            .zip(&fd)
            .map(|(a, b)| C {
                re: (a - b) / (2.0 * h),
                im: 0.0,
            })
            .collect();
        fft(&mut dphi, false);
        set(col, &back(times(&|k| dphi[k].scale(mu))));
    }
}

/// The model's components at the bin centres (expected counts per bin), for plots:
/// pedestal, the fully amplified and the under-amplified single photoelectrons, 2 PE and
/// ≥ 3 PE. They are disjoint, so their sum is the model (the fit's total curve and its
/// peak-to-valley are that sum; an under-amplified part counted inside "1 PE" as well had
/// raised the total in the valley).
pub(super) fn components(p: &[f64], bins: usize) -> Vec<(String, Vec<f64>)> {
    let m = size_for(bins);
    let (n, q0, s0, mu) = (p[0], p[1], p[2], p[5]);
    let kappa = p.get(9).copied().unwrap_or(1.0);
    let s = [p[3], p[4], p[6], p[7], p[8]];
    let mut f1 = vec![0.0; m];
    spe(&s, &mut f1);
    let mut phi: Vec<C> = f1.iter().map(|&v| C { re: v, im: 0.0 }).collect();
    fft(&mut phi, false);
    // The under-amplified part alone (w = 1, scaled to its weight below).
    let mut ua = vec![0.0; m];
    spe(&[s[0], s[1], 1.0, s[3], s[4]], &mut ua);
    let mut ua_hat: Vec<C> = ua.iter().map(|&v| C { re: v, im: 0.0 }).collect();
    fft(&mut ua_hat, false);
    let ped = pedestal_hat(m, q0 - 0.5, s0, 0);
    let p0 = (-mu).exp();
    let back = |spec: Vec<C>| -> Vec<f64> {
        let mut spec = spec;
        fft(&mut spec, true);
        spec.iter()
            .take(bins)
            .map(|c| (c.re / m as f64).max(0.0))
            .collect()
    };
    let mut out = Vec::new();
    out.push((
        "pedestal".to_string(),
        back(ped.iter().map(|c| c.scale(n * p0 * kappa)).collect()),
    ));
    // One photoelectron, split into its fully amplified part (weight 1 − w) and its
    // under-amplified part (weight w).
    let ua_one = back(
        (0..m)
            .map(|k| ua_hat[k].mul(ped[k]).scale(n * p0 * mu * s[2]))
            .collect(),
    );
    let one = back(
        (0..m)
            .map(|k| phi[k].mul(ped[k]).scale(n * p0 * mu))
            .collect(),
    );
    out.push((
        "1 PE (fully amplified)".to_string(),
        one.iter()
            .zip(&ua_one)
            .map(|(a, b)| (a - b).max(0.0))
            .collect(),
    ));
    out.push(("under-amplified (1 PE)".to_string(), ua_one));
    let ph2: Vec<C> = phi.iter().map(|ph| ph.mul(*ph)).collect();
    out.push((
        "2 PE".to_string(),
        back(
            (0..m)
                .map(|k| ph2[k].mul(ped[k]).scale(n * p0 * mu * mu / 2.0))
                .collect(),
        ),
    ));
    // ≥ 3 PE: everything else (exp(μ(φ − 1)) minus the first three terms).
    let rest: Vec<C> = (0..m)
        .map(|k| {
            let ph = phi[k];
            let e_re = mu * (ph.re - 1.0);
            let e_im = mu * ph.im;
            let e = C {
                re: e_re.exp() * e_im.cos(),
                im: e_re.exp() * e_im.sin(),
            };
            let ph2 = ph.mul(ph);
            let first = C {
                re: p0 * (1.0 + mu * ph.re + 0.5 * mu * mu * ph2.re),
                im: p0 * (mu * ph.im + 0.5 * mu * mu * ph2.im),
            };
            C {
                re: e.re - first.re,
                im: e.im - first.im,
            }
            .mul(ped[k])
            .scale(n)
        })
        .collect();
    out.push(("≥ 3 PE".to_string(), back(rest)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_round_trip_and_a_known_transform() {
        let x: Vec<C> = (0..16)
            .map(|i| C {
                re: (i as f64).sin(),
                im: 0.5 * i as f64,
            })
            .collect();
        let mut y = x.clone();
        fft(&mut y, false);
        // X_1 by the definition.
        let direct = (0..16).fold(C::default(), |acc, m| {
            let a = -2.0 * PI * m as f64 / 16.0;
            let t = x[m].mul(C {
                re: a.cos(),
                im: a.sin(),
            });
            C {
                re: acc.re + t.re,
                im: acc.im + t.im,
            }
        });
        assert!((y[1].re - direct.re).abs() < 1e-12 && (y[1].im - direct.im).abs() < 1e-12);
        fft(&mut y, true);
        for (a, b) in x.iter().zip(&y) {
            assert!((a.re - b.re / 16.0).abs() < 1e-12 && (a.im - b.im / 16.0).abs() < 1e-12);
        }
    }

    /// The plotted components add up to the fitted model, bin by bin: the total curve and
    /// the model's peak-to-valley are their sum.
    #[test]
    fn components_are_disjoint_and_sum_to_the_model() {
        let bins = 300;
        // N, q0, σ0, Q1, σ1, μ, w, r, a, κ (bin units): a broad under-amplified shoulder
        // filling the valley, as on the UZH LED-on spectrum.
        let p = [5e5, 20.0, 2.6, 23.0, 7.5, 1.7, 0.25, 0.6, 2.0, 1.0];
        let mut nu = vec![0.0; bins];
        eval(&p, &mut nu, None);
        let parts = components(&p, bins);
        let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "pedestal",
                "1 PE (fully amplified)",
                "under-amplified (1 PE)",
                "2 PE",
                "≥ 3 PE"
            ]
        );
        for (i, want) in nu.iter().enumerate() {
            let sum: f64 = parts.iter().map(|(_, c)| c[i]).sum();
            assert!(
                (sum - want).abs() <= 1e-6 * want.max(1.0),
                "bin {i}: components {sum}, model {want}"
            );
        }
    }

    #[test]
    fn spe_is_normalised_with_the_right_mean() {
        let m = 4096;
        let mut f = vec![0.0; m];
        spe(&[200.0, 60.0, 0.2, 0.3, 20.0], &mut f);
        let total: f64 = f.iter().sum();
        let mean: f64 = f.iter().enumerate().map(|(i, v)| i as f64 * v).sum();
        assert!((total - 1.0).abs() < 1e-12);
        // 0.8 · 200 (truncation negligible) + 0.2 · 60.
        assert!((mean - 172.0).abs() < 0.5, "{mean}");
        spe(&[200.0, 60.0, 0.3, 0.4, 1.0], &mut f);
        let mean: f64 = f.iter().enumerate().map(|(i, v)| i as f64 * v).sum();
        assert!((mean - (0.7 * 200.0 + 0.3 * 80.0)).abs() < 1.0, "{mean}");
    }
}
