//! The HV check (issue 12): the power-law fit's stated uncertainty against a known truth
//! over many seeds (per-voltage gains drawn with realistic errors, so 800 fits take
//! milliseconds), exclusions with their reasons, the full path `simulate --hv-check` →
//! `hv-fit` on a few seeds, and the real DT5742 spectra against the manufacturer's voltages.

use std::path::Path;
use std::process::Command;

use pmtwatch::pipeline::data::{ChargeInput, Input};
use pmtwatch::pipeline::hv::{ExclusionKind, HvFit, HvFitOptions, HvInput, fit_hv};
use pmtwatch::pipeline::readers::{ReadOptions, read};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const BIN: &str = env!("CARGO_BIN_EXE_pmtwatch");

/// The simulated points follow the law exactly: no per-point model scatter.
fn exact(target: f64) -> HvFitOptions {
    HvFitOptions {
        target,
        point_syst: 0.0,
        ..Default::default()
    }
}

/// Five voltages 50 V apart around `nominal`, gains on `1e7·(V/v1e7)^slope`, each with a
/// relative error of 0.8–2 % (lower at high gain, as SPE fits give), drawn around the law
/// with that error and stated relative to the drawn value, as a fit states it.
fn draw_run(rng: &mut ChaCha8Rng, nominal: f64, slope: f64, v1e7: f64) -> Vec<HvInput> {
    (-2..=2)
        .map(|k| {
            let v = nominal + 50.0 * f64::from(k);
            let g = 1e7 * (v / v1e7).powf(slope);
            let rel = 0.008 + 0.012 * rng.random::<f64>();
            let z: f64 = StandardNormal.sample(rng);
            let drawn = g * (1.0 + rel * z);
            HvInput {
                volts: v,
                value: Some(drawn),
                error: Some(rel * drawn),
                problem: None,
                source: format!("hv{v}"),
            }
        })
        .collect()
}

#[test]
fn stated_uncertainty_covers_the_truth_in_simulated_runs() {
    // The acceptance counts 100 seeds per case; a binomial count of 100 at 68 % scatters
    // by ±4.7 %, so even exact errors leave the 58–78 % band in about one case of four
    // among eight. The band is asserted on 400 seeds per case (±2.3 %); the first 100
    // seeds' figures are printed next to them.
    let nominal = 1600.0;
    let (mut report, mut bad) = (Vec::new(), Vec::new());
    for slope in [6.0, 7.0, 8.0, 9.0] {
        for inside in [true, false] {
            let (mut in1, mut in2, mut worst_rel) = (0u32, 0u32, 0.0f64);
            let mut first100 = (0, 0);
            for seed in 0..400u64 {
                if seed == 100 {
                    first100 = (in1, in2);
                }
                let mut rng =
                    ChaCha8Rng::seed_from_u64(seed * 1000 + slope as u64 * 10 + inside as u64);
                // Inside: anywhere in the measured 1500–1700 V; outside: 40–100 V beyond.
                let v1e7 = if inside {
                    1510.0 + 180.0 * rng.random::<f64>()
                } else if rng.random::<bool>() {
                    1740.0 + 60.0 * rng.random::<f64>()
                } else {
                    1460.0 - 60.0 * rng.random::<f64>()
                };
                let f = fit_hv(&draw_run(&mut rng, nominal, slope, v1e7), &exact(1e7));
                let (v, e) = (
                    f.hv_at_target.expect("a voltage"),
                    f.hv_at_target_err.expect("an error"),
                );
                let pull = (v - v1e7).abs() / e;
                in1 += u32::from(pull <= 1.0);
                in2 += u32::from(pull <= 2.0);
                worst_rel = worst_rel.max((v - v1e7).abs() / v1e7);
                assert!(f.exclusions.is_empty(), "seed {seed}: {:?}", f.exclusions);
                assert_eq!(
                    f.warnings.iter().any(|w| w.contains("extrapolation")),
                    !inside,
                    "seed {seed}: {:?}",
                    f.warnings
                );
            }
            let range = if inside { "inside" } else { "outside" };
            let (p1, p2) = (f64::from(in1) / 4.0, f64::from(in2) / 4.0);
            report.push(format!(
                "slope {slope} target {range}: 400 seeds within 1σ {p1:.1} %, within 2σ {p2:.1} %; \
                 first 100 seeds {} %, {} %; worst {:.2} % off",
                first100.0,
                first100.1,
                worst_rel * 100.0
            ));
            if !((58.0..=78.0).contains(&p1) && p2 >= 90.0) {
                bad.push(format!(
                    "slope {slope}, target {range}: {p1} % within 1σ, {p2} % within 2σ"
                ));
            }
            if inside && worst_rel >= 0.01 {
                bad.push(format!("slope {slope}: off by {:.2} %", worst_rel * 100.0));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn a_point_without_signal_leaves_four_and_says_so() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut pts = draw_run(&mut rng, 1600.0, 7.5, 1620.0);
    pts[4].value = None;
    pts[4].error = None;
    pts[4].problem = Some((ExclusionKind::NoSignal, "no signal: pedestal only".into()));
    let f = fit_hv(&pts, &exact(1e7));
    assert_eq!(f.points.iter().filter(|p| p.used).count(), 4);
    assert_eq!(f.exclusions.len(), 1);
    assert_eq!(
        (f.exclusions[0].volts, f.exclusions[0].kind),
        (1700.0, ExclusionKind::NoSignal)
    );
    assert!(f.exclusions[0].reason.contains("no signal"));
    let v = f.hv_at_target.expect("voltage from four points");
    assert!(
        (v - 1620.0).abs() < 3.0 * f.hv_at_target_err.expect("error"),
        "{v}"
    );
}

#[test]
fn a_point_more_than_5_sigma_off_is_excluded_with_that_reason() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut pts = draw_run(&mut rng, 1600.0, 7.0, 1600.0);
    // 8 σ of its own error above the law (a wrong voltage, a gain jump). The middle
    // point: with five points a shifted second point can be told from a shifted first
    // one only as far as the errors allow (the fit then excludes the one whose removal
    // leaves the better law, see pipeline::hv), the middle one always.
    let e = pts[2].error.expect("error");
    pts[2].value = pts[2].value.map(|g| g + 8.0 * e);
    let f = fit_hv(&pts, &exact(1e7));
    assert_eq!(f.exclusions.len(), 1, "{:?}", f.exclusions);
    let x = &f.exclusions[0];
    assert_eq!(
        (x.volts, x.kind),
        (1600.0, ExclusionKind::Outlier),
        "{:?}",
        f.points
    );
    assert!(
        x.reason.contains("σ off the power law of the other points"),
        "{}",
        x.reason
    );
    assert!((f.hv_at_target.expect("voltage") - 1600.0).abs() < 10.0);
}

fn hv_fit_json(args: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(BIN)
        .arg("hv-fit")
        .args(args)
        .arg("--json")
        .output()
        .expect("run pmtwatch hv-fit");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("hv-fit printed no JSON ({e}): {stdout}\n{stderr}"));
    (doc, stderr)
}

fn simulate_hv(dir: &Path, seed: u64, extra: &[&str]) {
    let st = Command::new(BIN)
        .arg("simulate")
        .arg(dir)
        .args([
            "--serial",
            "EA0012",
            "--hv-check",
            "--nominal",
            "1600",
            "--events",
            "2000",
        ])
        .args(["--stamp", "20260101_120000", "--seed", &seed.to_string()])
        .args(extra)
        .status()
        .expect("run pmtwatch simulate");
    assert!(st.success(), "simulate --hv-check failed");
}

#[test]
fn simulated_bench_run_end_to_end() {
    for (seed, slope, v1e7, dark) in [(1u64, "7", "1620", None), (2, "8.5", "1735", Some("1550"))] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut extra = vec!["--slope", slope, "--hv-at-1e7", v1e7];
        if let Some(d) = dark {
            extra.extend(["--dark", d]);
        }
        simulate_hv(tmp.path(), seed, &extra);
        let layout = tmp
            .path()
            .join("WaveDumpSaves/wavedump_output_20260101_120000/EA0012/wavesave_HV_CHECK");
        assert!(layout.join("wave2save_HV_1500.txt").is_file());
        let out = tmp.path().join("fit");
        let out_s = out.to_string_lossy().into_owned();
        let root = tmp
            .path()
            .join("WaveDumpSaves")
            .to_string_lossy()
            .into_owned();
        let (doc, stderr) = hv_fit_json(&[&root, "--point-syst", "0", "--out", &out_s]);
        assert_eq!(doc["serial"], "EA0012", "{doc}");
        assert_eq!(
            doc["voltages"],
            serde_json::json!([1500.0, 1550.0, 1600.0, 1650.0, 1700.0])
        );
        let truth: f64 = v1e7.parse().expect("number");
        let v = doc["hv_at_target"]
            .as_f64()
            .unwrap_or_else(|| panic!("{doc}\n{stderr}"));
        let e = doc["hv_at_target_err"].as_f64().expect("error");
        let slope_fit = doc["slope"].as_f64().expect("slope");
        eprintln!(
            "seed {seed}: {v:.1} ± {e:.1} V (truth {truth}), slope {slope_fit:.2} (truth {slope})"
        );
        assert!((v - truth).abs() < (3.0 * e).max(0.01 * truth), "{doc}");
        let excl = doc["exclusions"].as_array().expect("exclusions");
        match dark {
            Some(d) => {
                // The dark voltage is excluded as no signal. The lowest voltage of this
                // run (gain ≈ 3e6, its SPE ~2 pedestal widths out) may also be excluded:
                // `unresolved`, or an outlier when the overlapping fit reads it low (issue 9
                // open), with its reason: never silently.
                let dark_v: Option<f64> = d.parse().ok();
                let dark_excl: Vec<_> = excl.iter().filter(|x| x["kind"] == "no_signal").collect();
                assert_eq!(dark_excl.len(), 1, "{doc}");
                assert_eq!(dark_excl[0]["volts"].as_f64(), dark_v, "{doc}");
                for x in excl.iter().filter(|x| x["kind"] != "no_signal") {
                    assert_eq!(x["volts"].as_f64(), Some(1500.0), "{doc}");
                    let unresolved = x["reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("unresolved"));
                    assert!(x["kind"] == "outlier" || unresolved, "{doc}");
                }
                assert!(excl.len() <= 2, "{doc}");
            }
            None => assert!(excl.is_empty(), "{doc}"),
        }
        if truth > 1700.0 {
            assert!(
                doc["warnings"].to_string().contains("extrapolation"),
                "{doc}"
            );
        }
        assert!(out.join("EA0012_gain_vs_hv_loglog.png").is_file());
        let one = std::fs::read_to_string(out.join("EA0012_HV_at_gain_1.00e+07.txt")).expect("txt");
        assert!((one.trim().parse::<f64>().expect("a number") - v).abs() < 0.1);

        // The same voltages processed first (`process --out <run>/data_HV_<V>`, as a
        // cluster job leaves them): hv-fit over the result documents gives the same answer.
        let results = tmp.path().join("results");
        for volts in [1500, 1550, 1600, 1650, 1700] {
            let files: Vec<_> = (0..3)
                .map(|ch| layout.join(format!("wave{ch}save_HV_{volts}.txt")))
                .collect();
            let st = Command::new(BIN)
                .arg("process")
                .args(&files)
                .args(["--serial", "EA0012", "--no-plot", "--json", "--out"])
                .arg(results.join(format!("data_HV_{volts}")))
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run pmtwatch process");
            assert!(st.success(), "process {volts} V failed");
        }
        let res_s = results.to_string_lossy().into_owned();
        let (again, _) = hv_fit_json(&[&res_s, "--point-syst", "0"]);
        let v2 = again["hv_at_target"]
            .as_f64()
            .unwrap_or_else(|| panic!("{again}"));
        assert!((v2 - v).abs() < 0.01, "results {v2} V, raw {v} V");
        assert_eq!(again["exclusions"], doc["exclusions"], "{again}");
    }
}

/// The charge that means a gain of 1e7 on this lab's axis (its amplifier's gain is not
/// known): 350 mV·ns, the value the lab's own analysis took (tests/data/README.md). With
/// Q1 the fully amplified SPE peak (the default model), it gives the manufacturer's
/// voltages of the clean tubes. (192 mV·ns, the figure a plain Poisson-Gauss fit needs, is
/// that model's artefact: on these spectra its "Q1" is near the mean SPE charge, not the
/// visible peak — issue 9.)
const TARGET_Q1: &str = "350";

/// NB0083 (its nearly empty 1500 V file excluded with its reason) and NB0169 land within
/// 30 V of the manufacturer's voltage with the lab's own 1e7 charge.
#[test]
fn real_dt5742_clean_tubes_match_the_manufacturer() {
    real_dt5742_tubes_match_the_manufacturer(&["PMT_NB0083", "PMT_NB0169"]);
}

/// The SPE peak of a spectrum, without a model: the maximum of a 15-bin running sum above
/// 100 mV·ns (clear of the pedestal at these voltages). The CSV is read by pmtwatch's own
/// reader; nothing else of the pipeline is involved.
fn visible_peak(csv: &Path) -> f64 {
    let Ok(Input::Charges(ChargeInput::Histogram {
        centers, counts, ..
    })) = read(csv, &ReadOptions::default())
    else {
        panic!("{} is not read as a histogram", csv.display());
    };
    (7..centers.len().saturating_sub(7))
        .filter(|&i| centers[i] > 100.0)
        .map(|i| (centers[i], counts[i - 7..=i + 7].iter().sum::<f64>()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("bins above 100 mV·ns")
        .0
}

/// Why NB0015 is not in the test above: its own spectra contradict the manufacturer's
/// voltage, without any fit. 1e7 at 1720 V needs the SPE peak at ≈ 350 · (1700/1720)^7 ≈
/// 324 mV·ns at 1700 V; the visible peak there sits near 210. All five of its points lie
/// on one power law (the 1800 V run at low occupancy included), whose 350 mV·ns voltage is
/// ≈ 1840 V: pmtwatch reports that, and the question is one for the lab.
#[test]
fn nb0015_spectra_contradict_the_manufacturers_voltage() {
    let dir = crate::common::manifest_dir().join("tests/data/hv-scan-dt5742");
    let peak = visible_peak(&dir.join("PMT_NB0015_HV1700.csv"));
    let needed = 350.0 * (1700.0f64 / 1720.0).powi(7);
    eprintln!("NB0015 1700 V: visible SPE peak {peak:.1} mV·ns, 1e7 at 1720 V needs {needed:.0}");
    assert!(peak < 0.75 * needed, "{peak} vs {needed}");
    let (doc, _) = hv_fit_json(&[
        &dir.to_string_lossy(),
        "--serial",
        "PMT_NB0015",
        "--target-q1",
        TARGET_Q1,
    ]);
    let v = doc["hv_at_target"].as_f64().expect("a voltage");
    assert!((1800.0..1900.0).contains(&v), "{doc}");
    let excl = doc["exclusions"].as_array().cloned().unwrap_or_default();
    assert!(excl.is_empty(), "all five points on one power law: {doc}");
}

/// The default model's Q1 is the fully amplified SPE peak that can be seen in the
/// spectrum (within 8 %: the running sum that finds the peak without a model leans on the
/// under-amplified plateau beside it), at every voltage where that peak stands clear of the pedestal.
#[test]
fn dt5742_q1_is_the_visible_spe_peak() {
    let dir = crate::common::manifest_dir().join("tests/data/hv-scan-dt5742");
    for (tube, hv) in [
        ("PMT_NB0015", 1600),
        ("PMT_NB0015", 1700),
        ("PMT_NB0083", 1600),
        ("PMT_NB0083", 1700),
        ("PMT_NB0169", 1400),
        ("PMT_NB0169", 1500),
        ("PMT_NB0169", 1600),
    ] {
        let csv = dir.join(format!("{tube}_HV{hv}.csv"));
        let peak = visible_peak(&csv);
        let out = Command::new(BIN)
            .args(["process", &csv.to_string_lossy(), "--json", "--no-plot"])
            .output()
            .expect("run pmtwatch process");
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("process --json prints JSON");
        let q1 = doc["params"]["q1"]["value"].as_f64().expect("q1");
        eprintln!("{tube} {hv} V: Q1 {q1:.1}, visible peak {peak:.1} mV·ns");
        assert!(
            (q1 / peak - 1.0).abs() < 0.08,
            "{tube} {hv} V: Q1 {q1} vs peak {peak}"
        );
    }
}

fn real_dt5742_tubes_match_the_manufacturer(tubes: &[&str]) {
    let dir = crate::common::manifest_dir().join("tests/data/hv-scan-dt5742");
    let manu: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manufacturer.json")).expect("manufacturer.json"),
    )
    .expect("manufacturer.json is JSON");
    let dir_s = dir.to_string_lossy().into_owned();
    let mut failures = Vec::new();
    for &tube in tubes {
        let (doc, _) = hv_fit_json(&[&dir_s, "--serial", tube, "--target-q1", TARGET_Q1]);
        let want = manu[tube]["manufacturer_hv_at_1e7"]
            .as_f64()
            .expect("voltage");
        let got = doc["hv_at_target"].as_f64();
        eprintln!(
            "{tube}: {got:?} ± {} V (manufacturer {want}), statuses {}, exclusions {}",
            doc["hv_at_target_err"], doc["statuses"], doc["exclusions"]
        );
        if got.is_none_or(|v| (v - want).abs() > 30.0) {
            failures.push(format!("{tube}: {got:?} V, manufacturer {want} V"));
        }
        let excl = doc["exclusions"].as_array().cloned().unwrap_or_default();
        if tube == "PMT_NB0083" {
            // The nearly empty file (277 entries): excluded, with a reason.
            let e = excl.iter().find(|e| e["volts"] == 1500.0);
            assert!(
                e.is_some_and(|e| e["reason"].as_str().is_some_and(|r| !r.is_empty())),
                "{doc}"
            );
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// The fit is what the JSON reports: a sanity check of the document's fields.
#[test]
fn fit_document_fields_are_consistent() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let f: HvFit = fit_hv(&draw_run(&mut rng, 1500.0, 7.0, 1500.0), &exact(1e7));
    let total = f.hv_at_target_err_total.expect("total");
    let (s, y) = (
        f.hv_at_target_err.expect("stat"),
        f.hv_at_target_err_syst.expect("syst"),
    );
    assert!((total - s.hypot(y)).abs() < 1e-9);
    assert!((y - 1500.0 * 0.02 / 7.0).abs() < 0.5, "{y}");
}
