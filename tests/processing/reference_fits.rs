//! Fits and `no_signal` decisions on real measured data from other labs, against the
//! reference numbers in tests/data/README.md, through the same entry point the CLI uses.

use std::path::PathBuf;

use pmtwatch::pipeline::config::AnalysisConfig;
use pmtwatch::pipeline::fit::{Model, Status};
use pmtwatch::pipeline::point::{PointResult, ProcessOptions, process_inputs};

fn data(rel: &str) -> PathBuf {
    crate::common::manifest_dir().join("tests/data").join(rel)
}

fn process(rel: &str, model: Model) -> PointResult {
    let mut cfg = AnalysisConfig::default();
    cfg.fit.model = model;
    process_inputs(&[data(rel)], &cfg, &ProcessOptions::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .result
}

fn param(r: &PointResult, name: &str) -> (f64, f64) {
    let p = r
        .params
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.params));
    (p.value, p.error.unwrap_or(f64::NAN))
}

fn assert_within(what: &str, value: f64, target: f64, rel: f64) {
    assert!(
        ((value - target) / target).abs() <= rel,
        "{what} = {value}, expected {target} within {:.0} %",
        rel * 100.0
    );
}

#[test]
fn uzh_led_on_areas_poisson_gauss() {
    let r = process("uzh-r12699-v1730d/areas_on.npy", Model::PoissonGauss);
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    assert_eq!(r.events, 500_000);
    assert_eq!(r.charge_unit, "ADC*samples");
    let (q1, q1_err) = param(&r, "q1");
    let (mu, _) = param(&r, "mu");
    assert_within("Q1", q1, 960.0, 0.03);
    assert_within("mu", mu, 1.67, 0.03);
    assert!(q1_err > 0.0 && q1_err < 10.0, "Q1 error {q1_err}");
    assert!(r.gain.is_some() && r.gain_err.is_some());
}

/// The default model on the UZH LED-on areas. It finds an under-amplified component there
/// (2·ln L ~400 better than poisson-gauss on 500k events): a broad low-side shoulder
/// (w ≈ 0.25 at 0.6 Q1) under a narrower peak at Q1 ≈ 1048. The mean SPE charge and μ
/// land 2–3 % from the lab's LED-on/off numbers (λ 1.676, mean SPE 965), outside the
/// lab's threshold band for λ (1.64–1.68; issue 9, named there): at this statistics the
/// split of the mean charge between μ and the SPE is set by the pedestal's shape, which is
/// Gaussian only to ~1 % (the LED-off areas: χ²/ndf 5.5 for a Gaussian). The product
/// μ · mean SPE, which the data fix, is the lab's within 1 %.
#[test]
fn uzh_led_on_areas_default_model_within_3_percent_of_the_lab() {
    let r = process("uzh-r12699-v1730d/areas_on.npy", Model::default());
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let (mu, mu_err) = param(&r, "mu");
    let (mean, mean_err) = param(&r, "mean_spe");
    let (q1, _) = param(&r, "q1");
    eprintln!(
        "UZH default model: μ {mu:.3} ± {mu_err:.3}, mean SPE {mean:.1} ± {mean_err:.1}, Q1 {q1:.1}"
    );
    assert!(
        mu_err < 0.05 && mean_err < 30.0,
        "errors {mu_err} {mean_err}"
    );
    assert_within("μ", mu, 1.676, 0.03);
    assert_within("mean SPE", mean, 965.0, 0.03);
    assert_within("μ · mean SPE", mu * mean, 1.676 * 965.0, 0.01);
    assert_within("Q1", q1, 1048.0, 0.02);
}

#[test]
fn r6233_histogram_poisson_gauss_and_bellamy() {
    for model in [Model::PoissonGauss, Model::Bellamy] {
        let r = process("r6233-histogram/R6233-example.txt", model);
        assert_eq!(r.status, Status::Ok, "{model}: {:?}", r.message);
        assert_eq!(r.charge_unit, "V*s");
        assert_eq!(r.events, 30_980);
        let (q1, _) = param(&r, "q1");
        assert_within(&format!("{model} Q1 [V*s]"), q1, 0.0266e-9, 0.03);
        let (chi2, ndf) = (r.chi2.expect("chi2"), r.ndf.expect("ndf"));
        assert!(
            ndf > 100 && chi2 / f64::from(ndf) < 3.0,
            "{model}: chi2/ndf = {chi2}/{ndf}"
        );
        if model == Model::Bellamy {
            assert!(r.params.contains_key("w") && r.params.contains_key("alpha"));
        }
    }
}

#[test]
fn v1730b_adc_charges_poisson_gauss() {
    let r = process(
        "wavedump-binary-v1730b/RUN000004_ADC_data.npy",
        Model::PoissonGauss,
    );
    assert_eq!(r.status, Status::Ok, "{:?}", r.message);
    let (q1, _) = param(&r, "q1");
    let (mu, _) = param(&r, "mu");
    assert_within("Q1", q1, 116.0, 0.05);
    assert_within("mu", mu, 0.44, 0.05);
}

#[test]
fn v1730b_pedestal_waveforms_are_no_signal() {
    for model in [Model::PoissonGauss, Model::Bellamy] {
        let r = process("wavedump-binary-v1730b/RUN000001_wave_1.dat", model);
        assert_eq!(r.events, 10_002);
        assert_eq!(r.status, Status::NoSignal, "{model}: {r:?}");
        assert_eq!(r.gain, None);
        assert_eq!(r.gain_err, None);
    }
}

#[test]
fn wavedump_ascii_pedestal_is_no_signal() {
    let r = process(
        "wavedump-ascii-pedestal/WDTestData.txt",
        Model::PoissonGauss,
    );
    assert_eq!(r.events, 153);
    assert_eq!(r.status, Status::NoSignal, "{r:?}");
    assert_eq!(r.gain, None);
}

#[test]
fn uzh_waveforms_give_a_gain_from_all_three_formats() {
    // The same 2000 SPE waveforms as ROOT, NPY and WaveDump ASCII: identical numbers.
    let mut cfg = AnalysisConfig::default();
    cfg.digitizer.amplifier_gain = 10.0;
    let results: Vec<PointResult> = [
        "uzh-r12699-v1730d/spe_led_1000V.root",
        "uzh-r12699-v1730d/wf0.npy",
        "uzh-r12699-v1730d/wave0_as_wavedump_ascii.txt",
    ]
    .iter()
    .map(|f| {
        process_inputs(&[data(f)], &cfg, &ProcessOptions::default())
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .result
    })
    .collect();
    for r in &results {
        assert_eq!(r.events, 2000);
        assert_eq!(r.histogram, results[0].histogram, "{} differs", r.point);
        assert_eq!(r.status, results[0].status);
    }
}

/// The under-amplified model (`poisson-gauss-ua`, opt-in) keeps the pedestal-only files
/// `no_signal`. (On the UZH LED-on areas it reads mean SPE 906 and μ 1.795, outside the
/// lab's 950–990 and 1.64–1.68, which is why it is not the default: README, "Analysis".)
#[test]
fn ua_model_keeps_pedestal_files_no_signal() {
    for f in [
        "wavedump-binary-v1730b/RUN000001_wave_1.dat",
        "wavedump-ascii-pedestal/WDTestData.txt",
    ] {
        let r = process(f, Model::PoissonGaussUa);
        assert_eq!(r.status, Status::NoSignal, "{f}: {:?}", r.message);
        assert_eq!(r.gain, None);
    }
}
