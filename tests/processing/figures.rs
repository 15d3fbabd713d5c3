//! The figures beyond the gain (SPE resolution, peak-to-valley, model-independent occupancy)
//! on real data from another lab, against that lab's own published numbers
//! (tests/data/README.md, uzh-r12699-v1730d: λ 1.676 ± 0.004, mean SPE area 965 ± 4,
//! SPE resolution 0.435 ± 0.008, from its own code on the same files).

use std::path::PathBuf;

use pmtwatch::pipeline::config::AnalysisConfig;
use pmtwatch::pipeline::data::{ChargeInput, Input};
use pmtwatch::pipeline::figures::{fit_counted, model_independent_values};
use pmtwatch::pipeline::fit::{Model, Status};
use pmtwatch::pipeline::point::{ProcessOptions, ProcessedPoint, process_inputs};
use pmtwatch::pipeline::readers::{ReadOptions, read};

fn data(rel: &str) -> PathBuf {
    crate::common::manifest_dir().join("tests/data").join(rel)
}

/// The UZH LED-on areas processed as `process` does, with `model`.
fn process_uzh_on(model: Model) -> ProcessedPoint {
    let mut cfg = AnalysisConfig::default();
    cfg.fit.model = model;
    process_inputs(
        &[data("uzh-r12699-v1730d/areas_on.npy")],
        &cfg,
        &ProcessOptions::default(),
    )
    .expect("process the UZH LED-on areas")
}

fn areas(rel: &str) -> Vec<f64> {
    match read(&data(rel), &ReadOptions::default()).unwrap_or_else(|e| panic!("{rel}: {e}")) {
        Input::Charges(ChargeInput::Values { values, unit }) => {
            assert_eq!(unit, "ADC*samples");
            values
        }
        other => panic!("{rel}: expected per-event areas, got {other:?}"),
    }
}

#[test]
fn uzh_model_independent_occupancy_mean_and_resolution_match_the_lab() {
    let on = areas("uzh-r12699-v1730d/areas_on.npy");
    let off = areas("uzh-r12699-v1730d/areas_off.npy");
    let r = model_independent_values(&on, &off, None).expect("estimate");
    let lambda = r.occupancy.value;
    let mean = r.mean_spe.value;
    let res = r.spe_resolution.as_ref().expect("a resolution").value;
    assert!((1.64..=1.68).contains(&lambda), "λ = {lambda}: {r:?}");
    assert!((950.0..=990.0).contains(&mean), "mean SPE = {mean}: {r:?}");
    assert!((res / 0.435 - 1.0).abs() <= 0.05, "σ/mean = {res}: {r:?}");
    // The stated errors are of the size the lab's own code states (±0.004, ±4, ±0.008).
    let el = r.occupancy.error.expect("λ error");
    let em = r.mean_spe.error.expect("mean error");
    assert!((0.002..0.008).contains(&el), "λ error {el}");
    assert!((1.0..8.0).contains(&em), "mean error {em}");
    // A threshold across the lab's range (100–200 ADC·samples) moves λ within 1.63–1.68.
    for t in [100.0, 200.0] {
        let r = model_independent_values(&on, &off, Some(t)).expect("estimate");
        assert!((1.63..=1.68).contains(&r.occupancy.value), "T = {t}: {r:?}");
    }
}

/// The default fit's μ (1.72) counts every photoelectron, also those whose charge lands in
/// the pedestal; the lab's λ counts events below a threshold. Counted the lab's way at the
/// lab's thresholds (100–200 ADC·samples), the fitted model gives the lab's numbers (λ
/// 1.64–1.68, mean SPE 965–990, tests/data/README.md) and agrees with the data's own
/// LED-on/off count at each threshold within 1 % (measured: 0.5 % or better): the fit
/// describes the spectrum where the count looks, and μ is above λ by the photoelectrons no
/// threshold can see.
#[test]
fn uzh_default_fit_counted_at_the_labs_thresholds_reads_the_labs_numbers() {
    let p = process_uzh_on(Model::default());
    assert_eq!(p.fit.status, Status::Ok, "{:?}", p.fit.message);
    let mu = p.fit.params["mu"].value;
    let on = areas("uzh-r12699-v1730d/areas_on.npy");
    let off = areas("uzh-r12699-v1730d/areas_off.npy");
    for t in [100.0, 150.0, 200.0] {
        let c = fit_counted(&p.fit, t).expect("counted");
        let lab = model_independent_values(&on, &off, Some(t)).expect("estimate");
        eprintln!(
            "T {t}: fit counted λ {:.4}, mean {:.1}; data λ {:.4}, mean {:.1}; fit μ {mu:.4}",
            c.occupancy, c.mean_spe, lab.occupancy.value, lab.mean_spe.value
        );
        assert!((1.63..=1.68).contains(&c.occupancy), "T {t}: {c:?}");
        // The lab's 965–990 over these thresholds, to 1 % (the data's own count at 200
        // reads 988.7).
        assert!((955.0..=1000.0).contains(&c.mean_spe), "T {t}: {c:?}");
        for (what, fit, data) in [
            ("λ", c.occupancy, lab.occupancy.value),
            ("mean SPE", c.mean_spe, lab.mean_spe.value),
        ] {
            assert!(
                (fit / data - 1.0).abs() < 0.01,
                "T {t}: {what} counted on the fit {fit} against the data's count {data}"
            );
        }
        assert!(
            c.occupancy < mu,
            "a count cannot see more than μ: {c:?}, μ {mu}"
        );
    }
    // Far above the pedestal nothing is left to count as "no photoelectron" but the
    // Poisson zero term's tail: no figure rather than a wrong one.
    assert!(fit_counted(&p.fit, 1e6).is_none_or(|c| c.occupancy < 0.1));
}

#[test]
fn uzh_fit_reports_spe_resolution_and_peak_to_valley() {
    let r = process_uzh_on(Model::PoissonGauss).result;
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let res = r.figures.spe_resolution.expect("σ1/Q1");
    // The Gaussian fit's σ1/Q1 of the fully amplified peak; the model-independent 0.435
    // includes the under-amplified tail, so the fit's is somewhat smaller.
    assert!((0.25..0.5).contains(&res.value), "σ1/Q1 = {res:?}");
    assert!(res.error.is_some_and(|e| e > 0.0 && e < 0.05), "{res:?}");
    // At λ ≈ 1.7 the SPE peak barely dips below the pedestal's flank: both P/V are small
    // but, where reported, consistent with each other and above 1.
    if let (Some(m), Some(h)) = (
        r.figures.peak_to_valley_model,
        r.figures.peak_to_valley_hist,
    ) {
        assert!(m > 1.0 && h.value > 1.0, "{m} {h:?}");
        assert!((m / h.value - 1.0).abs() < 0.3, "{m} {h:?}");
    }
    // The figures travel in result.json.
    let json = serde_json::to_value(&r).expect("json");
    assert!(
        json["figures"]["spe_resolution"]["value"].is_f64(),
        "{}",
        json["figures"]
    );
}

/// The default model's peak-to-valley is that of the curve it draws: the sum of its disjoint
/// components. On the UZH LED-on areas an under-amplified shoulder (~25 % of the single
/// photoelectrons) fills the valley; counted twice (inside "1 PE" and on its own), it
/// raised the valley by a third and gave P/V 1.72 against the histogram's 2.44 — a warning
/// on a healthy spectrum. Now the two agree within 10 % (the histogram's is smoothed over
/// five bins, which lowers its peak a little).
#[test]
fn uzh_default_model_peak_to_valley_is_the_histograms() {
    let r = process_uzh_on(Model::default()).result;
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    assert!(r.params.contains_key("ua_fraction"), "{:?}", r.params);
    let m = r.figures.peak_to_valley_model.expect("model P/V");
    let h = r.figures.peak_to_valley_hist.expect("histogram P/V");
    assert!(h.value > 2.0, "histogram P/V {h:?}");
    assert!(
        (m / h.value - 1.0).abs() < 0.1,
        "model {m}, histogram {h:?}"
    );
}
