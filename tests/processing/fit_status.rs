//! What the default fit calls a spectrum, on spectra whose truth is known exactly (the
//! expected counts of a Poisson sum of Gaussians, rounded): a low-occupancy SPE signal
//! (μ = 0.01, a few hundred photoelectrons) is fitted, not `no_signal`; a spectrum with a
//! clear signal whose SPE lies within the pedestal's noise is `unresolved`, saying why;
//! a pedestal alone stays `no_signal`.

use pmtwatch::pipeline::data::{ChargeInput, Input};
use pmtwatch::pipeline::fit::{Model, Status, fit_histogram};
use pmtwatch::pipeline::histogram::Histogram;
use pmtwatch::pipeline::readers::{ReadOptions, read};

/// Expected counts of N · Σₙ P(n; μ) · N(q0 + n·Q1, √(σ0² + n·σ1²)) in bins of `width`
/// from `lo`, rounded to whole events (q0 = 0; `spe` = [σ0, Q1, σ1], `grid` = [lo, width]).
fn spectrum(n: f64, mu: f64, spe: [f64; 3], grid: [f64; 2], bins: usize) -> Histogram {
    let [s0, q1, s1] = spe;
    let [lo, width] = grid;
    let gauss = |x: f64, m: f64, s: f64| {
        (-0.5 * ((x - m) / s).powi(2)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())
    };
    let counts = (0..bins)
        .map(|i| {
            let x = lo + (i as f64 + 0.5) * width;
            let mut p = (-mu).exp();
            let mut v = 0.0;
            for k in 0..30 {
                if k > 0 {
                    p *= mu / k as f64;
                }
                let s = (s0 * s0 + k as f64 * s1 * s1).sqrt();
                v += p * gauss(x, k as f64 * q1, s);
            }
            (n * v * width).round()
        })
        .collect();
    Histogram {
        lo,
        width,
        counts,
        unit: "pC".into(),
        outside: 0,
    }
}

#[test]
fn low_occupancy_signal_is_fitted() {
    // μ = 0.01 of 30,000 events: 300 photoelectrons, far from the pedestal.
    let h = spectrum(30_000.0, 0.01, [0.12, 1.6, 0.48], [-1.0, 0.02], 300);
    let r = fit_histogram(&h, Model::PoissonGaussUa);
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let q1 = r.params["q1"];
    let e = q1.error.expect("an error");
    assert!(
        (q1.value - 1.6).abs() < 3.0 * e && (q1.value / 1.6 - 1.0).abs() < 0.05,
        "Q1 {} ± {e}",
        q1.value
    );
}

#[test]
fn overlapping_pedestal_and_spe_is_unresolved_with_why() {
    // A clear signal (μ = 1 of 200,000 events) whose SPE sits 1.5 pedestal widths from
    // the pedestal: the pedestal alone does not describe it, and no gain can be read off.
    let h = spectrum(200_000.0, 1.0, [1.0, 1.5, 0.5], [-6.0, 0.1], 200);
    let r = fit_histogram(&h, Model::PoissonGaussUa);
    assert_eq!(
        r.status,
        Status::Unresolved,
        "{:?} {:?}",
        r.message,
        r.params
    );
    let m = r.message.clone().expect("a reason");
    assert!(
        m.contains("pedestal and SPE overlap") && m.contains("not pedestal only"),
        "{m}"
    );
    assert!(r.q1().is_none(), "no gain from an unresolved spectrum");
}

#[test]
fn pedestal_alone_is_no_signal() {
    let h = spectrum(100_000.0, 0.0, [0.12, 1.6, 0.48], [-1.0, 0.02], 300);
    let r = fit_histogram(&h, Model::PoissonGaussUa);
    assert_eq!(r.status, Status::NoSignal, "{:?}", r.message);
}

/// `tests/regressions/pg-broad-pedestal-minimum.csv` (1500 simulated events in 648 bins;
/// truth μ ≈ 1, Q1 ≈ 1.63 pC): a few-count bump on the pedestal's flank was taken for the
/// pedestal, and the fit called a healthy point `no_signal` (or failed). The pedestal
/// finder now averages over more bins where the counts are few.
#[test]
fn a_sparse_histogram_finds_its_pedestal_not_a_flank_bump() {
    let path =
        crate::common::manifest_dir().join("tests/regressions/pg-broad-pedestal-minimum.csv");
    let Ok(Input::Charges(ChargeInput::Histogram {
        centers,
        counts,
        unit,
    })) = read(&path, &ReadOptions::default())
    else {
        panic!("{} is not read as a histogram", path.display());
    };
    let h = Histogram::from_centers(&centers, &counts, &unit).expect("equally spaced bins");
    for model in [Model::default(), Model::PoissonGauss] {
        let r = fit_histogram(&h, model);
        assert_eq!(r.status, Status::Ok, "{model}: {:?}", r.message);
        let q1 = r.params["q1"].value;
        let mu = r.params["mu"].value;
        assert!((q1 / 1.63 - 1.0).abs() < 0.05, "{model}: Q1 {q1}");
        assert!((mu - 1.0).abs() < 0.1, "{model}: μ {mu}");
    }
}
